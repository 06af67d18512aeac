//! The DHSC return on a real Postgres: a scripted quarter of cases, each built the way the
//! mailbox really meets them (emails in, staff decisions, a lead's outcome email), dated
//! inside or outside the period, and every figure checked against a value worked out by
//! hand. Then the same return from the command line and the web page.

use axum::http::StatusCode;
use chrono::NaiveDate;
use regional_mailbox::store::staff::Role;
use sqlx::PgPool;

use crate::harness::database_url;
use crate::mailbox::{Mail, TestApp};
use crate::web::{Browser, PASSWORD, account};

const LEAD: &str = "ir.lead@walsall.example.gov.uk";
const NORTH_WEST_HUB: &str = "northwest-hub@example.org";

/// Dates every event of the case at `at` (UK time), or only those after event `after`.
async fn date_case(pool: &PgPool, reference: &str, at: &str, after: i64) {
    sqlx::query(
        "UPDATE events SET created_at = $2::timestamp AT TIME ZONE 'Europe/London'
         WHERE id > $3 AND case_id = (SELECT id FROM cases WHERE reference = $1)",
    )
    .bind(reference)
    .bind(at)
    .bind(after)
    .execute(pool)
    .await
    .unwrap();
}

async fn last_event(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM events")
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn case_of(pool: &PgPool, address: &str) -> String {
    sqlx::query_scalar(
        "SELECT c.reference FROM cases c JOIN case_addresses a ON a.case_id = c.id
         WHERE a.address = $1 ORDER BY c.id LIMIT 1",
    )
    .bind(address)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A worker writes, and (when `yes`) consents with her postcode.
async fn worker(app: &TestApp, address: &str, first: &str, yes: Option<&str>) -> String {
    app.receive(&Mail::from(address).body(first)).await;
    if let Some(answer) = yes {
        let request = app.last_to(address).await;
        app.receive(&Mail::from(address).body(answer).replying_to(&request))
            .await;
    }
    case_of(&app.app.pool, address).await
}

/// The quarter July to September 2026, and what happened in it and around it.
async fn quarter(app: &TestApp, pool: &PgPool) {
    let revoked = "My sponsor's licence was revoked and I need a new sponsor.";
    // A: referred to Walsall; the lead's email says she is employed with Sunrise Care Ltd.
    let a = worker(
        app,
        "ada.worker@gmail.example",
        revoked,
        Some("Yes I agree. I live in Walsall WS1 3AB."),
    )
    .await;
    let referral = app.sent("referral_council").await.remove(0);
    app.receive(
        &Mail::from(LEAD)
            .body("Outcome: employed with Sunrise Care Ltd. She starts on Monday.")
            .replying_to(&referral),
    )
    .await;
    date_case(pool, &a, "2026-08-03 10:00", 0).await;
    // B: lives in Manchester: referred to the North West hub, which takes her on.
    let mark = last_event(pool).await;
    let b = worker(
        app,
        "bea.worker@gmail.example",
        revoked,
        Some("YES. I live in Manchester, M14 5RT."),
    )
    .await;
    let to_hub = app.sent("referral_region").await.remove(0);
    app.receive(
        &Mail::from(NORTH_WEST_HUB)
            .body("Thank you, we are in contact with her and working with her on this.")
            .replying_to(&to_hub),
    )
    .await;
    date_case(pool, &b, "2026-08-12 09:30", mark).await;
    // C: consents, then staff close it as no further action.
    let mark = last_event(pool).await;
    let c = worker(
        app,
        "cai.worker@gmail.example",
        revoked,
        Some("Yes I agree."),
    )
    .await;
    close_nfa(app, pool, &c).await;
    date_case(pool, &c, "2026-09-01 14:00", mark).await;
    // D: has not answered yet; her second address opened a duplicate, merged into D.
    let mark = last_event(pool).await;
    let d = worker(app, "dee.worker@gmail.example", revoked, None).await;
    let dup = worker(app, "dee.other@outlook.example", revoked, None).await;
    merge(app, pool, &dup, &d).await;
    date_case(pool, &d, "2026-09-10 11:00", mark).await;
    date_case(pool, &dup, "2026-09-10 11:05", mark).await;
    // E: the North West hub refers a worker living in Dudley (no consent stated).
    let mark = last_event(pool).await;
    app.receive(
        &Mail::from(NORTH_WEST_HUB)
            .subject("Referral: worker living in Dudley")
            .body(
                "Dear colleagues,\n\nWe are referring a displaced care worker who lives in your region: \
                 Efe Obi, efe.obi@gmail.example, living in Dudley DY1 1AA.\n\nKind regards,\nNorth West Hub",
            ),
    )
    .await;
    let e = case_of(pool, "efe.obi@gmail.example").await;
    date_case(pool, &e, "2026-07-20 10:00", mark).await;
    // F: a charity refers a worker.
    let mark = last_event(pool).await;
    app.receive(
        &Mail::from("advice@migrant-support.example.org")
            .subject("Referral of a care worker")
            .body(
                "Hello,\n\nWe are supporting a displaced care worker, Fay Reyes (fay.reyes@yahoo.example), \
                 who lives in Coventry CV1 2AA. Could you help her find a new sponsor?\n\nBest wishes,\nMigrant Support",
            ),
    )
    .await;
    let f = case_of(pool, "fay.reyes@yahoo.example").await;
    date_case(pool, &f, "2026-07-21 10:00", mark).await;
    // G: opened and referred in June, still open: only active at the end.
    let mark = last_event(pool).await;
    let g = worker(
        app,
        "gia.worker@gmail.example",
        revoked,
        Some("Yes. I live at WS2 8AA."),
    )
    .await;
    date_case(pool, &g, "2026-06-15 10:00", mark).await;
    // H: opened in August, closed in October: active at the end of September.
    let mark = last_event(pool).await;
    let h = worker(app, "hal.worker@gmail.example", revoked, None).await;
    date_case(pool, &h, "2026-08-20 10:00", mark).await;
    let mark = last_event(pool).await;
    close_nfa(app, pool, &h).await;
    date_case(pool, &h, "2026-10-05 10:00", mark).await;
    // Providers: Sunrise twice and Meadowbank in the quarter, Oldcare in June.
    for (from, at) in [
        ("jobs@sunrise-care.example", "2026-07-02 09:00"),
        ("hr@sunrise-care.example", "2026-08-02 09:00"),
        ("recruit@meadowbank.example", "2026-09-02 09:00"),
        ("team@oldcare.example", "2026-06-02 09:00"),
    ] {
        let mark = last_event(pool).await;
        app.receive(&Mail::from(from).subject("Vacancies for displaced care workers").body(
            "Dear team,\n\nWe are a CQC registered care provider with a sponsor licence. We have vacancies \
             for care assistants and can offer Certificates of Sponsorship to displaced workers.\n\nKind regards",
        ))
        .await;
        sqlx::query("UPDATE events SET created_at = $2::timestamp AT TIME ZONE 'Europe/London' WHERE id > $1")
            .bind(mark)
            .bind(at)
            .execute(pool)
            .await
            .unwrap();
    }
}

async fn close_nfa(app: &TestApp, pool: &PgPool, reference: &str) {
    let id: i64 = sqlx::query_scalar("SELECT id FROM cases WHERE reference = $1")
        .bind(reference)
        .fetch_one(pool)
        .await
        .unwrap();
    let actor = regional_mailbox::store::events::Actor::Staff("sam@wm.example.test".into());
    regional_mailbox::casework::close(
        &app.app,
        id,
        &actor,
        regional_mailbox::conversation::staff::Closing::NoFurtherAction,
        false,
        "no reply to calls",
        chrono::Utc::now(),
    )
    .await
    .unwrap();
}

async fn merge(app: &TestApp, pool: &PgPool, duplicate: &str, into: &str) {
    let id = |reference: String| async move {
        sqlx::query_scalar::<_, i64>("SELECT id FROM cases WHERE reference = $1")
            .bind(reference)
            .fetch_one(pool)
            .await
            .unwrap()
    };
    let actor = regional_mailbox::store::events::Actor::Staff("sam@wm.example.test".into());
    regional_mailbox::casework::merge(
        &app.app,
        id(duplicate.to_string()).await,
        id(into.to_string()).await,
        &actor,
        "",
    )
    .await
    .unwrap();
}

fn date(text: &str) -> NaiveDate {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
}

#[sqlx::test]
async fn each_figure_of_the_return_counts_what_it_says_for_the_period(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    quarter(&app, &pool).await;
    let mut conn = pool.acquire().await.unwrap();
    let figures = regional_mailbox::store::report::dhsc(
        &mut conn,
        &app.app.mailbox.id,
        date("2026-07-01"),
        date("2026-09-30"),
    )
    .await
    .unwrap();
    // Worked out by hand from the script above.
    let expected = [
        ("new_from_ukvi", 5),           // A B C D H (D's duplicate is D)
        ("from_other_regions", 1),      // E
        ("from_other_sources", 1),      // F
        ("signposted_self_help", 7),    // A B C D E F H: every consent request carries it
        ("signposted_legal", 7),        // the same emails carry the advice line
        ("referred_to_councils", 1),    // A (G was in June)
        ("referred_to_home_region", 1), // B
        ("providers_enquired", 2),      // sunrise-care, meadowbank (oldcare was in June)
        ("providers_supported", 1),     // Sunrise Care Ltd, named in A's outcome
        ("employed", 1),                // A
        ("closed_nfa", 1),              // C (H closed in October)
        ("closed_referred_region", 1),  // B
        ("active", 5),                  // D E F G H at the end of 30 September
    ];
    let got: Vec<(&str, i64)> = figures.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    assert_eq!(got, expected);

    // Another period gives its own figures: June alone.
    let june = regional_mailbox::store::report::dhsc(
        &mut conn,
        &app.app.mailbox.id,
        date("2026-06-01"),
        date("2026-06-30"),
    )
    .await
    .unwrap();
    let june: std::collections::BTreeMap<String, i64> = june.into_iter().collect();
    assert_eq!(june["new_from_ukvi"], 1, "G");
    assert_eq!(june["referred_to_councils"], 1, "G");
    assert_eq!(june["providers_enquired"], 1, "oldcare");
    assert_eq!(june["active"], 1, "G");
    assert_eq!(june["employed"], 0);

    // The command line prints the same return, with small numbers suppressed on request.
    let db = database_url(&pool).await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args([
            "report",
            "dhsc",
            "--from",
            "2026-07-01",
            "--to",
            "2026-09-30",
        ])
        .args(["--format", "csv", "--suppress-small"])
        .current_dir(crate::harness::project_dir())
        .env_remove("RM_CONFIG")
        .env("RM_DATABASE_URL", &db)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let csv = String::from_utf8(output.stdout).unwrap();
    assert!(
        csv.contains("Demand,\"New cases resulting from UKVI emails\",5"),
        "{csv}"
    );
    assert!(
        csv.contains("\"Signposted from other regions\",<5"),
        "{csv}"
    );
    assert!(csv.contains("\"Active cases\",5"), "{csv}");

    // The web page shows them with a chart, to staff only.
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    account(
        &pool,
        "lead@walsall.example.gov.uk",
        Role::LaLead,
        Some("Walsall"),
    )
    .await;
    let mut staff = Browser::new(&app);
    staff.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    let page = staff
        .get("/reports/dhsc?from=2026-07-01&to=2026-09-30")
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("<svg class=\"chart\""));
    assert!(page.body.contains("Supported into new employment"));
    let download = staff
        .get("/reports/dhsc.csv?from=2026-07-01&to=2026-09-30&suppress=on")
        .await;
    assert!(download.body.contains("\"Active cases\",5"));
    assert!(download.body.contains("\"Providers who enquired\",<5"));
    assert_eq!(
        staff
            .get("/reports/dhsc?from=2026-10-01&to=2026-09-30")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let mut lead = Browser::new(&app);
    lead.sign_in("lead@walsall.example.gov.uk", PASSWORD).await;
    assert_eq!(
        lead.get("/reports/dhsc").await.status,
        StatusCode::NOT_FOUND
    );
}
