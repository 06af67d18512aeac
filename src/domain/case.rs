//! A case: one worker's conversation with the mailbox, and its lifecycle
//! `new → awaiting_consent → awaiting_info → triaged → referred_la | referred_region →
//! closed_employed | closed_nfa | closed_referred_region | closed_no_consent | withdrawn | erased`,
//! and `merged` for a duplicate case folded into the same worker's other one.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{CaseRef, Consent, EmailAddress, Field};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    New,
    AwaitingConsent,
    AwaitingInfo,
    Triaged,
    ReferredLa,
    ReferredRegion,
    ClosedEmployed,
    ClosedNfa,
    ClosedReferredRegion,
    ClosedNoConsent,
    Withdrawn,
    Erased,
    /// The same worker's other case holds everything now (`cases.merged_into`).
    Merged,
}

impl CaseState {
    pub const ALL: [CaseState; 13] = [
        CaseState::New,
        CaseState::AwaitingConsent,
        CaseState::AwaitingInfo,
        CaseState::Triaged,
        CaseState::ReferredLa,
        CaseState::ReferredRegion,
        CaseState::ClosedEmployed,
        CaseState::ClosedNfa,
        CaseState::ClosedReferredRegion,
        CaseState::ClosedNoConsent,
        CaseState::Withdrawn,
        CaseState::Erased,
        CaseState::Merged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CaseState::New => "new",
            CaseState::AwaitingConsent => "awaiting_consent",
            CaseState::AwaitingInfo => "awaiting_info",
            CaseState::Triaged => "triaged",
            CaseState::ReferredLa => "referred_la",
            CaseState::ReferredRegion => "referred_region",
            CaseState::ClosedEmployed => "closed_employed",
            CaseState::ClosedNfa => "closed_nfa",
            CaseState::ClosedReferredRegion => "closed_referred_region",
            CaseState::ClosedNoConsent => "closed_no_consent",
            CaseState::Withdrawn => "withdrawn",
            CaseState::Erased => "erased",
            CaseState::Merged => "merged",
        }
    }

    pub fn parse(raw: &str) -> Option<CaseState> {
        CaseState::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Closed cases take no automatic action; a new email from the worker starts a new case.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            CaseState::ClosedEmployed
                | CaseState::ClosedNfa
                | CaseState::ClosedReferredRegion
                | CaseState::ClosedNoConsent
                | CaseState::Withdrawn
                | CaseState::Erased
                | CaseState::Merged
        )
    }

    pub fn is_referred(self) -> bool {
        matches!(self, CaseState::ReferredLa | CaseState::ReferredRegion)
    }
}

impl fmt::Display for CaseState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A fact currently held about the worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeldFact {
    pub value: String,
    pub quote: Option<String>,
}

/// What the conversation needs to know about an existing case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseSnapshot {
    pub id: i64,
    pub reference: CaseRef,
    pub state: CaseState,
    pub language: String,
    pub worker_name: Option<String>,
    /// Where the worker was referred: `la:<council>` or `region:<region>`.
    pub route: Option<String>,
    pub consent: Option<Consent>,
    /// The consent request the worker answered: `template@version`.
    pub consent_wording: Option<String>,
    pub facts: BTreeMap<String, HeldFact>,
    /// How many times each field was asked for.
    pub asked: BTreeMap<Field, u32>,
    pub addresses: Vec<EmailAddress>,
    /// Everyone we sent this case's details or mail to (leads, hubs).
    pub correspondents: Vec<EmailAddress>,
    /// Recipients of the worker's details, from the disclosure log.
    pub disclosed_to: Vec<EmailAddress>,
    pub safeguarding_hold: bool,
    pub revocation_date: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    pub last_inbound_at: Option<DateTime<Utc>>,
    pub last_outbound_at: Option<DateTime<Utc>>,
    pub reminder_sent_at: Option<DateTime<Utc>>,
}

impl CaseSnapshot {
    pub fn fact(&self, field: &str) -> Option<&str> {
        self.facts.get(field).map(|f| f.value.as_str())
    }

    pub fn has_address(&self, address: &EmailAddress) -> bool {
        self.addresses.iter().any(|a| a.same_mailbox(address))
    }
}
