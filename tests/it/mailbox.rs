//! `TestApp`: the case system on a fresh real Postgres database (one per test, from
//! `#[sqlx::test]`), with helpers to write emails as a worker would and to read what the
//! mailbox queued and delivered.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use regional_mailbox::app::App;
use regional_mailbox::config::Config;
use regional_mailbox::domain::{CaseRef, CaseSnapshot};
use regional_mailbox::ingest::{self, Outcome};
use regional_mailbox::outbox::{self, Transport};
use regional_mailbox::pipeline::parse;
use regional_mailbox::store::cases;
use regional_mailbox::store::messages::Position;
use sqlx::PgPool;

use crate::harness::{rules, scratch, templates};

pub const MAILBOX: &str = "support@regional-mailbox.example.org";

pub struct TestApp {
    pub app: App,
    pub outbox_dir: PathBuf,
    received: AtomicUsize,
}

/// An email in the outbox, decoded.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Sent {
    pub kind: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub status: String,
    #[sqlx(skip)]
    pub body: String,
    pub raw: Vec<u8>,
}

impl Sent {
    pub fn header(&self, name: &str) -> Option<String> {
        parse::parse(&self.raw)
            .ok()?
            .header(name)
            .map(str::to_string)
    }
}

static APPS: AtomicUsize = AtomicUsize::new(0);

impl TestApp {
    pub async fn new(pool: PgPool) -> TestApp {
        let config = Config::default();
        let (id, mailbox) = config.mailbox(None).unwrap();
        let app = App::new(
            pool,
            rules().clone(),
            templates().clone(),
            &config,
            &id,
            &mailbox,
        );
        let n = APPS.fetch_add(1, Ordering::SeqCst);
        let outbox_dir = scratch(&format!("outbox-{}-{n}", std::process::id()));
        TestApp {
            app,
            outbox_dir,
            received: AtomicUsize::new(0),
        }
    }

    /// Delivers a message into the inbox and processes it.
    pub async fn receive(&self, mail: &Mail) -> Outcome {
        self.receive_raw(&mail.to_bytes()).await
    }

    pub async fn receive_raw(&self, raw: &[u8]) -> Outcome {
        let n = self.received.fetch_add(1, Ordering::SeqCst);
        self.receive_at(Position::File(format!("{n:05}.eml")), raw)
            .await
    }

    pub async fn receive_at(&self, position: Position, raw: &[u8]) -> Outcome {
        ingest::ingest(&self.app, "test:inbox", position, raw)
            .await
            .expect("ingest reaches the database")
    }

    /// Delivers every queued email into the outbox folder.
    pub async fn deliver(&self) -> usize {
        outbox::drain(&self.app, &Transport::Folder(self.outbox_dir.clone()))
            .await
            .expect("delivery")
    }

    pub async fn outbox(&self) -> Vec<Sent> {
        let rows: Vec<Sent> = sqlx::query_as(
            "SELECT kind, recipients AS \"to\", subject, message_id, status, raw FROM outbox ORDER BY id",
        )
        .fetch_all(&self.app.pool)
        .await
        .unwrap();
        rows.into_iter()
            .map(|sent| Sent {
                body: parse::parse(&sent.raw).expect("our mail parses").body,
                ..sent
            })
            .collect()
    }

    /// Outbox emails of one kind.
    pub async fn sent(&self, kind: &str) -> Vec<Sent> {
        self.outbox()
            .await
            .into_iter()
            .filter(|s| s.kind == kind)
            .collect()
    }

    /// The latest email the mailbox queued to `address`.
    pub async fn last_to(&self, address: &str) -> Sent {
        self.outbox()
            .await
            .into_iter()
            .rev()
            .find(|s| s.to.iter().any(|t| t == address))
            .unwrap_or_else(|| panic!("nothing was sent to {address}"))
    }

    pub async fn case(&self, reference: &CaseRef) -> CaseSnapshot {
        let mut conn = self.app.pool.acquire().await.unwrap();
        let id = cases::find_by_reference(&mut conn, reference)
            .await
            .unwrap()
            .expect("the case exists");
        cases::snapshot(&mut conn, id).await.unwrap().unwrap()
    }

    pub async fn only_case(&self) -> CaseSnapshot {
        let references: Vec<String> = sqlx::query_scalar("SELECT reference FROM cases ORDER BY id")
            .fetch_all(&self.app.pool)
            .await
            .unwrap();
        assert_eq!(
            references.len(),
            1,
            "expected exactly one case, got {references:?}"
        );
        self.case(&CaseRef::parse_any(&references[0]).unwrap())
            .await
    }

    pub async fn count(&self, table: &str) -> i64 {
        let sql = match table {
            "cases" => "SELECT count(*) FROM cases",
            "messages" => "SELECT count(*) FROM messages",
            "facts" => "SELECT count(*) FROM facts",
            "consents" => "SELECT count(*) FROM consents",
            "outbox" => "SELECT count(*) FROM outbox",
            "referrals" => "SELECT count(*) FROM referrals",
            "disclosures" => "SELECT count(*) FROM disclosures",
            "exceptions" => "SELECT count(*) FROM exceptions",
            "events" => "SELECT count(*) FROM events",
            other => panic!("no table {other}"),
        };
        sqlx::query_scalar(sql)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    /// Open exceptions as (reason, priority, case reference), most urgent first.
    pub async fn exceptions(&self) -> Vec<(String, i16, Option<String>)> {
        sqlx::query_as(
            "SELECT e.reason, e.priority, c.reference FROM exceptions e LEFT JOIN cases c ON c.id = e.case_id
             WHERE e.resolved_at IS NULL ORDER BY e.priority, e.id",
        )
        .fetch_all(&self.app.pool)
        .await
        .unwrap()
    }

    pub async fn events(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM events WHERE action = $1")
            .bind(action)
            .fetch_one(&self.app.pool)
            .await
            .unwrap()
    }

    /// Moves the case's clock back, as if `days` had passed since anyone wrote.
    pub async fn let_days_pass(&self, days: i64) {
        sqlx::query(
            "UPDATE cases SET last_inbound_at = last_inbound_at - make_interval(days => $1::int),
                              last_outbound_at = last_outbound_at - make_interval(days => $1::int),
                              reminder_sent_at = reminder_sent_at - make_interval(days => $1::int)",
        )
        .bind(days as i32)
        .execute(&self.app.pool)
        .await
        .unwrap();
    }
}

/// An email as someone writes it to the mailbox.
#[derive(Debug, Clone)]
pub struct Mail {
    from: String,
    name: Option<String>,
    to: String,
    subject: String,
    body: String,
    message_id: String,
    in_reply_to: Option<String>,
    references: Vec<String>,
    headers: Vec<(String, String)>,
}

static MAILS: AtomicUsize = AtomicUsize::new(0);

impl Mail {
    pub fn from(address: &str) -> Mail {
        let n = MAILS.fetch_add(1, Ordering::SeqCst);
        Mail {
            from: address.into(),
            name: None,
            to: MAILBOX.into(),
            subject: "Help please".into(),
            body: String::new(),
            message_id: format!("<test-{n}-{}@mail.example.com>", std::process::id()),
            in_reply_to: None,
            references: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn named(mut self, name: &str) -> Mail {
        self.name = Some(name.into());
        self
    }

    pub fn subject(mut self, subject: &str) -> Mail {
        self.subject = subject.into();
        self
    }

    pub fn body(mut self, body: &str) -> Mail {
        self.body = body.into();
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Mail {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// A reply to one of our emails, as a mail client writes it: "Re:" subject, threading
    /// headers, and our text quoted under the answer.
    pub fn replying_to(mut self, ours: &Sent) -> Mail {
        self.subject = format!("Re: {}", ours.subject);
        self.in_reply_to = Some(format!("<{}>", ours.message_id));
        self.references = vec![format!("<{}>", ours.message_id)];
        let quoted: Vec<String> = ours.body.lines().map(|l| format!("> {l}")).collect();
        self.body = format!(
            "{}\n\nOn Mon, 16 Nov 2026 at 09:13, Regional Support Mailbox wrote:\n{}\n",
            self.body,
            quoted.join("\n")
        );
        self
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let from = match &self.name {
            Some(name) => format!("{name} <{}>", self.from),
            None => self.from.clone(),
        };
        let mut head = format!(
            "From: {from}\r\nTo: {}\r\nSubject: {}\r\nDate: Mon, 16 Nov 2026 09:12:42 +0000\r\nMessage-ID: {}\r\n",
            self.to, self.subject, self.message_id
        );
        if let Some(parent) = &self.in_reply_to {
            head.push_str(&format!("In-Reply-To: {parent}\r\n"));
        }
        if !self.references.is_empty() {
            head.push_str(&format!("References: {}\r\n", self.references.join(" ")));
        }
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n");
        let body = self.body.replace('\n', "\r\n");
        [head.into_bytes(), body.into_bytes()].concat()
    }
}
