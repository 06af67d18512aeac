//! Inbound messages: the raw bytes are kept for every message, whatever happens next.
//! A message already stored (same position, Message-ID or bytes) is never stored again.

use sqlx::PgConnection;

/// Where a message was found, which is also how it is recognised when seen again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// An IMAP folder: UIDVALIDITY and UID (RFC 3501 §2.3.1.1).
    Imap { uidvalidity: u32, uid: u32 },
    /// A file in a local folder, relative to it.
    File(String),
}

#[derive(Debug, Clone)]
pub struct Inbound<'a> {
    pub mailbox: &'a str,
    /// `imap:INBOX` or `folder:/path/to/inbox`.
    pub source: &'a str,
    pub position: Position,
    pub raw: &'a [u8],
    pub sha256: &'a [u8],
    pub message_id: Option<&'a str>,
}

/// A stored message waiting to be processed (a retry after a failure).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Waiting {
    pub id: i64,
    pub mailbox: String,
    pub raw: Vec<u8>,
    pub attempts: i32,
}

/// What was learnt about a processed message, for the timeline and the figures.
#[derive(Debug, Clone)]
pub struct Processed<'a> {
    pub case_id: Option<i64>,
    pub kind: &'a str,
    pub from_address: Option<&'a str>,
    pub subject: &'a str,
    pub triage: serde_json::Value,
}

/// Stores the message; `None` when it is already stored (any of its unique keys).
pub async fn insert(conn: &mut PgConnection, inbound: &Inbound<'_>) -> sqlx::Result<Option<i64>> {
    let (uidvalidity, uid, file_path) = match &inbound.position {
        Position::Imap { uidvalidity, uid } => {
            (Some(i64::from(*uidvalidity)), Some(i64::from(*uid)), None)
        }
        Position::File(path) => (None, None, Some(path.as_str())),
    };
    sqlx::query_scalar(
        "INSERT INTO messages (mailbox, source, uidvalidity, uid, file_path, message_id, sha256, raw, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received')
         ON CONFLICT DO NOTHING
         RETURNING id",
    )
    .bind(inbound.mailbox)
    .bind(inbound.source)
    .bind(uidvalidity)
    .bind(uid)
    .bind(file_path)
    .bind(inbound.message_id)
    .bind(inbound.sha256)
    .bind(inbound.raw)
    .fetch_optional(conn)
    .await
}

pub async fn mark_processed(
    conn: &mut PgConnection,
    id: i64,
    processed: &Processed<'_>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE messages SET status = 'processed', processed_at = now(), case_id = $2, kind = $3,
                from_address = $4, subject = $5, triage = $6, last_error = NULL
         WHERE id = $1",
    )
    .bind(id)
    .bind(processed.case_id)
    .bind(processed.kind)
    .bind(processed.from_address)
    .bind(processed.subject)
    .bind(&processed.triage)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_quarantined(conn: &mut PgConnection, id: i64, reason: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE messages SET status = 'quarantined', processed_at = now(), quarantine_reason = $2
         WHERE id = $1",
    )
    .bind(id)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts a failed attempt; the message stays `received` so a later step retries it.
pub async fn record_failure(conn: &mut PgConnection, id: i64, error: &str) -> sqlx::Result<i32> {
    sqlx::query_scalar(
        "UPDATE messages SET attempts = attempts + 1, last_error = $2 WHERE id = $1 RETURNING attempts",
    )
    .bind(id)
    .bind(error)
    .fetch_one(conn)
    .await
}

/// The oldest message still waiting, locked for this transaction; other instances skip it.
pub async fn claim_waiting(
    conn: &mut PgConnection,
    mailbox: &str,
) -> sqlx::Result<Option<Waiting>> {
    // Each mailbox's own: it is read with that mailbox's rules.
    sqlx::query_as(
        "SELECT id, mailbox, raw, attempts FROM messages
         WHERE status = 'received' AND mailbox = $1
         ORDER BY id
         LIMIT 1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(mailbox)
    .fetch_optional(conn)
    .await
}

/// File names already stored from a folder, so a watcher reads each file once.
pub async fn known_files(
    conn: &mut PgConnection,
    mailbox: &str,
    source: &str,
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar("SELECT file_path FROM messages WHERE mailbox = $1 AND source = $2 AND file_path IS NOT NULL")
        .bind(mailbox)
        .bind(source)
        .fetch_all(conn)
        .await
}
