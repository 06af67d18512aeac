//! The whole product under load on the real stack (Dovecot, Postfix and Postgres on
//! loopback, the release binary as the daemon): a burst of N worker emails already in the
//! inbox, drained and answered; then a trickle of single emails timed from SMTP acceptance
//! to our reply in the worker's own mailbox. Optionally on a database already holding a
//! history of synthetic cases, to show lookups do not grow with history.
//!
//! Needs root (it starts the mail servers). Run it through `scripts/bench-burst`, which
//! sets `BENCH_BURST=1`; a plain `cargo bench` skips it.
//!
//! `--messages N` (10000) `--trickle K` (100) `--history H` (0) `--keep-db`
//!
//! `--write-emails DIR` only writes the burst's N emails into DIR as `.eml` files (no
//! servers, no root), so a peer can be fed exactly the same mail (`scripts/bench-peer-rt`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Tokio1Executor};
use sqlx::PgPool;

const IMAP_PORT: u16 = 10143;
const SMTP_PORT: u16 = 10025;
const BOT: &str = "bench.bot@wm.example.test";

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

struct Options {
    messages: usize,
    trickle: usize,
    history: u64,
    keep_db: bool,
    write_emails: Option<PathBuf>,
}

fn options() -> Options {
    let mut options = Options {
        messages: 10_000,
        trickle: 100,
        history: 0,
        keep_db: false,
        write_emails: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut number = || {
            args.next()
                .and_then(|n| n.replace('_', "").parse::<u64>().ok())
        };
        match arg.as_str() {
            "--messages" => options.messages = number().unwrap_or(10_000) as usize,
            "--trickle" => options.trickle = number().unwrap_or(100) as usize,
            "--history" => options.history = number().unwrap_or(0),
            "--keep-db" => options.keep_db = true,
            "--write-emails" => options.write_emails = args.next().map(PathBuf::from),
            _ => {} // cargo's own --bench
        }
    }
    options
}

fn mailstack(args: &[&str]) -> BTreeMap<String, String> {
    let output = Command::new(project().join("scripts/mailstack"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/mailstack runs");
    assert!(
        output.status.success(),
        "scripts/mailstack {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn maildir(stack: &Path, address: &str) -> PathBuf {
    let (local, domain) = address.split_once('@').unwrap();
    stack.join("mail").join(domain).join(local).join("Maildir")
}

/// A small deterministic generator: the same run gives the same emails.
struct Dice(u64);

impl Dice {
    fn pick<'a>(&mut self, options: &[&'a str]) -> &'a str {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        options[(self.0 >> 33) as usize % options.len()]
    }
}

const NAMES: [&str; 12] = [
    "Priya Nair",
    "Joseph Mensah",
    "Amina Bello",
    "Grace Okafor",
    "Maria Santos",
    "Ravi Kumar",
    "Tafadzwa Moyo",
    "Ana Reyes",
    "Chinedu Eze",
    "Fatima Sheikh",
    "Blessing Adeyemi",
    "Liza Dela Cruz",
];
const PLACES: [&str; 12] = [
    "Walsall WS1 3AB",
    "Dudley DY1 1AA",
    "Coventry CV1 2AA",
    "Wolverhampton WV1 1AA",
    "Birmingham B23 6TH",
    "Telford TF3 4NB",
    "Stoke-on-Trent ST4 2RU",
    "Hereford HR1 2AA",
    "Manchester M14 5RT",
    "Leeds LS6 1AN",
    "Sandwell B70 9LD",
    "Solihull B91 3QB",
];
const OPENINGS: [&str; 6] = [
    "I got an email from the Home Office. The sponsor licence of my employer was revoked and I have 60 days to find a new sponsor.",
    "My sponsor's licence has been revoked and UKVI told me to contact you. I am a senior carer.",
    "Good morning, my company lost its licence last week. I need help finding a new sponsor please.",
    "Hello, I am a care worker on a Health and Care Worker visa. My employer's licence was revoked on 3 November.",
    "Dear Sir/Madam, I was told to email this mailbox because my sponsor can no longer sponsor me.",
    "Please help me. The Home Office revoked my sponsor licence and I do not know what to do.",
];
const DETAILS: [&str; 6] = [
    "I don't have a UK driving licence.",
    "I have a full UK driving licence and a car.",
    "I can drive but only have my Indian licence.",
    "I have a provisional licence.",
    "I do not have a car.",
    "",
];

fn worker_email(n: usize, from: &str, dice: &mut Dice) -> Vec<u8> {
    let name = dice.pick(&NAMES);
    let place = dice.pick(&PLACES);
    let opening = dice.pick(&OPENINGS);
    let detail = dice.pick(&DETAILS);
    let phone = format!("07700 9{:05}", n % 100_000);
    format!(
        "From: {name} <{from}>\r\nTo: {BOT}\r\nSubject: Help please - sponsor licence revoked\r\n\
         Date: Mon, 23 Nov 2026 09:12:42 +0000\r\nMessage-ID: <burst.{n}.{}@mail.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n\
         {opening}\r\nI live in {place}. My phone is {phone}. {detail}\r\n\r\nThank you,\r\n{name}\r\n",
        std::process::id()
    )
    .into_bytes()
}

/// The burst's emails, the same on every run.
fn burst(messages: usize, dice: &mut Dice) -> impl Iterator<Item = Vec<u8>> + '_ {
    // Replies to the burst go to a domain Postfix accepts and drops.
    (0..messages).map(|n| worker_email(n, &format!("worker{n}@discard.example.test"), dice))
}

fn write_emails(dir: &Path, messages: usize) {
    std::fs::create_dir_all(dir).expect("the email folder can be made");
    for (n, raw) in burst(messages, &mut Dice(7)).enumerate() {
        std::fs::write(dir.join(format!("{n:06}.eml")), raw).expect("an email is written");
    }
    println!("burst: {messages} emails written to {}", dir.display());
}

/// Rows in the tables a message touches.
async fn rows(pool: &PgPool) -> BTreeMap<&'static str, i64> {
    let mut counts = BTreeMap::new();
    for (table, sql) in [
        ("messages", "SELECT count(*) FROM messages"),
        ("cases", "SELECT count(*) FROM cases"),
        ("case_addresses", "SELECT count(*) FROM case_addresses"),
        ("facts", "SELECT count(*) FROM facts"),
        ("consents", "SELECT count(*) FROM consents"),
        ("outbox", "SELECT count(*) FROM outbox"),
        ("referrals", "SELECT count(*) FROM referrals"),
        ("disclosures", "SELECT count(*) FROM disclosures"),
        ("exceptions", "SELECT count(*) FROM exceptions"),
        ("events", "SELECT count(*) FROM events"),
    ] {
        counts.insert(
            table,
            sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        );
    }
    counts
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

/// `history` synthetic cases as the mailbox would have left them: closed or referred (so no
/// timer fires), each with its address, message, facts, consent, emails and history.
async fn load_history(pool: &PgPool, history: u64) {
    let sql = format!(
        "INSERT INTO cases (id, reference, mailbox, state, worker_name, council, region, route, readiness,
                            consent, created_at, updated_at, last_inbound_at, last_outbound_at, closed_at)
         SELECT g, 'RM-' || lpad(g::text, 7, '0'), 'west_midlands',
                (ARRAY['closed_nfa', 'closed_employed', 'referred_la', 'referred_region', 'closed_referred_region'])[1 + g % 5],
                'History Worker ' || g, (ARRAY['Walsall', 'Dudley', 'Coventry', 'Birmingham'])[1 + g % 4],
                'West Midlands', 'la:Walsall', 'not_ready', 'given', t, t, t, t,
                CASE WHEN g % 5 IN (0, 1, 4) THEN t END
         FROM generate_series(1, {history}) g, LATERAL (SELECT now() - (g % 700) * interval '1 day' - interval '1 day' AS t) x;
         SELECT setval(pg_get_serial_sequence('cases', 'id'), {history});
         INSERT INTO case_addresses (case_id, address, added_at)
         SELECT g, 'history.worker' || g || '@gmail.example', now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g;
         INSERT INTO messages (mailbox, source, uidvalidity, uid, message_id, sha256, raw, status, kind,
                               from_address, subject, case_id, received_at, processed_at)
         SELECT 'west_midlands', 'imap:INBOX', 1, g, 'history.' || g || '@mail.example.test',
                sha256(convert_to(g::text, 'UTF8')), convert_to('From: history\r\n\r\nI need a new sponsor.', 'UTF8'),
                'processed', 'support_request', 'history.worker' || g || '@gmail.example',
                'Help please', g, now() - (g % 700) * interval '1 day', now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g;
         INSERT INTO facts (case_id, field, value, quote, confidence, recorded_at)
         SELECT g, f, CASE f WHEN 'council' THEN 'Walsall' ELSE '+447700' || lpad((g % 1000000)::text, 6, '0') END,
                'I live in Walsall', 0.9, now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g, unnest(ARRAY['council', 'phone']) f;
         INSERT INTO consents (case_id, status, wording_version, quote, recorded_at)
         SELECT g, 'given', 'consent_request@history', 'yes', now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g WHERE g % 2 = 0;
         INSERT INTO outbox (mailbox, case_id, kind, template_version, message_id, recipients, subject, raw,
                             automatic, status, attempts, created_at, sent_at)
         SELECT 'west_midlands', g, 'consent_request', 'consent_request@history',
                'consent-RM-' || lpad(g::text, 7, '0') || '.h' || g || '@wm.example.test',
                ARRAY['history.worker' || g || '@gmail.example'], 'Consent needed',
                convert_to('Subject: Consent needed\r\n\r\nPlease reply YES.', 'UTF8'), true, 'sent', 1,
                now() - (g % 700) * interval '1 day', now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g;
         INSERT INTO referrals (case_id, target_kind, target, recipient, created_at)
         SELECT g, 'council', 'Walsall', 'ir.lead@walsall.example.gov.uk', now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g WHERE g % 3 = 0;
         INSERT INTO disclosures (case_id, recipient, fields, purpose, disclosed_at)
         SELECT g, 'ir.lead@walsall.example.gov.uk', ARRAY['name', 'email', 'phone'], 'referral to Walsall (council)',
                now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g WHERE g % 3 = 0;
         INSERT INTO events (case_id, actor, action, detail, created_at)
         SELECT g, 'bot', a, '{{}}'::jsonb, now() - (g % 700) * interval '1 day'
         FROM generate_series(1, {history}) g, unnest(ARRAY['case_opened', 'message_received', 'state_changed']) a;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
        .execute(pool)
        .await
        .expect("the history loads");
    // A history that has lived in production has been vacuumed (its rows' hint bits set,
    // its pages all-visible) and written out by checkpoints long ago; a fresh bulk load
    // has not, and the burst would pay for that instead of for its own work.
    sqlx::raw_sql("VACUUM (ANALYZE)")
        .execute(pool)
        .await
        .expect("the history is vacuumed");
}

/// `server` with a database: a URL may end in parameters, such as a Unix socket's
/// `?host=/var/run/postgresql`, and the database goes before them.
fn database_url(server: &str, database: &str) -> String {
    match server.split_once('?') {
        Some((base, parameters)) => format!("{base}/{database}?{parameters}"),
        None => format!("{server}/{database}"),
    }
}

fn daemon(config: &Path, database_url: &str, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args(["--config", config.to_str().unwrap(), "run"])
        .current_dir(project())
        .env("RM_DATABASE_URL", database_url)
        .env("RM_MAILBOXES__WEST_MIDLANDS__IMAP__PASSWORD", "secret")
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .expect("the daemon starts")
}

/// CPU time a process has used (user and system), in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|t| t.parse::<f64>().ok()))
        .sum();
    ticks / 100.0 // USER_HZ, 100 on Linux
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let options = options();
    if let Some(dir) = &options.write_emails {
        write_emails(dir, options.messages);
        return;
    }
    if std::env::var_os("BENCH_BURST").is_none() {
        println!("burst: skipped (it starts Dovecot and Postfix as root): run scripts/bench-burst");
        return;
    }
    let stack = PathBuf::from(&mailstack(&["start"])["RM_MAILSTACK_DIR"]);
    mailstack(&["add-user", BOT]);
    // The trickle's workers, made long before they are written to: Dovecot reads its
    // user file again at most once a second.
    let trickle_workers: Vec<String> = (0..options.trickle)
        .map(|k| format!("trickle{k}.{}@example.test", std::process::id()))
        .collect();
    for worker in &trickle_workers {
        mailstack(&["add-user", worker]);
    }
    let scratch = project().join("target/bench-burst");
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();

    // A database of its own, empty or with a history.
    let server = std::env::var("BENCH_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let database = format!("rm_bench_{}", options.history);
    let admin = PgPool::connect(&database_url(&server, "postgres"))
        .await
        .unwrap();
    // Two statements: neither may run inside the transaction a multi-statement query is.
    for sql in [
        format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"),
        format!("CREATE DATABASE {database}"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    let database_url = database_url(&server, &database);
    let pool = regional_mailbox::store::connect(&database_url, 4)
        .await
        .unwrap();
    if options.history > 0 {
        let started = Instant::now();
        load_history(&pool, options.history).await;
        println!(
            "history: {} synthetic cases loaded and vacuumed in {:.0} s",
            options.history,
            started.elapsed().as_secs_f64()
        );
    }
    let before = rows(&pool).await;
    // Both runs start with nothing dirty in Postgres' buffers.
    sqlx::raw_sql("CHECKPOINT").execute(&pool).await.unwrap();

    // The bot's inbox gets the burst as files, as a delivery agent writes them.
    let inbox = maildir(&stack, BOT);
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(inbox.join(sub)).unwrap().flatten() {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let _ = std::fs::remove_dir_all(inbox.join(".Processed"));
    for file in [
        "dovecot.index",
        "dovecot.index.cache",
        "dovecot.index.log",
        "dovecot-uidlist",
    ] {
        let _ = std::fs::remove_file(inbox.join(file));
    }
    let mut dice = Dice(7);
    let written = Instant::now();
    for (n, raw) in burst(options.messages, &mut dice).enumerate() {
        let name = format!("{n}.burst.eml");
        std::fs::write(inbox.join("tmp").join(&name), raw).unwrap();
        std::fs::rename(inbox.join("tmp").join(&name), inbox.join("new").join(&name)).unwrap();
    }
    let _ = Command::new("chown")
        .args(["-R", "vmail:vmail"])
        .arg(&inbox)
        .status();
    println!(
        "burst: {} emails written into the inbox in {:.1} s",
        options.messages,
        written.elapsed().as_secs_f64()
    );

    let ca = stack.join("ssl/ca.pem");
    let config = scratch.join("regional-mailbox.toml");
    std::fs::write(
        &config,
        format!(
            r#"rules_dir = "{rules}"
templates_dir = "{templates}"

[http]
listen = ""

[retention]
closed_days = 0

[mailboxes.west_midlands]
name = "West Midlands Regional Support Mailbox"
address = "{BOT}"

[mailboxes.west_midlands.imap]
host = "127.0.0.1"
port = {IMAP_PORT}
security = "starttls"
username = "{BOT}"
ca_file = "{ca}"
after = "move"

[mailboxes.west_midlands.smtp]
host = "127.0.0.1"
port = {SMTP_PORT}
security = "plain"
pool_size = 8
"#,
            rules = project().join("rules").display(),
            templates = project().join("templates").display(),
            ca = ca.display(),
        ),
    )
    .unwrap();

    // This machine's Postgres runs without autovacuum, which production has on. Do its
    // work by its default rules: analyse a table once 50 rows + 10% of it changed, vacuum
    // it once 50 rows + 20% are dead. (ANALYZE of every table every few seconds would
    // cost more than the burst's own writes, and grow with them.)
    let autovacuum = {
        let pool = pool.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                let due: Vec<(String, bool)> = sqlx::query_as(
                    "SELECT s.relname::text, s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)
                     FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
                     WHERE s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)
                        OR s.n_dead_tup > 50 + 0.2 * greatest(c.reltuples, 0)",
                )
                .fetch_all(&pool)
                .await
                .unwrap_or_default();
                for (table, dead) in due {
                    let verb = if dead { "VACUUM (ANALYZE)" } else { "ANALYZE" };
                    let sql = format!("{verb} \"{table}\"");
                    let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            }
        })
    };
    // The burst: until every email is processed and every reply accepted by SMTP.
    let started = Instant::now();
    let mut child = daemon(&config, &database_url, &scratch.join("daemon.log"));
    let pid = child.id();
    let n = options.messages as i64;
    // Counted by id past the history, so polling costs the same with or without it.
    let first_message: i64 = scalar(&pool, "SELECT coalesce(max(id), 0) FROM messages").await;
    let first_email: i64 = scalar(&pool, "SELECT coalesce(max(id), 0) FROM outbox").await;
    let count_since = |sql: &'static str, since: i64| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(sql)
                .bind(since)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let mut ingested_at = None;
    let drained_at = loop {
        // A quarter-second resolution; polling is one cheap statement, so the benchmark
        // takes little of the machine it measures.
        tokio::time::sleep(Duration::from_millis(250)).await;
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "the daemon stopped: {status}; see {}",
                scratch.join("daemon.log").display()
            );
        }
        let (processed, waiting, outbox): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM messages WHERE id > $1 AND status IN ('processed', 'quarantined')),
                    (SELECT count(*) FROM outbox WHERE id > $2 AND status = 'queued'),
                    (SELECT count(*) FROM outbox WHERE id > $2)",
        )
        .bind(first_message)
        .bind(first_email)
        .fetch_one(&pool)
        .await
        .unwrap();
        if ingested_at.is_none() && processed >= n {
            ingested_at = Some(started.elapsed());
        }
        if processed >= n && waiting == 0 && outbox >= n {
            break started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "not drained in 30 minutes: {processed} processed, {waiting} emails waiting"
        );
    };
    let ingested_at = ingested_at.unwrap_or(drained_at);
    let after = rows(&pool).await;
    let sent = count_since(
        "SELECT count(*) FROM outbox WHERE id > $1 AND status = 'sent'",
        first_email,
    )
    .await;
    let burst_rss = peak_rss_kib(pid);
    let burst_cpu = cpu_seconds(pid);

    // The trickle: one email at a time, timed to our reply in the worker's mailbox.
    let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(SMTP_PORT)
        .build();
    let mut latencies = Vec::new();
    for (k, worker) in trickle_workers.iter().enumerate() {
        let raw = worker_email(1_000_000 + k, worker, &mut dice);
        let envelope =
            Envelope::new(Some(worker.parse().unwrap()), vec![BOT.parse().unwrap()]).unwrap();
        let replies = maildir(&stack, worker).join("new");
        transport
            .send_raw(&envelope, &raw)
            .await
            .expect("Postfix accepts it");
        let accepted = Instant::now();
        loop {
            if std::fs::read_dir(&replies).map(|d| d.count()).unwrap_or(0) > 0 {
                latencies.push(accepted.elapsed().as_secs_f64());
                break;
            }
            assert!(
                accepted.elapsed() < Duration::from_secs(60),
                "no reply to trickle email {k}"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let peak_rss = peak_rss_kib(pid);
    autovacuum.abort();
    Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let _ = child.wait();

    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let per_message = |table: &str| (after[table] - before[table]) as f64 / n as f64;
    let written_rows: i64 = after.iter().map(|(t, v)| v - before[t]).sum();
    println!();
    println!("| measure | value |");
    println!("|---|---:|");
    println!("| history in the database | {} cases |", options.history);
    println!("| burst | {n} emails |");
    println!(
        "| all processed | {:.1} s ({:.0} emails/s) |",
        ingested_at.as_secs_f64(),
        n as f64 / ingested_at.as_secs_f64()
    );
    println!(
        "| all replies accepted by SMTP | {:.1} s ({sent} replies, {:.0}/s) |",
        drained_at.as_secs_f64(),
        sent as f64 / drained_at.as_secs_f64()
    );
    println!(
        "| ingest cost per email | {:.2} ms |",
        ingested_at.as_secs_f64() * 1000.0 / n as f64
    );
    println!(
        "| daemon CPU per email (burst) | {:.2} ms |",
        burst_cpu * 1000.0 / n as f64
    );
    println!(
        "| trickle, delivery to reply p50 | {:.3} s |",
        percentile(&latencies, 50.0)
    );
    println!(
        "| trickle, delivery to reply p95 | {:.3} s |",
        percentile(&latencies, 95.0)
    );
    println!(
        "| trickle, delivery to reply p99 | {:.3} s |",
        percentile(&latencies, 99.0)
    );
    println!("| trickle emails | {} |", latencies.len());
    println!(
        "| daemon peak RSS (burst / whole run) | {:.1} MiB / {:.1} MiB |",
        burst_rss as f64 / 1024.0,
        peak_rss as f64 / 1024.0
    );
    println!(
        "| Postgres rows written per email | {:.1} |",
        written_rows as f64 / (n + latencies.len() as i64) as f64
    );
    println!(
        "| of which | messages {:.1}, cases {:.1}, addresses {:.1}, facts {:.1}, outbox {:.1}, events {:.1}, exceptions {:.2} |",
        per_message("messages"),
        per_message("cases"),
        per_message("case_addresses"),
        per_message("facts"),
        per_message("outbox"),
        per_message("events"),
        per_message("exceptions")
    );
    println!(
        "\nburst-json {}",
        serde_json::json!({
            "history": options.history,
            "messages": n,
            "processed_s": ingested_at.as_secs_f64(),
            "drained_s": drained_at.as_secs_f64(),
            "ingest_ms_per_email": ingested_at.as_secs_f64() * 1000.0 / n as f64,
            "daemon_cpu_ms_per_email": burst_cpu * 1000.0 / n as f64,
            "p50_s": percentile(&latencies, 50.0),
            "p95_s": percentile(&latencies, 95.0),
            "p99_s": percentile(&latencies, 99.0),
            "peak_rss_mib": peak_rss as f64 / 1024.0,
            "rows_per_email": written_rows as f64 / (n + latencies.len() as i64) as f64,
        })
    );
    if !options.keep_db {
        pool.close().await;
        let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {database} WITH (FORCE)"
        )))
        .execute(&admin)
        .await;
    }
}
