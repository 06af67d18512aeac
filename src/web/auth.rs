//! Who is asking: argon2id passwords, sessions kept in Postgres (the cookie holds a random
//! token, the database only its hash), CSRF tokens on every form, and login rate limits.

use std::net::SocketAddr;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{ConnectInfo, Form, FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, Utc};
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::Web;
use crate::store::events::{self, Actor};
use crate::store::staff::{self, Account, Role};

const SESSION_COOKIE: &str = "rm_session";
const LOGIN_COOKIE: &str = "rm_login";
/// A working day and a bit; staff sign in again each morning.
const SESSION_HOURS: i64 = 12;
/// Failed logins allowed per account or client in `LOCKOUT_MINUTES`.
const MAX_FAILURES: i64 = 5;
const LOCKOUT_MINUTES: i64 = 15;

pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("hashing the password: {e}"))?
        .to_string())
}

/// Whether a new account may be saved: a real email address, a known role, a council
/// known to a mailbox's directory for an LA lead, and a password of 12 characters or more.
pub fn check_account(
    email: &str,
    role: &str,
    council: Option<&str>,
    password: &str,
    known_council: impl Fn(&str) -> bool,
) -> Result<Role, String> {
    if crate::domain::EmailAddress::parse(email.trim()).is_none() {
        return Err(format!("`{}` is not an email address.", email.trim()));
    }
    let Some(role) = Role::parse(role) else {
        return Err("Choose a role: admin, staff or la-lead.".into());
    };
    if role == Role::LaLead {
        let Some(council) = council else {
            return Err("An LA lead needs the council whose referrals they see.".into());
        };
        if !known_council(council) {
            return Err(format!(
                "`{council}` is not a council in rules/directory.toml."
            ));
        }
    }
    if password.chars().count() < 12 {
        return Err("The password must have at least 12 characters.".into());
    }
    Ok(role)
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system gives randomness");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

fn set_cookie(web: &Web, name: &str, value: &str, max_age: i64) -> String {
    let secure = if web.secure_cookies { "; Secure" } else { "" };
    format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}")
}

/// Constant-time comparison: a token is not guessed a byte at a time.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A request from a signed-in account. Without a live session the request is answered
/// with a redirect to the login page.
pub struct Signed {
    pub account: Account,
    pub csrf: String,
}

impl Signed {
    pub fn actor(&self) -> Actor {
        Actor::Staff(self.account.email.clone())
    }

    /// Every form carries the session's CSRF token; without it the form is refused.
    pub fn csrf_ok(&self, token: &str) -> bool {
        same(token, &self.csrf)
    }
}

/// The answer to a form without a valid CSRF token.
pub fn forbidden() -> Response {
    (
        StatusCode::FORBIDDEN,
        "This form has expired. Go back, reload the page and try again.",
    )
        .into_response()
}

impl FromRequestParts<Web> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Self::Rejection> {
        let to_login = || {
            let next = parts.uri.path();
            Redirect::to(&format!("/login?next={}", urlencode(next))).into_response()
        };
        let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(to_login());
        };
        let mut conn = web.pool.acquire().await.map_err(|e| super::internal(&e))?;
        match staff::session(&mut conn, &sha256(&token)).await {
            Ok(Some((account, csrf))) => Ok(Signed { account, csrf }),
            Ok(None) => Err(to_login()),
            Err(error) => Err(super::internal(&error)),
        }
    }
}

/// The client's address, for rate limiting.
pub struct Client(pub String);

impl FromRequestParts<Web> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &Web) -> Result<Self, Self::Rejection> {
        Ok(Client(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map_or_else(|| "unknown".to_string(), |c| c.0.ip().to_string()),
        ))
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only a path on this site: `next` never sends anyone elsewhere.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

pub async fn login_page(State(web): State<Web>, Query(query): Query<Next>) -> Response {
    let token = random_token();
    let mut page = web.render(
        "login.html",
        &json!({ "csrf": token, "next": safe_next(query.next.as_deref()), "error": null }),
    );
    if let Ok(value) = set_cookie(&web, LOGIN_COOKIE, &token, 3600).parse() {
        page.headers_mut().append(header::SET_COOKIE, value);
    }
    page
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    csrf: String,
    next: Option<String>,
}

pub async fn login(
    State(web): State<Web>,
    Client(client): Client,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    // Double-submit: the form's token must match the cookie set with the form.
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same(&form.csrf, &expected) {
        return (
            StatusCode::FORBIDDEN,
            "This form has expired. Reload the login page and try again.",
        )
            .into_response();
    }
    let next = safe_next(form.next.as_deref());
    let fail = |message: &str, status: StatusCode| {
        let mut page = web.render(
            "login.html",
            &json!({ "csrf": expected, "next": next, "error": message }),
        );
        *page.status_mut() = status;
        page
    };
    let result = async {
        let mut conn = web.pool.acquire().await?;
        let since = Utc::now() - Duration::minutes(LOCKOUT_MINUTES);
        if staff::recent_failures(&mut conn, &form.email, &client, since).await? >= MAX_FAILURES {
            return anyhow::Ok(Err((
                "Too many failed attempts. Wait 15 minutes, then try again.",
                StatusCode::TOO_MANY_REQUESTS,
            )));
        }
        let account = staff::by_email(&mut conn, &form.email).await?;
        // Verify even for an unknown address, so timing does not reveal accounts.
        let hash = account
            .as_ref()
            .map_or(dummy_hash(), |(_, hash)| hash.as_str());
        let verified = verify_password(&form.password, hash);
        let Some((account, _)) = account.filter(|_| verified) else {
            staff::record_attempt(&mut conn, &form.email, &client, false).await?;
            return Ok(Err((
                "That email address and password do not match.",
                StatusCode::UNAUTHORIZED,
            )));
        };
        staff::record_attempt(&mut conn, &form.email, &client, true).await?;
        let token = random_token();
        let expires = Utc::now() + Duration::hours(SESSION_HOURS);
        staff::create_session(
            &mut conn,
            &sha256(&token),
            account.id,
            &random_token(),
            expires,
        )
        .await?;
        events::insert(
            &mut conn,
            None,
            None,
            &Actor::Staff(account.email.clone()),
            "signed_in",
            &json!({}),
        )
        .await?;
        Ok(Ok(token))
    }
    .await;
    match result {
        Ok(Ok(token)) => {
            let mut response = Redirect::to(&next).into_response();
            for value in [
                set_cookie(&web, SESSION_COOKIE, &token, SESSION_HOURS * 3600),
                set_cookie(&web, LOGIN_COOKIE, "", 0),
            ] {
                if let Ok(value) = value.parse() {
                    response.headers_mut().append(header::SET_COOKIE, value);
                }
            }
            response
        }
        Ok(Err((message, status))) => fail(message, status),
        Err(error) => super::internal(&error),
    }
}

/// A hash of a random password, checked against when the account does not exist.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| hash_password(&random_token()).unwrap_or_default())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    State(web): State<Web>,
    signed: Signed,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    if let Some(token) = cookie(&headers, SESSION_COOKIE) {
        let ended = async {
            let mut conn = web.pool.acquire().await?;
            staff::end_session(&mut conn, &sha256(&token)).await?;
            events::insert(
                &mut conn,
                None,
                None,
                &signed.actor(),
                "signed_out",
                &json!({}),
            )
            .await?;
            anyhow::Ok(())
        }
        .await;
        if let Err(error) = ended {
            return super::internal(&error);
        }
    }
    let mut response = Redirect::to("/login").into_response();
    if let Ok(value) = set_cookie(&web, SESSION_COOKIE, "", 0).parse() {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery staple", &hash));
        assert!(!verify_password("Correct horse battery staple", &hash));
        assert!(!verify_password("anything", "not a hash"));
        assert!(!verify_password("anything", dummy_hash()));
    }

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next(Some("/cases/RM-000001")), "/cases/RM-000001");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn tokens_compare_in_full() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "abcd"));
    }
}
