//! The forms posted from a case page: staff reply, decide safeguarding, correct facts,
//! route, close, reopen and merge; staff and the council's lead report an outcome. Each
//! checks the CSRF token first, then who may act on the case, then hands the decision to
//! `casework` (one transaction, one audit event). A refused decision says why (400).

use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Utc;
use serde::Deserialize;

use super::Web;
use super::auth::{Signed, forbidden};
use super::pages::{not_found, visible_case};
use crate::app::App;
use crate::casework::{self, Correction, Refused};
use crate::conversation::staff::{Closing, RouteChoice};
use crate::domain::Outcome;
use crate::domain::case_ref::CaseRef;
use crate::replies::Reply;

/// A case the account may act on, with the mailbox it belongs to; else the answer to give
/// (not found for unknown cases and for LA leads on staff-only actions, conflict for
/// another server's mailbox).
async fn acting_on<'w>(
    web: &'w Web,
    signed: &Signed,
    reference: &str,
    staff_only: bool,
) -> Result<(i64, &'w App), Response> {
    if staff_only && !signed.account.role.sees_all_cases() {
        return Err(not_found());
    }
    let found = async {
        let mut conn = web.pool.acquire().await?;
        let Some(id) = visible_case(&mut conn, &signed.account, reference).await? else {
            return sqlx::Result::Ok(None);
        };
        let mailbox: String = sqlx::query_scalar("SELECT mailbox FROM cases WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *conn)
            .await?;
        sqlx::Result::Ok(Some((id, mailbox)))
    }
    .await
    .map_err(|e: sqlx::Error| super::internal(&e))?;
    let Some((id, mailbox)) = found else {
        return Err(not_found());
    };
    let app = web.app(&mailbox).ok_or_else(|| {
        (
            StatusCode::CONFLICT,
            "This case belongs to a mailbox this server does not run.",
        )
            .into_response()
    })?;
    Ok((id, app))
}

/// Back to the case page (at `anchor`), or the reason the decision was refused.
fn answered<T>(result: Result<T, Refused>, reference: &str, anchor: &str) -> Response {
    match result {
        Ok(_) => Redirect::to(&format!("/cases/{reference}{anchor}")).into_response(),
        Err(Refused::Invalid(message)) => (StatusCode::BAD_REQUEST, message).into_response(),
        Err(Refused::Failed(error)) => super::internal(&error),
    }
}

/// The first steps of every form: the CSRF token, then the case.
macro_rules! case_form {
    ($web:expr, $signed:expr, $form:expr, $reference:expr, $staff_only:expr) => {{
        if !$signed.csrf_ok(&$form.csrf) {
            return forbidden();
        }
        match acting_on(&$web, &$signed, &$reference, $staff_only).await {
            Ok(found) => found,
            Err(refused) => return refused,
        }
    }};
}

const STAFF: bool = true;
const LEADS_TOO: bool = false;

#[derive(Deserialize)]
pub struct ReplyForm {
    csrf: String,
    #[serde(default)]
    template: String,
    #[serde(default)]
    text: String,
}

/// A reply from staff: their own words, or one of the mailbox's templates, sent to the
/// worker through the outbox in the case's thread.
pub async fn reply(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<ReplyForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let template = match form.template.as_str() {
        "" => Some(Reply::StaffMessage),
        name => Reply::parse(name),
    };
    let Some(template) = template else {
        return (StatusCode::BAD_REQUEST, "Choose what to send.").into_response();
    };
    let result = casework::reply(app, id, &signed.actor(), template, &form.text, Utc::now()).await;
    answered(result, &reference, "#h-reply")
}

#[derive(Deserialize)]
pub struct SafeguardingForm {
    csrf: String,
    decision: String,
    note: String,
}

/// A safeguarding decision: escalate to the council's contact, handled, or no concern.
pub async fn safeguarding(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<SafeguardingForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let Some(decision) = casework::Decision::parse(&form.decision) else {
        return (StatusCode::BAD_REQUEST, "Choose a decision.").into_response();
    };
    let result =
        casework::safeguarding_decision(app, id, &signed.actor(), decision, &form.note, Utc::now())
            .await;
    answered(result, &reference, "")
}

#[derive(Deserialize)]
pub struct FactsForm {
    csrf: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    driving_licence: String,
    #[serde(default)]
    car_access: String,
    #[serde(default)]
    revocation_date: String,
    #[serde(default)]
    note: String,
}

/// Staff correct the facts; the conversation goes on from them.
pub async fn correct(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<FactsForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let correction = Correction {
        location: form.location,
        phone: form.phone,
        driving_licence: form.driving_licence,
        car_access: form.car_access,
        revocation_date: form.revocation_date,
        note: form.note,
    };
    let result = casework::correct(app, id, &signed.actor(), &correction, Utc::now()).await;
    answered(result, &reference, "#h-facts")
}

#[derive(Deserialize)]
pub struct RouteForm {
    csrf: String,
    /// `proposed`, `council:<name>` or `region:<name>`.
    route: String,
    #[serde(default)]
    note: String,
}

/// Staff approve the proposed route or choose another: the referral goes out.
pub async fn route(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<RouteForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let choice = match form.route.split_once(':') {
        None if form.route == "proposed" => RouteChoice::Proposed,
        Some(("council", name)) => RouteChoice::Council(name.to_string()),
        Some(("region", name)) => RouteChoice::Region(name.to_string()),
        _ => return (StatusCode::BAD_REQUEST, "Choose where to refer the worker.").into_response(),
    };
    let result = casework::route(app, id, &signed.actor(), &choice, &form.note, Utc::now()).await;
    answered(result, &reference, "")
}

#[derive(Deserialize)]
pub struct OutcomeForm {
    csrf: String,
    outcome: String,
    #[serde(default)]
    employer: String,
    #[serde(default)]
    note: String,
}

/// The outcome of a referral, from the council's lead (or staff).
pub async fn outcome(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<OutcomeForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, LEADS_TOO);
    let Some(outcome) = Outcome::parse(&form.outcome) else {
        return (StatusCode::BAD_REQUEST, "Choose the outcome.").into_response();
    };
    let result = casework::report_outcome(
        app,
        id,
        &signed.actor(),
        outcome,
        &form.employer,
        &form.note,
        Utc::now(),
    )
    .await;
    answered(result, &reference, "")
}

#[derive(Deserialize)]
pub struct CloseForm {
    csrf: String,
    closing: String,
    #[serde(default)]
    tell_worker: Option<String>,
    #[serde(default)]
    note: String,
}

/// Staff close the case with its outcome.
pub async fn close(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<CloseForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let Some(closing) = Closing::parse(&form.closing) else {
        return (StatusCode::BAD_REQUEST, "Choose how the case ends.").into_response();
    };
    let result = casework::close(
        app,
        id,
        &signed.actor(),
        closing,
        form.tell_worker.is_some(),
        &form.note,
        Utc::now(),
    )
    .await;
    answered(result, &reference, "")
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: String,
    #[serde(default)]
    note: String,
}

/// Staff reopen a closed case.
pub async fn reopen(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<NoteForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let result = casework::reopen(app, id, &signed.actor(), &form.note, Utc::now()).await;
    answered(result, &reference, "")
}

#[derive(Deserialize)]
pub struct MergeForm {
    csrf: String,
    /// The case this one is merged into.
    into: String,
    #[serde(default)]
    note: String,
}

/// Staff fold this case into the same worker's other case; the page of the kept case follows.
pub async fn merge(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<MergeForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    let Some(into_reference) = CaseRef::parse_any(form.into.trim()) else {
        return (
            StatusCode::BAD_REQUEST,
            "Give the reference of the case to merge into, like RM-000123.",
        )
            .into_response();
    };
    let into = match acting_on(&web, &signed, &into_reference.to_string(), STAFF).await {
        Ok((into, into_app)) if into_app.mailbox.id == app.mailbox.id => into,
        Ok(_) => {
            return (
                StatusCode::BAD_REQUEST,
                "Both cases must belong to the same mailbox.",
            )
                .into_response();
        }
        Err(_) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("There is no case {into_reference}."),
            )
                .into_response();
        }
    };
    let result = casework::merge(app, id, into, &signed.actor(), &form.note).await;
    answered(result, &into_reference.to_string(), "")
}

#[derive(Deserialize)]
pub struct EraseForm {
    csrf: String,
    /// The case reference typed again, so an erasure is never one stray click.
    confirm: String,
}

/// An admin erases the person's data (subject's request, or no longer needed).
pub async fn erase(
    State(web): State<Web>,
    signed: Signed,
    Path(reference): Path<String>,
    Form(form): Form<EraseForm>,
) -> Response {
    let (id, app) = case_form!(web, signed, form, reference, STAFF);
    if signed.account.role != crate::store::staff::Role::Admin {
        return not_found();
    }
    let typed = CaseRef::parse_any(form.confirm.trim()).map(|r| r.to_string());
    if typed.as_deref()
        != CaseRef::parse_any(&reference)
            .map(|r| r.to_string())
            .as_deref()
    {
        return (
            StatusCode::BAD_REQUEST,
            "Type the case reference to confirm the erasure.",
        )
            .into_response();
    }
    match crate::privacy::erase(app, id, &signed.actor()).await {
        Ok(_) => Redirect::to(&format!("/cases/{reference}")).into_response(),
        Err(error) => (StatusCode::BAD_REQUEST, format!("Not erased: {error:#}")).into_response(),
    }
}
