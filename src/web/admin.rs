//! The admin page: accounts (create, reset, disable) and reloading the rules and templates
//! after staff changed them. Admins only; everyone else gets "not found".

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::Web;
use super::auth::{Signed, forbidden};
use super::pages::not_found;
use crate::store::events;
use crate::store::staff::{self, Role};

/// The Postgres channel other instances listen on to reload their rules too.
pub const RELOAD_CHANNEL: &str = "rm_reload";

fn admin_only(signed: &Signed) -> Option<Response> {
    (signed.account.role != Role::Admin).then(not_found)
}

#[derive(sqlx::FromRow, serde::Serialize)]
struct AccountRow {
    id: i64,
    email: String,
    role: String,
    council: Option<String>,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
    last_sign_in: Option<DateTime<Utc>>,
}

pub async fn page(State(web): State<Web>, signed: Signed) -> Response {
    if let Some(refused) = admin_only(&signed) {
        return refused;
    }
    render(&web, &signed, None, StatusCode::OK).await
}

async fn render(
    web: &Web,
    signed: &Signed,
    message: Option<String>,
    status: StatusCode,
) -> Response {
    let accounts: Vec<AccountRow> = tried!(
        sqlx::query_as(
            "SELECT s.id, s.email, s.role, s.council, s.created_at, s.disabled_at,
                    (SELECT max(at) FROM login_attempts a WHERE a.email = s.email AND a.succeeded) AS last_sign_in
             FROM staff s ORDER BY s.disabled_at IS NOT NULL, s.role, s.email"
        )
        .fetch_all(&web.pool)
        .await
    );
    let councils = web.councils();
    let when = |at: &Option<DateTime<Utc>>| at.map(|t| t.format("%d %b %Y %H:%M").to_string());
    let mut page = web.render(
        "admin.html",
        &json!({
            "account": signed.account,
            "csrf": signed.csrf,
            "message": message,
            "councils": councils,
            "accounts": accounts.iter().map(|a| json!({
                "a": a,
                "created": a.created_at.format("%d %b %Y").to_string(),
                "disabled": when(&a.disabled_at),
                "last_sign_in": when(&a.last_sign_in),
            })).collect::<Vec<_>>(),
            "rules": web.apps.iter().map(|app| json!({
                "mailbox": app.mailbox.id,
                "rules_dir": app.sources.rules_dir.display().to_string(),
                "templates_dir": app.sources.templates_dir.display().to_string(),
            })).collect::<Vec<_>>(),
        }),
    );
    *page.status_mut() = status;
    page
}

#[derive(Deserialize)]
pub struct AccountForm {
    csrf: String,
    email: String,
    role: String,
    #[serde(default)]
    council: String,
    password: String,
}

/// Creates an account, or resets the role, council and password of an existing one.
pub async fn save_account(
    State(web): State<Web>,
    signed: Signed,
    Form(form): Form<AccountForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    if let Some(refused) = admin_only(&signed) {
        return refused;
    }
    let council = Some(form.council.trim()).filter(|c| !c.is_empty());
    let checked = super::auth::check_account(
        &form.email,
        &form.role,
        council,
        &form.password,
        |council| web.knows_council(council),
    );
    let role = match checked {
        Ok(role) => role,
        Err(problem) => return render(&web, &signed, Some(problem), StatusCode::BAD_REQUEST).await,
    };
    let hash = tried!(super::hash_password(&form.password));
    let mut tx = tried!(web.pool.begin().await);
    let id = tried!(staff::upsert(&mut tx, form.email.trim(), role, council, &hash).await);
    tried!(
        events::insert(
            &mut tx,
            None,
            None,
            &signed.actor(),
            "account_saved",
            &json!({ "account": id, "role": role.as_str(), "council": council }),
        )
        .await
    );
    tried!(tx.commit().await);
    Redirect::to("/admin").into_response()
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// Disables an account and ends its sessions (it can be enabled again by saving it).
pub async fn disable_account(
    State(web): State<Web>,
    signed: Signed,
    Path(id): Path<i64>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    if let Some(refused) = admin_only(&signed) {
        return refused;
    }
    if id == signed.account.id {
        let message = "You cannot disable your own account.".to_string();
        return render(&web, &signed, Some(message), StatusCode::BAD_REQUEST).await;
    }
    let mut tx = tried!(web.pool.begin().await);
    let disabled = tried!(staff::disable(&mut tx, id).await);
    if disabled {
        tried!(
            events::insert(
                &mut tx,
                None,
                None,
                &signed.actor(),
                "account_disabled",
                &json!({ "account": id }),
            )
            .await
        );
    }
    tried!(tx.commit().await);
    Redirect::to("/admin").into_response()
}

/// Reloads the rules and templates from their folders in this process (nothing changes
/// when any part is invalid: the errors are shown), then tells the other instances.
pub async fn reload(
    State(web): State<Web>,
    signed: Signed,
    Form(form): Form<CsrfForm>,
) -> Response {
    if !signed.csrf_ok(&form.csrf) {
        return forbidden();
    }
    if let Some(refused) = admin_only(&signed) {
        return refused;
    }
    for app in web.apps.iter() {
        if let Err(error) = app.reload() {
            let message = format!(
                "Nothing was reloaded: the {} mailbox's files have errors. Fix them and try again.\n{error:#}",
                app.mailbox.id
            );
            return render(&web, &signed, Some(message), StatusCode::BAD_REQUEST).await;
        }
    }
    let mut tx = tried!(web.pool.begin().await);
    tried!(
        events::insert(
            &mut tx,
            None,
            None,
            &signed.actor(),
            "rules_reloaded",
            &json!({}),
        )
        .await
    );
    tried!(
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(RELOAD_CHANNEL)
            .bind(crate::app::instance_id())
            .execute(&mut *tx)
            .await
    );
    tried!(tx.commit().await);
    let message = "The rules and templates were reloaded; new emails are read with them.".into();
    render(&web, &signed, Some(message), StatusCode::OK).await
}
