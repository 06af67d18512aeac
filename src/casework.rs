//! What a member of staff does to a case from the web app. Each action is one transaction
//! with its audit event; emails go through the outbox like the bot's own.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::app::App;
use crate::conversation::Outgoing;
use crate::domain::MessageId;
use crate::outgoing::{self, CaseView, Thread};
use crate::replies::Reply;
use crate::store::events::{self, Actor};
use crate::store::{cases, outbox};

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

/// Sends what a member of staff wrote to the worker, in the case's thread (under the
/// worker's latest email). Returns the outbox id.
pub async fn reply(
    app: &App,
    case_id: i64,
    actor: &Actor,
    text: &str,
    now: DateTime<Utc>,
) -> Result<i64, Refused> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Refused::Invalid("Write the reply first.".into()));
    }
    let mut tx = app.pool.begin().await?;
    // One staff action on a case at a time, like the bot's.
    sqlx::query("SELECT id FROM cases WHERE id = $1 FOR UPDATE")
        .bind(case_id)
        .execute(&mut *tx)
        .await?;
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
    let mut mail = Outgoing::new(Reply::StaffMessage, vec![to], true);
    // A person wrote it: not automatic (RFC 3834 §5), not counted by the loop guard.
    mail.auto_submitted = "no";
    mail.staff_text = Some(text.to_string());
    let view = CaseView::of(&case);
    let id = outbox::next_id(&mut tx).await?;
    let message_id = outgoing::message_id(&mail, Some(&case.reference), id, &app.mailbox);
    let draft = outgoing::draft(
        &mail,
        Some(&view),
        message_id,
        &thread,
        &app.mailbox,
        &app.rules,
        &app.templates,
        now,
    )?;
    outbox::insert(
        &mut tx,
        id,
        &app.mailbox.id,
        Some(case_id),
        None,
        &draft,
        false,
    )
    .await?;
    cases::touch(&mut tx, case_id, false, true, false).await?;
    events::insert(
        &mut tx,
        Some(case_id),
        None,
        actor,
        "staff_reply",
        &json!({ "outbox": id }),
    )
    .await?;
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
            .and_then(|c| app.rules.directory.council(c))
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
        let id = outbox::next_id(&mut tx).await?;
        let message_id = outgoing::message_id(&mail, Some(&case.reference), id, &app.mailbox);
        let draft = outgoing::draft(
            &mail,
            Some(&view),
            message_id,
            &Thread::default(),
            &app.mailbox,
            &app.rules,
            &app.templates,
            now,
        )?;
        outbox::insert(
            &mut tx,
            id,
            &app.mailbox.id,
            Some(case_id),
            None,
            &draft,
            false,
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
