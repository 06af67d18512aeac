//! The staff web app in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver), against the real daemon on the real mail servers. A member of
//! staff signs in, opens the safeguarding exception, records a decision and replies; the
//! escalation and the reply arrive in the recipients' own mailboxes. Hostile email content
//! shows as text and runs nothing. Every page is checked for unlabelled fields and low
//! contrast, on a laptop and a phone. Screenshots go to `target/test-artifacts/screenshots`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use sqlx::PgPool;

use crate::harness::{database_url, project_dir, scratch};
use crate::mail_servers::{Setup, from_mailbox, header, one_at_a_time, stack, wait_for};

const PASSWORD: &str = "a long staff password";

/// A free loopback port (bound and released: nothing else here takes ports at random).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver with a headless Chromium session; both stop when it is dropped.
struct Browser {
    client: Client,
    driver: Child,
    shots: PathBuf,
}

impl Browser {
    async fn start(profile: &std::path::Path) -> Browser {
        let installed = Command::new(project_dir().join("scripts/chromium"))
            .arg("install")
            .stdin(Stdio::null())
            .output()
            .expect("scripts/chromium runs");
        assert!(
            installed.status.success(),
            "scripts/chromium install failed:\n{}",
            String::from_utf8_lossy(&installed.stderr)
        );
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--disable-quic", "--no-first-run",
                    "--disable-dev-shm-usage", "--window-size=1280,1000",
                    format!("--user-data-dir={}", profile.display()),
                ],
            }),
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(client) => break client,
                Err(error) if Instant::now() > deadline => {
                    panic!("no browser session from chromedriver: {error}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        let shots = project_dir().join("target/test-artifacts/screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        Browser {
            client,
            driver,
            shots,
        }
    }

    async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
    }

    /// Waits until the page (after a form was posted) no longer has `selector`.
    async fn gone(&self, selector: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.client.find(Locator::Css(selector)).await.is_ok() {
            assert!(Instant::now() < deadline, "{selector} is still on the page");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    /// Labels for every field; text at WCAG AA contrast (4.5:1) against its background;
    /// nothing wider than the window.
    async fn check_accessible(&self, page: &str) {
        let found = self
            .client
            .execute(ACCESSIBILITY_CHECK, Vec::new())
            .await
            .unwrap();
        assert_eq!(
            found["unlabelled"],
            json!([]),
            "{page}: fields without a label"
        );
        assert_eq!(found["low_contrast"], json!([]), "{page}: text below 4.5:1");
        assert_eq!(
            found["overflow"],
            json!(false),
            "{page}: wider than the window"
        );
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}

const ACCESSIBILITY_CHECK: &str = r#"
const unlabelled = [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id);
const channels = c => c.match(/[\d.]+/g).map(Number);
const luminance = ([r, g, b]) => {
  const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
};
const background = e => {
  for (; e; e = e.parentElement) {
    const c = channels(getComputedStyle(e).backgroundColor);
    if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
  }
  return [255, 255, 255];
};
const low_contrast = [];
for (const e of document.querySelectorAll('body *')) {
  const own = [...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
  if (!own || e.getClientRects().length === 0) continue;
  const [a, b] = [luminance(channels(getComputedStyle(e).color).slice(0, 3)), luminance(background(e))];
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low_contrast.push(`${e.tagName} ${ratio.toFixed(2)}: ${e.textContent.trim().slice(0, 40)}`);
}
const overflow = document.documentElement.scrollWidth > window.innerWidth + 1;
return { unlabelled, low_contrast, overflow };
"#;

#[sqlx::test]
async fn staff_work_the_safeguarding_exception_in_a_real_browser(pool: PgPool) {
    let _turn = one_at_a_time().await;
    let db = database_url(&pool).await;
    let setup = Setup::new("browser", db.clone());
    let stack = stack();
    let worker = setup.worker(1);
    let contact = format!("adult.safeguarding.{}@dudley.example.gov.uk", setup.tag);
    stack.add_user(&contact);
    let port = free_port();
    setup.configure(
        "[http]\nlisten = \"\"",
        &format!("[http]\nlisten = \"127.0.0.1:{port}\""),
    );
    // The account, made as staff make it: with the command line.
    let staff = "sam.staff@wm.example.test";
    let mut add = Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args(["--config", setup.config.to_str().unwrap()])
        .args(["staff", "add", staff, "--role", "admin"])
        .current_dir(project_dir())
        .env("RM_DATABASE_URL", &db)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    writeln!(add.stdin.take().unwrap(), "{PASSWORD}").unwrap();
    assert!(add.wait().unwrap().success(), "staff add");
    let daemon = setup.start(0);

    // A worker in danger, whose email also carries script and image payloads.
    let hostile = format!(
        "From: {worker}\r\nTo: {bot}\r\n\
         Subject: <script>window.pwned='subject'</script> Help <img src=x onerror=\"window.pwned='subject-img'\">\r\n\
         Date: Mon, 23 Nov 2026 09:12:42 +0000\r\nMessage-ID: <hostile.{tag}@mail.example.test>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n\
         My employer took my passport and has not paid my wages for three months. I live in Dudley, DY1 1AA.\r\n\
         <script>window.pwned='body'</script> <img src=x onerror=\"window.pwned='body-img'\">\r\n",
        bot = setup.bot,
        tag = setup.tag,
    );
    stack.smtp(&worker, &setup.bot, hostile.as_bytes()).await;
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the safeguarding exception",
        || async {
            sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM exceptions WHERE reason = 'safeguarding' AND resolved_at IS NULL",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
            == 1
        },
    )
    .await;

    let profile = scratch("browser-profile");
    let browser = Browser::start(&profile).await;
    let site = format!("http://localhost:{port}");
    let client = &browser.client;

    // Sign in.
    client.goto(&format!("{site}/")).await.unwrap();
    browser.css("#email").await;
    browser.screenshot("login").await;
    browser.check_accessible("login").await;
    browser.css("#email").await.send_keys(staff).await.unwrap();
    browser
        .css("#password")
        .await
        .send_keys(PASSWORD)
        .await
        .unwrap();
    browser
        .css("form button[type=submit]")
        .await
        .click()
        .await
        .unwrap();

    // The queue: safeguarding first; keyboard users reach the skip link first.
    let first = browser.text("table.queue tbody tr").await;
    assert!(first.contains("Safeguarding"), "first row: {first}");
    browser.screenshot("queue").await;
    browser.check_accessible("queue").await;
    client.set_window_size(390, 844).await.unwrap();
    browser.screenshot("queue-phone").await;
    browser.check_accessible("queue on a phone").await;
    client.set_window_size(1280, 1000).await.unwrap();
    client
        .find(Locator::Css("body"))
        .await
        .unwrap()
        .send_keys("\u{E004}")
        .await
        .unwrap();
    let focused = client
        .execute("return document.activeElement.textContent", Vec::new())
        .await
        .unwrap();
    assert_eq!(
        focused,
        json!("Skip to the content"),
        "Tab reaches the skip link first"
    );
    browser
        .css("table.queue tbody tr.p0 td a")
        .await
        .click()
        .await
        .unwrap();

    // The case: the payloads are visible as text and none of them ran.
    let subject = browser.text("article.message header b").await;
    assert!(
        subject.contains("<script>window.pwned='subject'</script>"),
        "{subject}"
    );
    let body = browser.text("article.message pre.body").await;
    assert!(body.contains("<img src=x onerror="), "{body}");
    let pwned = client
        .execute("return typeof window.pwned", Vec::new())
        .await
        .unwrap();
    assert_eq!(pwned, json!("undefined"), "no script from the email ran");
    assert!(client.get_alert_text().await.is_err(), "no dialog opened");
    let images = client
        .execute(
            "return document.querySelectorAll('article.message img, article.message script').length",
            Vec::new(),
        )
        .await
        .unwrap();
    assert_eq!(images, json!(0), "no element came from the email");
    browser.screenshot("case").await;
    browser.check_accessible("case").await;
    let reference = browser.text("h1").await;
    let reference = reference.split_whitespace().next().unwrap().to_string();

    // The safeguarding decision: escalate, with the evidence.
    browser
        .css("input[name=decision][value=escalate]")
        .await
        .click()
        .await
        .unwrap();
    let note = "Phoned her: the employer holds her passport; no pay since August.";
    browser.css("#sg-note").await.send_keys(note).await.unwrap();
    browser
        .css("form[action$='/safeguarding'] button")
        .await
        .click()
        .await
        .unwrap();
    browser.gone("#h-safeguarding").await;
    let page = client.source().await.unwrap();
    assert!(!page.contains("Safeguarding decision"), "decided");
    assert!(page.contains("safeguarding_decision"), "in the history");

    // A reply in the worker's thread.
    let text =
        "Hello, I am sorry this happened. The council's safeguarding team will call you today.";
    browser
        .css("#reply-template")
        .await
        .select_by_value("staff_message")
        .await
        .unwrap();
    browser.css("#reply").await.send_keys(text).await.unwrap();
    browser
        .css("form[action$='/reply'] button")
        .await
        .click()
        .await
        .unwrap();
    // Back on the case page, at the reply form, once the reply is queued.
    let deadline = Instant::now() + Duration::from_secs(10);
    while client.current_url().await.unwrap().fragment() != Some("h-reply") {
        assert!(Instant::now() < deadline, "the reply form was not answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    wait_for(
        &setup,
        Duration::from_secs(60),
        "the escalation in the council's mailbox",
        || async { !from_mailbox(&stack.inbox(&contact), &setup.bot).is_empty() },
    )
    .await;
    let escalation = stack.inbox(&contact).into_iter().next().unwrap();
    let escalation = String::from_utf8_lossy(&escalation).replace("=\r\n", "");
    assert!(escalation.contains("took my passport"), "{escalation}");
    assert!(escalation.contains("no pay since August"), "{escalation}");
    assert!(escalation.contains(&reference), "{escalation}");
    wait_for(
        &setup,
        Duration::from_secs(60),
        "the reply in the worker's mailbox",
        || async {
            from_mailbox(&stack.inbox(&worker), &setup.bot)
                .iter()
                .any(|m| header(m, "Auto-Submitted").as_deref() == Some("no"))
        },
    )
    .await;
    let inbox = stack.inbox(&worker);
    let reply = from_mailbox(&inbox, &setup.bot)
        .into_iter()
        .find(|m| header(m, "Auto-Submitted").as_deref() == Some("no"))
        .unwrap();
    let parsed = mail_parser::MessageParser::default().parse(reply).unwrap();
    assert!(
        parsed
            .body_text(0)
            .unwrap()
            .contains("safeguarding team will call you")
    );
    assert!(
        header(reply, "In-Reply-To").is_some_and(|p| p.contains(&format!("hostile.{}", setup.tag))),
        "threaded under her email"
    );

    // The other pages, and the queue on a phone.
    for (name, path) in [
        ("overview", "/overview"),
        ("admin", "/admin"),
        ("search", "/search?q=Dudley"),
    ] {
        client.goto(&format!("{site}{path}")).await.unwrap();
        browser.css("h1").await;
        browser.screenshot(name).await;
        browser.check_accessible(name).await;
    }
    client.set_window_size(390, 844).await.unwrap();
    client
        .goto(&format!("{site}/cases/{reference}"))
        .await
        .unwrap();
    browser.css("h1").await;
    browser.screenshot("case-phone").await;
    browser.check_accessible("case on a phone").await;
    browser.client.clone().close().await.ok();
    assert_eq!(daemon.stop(), Some(0), "{}", setup.logs());
}
