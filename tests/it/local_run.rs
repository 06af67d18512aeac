//! The local default from the command line, on a real Postgres: `run --once` over the
//! bundled sample conversation, the daemon picking up new files and stopping on SIGTERM,
//! `ingest` and `case show`.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::PgPool;

use crate::harness::{database_url, fixtures, project_dir, scratch};

fn regional_mailbox(database_url: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_regional-mailbox"));
    command
        .current_dir(project_dir())
        .env_remove("RM_CONFIG")
        .env("RM_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn");
    command
}

fn run(database_url: &str, args: &[&str]) -> (String, Output) {
    let output = regional_mailbox(database_url)
        .args(args)
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (stdout, output)
}

fn emails_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.retain(|n| n.ends_with(".eml"));
    names.sort();
    names
}

#[sqlx::test]
async fn run_once_over_the_sample_conversation_prints_the_cases_and_fills_the_outbox(pool: PgPool) {
    let db = database_url(&pool).await;
    let outbox = scratch("local-run-once");
    let inbox = fixtures().join("conversation");
    let args = [
        "run",
        "--inbox",
        inbox.to_str().unwrap(),
        "--outbox",
        outbox.to_str().unwrap(),
        "--once",
    ];
    let (stdout, _) = run(&db, &args);
    assert!(stdout.contains("10 processed"), "{stdout}");
    for line in [
        "referred_la            la:Walsall",
        "withdrawn",
        "region:North West",
        "YES",
    ] {
        assert!(stdout.contains(line), "missing `{line}` in:\n{stdout}");
    }
    let files = emails_in(&outbox);
    assert!(
        files.iter().any(|f| f.ends_with("-referral_council.eml")),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f.ends_with("-withdrawal_notice.eml")),
        "{files:?}"
    );
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("-safeguarding_urgent_help.eml")),
        "{files:?}"
    );
    let referral = files
        .iter()
        .find(|f| f.ends_with("-referral_council.eml"))
        .unwrap();
    let raw = std::fs::read_to_string(outbox.join(referral)).unwrap();
    assert!(raw.contains("To: ir.lead@walsall.example.gov.uk"), "{raw}");

    // Again: every message is already known; nothing new is written.
    let (again, _) = run(&db, &args);
    assert!(again.contains("0 processed, 10 already seen"), "{again}");
    assert_eq!(emails_in(&outbox), files);

    let (shown, _) = run(&db, &["case", "show", "RM-000001"]);
    for part in [
        "referred_la",
        "timeline:",
        "referral_council to ir.lead@walsall.example.gov.uk",
        "consent    given",
    ] {
        assert!(shown.contains(part), "missing `{part}` in:\n{shown}");
    }
}

#[sqlx::test]
async fn the_daemon_answers_new_files_while_running_and_stops_cleanly_on_sigterm(pool: PgPool) {
    let db = database_url(&pool).await;
    let inbox = scratch("local-daemon-inbox");
    let outbox = scratch("local-daemon-outbox");
    let mut daemon = regional_mailbox(&db)
        .args([
            "run",
            "--inbox",
            inbox.to_str().unwrap(),
            "--outbox",
            outbox.to_str().unwrap(),
            "--poll-seconds",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");

    std::fs::copy(
        fixtures().join("conversation/01-priya-first.eml"),
        inbox.join("01.eml"),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !emails_in(&outbox)
        .iter()
        .any(|f| f.ends_with("-consent_request.eml"))
    {
        assert!(Instant::now() < deadline, "no answer within a minute");
        assert!(daemon.try_wait().unwrap().is_none(), "the daemon died");
        std::thread::sleep(Duration::from_millis(200));
    }

    Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = daemon.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "did not stop within 30 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit status {status:?}");
}

#[sqlx::test]
async fn sighup_reloads_changed_templates_without_a_restart(pool: PgPool) {
    let db = database_url(&pool).await;
    let inbox = scratch("local-reload-inbox");
    let outbox = scratch("local-reload-outbox");
    let templates = scratch("local-reload-templates");
    crate::harness::copy_dir(&project_dir().join("templates"), &templates);
    let mut daemon = regional_mailbox(&db)
        .env("RM_TEMPLATES_DIR", &templates)
        .args([
            "run",
            "--inbox",
            inbox.to_str().unwrap(),
            "--outbox",
            outbox.to_str().unwrap(),
            "--poll-seconds",
            "1",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the daemon starts");
    let answered = |n: usize| {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let requests: Vec<String> = emails_in(&outbox)
                .into_iter()
                .filter(|f| f.ends_with("-consent_request.eml"))
                .collect();
            if requests.len() >= n {
                return requests;
            }
            assert!(Instant::now() < deadline, "no answer within a minute");
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    std::fs::copy(
        fixtures().join("conversation/01-priya-first.eml"),
        inbox.join("01.eml"),
    )
    .unwrap();
    answered(1);

    // Staff change the consent request, and break nothing; then reload.
    let path = templates.join("en/consent_request.txt");
    let text = std::fs::read_to_string(&path).unwrap();
    let (_, rest) = text.split_once('\n').unwrap();
    std::fs::write(
        &path,
        format!("subject: Your email to us (reloaded wording)\n{rest}"),
    )
    .unwrap();
    Command::new("kill")
        .args(["-HUP", &daemon.id().to_string()])
        .status()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let second = std::fs::read_to_string(fixtures().join("conversation/01-priya-first.eml"))
        .unwrap()
        .replace("priya", "maria")
        .replace("Priya", "Maria")
        .replace("Message-ID: <", "Message-ID: <reloaded-");
    std::fs::write(inbox.join("02.eml"), second).unwrap();
    let subjects: Vec<bool> = answered(2)
        .iter()
        .map(|f| {
            std::fs::read_to_string(outbox.join(f))
                .unwrap()
                .contains("(reloaded wording)")
        })
        .collect();
    assert_eq!(
        subjects,
        [false, true],
        "the second email has the new wording"
    );
    assert!(
        daemon.try_wait().unwrap().is_none(),
        "SIGHUP does not stop the daemon"
    );
    daemon.kill().ok();
    daemon.wait().ok();
}

#[sqlx::test]
async fn ingest_processes_files_once_and_says_what_it_did(pool: PgPool) {
    let db = database_url(&pool).await;
    let inbox = fixtures().join("conversation");
    let (stdout, _) = run(&db, &["ingest", inbox.to_str().unwrap()]);
    assert!(
        stdout.contains("10 files: 10 processed, 0 already seen, 0 quarantined, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("emails queued in the outbox"), "{stdout}");
    let (again, _) = run(
        &db,
        &["ingest", inbox.join("01-priya-first.eml").to_str().unwrap()],
    );
    assert!(
        again.contains("1 files: 0 processed, 1 already seen"),
        "{again}"
    );
}
