//! Data-protection rights (UK GDPR): subject access (everything held about a person,
//! written out), erasure (the person's messages and facts removed from Postgres and the raw
//! copies from the IMAP server, an anonymous tombstone kept so the programme's figures
//! still add up), and retention (closed cases erased after a set time).
//!
//! Erasure order: the IMAP copies go first, then one transaction scrubs the database and
//! records who erased what. A failure on the server leaves the database as it was, so
//! erasing again finishes the job; nothing is ever half forgotten by the database.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgConnection;

use crate::app::App;
use crate::domain::{CaseRef, EmailAddress};
use crate::imap::Connection;
use crate::store::events::{self, Actor};

/// The cases a subject-access request or an erasure names: a case reference, or an email
/// address (every case it speaks for).
pub async fn cases_of(conn: &mut PgConnection, who: &str) -> anyhow::Result<Vec<i64>> {
    if let Some(reference) = CaseRef::parse_any(who.trim()) {
        return Ok(crate::store::cases::find_by_reference(conn, &reference)
            .await?
            .into_iter()
            .collect());
    }
    let address = EmailAddress::parse(who.trim())
        .with_context(|| format!("`{who}` is neither a case reference nor an email address"))?;
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT c.id FROM cases c JOIN case_addresses a ON a.case_id = c.id
         WHERE lower(a.address) = lower($1) AND c.state <> 'merged' ORDER BY c.id",
    )
    .bind(address.as_str())
    .fetch_all(conn)
    .await?)
}

/// The parts of a subject-access export read straight from the tables, by section name.
const SECTIONS: [(&str, &str); 8] = [
    (
        "case",
        "SELECT to_jsonb(c) - 'asked' FROM cases c WHERE c.id = $1",
    ),
    (
        "addresses",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.added_at), '[]') FROM case_addresses t WHERE t.case_id = $1",
    ),
    (
        "facts",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM facts t WHERE t.case_id = $1",
    ),
    (
        "consent",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM consents t WHERE t.case_id = $1",
    ),
    (
        "referrals",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM referrals t WHERE t.case_id = $1",
    ),
    (
        "disclosure_log",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM disclosures t WHERE t.case_id = $1",
    ),
    (
        "exceptions",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM exceptions t WHERE t.case_id = $1",
    ),
    (
        "audit_trail",
        "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY t.id), '[]') FROM events t WHERE t.case_id = $1",
    ),
];

#[derive(sqlx::FromRow)]
struct Received {
    id: i64,
    received_at: DateTime<Utc>,
    from_address: Option<String>,
    subject: Option<String>,
    kind: Option<String>,
    status: String,
    raw: Vec<u8>,
}

#[derive(sqlx::FromRow)]
struct SentEmail {
    id: i64,
    kind: String,
    recipients: Vec<String>,
    subject: String,
    status: String,
    sent_at: Option<DateTime<Utc>>,
    raw: Vec<u8>,
}

/// What a subject-access export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exported {
    pub cases: usize,
    pub messages: usize,
    pub emails: usize,
    pub file: PathBuf,
}

/// Writes everything held about the person into `out`: `subject-access.json` (each case
/// with its addresses, messages as text, facts with the words they came from and those
/// superseded, consent records, referrals, the disclosure log, our emails, exceptions and
/// the audit trail), the raw emails received (`received/<id>.eml`) and sent
/// (`sent/<id>.eml`). The export itself is an audit event.
pub async fn export(app: &App, who: &str, out: &Path, actor: &Actor) -> anyhow::Result<Exported> {
    let mut conn = app.pool.acquire().await?;
    let cases = cases_of(&mut conn, who).await?;
    anyhow::ensure!(!cases.is_empty(), "no case holds `{who}`");
    std::fs::create_dir_all(out.join("received"))?;
    std::fs::create_dir_all(out.join("sent"))?;
    let (mut messages, mut emails) = (0, 0);
    let mut held = Vec::new();
    for &case_id in &cases {
        let one = |sql: &'static str| sqlx::query_scalar::<_, serde_json::Value>(sql).bind(case_id);
        let mut document = serde_json::Map::new();
        for (section, sql) in SECTIONS {
            document.insert(section.into(), one(sql).fetch_one(&mut *conn).await?);
        }
        let received: Vec<Received> = sqlx::query_as(
            "SELECT id, received_at, from_address, subject, kind, status, raw FROM messages
             WHERE case_id = $1 ORDER BY received_at, id",
        )
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut listed = Vec::new();
        for message in received {
            let file = format!("received/{}.eml", message.id);
            std::fs::write(out.join(&file), &message.raw)?;
            let text = crate::pipeline::parse::parse(&message.raw)
                .map(|email| email.body)
                .unwrap_or_else(|_| String::from_utf8_lossy(&message.raw).into_owned());
            listed.push(json!({
                "id": message.id, "received_at": message.received_at, "from": message.from_address,
                "subject": message.subject, "kind": message.kind, "status": message.status,
                "text": text, "raw_file": file,
            }));
            messages += 1;
        }
        document.insert("messages".into(), listed.into());
        let sent: Vec<SentEmail> = sqlx::query_as(
            "SELECT id, kind, recipients, subject, status, sent_at, raw FROM outbox
             WHERE case_id = $1 ORDER BY id",
        )
        .bind(case_id)
        .fetch_all(&mut *conn)
        .await?;
        let mut listed = Vec::new();
        for email in sent {
            let file = format!("sent/{}.eml", email.id);
            std::fs::write(out.join(&file), &email.raw)?;
            listed.push(json!({
                "id": email.id, "kind": email.kind, "to": email.recipients, "subject": email.subject,
                "status": email.status, "sent_at": email.sent_at, "raw_file": file,
            }));
            emails += 1;
        }
        document.insert("emails_sent".into(), listed.into());
        held.push(serde_json::Value::Object(document));
    }
    let file = out.join("subject-access.json");
    let document = json!({
        "request": who,
        "mailbox": app.mailbox.name,
        "exported_at": Utc::now(),
        "cases": held,
    });
    std::fs::write(&file, serde_json::to_vec_pretty(&document)?)?;
    for &case_id in &cases {
        events::insert(
            &mut conn,
            Some(case_id),
            None,
            actor,
            "subject_access_export",
            &json!({ "messages": messages, "emails": emails }),
        )
        .await?;
    }
    Ok(Exported {
        cases: cases.len(),
        messages,
        emails,
        file,
    })
}

/// What an erasure removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub reference: String,
    pub messages: i64,
    pub facts: i64,
    pub emails: i64,
    /// Raw copies removed from the IMAP server (inbox, processed and sent folders).
    pub imap_copies: usize,
    /// Files of a local inbox folder the operator must delete (the folder is read-only to us).
    pub files_to_delete: Vec<String>,
}

/// Keys of event details that say nothing about the person, kept on a tombstone so the
/// figures and the audit still add up (notes, quotes and free text go).
const KEPT_EVENT_KEYS: [&str; 17] = [
    "kind",
    "source",
    "links",
    "outcome",
    "state",
    "from",
    "to",
    "target",
    "employer",
    "domain",
    "decision",
    "fields",
    "as",
    "choice",
    "outbox",
    "status",
    "indicators",
];

/// Erases one case (and any duplicates merged into it): the raw copies on the IMAP server,
/// then in one transaction the messages' content, the facts, the addresses, our emails'
/// content, the consent quotes, exception details and free text in the history. Kept: an
/// anonymous tombstone (state `erased`, dates, council and region, referral targets, the
/// disclosure log's recipients and field names, the audit trail's actions), so the
/// programme's figures still add up, and an `erasures` row saying who erased what.
pub async fn erase(app: &App, case_id: i64, actor: &Actor) -> anyhow::Result<Erased> {
    let mut conn = app.pool.acquire().await?;
    let (reference, state): (String, String) =
        sqlx::query_as("SELECT reference, state FROM cases WHERE id = $1")
            .bind(case_id)
            .fetch_one(&mut *conn)
            .await?;
    anyhow::ensure!(state != "erased", "{reference} is erased already");
    anyhow::ensure!(
        state != "merged",
        "{reference} was merged: erase the case it joined"
    );
    let open_safeguarding: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM exceptions WHERE case_id = $1 AND reason = 'safeguarding' AND resolved_at IS NULL)",
    )
    .bind(case_id)
    .fetch_one(&mut *conn)
    .await?;
    anyhow::ensure!(
        !open_safeguarding,
        "{reference} has an undecided safeguarding concern: record the decision first (safeguarding records may have to be kept)"
    );
    let family: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM cases WHERE id = $1 OR merged_into = $1")
            .bind(case_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut erased = Erased {
        reference: reference.clone(),
        ..Erased::default()
    };

    // 1. The raw copies on the mail server: what we received, and what we sent (a copy in
    //    the Sent folder carries the worker's details too).
    let inbound: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT source, message_id, file_path FROM messages WHERE case_id = ANY($1)",
    )
    .bind(&family)
    .fetch_all(&mut *conn)
    .await?;
    let ours: Vec<String> =
        sqlx::query_scalar("SELECT message_id FROM outbox WHERE case_id = ANY($1)")
            .bind(&family)
            .fetch_all(&mut *conn)
            .await?;
    let mut on_server: Vec<String> = inbound
        .iter()
        .filter(|(source, _, _)| source.starts_with("imap:"))
        .filter_map(|(_, id, _)| id.clone())
        .collect();
    on_server.extend(ours);
    erased.files_to_delete = inbound
        .iter()
        .filter(|(source, _, _)| !source.starts_with("imap:"))
        .filter_map(|(source, _, file)| {
            let dir = source.strip_prefix("folder:").unwrap_or(source);
            file.as_ref().map(|f| format!("{dir}/{f}"))
        })
        .collect();
    if let Some(imap) = &app.servers.imap {
        erased.imap_copies = erase_on_server(imap, &on_server)
            .await
            .context("removing the copies on the IMAP server (nothing was erased yet)")?;
    }

    // 2. The database, in one transaction (another instance may be erasing it too).
    let mut tx = app.pool.begin().await?;
    let now_state: String = sqlx::query_scalar("SELECT state FROM cases WHERE id = $1 FOR UPDATE")
        .bind(case_id)
        .fetch_one(&mut *tx)
        .await?;
    anyhow::ensure!(
        now_state == state,
        "{reference} changed while it was being erased: try again"
    );
    let addresses: Vec<String> =
        sqlx::query_scalar("SELECT lower(address) FROM case_addresses WHERE case_id = ANY($1)")
            .bind(&family)
            .fetch_all(&mut *tx)
            .await?;
    erased.messages = sqlx::query(
        "UPDATE messages SET raw = '', from_address = NULL, subject = NULL, triage = NULL,
                message_id = NULL, last_error = NULL, quarantine_reason = NULL,
                file_path = CASE WHEN file_path IS NULL THEN NULL
                                 ELSE 'erased:' || encode(sha256(convert_to(file_path, 'UTF8')), 'hex') END
         WHERE case_id = ANY($1)",
    )
    .bind(&family)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    erased.facts = sqlx::query("DELETE FROM facts WHERE case_id = ANY($1)")
        .bind(&family)
        .execute(&mut *tx)
        .await?
        .rows_affected() as i64;
    sqlx::query("DELETE FROM case_addresses WHERE case_id = ANY($1)")
        .bind(&family)
        .execute(&mut *tx)
        .await?;
    erased.emails = sqlx::query(
        "UPDATE outbox SET raw = '', subject = '[erased]', last_error = NULL,
                recipients = ARRAY(SELECT r FROM unnest(recipients) r WHERE lower(r) <> ALL($2))
         WHERE case_id = ANY($1)",
    )
    .bind(&family)
    .bind(&addresses)
    .execute(&mut *tx)
    .await?
    .rows_affected() as i64;
    // Mail still queued about the person goes nowhere now.
    sqlx::query("UPDATE outbox SET status = 'cancelled' WHERE case_id = ANY($1) AND status IN ('queued', 'held')")
        .bind(&family)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE consents SET quote = NULL WHERE case_id = ANY($1)")
        .bind(&family)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "UPDATE exceptions SET detail = 'erased',
                resolved_at = coalesce(resolved_at, now()), resolved_by = coalesce(resolved_by, $2)
         WHERE case_id = ANY($1)",
    )
    .bind(&family)
    .bind(actor.as_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE events SET detail = (SELECT coalesce(jsonb_object_agg(k, v), '{}'::jsonb)
                                     FROM jsonb_each(detail) AS d(k, v) WHERE k = ANY($2))
         WHERE case_id = ANY($1)",
    )
    .bind(&family)
    .bind(KEPT_EVENT_KEYS)
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "UPDATE cases SET worker_name = NULL, revocation_date = NULL, deadline = NULL,
                asked = '{}'::jsonb, safeguarding_hold = false, updated_at = now(),
                state = CASE WHEN state = 'merged' THEN state ELSE 'erased' END,
                closed_at = coalesce(closed_at, now())
         WHERE id = ANY($1)",
    )
    .bind(&family)
    .execute(&mut *tx)
    .await?;
    events::insert(
        &mut tx,
        Some(case_id),
        None,
        actor,
        "state_changed",
        &json!({ "from": state, "to": "erased" }),
    )
    .await?;
    let what = serde_json::to_value(&erased)?;
    events::insert(
        &mut tx,
        Some(case_id),
        None,
        actor,
        "case_erased",
        &json!({}),
    )
    .await?;
    sqlx::query(
        "INSERT INTO erasures (case_id, reference, erased_by, what) VALUES ($1, $2, $3, $4)",
    )
    .bind(case_id)
    .bind(&reference)
    .bind(actor.as_string())
    .bind(what)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    tracing::info!(case = %reference, "erased");
    Ok(erased)
}

/// Deletes every message with one of these Message-IDs from the folders the mailbox uses
/// (the inbox, the processed folder and the sent folder). Returns how many were removed.
async fn erase_on_server(
    imap: &crate::config::ImapConfig,
    message_ids: &[String],
) -> anyhow::Result<usize> {
    if message_ids.is_empty() {
        return Ok(0);
    }
    let mut connection = Connection::open(imap).await?;
    let mut folders = vec![imap.folder.clone(), imap.processed_folder.clone()];
    folders.extend(imap.sent_folder.clone());
    folders.dedup();
    let mut removed = 0;
    for folder in folders {
        // A folder the mailbox never made (no moves, no sent copies) holds nothing.
        if connection.select(&folder).await.is_err() {
            continue;
        }
        let mut uids = Vec::new();
        for id in message_ids {
            uids.extend(connection.search_message_id(&format!("<{id}>")).await?);
        }
        uids.sort_unstable();
        uids.dedup();
        connection.delete(&uids).await?;
        removed += uids.len();
    }
    connection.logout().await;
    Ok(removed)
}

/// A closed case whose retention time is over.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Due {
    pub id: i64,
    pub reference: String,
    pub state: String,
    pub closed_at: DateTime<Utc>,
}

/// The mailbox's closed cases closed more than `days` days before `now` (none when `days`
/// is 0: retention off), oldest first.
pub async fn due_for_erasure(app: &App, days: u32, now: DateTime<Utc>) -> anyhow::Result<Vec<Due>> {
    if days == 0 {
        return Ok(Vec::new());
    }
    Ok(sqlx::query_as(
        "SELECT id, reference, state, closed_at FROM cases
         WHERE mailbox = $1 AND closed_at < $2
           AND state IN ('closed_employed', 'closed_nfa', 'closed_referred_region', 'closed_no_consent', 'withdrawn')
         ORDER BY closed_at, id",
    )
    .bind(&app.mailbox.id)
    .bind(now - chrono::Duration::days(i64::from(days)))
    .fetch_all(&app.pool)
    .await?)
}

/// Erases every case due; a case that cannot be erased now (its server down, a concern
/// open) is logged and tried again next time. Returns the erased references.
pub async fn apply_retention(
    app: &App,
    days: u32,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let mut done = Vec::new();
    for due in due_for_erasure(app, days, now).await? {
        match erase(app, due.id, &Actor::Retention).await {
            Ok(erased) => done.push(erased.reference),
            Err(error) => {
                tracing::warn!(case = %due.reference, error = %format!("{error:#}"), "retention could not erase the case");
            }
        }
    }
    Ok(done)
}
