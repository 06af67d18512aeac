//! Staff and LA-lead decisions from the case page, through the web app's routes on a real
//! Postgres: correcting facts, routing, outcomes, closing, reopening, merging, templated
//! replies, and the admin page (accounts, rules reload).

use axum::http::StatusCode;
use regional_mailbox::store::staff::Role;
use sqlx::PgPool;

use crate::mailbox::{Mail, TestApp};
use crate::web::{Browser, PASSWORD, account, cases};

const STAFF: &str = "sam.staff@wm.example.test";

async fn staff_browser(app: &TestApp, pool: &PgPool) -> Browser {
    account(pool, STAFF, Role::Staff, None).await;
    let mut browser = Browser::new(app);
    browser.sign_in(STAFF, PASSWORD).await;
    browser
}

async fn scalar<T>(pool: &PgPool, sql: &'static str, reference: &str) -> T
where
    T: Send + Unpin + for<'r> sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>,
{
    sqlx::query_scalar(sql)
        .bind(reference)
        .fetch_one(pool)
        .await
        .unwrap()
}

async fn priya(pool: &PgPool) -> String {
    sqlx::query_scalar(
        "SELECT c.reference FROM cases c JOIN referrals r ON r.case_id = c.id WHERE r.target = 'Walsall'",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

/// A worker who consented but has not said where she lives.
async fn consented_without_a_location(app: &TestApp) -> String {
    let worker = "joy.okafor@gmail.example";
    app.receive(
        &Mail::from(worker).named("Joy Okafor").body(
            "My sponsor's licence was revoked last week. I need a new sponsor. Please help me.",
        ),
    )
    .await;
    app.deliver().await;
    let consent_request = app.last_to(worker).await;
    app.receive(
        &Mail::from(worker)
            .body("Yes, I agree.")
            .replying_to(&consent_request),
    )
    .await;
    app.deliver().await;
    sqlx::query_scalar("SELECT c.reference FROM cases c JOIN case_addresses a ON a.case_id = c.id WHERE a.address = $1")
        .bind(worker)
        .fetch_one(&app.app.pool)
        .await
        .unwrap()
}

#[sqlx::test]
async fn a_corrected_location_runs_triage_again_and_refers_the_worker(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let joy = consented_without_a_location(&app).await;
    assert_eq!(
        scalar::<String>(&pool, "SELECT state FROM cases WHERE reference = $1", &joy).await,
        "awaiting_info"
    );
    let mut staff = staff_browser(&app, &pool).await;
    let page = staff.get(&format!("/cases/{joy}")).await;
    assert!(page.body.contains("Correct the facts"));
    let csrf = Browser::csrf(&page);
    let path = format!("/cases/{joy}/facts");

    let unknown = staff
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("location", "Atlantis"),
                ("note", "phoned her"),
            ],
        )
        .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(unknown.body.contains("not a postcode or town we know"));
    let no_note = staff
        .post(&path, &[("csrf", &csrf), ("location", "WS1 3AB")])
        .await;
    assert_eq!(
        no_note.status,
        StatusCode::BAD_REQUEST,
        "a correction says how staff know"
    );

    let saved = staff
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("location", "WS1 3AB"),
                ("phone", "07700 900777"),
                ("driving_licence", "uk_full"),
                ("note", "phoned her on 3 December"),
            ],
        )
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    app.deliver().await;
    let referral = app.last_to("ir.lead@walsall.example.gov.uk").await;
    assert_eq!(referral.kind, "referral_council");
    assert!(
        referral.body.contains("07700 900777") || referral.body.contains("+447700900777"),
        "{}",
        referral.body
    );
    let told = app.last_to("joy.okafor@gmail.example").await;
    assert_eq!(told.kind, "worker_referred");
    let (state, council, readiness): (String, String, String) =
        sqlx::query_as("SELECT state, council, readiness FROM cases WHERE reference = $1")
            .bind(&joy)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), council.as_str()),
        ("referred_la", "Walsall")
    );
    assert_ne!(readiness, "unknown", "readiness assessed again");
    let (actor, quote): (String, String) = sqlx::query_as(
        "SELECT f.actor, f.quote FROM facts f JOIN cases c ON c.id = f.case_id
         WHERE c.reference = $1 AND f.field = 'postcode' AND f.superseded_at IS NULL",
    )
    .bind(&joy)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(actor, format!("staff:{STAFF}"));
    assert!(quote.contains("phoned her on 3 December"), "{quote}");
    assert_eq!(app.events("facts_corrected").await, 1);
    let purpose: String = scalar(
        &pool,
        "SELECT d.purpose FROM disclosures d JOIN cases c ON c.id = d.case_id WHERE c.reference = $1",
        &joy,
    )
    .await;
    assert!(
        purpose.contains("Walsall"),
        "in the disclosure log: {purpose}"
    );
}

#[sqlx::test]
async fn staff_change_the_route_and_the_new_council_gets_the_referral(pool: PgPool) {
    let app = cases(&pool).await;
    let priya = priya(&pool).await;
    let mut staff = staff_browser(&app, &pool).await;
    let page = staff.get(&format!("/cases/{priya}")).await;
    assert!(page.body.contains("Referrals"), "the referrals are listed");
    assert!(page.body.contains("Disclosure log"));
    assert!(page.body.contains("How the mailbox read it"));
    let csrf = Browser::csrf(&page);
    let path = format!("/cases/{priya}/route");
    let again = staff
        .post(&path, &[("csrf", &csrf), ("route", "proposed")])
        .await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST);
    assert!(again.body.contains("already referred"), "{}", again.body);
    let moved = staff
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("route", "council:Dudley"),
                ("note", "She moved to Dudley last month"),
            ],
        )
        .await;
    assert_eq!(moved.status, StatusCode::SEE_OTHER, "{}", moved.body);
    app.deliver().await;
    let referral = app.last_to("ir.lead@dudley.example.gov.uk").await;
    assert_eq!(referral.kind, "referral_council");
    let (state, route, council): (String, String, String) =
        sqlx::query_as("SELECT state, route, council FROM cases WHERE reference = $1")
            .bind(&priya)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(
        (state.as_str(), route.as_str(), council.as_str()),
        ("referred_la", "la:Dudley", "Dudley")
    );
    let (actor, detail): (String, serde_json::Value) =
        sqlx::query_as("SELECT actor, detail FROM events WHERE action = 'route_decided'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor, format!("staff:{STAFF}"));
    assert_eq!(detail["target"], "Dudley");
    assert_eq!(detail["was"], "la:Walsall");
    let referrals: i64 = scalar(
        &pool,
        "SELECT count(*) FROM referrals r JOIN cases c ON c.id = r.case_id WHERE c.reference = $1",
        &priya,
    )
    .await;
    assert_eq!(referrals, 2, "both referrals are kept");

    // The safeguarding case waits for its decision before anything is shared.
    let amina: String = sqlx::query_scalar("SELECT reference FROM cases WHERE safeguarding")
        .fetch_one(&pool)
        .await
        .unwrap();
    let held = staff
        .post(
            &format!("/cases/{amina}/route"),
            &[("csrf", &csrf), ("route", "council:Dudley")],
        )
        .await;
    assert_eq!(held.status, StatusCode::BAD_REQUEST);
}

#[sqlx::test]
async fn an_la_lead_records_the_outcome_of_their_referral(pool: PgPool) {
    let app = cases(&pool).await;
    let priya = priya(&pool).await;
    account(
        &pool,
        "lead@walsall.example.gov.uk",
        Role::LaLead,
        Some("Walsall"),
    )
    .await;
    account(
        &pool,
        "lead@dudley.example.gov.uk",
        Role::LaLead,
        Some("Dudley"),
    )
    .await;
    let mut dudley = Browser::new(&app);
    dudley.sign_in("lead@dudley.example.gov.uk", PASSWORD).await;
    let dudley_csrf = Browser::csrf(&dudley.get("/").await);
    let path = format!("/cases/{priya}/outcome");
    let refused = dudley
        .post(&path, &[("csrf", &dudley_csrf), ("outcome", "employed")])
        .await;
    assert_eq!(
        refused.status,
        StatusCode::NOT_FOUND,
        "another council's case"
    );

    let mut lead = Browser::new(&app);
    lead.sign_in("lead@walsall.example.gov.uk", PASSWORD).await;
    let page = lead.get(&format!("/cases/{priya}")).await;
    assert!(page.body.contains("Record the outcome"), "{}", page.body);
    assert!(
        !page.body.contains("Correct the facts"),
        "leads do not correct facts"
    );
    let csrf = Browser::csrf(&page);
    assert_eq!(
        lead.post(&path, &[("csrf", "x"), ("outcome", "employed")])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let progress = lead
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("outcome", "in_progress"),
                ("note", "Interview on Monday"),
            ],
        )
        .await;
    assert_eq!(progress.status, StatusCode::SEE_OTHER, "{}", progress.body);
    let employed = lead
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("outcome", "employed"),
                ("employer", "Sunrise Care Ltd"),
            ],
        )
        .await;
    assert_eq!(employed.status, StatusCode::SEE_OTHER, "{}", employed.body);
    let (state, outcome, referral_outcome): (String, String, String) = sqlx::query_as(
        "SELECT c.state, c.outcome, r.outcome FROM cases c JOIN referrals r ON r.case_id = c.id WHERE c.reference = $1",
    )
    .bind(&priya)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (state.as_str(), outcome.as_str(), referral_outcome.as_str()),
        ("closed_employed", "employed", "employed")
    );
    let employer: String = scalar(
        &pool,
        "SELECT f.value FROM facts f JOIN cases c ON c.id = f.case_id WHERE c.reference = $1 AND f.field = 'employer'",
        &priya,
    )
    .await;
    assert_eq!(employer, "Sunrise Care Ltd");
    let actors: Vec<String> = sqlx::query_scalar(
        "SELECT actor FROM events WHERE action = 'outcome_reported' ORDER BY id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(actors, ["staff:lead@walsall.example.gov.uk"; 2]);
    let closed_again = lead
        .post(&path, &[("csrf", &csrf), ("outcome", "nfa")])
        .await;
    assert_eq!(
        closed_again.status,
        StatusCode::BAD_REQUEST,
        "the case is closed"
    );
}

#[sqlx::test]
async fn staff_close_a_case_with_its_outcome_and_reopen_it(pool: PgPool) {
    let app = cases(&pool).await;
    let priya = priya(&pool).await;
    let mut staff = staff_browser(&app, &pool).await;
    let csrf = Browser::csrf(&staff.get(&format!("/cases/{priya}")).await);
    let close = format!("/cases/{priya}/close");
    let no_reason = staff
        .post(&close, &[("csrf", &csrf), ("closing", "nfa")])
        .await;
    assert_eq!(no_reason.status, StatusCode::BAD_REQUEST);
    let closed = staff
        .post(
            &close,
            &[
                ("csrf", &csrf),
                ("closing", "nfa"),
                ("tell_worker", "yes"),
                ("note", "Went home to Kerala"),
            ],
        )
        .await;
    assert_eq!(closed.status, StatusCode::SEE_OTHER, "{}", closed.body);
    app.deliver().await;
    assert_eq!(
        app.last_to("priya.nair.1991@gmail.example").await.kind,
        "closing",
        "told how to come back"
    );
    let (state, closed_at): (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT state, closed_at FROM cases WHERE reference = $1")
            .bind(&priya)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "closed_nfa");
    assert!(closed_at.is_some());

    let page = staff.get(&format!("/cases/{priya}")).await;
    assert!(page.body.contains("Reopen"));
    let reopened = staff
        .post(
            &format!("/cases/{priya}/reopen"),
            &[("csrf", &csrf), ("note", "She is back in Walsall")],
        )
        .await;
    assert_eq!(reopened.status, StatusCode::SEE_OTHER);
    let (state, closed_at): (String, Option<chrono::DateTime<chrono::Utc>>) =
        sqlx::query_as("SELECT state, closed_at FROM cases WHERE reference = $1")
            .bind(&priya)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(state, "triaged", "consent stands: staff take it from here");
    assert!(closed_at.is_none());
    assert_eq!(app.events("case_closed").await, 1);
    assert_eq!(app.events("case_reopened").await, 1);

    // A case with a safeguarding concern is decided before it is closed.
    let amina: String = sqlx::query_scalar("SELECT reference FROM cases WHERE safeguarding")
        .fetch_one(&pool)
        .await
        .unwrap();
    let refused = staff
        .post(
            &format!("/cases/{amina}/close"),
            &[("csrf", &csrf), ("closing", "nfa"), ("note", "x")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.body.contains("safeguarding"));
}

#[sqlx::test]
async fn two_cases_of_one_worker_are_merged_and_her_old_emails_thread_to_the_kept_one(
    pool: PgPool,
) {
    let app = TestApp::new(pool.clone()).await;
    // The same worker writes from her personal and her work address.
    app.receive(
        &Mail::from("grace.m@gmail.example")
            .named("Grace Mensah")
            .body("My sponsor licence was revoked. I live in Walsall WS2 8AA. Please help."),
    )
    .await;
    app.receive(
        &Mail::from("grace.mensah@outlook.example")
            .named("Grace Mensah")
            .body("Hello, I wrote before from my other email. My phone is 07700 900321."),
    )
    .await;
    app.deliver().await;
    let references: Vec<String> = sqlx::query_scalar("SELECT reference FROM cases ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap();
    let [kept, duplicate] = <[String; 2]>::try_from(references).unwrap();
    let mut staff = staff_browser(&app, &pool).await;
    let csrf = Browser::csrf(&staff.get(&format!("/cases/{duplicate}")).await);
    let path = format!("/cases/{duplicate}/merge");
    let itself = staff
        .post(&path, &[("csrf", &csrf), ("into", &duplicate)])
        .await;
    assert_eq!(itself.status, StatusCode::BAD_REQUEST);
    let nowhere = staff
        .post(&path, &[("csrf", &csrf), ("into", "RM-999999")])
        .await;
    assert_eq!(nowhere.status, StatusCode::BAD_REQUEST);
    let merged = staff
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("into", &kept),
                ("note", "Same person, same phone"),
            ],
        )
        .await;
    assert_eq!(merged.status, StatusCode::SEE_OTHER, "{}", merged.body);
    assert_eq!(
        merged.location.as_deref(),
        Some(format!("/cases/{kept}").as_str())
    );

    let (messages, addresses, phone): (i64, i64, String) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM messages m WHERE m.case_id = c.id),
                (SELECT count(*) FROM case_addresses a WHERE a.case_id = c.id),
                (SELECT value FROM facts f WHERE f.case_id = c.id AND f.field = 'phone' AND f.superseded_at IS NULL)
         FROM cases c WHERE c.reference = $1",
    )
    .bind(&kept)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((messages, addresses), (2, 2));
    assert_eq!(phone, "+447700900321");
    let state: String = scalar(
        &pool,
        "SELECT state FROM cases WHERE reference = $1",
        &duplicate,
    )
    .await;
    assert_eq!(state, "merged");
    // The duplicate's consent request, answered later, lands on the kept case.
    let old_request = app.last_to("grace.mensah@outlook.example").await;
    assert!(old_request.subject.contains(&duplicate));
    app.receive(
        &Mail::from("grace.mensah@outlook.example")
            .body("Yes I agree")
            .replying_to(&old_request),
    )
    .await;
    let consent: String = scalar(
        &pool,
        "SELECT consent FROM cases WHERE reference = $1",
        &kept,
    )
    .await;
    assert_eq!(consent, "given");
    // The old reference leads to the kept case in the app too.
    let page = staff.get(&format!("/cases/{duplicate}")).await;
    assert!(page.body.contains(&format!("<h1>{kept}")), "{}", page.body);
    assert_eq!(app.events("case_merged").await, 2);
}

#[sqlx::test]
async fn staff_send_a_template_again_and_it_asks_for_what_is_missing(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    let joy = consented_without_a_location(&app).await;
    let mut staff = staff_browser(&app, &pool).await;
    let csrf = Browser::csrf(&staff.get(&format!("/cases/{joy}")).await);
    let path = format!("/cases/{joy}/reply");
    let bogus = staff
        .post(&path, &[("csrf", &csrf), ("template", "referral_council")])
        .await;
    assert_eq!(
        bogus.status,
        StatusCode::BAD_REQUEST,
        "only worker templates"
    );
    let sent = staff
        .post(&path, &[("csrf", &csrf), ("template", "details_request")])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    app.deliver().await;
    let request = app.last_to("joy.okafor@gmail.example").await;
    assert_eq!(request.kind, "details_request");
    assert!(request.body.contains("postcode"), "{}", request.body);
    assert_eq!(request.header("Auto-Submitted").as_deref(), Some("no"));
    // Her answer to it is read as the location.
    app.receive(
        &Mail::from("joy.okafor@gmail.example")
            .body("WS1 3AB")
            .replying_to(&request),
    )
    .await;
    let state: String = scalar(&pool, "SELECT state FROM cases WHERE reference = $1", &joy).await;
    assert_eq!(state, "referred_la");
}

#[sqlx::test]
async fn admins_manage_accounts_and_reload_the_rules(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    account(&pool, "ada.admin@wm.example.test", Role::Admin, None).await;
    let mut staff = staff_browser(&app, &pool).await;
    assert_eq!(
        staff.get("/admin").await.status,
        StatusCode::NOT_FOUND,
        "admins only"
    );

    let mut admin = Browser::new(&app);
    admin.sign_in("ada.admin@wm.example.test", PASSWORD).await;
    let page = admin.get("/admin").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains(STAFF));
    let csrf = Browser::csrf(&page);
    let lead = [
        ("csrf", csrf.as_str()),
        ("email", "new.lead@sandwell.example.gov.uk"),
        ("role", "la-lead"),
        ("council", "Sandwell"),
        ("password", "another long password"),
    ];
    let mut bad_council = lead;
    bad_council[3] = ("council", "Atlantis");
    assert_eq!(
        admin.post("/admin/accounts", &bad_council).await.status,
        StatusCode::BAD_REQUEST
    );
    let mut short = lead;
    short[4] = ("password", "short");
    assert_eq!(
        admin.post("/admin/accounts", &short).await.status,
        StatusCode::BAD_REQUEST
    );
    let saved = admin.post("/admin/accounts", &lead).await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    let mut newcomer = Browser::new(&app);
    let signed_in = newcomer
        .sign_in("new.lead@sandwell.example.gov.uk", "another long password")
        .await;
    assert_eq!(
        signed_in.status,
        StatusCode::SEE_OTHER,
        "the new lead signs in"
    );

    let id: i64 =
        sqlx::query_scalar("SELECT id FROM staff WHERE email = 'new.lead@sandwell.example.gov.uk'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let disabled = admin
        .post(&format!("/admin/accounts/{id}/disable"), &[("csrf", &csrf)])
        .await;
    assert_eq!(disabled.status, StatusCode::SEE_OTHER);
    assert_eq!(
        newcomer.get("/").await.status,
        StatusCode::SEE_OTHER,
        "the session ended"
    );
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM events WHERE action = 'account_disabled'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor, "staff:ada.admin@wm.example.test");

    // A rules folder with an error: nothing changes, the error is shown.
    let dir = crate::harness::scratch(&format!("reload-{}", std::process::id()));
    crate::harness::copy_dir(&crate::harness::project_dir().join("rules"), &dir);
    let mut app = app;
    let mut sources = (*app.app.sources).clone();
    sources.rules_dir = dir.clone();
    app.app.sources = std::sync::Arc::new(sources);
    let mut admin = Browser::new(&app);
    admin.sign_in("ada.admin@wm.example.test", PASSWORD).await;
    let csrf = Browser::csrf(&admin.get("/admin").await);
    std::fs::write(dir.join("routing.toml"), "home_region = [not toml").unwrap();
    let before = app.app.rules.get();
    let broken = admin.post("/admin/reload", &[("csrf", &csrf)]).await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(broken.body.contains("routing.toml"), "{}", broken.body);
    assert!(
        std::sync::Arc::ptr_eq(&before, &app.app.rules.get()),
        "the old rules stay"
    );
    std::fs::copy(
        crate::harness::project_dir().join("rules/routing.toml"),
        dir.join("routing.toml"),
    )
    .unwrap();
    let reloaded = admin.post("/admin/reload", &[("csrf", &csrf)]).await;
    assert_eq!(reloaded.status, StatusCode::OK, "{}", reloaded.body);
    assert!(reloaded.body.contains("were reloaded"));
    assert!(
        !std::sync::Arc::ptr_eq(&before, &app.app.rules.get()),
        "new rules in place"
    );
    assert_eq!(app.events("rules_reloaded").await, 1);
}
