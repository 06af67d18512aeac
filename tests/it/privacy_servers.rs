//! Data protection with the real daemon on the real mail servers (`scripts/mailstack`):
//! erasure removes the person's raw emails from Dovecot too (the processed folder and the
//! sent copies), and no name, address, phone number or postcode of a worker ever reaches
//! the daemon's log, at the default level or at debug.

use std::process::{Command, Stdio};
use std::time::Duration;

use sqlx::PgPool;

use crate::harness::{database_url, project_dir};
use crate::mail_servers::{
    Setup, from_mailbox, header, one_at_a_time, stack, wait_for, worker_email,
};

/// Every file of one folder of a user's Maildir (`""` is the inbox).
fn folder(setup_stack: &crate::mail_servers::Stack, address: &str, name: &str) -> Vec<String> {
    let root = setup_stack.maildir(address);
    let dir = if name.is_empty() {
        root
    } else {
        root.join(format!(".{name}"))
    };
    let mut texts = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            for entry in entries.flatten() {
                if let Ok(raw) = std::fs::read(entry.path()) {
                    texts.push(String::from_utf8_lossy(&raw).into_owned());
                }
            }
        }
    }
    texts
}

/// A worker's first email and her YES with the details, answered by the running daemon,
/// until her referral is in the council lead's mailbox.
async fn converse(setup: &Setup, worker: &str, name: &str, details: &str, lead: &str) {
    let stack = stack();
    let id = format!("first.{}.{}", worker.split('@').next().unwrap(), setup.tag);
    let first = worker_email(
        &format!("{name} <{worker}>"),
        &setup.bot,
        &id,
        "My sponsor's licence was revoked and I need a new sponsor. Please help me.",
    );
    stack.smtp(worker, &setup.bot, &first).await;
    wait_for(
        setup,
        Duration::from_secs(60),
        "the consent request",
        || async { !from_mailbox(&stack.inbox(worker), &setup.bot).is_empty() },
    )
    .await;
    let ours = stack.inbox(worker).into_iter().next().unwrap();
    let subject = header(&ours, "Subject").unwrap();
    let parent = header(&ours, "Message-ID").unwrap();
    let yes = format!(
        "From: {name} <{worker}>\r\nTo: {bot}\r\nSubject: Re: {subject}\r\nDate: Mon, 23 Nov 2026 09:20:00 +0000\r\n\
         Message-ID: <yes.{id}@mail.example.test>\r\nIn-Reply-To: {parent}\r\nReferences: {parent}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n\
         Yes, I agree to share my details. {details}\r\n",
        bot = setup.bot,
    );
    stack.smtp(worker, &setup.bot, yes.as_bytes()).await;
    let before = stack.inbox(lead).len();
    wait_for(setup, Duration::from_secs(60), "the referral", || async {
        stack.inbox(lead).len() > before
    })
    .await;
}

#[sqlx::test]
async fn erasure_removes_the_raw_emails_from_the_imap_server_too(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let db = database_url(&pool).await;
    let setup = Setup::new("erase", db.clone());
    let stack = stack();
    setup.configure(
        "idle_minutes = 5",
        "idle_minutes = 5\nafter = \"move\"\nsent_folder = \"Sent\"",
    );
    let lead = format!("ir.lead.{}@walsall.example.gov.uk", setup.tag);
    stack.add_user(&lead);
    let (priya, joseph) = (setup.worker(1), setup.worker(2));
    let daemon = setup.start(0);
    converse(
        &setup,
        &priya,
        "Priya Nair",
        "I live in Walsall WS1 3AB.",
        &lead,
    )
    .await;
    converse(
        &setup,
        &joseph,
        "Joseph Mensah",
        "I live in Walsall WS2 8AA.",
        &lead,
    )
    .await;
    wait_for(
        &setup,
        Duration::from_secs(30),
        "the sent copies",
        || async { folder(stack, &setup.bot, "Sent").len() >= 6 },
    )
    .await;
    assert_eq!(daemon.stop(), Some(0), "{}", setup.logs());
    let holds = |texts: &[String], who: &str| texts.iter().filter(|t| t.contains(who)).count();
    let processed = folder(stack, &setup.bot, "Processed");
    assert_eq!(
        holds(&processed, &priya),
        2,
        "her two emails were moved there"
    );
    assert!(holds(&folder(stack, &setup.bot, "Sent"), &priya) >= 3);

    let reference: String = sqlx::query_scalar(
        "SELECT c.reference FROM cases c JOIN case_addresses a ON a.case_id = c.id WHERE a.address = $1",
    )
    .bind(&priya)
    .fetch_one(&pool)
    .await
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args(["--config", setup.config.to_str().unwrap()])
        .args(["gdpr", "erase", &reference, "--by", "dpo"])
        .current_dir(project_dir())
        .env("RM_DATABASE_URL", &db)
        .env("RM_MAILBOXES__WEST_MIDLANDS__IMAP__PASSWORD", "secret")
        .env("RM_MAILBOXES__WEST_MIDLANDS__SMTP__PASSWORD", "secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("copies removed from the IMAP server"),
        "{printed}"
    );

    for name in ["", "Processed", "Sent"] {
        let texts = folder(stack, &setup.bot, name);
        assert_eq!(holds(&texts, &priya), 0, "nothing of hers left in {name:?}");
        assert_eq!(
            holds(&texts, "Priya"),
            0,
            "nothing of hers left in {name:?}"
        );
    }
    assert_eq!(
        holds(&folder(stack, &setup.bot, "Processed"), &joseph),
        2,
        "the other worker's emails stay"
    );
    let what: serde_json::Value = sqlx::query_scalar("SELECT what FROM erasures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(what["imap_copies"].as_u64().unwrap() >= 5, "{what}");
    let raw_left: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages m JOIN cases c ON c.id = m.case_id WHERE c.reference = $1 AND length(m.raw) > 0",
    )
    .bind(&reference)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(raw_left, 0);
}

#[sqlx::test]
async fn no_name_address_phone_or_postcode_of_a_worker_reaches_the_daemon_log(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let db = database_url(&pool).await;
    let setup = Setup::new("pii", db.clone());
    let stack = stack();
    let lead = format!("ir.lead.{}@walsall.example.gov.uk", setup.tag);
    stack.add_user(&lead);
    let dudley = format!("adult.safeguarding.{}@dudley.example.gov.uk", setup.tag);
    stack.add_user(&dudley);
    let (first, second) = (setup.worker(1), setup.worker(2));
    // The default level, then everything the program itself says at debug.
    for (n, level) in [(0, "info"), (1, "debug")] {
        let worker = if n == 0 { &first } else { &second };
        let daemon = Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
            .args(["--config", setup.config.to_str().unwrap(), "run"])
            .current_dir(project_dir())
            .env("RM_DATABASE_URL", &db)
            .env("RM_MAILBOXES__WEST_MIDLANDS__IMAP__PASSWORD", "secret")
            .env("RM_MAILBOXES__WEST_MIDLANDS__SMTP__PASSWORD", "secret")
            .env("RUST_LOG", level)
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(setup.dir.join(format!("daemon-{n}.log"))).unwrap())
            .stderr(std::fs::File::create(setup.dir.join(format!("daemon-{n}.err"))).unwrap())
            .spawn()
            .unwrap();
        let daemon = crate::mail_servers::Daemon::from_child(daemon);
        let name = if n == 0 {
            "Olusegun Adebayo"
        } else {
            "Chiamaka Okonkwo-Reid"
        };
        let details = if n == 0 {
            "I live in Walsall WS10 8QJ. My phone is 07700 900876."
        } else {
            "I live in Walsall WS1 3AB, 12 Bridge Street. My phone is 07700 900913."
        };
        converse(&setup, worker, name, details, &lead).await;
        // A safeguarding disclosure and an email that cannot be read, for the other paths.
        let danger = worker_email(
            &format!("{name} <{worker}>"),
            &setup.bot,
            &format!("danger.{n}.{}", setup.tag),
            "My employer took my passport and has not paid my wages. I live in Dudley DY1 1AA.",
        );
        stack.smtp(worker, &setup.bot, &danger).await;
        stack.drop_into(
            &setup.bot,
            &format!("broken{n}.eml"),
            format!("From: {name} <{worker}>\r\nSubject: 07700 900876\r\n\r\n\u{0}\u{0}")
                .as_bytes(),
        );
        wait_for(
            &setup,
            Duration::from_secs(60),
            "the last emails processed",
            || async {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM messages WHERE status IN ('processed', 'quarantined')",
                )
                .fetch_one(&pool)
                .await
                .unwrap()
                    == 4 * (n + 1)
            },
        )
        .await;
        assert_eq!(daemon.stop(), Some(0));
    }
    let mut log = String::new();
    for n in 0..2 {
        for ext in ["log", "err"] {
            log.push_str(
                &std::fs::read_to_string(setup.dir.join(format!("daemon-{n}.{ext}"))).unwrap(),
            );
        }
    }
    assert!(
        log.contains("processed") && log.contains("RM-"),
        "the log says what happened, by case reference:\n{log}"
    );
    assert!(log.contains("DEBUG"), "the second run logged at debug");
    let lower = log.to_lowercase();
    for seed in [
        "Olusegun",
        "Adebayo",
        "Chiamaka",
        "Okonkwo",
        &first,
        &second,
        "07700 900876",
        "7700900876",
        "07700 900913",
        "7700900913",
        "WS10 8QJ",
        "WS1 3AB",
        "DY1 1AA",
        "Bridge Street",
        "took my passport",
    ] {
        assert!(
            !lower.contains(&seed.to_lowercase()),
            "{seed:?} is in the daemon's log:\n{log}"
        );
    }
}
