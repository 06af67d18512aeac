//! HTTP edge for operators: `/healthz` (the process answers), `/readyz` (Postgres answers
//! and every inbox was read recently) and `/metrics` (Prometheus text format).

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::Utc;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::store::imap as checkpoints;

/// The process-wide metrics recorder (installed once; later calls share it).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle());
            describe();
            handle
        })
        .clone()
}

fn describe() {
    use metrics::{describe_counter, describe_gauge};
    describe_counter!(
        "rm_messages_fetched_total",
        "Messages fetched from the inbox over IMAP."
    );
    describe_counter!(
        "rm_messages_ingested_total",
        "Messages stored, by outcome (processed, quarantined, duplicate, failed)."
    );
    describe_counter!(
        "rm_outbox_sent_total",
        "Emails delivered by the outbox worker."
    );
    describe_counter!(
        "rm_outbox_retried_total",
        "Deliveries that failed and will be retried."
    );
    describe_counter!(
        "rm_outbox_failed_total",
        "Deliveries given up on (staff told)."
    );
    describe_counter!(
        "rm_imap_failures_total",
        "Failed IMAP sessions (each is retried)."
    );
    describe_counter!(
        "rm_imap_idle_renewals_total",
        "IDLE commands renewed at their deadline."
    );
    describe_counter!(
        "rm_alerts_raised_total",
        "Staff alerts about the mailbox itself."
    );
    describe_gauge!(
        "rm_last_fetch_timestamp_seconds",
        "When the inbox was last read in full."
    );
    describe_gauge!("rm_cases", "Cases by state.");
    describe_gauge!("rm_outbox", "Outbox rows by status.");
    describe_gauge!("rm_exceptions_open", "Open staff exceptions.");
}

#[derive(Clone)]
struct Served {
    apps: Vec<App>,
    metrics: PrometheusHandle,
}

/// Serves the staff web app, health and metrics until `shutdown`. The apps share one
/// pool; the first is used for queries.
pub async fn serve(
    listen: &str,
    apps: Vec<App>,
    web: crate::web::Web,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| anyhow::anyhow!("listening on {listen}: {e}"))?;
    tracing::info!(listen = %listener.local_addr()?, "web app, health and metrics served");
    let router = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(Served {
            apps,
            metrics: metrics_handle(),
        })
        .merge(crate::web::router(web));
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move { shutdown.cancelled().await })
    .await?;
    Ok(())
}

async fn ready(State(served): State<Served>) -> Response {
    match not_ready(&served.apps).await {
        Ok(problems) if problems.is_empty() => (StatusCode::OK, "ready\n").into_response(),
        Ok(problems) => {
            (StatusCode::SERVICE_UNAVAILABLE, problems.join("\n") + "\n").into_response()
        }
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("postgres: {error:#}\n"),
        )
            .into_response(),
    }
}

/// What keeps the service from being ready; empty when it is.
async fn not_ready(apps: &[App]) -> anyhow::Result<Vec<String>> {
    let Some(first) = apps.first() else {
        return Ok(vec!["no mailbox configured".into()]);
    };
    let mut conn = tokio::time::timeout(Duration::from_secs(5), first.pool.acquire())
        .await
        .map_err(|_| anyhow::anyhow!("no connection within 5 s"))??;
    let last_ok = checkpoints::last_ok(&mut conn).await?;
    let mut problems = Vec::new();
    for app in apps {
        let Some(imap) = &app.servers.imap else {
            continue;
        };
        // A healthy fetcher reads the inbox at least once per IDLE period or poll.
        let period =
            (imap.idle_minutes * 60).max(imap.poll_seconds) + 2 * imap.timeout_seconds + 60;
        let fresh = last_ok
            .iter()
            .find(|(mailbox, _)| *mailbox == app.mailbox.id)
            .and_then(|(_, at)| *at)
            .is_some_and(|at| (Utc::now() - at).num_seconds() <= period as i64);
        if !fresh {
            problems.push(format!(
                "{}: the inbox has not been read in the last {period} s",
                app.mailbox.id
            ));
        }
    }
    Ok(problems)
}

async fn metrics(State(served): State<Served>) -> Response {
    if let Err(error) = gauges(&served.apps).await {
        tracing::warn!(error = %format!("{error:#}"), "reading the gauges for /metrics");
    }
    served.metrics.run_upkeep();
    (
        [("content-type", "text/plain; version=0.0.4")],
        served.metrics.render(),
    )
        .into_response()
}

/// Case, outbox and exception counts, read at scrape time so they are always true.
async fn gauges(apps: &[App]) -> anyhow::Result<()> {
    let Some(first) = apps.first() else {
        return Ok(());
    };
    let mut counts: Vec<(&'static str, String, String, i64)> = Vec::new();
    let cases: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT mailbox, state, count(*) FROM cases GROUP BY mailbox, state")
            .fetch_all(&first.pool)
            .await?;
    counts.extend(cases.into_iter().map(|(m, s, n)| ("rm_cases", m, s, n)));
    let outbox: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT mailbox, status, count(*) FROM outbox GROUP BY mailbox, status")
            .fetch_all(&first.pool)
            .await?;
    counts.extend(outbox.into_iter().map(|(m, s, n)| ("rm_outbox", m, s, n)));
    publish(counts);
    // From the database, so any instance reports the fetcher wherever it runs.
    let mut conn = first.pool.acquire().await?;
    for (mailbox, at) in checkpoints::last_ok(&mut conn).await? {
        if let Some(at) = at {
            metrics::gauge!("rm_last_fetch_timestamp_seconds", "mailbox" => mailbox)
                .set(at.timestamp() as f64);
        }
    }
    drop(conn);
    let open: i64 = sqlx::query_scalar("SELECT count(*) FROM exceptions WHERE resolved_at IS NULL")
        .fetch_one(&first.pool)
        .await?;
    metrics::gauge!("rm_exceptions_open").set(open as f64);
    Ok(())
}

/// Sets the count gauges; a state that has emptied reads 0, not its last count.
fn publish(counts: Vec<(&'static str, String, String, i64)>) {
    static SEEN: std::sync::Mutex<Vec<(&'static str, String, String)>> =
        std::sync::Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for (name, mailbox, label) in seen.iter() {
        if !counts
            .iter()
            .any(|(n, m, l, _)| n == name && m == mailbox && l == label)
        {
            set_count(name, mailbox.clone(), label.clone(), 0);
        }
    }
    for (name, mailbox, label, n) in counts {
        if !seen
            .iter()
            .any(|(sn, sm, sl)| *sn == name && *sm == mailbox && *sl == label)
        {
            seen.push((name, mailbox.clone(), label.clone()));
        }
        set_count(name, mailbox, label, n);
    }
}

fn set_count(name: &'static str, mailbox: String, label: String, n: i64) {
    match name {
        "rm_cases" => {
            metrics::gauge!("rm_cases", "mailbox" => mailbox, "state" => label).set(n as f64)
        }
        _ => metrics::gauge!("rm_outbox", "mailbox" => mailbox, "status" => label).set(n as f64),
    }
}
