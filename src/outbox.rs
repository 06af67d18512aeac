//! The outbox worker: claims the next due row (`FOR UPDATE SKIP LOCKED`, so several
//! instances share the work), delivers its exact bytes, and marks it sent. A temporary
//! failure is retried with exponential backoff; a permanent one goes to staff. A crash
//! between delivery and marking re-delivers the same bytes with the same Message-ID.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::conversation::{NewException, Outgoing, priority};
use crate::outgoing::{self, CaseView, Draft, Thread};
use crate::smtp::{SendError, SmtpSender};
use crate::store::events::Actor;
use crate::store::outbox::{self as rows, Queued};
use crate::store::{events, exceptions};

/// Gives up after this many temporary failures (about a day and a half of backoff).
pub const MAX_ATTEMPTS: i32 = 12;

/// Where outgoing mail goes.
#[derive(Clone)]
pub enum Transport {
    /// Each email as `<outbox id>-<kind>.eml` in a folder (the local default and dry runs).
    Folder(PathBuf),
    /// The mailbox's SMTP submission server.
    Smtp(Arc<SmtpSender>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    Sent,
    Retried,
    Failed,
    Empty,
}

impl Transport {
    async fn deliver(&self, row: &Queued) -> Result<(), SendError> {
        match self {
            Transport::Folder(dir) => write_eml(dir, row)
                .await
                .map_err(|e| SendError::Temporary(format!("{e:#}"))),
            Transport::Smtp(sender) => sender.send(&row.recipients, &row.raw).await,
        }
    }
}

/// Writes the file under a temporary name and renames it: a reader never sees half an
/// email, and writing the same row twice leaves one file.
async fn write_eml(dir: &Path, row: &Queued) -> anyhow::Result<()> {
    tokio::fs::create_dir_all(dir)
        .await
        .with_context(|| format!("creating {}", dir.display()))?;
    let name = format!("{:06}-{}.eml", row.id, row.kind);
    let partial = dir.join(format!(".{name}.partial"));
    tokio::fs::write(&partial, &row.raw)
        .await
        .with_context(|| format!("writing {}", partial.display()))?;
    tokio::fs::rename(&partial, dir.join(&name))
        .await
        .context("renaming the finished email")?;
    Ok(())
}

/// Delivers the next due email of this mailbox, if any.
#[tracing::instrument(skip_all)]
pub async fn deliver_next(
    app: &App,
    transport: &Transport,
    now: DateTime<Utc>,
) -> anyhow::Result<Delivered> {
    let mut tx = app.pool.begin().await?;
    let Some(row) = rows::claim_due(&mut tx, &app.mailbox.id, now).await? else {
        return Ok(Delivered::Empty);
    };
    let outcome = match transport.deliver(&row).await {
        Ok(()) => {
            rows::mark_sent(&mut tx, row.id).await?;
            metrics::counter!("rm_outbox_sent_total", "mailbox" => row.mailbox.clone())
                .increment(1);
            tracing::info!(outbox = row.id, case = row.case_id, kind = %row.kind, "sent");
            Delivered::Sent
        }
        Err(SendError::Temporary(error)) if row.attempts + 1 < MAX_ATTEMPTS => {
            let at = now + backoff(app.first_retry, row.attempts);
            rows::retry_at(&mut tx, row.id, at, &error).await?;
            metrics::counter!("rm_outbox_retried_total", "mailbox" => row.mailbox.clone())
                .increment(1);
            tracing::warn!(
                outbox = row.id,
                attempts = row.attempts + 1,
                "delivery failed; will retry"
            );
            Delivered::Retried
        }
        Err(failure) => {
            let permanent = matches!(failure, SendError::Permanent(_));
            let error = failure.to_string();
            rows::mark_failed(&mut tx, row.id, &error).await?;
            metrics::counter!("rm_outbox_failed_total", "mailbox" => row.mailbox.clone())
                .increment(1);
            if permanent {
                // Later mail to these addresses is held for staff instead of bouncing again.
                for address in &row.recipients {
                    rows::mark_undeliverable(&mut tx, &row.mailbox, address, &error).await?;
                }
            }
            let exception = NewException {
                reason: "undeliverable",
                detail: format!("The {} email could not be delivered: {error}", row.kind),
                priority: priority::DELIVERY,
            };
            exceptions::open(&mut tx, row.case_id, None, &exception).await?;
            events::insert(
                &mut tx,
                row.case_id,
                None,
                &Actor::Bot,
                "delivery_failed",
                &json!({ "outbox": row.id }),
            )
            .await?;
            tracing::warn!(
                outbox = row.id,
                permanent,
                "delivery failed for good; staff told"
            );
            Delivered::Failed
        }
    };
    tx.commit().await.context("recording the delivery")?;
    if let (Delivered::Sent, Transport::Smtp(sender)) = (outcome, transport) {
        sender.file_copy(row.id, &row.raw).await;
    }
    Ok(outcome)
}

/// Where a new email goes: its case, the stored message it answers, and whether it is held
/// for staff instead of sent.
pub struct Queue {
    pub case_id: Option<i64>,
    pub reply_to: Option<i64>,
    pub held: bool,
}

/// Renders `mail` and queues it in the caller's transaction. The outbox id is reserved
/// first, so that the Message-ID can carry it. Returns the id and the draft.
pub async fn queue(
    conn: &mut PgConnection,
    app: &App,
    mail: &Outgoing,
    case: Option<&CaseView<'_>>,
    thread: &Thread,
    place: Queue,
    now: DateTime<Utc>,
) -> anyhow::Result<(i64, Draft)> {
    let id = rows::next_id(conn).await?;
    let message_id = outgoing::message_id(mail, case.map(|c| c.reference), id, &app.mailbox);
    let draft = outgoing::draft(
        mail,
        case,
        message_id,
        thread,
        &app.mailbox,
        &app.rules.get(),
        &app.templates.get(),
        now,
    )
    .with_context(|| format!("writing the {} email", mail.reply))?;
    rows::insert(
        conn,
        id,
        &app.mailbox.id,
        place.case_id,
        place.reply_to,
        &draft,
        place.held,
    )
    .await?;
    Ok((id, draft))
}

/// `first`, then twice as long each time, capped at 4 hours (1 min, 2, 4, ... by default).
pub fn backoff(first: chrono::Duration, attempts: i32) -> chrono::Duration {
    let wait = first * (1i32 << attempts.clamp(0, 16));
    wait.min(chrono::Duration::hours(4))
}

/// Delivers until the queue is empty.
pub async fn drain(app: &App, transport: &Transport) -> anyhow::Result<usize> {
    let mut sent = 0;
    loop {
        match deliver_next(app, transport, Utc::now()).await? {
            Delivered::Empty => return Ok(sent),
            Delivered::Sent => sent += 1,
            Delivered::Retried | Delivered::Failed => {}
        }
    }
}

impl Transport {
    /// How many emails may be in flight at once: one per SMTP connection of the pool.
    fn parallel(&self) -> usize {
        match self {
            Transport::Folder(_) => 1,
            Transport::Smtp(sender) => sender.connections(),
        }
    }
}

/// Delivers until the queue has nothing due (or an error, or shutdown).
async fn deliver_due(app: &App, transport: &Transport, shutdown: &CancellationToken) {
    while !shutdown.is_cancelled() {
        match deliver_next(app, transport, Utc::now()).await {
            Ok(Delivered::Empty) => return,
            Ok(_) => {}
            Err(error) => {
                tracing::error!(error = %format!("{error:#}"), "outbox worker");
                return;
            }
        }
    }
}

/// The worker loop: deliver while there is mail, as many at once as the transport has
/// connections (each delivery claims its own row), else wait for a new row's notification
/// (or `idle`, for retries that come due); stops between deliveries when `shutdown` is
/// cancelled.
pub async fn run(app: App, transport: Transport, idle: Duration, shutdown: CancellationToken) {
    let mut listener = None;
    while !shutdown.is_cancelled() {
        if listener.is_none() {
            listener = listen(&app).await;
        }
        let workers = (0..transport.parallel()).map(|_| deliver_due(&app, &transport, &shutdown));
        futures::future::join_all(workers).await;
        let wait = idle;
        let notified = async {
            match listener.as_mut() {
                Some(listener) => listener.recv().await.map(|_| ()),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(wait) => {}
            woken = notified => if woken.is_err() {
                listener = None; // Postgres went away; listen again on the next turn
            },
        }
    }
}

async fn listen(app: &App) -> Option<sqlx::postgres::PgListener> {
    let mut listener = sqlx::postgres::PgListener::connect_with(&app.pool)
        .await
        .ok()?;
    listener.listen(rows::NOTIFY_CHANNEL).await.ok()?;
    Some(listener)
}

#[cfg(test)]
mod tests {
    use super::backoff;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let first = chrono::Duration::minutes(1);
        let minutes: Vec<i64> = (0..10).map(|n| backoff(first, n).num_minutes()).collect();
        assert_eq!(minutes, [1, 2, 4, 8, 16, 32, 64, 128, 240, 240]);
    }
}
