//! The programme's figures in the browser: the DHSC return for a period, as a table and a
//! bar chart drawn on the server (SVG, no script), and as a CSV download. Staff only.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, NaiveDate, Utc};
use serde::Deserialize;
use serde_json::json;

use super::Web;
use super::auth::Signed;
use super::pages::not_found;
use crate::report::{FIGURES, Format, Return, shown};

#[derive(Debug, Default, Deserialize)]
pub struct PeriodQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(default)]
    suppress: Option<String>,
    mailbox: Option<String>,
}

/// The period asked for; by default this quarter so far.
fn period(query: &PeriodQuery) -> Result<(NaiveDate, NaiveDate), String> {
    let today = Utc::now().date_naive();
    let quarter_start =
        NaiveDate::from_ymd_opt(today.year(), (today.month0() / 3) * 3 + 1, 1).unwrap_or(today);
    let date = |text: &Option<String>, default: NaiveDate| match text.as_deref().map(str::trim) {
        None | Some("") => Ok(default),
        Some(text) => NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map_err(|_| format!("\"{text}\" is not a date (YYYY-MM-DD).")),
    };
    let (from, to) = (date(&query.from, quarter_start)?, date(&query.to, today)?);
    if from > to {
        return Err("The first day comes after the last.".into());
    }
    Ok((from, to))
}

async fn figures(web: &Web, query: &PeriodQuery) -> Result<Return, Response> {
    let (from, to) = period(query)
        .map_err(|message| (axum::http::StatusCode::BAD_REQUEST, message).into_response())?;
    let app = match query.mailbox.as_deref() {
        Some(id) => web.app(id),
        None => web.apps.first(),
    }
    .ok_or_else(not_found)?;
    let mut conn = web.pool.acquire().await.map_err(|e| super::internal(&e))?;
    let values = crate::store::report::dhsc(&mut conn, &app.mailbox.id, from, to)
        .await
        .map_err(|e| super::internal(&e))?;
    Ok(Return {
        mailbox: app.mailbox.id.clone(),
        from,
        to,
        values,
    })
}

/// Bars of the chart: one a figure, grouped by section, scaled to the largest value.
fn chart(ret: &Return, suppress: bool) -> (Vec<serde_json::Value>, usize) {
    const ROW: usize = 30;
    let largest = FIGURES
        .iter()
        .map(|f| ret.value(f.key))
        .max()
        .unwrap_or(0)
        .max(1);
    let mut rows = Vec::new();
    let mut y = 0;
    let mut section = "";
    for figure in &FIGURES {
        if figure.section != section {
            section = figure.section;
            y += ROW;
            rows.push(json!({ "heading": section, "y": y - 8 }));
        }
        let value = ret.value(figure.key);
        // A suppressed figure draws no bar: its length would tell the number.
        let hidden = shown(value, suppress) != value.to_string();
        rows.push(json!({
            "label": figure.label,
            "value": shown(value, suppress),
            "y": y,
            "width": if hidden { 0 } else { value * 360 / largest },
        }));
        y += ROW;
    }
    (rows, y + 10)
}

pub async fn dhsc(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<PeriodQuery>,
) -> Response {
    if !signed.account.role.sees_all_cases() {
        return not_found();
    }
    let ret = match figures(&web, &query).await {
        Ok(ret) => ret,
        Err(refused) => return refused,
    };
    let suppress = query.suppress.is_some();
    let (bars, height) = chart(&ret, suppress);
    let rows: Vec<serde_json::Value> = FIGURES
        .iter()
        .map(|f| {
            json!({
                "section": f.section,
                "label": f.label,
                "counts": f.counts,
                "value": shown(ret.value(f.key), suppress),
            })
        })
        .collect();
    web.render(
        "report.html",
        &json!({
            "account": signed.account,
            "csrf": signed.csrf,
            "mailbox": ret.mailbox,
            "from": ret.from.to_string(),
            "to": ret.to.to_string(),
            "suppress": suppress,
            "rows": rows,
            "bars": bars,
            "height": height,
        }),
    )
}

pub async fn dhsc_csv(
    State(web): State<Web>,
    signed: Signed,
    Query(query): Query<PeriodQuery>,
) -> Response {
    if !signed.account.role.sees_all_cases() {
        return not_found();
    }
    let ret = match figures(&web, &query).await {
        Ok(ret) => ret,
        Err(refused) => return refused,
    };
    let name = format!("dhsc-return-{}-{}-to-{}.csv", ret.mailbox, ret.from, ret.to);
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        ret.render(Format::Csv, query.suppress.is_some()),
    )
        .into_response()
}
