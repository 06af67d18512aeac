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
    let view = CaseView {
        reference: &case.reference,
        language: &case.language,
        worker_name: case.worker_name.as_deref(),
        worker_email: case.addresses.first(),
        facts: &case.facts,
        deadline: case.deadline,
        notified: 0,
    };
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
