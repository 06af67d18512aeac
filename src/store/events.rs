//! The audit trail: every action on a case, by the bot or a named staff member, with the
//! message that caused it.

use sqlx::PgConnection;

/// Who acted: the bot, or a staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Bot,
    Staff(String),
    /// Someone at the server's command line (`gdpr erase`), by their login name.
    Operator(String),
    /// The retention job erasing closed cases whose time is over.
    Retention,
}

impl Actor {
    pub fn as_string(&self) -> String {
        match self {
            Actor::Bot => "bot".into(),
            Actor::Staff(login) => format!("staff:{login}"),
            Actor::Operator(user) => format!("operator:{user}"),
            Actor::Retention => "retention".into(),
        }
    }
}

pub async fn insert(
    conn: &mut PgConnection,
    case_id: Option<i64>,
    message_id: Option<i64>,
    actor: &Actor,
    action: &str,
    detail: &serde_json::Value,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO events (case_id, message_id, actor, action, detail) VALUES ($1, $2, $3, $4, $5)")
        .bind(case_id)
        .bind(message_id)
        .bind(actor.as_string())
        .bind(action)
        .bind(detail)
        .execute(conn)
        .await?;
    Ok(())
}

/// Records which signposting links an email gave the worker (the programme's figures count
/// them), when it gave any.
pub async fn signposted(
    conn: &mut PgConnection,
    case_id: Option<i64>,
    message_id: Option<i64>,
    draft: &crate::outgoing::Draft,
    outbox_id: i64,
) -> sqlx::Result<()> {
    if draft.signposted.is_empty() {
        return Ok(());
    }
    let detail = serde_json::json!({ "links": draft.signposted, "outbox": outbox_id });
    insert(
        conn,
        case_id,
        message_id,
        &Actor::Bot,
        "signposted",
        &detail,
    )
    .await
}
