//! The message brain: one email in, facts and a proposed route out. Pure: no database,
//! no network, no clock. Every stage takes values and returns values.
//!
//! ```text
//! raw bytes ─ parse ─► Email ─ quote::split ─► own words | quoted | signature
//!                                  │
//!             context::read ◄──────┘  (what our earlier message asked; case reference)
//!                  │
//!             classify ─► kind, automatic?  ─ extract ─► facts ─ triage ─► readiness, route
//! ```

pub mod classify;
pub mod context;
pub mod extract;
pub mod parse;
pub mod quote;
pub mod text;
pub mod triage;

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::NaiveDate;
use serde::Serialize;

use crate::domain::case_ref::CaseRefFinder;
use crate::domain::{
    Automatic, CaseRef, Consent, DrivingLicence, Email, Kind, Outcome, Phone, Postcode, Readiness,
    Route, SafeguardingIndicator,
};
use crate::rules::Rules;
use crate::rules::prompts::PromptKind;
pub use parse::Quarantine;

/// Everything the stages worked out about one message, for the case system.
#[derive(Debug, Clone)]
pub struct Assessment {
    pub email: Email,
    pub split: quote::Split,
    pub context: context::Context,
    pub classification: classify::Classification,
    pub facts: extract::Facts,
    pub decision: triage::Decision,
    /// The writer asks us not to write back ("he checks my phone"): no automatic email.
    pub do_not_contact: bool,
}

/// Triage of one message: the JSON contract of `regional-mailbox triage --json`.
#[derive(Debug, Clone, Serialize)]
pub struct Triage {
    pub kind: Kind,
    pub consent: Option<Consent>,
    pub postcode: Option<Postcode>,
    pub local_authority: Option<String>,
    /// One of the nine English regions; null elsewhere (see `country`).
    pub region: Option<String>,
    /// England, Wales, Scotland, Northern Ireland...: where the location is, when known.
    pub country: Option<String>,
    pub safeguarding: bool,
    pub safeguarding_reasons: Vec<String>,
    pub driving_licence: Option<DrivingLicence>,
    pub car_access: Option<bool>,
    pub phone: Option<Phone>,
    pub language: String,
    pub readiness: Readiness,
    pub route: Route,
    pub reasons: Vec<String>,
    /// Why the message must never be answered automatically (RFC 3834); empty otherwise.
    pub automatic: Vec<Automatic>,
    pub case_ref: Option<CaseRef>,
    pub replies_to: Option<PromptKind>,
    pub location_confidence: Option<f32>,
    /// Places and postcodes weighed to find where the worker lives, best last.
    pub location_considered: Vec<String>,
    pub revocation_date: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    pub outcome: Option<Outcome>,
    /// The words each fact came from.
    pub evidence: BTreeMap<&'static str, String>,
    pub indicators: Vec<SafeguardingIndicator>,
}

/// Per-deployment settings the stages need (from `Config`).
#[derive(Debug, Clone)]
pub struct Settings {
    pub case_refs: CaseRefFinder,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            case_refs: CaseRefFinder::new("RM"),
        }
    }
}

/// Runs every stage on raw bytes. Never panics: unreadable input, or a bug met on strange
/// input, comes back as a quarantine with its reason.
pub fn triage(raw: &[u8], rules: &Rules, settings: &Settings) -> Result<Triage, Quarantine> {
    assess(raw, rules, settings).map(|a| a.triage(rules))
}

pub fn assess(raw: &[u8], rules: &Rules, settings: &Settings) -> Result<Assessment, Quarantine> {
    let email = parse::parse(raw)?;
    match catch_unwind(AssertUnwindSafe(|| assess_email(email, rules, settings))) {
        Ok(assessment) => Ok(assessment),
        Err(_) => Err(Quarantine {
            reason: "triage failed on this message (an internal error); kept for staff".into(),
        }),
    }
}

pub fn assess_email(email: Email, rules: &Rules, settings: &Settings) -> Assessment {
    assess_in_context(email, None, rules, settings)
}

/// Reads a message as the answer to `awaited` when the message itself does not show what it
/// answers (no quote, no Message-ID of ours): the case knows what we asked last.
pub fn reassess_as_answer(
    assessment: Assessment,
    awaited: PromptKind,
    rules: &Rules,
    settings: &Settings,
) -> Assessment {
    if assessment.context.prompt.is_some() {
        return assessment;
    }
    assess_in_context(assessment.email, Some(awaited), rules, settings)
}

fn assess_in_context(
    email: Email,
    awaited: Option<PromptKind>,
    rules: &Rules,
    settings: &Settings,
) -> Assessment {
    let split = quote::split(&email.body);
    let mut context = context::read(&email, &split, rules, &settings.case_refs);
    if let Some(awaited) = awaited.filter(|_| context.prompt.is_none()) {
        context.prompt = Some(awaited);
        context.prompt_evidence = Some(format!("the case awaits an answer to our {awaited}"));
    }
    // The writer's own words, read by several stages: normalised once.
    let own = text::Text::new(&split.own_text());
    let classification = classify::classify(&email, &split, &own, &context, rules);
    let sources = extract::sources(&email, &split, &context, &classification, rules);
    let facts = extract::extract(&email, &sources, &classification, rules);
    let decision = triage::decide(classification.kind, &facts, rules);
    let do_not_contact = rules.kinds.do_not_contact.is_match(own.norm());
    Assessment {
        email,
        split,
        context,
        classification,
        facts,
        decision,
        do_not_contact,
    }
}

impl Assessment {
    pub fn triage(&self, rules: &Rules) -> Triage {
        let facts = &self.facts;
        let location = facts.location.as_ref();
        let mut evidence = BTreeMap::new();
        if let Some(l) = location {
            evidence.insert("location", l.evidence.clone());
        }
        let mut note = |key: &'static str, text: Option<&String>| {
            if let Some(text) = text.filter(|t| !t.is_empty()) {
                evidence.insert(key, text.clone());
            }
        };
        note("phone", facts.phone.as_ref().map(|f| &f.evidence));
        note(
            "driving_licence",
            facts.driving_licence.as_ref().map(|f| &f.evidence),
        );
        note("car_access", facts.car_access.as_ref().map(|f| &f.evidence));
        note("consent", facts.consent.as_ref().map(|f| &f.evidence));
        note(
            "revocation_date",
            facts.revocation_date.as_ref().map(|f| &f.evidence),
        );
        note("outcome", facts.outcome.as_ref().map(|f| &f.evidence));
        let revocation_date = facts.revocation_date.as_ref().map(|f| f.value);
        let mut reasons = self.classification.reasons.clone();
        reasons.extend(self.decision.reasons.iter().cloned());
        Triage {
            kind: self.classification.kind,
            consent: facts.consent.as_ref().map(|f| f.value),
            postcode: location.and_then(|l| l.postcode.clone()),
            local_authority: location.and_then(|l| l.council_name.clone()),
            region: location
                .and_then(|l| l.region.clone())
                .filter(|r| crate::gazetteer::is_english_region(r)),
            country: location.and_then(|l| l.region.as_ref()).map(|r| {
                if crate::gazetteer::is_english_region(r) {
                    "England".to_string()
                } else {
                    r.clone()
                }
            }),
            safeguarding: facts.safeguarding.is_raised(),
            safeguarding_reasons: facts.safeguarding.0.iter().map(|i| i.to_string()).collect(),
            driving_licence: facts.driving_licence.as_ref().map(|f| f.value),
            car_access: facts.car_access.as_ref().map(|f| f.value),
            phone: facts.phone.as_ref().map(|f| f.value.clone()),
            language: facts.language.clone(),
            readiness: self.decision.readiness,
            route: self.decision.route.clone(),
            reasons,
            automatic: self.classification.automatic.clone(),
            case_ref: self.context.case_ref.clone(),
            replies_to: self.context.prompt,
            location_confidence: location.map(|l| (l.confidence * 100.0).round() / 100.0),
            location_considered: location.map(|l| l.considered.clone()).unwrap_or_default(),
            revocation_date,
            deadline: revocation_date
                .map(|d| d + chrono::Days::new(u64::from(rules.dates.grace_days))),
            outcome: facts.outcome.as_ref().map(|f| f.value),
            evidence,
            indicators: facts.safeguarding.0.clone(),
        }
    }
}
