//! The ingest worker: one inbound message is stored and acted on in ONE transaction (the
//! message row, the case change, facts, consent, outbox rows, exceptions, audit events).
//! A message already stored is a no-op. One that cannot be processed is kept and retried,
//! then quarantined with its reason: it never blocks the messages behind it.

use std::collections::BTreeMap;

use anyhow::Context;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::{PgConnection, PgPool};

use crate::app::App;
use crate::conversation::{self, CaseTarget, NewException, Outgoing, Plan, Threaded, priority};
use crate::domain::{CaseRef, CaseSnapshot, CaseState, EmailAddress, Kind};
use crate::outgoing::{CaseView, Thread};
use crate::pipeline::{self, Assessment, Quarantine};
use crate::replies::Reply;
use crate::rules::prompts::PromptKind;
use crate::store::events::{Actor, Journal};
use crate::store::messages::{self, Inbound, Position, Processed};
use crate::store::{cases, events, exceptions, outbox};

/// A message that failed this many times is quarantined.
pub const MAX_ATTEMPTS: i32 = 3;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Processed {
        case: Option<CaseRef>,
        kind: Kind,
    },
    Quarantined {
        reason: String,
    },
    /// Already stored: nothing changed.
    Duplicate,
    /// Stored, but processing failed; a later [`retry_next`] tries again.
    Failed {
        error: String,
    },
}

/// Stores and processes one message from `source` at `position`.
#[tracing::instrument(skip_all, fields(source = source))]
pub async fn ingest(
    app: &App,
    source: &str,
    position: Position,
    raw: &[u8],
) -> anyhow::Result<Outcome> {
    let sha256 = Sha256::digest(raw);
    let assessed = pipeline::assess(raw, &app.rules.get(), &app.settings);
    let message_id = assessed
        .as_ref()
        .ok()
        .and_then(|a| a.email.message_id.as_ref())
        .map(|id| id.as_str().to_string());
    let inbound = Inbound {
        mailbox: &app.mailbox.id,
        source,
        position,
        raw,
        sha256: &sha256,
        message_id: message_id.as_deref(),
    };

    let mut tx = app.pool.begin().await.context("starting a transaction")?;
    let Some(id) = messages::insert(&mut tx, &inbound)
        .await
        .context("storing the message")?
    else {
        return Ok(Outcome::Duplicate);
    };
    match process(&mut tx, app, id, assessed).await {
        Ok(outcome) => {
            tx.commit().await.context("committing the message")?;
            Ok(outcome)
        }
        Err(error) => {
            tx.rollback().await.ok();
            let error = format!("{error:#}");
            keep_failed(&app.pool, &inbound, &error).await?;
            Ok(Outcome::Failed { error })
        }
    }
}

/// Retries the oldest stored message that failed before; `None` when there is none.
pub async fn retry_next(app: &App) -> anyhow::Result<Option<Outcome>> {
    let mut tx = app.pool.begin().await?;
    let Some(waiting) = messages::claim_waiting(&mut tx, &app.mailbox.id).await? else {
        return Ok(None);
    };
    if waiting.attempts >= MAX_ATTEMPTS {
        let reason = format!(
            "processing failed {} times; kept for staff",
            waiting.attempts
        );
        quarantine(&mut tx, waiting.id, &reason).await?;
        tx.commit().await?;
        return Ok(Some(Outcome::Quarantined { reason }));
    }
    let assessed = pipeline::assess(&waiting.raw, &app.rules.get(), &app.settings);
    // A savepoint keeps the claim's lock while a failed attempt is rolled back.
    let mut attempt = sqlx::Acquire::begin(&mut *tx).await?;
    match process(&mut attempt, app, waiting.id, assessed).await {
        Ok(outcome) => {
            attempt.commit().await?;
            tx.commit().await?;
            Ok(Some(outcome))
        }
        Err(error) => {
            attempt.rollback().await?;
            let error = format!("{error:#}");
            messages::record_failure(&mut tx, waiting.id, &error).await?;
            tx.commit().await?;
            Ok(Some(Outcome::Failed { error }))
        }
    }
}

async fn keep_failed(pool: &PgPool, inbound: &Inbound<'_>, error: &str) -> anyhow::Result<()> {
    let mut tx = pool.begin().await?;
    if let Some(id) = messages::insert(&mut tx, inbound).await? {
        messages::record_failure(&mut tx, id, error).await?;
        tracing::warn!(message = id, "processing failed; kept for a retry");
    }
    tx.commit().await.context("keeping a message that failed")?;
    Ok(())
}

async fn quarantine(conn: &mut PgConnection, id: i64, reason: &str) -> anyhow::Result<()> {
    messages::mark_quarantined(conn, id, reason).await?;
    let exception = NewException {
        reason: "quarantined",
        detail: format!(
            "A message could not be processed ({reason}). It is kept: read it and act."
        ),
        priority: priority::QUARANTINE,
    };
    exceptions::open(conn, None, Some(id), &exception).await?;
    events::insert(
        conn,
        None,
        Some(id),
        &Actor::Bot,
        "message_quarantined",
        &json!({ "reason": reason }),
    )
    .await?;
    tracing::warn!(message = id, "quarantined");
    Ok(())
}

/// Everything that happens to one stored message, inside the caller's transaction.
async fn process(
    conn: &mut PgConnection,
    app: &App,
    id: i64,
    assessed: Result<Assessment, Quarantine>,
) -> anyhow::Result<Outcome> {
    let mut assessment = match assessed {
        Ok(assessment) => assessment,
        Err(quarantined) => {
            quarantine(conn, id, &quarantined.reason).await?;
            return Ok(Outcome::Quarantined {
                reason: quarantined.reason,
            });
        }
    };
    if let Some(sender) = assessment.email.sender() {
        // One sender's messages are taken one at a time, so two cannot both open a case.
        let key = format!("{}:{}", app.mailbox.id, sender.as_str().to_lowercase());
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
            .bind(key)
            .execute(&mut *conn)
            .await?;
    }
    let threaded = thread(conn, app, &assessment).await?;
    if let Threaded::Case(case) = &threaded
        && case.state == CaseState::AwaitingConsent
        && case.asked.contains_key(&crate::domain::Field::Consent)
    {
        assessment = pipeline::reassess_as_answer(
            assessment,
            PromptKind::ConsentRequest,
            &app.rules.get(),
            &app.settings,
        );
    }
    let plan = conversation::plan(&assessment, &threaded, &app.mailbox, &app.rules.get());
    let snapshot = match &threaded {
        Threaded::Case(case) => Some(case),
        _ => None,
    };
    let kind = assessment.classification.kind;
    let inbound = InboundRef {
        id,
        email: &assessment,
    };
    let case = apply(
        conn,
        app,
        plan,
        snapshot,
        Some(inbound),
        &Actor::Bot,
        Utc::now(),
    )
    .await?;
    let triage = serde_json::to_value(assessment.triage(&app.rules.get()))?;
    let processed = Processed {
        case_id: case.as_ref().map(|(id, _)| *id),
        kind: kind.as_str(),
        from_address: assessment.email.sender().map(EmailAddress::as_str),
        subject: &assessment.email.subject,
        triage,
    };
    messages::mark_processed(conn, id, &processed).await?;
    let case = case.map(|(_, reference)| reference);
    tracing::info!(message = id, case = case.as_ref().map(|c| c.to_string()), kind = %kind, "processed");
    Ok(Outcome::Processed { case, kind })
}

/// Finds the case a message belongs to: the reference in the subject, then our own
/// Message-IDs in In-Reply-To/References, then the sender's open case. A reference from an
/// address that has no part in the case is a stranger's.
async fn thread(
    conn: &mut PgConnection,
    app: &App,
    assessment: &Assessment,
) -> anyhow::Result<Threaded> {
    let email = &assessment.email;
    let sender = email.sender();
    let kind = assessment.classification.kind;
    let mut found = match &assessment.context.case_ref {
        Some(reference) => cases::find_by_reference(conn, reference).await?,
        None => None,
    };
    if found.is_none() {
        let ours: Vec<String> = email
            .in_reply_to
            .iter()
            .chain(&email.references)
            .chain(&email.returned_ids)
            .map(|id| id.as_str().to_string())
            .collect();
        found = cases::find_by_our_message_ids(conn, &ours).await?;
    }
    if let Some(case_id) = found {
        let party = match sender {
            Some(sender) => {
                sender.same_mailbox(&app.mailbox.address)
                    || cases::has_party(conn, case_id, sender).await?
            }
            None => false,
        };
        let case = cases::snapshot(conn, case_id)
            .await?
            .context("a case found by reference exists")?;
        // A delivery report comes from a mail server, not from a party: it is about our email.
        return Ok(if party || kind == Kind::Bounce {
            Threaded::Case(case)
        } else {
            Threaded::Stranger(case)
        });
    }
    // A bounce comes from a mail server; an out-of-office from the worker's own address
    // belongs on their case (kept, never answered).
    if let Some(sender) = sender
        && kind != Kind::Bounce
        && let Some(case_id) = cases::find_open_by_address(conn, &app.mailbox.id, sender).await?
    {
        let case = cases::snapshot(conn, case_id)
            .await?
            .context("an open case exists")?;
        return Ok(Threaded::Case(case));
    }
    Ok(Threaded::NoCase)
}

/// The inbound message a plan answers.
#[derive(Clone, Copy)]
pub(crate) struct InboundRef<'a> {
    pub id: i64,
    pub email: &'a Assessment,
}

/// Carries out a plan: the case row, facts, consent, referral and disclosure log, outbox
/// rows (after the loop guard), exceptions and audit events, all in `actor`'s name (the
/// bot, or the member of staff whose decision it is). Returns the case, if any.
pub(crate) async fn apply(
    conn: &mut PgConnection,
    app: &App,
    mut plan: Plan,
    snapshot: Option<&CaseSnapshot>,
    inbound: Option<InboundRef<'_>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(i64, CaseRef)>> {
    let message = inbound.map(|m| m.id);
    let mut journal = Journal::default();
    let case = match plan.case {
        CaseTarget::None => None,
        CaseTarget::New => {
            let state = plan.state.unwrap_or(CaseState::AwaitingConsent);
            let (id, reference) =
                cases::create(conn, &app.mailbox.id, &app.case_prefix, state).await?;
            journal.note(
                Some(id),
                message,
                actor,
                "case_opened",
                json!({ "state": state.as_str() }),
            );
            Some((id, reference))
        }
        CaseTarget::Existing(id) => {
            let reference = snapshot
                .map(|s| s.reference.clone())
                .context("an existing case comes with its snapshot")?;
            Some((id, reference))
        }
    };
    let case_id = case.as_ref().map(|(id, _)| *id);

    if let Some((id, reference)) = &case {
        let id = *id;
        for address in &plan.addresses {
            cases::add_address(conn, id, address).await?;
        }
        cases::record_facts(conn, id, message, &plan.facts, actor).await?;
        if let Some(consent) = &plan.consent {
            cases::record_consent(conn, id, message, consent, actor).await?;
            journal.note(
                Some(id),
                message,
                actor,
                "consent_recorded",
                json!({ "status": consent.status.as_str() }),
            );
        }
        let mut asked: BTreeMap<_, u32> = match snapshot {
            Some(s) if !plan.reset_asked => s.asked.clone(),
            _ => BTreeMap::new(),
        };
        for field in &plan.asked {
            *asked.entry(*field).or_default() += 1;
        }
        let before = snapshot.map(|s| s.state);
        cases::update(conn, id, plan.state, &plan.updates, &asked).await?;
        if let Some(after) = plan.state.filter(|s| Some(*s) != before) {
            let from = before.map(CaseState::as_str);
            journal.note(
                Some(id),
                message,
                actor,
                "state_changed",
                json!({ "from": from, "to": after.as_str() }),
            );
        }
        if let Some(outcome) = plan.outcome {
            cases::record_referral_outcome(conn, id, outcome.as_str()).await?;
        }
        let mut notified = 0;
        if plan.cancel_queued {
            // Waits for a delivery in flight: what it sent counts as sent below.
            let cancelled = outbox::cancel_queued(conn, id).await?;
            if cancelled > 0 {
                journal.note(
                    Some(id),
                    message,
                    actor,
                    "queued_mail_cancelled",
                    json!({ "count": cancelled }),
                );
            }
        }
        if plan.notify_disclosed {
            let recipients: Vec<EmailAddress> = cases::disclosed_to(conn, id, &["sent"])
                .await?
                .iter()
                .filter_map(|a| EmailAddress::parse(a))
                .collect();
            notified = recipients.len();
            plan.mail
                .extend(conversation::withdrawal_notices(&recipients));
        }
        let worker_mail = queue_mail(
            conn,
            app,
            &plan,
            snapshot,
            (id, reference, notified),
            inbound,
            &mut journal,
            now,
        )
        .await?;
        let from_worker = inbound.is_some_and(|m| {
            plan.link_message
                && matches!(
                    m.email.classification.kind,
                    Kind::SupportRequest | Kind::ConsentReply | Kind::InfoReply | Kind::Withdrawal
                )
        });
        cases::touch(conn, id, from_worker, worker_mail, plan.reminded).await?;
    } else {
        queue_caseless_mail(conn, app, &plan, inbound, &mut journal, now).await?;
    }

    for exception in &plan.exceptions {
        let exception_case = if plan.link_message { case_id } else { None };
        exceptions::open(conn, exception_case, message, exception).await?;
    }
    for event in &plan.events {
        let event_case = if plan.link_message { case_id } else { None };
        journal.note(
            event_case,
            message,
            actor,
            event.action,
            event.detail.clone(),
        );
    }
    journal.write(conn).await?;
    Ok(case)
}

/// Writes the plan's emails for a case into the outbox. Returns whether anything went to
/// the worker (for the reminder timer).
#[allow(clippy::too_many_arguments)]
async fn queue_mail(
    conn: &mut PgConnection,
    app: &App,
    plan: &Plan,
    snapshot: Option<&CaseSnapshot>,
    (case_id, reference, notified): (i64, &CaseRef, usize),
    inbound: Option<InboundRef<'_>>,
    journal: &mut Journal,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let language = plan
        .updates
        .language
        .clone()
        .or_else(|| snapshot.map(|s| s.language.clone()))
        .unwrap_or_else(|| "en".into());
    let worker_name = plan
        .updates
        .worker_name
        .clone()
        .or_else(|| snapshot.and_then(|s| s.worker_name.clone()));
    let worker_email = snapshot
        .and_then(|s| s.addresses.first().cloned())
        .or_else(|| plan.addresses.first().cloned());
    let view = CaseView {
        reference,
        language: &language,
        worker_name: worker_name.as_deref(),
        worker_email: worker_email.as_ref(),
        facts: &plan.held,
        deadline: plan.updates.deadline.or(snapshot.and_then(|s| s.deadline)),
        notified,
    };
    let thread = thread_of(inbound);
    let mut to_worker = false;
    for mail in &plan.mail {
        let Some((outbox_id, disclosed)) = queue_one(
            conn,
            app,
            mail,
            Some(&view),
            &thread,
            Some(case_id),
            inbound,
            journal,
            now,
        )
        .await?
        else {
            continue;
        };
        let is_worker = mail.to.iter().any(|to| {
            snapshot.is_some_and(|s| s.has_address(to))
                || plan.addresses.iter().any(|a| a.same_mailbox(to))
        });
        to_worker |= is_worker;
        if let (Some(target), Reply::ReferralCouncil | Reply::ReferralRegion) =
            (&mail.target, mail.reply)
        {
            cases::insert_referral(conn, case_id, target, outbox_id).await?;
            let consent = cases::standing_consent(conn, case_id).await?;
            let purpose = format!("referral to {} ({})", target.name(), target.kind());
            cases::record_disclosure(
                conn,
                case_id,
                target.contact(),
                &disclosed,
                &purpose,
                consent,
                outbox_id,
            )
            .await?;
        }
    }
    Ok(to_worker)
}

/// Emails with no case: acknowledgements to providers.
async fn queue_caseless_mail(
    conn: &mut PgConnection,
    app: &App,
    plan: &Plan,
    inbound: Option<InboundRef<'_>>,
    journal: &mut Journal,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let thread = thread_of(inbound);
    for mail in &plan.mail {
        queue_one(conn, app, mail, None, &thread, None, inbound, journal, now).await?;
    }
    Ok(())
}

fn thread_of(inbound: Option<InboundRef<'_>>) -> Thread {
    match inbound {
        Some(m) => {
            let email = &m.email.email;
            // RFC 5322 §3.6.4: the parent's References, else its single In-Reply-To.
            let ancestors = match (email.references.is_empty(), email.in_reply_to.as_slice()) {
                (false, _) => email.references.clone(),
                (true, [only]) => vec![only.clone()],
                _ => Vec::new(),
            };
            Thread {
                parent: email.message_id.clone(),
                ancestors,
            }
        }
        None => Thread::default(),
    }
}

/// Drafts and queues one email, unless the loop guard stops it. Returns the outbox id of a
/// queued email and the worker's details it discloses.
#[allow(clippy::too_many_arguments)]
async fn queue_one(
    conn: &mut PgConnection,
    app: &App,
    mail: &Outgoing,
    view: Option<&CaseView<'_>>,
    thread: &Thread,
    case_id: Option<i64>,
    inbound: Option<InboundRef<'_>>,
    journal: &mut Journal,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(i64, Vec<&'static str>)>> {
    let message = inbound.map(|m| m.id);
    let guard = if mail.in_reply {
        loop_guard(conn, app, mail, now).await?
    } else {
        Guard::Send
    };
    let guard = if guard == Guard::Send && undeliverable(conn, app, mail).await? {
        Guard::Undeliverable
    } else {
        guard
    };
    if guard == Guard::Suppress {
        journal.note(
            case_id,
            message,
            &Actor::Bot,
            "reply_suppressed",
            json!({
                "kind": mail.reply.name(),
                "reason": "the same reply went to this address in the last 24 hours",
            }),
        );
        return Ok(None);
    }
    let held = matches!(guard, Guard::Hold | Guard::Undeliverable);
    let place = crate::outbox::Queue {
        case_id,
        reply_to: message,
        held,
    };
    let (outbox_id, draft) =
        crate::outbox::queue(conn, app, mail, view, thread, place, now).await?;
    if guard == Guard::Undeliverable {
        let exception = NewException {
            reason: "undeliverable",
            detail: format!(
                "An address of the {} email refused our mail before; the email is held until the address is checked.",
                mail.reply
            ),
            priority: priority::DELIVERY,
        };
        exceptions::open(conn, case_id, message, &exception).await?;
        return Ok(None);
    }
    if held {
        let exception = NewException {
            reason: "mail_loop",
            detail: format!(
                "More than {} automatic emails to one address in 24 hours: a mail loop? The {} email is held.",
                app.rules.get().conversation.max_automatic_replies_per_day,
                mail.reply
            ),
            priority: priority::LOOP,
        };
        exceptions::open(conn, case_id, message, &exception).await?;
        return Ok(None);
    }
    journal.note(
        case_id,
        message,
        &Actor::Bot,
        "email_queued",
        json!({ "kind": mail.reply.name(), "outbox": outbox_id }),
    );
    journal.signposted(case_id, message, &draft, outbox_id);
    Ok(Some((outbox_id, draft.disclosed)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    Send,
    /// The same reply already went to this address today.
    Suppress,
    /// Too many automatic emails to this address today: a person decides.
    Hold,
    /// An address refused our mail for good before: a person checks it.
    Undeliverable,
}

async fn undeliverable(
    conn: &mut PgConnection,
    app: &App,
    mail: &Outgoing,
) -> anyhow::Result<bool> {
    for recipient in &mail.to {
        if outbox::is_undeliverable(conn, &app.mailbox.id, recipient).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// RFC 3834 §2: an automatic responder must not answer the same sender again and again.
/// At most one reply of each kind per address per 24 hours, and at most
/// `max_automatic_replies_per_day` in all.
async fn loop_guard(
    conn: &mut PgConnection,
    app: &App,
    mail: &Outgoing,
    now: DateTime<Utc>,
) -> anyhow::Result<Guard> {
    let since = now - Duration::hours(24);
    for recipient in &mail.to {
        let sent = outbox::automatic_sent_to(conn, recipient, since).await?;
        if sent.iter().any(|kind| kind == mail.reply.name()) {
            return Ok(Guard::Suppress);
        }
        if sent.len() as u32 >= app.rules.get().conversation.max_automatic_replies_per_day {
            return Ok(Guard::Hold);
        }
    }
    Ok(Guard::Send)
}
