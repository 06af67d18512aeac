//! The fetcher: one per mailbox across all instances (a Postgres advisory lock). It reads
//! the inbox over IMAP and hands each message to ingest, which stores it and commits;
//! only then is the message flagged or moved on the server. A crash in between leaves
//! the message unmarked, and the next pass finds it already stored and just marks it.
//!
//! ```text
//! connect ─► SELECT ─► checkpoint (UIDVALIDITY) ─► unprocessed UIDs ─► stored? ─► FETCH
//!    ▲                                                                      │
//!    └── backoff ◄── error          IDLE / poll ◄── mark ◄── advance ◄── ingest (commit)
//! ```

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Context;
use sqlx::{Connection as _, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::alerts;
use crate::app::App;
use crate::config::{AuthMethod, ImapConfig};
use crate::imap::{Connection, ImapError, Woken};
use crate::ingest::{self, Outcome};
use crate::store::imap as checkpoints;
use crate::store::messages::Position;

/// Messages fetched per round trip: bounded memory, steady progress.
const CHUNK: usize = 50;
/// Messages of different senders stored and processed at once. One sender's messages
/// always go one after another, in the order they arrived.
pub const INGEST_PARALLEL: usize = 4;
/// Reconnect waits double from 1 s up to this.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// XOAUTH2 sessions are renewed before their token expires.
const TOKEN_LIFETIME: Duration = Duration::from_secs(40 * 60);

/// What one pass over the inbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub fetched: usize,
    pub processed: usize,
    pub quarantined: usize,
    pub duplicates: usize,
    pub failed: usize,
    /// Stored before, marked on the server only now (a crash came between).
    pub remarked: usize,
}

/// Serves the mailbox's inbox until `shutdown`.
pub async fn run(app: App, shutdown: CancellationToken) {
    let Some(imap) = app.servers.imap.clone() else {
        return;
    };
    let mut backoff = Duration::from_secs(1);
    while !shutdown.is_cancelled() {
        let result = async {
            let mut lock = lock_mailbox(&app, &imap, &shutdown).await?;
            let Some(lock) = lock.as_mut() else {
                return Ok(()); // shut down while waiting for the lock
            };
            serve(&app, &imap, lock, &shutdown, &mut backoff).await
        }
        .await;
        if let Err(error) = result {
            report_failure(&app, &imap, &error).await;
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Holds the mailbox's advisory lock on a connection of its own: while it lives, no
/// other instance fetches this mailbox. Waits while another instance has it.
async fn lock_mailbox(
    app: &App,
    imap: &ImapConfig,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<PgConnection>> {
    let key = format!("fetch:{}:{}", app.mailbox.id, imap.folder);
    let mut waiting_logged = false;
    loop {
        let mut conn = app
            .pool
            .acquire()
            .await
            .context("connecting to Postgres for the fetch lock")?
            .detach();
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtext($1))")
            .bind(&key)
            .fetch_one(&mut conn)
            .await
            .context("taking the fetch lock")?;
        if locked {
            return Ok(Some(conn));
        }
        conn.close().await.ok();
        if !waiting_logged {
            tracing::info!(mailbox = %app.mailbox.id, "another instance fetches this mailbox; standing by");
            waiting_logged = true;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(None),
            _ = tokio::time::sleep(Duration::from_secs(imap.poll_seconds.max(1))) => {}
        }
    }
}

/// One IMAP session: sync, wait for news, sync again, until an error, shutdown or the
/// session's renewal time.
async fn serve(
    app: &App,
    imap: &ImapConfig,
    lock: &mut PgConnection,
    shutdown: &CancellationToken,
    backoff: &mut Duration,
) -> anyhow::Result<()> {
    let mut connection = Connection::open(imap).await?;
    let opened = Instant::now();
    let idle = connection.has("IDLE");
    tracing::info!(mailbox = %app.mailbox.id, idle, "connected to the inbox");
    loop {
        // The lock's connection doubles as a liveness check of Postgres.
        sqlx::query("SELECT 1")
            .execute(&mut *lock)
            .await
            .context("Postgres (the fetch lock's connection)")?;
        let pass = sync(app, imap, &mut connection).await?;
        *backoff = Duration::from_secs(1);
        if pass != Pass::default() {
            tracing::info!(
                mailbox = %app.mailbox.id,
                fetched = pass.fetched,
                processed = pass.processed,
                quarantined = pass.quarantined,
                duplicates = pass.duplicates,
                failed = pass.failed,
                remarked = pass.remarked,
                "inbox pass"
            );
        }
        if alerts::clear(app, alerts::UNREACHABLE).await? {
            tracing::info!(mailbox = %app.mailbox.id, "inbox reachable again");
        }
        if imap.auth == AuthMethod::Xoauth2 && opened.elapsed() > TOKEN_LIFETIME {
            connection.logout().await;
            return Ok(()); // reconnect with a fresh token
        }
        let woken = if idle {
            let max = Duration::from_secs(imap.idle_minutes.clamp(1, 29) * 60);
            let (back, woken) = connection.idle(max, shutdown).await?;
            connection = back;
            if woken == Woken::Renew {
                metrics::counter!("rm_imap_idle_renewals_total", "mailbox" => app.mailbox.id.clone())
                    .increment(1);
            }
            woken
        } else {
            tokio::select! {
                _ = shutdown.cancelled() => Woken::Shutdown,
                _ = tokio::time::sleep(Duration::from_secs(imap.poll_seconds.max(1))) => Woken::Renew,
            }
        };
        if woken == Woken::Shutdown {
            connection.logout().await;
            return Ok(());
        }
    }
}

/// Reconciles the folder with the database by UID: stores what is new, marks on the server
/// what is stored. Safe to run at any time, as often as wanted.
pub async fn sync(
    app: &App,
    imap: &ImapConfig,
    connection: &mut Connection,
) -> anyhow::Result<Pass> {
    let mailbox = &app.mailbox.id;
    let source = format!("imap:{}", imap.folder);
    let selected = connection.select(&imap.folder).await?;
    let mut db = app.pool.acquire().await.context("Postgres")?;
    let (checkpoint, reset) =
        checkpoints::checkpoint(&mut db, mailbox, &imap.folder, selected.uidvalidity).await?;
    if reset && checkpoint.last_uid == 0 {
        tracing::info!(mailbox = %mailbox, uidvalidity = selected.uidvalidity,
            "reading the folder from the start (new, or its UIDVALIDITY changed)");
    }
    let mut pass = Pass::default();
    let waiting = connection
        .unprocessed(imap.after, &imap.processed_flag)
        .await?;
    for chunk in waiting.chunks(CHUNK) {
        let stored =
            checkpoints::stored_uids(&mut db, mailbox, &source, selected.uidvalidity, chunk)
                .await?;
        let new: Vec<u32> = chunk
            .iter()
            .copied()
            .filter(|u| !stored.contains(u))
            .collect();
        let mut done: Vec<u32> = stored.clone();
        pass.remarked += stored.len();
        let fetched = connection.fetch(&new).await?;
        pass.fetched += fetched.len();
        metrics::counter!("rm_messages_fetched_total", "mailbox" => mailbox.clone())
            .increment(fetched.len() as u64);
        let mut failure = None;
        for (uid, outcome) in ingest_by_sender(app, &source, selected.uidvalidity, fetched).await {
            match outcome {
                Ok(outcome) => {
                    count(&mut pass, &outcome, mailbox);
                    done.push(uid);
                }
                // Postgres itself: the message stays unmarked, read again next pass.
                Err(error) => failure = Some(error),
            }
        }
        // The checkpoint only moves past a run of stored messages, never past a gap.
        let first_gap = new.iter().find(|u| !done.contains(u)).copied();
        if let Some(last) = done
            .iter()
            .copied()
            .filter(|u| first_gap.is_none_or(|gap| *u < gap))
            .max()
        {
            checkpoints::advance(&mut db, mailbox, &imap.folder, last).await?;
        }
        // Only after the commit: a crash before this line re-reads, finds it stored.
        connection
            .mark(
                &done,
                imap.after,
                &imap.processed_flag,
                &imap.processed_folder,
            )
            .await?;
        if let Some(error) = failure {
            return Err(error);
        }
    }
    checkpoints::record_ok(&mut db, mailbox, &imap.folder).await?;
    Ok(pass)
}

/// Stores and processes fetched messages, up to [`INGEST_PARALLEL`] senders at once and
/// each sender's messages in order. Returns each message's outcome.
async fn ingest_by_sender(
    app: &App,
    source: &str,
    uidvalidity: u32,
    fetched: Vec<(u32, Vec<u8>)>,
) -> Vec<(u32, anyhow::Result<Outcome>)> {
    use futures::StreamExt;
    // Senders in order of their first message, so the oldest mail starts first.
    let mut senders: Vec<Vec<(u32, Vec<u8>)>> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (uid, raw) in fetched {
        let slot = *index.entry(sender_key(&raw)).or_insert_with(|| {
            senders.push(Vec::new());
            senders.len() - 1
        });
        senders[slot].push((uid, raw));
    }
    futures::stream::iter(senders)
        .map(|messages| async move {
            let mut outcomes = Vec::with_capacity(messages.len());
            for (uid, raw) in messages {
                let position = Position::Imap { uidvalidity, uid };
                let outcome = ingest::ingest(app, source, position, &raw).await;
                let failed = outcome.is_err();
                outcomes.push((uid, outcome));
                if failed {
                    // The sender's later messages wait, so they are never read first.
                    break;
                }
            }
            outcomes
        })
        .buffer_unordered(INGEST_PARALLEL)
        .flat_map(futures::stream::iter)
        .collect()
        .await
}

/// Who sent a raw message, read from its `From:` header alone (lower case, as written):
/// enough to keep one sender's messages in order. Unreadable headers share one key.
fn sender_key(raw: &[u8]) -> String {
    let head = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n"))
        .map_or(raw, |end| &raw[..end]);
    let text = String::from_utf8_lossy(head);
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line
            .get(..5)
            .is_some_and(|name| name.eq_ignore_ascii_case("from:"))
        {
            let mut value = line[5..].to_string();
            // A folded header continues on lines that start with white space.
            while lines.peek().is_some_and(|l| l.starts_with([' ', '\t'])) {
                value.push_str(lines.next().unwrap_or_default());
            }
            let address = match (value.rfind('<'), value.rfind('>')) {
                (Some(start), Some(end)) if start < end => &value[start + 1..end],
                _ => value.as_str(),
            };
            return address.trim().to_lowercase();
        }
    }
    String::new()
}

fn count(pass: &mut Pass, outcome: &Outcome, mailbox: &str) {
    let label = match outcome {
        Outcome::Processed { .. } => {
            pass.processed += 1;
            "processed"
        }
        Outcome::Quarantined { .. } => {
            pass.quarantined += 1;
            "quarantined"
        }
        Outcome::Duplicate => {
            pass.duplicates += 1;
            "duplicate"
        }
        // Stored; the retry worker tries it again, then quarantines it.
        Outcome::Failed { .. } => {
            pass.failed += 1;
            "failed"
        }
    };
    metrics::counter!("rm_messages_ingested_total", "mailbox" => mailbox.to_string(), "outcome" => label)
        .increment(1);
}

/// Records the failure, and alerts staff when the inbox has been out of reach too long.
async fn report_failure(app: &App, imap: &ImapConfig, error: &anyhow::Error) {
    // The servers' words only: an error chain never holds message content.
    let text = format!("{error:#}");
    let Some(imap_error) = error.downcast_ref::<ImapError>() else {
        tracing::warn!(mailbox = %app.mailbox.id, error = %text, "fetching stopped (Postgres?); retrying");
        return;
    };
    let refused = matches!(imap_error, ImapError::Auth(_));
    tracing::warn!(mailbox = %app.mailbox.id, refused, error = %text, "inbox unavailable; retrying");
    metrics::counter!("rm_imap_failures_total", "mailbox" => app.mailbox.id.clone()).increment(1);
    let since = async {
        let mut db = app.pool.acquire().await?;
        anyhow::Ok(
            checkpoints::record_failure(&mut db, &app.mailbox.id, &imap.folder, &text).await?,
        )
    }
    .await;
    let Ok(since) = since else {
        return; // Postgres is down too; nothing can be recorded or queued now
    };
    let limit = chrono::Duration::minutes(app.alerts.unreachable_minutes as i64);
    if chrono::Utc::now() - since < limit {
        return;
    }
    let title = if refused {
        "The inbox refuses the mailbox's login"
    } else {
        "The inbox cannot be reached"
    };
    let detail = format!(
        "Since {} the {} account on {} has failed: {text}",
        since.format("%d %b %Y %H:%M UTC"),
        imap.username,
        imap.host
    );
    if let Err(error) = alerts::raise(app, alerts::UNREACHABLE, title, &detail).await {
        tracing::error!(error = %format!("{error:#}"), "raising the inbox alert");
    }
}

#[cfg(test)]
mod tests {
    use super::sender_key;

    #[test]
    fn a_senders_messages_are_known_by_the_address_in_their_from_header() {
        let cases: [(&[u8], &str); 5] = [
            (
                b"From: Priya Nair <Priya@Gmail.example>\r\nSubject: x\r\n\r\nFrom: not me",
                "priya@gmail.example",
            ),
            (
                b"Subject: x\r\nfrom: joe@example.test\r\n\r\nbody",
                "joe@example.test",
            ),
            (
                b"From: \"Nair, Priya\"\r\n <priya@gmail.example>\r\n\r\n",
                "priya@gmail.example",
            ),
            (b"Subject: no sender\r\n\r\nFrom: body@example.test", ""),
            (b"\xff\xfe garbage", ""),
        ];
        for (raw, key) in cases {
            assert_eq!(sender_key(raw), key, "{}", String::from_utf8_lossy(raw));
        }
    }
}
