//! The daemon (`regional-mailbox run`, the real binary) on real mail servers started by
//! `scripts/mailstack`: Dovecot IMAP with IDLE and STARTTLS, Dovecot submission relaying to
//! Postfix, Dovecot LMTP delivering into Maildirs, and a Pigeonhole Sieve vacation
//! autoresponder. Replies are counted in the recipients' own mailboxes.
//!
//! These tests stop and restart servers, so they take turns (`one_at_a_time`).

use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncTransport, Tokio1Executor};
use sqlx::PgPool;
use tokio::sync::{Mutex, MutexGuard};

use crate::harness::{copy_dir, database_url, project_dir, scratch};

const PASSWORD: &str = "secret";
const IMAP_PORT: u16 = 10143;
const SUBMISSION_PORT: u16 = 10587;
const SMTP_PORT: u16 = 10025;

pub(crate) struct Stack {
    pub dir: PathBuf,
}

/// Starts the servers once for the whole test run (installing them if needed).
pub(crate) fn stack() -> &'static Stack {
    static STACK: OnceLock<Stack> = OnceLock::new();
    STACK.get_or_init(|| {
        let output = mailstack(&["start"]);
        let settings: BTreeMap<String, String> = String::from_utf8_lossy(&output)
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Stack {
            dir: PathBuf::from(&settings["RM_MAILSTACK_DIR"]),
        }
    })
}

fn mailstack(args: &[&str]) -> Vec<u8> {
    let output = Command::new(project_dir().join("scripts/mailstack"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("scripts/mailstack runs");
    assert!(
        output.status.success(),
        "scripts/mailstack {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

pub(crate) async fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::const_new(());
    TURN.lock().await
}

impl Stack {
    pub fn add_user(&self, address: &str) {
        mailstack(&["add-user", address]);
    }

    pub fn maildir(&self, address: &str) -> PathBuf {
        let (local, domain) = address.split_once('@').unwrap();
        self.dir
            .join("mail")
            .join(domain)
            .join(local)
            .join("Maildir")
    }

    /// Drops a message straight into a user's inbox, as a delivery agent does.
    pub fn drop_into(&self, address: &str, name: &str, raw: &[u8]) {
        let maildir = self.maildir(address);
        let tmp = maildir.join("tmp").join(name);
        fs::write(&tmp, raw).unwrap();
        fs::rename(&tmp, maildir.join("new").join(name)).unwrap();
    }

    /// Every message in a user's inbox (new and seen).
    pub fn inbox(&self, address: &str) -> Vec<Vec<u8>> {
        let maildir = self.maildir(address);
        let mut messages = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(entries) = fs::read_dir(maildir.join(sub)) {
                for entry in entries.flatten() {
                    if let Ok(raw) = fs::read(entry.path()) {
                        messages.push(raw);
                    }
                }
            }
        }
        messages
    }

    /// Sends through Postfix, as another mail server would deliver to us.
    pub async fn smtp(&self, from: &str, to: &str, raw: &[u8]) {
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(SMTP_PORT)
            .build();
        let envelope =
            Envelope::new(Some(from.parse().unwrap()), vec![to.parse().unwrap()]).unwrap();
        transport
            .send_raw(&envelope, raw)
            .await
            .expect("Postfix accepts the message");
    }
}

/// Headers of one message, by lowercase name.
pub(crate) fn header(raw: &[u8], name: &str) -> Option<String> {
    let message = mail_parser::MessageParser::default().parse(raw)?;
    message
        .header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
}

pub(crate) fn from_mailbox<'a>(messages: &'a [Vec<u8>], bot: &str) -> Vec<&'a Vec<u8>> {
    messages
        .iter()
        .filter(|m| header(m, "From").is_some_and(|f| f.contains(bot)))
        .collect()
}

fn distinct_message_ids(messages: &[&Vec<u8>]) -> usize {
    let mut ids: Vec<String> = messages
        .iter()
        .filter_map(|m| header(m, "Message-ID"))
        .collect();
    ids.sort();
    ids.dedup();
    ids.len()
}

pub(crate) fn worker_email(from: &str, to: &str, id: &str, body: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Help please - sponsor licence revoked\r\n\
         Date: Mon, 23 Nov 2026 09:12:42 +0000\r\nMessage-ID: <{id}@mail.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n{}\r\n",
        body.replace('\n', "\r\n")
    )
    .into_bytes()
}

const FIRST_EMAIL: &str = "Dear Sir/Madam,\n\nI got an email from the Home Office. The sponsor licence of my \
employer was revoked and they say I have 60 days to find a new sponsor. I am a senior carer.\n\
Please can you help me.\n\nThank you";

/// A mailbox of its own for one test: the bot's address, its rules (with the council
/// directory's addresses made unique to the test), and a daemon configuration.
pub(crate) struct Setup {
    pub tag: String,
    pub bot: String,
    pub dir: PathBuf,
    pub config: PathBuf,
    database_url: String,
}

impl Setup {
    pub fn new(name: &str, database_url: String) -> Setup {
        let stack = stack();
        let tag = format!("{name}{}", std::process::id());
        let dir = scratch(&format!("mail-servers-{name}"));
        let bot = format!("bot.{tag}@wm.example.test");
        stack.add_user(&bot);
        let rules = dir.join("rules");
        copy_dir(&project_dir().join("rules"), &rules);
        let directory = fs::read_to_string(rules.join("directory.toml")).unwrap();
        let unique = regex::Regex::new(r#""([A-Za-z0-9._-]+)@"#)
            .unwrap()
            .replace_all(&directory, format!("\"$1.{tag}@"));
        fs::write(rules.join("directory.toml"), unique.as_ref()).unwrap();
        let config = dir.join("regional-mailbox.toml");
        let ca = stack.dir.join("ssl/ca.pem");
        fs::write(
            &config,
            format!(
                r#"rules_dir = "{rules}"
templates_dir = "{templates}"

[http]
listen = ""

[outbox]
first_retry_seconds = 1

[mailboxes.west_midlands]
name = "West Midlands Regional Support Mailbox"
address = "{bot}"

[mailboxes.west_midlands.imap]
host = "127.0.0.1"
port = {IMAP_PORT}
security = "starttls"
username = "{bot}"
ca_file = "{ca}"
idle_minutes = 5
poll_seconds = 2
timeout_seconds = 15

[mailboxes.west_midlands.smtp]
host = "127.0.0.1"
port = {SUBMISSION_PORT}
security = "starttls"
username = "{bot}"
ca_file = "{ca}"
timeout_seconds = 15
"#,
                rules = rules.display(),
                templates = project_dir().join("templates").display(),
                ca = ca.display(),
            ),
        )
        .unwrap();
        Setup {
            tag,
            bot,
            dir,
            config,
            database_url,
        }
    }

    /// Drops an email from `worker` into the bot's inbox, as a delivery agent would; its
    /// Message-ID is made of `name` and the test's tag.
    pub fn deliver(&self, worker: &str, name: &str, body: &str) {
        let id = format!("{name}.{}", self.tag);
        let raw = worker_email(worker, &self.bot, &id, body);
        stack().drop_into(&self.bot, &format!("{id}.eml"), &raw);
    }

    /// Changes the daemon's configuration file.
    pub fn configure(&self, from: &str, to: &str) {
        let text = fs::read_to_string(&self.config).unwrap();
        assert!(text.contains(from), "{from} is in the configuration");
        fs::write(&self.config, text.replacen(from, to, 1)).unwrap();
    }

    fn lead(&self, council: &str) -> String {
        let address = format!("ir.lead.{}@{council}.example.gov.uk", self.tag);
        stack().add_user(&address);
        address
    }

    pub fn worker(&self, n: usize) -> String {
        let address = format!("worker{n}.{}@example.test", self.tag);
        stack().add_user(&address);
        address
    }

    /// Starts `regional-mailbox run`; its log goes to `daemon-<n>.log` in the test folder.
    pub fn start(&self, n: usize) -> Daemon {
        let log = fs::File::create(self.dir.join(format!("daemon-{n}.log"))).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
            .args(["--config", self.config.to_str().unwrap(), "run"])
            .current_dir(project_dir())
            .env("RM_DATABASE_URL", &self.database_url)
            .env("RM_MAILBOXES__WEST_MIDLANDS__IMAP__PASSWORD", PASSWORD)
            .env("RM_MAILBOXES__WEST_MIDLANDS__SMTP__PASSWORD", PASSWORD)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("the daemon starts");
        Daemon { child }
    }

    pub fn logs(&self) -> String {
        let mut all = String::new();
        for n in 0..100 {
            if let Ok(text) = fs::read_to_string(self.dir.join(format!("daemon-{n}.log"))) {
                all.push_str(&format!("--- daemon-{n}.log\n{text}"));
            }
        }
        all
    }
}

pub(crate) struct Daemon {
    child: Child,
}

impl Daemon {
    /// A daemon started some other way (its own log files, its own environment).
    pub fn from_child(child: Child) -> Daemon {
        Daemon { child }
    }

    fn kill_9(mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }

    /// SIGTERM, and the exit code once it has stopped.
    pub fn stop(mut self) -> Option<i32> {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.child.kill().ok();
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

/// Waits until `check` holds, up to `limit`; panics with `what` and the daemon logs.
pub(crate) async fn wait_for<F, Fut>(setup: &Setup, limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("timed out waiting for {what}\n{}", setup.logs());
}

async fn scalar(pool: &PgPool, sql: &'static str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[sqlx::test]
async fn a_worker_is_asked_for_consent_and_referred_to_the_council_lead(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("e2e", database_url(&pool).await);
    let stack = stack();
    let worker = setup.worker(1);
    let lead = setup.lead("walsall");
    setup.configure(
        "idle_minutes = 5",
        "idle_minutes = 5\nsent_folder = \"Sent\"",
    );
    let daemon = setup.start(0);

    let started = Instant::now();
    let first = worker_email(
        &worker,
        &setup.bot,
        &format!("first.{}", setup.tag),
        FIRST_EMAIL,
    );
    stack.smtp(&worker, &setup.bot, &first).await;
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the consent request in the worker's mailbox",
        || async { !from_mailbox(&stack.inbox(&worker), &setup.bot).is_empty() },
    )
    .await;
    let to_consent = started.elapsed();
    let ours = stack.inbox(&worker).into_iter().next().unwrap();
    let subject = header(&ours, "Subject").unwrap();
    let parent = header(&ours, "Message-ID").unwrap();
    assert!(
        subject.contains("RM-"),
        "the subject carries the case reference: {subject}"
    );
    assert_eq!(
        header(&ours, "Auto-Submitted").as_deref(),
        Some("auto-replied")
    );

    let answered = Instant::now();
    let yes = format!(
        "From: {worker}\r\nTo: {bot}\r\nSubject: Re: {subject}\r\nDate: Mon, 23 Nov 2026 09:20:00 +0000\r\n\
         Message-ID: <yes.{tag}@mail.example.test>\r\nIn-Reply-To: {parent}\r\nReferences: {parent}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n\
         Yes, I agree to share my details. I live in Walsall, WS1 1AA. My phone is 07700 900123.\r\n",
        bot = setup.bot,
        tag = setup.tag,
    );
    stack.smtp(&worker, &setup.bot, yes.as_bytes()).await;
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the referral in the council lead's mailbox",
        || async { !stack.inbox(&lead).is_empty() },
    )
    .await;
    let to_referral = answered.elapsed();
    let referral = stack.inbox(&lead).into_iter().next().unwrap();
    let text = String::from_utf8_lossy(&referral);
    assert!(
        text.contains("WS1 1AA") || text.contains("Walsall"),
        "{text}"
    );
    println!(
        "mail servers: delivery to consent request {:.2} s; YES to referral in the lead's mailbox {:.2} s",
        to_consent.as_secs_f64(),
        to_referral.as_secs_f64()
    );
    assert_eq!(
        daemon.stop(),
        Some(0),
        "SIGTERM stops the daemon cleanly\n{}",
        setup.logs()
    );
    let state: String = sqlx::query_scalar("SELECT state FROM cases")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "referred_la");
    // A copy of each sent email (consent request, referral, the worker told) in Sent.
    let sent_copies: usize = ["cur", "new"]
        .iter()
        .map(|sub| {
            fs::read_dir(stack.maildir(&setup.bot).join(".Sent").join(sub))
                .map(|d| d.count())
                .unwrap_or(0)
        })
        .sum();
    assert_eq!(sent_copies, 3, "copies in the Sent folder");
    // Processed mail is flagged on the server, after the commit.
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM messages WHERE status = 'processed'"
        )
        .await,
        2
    );
}

#[sqlx::test]
async fn kill_9_during_a_burst_loses_nothing_and_answers_each_worker_once(pool: PgPool) {
    const WORKERS: usize = 300;
    const KILLS: usize = 6;
    let _turn = one_at_a_time().await;
    let setup = Setup::new("burst", database_url(&pool).await);
    let stack = stack();
    let workers: Vec<String> = (0..WORKERS).map(|n| setup.worker(n)).collect();
    // Half waits in the inbox before the first start; the rest arrives while it crashes.
    let deliver = |range: std::ops::Range<usize>| {
        for n in range {
            setup.deliver(&workers[n], &format!("burst{n}"), FIRST_EMAIL);
        }
    };
    deliver(0..WORKERS / 2);
    let started = Instant::now();
    for kill in 0..KILLS {
        let daemon = setup.start(kill);
        if kill == 2 {
            deliver(WORKERS / 2..WORKERS);
        }
        // Uneven lifetimes, so the kills land in different steps.
        tokio::time::sleep(Duration::from_millis(1200 + 700 * (kill as u64 % 3))).await;
        daemon.kill_9();
    }
    let daemon = setup.start(KILLS);
    wait_for(
        &setup,
        Duration::from_secs(300),
        "every message stored and every reply sent",
        || async {
            scalar(
                &pool,
                "SELECT count(*) FROM messages WHERE status = 'processed'",
            )
            .await
                == WORKERS as i64
                && scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'sent'").await
                    == WORKERS as i64
        },
    )
    .await;
    let elapsed = started.elapsed();
    // Give a second daemon's worth of time for anything that would arrive twice.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(daemon.stop(), Some(0));

    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM messages").await,
        WORKERS as i64,
        "each message stored once"
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM cases").await,
        WORKERS as i64
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM outbox").await,
        WORKERS as i64,
        "one reply per worker"
    );
    let mut copies = 0;
    for worker in &workers {
        let inbox = stack.inbox(worker);
        let ours = from_mailbox(&inbox, &setup.bot);
        assert_eq!(
            distinct_message_ids(&ours),
            1,
            "{worker} got exactly one reply"
        );
        copies += ours.len() - 1;
    }
    // A kill between SMTP's "250 OK" and the commit re-sends the same bytes: the same
    // Message-ID, so mail clients show one email. Each kill can cause at most one.
    assert!(
        copies <= KILLS,
        "{copies} repeated deliveries after {KILLS} kills"
    );
    // The server side: every message flagged as processed after the commit.
    let flagged = stack.inbox(&setup.bot).len();
    assert_eq!(flagged, WORKERS);
    println!(
        "mail servers: {WORKERS} messages, {KILLS} kill -9s: all stored once, {WORKERS} replies \
         ({copies} re-sent with the same Message-ID), {:.1} s",
        elapsed.as_secs_f64()
    );
}

#[sqlx::test]
async fn smtp_down_mid_run_delays_the_replies_but_loses_and_repeats_none(pool: PgPool) {
    const WORKERS: usize = 20;
    let _turn = one_at_a_time().await;
    let setup = Setup::new("smtpdown", database_url(&pool).await);
    let stack = stack();
    let workers: Vec<String> = (0..WORKERS).map(|n| setup.worker(n)).collect();
    let daemon = setup.start(0);
    mailstack(&["stop-smtp"]);
    let restart_smtp = scopeguard(|| {
        mailstack(&["start-smtp"]);
    });
    for (n, worker) in workers.iter().enumerate() {
        setup.deliver(worker, &format!("down{n}"), FIRST_EMAIL);
    }
    wait_for(
        &setup,
        Duration::from_secs(60),
        "every message processed and the sends failing",
        || async {
            scalar(
                &pool,
                "SELECT count(*) FROM messages WHERE status = 'processed'",
            )
            .await
                == WORKERS as i64
                && scalar(
                    &pool,
                    "SELECT count(*) FROM outbox WHERE attempts > 0 AND status = 'queued'",
                )
                .await
                    > 0
        },
    )
    .await;
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'sent'").await,
        0
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    drop(restart_smtp);
    wait_for(
        &setup,
        Duration::from_secs(120),
        "every reply sent once Postfix is back",
        || async {
            scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'sent'").await
                == WORKERS as i64
        },
    )
    .await;
    wait_for(
        &setup,
        Duration::from_secs(60),
        "every reply in its worker's mailbox",
        || async {
            workers
                .iter()
                .all(|w| !from_mailbox(&stack.inbox(w), &setup.bot).is_empty())
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(daemon.stop(), Some(0));
    for worker in &workers {
        let inbox = stack.inbox(worker);
        assert_eq!(
            from_mailbox(&inbox, &setup.bot).len(),
            1,
            "{worker}: one reply, no repeat"
        );
    }
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'failed'").await,
        0
    );
    let retried = scalar(&pool, "SELECT sum(attempts - 1) FROM outbox").await;
    println!("mail servers: SMTP down: {WORKERS} replies delivered after {retried} retries");
}

#[sqlx::test]
async fn an_imap_restart_resumes_from_the_checkpoint(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("imaprestart", database_url(&pool).await);
    let workers: Vec<String> = (0..10).map(|n| setup.worker(n)).collect();
    let daemon = setup.start(0);
    let deliver = |range: std::ops::Range<usize>| {
        for n in range {
            setup.deliver(&workers[n], &format!("restart{n}"), FIRST_EMAIL);
        }
    };
    deliver(0..5);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the first five processed",
        || async {
            scalar(
                &pool,
                "SELECT count(*) FROM messages WHERE status = 'processed'",
            )
            .await
                == 5
        },
    )
    .await;
    mailstack(&["restart-imap"]);
    deliver(5..10);
    wait_for(
        &setup,
        Duration::from_secs(90),
        "the next five processed after the restart",
        || async {
            scalar(
                &pool,
                "SELECT count(*) FROM messages WHERE status = 'processed'",
            )
            .await
                == 10
        },
    )
    .await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM messages").await,
        10,
        "nothing read twice"
    );
    assert_eq!(
        scalar(&pool, "SELECT max(last_uid) FROM imap_state").await,
        10
    );
    let logs = setup.logs();
    assert!(
        logs.matches("connected to the inbox").count() >= 2,
        "it reconnected:\n{logs}"
    );
}

/// Runs `f` when dropped (also when the test fails half-way).
fn scopeguard<F: FnOnce()>(f: F) -> impl Drop {
    struct Guard<F: FnOnce()>(Option<F>);
    impl<F: FnOnce()> Drop for Guard<F> {
        fn drop(&mut self) {
            if let Some(f) = self.0.take() {
                f();
            }
        }
    }
    Guard(Some(f))
}

/// A Postgres server of its own (scripts/postgres, private cluster), so that restarting it
/// disturbs no other test.
fn private_postgres() -> (String, impl Fn()) {
    let dir = std::env::temp_dir().join("rm-postgres-restart-test");
    let script = project_dir().join("scripts/postgres");
    let env = [
        ("RM_POSTGRES_DIR", dir.to_str().unwrap().to_string()),
        ("RM_POSTGRES_PORT", "54339".to_string()),
        ("RM_POSTGRES_PRIVATE", "1".to_string()),
    ];
    let run = move |arg: &str| {
        let output = Command::new(&script)
            .arg(arg)
            .envs(env.iter().cloned())
            .env_remove("RM_POSTGRES_URL")
            .output()
            .expect("scripts/postgres runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    };
    let url = run("url");
    (url, move || {
        run("restart");
    })
}

#[tokio::test]
async fn a_postgres_restart_mid_run_is_survived() {
    let _turn = one_at_a_time().await;
    let (server, restart) = private_postgres();
    let admin = PgPool::connect(&format!("{server}/postgres"))
        .await
        .unwrap();
    sqlx::query("DROP DATABASE IF EXISTS rm_restart_test WITH (FORCE)")
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let setup = Setup::new("pgrestart", format!("{server}/rm_restart_test"));
    let stack = stack();
    let workers: Vec<String> = (0..10).map(|n| setup.worker(n)).collect();
    let daemon = setup.start(0);
    let deliver = |range: std::ops::Range<usize>| {
        for n in range {
            setup.deliver(&workers[n], &format!("pg{n}"), FIRST_EMAIL);
        }
    };
    // The daemon creates and migrates its database at start-up.
    let pool = {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(pool) = PgPool::connect(&setup.database_url).await
                && sqlx::query("SELECT 1 FROM imap_state LIMIT 1")
                    .execute(&pool)
                    .await
                    .is_ok()
            {
                break pool;
            }
            assert!(
                Instant::now() < deadline,
                "the daemon did not create its database\n{}",
                setup.logs()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    deliver(0..5);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the first five answered",
        || async { scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'sent'").await == 5 },
    )
    .await;
    restart();
    deliver(5..10);
    wait_for(
        &setup,
        Duration::from_secs(120),
        "the next five answered after the restart",
        || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM outbox WHERE status = 'sent'")
                .fetch_one(&pool)
                .await
                .is_ok_and(|n| n == 10)
        },
    )
    .await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM messages WHERE status = 'processed'"
        )
        .await,
        10
    );
    for worker in &workers {
        assert_eq!(
            from_mailbox(&stack.inbox(worker), &setup.bot).len(),
            1,
            "{worker}"
        );
    }
}

#[sqlx::test]
async fn a_vacation_autoresponder_gets_no_answer_and_no_loop_starts(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("vacation", database_url(&pool).await);
    let stack = stack();
    let worker = setup.worker(1);
    mailstack(&["vacation", &worker]);
    let daemon = setup.start(0);
    // The worker writes; the bot asks for consent (Auto-Submitted, so Sieve stays quiet).
    let first = worker_email(
        &worker,
        &setup.bot,
        &format!("first.{}", setup.tag),
        FIRST_EMAIL,
    );
    stack.smtp(&worker, &setup.bot, &first).await;
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the consent request",
        || async { !from_mailbox(&stack.inbox(&worker), &setup.bot).is_empty() },
    )
    .await;
    // A member of staff writes from the mailbox by hand: that one the vacation answers.
    let by_hand = format!(
        "From: West Midlands Regional Support Mailbox <{bot}>\r\nTo: {worker}\r\nSubject: Your request\r\n\
         Date: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <staff.{tag}@wm.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\nHello, we have your request.\r\n",
        bot = setup.bot,
        tag = setup.tag
    );
    stack.smtp(&setup.bot, &worker, by_hand.as_bytes()).await;
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the vacation reply reaching the bot",
        || async { scalar(&pool, "SELECT count(*) FROM messages").await == 2 },
    )
    .await;
    // Time for any answer, and any answer to an answer.
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(daemon.stop(), Some(0));
    let kind: String = sqlx::query_scalar("SELECT kind FROM messages ORDER BY id DESC LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        kind, "auto_reply",
        "the vacation reply is recognised as automatic"
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM outbox").await,
        1,
        "only the consent request was sent"
    );
    let worker_inbox = stack.inbox(&worker);
    let automatic: Vec<_> = from_mailbox(&worker_inbox, &setup.bot)
        .into_iter()
        .filter(|m| header(m, "Auto-Submitted").is_some())
        .collect();
    assert_eq!(
        automatic.len(),
        1,
        "at most one automatic email reached the worker"
    );
    let replies_to_bot = stack
        .inbox(&setup.bot)
        .iter()
        .filter(|m| header(m, "Auto-Submitted").is_some_and(|v| v.starts_with("auto-replied")))
        .count();
    assert_eq!(replies_to_bot, 1, "the vacation answered once");
}

/// A plain HTTP/1.0 GET on loopback: the status code and the body.
async fn http_get(port: u16, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response[9..12].parse().unwrap();
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

#[sqlx::test]
async fn two_instances_share_the_work_and_serve_health_and_metrics(pool: PgPool) {
    const WORKERS: usize = 30;
    let _turn = one_at_a_time().await;
    let setup = Setup::new("twoinstances", database_url(&pool).await);
    let stack = stack();
    let workers: Vec<String> = (0..WORKERS).map(|n| setup.worker(n)).collect();
    let first = setup.start(0);
    // The second instance, started once the first has read its configuration, also serves HTTP.
    wait_for(
        &setup,
        Duration::from_secs(30),
        "the first instance running",
        || async { setup.logs().contains("running;") },
    )
    .await;
    setup.configure("listen = \"\"", "listen = \"127.0.0.1:18089\"");
    let second = setup.start(1);
    wait_for(
        &setup,
        Duration::from_secs(30),
        "the second instance serving HTTP",
        || async { setup.logs().contains("health and metrics served") },
    )
    .await;
    for (n, worker) in workers.iter().enumerate() {
        setup.deliver(worker, &format!("two{n}"), FIRST_EMAIL);
    }
    wait_for(
        &setup,
        Duration::from_secs(90),
        "every worker answered",
        || async {
            scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'sent'").await
                == WORKERS as i64
        },
    )
    .await;
    let (status, body) = http_get(18089, "/healthz").await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));
    let (status, body) = http_get(18089, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let (status, metrics) = http_get(18089, "/metrics").await;
    assert_eq!(status, 200);
    for line in [
        "rm_cases{mailbox=\"west_midlands\",state=\"awaiting_consent\"} 30",
        "rm_outbox{mailbox=\"west_midlands\",status=\"sent\"} 30",
        "rm_last_fetch_timestamp_seconds",
        "rm_exceptions_open",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(first.stop(), Some(0));
    assert_eq!(second.stop(), Some(0));
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM messages").await,
        WORKERS as i64
    );
    for worker in &workers {
        assert_eq!(
            from_mailbox(&stack.inbox(worker), &setup.bot).len(),
            1,
            "{worker}"
        );
    }
    let logs = setup.logs();
    assert!(
        logs.contains("standing by"),
        "one instance waited for the fetch lock:\n{logs}"
    );
}

#[sqlx::test]
async fn a_refused_login_alerts_staff_once_and_clears_when_fixed(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("alert", database_url(&pool).await);
    let staff = format!("staff.{}@wm.example.test", setup.tag);
    stack().add_user(&staff);
    setup.configure(
        "[outbox]",
        &format!("[alerts]\nto = [\"{staff}\"]\nunreachable_minutes = 0\nquiet_working_hours = 0\n\n[outbox]"),
    );
    // The IMAP login is wrong; SMTP still works, so the alert can go out.
    setup.configure(
        &format!("username = \"{}\"\nca_file", setup.bot),
        "username = \"nobody@wm.example.test\"\nca_file",
    );
    let daemon = setup.start(0);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the alert in the staff mailbox",
        || async { !stack().inbox(&staff).is_empty() },
    )
    .await;
    // It keeps failing, but staff hear about it once.
    tokio::time::sleep(Duration::from_secs(5)).await;
    daemon.kill_9();
    let alerts = stack().inbox(&staff);
    assert_eq!(alerts.len(), 1);
    let text = String::from_utf8_lossy(&alerts[0]);
    assert!(text.contains("refuses the mailbox's login"), "{text}");
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM exceptions WHERE reason = 'inbox_unreachable' AND resolved_at IS NULL").await,
        1
    );
    setup.configure(
        "username = \"nobody@wm.example.test\"",
        &format!("username = \"{}\"", setup.bot),
    );
    let daemon = setup.start(1);
    wait_for(&setup, Duration::from_secs(60), "the alert resolved", || async {
        scalar(&pool, "SELECT count(*) FROM exceptions WHERE reason = 'inbox_unreachable' AND resolved_at IS NULL").await == 0
    })
    .await;
    assert_eq!(daemon.stop(), Some(0));
}

#[sqlx::test]
async fn a_changed_uidvalidity_rereads_the_folder_without_duplicates(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("uidvalidity", database_url(&pool).await);
    let stack = stack();
    let workers: Vec<String> = (0..5).map(|n| setup.worker(n)).collect();
    let daemon = setup.start(0);
    for (n, worker) in workers.iter().enumerate() {
        setup.deliver(worker, &format!("uv{n}"), FIRST_EMAIL);
    }
    wait_for(&setup, Duration::from_secs(60), "five answered", || async {
        scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'sent'").await == 5
    })
    .await;
    assert_eq!(daemon.stop(), Some(0));
    let before = scalar(&pool, "SELECT uidvalidity FROM imap_state").await;

    // As if the mailbox moved to a new server: new UIDs, a new UIDVALIDITY, no flags.
    mailstack(&["stop-imap"]);
    let restart = scopeguard(|| {
        mailstack(&["start-imap"]);
    });
    let maildir = stack.maildir(&setup.bot);
    for entry in fs::read_dir(&maildir).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("dovecot") {
            fs::remove_file(entry.path()).ok();
        }
    }
    for entry in fs::read_dir(maildir.join("cur")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let bare = name.split(':').next().unwrap().to_string();
        fs::rename(entry.path(), maildir.join("new").join(bare)).unwrap();
    }
    // A new UIDVALIDITY is the time in seconds: make sure it differs.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    drop(restart);

    let daemon = setup.start(1);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the folder read again",
        || async { setup.logs().contains("duplicates=5") },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(daemon.stop(), Some(0));
    assert_ne!(
        scalar(&pool, "SELECT uidvalidity FROM imap_state").await,
        before
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM messages").await,
        5,
        "nothing stored twice"
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM outbox").await,
        5,
        "nobody answered twice"
    );
    for worker in &workers {
        assert_eq!(from_mailbox(&stack.inbox(worker), &setup.bot).len(), 1);
    }
}

#[sqlx::test]
async fn a_permanent_smtp_refusal_goes_to_staff_and_holds_later_mail(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("refused", database_url(&pool).await);
    let worker = format!("worker.{}@rejected.example.test", setup.tag);
    let daemon = setup.start(0);
    setup.deliver(&worker, "refused1", FIRST_EMAIL);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the delivery refused for good",
        || async {
            scalar(&pool, "SELECT count(*) FROM outbox WHERE status = 'failed'").await == 1
        },
    )
    .await;
    let attempts = scalar(&pool, "SELECT attempts::bigint FROM outbox").await;
    assert_eq!(attempts, 1, "a 5xx is not retried");
    assert_eq!(scalar(&pool, "SELECT count(*) FROM undeliverable").await, 1);
    // The worker writes again: the answer is held for staff, not sent to bounce again.
    let body = format!("{FIRST_EMAIL}\nDid you get my email?");
    setup.deliver(&worker, "refused2", &body);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the second message processed",
        || async {
            scalar(
                &pool,
                "SELECT count(*) FROM messages WHERE status = 'processed'",
            )
            .await
                == 2
        },
    )
    .await;
    assert_eq!(daemon.stop(), Some(0));
    assert_eq!(
        scalar(
            &pool,
            "SELECT count(*) FROM outbox WHERE status IN ('queued', 'sent')"
        )
        .await,
        0
    );
    assert!(
        scalar(
            &pool,
            "SELECT count(*) FROM exceptions WHERE reason = 'undeliverable'"
        )
        .await
            >= 1
    );
}

#[sqlx::test]
async fn xoauth2_logins_with_tokens_from_a_file_and_a_command(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let setup = Setup::new("xoauth2", database_url(&pool).await);
    let stack = stack();
    let worker = setup.worker(1);
    let token = format!("token-{}", setup.tag);
    mailstack(&["add-token", &setup.bot, &token]);
    let token_file = setup.dir.join("access-token");
    fs::write(&token_file, format!("{token}\n")).unwrap();
    // IMAP reads the token from a file, SMTP from a command (run at every login).
    setup.configure(
        "idle_minutes = 5",
        &format!(
            "idle_minutes = 5\nauth = \"xoauth2\"\noauth_file = \"{}\"",
            token_file.display()
        ),
    );
    let config = fs::read_to_string(&setup.config).unwrap();
    let smtp_at = config.find("[mailboxes.west_midlands.smtp]").unwrap();
    let (head, tail) = config.split_at(smtp_at);
    let tail = tail.replacen(
        "ca_file",
        &format!(
            "auth = \"xoauth2\"\noauth_command = \"cat {}\"\nca_file",
            token_file.display()
        ),
        1,
    );
    fs::write(&setup.config, format!("{head}{tail}")).unwrap();

    let daemon = setup.start(0);
    setup.deliver(&worker, "oauth", FIRST_EMAIL);
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the reply, sent after XOAUTH2 logins",
        || async { !from_mailbox(&stack.inbox(&worker), &setup.bot).is_empty() },
    )
    .await;
    // The token is renewed (the old one revoked): the next login reads the new one.
    let renewed = format!("renewed-{}", setup.tag);
    let tokens = stack.dir.join("oauth-tokens");
    let kept: String = fs::read_to_string(&tokens)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with(&format!("{token} ")))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(&tokens, kept).unwrap();
    mailstack(&["add-token", &setup.bot, &renewed]);
    fs::write(&token_file, format!("{renewed}\n")).unwrap();
    mailstack(&["restart-imap"]);
    let second = setup.worker(2);
    setup.deliver(&second, "oauth2", FIRST_EMAIL);
    wait_for(
        &setup,
        Duration::from_secs(90),
        "a reply after the token was renewed",
        || async { !from_mailbox(&stack.inbox(&second), &setup.bot).is_empty() },
    )
    .await;
    assert_eq!(daemon.stop(), Some(0));
    let log = fs::read_to_string(stack.dir.join("log/dovecot.log")).unwrap();
    for service in ["imap", "submission"] {
        assert!(
            log.lines().any(|l| l.contains(&format!(
                "{service}-login: Info: Login: user=<{}>",
                setup.bot
            )) && l.contains("method=XOAUTH2")),
            "{service} logged in with XOAUTH2"
        );
    }
}
