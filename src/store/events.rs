//! The audit trail: every action on a case, by the bot or a named staff member, with the
//! message that caused it.

use sqlx::PgConnection;

/// Who acted: the bot, or a staff account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    Bot,
    Staff(String),
}

impl Actor {
    pub fn as_string(&self) -> String {
        match self {
            Actor::Bot => "bot".into(),
            Actor::Staff(login) => format!("staff:{login}"),
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
