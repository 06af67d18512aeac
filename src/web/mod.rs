//! The staff and LA-lead web app: server-rendered HTML (tera, autoescaped), no scripts.
//!
//! ```text
//! request ─► security headers ─► Signed (session cookie → account) ─► handler ─► tera page
//!                                 POST: CSRF token checked first
//! ```
//!
//! Email content is hostile: it is only ever shown as escaped text, attachments are only
//! ever downloaded, and the Content-Security-Policy forbids every script.

mod auth;
mod pages;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::PgPool;

use crate::app::App;

pub use auth::{hash_password, verify_password};

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
        .route("/cases/{reference}/reply", post(pages::reply))
        .route("/cases/{reference}/safeguarding", post(pages::safeguarding))
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
