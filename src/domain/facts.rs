//! What one message says and what the triage proposes. The value spaces are the
//! JSON contract of `regional-mailbox triage --json` (snake_case strings).

use std::fmt;

use serde::Serialize;

/// What kind of message this is (definitions in the README, "Message kinds").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    SupportRequest,
    ConsentReply,
    InfoReply,
    Withdrawal,
    ReferralIn,
    OutcomeUpdate,
    ProviderEnquiry,
    AutoReply,
    Bounce,
    Unrelated,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::SupportRequest,
        Kind::ConsentReply,
        Kind::InfoReply,
        Kind::Withdrawal,
        Kind::ReferralIn,
        Kind::OutcomeUpdate,
        Kind::ProviderEnquiry,
        Kind::AutoReply,
        Kind::Bounce,
        Kind::Unrelated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::SupportRequest => "support_request",
            Kind::ConsentReply => "consent_reply",
            Kind::InfoReply => "info_reply",
            Kind::Withdrawal => "withdrawal",
            Kind::ReferralIn => "referral_in",
            Kind::OutcomeUpdate => "outcome_update",
            Kind::ProviderEnquiry => "provider_enquiry",
            Kind::AutoReply => "auto_reply",
            Kind::Bounce => "bounce",
            Kind::Unrelated => "unrelated",
        }
    }

    pub fn parse(raw: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }

    /// Messages written by or about a worker, whose facts describe that worker.
    pub fn is_about_a_worker(self) -> bool {
        matches!(
            self,
            Kind::SupportRequest
                | Kind::ConsentReply
                | Kind::InfoReply
                | Kind::Withdrawal
                | Kind::ReferralIn
                | Kind::OutcomeUpdate
        )
    }

    pub fn is_automatic(self) -> bool {
        matches!(self, Kind::AutoReply | Kind::Bounce)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consent {
    Given,
    Refused,
    Withdrawn,
}

impl Consent {
    pub fn as_str(self) -> &'static str {
        match self {
            Consent::Given => "given",
            Consent::Refused => "refused",
            Consent::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(raw: &str) -> Option<Consent> {
        [Consent::Given, Consent::Refused, Consent::Withdrawn]
            .into_iter()
            .find(|consent| consent.as_str() == raw)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum DrivingLicence {
    /// No licence at all.
    None,
    /// A licence from another country only.
    Foreign,
    UkProvisional,
    UkFull,
}

impl DrivingLicence {
    pub fn as_str(self) -> &'static str {
        match self {
            DrivingLicence::None => "none",
            DrivingLicence::Foreign => "foreign",
            DrivingLicence::UkProvisional => "uk_provisional",
            DrivingLicence::UkFull => "uk_full",
        }
    }

    pub fn parse(raw: &str) -> Option<DrivingLicence> {
        [
            DrivingLicence::None,
            DrivingLicence::Foreign,
            DrivingLicence::UkProvisional,
            DrivingLicence::UkFull,
        ]
        .into_iter()
        .find(|licence| licence.as_str() == raw)
    }

    /// For people: referral emails and the staff app.
    pub fn describe(self) -> &'static str {
        match self {
            DrivingLicence::None => "No driving licence",
            DrivingLicence::Foreign => "Overseas licence only",
            DrivingLicence::UkProvisional => "UK provisional licence",
            DrivingLicence::UkFull => "Full UK licence",
        }
    }
}

/// Whether the worker could start work where the jobs are (rules/readiness.toml).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Readiness {
    Ready,
    NeedsSupport,
    NotReady,
    Unknown,
}

impl Readiness {
    pub fn as_str(self) -> &'static str {
        match self {
            Readiness::Ready => "ready",
            Readiness::NeedsSupport => "needs_support",
            Readiness::NotReady => "not_ready",
            Readiness::Unknown => "unknown",
        }
    }

    pub fn parse(raw: &str) -> Option<Readiness> {
        [
            Readiness::Ready,
            Readiness::NeedsSupport,
            Readiness::NotReady,
            Readiness::Unknown,
        ]
        .into_iter()
        .find(|readiness| readiness.as_str() == raw)
    }
}

/// Where the message should go next: `la:<Council>`, `region:<Region>`, `staff` or `none`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Route {
    LocalAuthority(String),
    Region(String),
    Staff,
    None,
}

impl Route {
    pub fn parse(raw: &str) -> Option<Route> {
        match raw {
            "staff" => Some(Route::Staff),
            "none" => Some(Route::None),
            _ => {
                if let Some(council) = raw.strip_prefix("la:") {
                    Some(Route::LocalAuthority(council.to_string()))
                } else {
                    raw.strip_prefix("region:")
                        .map(|region| Route::Region(region.to_string()))
                }
            }
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Route::LocalAuthority(council) => write!(f, "la:{council}"),
            Route::Region(region) => write!(f, "region:{region}"),
            Route::Staff => f.write_str("staff"),
            Route::None => f.write_str("none"),
        }
    }
}

impl Serialize for Route {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One safeguarding indicator and the words that raised it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SafeguardingIndicator {
    /// The indicator's id in rules/safeguarding.toml, e.g. `withheld_documents`.
    pub indicator: String,
    /// The worker's own words that matched.
    pub phrase: String,
}

impl fmt::Display for SafeguardingIndicator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: \"{}\"", self.indicator, self.phrase)
    }
}

/// All indicators found in one message; empty means none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Safeguarding(pub Vec<SafeguardingIndicator>);

impl Safeguarding {
    pub fn is_raised(&self) -> bool {
        !self.0.is_empty()
    }
}

/// Why a message counts as automatic (RFC 3834, Pigeonhole vacation rules): it is never answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Automatic {
    NullReturnPath,
    AutoSubmitted(String),
    Precedence(String),
    ListHeader(String),
    AutoResponseSuppress(String),
    AutoreplyHeader(String),
    SystemSender(String),
    DeliveryReport,
    SubjectCue(String),
    BodyCue(String),
}

impl fmt::Display for Automatic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Automatic::NullReturnPath => {
                f.write_str("Return-Path is <> (a delivery report or autoresponder)")
            }
            Automatic::AutoSubmitted(value) => write!(f, "Auto-Submitted: {value}"),
            Automatic::Precedence(value) => write!(f, "Precedence: {value}"),
            Automatic::ListHeader(name) => write!(f, "mailing-list header {name}"),
            Automatic::AutoResponseSuppress(value) => {
                write!(f, "X-Auto-Response-Suppress: {value}")
            }
            Automatic::AutoreplyHeader(name) => write!(f, "autoresponder header {name}"),
            Automatic::SystemSender(local) => write!(f, "system sender {local}"),
            Automatic::DeliveryReport => {
                f.write_str("multipart/report delivery status notification")
            }
            Automatic::SubjectCue(cue) => write!(f, "automatic-reply subject \"{cue}\""),
            Automatic::BodyCue(cue) => write!(f, "automatic-reply wording \"{cue}\""),
        }
    }
}

impl Serialize for Automatic {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What a council lead reports about a referred worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Placed with a new licensed sponsor.
    Employed,
    /// Closed with no further action (no contact, declined, no longer needed).
    Nfa,
    /// Still being worked on (interview arranged, in contact).
    InProgress,
    /// The worker lives somewhere else now and needs routing again.
    Moved,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Employed => "employed",
            Outcome::Nfa => "nfa",
            Outcome::InProgress => "in_progress",
            Outcome::Moved => "moved",
        }
    }

    pub fn parse(raw: &str) -> Option<Outcome> {
        [
            Outcome::Employed,
            Outcome::Nfa,
            Outcome::InProgress,
            Outcome::Moved,
        ]
        .into_iter()
        .find(|outcome| outcome.as_str() == raw)
    }
}

/// A detail the mailbox asks a worker for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Consent,
    /// A postcode, or at least a town.
    Location,
    Phone,
    DrivingLicence,
    CarAccess,
}

impl Field {
    pub const ALL: [Field; 5] = [
        Field::Consent,
        Field::Location,
        Field::Phone,
        Field::DrivingLicence,
        Field::CarAccess,
    ];

    pub fn parse(raw: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == raw)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Consent => "consent",
            Field::Location => "location",
            Field::Phone => "phone",
            Field::DrivingLicence => "driving_licence",
            Field::CarAccess => "car_access",
        }
    }
}

/// Car access is a plain yes/no; kept as a type so signatures say what the bool means.
pub type CarAccess = bool;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_print_and_parse_in_the_contract_form() {
        for raw in [
            "la:Telford and Wrekin",
            "region:North West",
            "staff",
            "none",
        ] {
            assert_eq!(Route::parse(raw).unwrap().to_string(), raw);
        }
        assert_eq!(Route::parse("elsewhere"), None);
    }

    #[test]
    fn value_spaces_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(
            serde_json::to_value(DrivingLicence::UkProvisional).unwrap(),
            "uk_provisional"
        );
        assert_eq!(
            DrivingLicence::parse("foreign"),
            Some(DrivingLicence::Foreign)
        );
        assert_eq!(
            Readiness::parse("needs_support"),
            Some(Readiness::NeedsSupport)
        );
        assert_eq!(Consent::parse("withdrawn"), Some(Consent::Withdrawn));
        assert_eq!(Outcome::parse("nfa"), Some(Outcome::Nfa));
    }
}
