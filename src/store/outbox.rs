//! The outbox: every email the mailbox sends is a row written in the same transaction as
//! the case change that caused it, then delivered by the outbox worker. Rows are never
//! deleted: a failed delivery is retried with backoff, or left `failed` for staff.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use crate::domain::EmailAddress;
use crate::outgoing::Draft;

/// A row to deliver.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Queued {
    pub id: i64,
    pub mailbox: String,
    pub case_id: Option<i64>,
    pub kind: String,
    pub message_id: String,
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
    pub attempts: i32,
}

/// Reserves the id an outbox row will have, so its Message-ID can carry it.
pub async fn next_id(conn: &mut PgConnection) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('outbox', 'id'))")
        .fetch_one(conn)
        .await
}

/// Queues a draft (or holds it for staff when `held`).
pub async fn insert(
    conn: &mut PgConnection,
    id: i64,
    mailbox: &str,
    case_id: Option<i64>,
    reply_to: Option<i64>,
    draft: &Draft,
    held: bool,
) -> sqlx::Result<()> {
    let recipients: Vec<&str> = draft.recipients.iter().map(EmailAddress::as_str).collect();
    // A queued row wakes the outbox workers when the transaction commits.
    sqlx::query(
        "WITH queued AS (
             INSERT INTO outbox (id, mailbox, case_id, reply_to, kind, template_version, message_id,
                                 recipients, subject, raw, automatic, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             RETURNING status
         )
         SELECT pg_notify($13, $2) FROM queued WHERE status = 'queued'",
    )
    .bind(id)
    .bind(mailbox)
    .bind(case_id)
    .bind(reply_to)
    .bind(draft.reply.name())
    .bind(&draft.template_version)
    .bind(draft.message_id.as_str())
    .bind(&recipients)
    .bind(&draft.subject)
    .bind(&draft.raw)
    .bind(draft.automatic)
    .bind(if held { "held" } else { "queued" })
    .bind(NOTIFY_CHANNEL)
    .execute(conn)
    .await?;
    Ok(())
}

/// The Postgres channel on which new outbox rows are announced.
pub const NOTIFY_CHANNEL: &str = "outbox";

/// The kinds of automatic email sent to an address since `since` (loop guard).
pub async fn automatic_sent_to(
    conn: &mut PgConnection,
    address: &EmailAddress,
    since: DateTime<Utc>,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT kind FROM outbox
         WHERE recipients @> ARRAY[$1]::text[] AND automatic AND created_at > $2
           AND status IN ('queued', 'sent')",
    )
    .bind(address.as_str())
    .bind(since)
    .fetch_all(conn)
    .await
}

/// Stops a case's queued mail (the worker withdrew).
pub async fn cancel_queued(conn: &mut PgConnection, case_id: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("UPDATE outbox SET status = 'cancelled' WHERE case_id = $1 AND status IN ('queued', 'held')")
        .bind(case_id)
        .execute(conn)
        .await?;
    Ok(done.rows_affected())
}

/// The next row due, locked for this transaction; other instances skip it.
pub async fn claim_due(
    conn: &mut PgConnection,
    mailbox: &str,
    now: DateTime<Utc>,
) -> sqlx::Result<Option<Queued>> {
    sqlx::query_as(
        "SELECT id, mailbox, case_id, kind, message_id, recipients, raw, attempts FROM outbox
         WHERE status = 'queued' AND mailbox = $1 AND next_attempt_at <= $2
         ORDER BY next_attempt_at, id
         LIMIT 1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(mailbox)
    .bind(now)
    .fetch_optional(conn)
    .await
}

pub async fn mark_sent(conn: &mut PgConnection, id: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET status = 'sent', sent_at = now(), attempts = attempts + 1, last_error = NULL WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn retry_at(
    conn: &mut PgConnection,
    id: i64,
    at: DateTime<Utc>,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2, last_error = $3 WHERE id = $1")
        .bind(id)
        .bind(at)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn mark_failed(conn: &mut PgConnection, id: i64, error: &str) -> sqlx::Result<()> {
    sqlx::query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $2 WHERE id = $1")
        .bind(id)
        .bind(error)
        .execute(conn)
        .await?;
    Ok(())
}

/// Remembers that an address refused our mail for good.
pub async fn mark_undeliverable(
    conn: &mut PgConnection,
    mailbox: &str,
    address: &str,
    reason: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO undeliverable (mailbox, address, reason) VALUES ($1, lower($2), $3)
         ON CONFLICT (mailbox, address) DO UPDATE SET reason = EXCLUDED.reason, marked_at = now()",
    )
    .bind(mailbox)
    .bind(address)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether an address refused our mail for good.
pub async fn is_undeliverable(
    conn: &mut PgConnection,
    mailbox: &str,
    address: &EmailAddress,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM undeliverable WHERE mailbox = $1 AND address = lower($2))",
    )
    .bind(mailbox)
    .bind(address.as_str())
    .fetch_one(conn)
    .await
}
