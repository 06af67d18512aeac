//! Staff and LA-lead accounts, their sessions, and login attempts.

use chrono::{DateTime, Utc};
use sqlx::PgConnection;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Everything staff do, plus accounts and rules.
    Admin,
    /// Everything about cases.
    Staff,
    /// Only the cases referred to their council: view, record an outcome, add a note.
    LaLead,
}

impl Role {
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "staff" => Some(Role::Staff),
            "la-lead" => Some(Role::LaLead),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Staff => "staff",
            Role::LaLead => "la-lead",
        }
    }

    /// Staff and admins see every case; an LA lead only their council's referrals.
    pub fn sees_all_cases(self) -> bool {
        matches!(self, Role::Admin | Role::Staff)
    }
}

/// A signed-in account.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Account {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub council: Option<String>,
}

/// An account row with one more column (a password hash, a CSRF token).
type RowWith = (i64, String, String, Option<String>, String);

fn account_with((id, email, role, council, extra): RowWith) -> Option<(Account, String)> {
    let account = Account {
        id,
        email,
        role: Role::parse(&role)?,
        council,
    };
    Some((account, extra))
}

/// Creates an account, or replaces the role, council and password of an existing one.
pub async fn upsert(
    conn: &mut PgConnection,
    email: &str,
    role: Role,
    council: Option<&str>,
    password_hash: &str,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO staff (email, role, council, password_hash) VALUES (lower($1), $2, $3, $4)
         ON CONFLICT (email) DO UPDATE
            SET role = EXCLUDED.role, council = EXCLUDED.council,
                password_hash = EXCLUDED.password_hash, disabled_at = NULL
         RETURNING id",
    )
    .bind(email)
    .bind(role.as_str())
    .bind(council)
    .bind(password_hash)
    .fetch_one(conn)
    .await
}

/// Disables an account and ends its sessions. Returns whether it was enabled.
pub async fn disable(conn: &mut PgConnection, id: i64) -> sqlx::Result<bool> {
    let disabled =
        sqlx::query("UPDATE staff SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    sqlx::query("DELETE FROM sessions WHERE staff_id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(disabled.rows_affected() == 1)
}

/// The account and its password hash, if it exists and is enabled.
pub async fn by_email(
    conn: &mut PgConnection,
    email: &str,
) -> sqlx::Result<Option<(Account, String)>> {
    let row: Option<RowWith> = sqlx::query_as(
        "SELECT id, email, role, council, password_hash FROM staff
         WHERE email = lower($1) AND disabled_at IS NULL",
    )
    .bind(email)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(account_with))
}

pub async fn create_session(
    conn: &mut PgConnection,
    token_sha256: &[u8],
    staff_id: i64,
    csrf_token: &str,
    expires_at: DateTime<Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO sessions (token_sha256, staff_id, csrf_token, expires_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(token_sha256)
    .bind(staff_id)
    .bind(csrf_token)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// The session's account and CSRF token, if the session is live.
pub async fn session(
    conn: &mut PgConnection,
    token_sha256: &[u8],
) -> sqlx::Result<Option<(Account, String)>> {
    let row: Option<RowWith> = sqlx::query_as(
        "SELECT s.id, s.email, s.role, s.council, x.csrf_token
         FROM sessions x JOIN staff s ON s.id = x.staff_id
         WHERE x.token_sha256 = $1 AND x.expires_at > now() AND s.disabled_at IS NULL",
    )
    .bind(token_sha256)
    .fetch_optional(conn)
    .await?;
    Ok(row.and_then(account_with))
}

pub async fn end_session(conn: &mut PgConnection, token_sha256: &[u8]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1 OR expires_at < now()")
        .bind(token_sha256)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn record_attempt(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
    succeeded: bool,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO login_attempts (email, client, succeeded) VALUES (lower($1), $2, $3)")
        .bind(email)
        .bind(client)
        .bind(succeeded)
        .execute(conn)
        .await?;
    Ok(())
}

/// Failed logins for this account or from this client since `since`.
pub async fn recent_failures(
    conn: &mut PgConnection,
    email: &str,
    client: &str,
    since: DateTime<Utc>,
) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM login_attempts
         WHERE NOT succeeded AND at > $3 AND (email = lower($1) OR client = $2)",
    )
    .bind(email)
    .bind(client)
    .bind(since)
    .fetch_one(conn)
    .await
}
