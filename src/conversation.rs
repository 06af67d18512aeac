//! The consent conversation, as a pure decision: given one assessed message and the case it
//! belongs to (if any), decide every change: the case state, the facts, consent, the emails
//! to send, the referral, staff exceptions and audit events. The store applies a [`Plan`]
//! in one transaction; nothing here touches the database or the network.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde_json::json;

use crate::domain::{
    CaseSnapshot, CaseState, Consent, DrivingLicence, EmailAddress, Field, HeldFact, Kind, Outcome,
};
use crate::gazetteer::is_english_region;
use crate::pipeline::Assessment;
use crate::pipeline::extract::Facts;
use crate::replies::Reply;
use crate::rules::Rules;

pub mod staff;

/// Who the mailbox is: it signs every email and never counts as a worker.
#[derive(Debug, Clone)]
pub struct Mailbox {
    /// Short and stable (`west_midlands`): stored on every row of this mailbox.
    pub id: String,
    pub name: String,
    pub address: EmailAddress,
    /// The home region: its councils get referrals directly.
    pub region: String,
}

/// Where a message belongs, as found by the store (reference, our Message-IDs, sender).
#[derive(Debug, Clone)]
pub enum Threaded {
    Case(CaseSnapshot),
    /// It names a case, but comes from an address that has no part in it.
    Stranger(CaseSnapshot),
    NoCase,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub case: CaseTarget,
    pub state: Option<CaseState>,
    pub updates: CaseUpdates,
    pub facts: Vec<NewFact>,
    /// Every fact held about the worker once this message is recorded.
    pub held: BTreeMap<String, HeldFact>,
    pub consent: Option<NewConsent>,
    pub addresses: Vec<EmailAddress>,
    pub mail: Vec<Outgoing>,
    pub referral: Option<Target>,
    /// Tell everyone who received the worker's details that consent was withdrawn. The
    /// store lists them once queued mail is cancelled (see [`withdrawal_notices`]).
    pub notify_disclosed: bool,
    /// Cancel the case's queued mail (withdrawal: nothing more goes out).
    pub cancel_queued: bool,
    pub outcome: Option<Outcome>,
    pub exceptions: Vec<NewException>,
    pub events: Vec<NewEvent>,
    pub asked: Vec<Field>,
    /// A closed case comes back to life: forget what was asked before it closed.
    pub reset_asked: bool,
    /// This plan is the case's one reminder.
    pub reminded: bool,
    /// Attach the inbound message to the case (false for a stranger's reference).
    pub link_message: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CaseTarget {
    #[default]
    None,
    New,
    Existing(i64),
}

/// Case columns to change; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseUpdates {
    pub language: Option<String>,
    pub worker_name: Option<String>,
    pub council: Option<String>,
    pub region: Option<String>,
    pub route: Option<String>,
    pub readiness: Option<String>,
    pub consent: Option<Consent>,
    pub safeguarding: Option<bool>,
    pub safeguarding_hold: Option<bool>,
    pub revocation_date: Option<NaiveDate>,
    pub deadline: Option<NaiveDate>,
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewFact {
    pub field: &'static str,
    pub value: String,
    pub quote: Option<String>,
    pub confidence: f32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewConsent {
    pub status: Consent,
    pub quote: Option<String>,
    /// A referrer who relayed the worker's consent; `None` when the worker answered us.
    pub relayed_by: Option<EmailAddress>,
}

/// An email to send. The store renders it once the case has its reference.
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub reply: Reply,
    pub to: Vec<EmailAddress>,
    /// `auto-replied` answers a person's email; `auto-generated` starts a new thread.
    pub auto_submitted: &'static str,
    /// Thread under the inbound message (In-Reply-To and References).
    pub in_reply: bool,
    pub asks: Vec<Field>,
    pub consent_pending: bool,
    pub target: Option<Target>,
    pub erasure_requested: bool,
    pub worker_contacted: bool,
    /// A staff alert's title and detail.
    pub alert: Option<(String, String)>,
    /// What a member of staff wrote (StaffMessage).
    pub staff_text: Option<String>,
}

impl Outgoing {
    pub fn new(reply: Reply, to: Vec<EmailAddress>, in_reply: bool) -> Self {
        Self {
            reply,
            to,
            auto_submitted: if in_reply {
                "auto-replied"
            } else {
                "auto-generated"
            },
            in_reply,
            asks: Vec::new(),
            consent_pending: false,
            target: None,
            erasure_requested: false,
            worker_contacted: false,
            alert: None,
            staff_text: None,
        }
    }
}

/// Who a referral goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Council { name: String, contact: EmailAddress },
    Region { name: String, contact: EmailAddress },
}

impl Target {
    pub fn contact(&self) -> &EmailAddress {
        match self {
            Target::Council { contact, .. } | Target::Region { contact, .. } => contact,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Council { name, .. } | Target::Region { name, .. } => name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Target::Council { .. } => "council",
            Target::Region { .. } => "region",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewException {
    pub reason: &'static str,
    pub detail: String,
    /// 0 is most urgent (safeguarding).
    pub priority: i16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub action: &'static str,
    pub detail: serde_json::Value,
}

/// Exception priorities: lower is more urgent.
pub mod priority {
    pub const SAFEGUARDING: i16 = 0;
    /// The 60-day deadline is close and the worker is not referred yet.
    pub const DEADLINE: i16 = 1;
    pub const LOOP: i16 = 2;
    pub const UNKNOWN_SENDER: i16 = 2;
    pub const ERASURE: i16 = 2;
    pub const QUARANTINE: i16 = 2;
    pub const ROUTING: i16 = 3;
    pub const QUESTION: i16 = 3;
    pub const DELIVERY: i16 = 4;
    pub const PROVIDER: i16 = 5;
}

pub fn plan(
    assessment: &Assessment,
    threaded: &Threaded,
    mailbox: &Mailbox,
    rules: &Rules,
) -> Plan {
    let mut plan = Plan {
        link_message: true,
        ..Plan::default()
    };
    let kind = assessment.classification.kind;
    plan.events.push(NewEvent {
        action: "message_received",
        detail: json!({ "kind": kind.as_str() }),
    });

    let case = match threaded {
        Threaded::Stranger(_) if kind.is_automatic() || kind == Kind::Unrelated => {
            // An autoresponder or list mail quoting a reference: kept, but nobody's business.
            plan.link_message = false;
            return plan;
        }
        Threaded::Stranger(case) => {
            plan.link_message = false;
            plan.exceptions.push(NewException {
                reason: "unknown_sender",
                detail: format!(
                    "A {kind} names case {} but comes from an address that is not on it: check who wrote before attaching it.",
                    case.reference
                ),
                priority: priority::UNKNOWN_SENDER,
            });
            if assessment.facts.safeguarding.is_raised() {
                safeguarding_exception(assessment, &mut plan);
            }
            return plan;
        }
        Threaded::Case(case) => {
            plan.case = CaseTarget::Existing(case.id);
            plan.held = case.facts.clone();
            Some(case)
        }
        Threaded::NoCase => None,
    };

    let from_worker = matches!(
        kind,
        Kind::SupportRequest | Kind::ConsentReply | Kind::InfoReply
    );
    if let Some(closed) = case.filter(|c| c.state.is_closed())
        && from_worker
    {
        match closed.state {
            // "Reply to come back": the same case carries on, asking afresh.
            CaseState::ClosedNfa | CaseState::ClosedNoConsent => {
                plan.reset_asked = true;
                plan.state = Some(if closed.consent == Some(Consent::Given) {
                    CaseState::AwaitingInfo
                } else {
                    CaseState::AwaitingConsent
                });
                plan.events.push(NewEvent {
                    action: "case_reopened",
                    detail: json!({ "was": closed.state.as_str() }),
                });
            }
            _ => {
                // Withdrawn, erased, employed or passed to another region: a person decides.
                if assessment.facts.safeguarding.is_raised() {
                    safeguarding_exception(assessment, &mut plan);
                }
                plan.exceptions.push(NewException {
                    reason: "closed_case_message",
                    detail: format!(
                        "The worker wrote again on {}, which is {}: read it and decide what to do.",
                        closed.reference,
                        closed.state.as_str().replace('_', " ")
                    ),
                    priority: priority::QUESTION,
                });
                return plan;
            }
        }
    }

    match kind {
        Kind::AutoReply | Kind::Unrelated => {}
        Kind::Bounce => bounce(case, &mut plan),
        Kind::ProviderEnquiry => provider(assessment, &mut plan),
        Kind::OutcomeUpdate => outcome_update(assessment, case, rules, &mut plan),
        Kind::Withdrawal => withdrawal(assessment, case, rules, &mut plan),
        Kind::ReferralIn => referral_in(assessment, case, mailbox, rules, &mut plan),
        Kind::SupportRequest | Kind::ConsentReply | Kind::InfoReply => {
            worker_message(assessment, case, mailbox, rules, &mut plan)
        }
    }
    plan
}

fn bounce(case: Option<&CaseSnapshot>, plan: &mut Plan) {
    if let Some(case) = case {
        plan.exceptions.push(NewException {
            reason: "undeliverable",
            detail: format!(
                "An email about case {} could not be delivered: check the address.",
                case.reference
            ),
            priority: priority::DELIVERY,
        });
    }
}

fn provider(assessment: &Assessment, plan: &mut Plan) {
    let Some(sender) = assessment.email.sender() else {
        return;
    };
    plan.events.push(NewEvent {
        action: "provider_enquiry",
        detail: json!({ "domain": sender.domain() }),
    });
    plan.exceptions.push(NewException {
        reason: "provider_enquiry",
        detail: "A care provider wrote about jobs or sponsorship: answer and match with workers."
            .into(),
        priority: priority::PROVIDER,
    });
    if assessment.classification.automatic.is_empty() {
        plan.mail.push(Outgoing::new(
            Reply::ProviderAcknowledgement,
            vec![sender.clone()],
            true,
        ));
    }
}

fn outcome_update(
    assessment: &Assessment,
    case: Option<&CaseSnapshot>,
    rules: &Rules,
    plan: &mut Plan,
) {
    let Some(case) = case else {
        plan.exceptions.push(NewException {
            reason: "outcome_unmatched",
            detail: "A council or hub reported an outcome, but no case matches it.".into(),
            priority: priority::QUESTION,
        });
        return;
    };
    let outcome = assessment.facts.outcome.as_ref().map(|f| f.value);
    record_facts(assessment, rules, case_facts(Some(case)), plan);
    let employer = assessment.facts.employer.as_ref();
    reported_outcome(
        case,
        outcome,
        employer.map(|e| (e.value.as_str(), e.evidence.as_str())),
        plan,
    );
}

/// What a council lead or hub reported about a referral (by email or in the web app),
/// with the new employer and the words that named it, when given.
fn reported_outcome(
    case: &CaseSnapshot,
    outcome: Option<Outcome>,
    employer: Option<(&str, &str)>,
    plan: &mut Plan,
) {
    let employer = employer.filter(|(name, _)| !name.trim().is_empty());
    if let Some((name, words)) = employer {
        plan.facts.push(NewFact {
            field: "employer",
            value: name.trim().to_string(),
            quote: Some(words.to_string()),
            confidence: 1.0,
        });
    }
    plan.outcome = outcome;
    match outcome {
        Some(Outcome::Employed) => {
            plan.state = Some(CaseState::ClosedEmployed);
            plan.updates.outcome = Some(Outcome::Employed);
        }
        Some(Outcome::Nfa) => {
            let closed = if case.state == CaseState::ReferredRegion {
                CaseState::ClosedReferredRegion
            } else {
                CaseState::ClosedNfa
            };
            plan.state = Some(closed);
            plan.updates.outcome = Some(Outcome::Nfa);
        }
        Some(Outcome::InProgress) => {
            if case.state == CaseState::ReferredRegion {
                plan.state = Some(CaseState::ClosedReferredRegion);
            }
        }
        Some(Outcome::Moved) => plan.exceptions.push(NewException {
            reason: "worker_moved",
            detail: format!(
                "The lead says the worker on {} lives elsewhere now: re-route.",
                case.reference
            ),
            priority: priority::ROUTING,
        }),
        None => plan.exceptions.push(NewException {
            reason: "outcome_unclear",
            detail: format!(
                "A reply about {} whose outcome is unclear: read it and record the outcome.",
                case.reference
            ),
            priority: priority::QUESTION,
        }),
    }
    plan.events.push(NewEvent {
        action: "outcome_reported",
        detail: json!({
            "outcome": outcome.map(|o| o.as_str()),
            "employer": employer.map(|(name, _)| name.trim()),
        }),
    });
}

fn withdrawal(
    assessment: &Assessment,
    case: Option<&CaseSnapshot>,
    rules: &Rules,
    plan: &mut Plan,
) {
    let quote = assessment
        .facts
        .consent
        .as_ref()
        .map(|c| c.evidence.clone());
    let erasure = rules.kinds.erasure.is_match(&own_norm(assessment));
    let Some(case) = case else {
        plan.exceptions.push(NewException {
            reason: "withdrawal_unmatched",
            detail: "Someone asks us to stop or delete their details, but no case matches: find it and act.".into(),
            priority: priority::ERASURE,
        });
        return;
    };
    if assessment.facts.safeguarding.is_raised() {
        safeguarding_exception(assessment, plan);
    }
    if case.state == CaseState::Withdrawn {
        return;
    }
    plan.consent = Some(NewConsent {
        status: Consent::Withdrawn,
        quote,
        relayed_by: None,
    });
    plan.updates.consent = Some(Consent::Withdrawn);
    plan.state = Some(CaseState::Withdrawn);
    plan.cancel_queued = true;
    plan.notify_disclosed = !case.disclosed_to.is_empty();
    if erasure {
        plan.events.push(NewEvent {
            action: "erasure_requested",
            detail: json!({}),
        });
        plan.exceptions.push(NewException {
            reason: "erasure_request",
            detail: format!(
                "The worker on {} asks us to delete their details: an admin must erase the case.",
                case.reference
            ),
            priority: priority::ERASURE,
        });
    }
    if let Some(worker) = reply_address(assessment, case, rules) {
        let mut confirmation = Outgoing::new(Reply::WithdrawalConfirmation, vec![worker], true);
        confirmation.erasure_requested = erasure;
        plan.mail.push(confirmation);
    }
}

fn referral_in(
    assessment: &Assessment,
    case: Option<&CaseSnapshot>,
    mailbox: &Mailbox,
    rules: &Rules,
    plan: &mut Plan,
) {
    let referrer = assessment.email.sender().cloned();
    let worker = worker_address_in_referral(assessment, mailbox, rules);
    if case.is_none() {
        plan.case = CaseTarget::New;
        plan.state = Some(CaseState::AwaitingConsent);
    }
    if let Some(worker) = &worker {
        plan.addresses.push(worker.clone());
    }
    plan.updates.language = Some("en".into());
    let facts = record_facts(assessment, rules, case_facts(case), plan);
    plan.events.push(NewEvent {
        action: "referral_received",
        detail: json!({
            "from_domain": referrer.as_ref().map(|r| r.domain().to_string()),
            "source": referrer.as_ref().map_or("other", |r| rules.directory.referrer(r).as_str()),
        }),
    });
    let safeguarding = assessment.facts.safeguarding.is_raised();
    if safeguarding {
        safeguarding_exception(assessment, plan);
    }
    let relayed = matches!(
        assessment.facts.consent.as_ref().map(|c| c.value),
        Some(Consent::Given)
    );
    if relayed {
        plan.consent = Some(NewConsent {
            status: Consent::Given,
            quote: assessment
                .facts
                .consent
                .as_ref()
                .map(|c| c.evidence.clone()),
            relayed_by: referrer.clone(),
        });
        plan.updates.consent = Some(Consent::Given);
        plan.state = Some(CaseState::AwaitingInfo);
        let hold = safeguarding || case.is_some_and(|c| c.safeguarding_hold);
        let asked = case.map(|c| c.asked.clone()).unwrap_or_default();
        progress(&facts, &asked, hold, worker.as_ref(), rules, plan);
    } else if let Some(worker) = &worker {
        let mut request = Outgoing::new(Reply::ConsentRequest, vec![worker.clone()], false);
        request.asks = missing(
            &facts,
            &rules.conversation.asked_before_referral,
            &rules.conversation.required_before_referral,
        );
        plan.asked.extend(request.asks.iter().copied());
        plan.mail.push(request);
    }
    if worker.is_none() {
        plan.exceptions.push(NewException {
            reason: "no_worker_address",
            detail:
                "A referral without the worker's email address: contact the worker another way."
                    .into(),
            priority: priority::QUESTION,
        });
    }
    if let Some(referrer) = referrer.filter(|_| assessment.classification.automatic.is_empty()) {
        let mut ack = Outgoing::new(Reply::ReferralReceived, vec![referrer], true);
        ack.worker_contacted = worker.is_some();
        plan.mail.push(ack);
    }
}

fn worker_message(
    assessment: &Assessment,
    case: Option<&CaseSnapshot>,
    mailbox: &Mailbox,
    rules: &Rules,
    plan: &mut Plan,
) {
    let sender = assessment.email.sender().cloned();
    let kind = assessment.classification.kind;
    let new_case = case.is_none();
    if new_case {
        // A reply to a case we cannot find (ours was deleted, or the reference was lost)
        // still opens a case: the worker is owed an answer.
        plan.case = CaseTarget::New;
        plan.state = Some(CaseState::AwaitingConsent);
        if let Some(sender) = &sender
            && !sender.same_mailbox(&mailbox.address)
        {
            plan.addresses.push(sender.clone());
        }
        plan.updates.worker_name = assessment.email.sender_name().map(clean_name);
    }
    if new_case || assessment.facts.language != "en" {
        plan.updates.language = Some(assessment.facts.language.clone());
    }
    let facts = record_facts(assessment, rules, case_facts(case), plan);
    let worker = match case {
        Some(case) => reply_address(assessment, case, rules),
        None => sender.clone().filter(|_| may_write_to(assessment, rules)),
    };
    let safeguarding = assessment.facts.safeguarding.is_raised();
    if safeguarding {
        safeguarding_exception(assessment, plan);
        if let Some(worker) = worker.clone() {
            let mut help = Outgoing::new(Reply::SafeguardingUrgentHelp, vec![worker], true);
            help.auto_submitted = "auto-replied";
            plan.mail.push(help);
        }
    }
    let hold = safeguarding || case.is_some_and(|c| c.safeguarding_hold);
    let asked = case
        .filter(|_| !plan.reset_asked)
        .map(|c| c.asked.clone())
        .unwrap_or_default();
    let consent_before = case.and_then(|c| c.consent);
    let stated = assessment.facts.consent.as_ref();

    match (consent_before, stated.map(|c| c.value)) {
        (Some(Consent::Given), _) => {
            progress(&facts, &asked, hold, worker.as_ref(), rules, plan);
        }
        (_, Some(Consent::Given)) if kind != Kind::SupportRequest || case.is_some() => {
            plan.consent = Some(NewConsent {
                status: Consent::Given,
                quote: stated.map(|c| c.evidence.clone()),
                relayed_by: None,
            });
            plan.updates.consent = Some(Consent::Given);
            plan.state = Some(CaseState::AwaitingInfo);
            progress(&facts, &asked, hold, worker.as_ref(), rules, plan);
        }
        (_, Some(Consent::Refused)) if case.is_some() => {
            plan.consent = Some(NewConsent {
                status: Consent::Refused,
                quote: stated.map(|c| c.evidence.clone()),
                relayed_by: None,
            });
            plan.updates.consent = Some(Consent::Refused);
            plan.state = Some(CaseState::ClosedNoConsent);
            if let Some(worker) = worker {
                plan.mail
                    .push(Outgoing::new(Reply::ConsentRefused, vec![worker], true));
            }
        }
        _ => {
            // No consent yet: ask for it once, with the missing details.
            let already_asked = asked.get(&Field::Consent).copied().unwrap_or(0) > 0;
            if !already_asked && let Some(worker) = worker {
                let mut request = Outgoing::new(Reply::ConsentRequest, vec![worker], true);
                request.asks = missing(
                    &facts,
                    &rules.conversation.asked_before_referral,
                    &rules.conversation.required_before_referral,
                );
                plan.asked.push(Field::Consent);
                plan.asked.extend(request.asks.iter().copied());
                plan.mail.push(request);
            } else if kind == Kind::ConsentReply && assessment.email.body.contains('?') {
                plan.exceptions.push(NewException {
                    reason: "consent_question",
                    detail: "The worker has a question before giving consent: answer it.".into(),
                    priority: priority::QUESTION,
                });
            }
        }
    }
}

/// After consent: refer as soon as the required fields are known; until then ask for them,
/// with any optional field never asked. A required field is asked at most twice, an
/// optional one once; after that staff take over.
fn progress(
    facts: &BTreeMap<String, HeldFact>,
    asked: &BTreeMap<Field, u32>,
    hold: bool,
    worker: Option<&EmailAddress>,
    rules: &Rules,
    plan: &mut Plan,
) {
    let conversation = &rules.conversation;
    let required = &conversation.required_before_referral;
    let wanted = missing(facts, &conversation.asked_before_referral, required);
    let required_missing: Vec<Field> = wanted
        .iter()
        .copied()
        .filter(|f| required.contains(f))
        .collect();

    if hold {
        plan.state = Some(CaseState::Triaged);
        plan.events.push(NewEvent {
            action: "referral_held",
            detail: json!({ "reason": "safeguarding" }),
        });
        return;
    }
    if !required_missing.is_empty() {
        let times = |f: &Field| {
            asked.get(f).copied().unwrap_or(0)
                + plan.asked.iter().filter(|a| *a == f).count() as u32
        };
        let to_ask: Vec<Field> = wanted
            .iter()
            .copied()
            .filter(|f| times(f) == 0 || (required.contains(f) && times(f) < 2))
            .collect();
        let asks_required = to_ask.iter().any(|f| required.contains(f));
        if asks_required && let Some(worker) = worker {
            let mut request = Outgoing::new(Reply::DetailsRequest, vec![worker.clone()], true);
            request.asks = to_ask.clone();
            plan.asked.extend(to_ask);
            plan.mail.push(request);
            plan.state = Some(CaseState::AwaitingInfo);
            return;
        }
        plan.state = Some(CaseState::Triaged);
        plan.exceptions.push(NewException {
            reason: "no_location",
            detail: "Consent given, but still no postcode or town after asking twice: contact the worker.".into(),
            priority: priority::ROUTING,
        });
        return;
    }
    match target(facts, rules) {
        Ok(target) => refer(target, worker, plan),
        Err((reason, detail)) => {
            plan.state = Some(CaseState::Triaged);
            plan.exceptions.push(NewException {
                reason,
                detail,
                priority: priority::ROUTING,
            });
        }
    }
}

/// Refers the worker: the referral email with the details consent allows, the worker told
/// who will contact them.
fn refer(target: Target, worker: Option<&EmailAddress>, plan: &mut Plan) {
    plan.state = Some(match target {
        Target::Council { .. } => CaseState::ReferredLa,
        Target::Region { .. } => CaseState::ReferredRegion,
    });
    plan.updates.route = Some(match &target {
        Target::Council { name, .. } => format!("la:{name}"),
        Target::Region { name, .. } => format!("region:{name}"),
    });
    let reply = match target {
        Target::Council { .. } => Reply::ReferralCouncil,
        Target::Region { .. } => Reply::ReferralRegion,
    };
    let mut referral = Outgoing::new(reply, vec![target.contact().clone()], false);
    referral.target = Some(target.clone());
    plan.mail.push(referral);
    if let Some(worker) = worker {
        let mut told = Outgoing::new(Reply::WorkerReferred, vec![worker.clone()], true);
        told.target = Some(target.clone());
        plan.mail.push(told);
    }
    plan.events.push(NewEvent {
        action: "referred",
        detail: json!({ "kind": target.kind(), "target": target.name() }),
    });
    plan.referral = Some(target);
}

/// The notices to everyone who received the worker's details, once a withdrawal has
/// cancelled what was still queued.
pub fn withdrawal_notices(recipients: &[EmailAddress]) -> Vec<Outgoing> {
    recipients
        .iter()
        .map(|recipient| Outgoing::new(Reply::WithdrawalNotice, vec![recipient.clone()], false))
        .collect()
}

/// The council lead or regional hub for the worker's home, or why staff must decide.
fn target(
    facts: &BTreeMap<String, HeldFact>,
    rules: &Rules,
) -> Result<Target, (&'static str, String)> {
    let region = facts.get("region").map(|f| f.value.as_str());
    let council = facts.get("council").map(|f| f.value.as_str());
    let country = facts.get("country").map(|f| f.value.as_str());
    let confidence: f32 = facts
        .get("location_confidence")
        .and_then(|f| f.value.parse().ok())
        .unwrap_or(1.0);
    if let Some(country) = country.filter(|c| *c != "England") {
        return Err((
            "outside_england",
            format!("The worker lives in {country}, outside the English regions: signpost them."),
        ));
    }
    if confidence < rules.routing.min_location_confidence {
        return Err((
            "uncertain_location",
            format!(
                "Not sure which council the worker lives in ({}): check before referring.",
                council.unwrap_or("unknown")
            ),
        ));
    }
    let Some(region) = region.filter(|r| is_english_region(r)) else {
        return Err((
            "no_location",
            "No English region for the worker's location: check it.".into(),
        ));
    };
    contact_for(region, council, rules)
}

/// Who takes a worker living in `region` (and `council`): in the home region the council's
/// International Recruitment lead, elsewhere the region's hub.
fn contact_for(
    region: &str,
    council: Option<&str>,
    rules: &Rules,
) -> Result<Target, (&'static str, String)> {
    if region == rules.routing.home_region {
        let Some(council) = council else {
            return Err((
                "no_location",
                format!("In {region}, but the council is not known: ask for a postcode."),
            ));
        };
        let contact = rules.directory.council(council).map(|c| c.ir_lead.clone());
        return contact
            .map(|contact| Target::Council {
                name: council.to_string(),
                contact,
            })
            .ok_or((
                "no_contact",
                format!("No International Recruitment lead for {council} in rules/directory.toml."),
            ));
    }
    rules
        .directory
        .region(region)
        .map(|r| Target::Region {
            name: region.to_string(),
            contact: r.hub.clone(),
        })
        .ok_or((
            "no_contact",
            format!("No hub for {region} in rules/directory.toml."),
        ))
}

/// The fields the conversation still lacks (for staff sending a request again).
pub fn missing_fields(
    facts: &BTreeMap<String, HeldFact>,
    wanted: &[Field],
    required: &[Field],
) -> Vec<Field> {
    missing(facts, wanted, required)
}

/// The fields the conversation still lacks, required first.
fn missing(facts: &BTreeMap<String, HeldFact>, wanted: &[Field], required: &[Field]) -> Vec<Field> {
    let known = |field: &Field| match field {
        Field::Location => facts.contains_key("council") || facts.contains_key("region"),
        Field::Phone => facts.contains_key("phone"),
        Field::DrivingLicence => facts.contains_key("driving_licence"),
        Field::CarAccess => facts.contains_key("car_access"),
        Field::Consent => true,
    };
    let mut fields: Vec<Field> = required
        .iter()
        .chain(wanted)
        .copied()
        .filter(|f| !known(f))
        .collect();
    fields.dedup();
    fields.sort();
    fields
}

fn case_facts(case: Option<&CaseSnapshot>) -> BTreeMap<String, HeldFact> {
    case.map(|c| c.facts.clone()).unwrap_or_default()
}

/// A fact learnt: held from now on and recorded, unless it is already held as it is.
fn hold(
    held: &mut BTreeMap<String, HeldFact>,
    recorded: &mut Vec<NewFact>,
    field: &'static str,
    value: String,
    quote: Option<String>,
    confidence: f32,
) {
    if held.get(field).is_some_and(|h| h.value == value) {
        return;
    }
    held.insert(
        field.to_string(),
        HeldFact {
            value: value.clone(),
            quote: quote.clone(),
        },
    );
    recorded.push(NewFact {
        field,
        value,
        quote,
        confidence,
    });
}

/// Records what this message says, newer over older, and returns the merged view.
fn record_facts(
    assessment: &Assessment,
    rules: &Rules,
    held: BTreeMap<String, HeldFact>,
    plan: &mut Plan,
) -> BTreeMap<String, HeldFact> {
    let about_a_worker = assessment.classification.kind.is_about_a_worker();
    note_facts(&assessment.facts, about_a_worker, rules, held, plan)
}

/// Records facts (from a message, or corrected by staff) over those held, and returns the
/// merged view; readiness is assessed again when the facts are about a worker.
fn note_facts(
    facts: &Facts,
    about_a_worker: bool,
    rules: &Rules,
    mut held: BTreeMap<String, HeldFact>,
    plan: &mut Plan,
) -> BTreeMap<String, HeldFact> {
    let mut note = |field: &'static str,
                    value: String,
                    quote: Option<String>,
                    confidence: f32,
                    plan: &mut Plan| {
        hold(&mut held, &mut plan.facts, field, value, quote, confidence);
    };
    if let Some(location) = &facts.location {
        let quote = Some(location.evidence.clone());
        let region = location.region.clone().unwrap_or_default();
        let country = if is_english_region(&region) {
            "England".to_string()
        } else {
            region.clone()
        };
        if let Some(postcode) = &location.postcode {
            note(
                "postcode",
                postcode.to_string(),
                quote.clone(),
                location.confidence,
                plan,
            );
        }
        note(
            "town",
            location.evidence.clone(),
            quote.clone(),
            location.confidence,
            plan,
        );
        if let Some(council) = &location.council_name {
            note(
                "council",
                council.clone(),
                quote.clone(),
                location.confidence,
                plan,
            );
            plan.updates.council = Some(council.clone());
        }
        if is_english_region(&region) {
            note(
                "region",
                region.clone(),
                quote.clone(),
                location.confidence,
                plan,
            );
            plan.updates.region = Some(region.clone());
        }
        note("country", country, quote.clone(), location.confidence, plan);
        note(
            "location_confidence",
            format!("{:.2}", location.confidence),
            quote,
            location.confidence,
            plan,
        );
    }
    if let Some(phone) = &facts.phone {
        note(
            "phone",
            phone.value.to_string(),
            Some(phone.evidence.clone()),
            phone.confidence,
            plan,
        );
    }
    if let Some(licence) = &facts.driving_licence {
        note(
            "driving_licence",
            licence.value.as_str().into(),
            Some(licence.evidence.clone()),
            licence.confidence,
            plan,
        );
    }
    if let Some(car) = &facts.car_access {
        let value = if car.value { "yes" } else { "no" };
        note(
            "car_access",
            value.into(),
            Some(car.evidence.clone()),
            car.confidence,
            plan,
        );
    }
    if let Some(date) = &facts.revocation_date {
        note(
            "revocation_date",
            date.value.to_string(),
            Some(date.evidence.clone()),
            date.confidence,
            plan,
        );
        plan.updates.revocation_date = Some(date.value);
        plan.updates.deadline = date.value.checked_add_days(Days::new(60));
    }
    if facts.safeguarding.is_raised() {
        plan.updates.safeguarding = Some(true);
        plan.updates.safeguarding_hold = Some(true);
    }
    let licence = held
        .get("driving_licence")
        .and_then(|f| DrivingLicence::parse(&f.value));
    let car = held.get("car_access").map(|f| f.value == "yes");
    if about_a_worker {
        let (readiness, _) = rules.readiness.assess(licence, car);
        plan.updates.readiness = Some(readiness.as_str().into());
    }
    plan.held = held.clone();
    held
}

fn safeguarding_exception(assessment: &Assessment, plan: &mut Plan) {
    let indicators: Vec<String> = assessment
        .facts
        .safeguarding
        .0
        .iter()
        .map(|i| i.to_string())
        .collect();
    plan.exceptions.push(NewException {
        reason: "safeguarding",
        detail: format!(
            "Safeguarding concern: {}. Nothing is shared until staff decide.",
            indicators.join("; ")
        ),
        priority: priority::SAFEGUARDING,
    });
    plan.events.push(NewEvent {
        action: "safeguarding_raised",
        detail: json!({ "indicators": assessment.facts.safeguarding.0.iter().map(|i| i.indicator.clone()).collect::<Vec<_>>() }),
    });
    if !may_write_to_text(assessment) {
        plan.events.push(NewEvent {
            action: "no_contact_requested",
            detail: json!({}),
        });
    }
}

/// Whether the mailbox may write to the sender: not automatic mail, and not a worker who
/// asked us not to (or whose phone is watched).
fn may_write_to(assessment: &Assessment, _rules: &Rules) -> bool {
    assessment.classification.automatic.is_empty() && may_write_to_text(assessment)
}

fn may_write_to_text(assessment: &Assessment) -> bool {
    !assessment.do_not_contact
}

/// Where to reply on an existing case: the sender when they are on the case, else the
/// case's first address.
fn reply_address(
    assessment: &Assessment,
    case: &CaseSnapshot,
    rules: &Rules,
) -> Option<EmailAddress> {
    if !may_write_to(assessment, rules) {
        return None;
    }
    match assessment.email.sender() {
        Some(sender) if case.has_address(sender) => Some(sender.clone()),
        _ => case.addresses.first().cloned(),
    }
}

/// The worker's own address in a referral: an address written in the text, or the author
/// of a forwarded email, that is neither the referrer's nor ours.
fn worker_address_in_referral(
    assessment: &Assessment,
    mailbox: &Mailbox,
    rules: &Rules,
) -> Option<EmailAddress> {
    let sender = assessment.email.sender();
    let not_ours = |a: &EmailAddress| {
        !a.same_mailbox(&mailbox.address) && sender.is_none_or(|s| !s.same_mailbox(a))
    };
    let in_text = addresses_in(&assessment.split.own_text())
        .into_iter()
        .find(|a| not_ours(a));
    let forwarded = assessment
        .split
        .blocks
        .iter()
        .filter_map(|b| b.header.as_ref().and_then(|h| h.address.clone()))
        .chain(
            assessment
                .email
                .forwarded
                .iter()
                .filter_map(|f| f.from.as_ref().map(|m| m.address.clone())),
        )
        .find(|a| not_ours(a) && rules.kinds.is_free_mail(a.domain()));
    in_text.or(forwarded)
}

fn addresses_in(text: &str) -> Vec<EmailAddress> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"'))
        .map(|w| w.trim_matches(|c: char| c == '.' || c == ':' || c == '\''))
        .filter(|w| w.contains('@'))
        .filter_map(EmailAddress::parse)
        .collect()
}

fn own_norm(assessment: &Assessment) -> String {
    crate::pipeline::text::Text::new(&assessment.split.own_text())
        .norm()
        .to_string()
}

/// "PRIYA NAIR" → "Priya Nair"; drops quotes and trailing addresses.
fn clean_name(raw: &str) -> String {
    let name = raw
        .split('<')
        .next()
        .unwrap_or(raw)
        .trim()
        .trim_matches('"');
    if name.chars().any(char::is_lowercase) {
        return name.to_string();
    }
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().collect::<String>() + &chars.as_str().to_lowercase())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The timers on a quiet case: one reminder after `reminder_after_days` of silence, then
/// closing as no further action `close_after_days` after the last word on either side.
/// `None` when nothing is due.
pub fn on_timer(case: &CaseSnapshot, now: DateTime<Utc>, rules: &Rules) -> Option<Plan> {
    if !matches!(
        case.state,
        CaseState::AwaitingConsent | CaseState::AwaitingInfo
    ) {
        return None;
    }
    let conversation = &rules.conversation;
    let last_word = [
        case.last_inbound_at,
        case.last_outbound_at,
        case.reminder_sent_at,
    ]
    .into_iter()
    .flatten()
    .max()?;
    let quiet_days = (now - last_word).num_days();
    let worker = case.addresses.first().cloned();
    let mut plan = Plan {
        case: CaseTarget::Existing(case.id),
        held: case.facts.clone(),
        ..Plan::default()
    };
    match case.reminder_sent_at {
        None if quiet_days >= i64::from(conversation.reminder_after_days) => {
            let consent_pending = case.consent != Some(Consent::Given);
            let required = &conversation.required_before_referral;
            let asks: Vec<Field> = missing(&case.facts, &[], required);
            plan.reminded = true;
            plan.events.push(NewEvent {
                action: "reminder_due",
                detail: json!({ "quiet_days": quiet_days }),
            });
            if let Some(worker) = worker {
                let mut reminder = Outgoing::new(Reply::Reminder, vec![worker], false);
                reminder.consent_pending = consent_pending;
                reminder.asks = asks.clone();
                if consent_pending {
                    plan.asked.push(Field::Consent);
                }
                plan.asked.extend(asks);
                plan.mail.push(reminder);
            }
            Some(plan)
        }
        Some(_) if quiet_days >= i64::from(conversation.close_after_days) => {
            plan.state = Some(CaseState::ClosedNfa);
            plan.events.push(NewEvent {
                action: "closed_no_reply",
                detail: json!({ "quiet_days": quiet_days }),
            });
            if let Some(worker) = worker {
                plan.mail
                    .push(Outgoing::new(Reply::Closing, vec![worker], false));
            }
            Some(plan)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CaseRef;
    use crate::pipeline::{Settings, assess};
    use crate::rules::tests::rules;

    fn mailbox() -> Mailbox {
        Mailbox {
            id: "west_midlands".into(),
            name: "West Midlands Regional Support Mailbox".into(),
            address: EmailAddress::parse("support@mailbox.example.org").unwrap(),
            region: "West Midlands".into(),
        }
    }

    fn email(from: &str, subject: &str, body: &str) -> Assessment {
        let raw = format!(
            "From: {from}\r\nTo: support@mailbox.example.org\r\nSubject: {subject}\r\nMessage-ID: <m1@example.com>\r\n\r\n{body}\r\n"
        );
        assess(raw.as_bytes(), rules(), &Settings::default()).unwrap()
    }

    pub(super) fn case(
        state: CaseState,
        consent: Option<Consent>,
        facts: &[(&str, &str)],
    ) -> CaseSnapshot {
        CaseSnapshot {
            id: 7,
            reference: CaseRef::new("RM", 7),
            state,
            language: "en".into(),
            worker_name: Some("Priya Nair".into()),
            route: None,
            consent,
            consent_wording: None,
            facts: facts
                .iter()
                .map(|(k, v)| {
                    (
                        k.to_string(),
                        HeldFact {
                            value: v.to_string(),
                            quote: None,
                        },
                    )
                })
                .collect(),
            asked: [(Field::Consent, 1), (Field::Location, 1), (Field::Phone, 1)]
                .into_iter()
                .collect(),
            addresses: vec![EmailAddress::parse("priya@gmail.com").unwrap()],
            correspondents: Vec::new(),
            disclosed_to: Vec::new(),
            safeguarding_hold: false,
            revocation_date: None,
            deadline: None,
            last_inbound_at: None,
            last_outbound_at: None,
            reminder_sent_at: None,
        }
    }

    pub(super) fn kinds(plan: &Plan) -> Vec<Reply> {
        plan.mail.iter().map(|m| m.reply).collect()
    }

    pub(super) const WALSALL: [(&str, &str); 4] = [
        ("postcode", "WS1 3AB"),
        ("council", "Walsall"),
        ("region", "West Midlands"),
        ("country", "England"),
    ];

    #[test]
    fn each_message_leads_to_the_right_next_step() {
        type Case = (
            &'static str,
            Assessment,
            Threaded,
            Option<CaseState>,
            Vec<Reply>,
        );
        let cases: Vec<Case> = vec![
            (
                "a first email opens a case and asks for consent",
                email(
                    "priya@gmail.com",
                    "Help",
                    "My sponsor licence was revoked. Please help me.",
                ),
                Threaded::NoCase,
                Some(CaseState::AwaitingConsent),
                vec![Reply::ConsentRequest],
            ),
            (
                "consent with a known location refers to the council",
                email(
                    "priya@gmail.com",
                    "Re: consent needed",
                    "Yes I agree, you can share my details.",
                ),
                Threaded::Case(case(CaseState::AwaitingConsent, None, &WALSALL)),
                Some(CaseState::ReferredLa),
                vec![Reply::ReferralCouncil, Reply::WorkerReferred],
            ),
            (
                "consent without a location asks for it",
                email(
                    "priya@gmail.com",
                    "Re: consent needed",
                    "Yes I agree, you can share my details.",
                ),
                Threaded::Case(case(CaseState::AwaitingConsent, None, &[])),
                Some(CaseState::AwaitingInfo),
                vec![Reply::DetailsRequest],
            ),
            (
                "a refusal closes and shares nothing",
                email(
                    "priya@gmail.com",
                    "Re: consent needed",
                    "I do not consent. Please do not share my details.",
                ),
                Threaded::Case(case(CaseState::AwaitingConsent, None, &WALSALL)),
                Some(CaseState::ClosedNoConsent),
                vec![Reply::ConsentRefused],
            ),
            (
                "an out-of-office is never answered",
                email(
                    "priya@gmail.com",
                    "Automatic reply: consent needed",
                    "I am out of the office until Monday with no access to email.",
                ),
                Threaded::Case(case(CaseState::AwaitingConsent, None, &[])),
                None,
                vec![],
            ),
        ];
        for (name, assessment, threaded, state, replies) in cases {
            let plan = plan(&assessment, &threaded, &mailbox(), rules());
            assert_eq!(plan.state, state, "{name}");
            assert_eq!(kinds(&plan), replies, "{name}");
        }
    }

    #[test]
    fn safeguarding_holds_the_referral_and_sends_urgent_help() {
        let assessment = email(
            "priya@gmail.com",
            "Re: consent needed",
            "Yes I agree. My boss has kept my passport and I have not been paid for two months.",
        );
        let plan = plan(
            &assessment,
            &Threaded::Case(case(CaseState::AwaitingConsent, None, &WALSALL)),
            &mailbox(),
            rules(),
        );
        assert_eq!(plan.exceptions[0].reason, "safeguarding");
        assert_eq!(plan.exceptions[0].priority, priority::SAFEGUARDING);
        assert_eq!(kinds(&plan), [Reply::SafeguardingUrgentHelp]);
        assert_eq!(plan.state, Some(CaseState::Triaged));
        assert!(plan.referral.is_none());
    }

    #[test]
    fn a_stranger_changes_nothing_on_the_case() {
        let assessment = email(
            "someone@hotmail.com",
            "Re: [RM-000007] consent",
            "YES I consent",
        );
        let plan = plan(
            &assessment,
            &Threaded::Stranger(case(CaseState::AwaitingConsent, None, &[])),
            &mailbox(),
            rules(),
        );
        assert!(!plan.link_message);
        assert_eq!(plan.case, CaseTarget::None);
        assert!(plan.consent.is_none() && plan.mail.is_empty() && plan.facts.is_empty());
        assert_eq!(plan.exceptions[0].reason, "unknown_sender");
    }

    #[test]
    fn a_withdrawal_asks_the_store_to_tell_earlier_recipients() {
        let mut referred = case(CaseState::ReferredLa, Some(Consent::Given), &WALSALL);
        referred.disclosed_to =
            vec![EmailAddress::parse("ir.lead@walsall.example.gov.uk").unwrap()];
        let assessment = email(
            "priya@gmail.com",
            "stop",
            "I withdraw my consent. Please delete my details.",
        );
        let plan = plan(&assessment, &Threaded::Case(referred), &mailbox(), rules());
        assert_eq!(plan.state, Some(CaseState::Withdrawn));
        assert!(plan.notify_disclosed && plan.cancel_queued);
        assert_eq!(kinds(&plan), [Reply::WithdrawalConfirmation]);
        assert!(
            plan.exceptions
                .iter()
                .any(|e| e.reason == "erasure_request")
        );
    }

    #[test]
    fn a_worker_who_asks_not_to_be_written_to_gets_no_email() {
        let assessment = email(
            "priya@gmail.com",
            "help",
            "My boss has kept my passport. Please don't reply to this email, he checks my phone.",
        );
        assert!(assessment.do_not_contact);
        let plan = plan(&assessment, &Threaded::NoCase, &mailbox(), rules());
        assert!(plan.mail.is_empty(), "{:?}", kinds(&plan));
        assert_eq!(plan.exceptions[0].reason, "safeguarding");
    }

    #[test]
    fn timers_remind_once_then_close() {
        let now = Utc::now();
        let mut quiet = case(CaseState::AwaitingConsent, None, &[]);
        quiet.last_outbound_at = Some(now - chrono::Duration::days(6));
        let reminder = on_timer(&quiet, now, rules()).expect("a reminder is due");
        assert!(reminder.reminded);
        assert_eq!(reminder.mail[0].reply, Reply::Reminder);
        assert!(reminder.mail[0].consent_pending);
        assert_eq!(reminder.mail[0].asks, [Field::Location]);

        quiet.reminder_sent_at = Some(now - chrono::Duration::days(3));
        quiet.last_outbound_at = quiet.reminder_sent_at;
        assert!(
            on_timer(&quiet, now, rules()).is_none(),
            "waits after the reminder"
        );
        quiet.reminder_sent_at = Some(now - chrono::Duration::days(15));
        quiet.last_outbound_at = quiet.reminder_sent_at;
        let closing = on_timer(&quiet, now, rules()).expect("closing is due");
        assert_eq!(closing.state, Some(CaseState::ClosedNfa));
        assert_eq!(closing.mail[0].reply, Reply::Closing);

        quiet.state = CaseState::ReferredLa;
        assert!(
            on_timer(&quiet, now, rules()).is_none(),
            "only cases waiting on the worker"
        );
    }
}
