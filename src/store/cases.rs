//! Cases and what hangs off them: addresses, facts, consent, referrals and the disclosure
//! log. A case is read as a [`CaseSnapshot`] (locked for the transaction) and changed by
//! the store's callers; this module decides nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::PgConnection;
use sqlx::types::Json;

use crate::conversation::{CaseUpdates, NewConsent, NewFact, Target};
use crate::domain::{CaseRef, CaseSnapshot, CaseState, Consent, EmailAddress, Field, HeldFact};
use crate::store::events::Actor;

#[derive(sqlx::FromRow)]
struct CaseRow {
    id: i64,
    reference: String,
    state: String,
    language: String,
    worker_name: Option<String>,
    route: Option<String>,
    consent: Option<String>,
    safeguarding_hold: bool,
    revocation_date: Option<NaiveDate>,
    deadline: Option<NaiveDate>,
    asked: Json<BTreeMap<String, u32>>,
    last_inbound_at: Option<DateTime<Utc>>,
    last_outbound_at: Option<DateTime<Utc>>,
    reminder_sent_at: Option<DateTime<Utc>>,
}

/// Opens a case; its reference is the prefix and the case id (`RM-000123`).
pub async fn create(
    conn: &mut PgConnection,
    mailbox: &str,
    prefix: &str,
    state: CaseState,
) -> sqlx::Result<(i64, CaseRef)> {
    let id: i64 = sqlx::query_scalar("SELECT nextval(pg_get_serial_sequence('cases', 'id'))")
        .fetch_one(&mut *conn)
        .await?;
    let reference = CaseRef::new(prefix, id as u64);
    sqlx::query("INSERT INTO cases (id, reference, mailbox, state) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(reference.to_string())
        .bind(mailbox)
        .bind(state.as_str())
        .execute(conn)
        .await?;
    Ok((id, reference))
}

/// The case a reference names; a merged case's reference leads to the case it joined.
pub async fn find_by_reference(
    conn: &mut PgConnection,
    reference: &CaseRef,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT coalesce(merged_into, id) FROM cases WHERE reference = $1")
        .bind(reference.to_string())
        .fetch_optional(conn)
        .await
}

/// The case one of our own emails belonged to (In-Reply-To/References of a reply).
pub async fn find_by_our_message_ids(
    conn: &mut PgConnection,
    ids: &[String],
) -> sqlx::Result<Option<i64>> {
    if ids.is_empty() {
        return Ok(None);
    }
    sqlx::query_scalar(
        "SELECT coalesce(c.merged_into, c.id) FROM outbox o JOIN cases c ON c.id = o.case_id
         WHERE o.message_id = ANY($1) ORDER BY o.id DESC LIMIT 1",
    )
    .bind(ids)
    .fetch_optional(conn)
    .await
}

/// The sender's newest open case in this mailbox.
pub async fn find_open_by_address(
    conn: &mut PgConnection,
    mailbox: &str,
    address: &EmailAddress,
) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar(
        "SELECT c.id FROM cases c JOIN case_addresses a ON a.case_id = c.id
         WHERE c.mailbox = $1 AND lower(a.address) = lower($2) AND c.closed_at IS NULL
         ORDER BY c.id DESC LIMIT 1",
    )
    .bind(mailbox)
    .bind(address.as_str())
    .fetch_optional(conn)
    .await
}

/// Whether the address takes part in the case: the worker's own, or an organisation we
/// wrote to about it (a council lead answering a referral).
pub async fn has_party(
    conn: &mut PgConnection,
    case_id: i64,
    address: &EmailAddress,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM case_addresses WHERE case_id = $1 AND lower(address) = lower($2))
             OR EXISTS (SELECT 1 FROM outbox o, unnest(o.recipients) r
                        WHERE o.case_id = $1 AND lower(r) = lower($2))
             OR EXISTS (SELECT 1 FROM messages m
                        WHERE m.case_id = $1 AND m.kind = 'referral_in' AND lower(m.from_address) = lower($2))",
    )
    .bind(case_id)
    .bind(address.as_str())
    .fetch_one(conn)
    .await
}

/// Reads a case and locks it until the transaction ends.
pub async fn snapshot(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<CaseSnapshot>> {
    let Some(row): Option<CaseRow> = sqlx::query_as(
        "SELECT id, reference, state, language, worker_name, route, consent, safeguarding_hold,
                revocation_date, deadline, asked, last_inbound_at, last_outbound_at, reminder_sent_at
         FROM cases WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let facts: Vec<(String, String, Option<String>)> = sqlx::query_as(
        "SELECT field, value, quote FROM facts WHERE case_id = $1 AND superseded_at IS NULL ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let addresses: Vec<String> = sqlx::query_scalar(
        "SELECT address FROM case_addresses WHERE case_id = $1 ORDER BY added_at, address",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let disclosed = disclosed_to(&mut *conn, id, &["queued", "sent"]).await?;
    let correspondents: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT r FROM outbox o, unnest(o.recipients) r
         WHERE o.case_id = $1 AND o.kind IN ('referral_council', 'referral_region', 'referral_received')",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    let consent_wording = consent_wording(conn, id).await?;
    let addresses_of =
        |list: Vec<String>| list.iter().filter_map(|a| EmailAddress::parse(a)).collect();
    Ok(Some(CaseSnapshot {
        id: row.id,
        reference: CaseRef::parse_any(&row.reference).expect("references are written by create"),
        state: CaseState::parse(&row.state).unwrap_or(CaseState::New),
        language: row.language,
        worker_name: row.worker_name,
        route: row.route,
        consent: row.consent.as_deref().and_then(Consent::parse),
        consent_wording,
        facts: facts
            .into_iter()
            .map(|(field, value, quote)| (field, HeldFact { value, quote }))
            .collect(),
        asked: row
            .asked
            .0
            .iter()
            .filter_map(|(field, n)| Field::parse(field).map(|f| (f, *n)))
            .collect(),
        addresses: addresses_of(addresses),
        correspondents: addresses_of(correspondents),
        disclosed_to: addresses_of(disclosed),
        safeguarding_hold: row.safeguarding_hold,
        revocation_date: row.revocation_date,
        deadline: row.deadline,
        last_inbound_at: row.last_inbound_at,
        last_outbound_at: row.last_outbound_at,
        reminder_sent_at: row.reminder_sent_at,
    }))
}

/// Recipients of the worker's details whose email is in one of `statuses`, first first.
pub async fn disclosed_to(
    conn: &mut PgConnection,
    id: i64,
    statuses: &[&str],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT d.recipient FROM disclosures d JOIN outbox o ON o.id = d.outbox_id
         WHERE d.case_id = $1 AND o.status = ANY($2)
         GROUP BY d.recipient ORDER BY min(d.id)",
    )
    .bind(id)
    .bind(statuses)
    .fetch_all(conn)
    .await
}

/// Applies a state change and column updates; `None` leaves a column as it is.
pub async fn update(
    conn: &mut PgConnection,
    id: i64,
    state: Option<CaseState>,
    updates: &CaseUpdates,
    asked: &BTreeMap<Field, u32>,
) -> sqlx::Result<()> {
    let asked: BTreeMap<&str, u32> = asked.iter().map(|(f, n)| (f.as_str(), *n)).collect();
    sqlx::query(
        "UPDATE cases SET
            state = COALESCE($2, state),
            language = COALESCE($3, language),
            worker_name = COALESCE(worker_name, $4),
            council = COALESCE($5, council),
            region = COALESCE($6, region),
            route = COALESCE($7, route),
            readiness = COALESCE($8, readiness),
            consent = COALESCE($9, consent),
            safeguarding = safeguarding OR COALESCE($10, false),
            safeguarding_hold = COALESCE($11, safeguarding_hold),
            revocation_date = COALESCE($12, revocation_date),
            deadline = COALESCE($13, deadline),
            outcome = COALESCE($14, outcome),
            asked = $15,
            closed_at = CASE WHEN $16 THEN COALESCE(closed_at, now()) ELSE NULL END,
            updated_at = now()
         WHERE id = $1",
    )
    .bind(id)
    .bind(state.map(CaseState::as_str))
    .bind(updates.language.as_deref())
    .bind(updates.worker_name.as_deref())
    .bind(updates.council.as_deref())
    .bind(updates.region.as_deref())
    .bind(updates.route.as_deref())
    .bind(updates.readiness.as_deref())
    .bind(updates.consent.map(Consent::as_str))
    .bind(updates.safeguarding)
    .bind(updates.safeguarding_hold)
    .bind(updates.revocation_date)
    .bind(updates.deadline)
    .bind(updates.outcome.map(|o| o.as_str()))
    .bind(Json(asked))
    .bind(state.map(CaseState::is_closed))
    .execute(conn)
    .await?;
    Ok(())
}

/// Counts one more asking of each field (a request sent outside the bot's own plans).
pub async fn count_asked(conn: &mut PgConnection, id: i64, fields: &[&str]) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE cases SET asked = asked || (
            SELECT coalesce(jsonb_object_agg(f, coalesce((asked ->> f)::int, 0) + 1), '{}'::jsonb)
            FROM unnest($2::text[]) f)
         WHERE id = $1",
    )
    .bind(id)
    .bind(fields)
    .execute(conn)
    .await?;
    Ok(())
}

/// Notes when the worker last wrote and when we last wrote to them (for the timers).
pub async fn touch(
    conn: &mut PgConnection,
    id: i64,
    inbound: bool,
    outbound: bool,
    reminded: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE cases SET
            last_inbound_at = CASE WHEN $2 THEN now() ELSE last_inbound_at END,
            last_outbound_at = CASE WHEN $3 THEN now() ELSE last_outbound_at END,
            reminder_sent_at = CASE WHEN $4 THEN now() ELSE reminder_sent_at END
         WHERE id = $1",
    )
    .bind(id)
    .bind(inbound)
    .bind(outbound)
    .bind(reminded)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn add_address(
    conn: &mut PgConnection,
    id: i64,
    address: &EmailAddress,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO case_addresses (case_id, address)
         SELECT $1, $2 WHERE NOT EXISTS
             (SELECT 1 FROM case_addresses WHERE case_id = $1 AND lower(address) = lower($2))",
    )
    .bind(id)
    .bind(address.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

/// Records facts (two statements however many); each field's earlier value, if any, is
/// superseded (kept for the record).
pub async fn record_facts(
    conn: &mut PgConnection,
    id: i64,
    message_id: Option<i64>,
    facts: &[NewFact],
    actor: &Actor,
) -> sqlx::Result<()> {
    // A field stated twice in one plan: the later statement is the one that stands.
    let mut latest: Vec<&NewFact> = Vec::with_capacity(facts.len());
    for fact in facts.iter().rev() {
        if !latest.iter().any(|f| f.field == fact.field) {
            latest.push(fact);
        }
    }
    latest.reverse();
    let facts = latest;
    if facts.is_empty() {
        return Ok(());
    }
    let fields: Vec<&str> = facts.iter().map(|f| f.field).collect();
    // One statement: both parts see the facts as they were, so the update never touches
    // the rows the insert adds.
    sqlx::query(
        "WITH superseded AS (
             UPDATE facts SET superseded_at = now()
             WHERE case_id = $1 AND field = ANY($4) AND superseded_at IS NULL
         )
         INSERT INTO facts (case_id, field, value, message_id, quote, confidence, actor)
         SELECT $1, f.field, f.value, $2, f.quote, f.confidence, $3
         FROM unnest($4::text[], $5::text[], $6::text[], $7::real[]) WITH ORDINALITY
              AS f (field, value, quote, confidence, n)
         ORDER BY f.n",
    )
    .bind(id)
    .bind(message_id)
    .bind(actor.as_string())
    .bind(&fields)
    .bind(facts.iter().map(|f| f.value.as_str()).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.quote.as_deref()).collect::<Vec<_>>())
    .bind(facts.iter().map(|f| f.confidence).collect::<Vec<_>>())
    .execute(conn)
    .await?;
    Ok(())
}

/// The consent wording the worker was last shown: the version of our latest email that
/// asked for consent.
pub async fn consent_wording(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "SELECT template_version FROM outbox
         WHERE case_id = $1 AND (kind = 'consent_request' OR message_id LIKE 'consent-%')
         ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// Records consent with its evidence; returns the consent record's id.
pub async fn record_consent(
    conn: &mut PgConnection,
    id: i64,
    message_id: Option<i64>,
    consent: &NewConsent,
    actor: &Actor,
) -> sqlx::Result<i64> {
    let wording = match &consent.relayed_by {
        Some(referrer) => format!("relayed by {referrer}"),
        None => consent_wording(&mut *conn, id)
            .await?
            .unwrap_or_else(|| "none shown (stated unprompted)".into()),
    };
    sqlx::query_scalar(
        "INSERT INTO consents (case_id, status, wording_version, message_id, quote, actor)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(id)
    .bind(consent.status.as_str())
    .bind(wording)
    .bind(message_id)
    .bind(consent.quote.as_deref())
    .bind(actor.as_string())
    .fetch_one(conn)
    .await
}

/// The consent record that allows sharing now, if consent stands.
pub async fn standing_consent(conn: &mut PgConnection, id: i64) -> sqlx::Result<Option<i64>> {
    let latest: Option<(i64, String)> = sqlx::query_as(
        "SELECT id, status FROM consents WHERE case_id = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(conn)
    .await?;
    Ok(latest
        .filter(|(_, status)| status == "given")
        .map(|(id, _)| id))
}

pub async fn insert_referral(
    conn: &mut PgConnection,
    id: i64,
    target: &Target,
    outbox_id: i64,
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO referrals (case_id, target_kind, target, recipient, outbox_id) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(target.kind())
        .bind(target.name())
        .bind(target.contact().as_str())
        .bind(outbox_id)
        .execute(conn)
        .await?;
    Ok(())
}

/// Writes the outcome on the case's latest referral.
pub async fn record_referral_outcome(
    conn: &mut PgConnection,
    id: i64,
    outcome: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE referrals SET outcome = $2, outcome_at = now()
         WHERE id = (SELECT max(id) FROM referrals WHERE case_id = $1)",
    )
    .bind(id)
    .bind(outcome)
    .execute(conn)
    .await?;
    Ok(())
}

/// The disclosure log: who received which of the worker's details, and under which consent.
pub async fn record_disclosure(
    conn: &mut PgConnection,
    id: i64,
    recipient: &EmailAddress,
    fields: &[&str],
    purpose: &str,
    consent_id: Option<i64>,
    outbox_id: i64,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO disclosures (case_id, recipient, fields, purpose, consent_id, outbox_id)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(recipient.as_str())
    .bind(fields)
    .bind(purpose)
    .bind(consent_id)
    .bind(outbox_id)
    .execute(conn)
    .await?;
    Ok(())
}
