//! Staff exceptions: what a person must look at, most urgent first.

use sqlx::PgConnection;

use crate::conversation::NewException;

/// Opens an exception unless the same one is already open for the case (a worker who
/// writes three times about the same danger is one concern, not three).
pub async fn open(
    conn: &mut PgConnection,
    case_id: Option<i64>,
    message_id: Option<i64>,
    exception: &NewException,
) -> sqlx::Result<bool> {
    if let Some(case_id) = case_id {
        let already: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM exceptions WHERE case_id = $1 AND reason = $2 AND resolved_at IS NULL)",
        )
        .bind(case_id)
        .bind(exception.reason)
        .fetch_one(&mut *conn)
        .await?;
        if already {
            return Ok(false);
        }
    }
    sqlx::query("INSERT INTO exceptions (case_id, message_id, reason, detail, priority) VALUES ($1, $2, $3, $4, $5)")
        .bind(case_id)
        .bind(message_id)
        .bind(exception.reason)
        .bind(&exception.detail)
        .bind(exception.priority)
        .execute(conn)
        .await?;
    Ok(true)
}

/// Opens an alert about a mailbox itself unless the same one is open. Returns whether it
/// is new (so staff are emailed once per incident).
pub async fn open_alert(
    conn: &mut PgConnection,
    mailbox: &str,
    exception: &NewException,
) -> sqlx::Result<bool> {
    let opened = sqlx::query(
        "INSERT INTO exceptions (mailbox, reason, detail, priority)
         SELECT $1, $2, $3, $4
         WHERE NOT EXISTS (SELECT 1 FROM exceptions
                           WHERE case_id IS NULL AND mailbox = $1 AND reason = $2 AND resolved_at IS NULL)",
    )
    .bind(mailbox)
    .bind(exception.reason)
    .bind(&exception.detail)
    .bind(exception.priority)
    .execute(conn)
    .await?;
    Ok(opened.rows_affected() == 1)
}

/// Resolves a mailbox alert once its cause has gone. Returns whether one was open.
pub async fn resolve_alert(
    conn: &mut PgConnection,
    mailbox: &str,
    reason: &str,
) -> sqlx::Result<bool> {
    let resolved = sqlx::query(
        "UPDATE exceptions SET resolved_at = now(), resolved_by = 'bot'
         WHERE case_id IS NULL AND mailbox = $1 AND reason = $2 AND resolved_at IS NULL",
    )
    .bind(mailbox)
    .bind(reason)
    .execute(conn)
    .await?;
    Ok(resolved.rows_affected() > 0)
}
