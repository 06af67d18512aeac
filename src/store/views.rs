//! Read-only views for people: case lists, a case's timeline, the outbox. Used by the
//! command line and the staff app.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CaseSummary {
    pub id: i64,
    pub reference: String,
    pub state: String,
    pub worker_name: Option<String>,
    pub council: Option<String>,
    pub region: Option<String>,
    pub route: Option<String>,
    pub consent: Option<String>,
    pub readiness: Option<String>,
    pub safeguarding: bool,
    pub deadline: Option<NaiveDate>,
    pub open_exceptions: i64,
    pub messages: i64,
    pub created_at: DateTime<Utc>,
    pub mailbox: String,
}

pub async fn cases(
    conn: &mut PgConnection,
    mailbox: &str,
    state: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<CaseSummary>> {
    sqlx::query_as(
        "SELECT c.id, c.reference, c.state, c.worker_name, c.council, c.region, c.route, c.consent, c.readiness,
                c.safeguarding, c.deadline, c.created_at, c.mailbox,
                (SELECT count(*) FROM exceptions e WHERE e.case_id = c.id AND e.resolved_at IS NULL) AS open_exceptions,
                (SELECT count(*) FROM messages m WHERE m.case_id = c.id) AS messages
         FROM cases c
         WHERE c.mailbox = $1 AND ($2::text IS NULL OR c.state = $2)
         ORDER BY c.id
         LIMIT $3",
    )
    .bind(mailbox)
    .bind(state)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// One line of a case's history.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub at: DateTime<Utc>,
    /// `in`, `out`, `event`, `exception`, `fact`, `consent`, `disclosure`.
    pub what: String,
    pub summary: String,
}

pub async fn timeline(conn: &mut PgConnection, case_id: i64) -> sqlx::Result<Vec<Entry>> {
    sqlx::query_as(
        "SELECT at, what, summary FROM (
            SELECT received_at AS at, 'in' AS what,
                   coalesce(kind, status) || ' from ' || coalesce(from_address, '?') || ': ' || coalesce(subject, '') AS summary, id AS n
              FROM messages WHERE case_id = $1
            UNION ALL
            SELECT created_at, 'out', kind || ' to ' || array_to_string(recipients, ', ') || ' [' || status || ']: ' || subject, id
              FROM outbox WHERE case_id = $1
            UNION ALL
            SELECT recorded_at, 'fact', field || ' = ' || value || coalesce(' (\"' || left(quote, 60) || '\")', '')
                   || CASE WHEN superseded_at IS NOT NULL THEN ' [superseded]' ELSE '' END, id
              FROM facts WHERE case_id = $1
            UNION ALL
            SELECT recorded_at, 'consent', status || ' (' || wording_version || ')' || coalesce(': \"' || left(quote, 60) || '\"', ''), id
              FROM consents WHERE case_id = $1
            UNION ALL
            SELECT disclosed_at, 'disclosure', array_to_string(fields, ', ') || ' to ' || recipient || ' for ' || purpose, id
              FROM disclosures WHERE case_id = $1
            UNION ALL
            SELECT created_at, 'exception', '[P' || priority || '] ' || reason || ': ' || detail
                   || CASE WHEN resolved_at IS NOT NULL THEN ' [resolved]' ELSE '' END, id
              FROM exceptions WHERE case_id = $1
            UNION ALL
            SELECT created_at, 'event', action || ' by ' || actor || CASE WHEN detail = '{}'::jsonb THEN '' ELSE ' ' || detail::text END, id
              FROM events WHERE case_id = $1
         ) t
         ORDER BY at, array_position(ARRAY['in', 'fact', 'consent', 'event', 'exception', 'out', 'disclosure'], what), n",
    )
    .bind(case_id)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxSummary {
    pub id: i64,
    pub reference: Option<String>,
    pub kind: String,
    pub recipients: Vec<String>,
    pub subject: String,
    pub status: String,
    pub attempts: i32,
}

pub async fn outbox(
    conn: &mut PgConnection,
    mailbox: &str,
    limit: i64,
) -> sqlx::Result<Vec<OutboxSummary>> {
    sqlx::query_as(
        "SELECT o.id, c.reference, o.kind, o.recipients, o.subject, o.status, o.attempts
         FROM outbox o LEFT JOIN cases c ON c.id = o.case_id
         WHERE o.mailbox = $1
         ORDER BY o.id
         LIMIT $2",
    )
    .bind(mailbox)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// Message counts by status (processed, quarantined, waiting).
pub async fn message_counts(
    conn: &mut PgConnection,
    mailbox: &str,
) -> sqlx::Result<Vec<(String, i64)>> {
    sqlx::query_as(
        "SELECT status, count(*) FROM messages WHERE mailbox = $1 GROUP BY status ORDER BY status",
    )
    .bind(mailbox)
    .fetch_all(conn)
    .await
}
