//! What a member of staff does to a case from the web app. Each action is one transaction
//! with its audit event; emails go through the outbox like the bot's own.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::app::App;
use crate::conversation::staff::{self, Closing, RouteChoice};
use crate::conversation::{Outgoing, Plan};
use crate::domain::{CaseSnapshot, CaseState, DrivingLicence, Field, MessageId, Outcome, Phone};
use crate::ingest;
use crate::outbox;
use crate::outgoing::{CaseView, Thread};
use crate::pipeline::classify::Writer;
use crate::pipeline::extract::{Facts, Found, Source, SourceRole, location};
use crate::pipeline::text::Text;
use crate::replies::Reply;
use crate::store::cases;
use crate::store::events::{self, Actor};

/// Why an action cannot be done: said to the member of staff as it is.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Refused {
    fn from(error: sqlx::Error) -> Self {
        Refused::Failed(error.into())
    }
}

/// The emails staff may send the worker from the case page: their own words, or one of the
/// mailbox's own templates sent again (it then asks for what is still missing).
pub const STAFF_REPLIES: [Reply; 4] = [
    Reply::StaffMessage,
    Reply::ConsentRequest,
    Reply::DetailsRequest,
    Reply::SafeguardingUrgentHelp,
];

/// Sends the worker what a member of staff wrote, or a template they chose, in the case's
/// thread (under the worker's latest email). Returns the outbox id.
pub async fn reply(
    app: &App,
    case_id: i64,
    actor: &Actor,
    template: Reply,
    text: &str,
    now: DateTime<Utc>,
) -> Result<i64, Refused> {
    if !STAFF_REPLIES.contains(&template) {
        return Err(Refused::Invalid("Choose what to send.".into()));
    }
    let text = text.trim();
    if template == Reply::StaffMessage && text.is_empty() {
        return Err(Refused::Invalid("Write the reply first.".into()));
    }
    let mut tx = app.pool.begin().await?;
    // One staff action on a case at a time, like the bot's.
    let case = cases::snapshot(&mut tx, case_id)
        .await?
        .context("the case exists")?;
    let Some(to) = case.addresses.first().cloned() else {
        return Err(Refused::Invalid(
            "The case has no email address for the worker.".into(),
        ));
    };
    let parent: Option<String> = sqlx::query_scalar(
        "SELECT message_id FROM messages WHERE case_id = $1 AND message_id IS NOT NULL
         ORDER BY received_at DESC, id DESC LIMIT 1",
    )
    .bind(case_id)
    .fetch_optional(&mut *tx)
    .await?;
    let thread = Thread {
        parent: parent.as_deref().and_then(MessageId::parse),
        ancestors: Vec::new(),
    };
    let mut mail = Outgoing::new(template, vec![to], true);
    // A person sent it: not automatic (RFC 3834 §5), not counted by the loop guard.
    mail.auto_submitted = "no";
    mail.staff_text = (!text.is_empty()).then(|| text.to_string());
    if matches!(template, Reply::ConsentRequest | Reply::DetailsRequest) {
        let rules = &app.rules.get().conversation;
        mail.asks = crate::conversation::missing_fields(
            &case.facts,
            &rules.asked_before_referral,
            &rules.required_before_referral,
        );
        mail.consent_pending = template == Reply::ConsentRequest;
        // Asked again, so the worker's answer is read as the answer to it.
        let mut asked: Vec<&str> = mail.asks.iter().map(|f| f.as_str()).collect();
        if template == Reply::ConsentRequest {
            asked.push(Field::Consent.as_str());
        }
        cases::count_asked(&mut tx, case_id, &asked).await?;
    }
    let view = CaseView::of(&case);
    let (id, draft) = outbox::queue(
        &mut tx,
        app,
        &mail,
        Some(&view),
        &thread,
        sent_by_staff(case_id),
        now,
    )
    .await?;
    cases::touch(&mut tx, case_id, false, true, false).await?;
    events::insert(
        &mut tx,
        Some(case_id),
        None,
        actor,
        "staff_reply",
        &json!({ "outbox": id, "template": template.name() }),
    )
    .await?;
    events::signposted(&mut tx, Some(case_id), None, &draft, id).await?;
    tx.commit().await?;
    Ok(id)
}

/// What staff decided about a safeguarding concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Refer it to the council's adult safeguarding contact, with the evidence.
    Escalate,
    /// Dealt with by staff (police called, worker safe...): nothing sent.
    Handled,
    /// On review, no concern.
    NoConcern,
}

impl Decision {
    pub fn parse(text: &str) -> Option<Decision> {
        match text {
            "escalate" => Some(Decision::Escalate),
            "handled" => Some(Decision::Handled),
            "no_concern" => Some(Decision::NoConcern),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Escalate => "escalate",
            Decision::Handled => "handled",
            Decision::NoConcern => "no_concern",
        }
    }
}

/// A case's email that staff send: not an answer to one stored message, never held.
fn sent_by_staff(case_id: i64) -> outbox::Queue {
    outbox::Queue {
        case_id: Some(case_id),
        reply_to: None,
        held: false,
    }
}

/// Records a safeguarding decision: resolves the case's safeguarding exceptions, lifts the
/// hold on sharing, and for `Escalate` emails the council's safeguarding contact the
/// concern (the words that raised it and the staff note) and how to reach the worker,
/// logged as a disclosure. Returns the outbox id of that email.
pub async fn safeguarding_decision(
    app: &App,
    case_id: i64,
    actor: &Actor,
    decision: Decision,
    note: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, Refused> {
    let note = note.trim();
    if note.is_empty() {
        return Err(Refused::Invalid(
            "Say what you decided and why: it is kept as the record of the decision.".into(),
        ));
    }
    let mut tx = app.pool.begin().await?;
    let rules = app.rules.get();
    let council: Option<String> =
        sqlx::query_scalar("SELECT council FROM cases WHERE id = $1 FOR UPDATE")
            .bind(case_id)
            .fetch_one(&mut *tx)
            .await?;
    let case = cases::snapshot(&mut tx, case_id)
        .await?
        .context("the case exists")?;
    let concerns: Vec<String> = sqlx::query_scalar(
        "SELECT detail FROM exceptions WHERE case_id = $1 AND reason = 'safeguarding' ORDER BY created_at",
    )
    .bind(case_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut sent = None;
    if decision == Decision::Escalate {
        let Some(contact) = council
            .as_deref()
            .and_then(|c| rules.directory.council(c))
            .map(|c| c.safeguarding.clone())
        else {
            return Err(Refused::Invalid(
                "The worker's council is not known, so there is no safeguarding contact to write to. Find out where the worker lives first, or call the police if the worker is in danger.".into(),
            ));
        };
        let mut mail = Outgoing::new(Reply::SafeguardingReferral, vec![contact.clone()], false);
        mail.staff_text = Some(format!(
            "What raised the concern:\n{}\n\nOur staff's assessment:\n{note}",
            concerns
                .iter()
                .map(|c| format!("- {c}"))
                .collect::<Vec<_>>()
                .join("\n")
        ));
        let view = CaseView::of(&case);
        let (id, draft) = outbox::queue(
            &mut tx,
            app,
            &mail,
            Some(&view),
            &Thread::default(),
            sent_by_staff(case_id),
            now,
        )
        .await?;
        cases::record_disclosure(
            &mut tx,
            case_id,
            &contact,
            &draft.disclosed,
            "safeguarding",
            None,
            id,
        )
        .await?;
        sent = Some(id);
    }
    sqlx::query(
        "UPDATE exceptions SET resolved_at = now(), resolved_by = $2
         WHERE case_id = $1 AND reason = 'safeguarding' AND resolved_at IS NULL",
    )
    .bind(case_id)
    .bind(actor.as_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE cases SET safeguarding_hold = false, updated_at = now() WHERE id = $1")
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
    events::insert(
        &mut tx,
        Some(case_id),
        None,
        actor,
        "safeguarding_decision",
        &json!({ "decision": decision.as_str(), "note": note, "outbox": sent }),
    )
    .await?;
    tx.commit().await?;
    Ok(sent)
}

/// Exceptions a routing decision settles: staff have now said where the worker goes.
const ROUTING_REASONS: &[&str] = &[
    "no_location",
    "uncertain_location",
    "no_contact",
    "outside_england",
    "worker_moved",
    "deadline_near",
];

/// One decision on a case: lock it, plan with `decide` (pure), settle the exceptions the
/// decision answers, apply the plan in the staff member's name, keep their note.
async fn decide(
    app: &App,
    case_id: i64,
    actor: &Actor,
    settles: &[&str],
    note: &str,
    now: DateTime<Utc>,
    decide: impl FnOnce(&CaseSnapshot) -> Result<Plan, String>,
) -> Result<(), Refused> {
    let mut tx = app.pool.begin().await?;
    let case = cases::snapshot(&mut tx, case_id)
        .await?
        .context("the case exists")?;
    let plan = decide(&case).map_err(Refused::Invalid)?;
    sqlx::query(
        "UPDATE exceptions SET resolved_at = now(), resolved_by = $3
         WHERE case_id = $1 AND reason = ANY($2) AND resolved_at IS NULL",
    )
    .bind(case_id)
    .bind(settles)
    .bind(actor.as_string())
    .execute(&mut *tx)
    .await?;
    ingest::apply(&mut tx, app, plan, Some(&case), None, actor, now).await?;
    if !note.trim().is_empty() {
        events::insert(
            &mut tx,
            Some(case_id),
            None,
            actor,
            "note",
            &json!({ "note": note.trim() }),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// What staff typed to correct the facts, as the form sends it; blank fields stay as they are.
#[derive(Debug, Default, Clone)]
pub struct Correction {
    /// A postcode or a town: read by the same gazetteer as the worker's emails.
    pub location: String,
    pub phone: String,
    /// `uk_full`, `uk_provisional`, `foreign`, `none`.
    pub driving_licence: String,
    /// `yes` or `no`.
    pub car_access: String,
    /// `YYYY-MM-DD`.
    pub revocation_date: String,
    /// Why: kept with each corrected fact.
    pub note: String,
}

impl Correction {
    /// The corrected facts, each with staff's note as the words it came from; or what is wrong.
    fn facts(&self, rules: &crate::rules::Rules) -> Result<Facts, Refused> {
        let invalid = |message: String| Err(Refused::Invalid(message));
        let note = self.note.trim();
        if note.is_empty() {
            return invalid("Say why the facts are corrected: it is kept with them.".into());
        }
        let evidence = format!("corrected by staff: {note}");
        let mut facts = Facts {
            language: "en".into(),
            ..Facts::default()
        };
        let place = self.location.trim();
        if !place.is_empty() {
            let said = Source {
                text: Text::new(&format!("I live in {place}.")),
                role: SourceRole::Own,
                asks: vec![Field::Location],
            };
            let Some(mut found) = location::locate(&[said], "", Writer::Worker, rules) else {
                return invalid(format!(
                    "\"{place}\" is not a postcode or town we know: try the full postcode."
                ));
            };
            // Staff checked it: as sure as a location gets.
            found.confidence = 1.0;
            found.evidence = format!("{place} ({evidence})");
            facts.location = Some(found);
        }
        let phone = self.phone.trim();
        if !phone.is_empty() {
            let Some(parsed) = Phone::parse(phone) else {
                return invalid(format!("\"{phone}\" is not a UK phone number."));
            };
            facts.phone = Some(Found::new(parsed, evidence.clone(), 1.0));
        }
        match self.driving_licence.trim() {
            "" => {}
            licence => {
                let Some(parsed) = DrivingLicence::parse(licence) else {
                    return invalid("Choose the kind of driving licence.".into());
                };
                facts.driving_licence = Some(Found::new(parsed, evidence.clone(), 1.0));
            }
        }
        match self.car_access.trim() {
            "" => {}
            "yes" => facts.car_access = Some(Found::new(true, evidence.clone(), 1.0)),
            "no" => facts.car_access = Some(Found::new(false, evidence.clone(), 1.0)),
            _ => return invalid("Say whether the worker has a car: yes or no.".into()),
        }
        let date = self.revocation_date.trim();
        if !date.is_empty() {
            let Ok(parsed) = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d") else {
                return invalid(format!("\"{date}\" is not a date (YYYY-MM-DD)."));
            };
            facts.revocation_date = Some(Found::new(parsed, evidence.clone(), 1.0));
        }
        let nothing = facts.location.is_none()
            && facts.phone.is_none()
            && facts.driving_licence.is_none()
            && facts.car_access.is_none()
            && facts.revocation_date.is_none();
        if nothing {
            return invalid("Fill in at least one fact to correct.".into());
        }
        Ok(facts)
    }
}

/// Records staff's corrected facts and lets the conversation go on from them (a referral
/// once the location is known and consent stands).
pub async fn correct(
    app: &App,
    case_id: i64,
    actor: &Actor,
    correction: &Correction,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    let facts = correction.facts(&app.rules.get())?;
    let settles = if facts.location.is_some() {
        ROUTING_REASONS
    } else {
        &[]
    };
    decide(app, case_id, actor, settles, "", now, |case| {
        Ok(staff::on_correction(case, &facts, &app.rules.get()))
    })
    .await
}

/// Refers the worker where staff decide: the bot's proposal approved, or another council
/// or region.
pub async fn route(
    app: &App,
    case_id: i64,
    actor: &Actor,
    choice: &RouteChoice,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    decide(app, case_id, actor, ROUTING_REASONS, note, now, |case| {
        staff::on_route(case, choice, &app.rules.get())
    })
    .await
}

/// An outcome of the referral, reported in the web app by the council lead or staff.
pub async fn report_outcome(
    app: &App,
    case_id: i64,
    actor: &Actor,
    outcome: Outcome,
    employer: &str,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    let settles: &[&str] = &["outcome_unclear"];
    decide(app, case_id, actor, settles, note, now, |case| {
        staff::on_outcome(case, outcome, Some(employer))
    })
    .await
}

/// Closes the case with its outcome. Whatever still waited for a person on it is settled;
/// a safeguarding concern must be decided first.
pub async fn close(
    app: &App,
    case_id: i64,
    actor: &Actor,
    closing: Closing,
    tell_worker: bool,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    if note.trim().is_empty() {
        return Err(Refused::Invalid(
            "Say why the case is closed: it is kept in the history.".into(),
        ));
    }
    let open_reasons: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT reason FROM exceptions WHERE case_id = $1 AND resolved_at IS NULL",
    )
    .bind(case_id)
    .fetch_all(&app.pool)
    .await?;
    if open_reasons.iter().any(|r| r == "safeguarding") {
        return Err(Refused::Invalid(
            "Record the safeguarding decision before closing the case.".into(),
        ));
    }
    let settles: Vec<&str> = open_reasons.iter().map(String::as_str).collect();
    decide(app, case_id, actor, &settles, note, now, |case| {
        staff::on_close(case, closing, tell_worker)
    })
    .await
}

/// Reopens a closed case.
pub async fn reopen(
    app: &App,
    case_id: i64,
    actor: &Actor,
    note: &str,
    now: DateTime<Utc>,
) -> Result<(), Refused> {
    decide(app, case_id, actor, &[], note, now, |case| {
        staff::on_reopen(case, &app.rules.get())
    })
    .await
}

/// Folds a duplicate case of the same worker into `into`: its messages, addresses, facts,
/// consent records, emails, referrals, disclosures, exceptions and history move over; the
/// newer of two current values of a fact stays current. The duplicate keeps its reference
/// (its emails still thread, to `into`) and becomes `merged`.
pub async fn merge(
    app: &App,
    duplicate: i64,
    into: i64,
    actor: &Actor,
    note: &str,
) -> Result<(), Refused> {
    if duplicate == into {
        return Err(Refused::Invalid(
            "A case cannot be merged into itself.".into(),
        ));
    }
    let mut tx = app.pool.begin().await?;
    // Both locked, lower id first, so two merges cannot deadlock.
    let (low, high) = (duplicate.min(into), duplicate.max(into));
    for id in [low, high] {
        cases::snapshot(&mut tx, id)
            .await?
            .context("both cases exist")?;
    }
    let states: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, state, reference FROM cases WHERE id = ANY($1)")
            .bind([duplicate, into])
            .fetch_all(&mut *tx)
            .await?;
    for (_, state, reference) in &states {
        if matches!(
            CaseState::parse(state),
            Some(CaseState::Merged | CaseState::Erased)
        ) {
            return Err(Refused::Invalid(format!(
                "{reference} is {state}: choose another case."
            )));
        }
    }
    for table in [
        "messages",
        "consents",
        "outbox",
        "referrals",
        "disclosures",
        "exceptions",
    ] {
        // The table names are this list's own, never input.
        let sql = format!("UPDATE {table} SET case_id = $2 WHERE case_id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(duplicate)
            .bind(into)
            .execute(&mut *tx)
            .await?;
    }
    // The history moves too, but for the duplicate's own opening and states: those stay
    // its lifecycle, so the kept case's states (and the figures) are its own.
    sqlx::query(
        "UPDATE events SET case_id = $2
         WHERE case_id = $1 AND action NOT IN ('case_opened', 'state_changed')",
    )
    .bind(duplicate)
    .bind(into)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "INSERT INTO case_addresses (case_id, address, added_at)
         SELECT $2, d.address, d.added_at FROM case_addresses d
         WHERE d.case_id = $1
           AND NOT EXISTS (SELECT 1 FROM case_addresses k WHERE k.case_id = $2 AND lower(k.address) = lower(d.address))",
    )
    .bind(duplicate)
    .bind(into)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM case_addresses WHERE case_id = $1")
        .bind(duplicate)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE facts SET case_id = $2 WHERE case_id = $1")
        .bind(duplicate)
        .bind(into)
        .execute(&mut *tx)
        .await?;
    // Of two current values of one field, the newer stays current.
    sqlx::query(
        "UPDATE facts f SET superseded_at = now()
         WHERE f.case_id = $1 AND f.superseded_at IS NULL
           AND EXISTS (SELECT 1 FROM facts g WHERE g.case_id = $1 AND g.field = f.field
                       AND g.superseded_at IS NULL AND (g.recorded_at, g.id) > (f.recorded_at, f.id))",
    )
    .bind(into)
    .execute(&mut *tx)
    .await?;
    // The case columns: what the kept case lacks, from the duplicate; consent as the
    // latest consent record now says.
    sqlx::query(
        "UPDATE cases k SET
            worker_name = coalesce(k.worker_name, d.worker_name),
            council = coalesce(k.council, d.council),
            region = coalesce(k.region, d.region),
            route = coalesce(k.route, d.route),
            readiness = coalesce(k.readiness, d.readiness),
            safeguarding = k.safeguarding OR d.safeguarding,
            safeguarding_hold = k.safeguarding_hold OR d.safeguarding_hold,
            revocation_date = coalesce(k.revocation_date, d.revocation_date),
            deadline = coalesce(k.deadline, d.deadline),
            consent = coalesce((SELECT status FROM consents WHERE case_id = k.id
                                ORDER BY recorded_at DESC, id DESC LIMIT 1), k.consent),
            created_at = least(k.created_at, d.created_at),
            last_inbound_at = greatest(k.last_inbound_at, d.last_inbound_at),
            last_outbound_at = greatest(k.last_outbound_at, d.last_outbound_at),
            updated_at = now()
         FROM cases d WHERE k.id = $2 AND d.id = $1",
    )
    .bind(duplicate)
    .bind(into)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE cases SET state = 'merged', merged_into = $2, closed_at = now(), updated_at = now()
         WHERE id = $1",
    )
    .bind(duplicate)
    .bind(into)
    .execute(&mut *tx)
    .await?;
    // Cases that were merged into the duplicate before now lead to `into` too.
    sqlx::query("UPDATE cases SET merged_into = $2 WHERE merged_into = $1")
        .bind(duplicate)
        .bind(into)
        .execute(&mut *tx)
        .await?;
    let reference = |id: i64| {
        states
            .iter()
            .find(|(i, _, _)| *i == id)
            .map(|(_, _, r)| r.clone())
    };
    let was = states
        .iter()
        .find(|(i, _, _)| *i == duplicate)
        .map(|(_, state, _)| state.clone());
    events::insert(
        &mut tx,
        Some(duplicate),
        None,
        actor,
        "state_changed",
        &json!({ "from": was, "to": CaseState::Merged.as_str() }),
    )
    .await?;
    let detail =
        json!({ "merged": reference(duplicate), "into": reference(into), "note": note.trim() });
    for case in [duplicate, into] {
        events::insert(&mut tx, Some(case), None, actor, "case_merged", &detail).await?;
    }
    tx.commit().await?;
    Ok(())
}
