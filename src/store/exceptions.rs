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
