//! The staff and LA-lead web app: server-rendered HTML (tera, autoescaped), no scripts.
//!
//! ```text
//! request ─► security headers ─► Signed (session cookie → account) ─► handler ─► tera page
//!                                 POST: CSRF token checked first
//! ```
//!
//! Email content is hostile: it is only ever shown as escaped text, attachments are only
//! ever downloaded, and the Content-Security-Policy forbids every script.

/// Shorthand in handlers: a database error becomes a logged 500.
macro_rules! tried {
    ($e:expr) => {
        match $e {
            Ok(value) => value,
            Err(error) => return super::internal(&error),
        }
    };
}

mod admin;
mod auth;
mod decisions;
mod pages;
mod reports;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::PgPool;

use crate::app::App;

pub use admin::RELOAD_CHANNEL;
pub use auth::{check_account, hash_password, verify_password};

/// What every handler shares.
#[derive(Clone)]
pub struct Web {
    pub pool: PgPool,
    /// Every mailbox served (they share the pool): a case is acted on with its own.
    apps: Arc<Vec<App>>,
    pages: Arc<tera::Tera>,
    /// `Secure` on cookies: on unless the app is served over plain HTTP on loopback.
    pub secure_cookies: bool,
}

impl Web {
    pub fn new(apps: Vec<App>, secure_cookies: bool) -> anyhow::Result<Web> {
        let pool = apps
            .first()
            .map(|app| app.pool.clone())
            .ok_or_else(|| anyhow::anyhow!("the web app needs a mailbox"))?;
        Ok(Web {
            pool,
            apps: Arc::new(apps),
            pages: Arc::new(load_pages()?),
            secure_cookies,
        })
    }

    /// Every council of the mailboxes' directories, sorted.
    fn councils(&self) -> Vec<String> {
        let mut councils: Vec<String> = self
            .apps
            .iter()
            .flat_map(|app| {
                let rules = app.rules.get();
                rules
                    .directory
                    .councils
                    .iter()
                    .map(|c| c.council.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        councils.sort();
        councils.dedup();
        councils
    }

    fn knows_council(&self, council: &str) -> bool {
        self.apps
            .iter()
            .any(|app| app.rules.get().directory.council(council).is_some())
    }

    fn app(&self, mailbox: &str) -> Option<&App> {
        self.apps.iter().find(|app| app.mailbox.id == mailbox)
    }

    fn render(&self, page: &str, context: &serde_json::Value) -> Response {
        let context = match tera::Context::from_serialize(context) {
            Ok(context) => context,
            Err(error) => return internal(&error),
        };
        match self.pages.render(page, &context) {
            Ok(html) => Html(html).into_response(),
            Err(error) => internal(&error),
        }
    }
}

/// The app's routes; `serve` adds them to the daemon's HTTP server or runs them alone.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/search", get(pages::search))
        .route("/overview", get(pages::overview))
        .route("/messages/{id}/reprocess", post(pages::reprocess))
        .route("/cases/{reference}", get(pages::case))
        .route("/cases/{reference}/notes", post(pages::add_note))
        .route("/cases/{reference}/reply", post(decisions::reply))
        .route(
            "/cases/{reference}/safeguarding",
            post(decisions::safeguarding),
        )
        .route("/cases/{reference}/facts", post(decisions::correct))
        .route("/cases/{reference}/route", post(decisions::route))
        .route("/cases/{reference}/outcome", post(decisions::outcome))
        .route("/cases/{reference}/close", post(decisions::close))
        .route("/cases/{reference}/reopen", post(decisions::reopen))
        .route("/cases/{reference}/merge", post(decisions::merge))
        .route("/reports/dhsc", get(reports::dhsc))
        .route("/reports/dhsc.csv", get(reports::dhsc_csv))
        .route("/cases/{reference}/erase", post(decisions::erase))
        .route("/admin", get(admin::page))
        .route("/admin/accounts", post(admin::save_account))
        .route("/admin/accounts/{id}/disable", post(admin::disable_account))
        .route("/admin/reload", post(admin::reload))
        .route(
            "/cases/{reference}/messages/{message}/attachments/{n}",
            get(pages::attachment),
        )
        .route("/exceptions/{id}/resolve", post(pages::resolve))
        .route("/static/app.css", get(stylesheet))
        .layer(axum::middleware::map_response(security_headers))
        .with_state(web)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("pages/app.css"),
    )
}

/// No scripts at all, no framing, no sniffing, no referrer leaking case references.
async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}

fn load_pages() -> anyhow::Result<tera::Tera> {
    let mut tera = tera::Tera::new();
    tera.autoescape_on([".html"]);
    tera.add_raw_templates([
        ("base.html", include_str!("pages/base.html")),
        ("login.html", include_str!("pages/login.html")),
        ("queue.html", include_str!("pages/queue.html")),
        ("referrals.html", include_str!("pages/referrals.html")),
        ("search.html", include_str!("pages/search.html")),
        ("overview.html", include_str!("pages/overview.html")),
        ("case.html", include_str!("pages/case.html")),
        ("admin.html", include_str!("pages/admin.html")),
        ("report.html", include_str!("pages/report.html")),
    ])
    .map_err(|e| anyhow::anyhow!("the web pages: {e}"))?;
    Ok(tera)
}

fn internal(error: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %error, "rendering a page");
    // Debug builds (tests, development) show the cause; release builds only log it.
    let body = if cfg!(debug_assertions) {
        format!("Something went wrong: {error}")
    } else {
        "Something went wrong; it has been logged.".to_string()
    };
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}
