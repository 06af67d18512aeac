//! The staff web app's routes on a real Postgres: who may see what, sessions, CSRF, rate
//! limits, and hostile email content shown as text.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use regional_mailbox::store::staff::{self, Role};
use regional_mailbox::web::{Web, hash_password, router};
use sqlx::PgPool;
use tower::ServiceExt;

use crate::mailbox::{Mail, TestApp};

pub const PASSWORD: &str = "a long test password";

pub struct Browser {
    router: Router,
    pub cookies: Vec<(String, String)>,
}

pub struct Page {
    pub status: StatusCode,
    pub location: Option<String>,
    pub headers: axum::http::HeaderMap,
    pub body: String,
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            router: router(Web::new(vec![app.app.clone()], false).unwrap()),
            cookies: Vec::new(),
        }
    }

    async fn send(&mut self, request: Request<Body>) -> Page {
        let response = self.router.clone().oneshot(request).await.unwrap();
        for value in response.headers().get_all(header::SET_COOKIE) {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != name);
            if !value.is_empty() {
                self.cookies.push((name.into(), value.into()));
            }
        }
        let status = response.status();
        let headers = response.headers().clone();
        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        Page {
            status,
            location,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = Request::get(path)
            .header(header::COOKIE, self.cookie_header())
            .body(Body::empty())
            .unwrap();
        self.send(request).await
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let body: String = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::post(path)
            .header(header::COOKIE, self.cookie_header())
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body))
            .unwrap();
        self.send(request).await
    }

    /// The CSRF token of the last page's forms.
    pub fn csrf(page: &Page) -> String {
        let at = page
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a form with a CSRF token")
            + 19;
        page.body[at..].split('"').next().unwrap().to_string()
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let login = self.get("/login").await;
        let csrf = Self::csrf(&login);
        self.post(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ],
        )
        .await
    }
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub async fn account(pool: &PgPool, email: &str, role: Role, council: Option<&str>) {
    let mut conn = pool.acquire().await.unwrap();
    staff::upsert(
        &mut conn,
        email,
        role,
        council,
        &hash_password(PASSWORD).unwrap(),
    )
    .await
    .unwrap();
}

/// Two workers: one referred to Walsall, one with a safeguarding concern and a hostile
/// subject and body.
pub async fn cases(pool: &PgPool) -> TestApp {
    let app = TestApp::new(pool.clone()).await;
    let priya = "priya.nair.1991@gmail.example";
    app.receive(
        &Mail::from(priya)
            .named("Priya Nair")
            .body("My sponsor licence was revoked. I live in Walsall WS1 3AB. Please help."),
    )
    .await;
    app.deliver().await;
    let consent_request = app.last_to(priya).await;
    app.receive(
        &Mail::from(priya)
            .body("Yes I agree. My number is 07700 900142.")
            .replying_to(&consent_request),
    )
    .await;
    app.deliver().await;
    app.receive(
        &Mail::from("amina.b@example.test")
            .subject("<script>alert('subject')</script> help")
            .body("<img src=x onerror=alert(1)> My employer took my passport and has not paid my wages for three months. I live in Dudley, DY1 1AA. <script>alert('body')</script>"),
    )
    .await;
    app.deliver().await;
    app
}

/// Every page of the app (for case 1, message 1, exception 1).
const PAGES: [&str; 6] = [
    "/",
    "/search?q=x",
    "/overview",
    "/admin",
    "/cases/RM-000001",
    "/cases/RM-000001/messages/1/attachments/0",
];

/// Every form of the app.
const ACTIONS: [&str; 15] = [
    "/cases/RM-000001/notes",
    "/cases/RM-000001/reply",
    "/cases/RM-000001/safeguarding",
    "/cases/RM-000001/facts",
    "/cases/RM-000001/route",
    "/cases/RM-000001/outcome",
    "/cases/RM-000001/close",
    "/cases/RM-000001/reopen",
    "/cases/RM-000001/merge",
    "/exceptions/1/resolve",
    "/messages/1/reprocess",
    "/admin/accounts",
    "/admin/accounts/1/disable",
    "/admin/reload",
    "/logout",
];

#[sqlx::test]
async fn without_a_session_every_page_and_action_goes_to_the_login(pool: PgPool) {
    let app = cases(&pool).await;
    let mut browser = Browser::new(&app);
    for path in PAGES {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location.unwrap().starts_with("/login?next="), "{path}");
    }
    for path in ACTIONS {
        let page = browser.post(path, &[("csrf", "x"), ("note", "x")]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
        assert!(page.location.unwrap().starts_with("/login"), "{path}");
    }
    let login = browser.get("/login").await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("Sign in"));
}

#[sqlx::test]
async fn staff_sign_in_see_the_queue_safeguarding_first_and_resolve_with_a_csrf_token(
    pool: PgPool,
) {
    let app = cases(&pool).await;
    account(&pool, "Sam.Staff@wm.example.test", Role::Staff, None).await;
    let mut browser = Browser::new(&app);

    let wrong = browser
        .sign_in("sam.staff@wm.example.test", "not the password")
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("do not match"));
    let signed_in = browser.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
    assert!(browser.cookies.iter().any(|(n, _)| n == "rm_session"));

    let queue = browser.get("/").await;
    assert_eq!(queue.status, StatusCode::OK);
    let safeguarding = queue
        .body
        .find("Safeguarding")
        .expect("the safeguarding exception");
    let first_row = queue.body.find("<tr class=\"p").unwrap();
    assert!(
        queue.body[first_row..].starts_with("<tr class=\"p0\""),
        "safeguarding comes first"
    );
    assert!(safeguarding > 0);
    let csrf = Browser::csrf(&queue);
    let id: i64 = sqlx::query_scalar("SELECT id FROM exceptions WHERE reason = 'safeguarding'")
        .fetch_one(&pool)
        .await
        .unwrap();

    // A forged form (no token, or another token) is refused and changes nothing.
    for token in ["", "0000"] {
        let forged = browser
            .post(
                &format!("/exceptions/{id}/resolve"),
                &[("csrf", token), ("note", "x")],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
    }
    let resolved = browser
        .post(
            &format!("/exceptions/{id}/resolve"),
            &[
                ("csrf", &csrf),
                ("note", "Called the worker; police informed"),
            ],
        )
        .await;
    assert_eq!(resolved.status, StatusCode::SEE_OTHER);
    let (by, actor): (String, String) = sqlx::query_as(
        "SELECT e.resolved_by, v.actor FROM exceptions e JOIN events v ON v.action = 'exception_resolved'
         WHERE e.id = $1",
    )
    .bind(id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(by, "staff:sam.staff@wm.example.test");
    assert_eq!(actor, by, "the action is in the audit trail");

    let note = browser
        .post("/cases/RM-000001/notes", &[("csrf", "bad"), ("note", "x")])
        .await;
    assert_eq!(note.status, StatusCode::FORBIDDEN);
    let out = browser.post("/logout", &[("csrf", "bad")]).await;
    assert_eq!(out.status, StatusCode::FORBIDDEN);
    let out = browser.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(
        browser.get("/").await.status,
        StatusCode::SEE_OTHER,
        "signed out"
    );
}

#[sqlx::test]
async fn hostile_email_content_is_shown_as_text(pool: PgPool) {
    let app = cases(&pool).await;
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    let mut browser = Browser::new(&app);
    browser.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    let reference: String = sqlx::query_scalar("SELECT reference FROM cases WHERE safeguarding")
        .fetch_one(&pool)
        .await
        .unwrap();
    let page = browser.get(&format!("/cases/{reference}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        !page.body.contains("<script>"),
        "no live script:\n{}",
        page.body
    );
    assert!(!page.body.contains("<img src=x"), "no live image");
    assert!(
        page.body.contains("&lt;script&gt;alert("),
        "the payload is visible as text"
    );
    assert!(page.body.contains("&lt;img src=x onerror=alert(1)&gt;"));
    let csp = page
        .headers
        .get(header::CONTENT_SECURITY_POLICY)
        .unwrap()
        .to_str()
        .unwrap();
    assert!(csp.contains("default-src 'none'"), "{csp}");
}

#[sqlx::test]
async fn an_la_lead_sees_only_their_councils_referrals(pool: PgPool) {
    let app = cases(&pool).await;
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
    let walsall: String = sqlx::query_scalar(
        "SELECT c.reference FROM cases c JOIN referrals r ON r.case_id = c.id WHERE r.target = 'Walsall'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let other: String = sqlx::query_scalar("SELECT reference FROM cases WHERE safeguarding")
        .fetch_one(&pool)
        .await
        .unwrap();

    let mut lead = Browser::new(&app);
    lead.sign_in("lead@walsall.example.gov.uk", PASSWORD).await;
    let home = lead.get("/").await;
    assert!(home.body.contains(&walsall), "the referral is listed");
    assert!(!home.body.contains(&other));
    assert_eq!(
        lead.get(&format!("/cases/{walsall}")).await.status,
        StatusCode::OK
    );
    assert_eq!(
        lead.get(&format!("/cases/{other}")).await.status,
        StatusCode::NOT_FOUND
    );
    let csrf = Browser::csrf(&home);
    let note = lead
        .post(
            &format!("/cases/{other}/notes"),
            &[("csrf", &csrf), ("note", "x")],
        )
        .await;
    assert_eq!(note.status, StatusCode::NOT_FOUND);
    let note = lead
        .post(
            &format!("/cases/{walsall}/notes"),
            &[("csrf", &csrf), ("note", "Interview booked")],
        )
        .await;
    assert_eq!(note.status, StatusCode::SEE_OTHER);
    let id: i64 = sqlx::query_scalar("SELECT id FROM exceptions LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    let resolve = lead
        .post(&format!("/exceptions/{id}/resolve"), &[("csrf", &csrf)])
        .await;
    assert_eq!(
        resolve.status,
        StatusCode::NOT_FOUND,
        "leads do not handle the staff queue"
    );

    let mut dudley = Browser::new(&app);
    dudley.sign_in("lead@dudley.example.gov.uk", PASSWORD).await;
    assert_eq!(
        dudley.get(&format!("/cases/{walsall}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(!dudley.get("/").await.body.contains(&walsall));
}

#[sqlx::test]
async fn repeated_failed_logins_are_slowed_down(pool: PgPool) {
    let app = TestApp::new(pool.clone()).await;
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    let mut browser = Browser::new(&app);
    for _ in 0..5 {
        let page = browser.sign_in("sam.staff@wm.example.test", "guess").await;
        assert_eq!(page.status, StatusCode::UNAUTHORIZED);
    }
    let page = browser.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    assert_eq!(
        page.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    // A login form posted without its cookie is refused.
    let mut other = Browser::new(&app);
    let forged = other
        .post(
            "/login",
            &[
                ("email", "sam.staff@wm.example.test"),
                ("password", PASSWORD),
                ("csrf", "x"),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
}

#[sqlx::test]
async fn staff_reply_to_the_worker_in_the_thread_through_the_outbox(pool: PgPool) {
    let app = cases(&pool).await;
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    account(
        &pool,
        "lead@walsall.example.gov.uk",
        Role::LaLead,
        Some("Walsall"),
    )
    .await;
    let reference: String = sqlx::query_scalar("SELECT reference FROM cases WHERE safeguarding")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    let page = browser.get(&format!("/cases/{reference}")).await;
    let csrf = Browser::csrf(&page);
    let path = format!("/cases/{reference}/reply");
    let text = "Hello Amina, I am sorry this happened. I have asked the council to call you today.";
    assert_eq!(
        browser
            .post(&path, &[("csrf", "bad"), ("text", text)])
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        browser
            .post(&path, &[("csrf", &csrf), ("text", "  ")])
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let sent = browser
        .post(&path, &[("csrf", &csrf), ("text", text)])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);

    let mut lead = Browser::new(&app);
    lead.sign_in("lead@walsall.example.gov.uk", PASSWORD).await;
    let lead_csrf = Browser::csrf(&lead.get("/").await);
    let refused = lead
        .post(&path, &[("csrf", &lead_csrf), ("text", "x")])
        .await;
    assert_eq!(refused.status, StatusCode::NOT_FOUND);

    app.deliver().await;
    let reply = app.last_to("amina.b@example.test").await;
    assert_eq!(reply.kind, "staff_message");
    assert!(
        reply.body.contains("asked the council to call you"),
        "{}",
        reply.body
    );
    assert!(reply.subject.starts_with(&format!("[{reference}]")));
    assert_eq!(
        reply.header("Auto-Submitted").as_deref(),
        Some("no"),
        "a person wrote it"
    );
    let raw = String::from_utf8_lossy(&reply.raw);
    assert!(
        raw.contains("In-Reply-To: <test-"),
        "threaded under the worker's email:\n{raw}"
    );
    let automatic: bool =
        sqlx::query_scalar("SELECT automatic FROM outbox WHERE kind = 'staff_message'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(!automatic);
    let actor: String = sqlx::query_scalar("SELECT actor FROM events WHERE action = 'staff_reply'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(actor, "staff:sam.staff@wm.example.test");
}

#[sqlx::test]
async fn a_safeguarding_concern_is_escalated_to_the_councils_contact_with_the_evidence(
    pool: PgPool,
) {
    let app = cases(&pool).await;
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    let reference: String = sqlx::query_scalar("SELECT reference FROM cases WHERE safeguarding")
        .fetch_one(&pool)
        .await
        .unwrap();
    let mut browser = Browser::new(&app);
    browser.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    let page = browser.get(&format!("/cases/{reference}")).await;
    assert!(
        page.body.contains("Safeguarding decision"),
        "the decision form is offered"
    );
    let csrf = Browser::csrf(&page);
    let path = format!("/cases/{reference}/safeguarding");
    let forged = browser
        .post(
            &path,
            &[("csrf", "x"), ("decision", "escalate"), ("note", "x")],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let no_note = browser
        .post(
            &path,
            &[("csrf", &csrf), ("decision", "escalate"), ("note", " ")],
        )
        .await;
    assert_eq!(
        no_note.status,
        StatusCode::BAD_REQUEST,
        "a decision needs its reasons"
    );
    let decided = browser
        .post(
            &path,
            &[
                ("csrf", &csrf),
                ("decision", "escalate"),
                (
                    "note",
                    "Spoke to her by phone: passport held by the employer, no pay since August.",
                ),
            ],
        )
        .await;
    assert_eq!(decided.status, StatusCode::SEE_OTHER, "{}", decided.body);

    app.deliver().await;
    let sent = app.sent("safeguarding_referral").await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, ["adult.safeguarding@dudley.example.gov.uk"]);
    for words in [
        "took my passport",
        "no pay since August",
        "DY1 1AA",
        "amina.b@example.test",
    ] {
        assert!(
            sent[0].body.contains(words),
            "the escalation carries {words:?}:\n{}",
            sent[0].body
        );
    }
    assert!(sent[0].subject.starts_with(&format!("[{reference}]")));
    let (open, hold): (i64, bool) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM exceptions WHERE reason = 'safeguarding' AND resolved_at IS NULL),
                (SELECT safeguarding_hold FROM cases WHERE reference = $1)",
    )
    .bind(&reference)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        (open, hold),
        (0, false),
        "resolved, and the hold on sharing lifted"
    );
    let purpose: String = sqlx::query_scalar("SELECT purpose FROM disclosures WHERE recipient = 'adult.safeguarding@dudley.example.gov.uk'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(purpose, "safeguarding", "in the disclosure log");
    let (actor, detail): (String, serde_json::Value) =
        sqlx::query_as("SELECT actor, detail FROM events WHERE action = 'safeguarding_decision'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(actor, "staff:sam.staff@wm.example.test");
    assert_eq!(detail["decision"], "escalate");
    let page = browser.get(&format!("/cases/{reference}")).await;
    assert!(!page.body.contains("Safeguarding decision"), "decided once");
}

#[sqlx::test]
async fn cases_are_found_by_reference_address_phone_and_name(pool: PgPool) {
    let app = cases(&pool).await;
    account(&pool, "sam.staff@wm.example.test", Role::Staff, None).await;
    account(
        &pool,
        "lead@dudley.example.gov.uk",
        Role::LaLead,
        Some("Dudley"),
    )
    .await;
    let priya: String = sqlx::query_scalar(
        "SELECT c.reference FROM cases c JOIN referrals r ON r.case_id = c.id WHERE r.target = 'Walsall'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    let mut staff = Browser::new(&app);
    staff.sign_in("sam.staff@wm.example.test", PASSWORD).await;
    let jump = staff
        .get(&format!("/search?q={}", priya.to_lowercase()))
        .await;
    assert_eq!(
        jump.location.as_deref(),
        Some(format!("/cases/{priya}").as_str())
    );
    for q in [
        "priya.nair",
        "Nair",
        "07700%20900142",
        "%2B44%207700%20900142",
    ] {
        let page = staff.get(&format!("/search?q={q}")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(&priya), "{q} finds the case");
    }
    let none = staff.get("/search?q=nobody.at.all").await;
    assert!(none.body.contains("No case matches"));
    // An LA lead finds nothing outside their council's referrals.
    let mut lead = Browser::new(&app);
    lead.sign_in("lead@dudley.example.gov.uk", PASSWORD).await;
    assert!(!lead.get("/search?q=Nair").await.body.contains(&priya));
    assert_eq!(
        lead.get(&format!("/search?q={priya}")).await.status,
        StatusCode::OK,
        "no jump to a case they cannot see"
    );
}

#[sqlx::test]
async fn the_overview_counts_cases_and_requeues_a_quarantined_message(pool: PgPool) {
    let app = cases(&pool).await;
    app.receive_raw(b"\xff\xfe not an email at all \x00\x00")
        .await;
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
    let page = staff.get("/overview").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(
        page.body.contains("<b>2</b> new cases this week"),
        "{}",
        page.body
    );
    assert!(page.body.contains("referred_la"));
    assert!(page.body.contains("Walsall"));
    assert!(
        page.body.contains("minutes</b> median time"),
        "a median is shown"
    );
    let id: i64 = sqlx::query_scalar("SELECT id FROM messages WHERE status = 'quarantined'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(page.body.contains(&format!("/messages/{id}/reprocess")));
    let csrf = Browser::csrf(&page);
    let forged = staff
        .post(&format!("/messages/{id}/reprocess"), &[("csrf", "x")])
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let requeued = staff
        .post(&format!("/messages/{id}/reprocess"), &[("csrf", &csrf)])
        .await;
    assert_eq!(requeued.status, StatusCode::SEE_OTHER);
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "received", "back in the queue for the retry worker");
    // It is read again, and quarantined again with its reason: nothing is lost.
    regional_mailbox::ingest::retry_next(&app.app)
        .await
        .unwrap();
    let status: String = sqlx::query_scalar("SELECT status FROM messages WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "quarantined");

    let mut lead = Browser::new(&app);
    lead.sign_in("lead@walsall.example.gov.uk", PASSWORD).await;
    assert_eq!(lead.get("/overview").await.status, StatusCode::NOT_FOUND);
}

#[sqlx::test]
async fn every_form_without_its_csrf_token_is_refused_and_changes_nothing(pool: PgPool) {
    let app = cases(&pool).await;
    account(&pool, "ada.admin@wm.example.test", Role::Admin, None).await;
    let mut admin = Browser::new(&app);
    admin.sign_in("ada.admin@wm.example.test", PASSWORD).await;
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    // Every field any form takes, valid, but no token or a wrong one.
    let fields = [
        ("note", "x"),
        ("text", "x"),
        ("decision", "no_concern"),
        ("location", "WS1 3AB"),
        ("route", "council:Dudley"),
        ("outcome", "employed"),
        ("closing", "nfa"),
        ("into", "RM-000002"),
        ("email", "x@example.test"),
        ("role", "staff"),
        ("password", "a long enough password"),
    ];
    for token in ["", "0000"] {
        let mut form = vec![("csrf", token)];
        form.extend(fields);
        for path in ACTIONS {
            let page = admin.post(path, &form).await;
            assert_eq!(page.status, StatusCode::FORBIDDEN, "{path} with {token:?}");
        }
    }
    let after: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(after, events, "nothing was done");
    assert_eq!(
        admin.get("/").await.status,
        StatusCode::OK,
        "still signed in"
    );
}
