//! Where each IMAP folder has been read up to (UIDVALIDITY and the last UID stored), and
//! how its connection is doing.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Checkpoint {
    pub uidvalidity: i64,
    pub last_uid: i64,
    pub last_ok_at: Option<DateTime<Utc>>,
    pub failing_since: Option<DateTime<Utc>>,
}

/// The folder's checkpoint for this UIDVALIDITY. Returns `true` in `.1` when UIDVALIDITY
/// changed (or the folder is new): every UID must then be read again (RFC 3501 §2.3.1.1).
pub async fn checkpoint(
    conn: &mut PgConnection,
    mailbox: &str,
    folder: &str,
    uidvalidity: u32,
) -> sqlx::Result<(Checkpoint, bool)> {
    let current: Option<Checkpoint> = sqlx::query_as(
        "SELECT uidvalidity, last_uid, last_ok_at, failing_since FROM imap_state WHERE mailbox = $1 AND folder = $2",
    )
    .bind(mailbox)
    .bind(folder)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(checkpoint) = current.filter(|c| c.uidvalidity == i64::from(uidvalidity)) {
        return Ok((checkpoint, false));
    }
    let checkpoint: Checkpoint = sqlx::query_as(
        "INSERT INTO imap_state (mailbox, folder, uidvalidity, last_uid) VALUES ($1, $2, $3, 0)
         ON CONFLICT (mailbox, folder) DO UPDATE SET uidvalidity = EXCLUDED.uidvalidity, last_uid = 0
         RETURNING uidvalidity, last_uid, last_ok_at, failing_since",
    )
    .bind(mailbox)
    .bind(folder)
    .bind(i64::from(uidvalidity))
    .fetch_one(conn)
    .await?;
    Ok((checkpoint, true))
}

/// Moves the checkpoint forward (never back).
pub async fn advance(
    conn: &mut PgConnection,
    mailbox: &str,
    folder: &str,
    uid: u32,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE imap_state SET last_uid = GREATEST(last_uid, $3) WHERE mailbox = $1 AND folder = $2")
        .bind(mailbox)
        .bind(folder)
        .bind(i64::from(uid))
        .execute(conn)
        .await?;
    Ok(())
}

/// Of these UIDs, the ones already stored.
pub async fn stored_uids(
    conn: &mut PgConnection,
    mailbox: &str,
    source: &str,
    uidvalidity: u32,
    uids: &[u32],
) -> sqlx::Result<Vec<u32>> {
    let uids: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    let stored: Vec<i64> = sqlx::query_scalar(
        "SELECT uid FROM messages WHERE mailbox = $1 AND source = $2 AND uidvalidity = $3 AND uid = ANY($4)",
    )
    .bind(mailbox)
    .bind(source)
    .bind(i64::from(uidvalidity))
    .bind(&uids)
    .fetch_all(conn)
    .await?;
    Ok(stored
        .into_iter()
        .filter_map(|u| u32::try_from(u).ok())
        .collect())
}

pub async fn record_ok(conn: &mut PgConnection, mailbox: &str, folder: &str) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE imap_state SET last_ok_at = now(), first_ok_at = COALESCE(first_ok_at, now()), failing_since = NULL, last_error = NULL
         WHERE mailbox = $1 AND folder = $2",
    )
    .bind(mailbox)
    .bind(folder)
    .execute(conn)
    .await?;
    Ok(())
}

/// Notes a failure; returns since when the folder has been failing.
pub async fn record_failure(
    conn: &mut PgConnection,
    mailbox: &str,
    folder: &str,
    error: &str,
) -> sqlx::Result<DateTime<Utc>> {
    sqlx::query_scalar(
        "INSERT INTO imap_state (mailbox, folder, uidvalidity, failing_since, last_error) VALUES ($1, $2, 0, now(), $3)
         ON CONFLICT (mailbox, folder) DO UPDATE
            SET failing_since = COALESCE(imap_state.failing_since, now()), last_error = EXCLUDED.last_error
         RETURNING failing_since",
    )
    .bind(mailbox)
    .bind(folder)
    .bind(error)
    .fetch_one(conn)
    .await
}

/// When each mailbox last read its inbox successfully (for `/readyz` and the metrics).
pub async fn last_ok(
    conn: &mut PgConnection,
) -> sqlx::Result<Vec<(String, Option<DateTime<Utc>>)>> {
    sqlx::query_as(
        "SELECT mailbox, max(last_ok_at) FROM imap_state GROUP BY mailbox ORDER BY mailbox",
    )
    .fetch_all(conn)
    .await
}
