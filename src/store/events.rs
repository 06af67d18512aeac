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
    let mut journal = Journal::default();
    journal.signposted(case_id, message_id, draft, outbox_id);
    journal.write(conn).await
}

/// The events of one transaction, written together at its end in one statement: they
/// share the transaction's time, and keep the order they were noted in (by id).
#[derive(Debug, Default)]
pub struct Journal {
    cases: Vec<Option<i64>>,
    messages: Vec<Option<i64>>,
    actors: Vec<String>,
    actions: Vec<String>,
    details: Vec<serde_json::Value>,
}

impl Journal {
    pub fn note(
        &mut self,
        case_id: Option<i64>,
        message_id: Option<i64>,
        actor: &Actor,
        action: &str,
        detail: serde_json::Value,
    ) {
        self.cases.push(case_id);
        self.messages.push(message_id);
        self.actors.push(actor.as_string());
        self.actions.push(action.to_string());
        self.details.push(detail);
    }

    /// The signposting links an email carries, when it carries any.
    pub fn signposted(
        &mut self,
        case_id: Option<i64>,
        message_id: Option<i64>,
        draft: &crate::outgoing::Draft,
        outbox_id: i64,
    ) {
        if !draft.signposted.is_empty() {
            let detail = serde_json::json!({ "links": draft.signposted, "outbox": outbox_id });
            self.note(case_id, message_id, &Actor::Bot, "signposted", detail);
        }
    }

    pub async fn write(self, conn: &mut PgConnection) -> sqlx::Result<()> {
        if self.actions.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO events (case_id, message_id, actor, action, detail)
             SELECT e.case_id, e.message_id, e.actor, e.action, e.detail
             FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::jsonb[])
                  WITH ORDINALITY AS e (case_id, message_id, actor, action, detail, n)
             ORDER BY e.n",
        )
        .bind(self.cases)
        .bind(self.messages)
        .bind(self.actors)
        .bind(self.actions)
        .bind(self.details)
        .execute(conn)
        .await?;
        Ok(())
    }
}
