//! Data-protection rights on a real Postgres: subject access, erasure (nothing of the person
//! left in any table, the figures unchanged), retention with a dry run, the admin's erase
//! button, and withdrawal stopping all processing. Erasure on a real IMAP server is in
//! `mail_servers.rs`.

use axum::http::StatusCode;
use regional_mailbox::store::staff::Role;
use sqlx::PgPool;

use crate::harness::{database_url, project_dir, scratch};
use crate::mailbox::{Mail, TestApp};
use crate::web::{Browser, PASSWORD, account};

const PRIYA: &str = "priya.nair.1991@gmail.example";

/// Priya: referred to Walsall, with her name, phone, postcode and an attachment-free story.
async fn priya(app: &TestApp) -> String {
    app.receive(&Mail::from(PRIYA).named("Priya Nair").body(
        "My sponsor licence was revoked on 1 November 2026. I live in Walsall WS1 3AB. Please help.",
    ))
    .await;
    app.deliver().await;
    let request = app.last_to(PRIYA).await;
    app.receive(
        &Mail::from(PRIYA)
            .body("Yes I agree. My number is 07700 900142. I have a full UK driving licence.")
            .replying_to(&request),
    )
    .await;
    app.deliver().await;
    sqlx::query_scalar("SELECT reference FROM cases ORDER BY id LIMIT 1")
        .fetch_one(&app.app.pool)
        .await
        .unwrap()
}

fn cli(db: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args(args)
        .current_dir(project_dir())
        .env_remove("RM_CONFIG")
        .env("RM_DATABASE_URL", db)
        .env("USER", "dpo")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Rows of every table whose text holds `needle` (case-insensitive).
async fn rows_holding(pool: &PgPool, needle: &str) -> Vec<String> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '\\_%'",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut found = Vec::new();
    for table in tables {
        // Table names come from the catalogue, not from input.
        let sql = format!("SELECT count(*) FROM {table} t WHERE t::text ILIKE '%' || $1 || '%'");
        let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(needle)
            .fetch_one(pool)
            .await
            .unwrap();
        if n > 0 {
            found.push(format!("{table}: {n}"));
        }
    }
    // Raw emails are bytes: a row's text shows them as hex.
    for (table, sql) in [
        (
            "messages.raw",
            "SELECT count(*) FROM messages WHERE position(convert_to($1, 'UTF8') IN raw) > 0",
        ),
        (
            "outbox.raw",
            "SELECT count(*) FROM outbox WHERE position(convert_to($1, 'UTF8') IN raw) > 0",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(needle)
            .fetch_one(pool)
            .await
            .unwrap();
        if n > 0 {
            found.push(format!("{table}: {n}"));
        }
    }
    found
}

#[sqlx::test]
async fn a_subject_access_export_holds_everything_about_the_person(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let reference = priya(&app).await;
    let out = scratch("subject-access");
    let db = database_url(&pool).await;
    let printed = cli(
        &db,
        &["gdpr", "export", PRIYA, "--out", out.to_str().unwrap()],
    );
    assert!(
        printed.contains("1 case(s), 2 messages received"),
        "{printed}"
    );
    let document: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("subject-access.json")).unwrap()).unwrap();
    let case = &document["cases"][0];
    assert_eq!(case["case"]["reference"], reference.as_str());
    assert_eq!(case["case"]["worker_name"], "Priya Nair");
    assert_eq!(case["addresses"][0]["address"], PRIYA);
    assert_eq!(case["messages"].as_array().unwrap().len(), 2);
    assert!(
        case["messages"][0]["text"]
            .as_str()
            .unwrap()
            .contains("WS1 3AB")
    );
    let facts: Vec<&str> = case["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for field in ["postcode", "council", "phone", "driving_licence"] {
        assert!(facts.contains(&field), "{field} in {facts:?}");
    }
    assert_eq!(case["consent"][0]["status"], "given");
    assert_eq!(case["referrals"][0]["target"], "Walsall");
    assert_eq!(
        case["disclosure_log"][0]["recipient"],
        "ir.lead@walsall.example.gov.uk"
    );
    assert!(case["audit_trail"].as_array().unwrap().len() > 5);
    // The raw emails, byte for byte, received and sent.
    let first: Vec<u8> = sqlx::query_scalar("SELECT raw FROM messages ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let file = case["messages"][0]["raw_file"].as_str().unwrap();
    assert_eq!(std::fs::read(out.join(file)).unwrap(), first);
    let sent = case["emails_sent"].as_array().unwrap();
    assert!(sent.len() >= 3, "consent request, referral, worker told");
    for email in sent {
        assert!(out.join(email["raw_file"].as_str().unwrap()).exists());
    }
    assert_eq!(app.events("subject_access_export").await, 1);
    // By reference too.
    let by_reference = cli(
        &db,
        &["gdpr", "export", &reference, "--out", out.to_str().unwrap()],
    );
    assert!(by_reference.contains("1 case(s)"));
}

#[sqlx::test]
async fn erasure_leaves_nothing_of_the_person_and_the_figures_still_add_up(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let reference = priya(&app).await;
    let other = "joseph.mensah@outlook.example";
    app.receive(
        &Mail::from(other)
            .named("Joseph Mensah")
            .body("My sponsor lost its licence. I live in Manchester, M14 5RT."),
    )
    .await;
    let figures = |pool: PgPool| async move {
        let mut conn = pool.acquire().await.unwrap();
        let today = chrono::Utc::now().date_naive();
        regional_mailbox::store::report::dhsc(
            &mut conn,
            "west_midlands",
            today - chrono::Days::new(7),
            today,
        )
        .await
        .unwrap()
    };
    let before = figures(pool.clone()).await;
    for needle in ["Priya", PRIYA, "7700900142", "900142", "WS1 3AB"] {
        assert!(
            !rows_holding(&pool, needle).await.is_empty(),
            "{needle} is held before"
        );
    }
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM messages ORDER BY id LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();

    let db = database_url(&pool).await;
    let printed = cli(&db, &["gdpr", "erase", &reference]);
    assert!(printed.contains("erased: 2 messages"), "{printed}");
    for needle in [
        "Priya",
        "Nair",
        PRIYA,
        "7700900142",
        "900142",
        "WS1 3AB",
        "1 November",
    ] {
        assert_eq!(
            rows_holding(&pool, needle).await,
            Vec::<String>::new(),
            "nothing holds {needle:?} after the erasure"
        );
    }
    assert!(
        !rows_holding(&pool, "Joseph").await.is_empty(),
        "the other worker is untouched"
    );
    let (state, council): (String, Option<String>) =
        sqlx::query_as("SELECT state, council FROM cases WHERE reference = $1")
            .bind(&reference)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "erased");
    assert_eq!(
        council.as_deref(),
        Some("Walsall"),
        "the tombstone keeps the place for the figures"
    );
    let (by, what): (String, serde_json::Value) =
        sqlx::query_as("SELECT erased_by, what FROM erasures")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(by, "operator:dpo");
    assert_eq!(what["messages"], 2);
    let after = figures(pool.clone()).await;
    let without_active = |f: &Vec<(String, i64)>| {
        f.iter()
            .filter(|(k, _)| k != "active")
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(
        without_active(&after),
        without_active(&before),
        "the figures still add up"
    );
    // The same email arriving again is recognised, not processed as new.
    let again = app.receive_raw(&raw).await;
    assert_eq!(again, regional_mailbox::ingest::Outcome::Duplicate);
    // Erasing twice is refused, and says why.
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args(["gdpr", "erase", &reference])
        .current_dir(project_dir())
        .env_remove("RM_CONFIG")
        .env("RM_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("erased already"));
}

#[sqlx::test]
async fn retention_erases_closed_cases_once_their_time_is_over_after_a_dry_run(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let old = priya(&app).await;
    for (address, text) in [
        (
            "recent.close@gmail.example",
            "Sponsor revoked. Please help.",
        ),
        ("still.open@gmail.example", "Sponsor revoked. Please help."),
    ] {
        app.receive(&Mail::from(address).body(text)).await;
    }
    // Priya's case closed 400 days ago, another 10 days ago; the third is open.
    sqlx::query(
        "UPDATE cases SET state = 'closed_nfa', closed_at = now() - interval '400 days' WHERE reference = $1",
    )
    .bind(&old)
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE cases SET state = 'closed_nfa', closed_at = now() - interval '10 days'
         WHERE id = (SELECT case_id FROM case_addresses WHERE address = 'recent.close@gmail.example')",
    )
    .execute(&pool)
    .await
    .unwrap();
    let db = database_url(&pool).await;
    let listed = cli(&db, &["gdpr", "retention", "--dry-run"]);
    assert!(
        listed.contains("1 case(s) closed more than 365 days ago"),
        "{listed}"
    );
    assert!(listed.contains(&old), "{listed}");
    let states: Vec<String> = sqlx::query_scalar("SELECT state FROM cases ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        !states.contains(&"erased".to_string()),
        "a dry run erases nothing"
    );
    let done = cli(&db, &["gdpr", "retention"]);
    assert!(done.contains(&format!("1 case(s) erased: {old}")), "{done}");
    let states: Vec<String> = sqlx::query_scalar("SELECT state FROM cases ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(states, ["erased", "closed_nfa", "awaiting_consent"]);
    let by: String = sqlx::query_scalar("SELECT erased_by FROM erasures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(by, "retention");
    // The scheduler runs the same job.
    sqlx::query(
        "UPDATE cases SET closed_at = now() - interval '400 days' WHERE state = 'closed_nfa'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let erased = regional_mailbox::privacy::apply_retention(&app.app, 365, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(erased.len(), 1);
    assert!(
        regional_mailbox::privacy::apply_retention(&app.app, 0, chrono::Utc::now())
            .await
            .unwrap()
            .is_empty(),
        "0 days: retention is off"
    );
}

#[sqlx::test]
async fn only_an_admin_erases_from_the_case_page_and_types_the_reference_to_confirm(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let reference = priya(&app).await;
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    account(&pool, "ada.admin@wm.example.test", Role::Admin, None).await;
    let mut staff = Browser::new(&app);
    staff.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    let page = staff.get(&format!("/cases/{reference}")).await;
    assert!(
        !page.body.contains("Erase the worker"),
        "not offered to staff"
    );
    let csrf = Browser::csrf(&page);
    let path = format!("/cases/{reference}/erase");
    let refused = staff
        .post(&path, &[("csrf", &csrf), ("confirm", &reference)])
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    let mut admin = Browser::new(&app);
    admin.sign_in("ada.admin@wm.example.test", PASSWORD).await;
    let page = admin.get(&format!("/cases/{reference}")).await;
    assert!(page.body.contains("Erase the worker"));
    let csrf = Browser::csrf(&page);
    let unconfirmed = admin
        .post(&path, &[("csrf", &csrf), ("confirm", "RM-999999")])
        .await;
    assert_eq!(unconfirmed.status, StatusCode::BAD_REQUEST);
    let erased = admin
        .post(&path, &[("csrf", &csrf), ("confirm", &reference)])
        .await;
    assert_eq!(erased.status, StatusCode::SEE_OTHER, "{}", erased.body);
    let by: String = sqlx::query_scalar("SELECT erased_by FROM erasures")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(by, "staff:ada.admin@wm.example.test");
    let page = admin.get(&format!("/cases/{reference}")).await;
    assert!(page.body.contains("erased"));
    assert!(!page.body.contains("Priya"));
}

#[sqlx::test]
async fn a_withdrawal_tells_earlier_recipients_and_stops_all_processing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let reference = priya(&app).await;
    let last = app.last_to(PRIYA).await;
    app.receive(
        &Mail::from(PRIYA)
            .body("Please stop. I withdraw my consent, do not share my details any more.")
            .replying_to(&last),
    )
    .await;
    app.deliver().await;
    let notices = app.sent("withdrawal_notice").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].to, ["ir.lead@walsall.example.gov.uk"]);
    let emails = app.count("outbox").await;
    let facts = app.count("facts").await;
    // She writes again with new details: nothing is read into the case, nothing is sent,
    // and staff are asked to look.
    app.receive(
        &Mail::from(PRIYA)
            .body("My new number is 07700 900999 and I moved to Dudley DY1 1AA.")
            .replying_to(&last),
    )
    .await;
    app.let_days_pass(40).await;
    regional_mailbox::scheduler::tick(&app.app, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(app.count("outbox").await, emails, "nothing more is sent");
    assert_eq!(app.count("facts").await, facts, "nothing more is recorded");
    let state: String = sqlx::query_scalar("SELECT state FROM cases WHERE reference = $1")
        .bind(&reference)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(state, "withdrawn");
    assert!(
        app.exceptions()
            .await
            .iter()
            .any(|(reason, _, _)| reason == "closed_case_message")
    );
}
