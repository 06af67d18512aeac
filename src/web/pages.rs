//! The pages: the exception queue (staff) or the council's referrals (LA leads), a case,
//! and the actions taken from them. An LA lead asking for a case not referred to their
//! council gets 404, as if it did not exist.

use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use mail_parser::MimeHeaders;
use serde::Deserialize;
use serde_json::json;
use sqlx::PgConnection;

use super::Web;
use super::auth::{Signed, forbidden};
use crate::domain::case_ref::CaseRef;
use crate::store::events;
use crate::store::staff::Account;
use crate::store::views;

pub(super) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "There is no such page.").into_response()
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueFilter {
    reason: Option<String>,
    council: Option<String>,
    region: Option<String>,
    state: Option<String>,
}

fn blank_is_none(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct QueueRow {
    id: i64,
    reason: String,
    detail: String,
    priority: i16,
    created_at: DateTime<Utc>,
    mailbox: Option<String>,
    reference: Option<String>,
    state: Option<String>,
    council: Option<String>,
    region: Option<String>,
    deadline: Option<NaiveDate>,
}

/// Staff: the exception queue. LA leads: the cases referred to their council.
pub async fn home(
    State(web): State<Web>,
    signed: Signed,
    Query(filter): Query<QueueFilter>,
) -> Response {
    let mut conn = tried!(web.pool.acquire().await);
    if !signed.account.role.sees_all_cases() {
        return referrals(&web, &signed, &mut conn).await;
    }
    // Safeguarding first, then the nearest 60-day deadline, then the oldest.
    let rows: Vec<QueueRow> = tried!(
        sqlx::query_as(
            "SELECT e.id, e.reason, e.detail, e.priority, e.created_at, coalesce(c.mailbox, e.mailbox) AS mailbox,
                    c.reference, c.state, c.council, c.region, c.deadline
             FROM exceptions e LEFT JOIN cases c ON c.id = e.case_id
             WHERE e.resolved_at IS NULL
               AND ($1::text IS NULL OR e.reason = $1)
               AND ($2::text IS NULL OR c.council = $2)
               AND ($3::text IS NULL OR c.region = $3)
               AND ($4::text IS NULL OR c.state = $4)
             ORDER BY e.priority = 0 DESC, c.deadline ASC NULLS LAST, e.created_at, e.id
             LIMIT 500",
        )
        .bind(blank_is_none(&filter.reason))
        .bind(blank_is_none(&filter.council))
        .bind(blank_is_none(&filter.region))
        .bind(blank_is_none(&filter.state))
        .fetch_all(&mut *conn)
        .await
    );
    let counts: Vec<(String, i64)> = tried!(
        sqlx::query_as(
            "SELECT reason, count(*) FROM exceptions WHERE resolved_at IS NULL GROUP BY reason ORDER BY reason"
        )
        .fetch_all(&mut *conn)
        .await
    );
    let choices: Vec<(String, String, String)> = tried!(
        sqlx::query_as(
            "SELECT DISTINCT coalesce(council, ''), coalesce(region, ''), state FROM cases"
        )
        .fetch_all(&mut *conn)
        .await
    );
    let distinct = |pick: fn(&(String, String, String)) -> &String| {
        let mut values: Vec<&String> = choices.iter().map(pick).filter(|v| !v.is_empty()).collect();
        values.sort();
        values.dedup();
        values
    };
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|row| {
            json!({
                "row": row,
                "priority_label": priority_label(row.priority),
                "age": age(row.created_at),
                "deadline": row.deadline.map(|d| d.format("%-d %b %Y").to_string()),
            })
        })
        .collect();
    web.render(
        "queue.html",
        &json!({
            "account": signed.account,
            "csrf": signed.csrf,
            "rows": rows,
            "total": counts.iter().map(|(_, n)| n).sum::<i64>(),
            "counts": counts.iter().map(|(reason, n)| json!({ "reason": reason, "n": n })).collect::<Vec<_>>(),
            "filter": {
                "reason": blank_is_none(&filter.reason),
                "council": blank_is_none(&filter.council),
                "region": blank_is_none(&filter.region),
                "state": blank_is_none(&filter.state),
            },
            "councils": distinct(|c| &c.0),
            "regions": distinct(|c| &c.1),
            "states": distinct(|c| &c.2),
        }),
    )
}

fn priority_label(priority: i16) -> &'static str {
    match priority {
        0 => "Safeguarding",
        1 => "Urgent",
        2 => "High",
        3 => "Normal",
        _ => "Low",
    }
}

fn age(at: DateTime<Utc>) -> String {
    let minutes = (Utc::now() - at).num_minutes().max(0);
    match minutes {
        0..=59 => format!("{minutes} min"),
        60..=2879 => format!("{} h", minutes / 60),
        _ => format!("{} days", minutes / 1440),
    }
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct ReferralRow {
    reference: String,
    state: String,
    worker_name: Option<String>,
    referred_at: DateTime<Utc>,
    outcome: Option<String>,
}

async fn referrals(web: &Web, signed: &Signed, conn: &mut PgConnection) -> Response {
    let rows: Vec<ReferralRow> = tried!(
        sqlx::query_as(
            "SELECT c.reference, c.state, c.worker_name, r.created_at AS referred_at, r.outcome
             FROM referrals r JOIN cases c ON c.id = r.case_id
             WHERE r.target_kind = 'council' AND r.target = $1
             ORDER BY r.created_at DESC
             LIMIT 500",
        )
        .bind(signed.account.council.as_deref().unwrap_or(""))
        .fetch_all(conn)
        .await
    );
    web.render(
        "referrals.html",
        &json!({ "account": signed.account, "csrf": signed.csrf, "rows": rows }),
    )
}

/// The case's id, if the account may see it (an LA lead: only their council's referrals).
pub(super) async fn visible_case(
    conn: &mut PgConnection,
    account: &Account,
    reference: &str,
) -> sqlx::Result<Option<i64>> {
    let Some(reference) = CaseRef::parse_any(reference) else {
        return Ok(None);
    };
    let Some(id) = crate::store::cases::find_by_reference(conn, &reference).await? else {
        return Ok(None);
    };
    if account.role.sees_all_cases() {
        return Ok(Some(id));
    }
    let referred: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM referrals WHERE case_id = $1 AND target_kind = 'council' AND target = $2)",
    )
    .bind(id)
    .bind(account.council.as_deref().unwrap_or(""))
    .fetch_one(conn)
    .await?;
    Ok(referred.then_some(id))
}

#[derive(sqlx::FromRow)]
struct MessageRow {
    id: i64,
    received_at: DateTime<Utc>,
    from_address: Option<String>,
    subject: Option<String>,
    kind: Option<String>,
    status: String,
    reason: Option<String>,
    raw: Vec<u8>,
    triage: Option<serde_json::Value>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct ConsentRow {
    status: String,
    wording_version: String,
    quote: Option<String>,
    actor: String,
    recorded_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct ReferralSent {
    target_kind: String,
    target: String,
    recipient: String,
    created_at: DateTime<Utc>,
    outcome: Option<String>,
    outcome_at: Option<DateTime<Utc>>,
    email_status: Option<String>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct DisclosureRow {
    recipient: String,
    fields: Vec<String>,
    purpose: String,
    consent_id: Option<i64>,
    disclosed_at: DateTime<Utc>,
    email_status: Option<String>,
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%d %b %Y %H:%M").to_string()
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct FactRow {
    field: String,
    value: String,
    quote: Option<String>,
    confidence: f32,
    actor: String,
    recorded_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct ExceptionRow {
    id: i64,
    reason: String,
    detail: String,
    priority: i16,
    created_at: DateTime<Utc>,
}

pub async fn case(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
) -> Response {
    let mut conn = tried!(web.pool.acquire().await);
    let Some(id) = tried!(visible_case(&mut conn, &signed.account, &reference).await) else {
        return not_found();
    };
    let summary: views::CaseSummary = tried!(
        sqlx::query_as(
            "SELECT c.id, c.reference, c.state, c.worker_name, c.council, c.region, c.route, c.consent, c.readiness,
                    c.safeguarding, c.deadline, c.created_at, c.mailbox,
                    (SELECT count(*) FROM exceptions e WHERE e.case_id = c.id AND e.resolved_at IS NULL) AS open_exceptions,
                    (SELECT count(*) FROM messages m WHERE m.case_id = c.id) AS messages
             FROM cases c WHERE c.id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
    );
    let messages: Vec<MessageRow> = tried!(
        sqlx::query_as(
            "SELECT id, received_at, from_address, subject, kind, status, quarantine_reason AS reason, raw, triage
             FROM messages WHERE case_id = $1 ORDER BY received_at, id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
    );
    let facts: Vec<FactRow> = tried!(
        sqlx::query_as(
            "SELECT field, value, quote, confidence, actor, recorded_at
             FROM facts WHERE case_id = $1 AND superseded_at IS NULL ORDER BY field",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
    );
    let exceptions: Vec<ExceptionRow> = tried!(
        sqlx::query_as(
            "SELECT id, reason, detail, priority, created_at FROM exceptions
             WHERE case_id = $1 AND resolved_at IS NULL ORDER BY priority, created_at",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
    );
    let consents: Vec<ConsentRow> = tried!(
        sqlx::query_as(
            "SELECT status, wording_version, quote, actor, recorded_at FROM consents
             WHERE case_id = $1 ORDER BY recorded_at, id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
    );
    // An LA lead sees only the referrals to their own council.
    let lead_council = (!signed.account.role.sees_all_cases())
        .then(|| signed.account.council.clone().unwrap_or_default());
    let referrals: Vec<ReferralSent> = tried!(
        sqlx::query_as(
            "SELECT r.target_kind, r.target, r.recipient, r.created_at, r.outcome, r.outcome_at, o.status AS email_status
             FROM referrals r LEFT JOIN outbox o ON o.id = r.outbox_id
             WHERE r.case_id = $1 AND ($2::text IS NULL OR (r.target_kind = 'council' AND r.target = $2))
             ORDER BY r.created_at, r.id",
        )
        .bind(id)
        .bind(lead_council.as_deref())
        .fetch_all(&mut *conn)
        .await
    );
    let disclosures: Vec<DisclosureRow> = tried!(
        sqlx::query_as(
            "SELECT d.recipient, d.fields, d.purpose, d.consent_id, d.disclosed_at, o.status AS email_status
             FROM disclosures d LEFT JOIN outbox o ON o.id = d.outbox_id
             WHERE d.case_id = $1 ORDER BY d.disclosed_at, d.id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await
    );
    let timeline = tried!(views::timeline(&mut conn, id).await);
    let messages: Vec<serde_json::Value> = messages.iter().map(message_view).collect();
    let timeline: Vec<serde_json::Value> = timeline
        .iter()
        .map(|e| json!({ "at": e.at.format("%d %b %Y %H:%M").to_string(), "what": e.what, "summary": e.summary }))
        .collect();
    let staff = signed.account.role.sees_all_cases();
    let (councils, regions) = match web.app(&summary.mailbox) {
        Some(app) => {
            let rules = app.rules.get();
            (
                rules
                    .directory
                    .councils
                    .iter()
                    .map(|c| c.council.clone())
                    .collect::<Vec<_>>(),
                rules
                    .directory
                    .regions
                    .iter()
                    .map(|r| r.region.clone())
                    .collect::<Vec<_>>(),
            )
        }
        None => (Vec::new(), Vec::new()),
    };
    let state = crate::domain::CaseState::parse(&summary.state);
    let closed = state.is_some_and(|s| s.is_closed());
    let referred = state.is_some_and(|s| s.is_referred());
    web.render(
        "case.html",
        &json!({
            "account": signed.account,
            "csrf": signed.csrf,
            "staff": staff,
            "case": {
                "reference": summary.reference,
                "state": summary.state,
                "worker_name": summary.worker_name,
                "council": summary.council,
                "region": summary.region,
                "route": summary.route,
                "consent": summary.consent,
                "readiness": summary.readiness,
                "safeguarding": summary.safeguarding,
                "deadline": summary.deadline.map(|d| d.format("%-d %b %Y").to_string()),
                "opened": summary.created_at.format("%d %b %Y").to_string(),
                "safeguarding_open": exceptions.iter().any(|e| e.reason == "safeguarding"),
                "closed": closed,
                "referred": referred,
                "reopenable": closed && !matches!(state, Some(crate::domain::CaseState::Erased | crate::domain::CaseState::Merged)),
            },
            "councils": councils,
            "regions": regions,
            "consents": if staff { json!(consents.iter().map(|c| json!({ "c": c, "at": when(c.recorded_at) })).collect::<Vec<_>>()) } else { json!([]) },
            "referrals": referrals.iter().map(|r| json!({ "r": r, "at": when(r.created_at), "outcome_at": r.outcome_at.map(when) })).collect::<Vec<_>>(),
            "disclosures": if staff { json!(disclosures.iter().map(|d| json!({ "d": d, "at": when(d.disclosed_at) })).collect::<Vec<_>>()) } else { json!([]) },
            // LA leads see what was shared with them, not the staff's working material.
            "facts": if staff { json!(facts) } else { json!([]) },
            "messages": if staff { json!(messages) } else { json!([]) },
            "exceptions": if staff { json!(exceptions) } else { json!([]) },
            "timeline": if staff { json!(timeline) } else { json!([]) },
        }),
    )
}

/// A stored message as the page shows it: headers and the readable text, never HTML.
fn message_view(message: &MessageRow) -> serde_json::Value {
    let body = match crate::pipeline::parse::parse(&message.raw) {
        Ok(email) => email.body,
        Err(_) => String::from_utf8_lossy(&message.raw).into_owned(),
    };
    // Numbered as the download route numbers them.
    let attachments: Vec<serde_json::Value> = mail_parser::MessageParser::default()
        .parse(&message.raw)
        .map(|parsed| {
            parsed
                .attachments()
                .enumerate()
                .map(|(n, part)| {
                    json!({
                        "n": n,
                        "name": part.attachment_name().map_or_else(|| format!("attachment-{}", n + 1), str::to_string),
                        "mime_type": part
                            .content_type()
                            .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or("octet-stream")))
                            .unwrap_or_else(|| "application/octet-stream".into()),
                        "size": part.contents().len(),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    json!({
        "id": message.id,
        "received": message.received_at.format("%d %b %Y %H:%M").to_string(),
        "from": message.from_address,
        "subject": message.subject,
        "kind": message.kind,
        "status": message.status,
        "reason": message.reason,
        "body": body,
        "attachments": attachments,
        "reading": message.triage.as_ref().map(reading),
    })
}

/// How the mailbox read a message, for people: its kind, the route it proposed, and why.
fn reading(triage: &serde_json::Value) -> serde_json::Value {
    let text = |key: &str| triage.get(key).and_then(|v| v.as_str()).map(str::to_string);
    let reasons: Vec<String> = triage
        .get("reasons")
        .and_then(|r| r.as_array())
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "kind": text("kind"),
        "route": text("route"),
        "readiness": text("readiness"),
        "reasons": reasons,
    })
}

/// An attachment, always as a download (never rendered in the app's origin).
pub async fn attachment(
    State(web): State<Web>,
    signed: Signed,
    Path((reference, message, n)): Path<(String, i64, usize)>,
) -> Response {
    if !signed.account.role.sees_all_cases() {
        return not_found();
    }
    let mut conn = tried!(web.pool.acquire().await);
    let Some(id) = tried!(visible_case(&mut conn, &signed.account, &reference).await) else {
        return not_found();
    };
    let raw: Option<Vec<u8>> = tried!(
        sqlx::query_scalar("SELECT raw FROM messages WHERE id = $1 AND case_id = $2")
            .bind(message)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await
    );
    let Some(raw) = raw else {
        return not_found();
    };
    let Some(parsed) = mail_parser::MessageParser::default().parse(&raw) else {
        return not_found();
    };
    let Some(part) = parsed.attachments().nth(n) else {
        return not_found();
    };
    let name: String = part
        .attachment_name()
        .unwrap_or("attachment")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ' '))
        .collect();
    (
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        part.contents().to_vec(),
    )
        .into_response()
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    note: String,
}

/// A note on the case (staff and the council's LA lead), kept in the audit trail.
pub async fn add_note(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    let mut conn = tried!(web.pool.acquire().await);
    let Some(id) = tried!(visible_case(&mut conn, &signed.account, &reference).await) else {
        return not_found();
    };
    let note = form.note.trim();
    if !note.is_empty() {
        tried!(
            events::insert(
                &mut conn,
                Some(id),
                None,
                &signed.actor(),
                "note",
                &json!({ "note": note })
            )
            .await
        );
    }
    Redirect::to(&format!("/cases/{reference}")).into_response()
}

#[derive(Deserialize)]
pub struct ResolveForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// Marks an exception as handled, with what was done.
pub async fn resolve(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<ResolveForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    if !signed.account.role.sees_all_cases() {
        return not_found();
    }
    let mut tx = tried!(web.pool.begin().await);
    let resolved: Option<(Option<i64>, String)> = tried!(
        sqlx::query_as(
            "UPDATE exceptions SET resolved_at = now(), resolved_by = $2
             WHERE id = $1 AND resolved_at IS NULL RETURNING case_id, reason",
        )
        .bind(id)
        .bind(signed.actor().as_string())
        .fetch_optional(&mut *tx)
        .await
    );
    let Some((case_id, reason)) = resolved else {
        return Redirect::to("/").into_response();
    };
    let mut detail = BTreeMap::new();
    detail.insert("exception", json!(id));
    detail.insert("reason", json!(reason));
    if !form.note.trim().is_empty() {
        detail.insert("note", json!(form.note.trim()));
    }
    tried!(
        events::insert(
            &mut tx,
            case_id,
            None,
            &signed.actor(),
            "exception_resolved",
            &json!(detail)
        )
        .await
    );
    tried!(tx.commit().await);
    Redirect::to("/").into_response()
}

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct Found {
    reference: String,
    state: String,
    worker_name: Option<String>,
    council: Option<String>,
    created_at: DateTime<Utc>,
}

/// Finds cases by reference, email address, phone number or name. A reference goes
/// straight to its case. LA leads search only their council's referrals.
pub async fn search(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<SearchQuery>,
) -> Response {
    let q = query.q.trim();
    let mut conn = tried!(web.pool.acquire().await);
    if let Some(reference) = CaseRef::parse_any(q)
        && tried!(visible_case(&mut conn, &signed.account, &reference.to_string()).await).is_some()
    {
        return Redirect::to(&format!("/cases/{reference}")).into_response();
    }
    // A phone number in any format: the same digits as the stored E.164, wherever they start.
    let phone = crate::domain::Phone::parse(q).map(|p| p.to_string());
    let rows: Vec<Found> = if q.chars().count() < 3 {
        Vec::new()
    } else {
        tried!(
            sqlx::query_as(
                "SELECT c.reference, c.state, c.worker_name, c.council, c.created_at FROM cases c
                 WHERE (c.worker_name ILIKE '%' || $1 || '%'
                        OR EXISTS (SELECT 1 FROM case_addresses a WHERE a.case_id = c.id AND a.address ILIKE '%' || $1 || '%')
                        OR ($2::text IS NOT NULL AND EXISTS (SELECT 1 FROM facts f WHERE f.case_id = c.id AND f.field = 'phone' AND f.value = $2)))
                   AND ($3 OR EXISTS (SELECT 1 FROM referrals r WHERE r.case_id = c.id AND r.target_kind = 'council' AND r.target = $4))
                 ORDER BY c.created_at DESC
                 LIMIT 100",
            )
            .bind(q.replace(['%', '_'], ""))
            .bind(phone)
            .bind(signed.account.role.sees_all_cases())
            .bind(signed.account.council.as_deref().unwrap_or(""))
            .fetch_all(&mut *conn)
            .await
        )
    };
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| json!({ "row": r, "opened": r.created_at.format("%d %b %Y").to_string() }))
        .collect();
    web.render(
        "search.html",
        &json!({ "account": signed.account, "csrf": signed.csrf, "q": q, "rows": rows }),
    )
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct Quarantined {
    id: i64,
    mailbox: String,
    received_at: DateTime<Utc>,
    from_address: Option<String>,
    subject: Option<String>,
    reason: Option<String>,
}

/// The programme at a glance: cases by state, council and region, this week's intake,
/// how fast workers get a first answer, the outbox, and quarantined messages.
pub async fn overview(State(web): State<Web>, signed: Signed) -> Response {
    if !signed.account.role.sees_all_cases() {
        return not_found();
    }
    let mut conn = tried!(web.pool.acquire().await);
    let by_state: Vec<(String, i64)> = tried!(
        sqlx::query_as(
            "SELECT state, count(*) FROM cases GROUP BY state ORDER BY count(*) DESC, state"
        )
        .fetch_all(&mut *conn)
        .await
    );
    let by_place: Vec<(Option<String>, Option<String>, i64)> = tried!(
        sqlx::query_as(
            "SELECT region, council, count(*) FROM cases GROUP BY region, council
             ORDER BY region NULLS LAST, council NULLS LAST"
        )
        .fetch_all(&mut *conn)
        .await
    );
    // Monday to now, and the median time from a worker's first email to our first answer
    // (cases opened in the last 30 days).
    let (this_week, median_minutes): (i64, Option<f64>) = tried!(
        sqlx::query_as(
            "SELECT (SELECT count(*) FROM cases WHERE created_at >= date_trunc('week', now())),
                    (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes) FROM (
                        SELECT extract(epoch FROM (
                                   (SELECT min(coalesce(o.sent_at, o.created_at)) FROM outbox o
                                    WHERE o.case_id = c.id AND o.recipients @> ARRAY[a.address])
                                   - (SELECT min(m.received_at) FROM messages m WHERE m.case_id = c.id))) / 60 AS minutes
                        FROM cases c JOIN LATERAL (SELECT address FROM case_addresses WHERE case_id = c.id ORDER BY added_at LIMIT 1) a ON true
                        WHERE c.created_at > now() - interval '30 days') t
                     WHERE minutes IS NOT NULL)::float8"
        )
        .fetch_one(&mut *conn)
        .await
    );
    let outbox: Vec<(String, i64)> = tried!(
        sqlx::query_as("SELECT status, count(*) FROM outbox GROUP BY status ORDER BY status")
            .fetch_all(&mut *conn)
            .await
    );
    let oldest_queued: Option<DateTime<Utc>> = tried!(
        sqlx::query_scalar("SELECT min(created_at) FROM outbox WHERE status = 'queued'")
            .fetch_one(&mut *conn)
            .await
    );
    let quarantined: Vec<Quarantined> = tried!(
        sqlx::query_as(
            "SELECT id, mailbox, received_at, from_address, subject, quarantine_reason AS reason
             FROM messages WHERE status = 'quarantined' ORDER BY received_at DESC LIMIT 200"
        )
        .fetch_all(&mut *conn)
        .await
    );
    let max_state = by_state.iter().map(|(_, n)| *n).max().unwrap_or(1).max(1);
    web.render(
        "overview.html",
        &json!({
            "account": signed.account,
            "csrf": signed.csrf,
            "by_state": by_state.iter().map(|(state, n)| json!({ "state": state, "n": n, "width": n * 100 / max_state })).collect::<Vec<_>>(),
            "by_place": by_place.iter().map(|(region, council, n)| json!({ "region": region, "council": council, "n": n })).collect::<Vec<_>>(),
            "this_week": this_week,
            "median_first_reply": median_minutes.map(|m| if m < 90.0 { format!("{m:.0} minutes") } else { format!("{:.1} hours", m / 60.0) }),
            "outbox": outbox.iter().map(|(status, n)| json!({ "status": status, "n": n })).collect::<Vec<_>>(),
            "oldest_queued": oldest_queued.map(age),
            "quarantined": quarantined.iter().map(|q| json!({ "q": q, "received": q.received_at.format("%d %b %Y %H:%M").to_string() })).collect::<Vec<_>>(),
        }),
    )
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: String,
}

/// Puts a quarantined message back in the queue: it is read again with today's rules.
pub async fn reprocess(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CsrfOnly>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    if !signed.account.role.sees_all_cases() {
        return not_found();
    }
    let mut tx = tried!(web.pool.begin().await);
    let requeued = tried!(
        sqlx::query(
            "UPDATE messages SET status = 'received', attempts = 0, quarantine_reason = NULL, last_error = NULL
             WHERE id = $1 AND status = 'quarantined'"
        )
        .bind(id)
        .execute(&mut *tx)
        .await
    );
    if requeued.rows_affected() == 1 {
        tried!(
            sqlx::query(
                "UPDATE exceptions SET resolved_at = now(), resolved_by = $2
                 WHERE message_id = $1 AND reason = 'quarantine' AND resolved_at IS NULL"
            )
            .bind(id)
            .bind(signed.actor().as_string())
            .execute(&mut *tx)
            .await
        );
        tried!(
            events::insert(
                &mut tx,
                None,
                Some(id),
                &signed.actor(),
                "message_requeued",
                &json!({})
            )
            .await
        );
    }
    tried!(tx.commit().await);
    Redirect::to("/overview").into_response()
}
