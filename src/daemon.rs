//! The long-running mailbox: every worker under one cancellation token. SIGTERM or Ctrl-C
//! cancels it; each worker finishes its current step and returns.
//!
//! ```text
//! per mailbox:  fetcher (IMAP) ─► ingest ─► outbox rows ─► outbox worker (SMTP)
//!               retry loop (stored messages that failed)   scheduler (timers, alerts)
//! once:         HTTP /healthz /readyz /metrics
//! ```

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::config::Config;
use crate::ingest::{self, Outcome};
use crate::maildir::Watcher;
use crate::outbox::{self, Transport};
use crate::smtp::SmtpSender;
use crate::{fetcher, http, scheduler};

/// How often an idle outbox worker looks for due mail.
const OUTBOX_EVERY: Duration = Duration::from_secs(2);
/// How often failed messages are retried.
const RETRY_EVERY: Duration = Duration::from_secs(60);

/// How often the scheduler looks at the timers.
const TIMER_EVERY: Duration = Duration::from_secs(60);

/// Serves a local inbox folder and outbox folder until SIGTERM or Ctrl-C.
pub async fn run_local(
    app: App,
    inbox: &Path,
    transport: Transport,
    poll: Duration,
) -> anyhow::Result<()> {
    let watcher = Watcher::open(&app, inbox).await?;
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    tasks.spawn(watcher.run(app.clone(), poll, shutdown.clone()));
    tasks.spawn(retry_loop(app.clone(), poll, shutdown.clone()));
    tasks.spawn(outbox::run(app.clone(), transport, poll, shutdown.clone()));
    tasks.spawn(scheduler::run(app.clone(), TIMER_EVERY, shutdown.clone()));
    tasks.spawn(reload_on_request(vec![app.clone()], shutdown.clone()));
    tasks.close();
    tracing::info!(inbox = %inbox.display(), "running; Ctrl-C or SIGTERM stops");
    wait_for_signal().await;
    tracing::info!("stopping: finishing the current steps");
    shutdown.cancel();
    tasks.wait().await;
    Ok(())
}

/// Serves every configured mailbox on its IMAP and SMTP servers until SIGTERM or Ctrl-C.
pub async fn run_servers(config: &Config) -> anyhow::Result<()> {
    config.check_servers()?;
    let apps = App::start_all(config).await?;
    let mut senders = Vec::new();
    for app in &apps {
        let smtp = app
            .servers
            .smtp
            .clone()
            .context("checked by check_servers")?;
        let sent_copy = app
            .servers
            .imap
            .clone()
            .filter(|imap| imap.sent_folder.is_some());
        senders.push(SmtpSender::new(
            smtp,
            app.mailbox.address.as_str(),
            sent_copy,
        )?);
    }
    let shutdown = CancellationToken::new();
    let tasks = TaskTracker::new();
    for (app, sender) in apps.iter().zip(senders) {
        let transport = Transport::Smtp(Arc::new(sender));
        tasks.spawn(fetcher::run(app.clone(), shutdown.clone()));
        tasks.spawn(retry_loop(app.clone(), RETRY_EVERY, shutdown.clone()));
        tasks.spawn(outbox::run(
            app.clone(),
            transport,
            OUTBOX_EVERY,
            shutdown.clone(),
        ));
        tasks.spawn(scheduler::run(app.clone(), TIMER_EVERY, shutdown.clone()));
    }
    tasks.spawn(reload_on_request(apps.clone(), shutdown.clone()));
    if !config.http.listen.is_empty() {
        let listen = config.http.listen.clone();
        let (apps, stop) = (apps.clone(), shutdown.clone());
        let web = crate::web::Web::new(apps.clone(), config.http.secure_cookies)?;
        let failed = shutdown.clone();
        tasks.spawn(async move {
            if let Err(error) = http::serve(&listen, apps, web, stop).await {
                tracing::error!(error = %format!("{error:#}"), "the HTTP server stopped");
                failed.cancel();
            }
        });
    }
    tasks.close();
    let names: Vec<&str> = apps.iter().map(|a| a.mailbox.id.as_str()).collect();
    tracing::info!(mailboxes = ?names, "running; SIGTERM or Ctrl-C stops");
    tokio::select! {
        _ = wait_for_signal() => {}
        _ = shutdown.cancelled() => {}
    }
    tracing::info!("stopping: finishing the current steps");
    shutdown.cancel();
    tasks.wait().await;
    Ok(())
}

/// Serves the web app (with health and metrics) alone, until SIGTERM or Ctrl-C.
pub async fn run_web(config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.http.listen.is_empty(),
        "http.listen is empty: nothing to serve"
    );
    let apps = App::start_all(config).await?;
    let web = crate::web::Web::new(apps.clone(), config.http.secure_cookies)?;
    let shutdown = CancellationToken::new();
    let stop = shutdown.clone();
    let listen = config.http.listen.clone();
    let mut server = tokio::spawn(async move { http::serve(&listen, apps, web, stop).await });
    tracing::info!("serving the web app; SIGTERM or Ctrl-C stops");
    tokio::select! {
        _ = wait_for_signal() => {}
        result = &mut server => return result?,
    }
    shutdown.cancel();
    server.await?
}

/// Reloads every mailbox's rules and templates on SIGHUP, or when another instance's admin
/// reloaded them (a notice on `RELOAD_CHANNEL`). Invalid files change nothing: logged.
async fn reload_on_request(apps: Vec<App>, shutdown: CancellationToken) {
    let Some(pool) = apps.first().map(|app| app.pool.clone()) else {
        return;
    };
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut listener = None;
    while !shutdown.is_cancelled() {
        if listener.is_none() {
            listener = async {
                let mut listener = sqlx::postgres::PgListener::connect_with(&pool).await.ok()?;
                listener.listen(crate::web::RELOAD_CHANNEL).await.ok()?;
                Some(listener)
            }
            .await;
        }
        let listening = listener.is_some();
        let notice = async {
            match listener.as_mut() {
                Some(listener) => listener
                    .recv()
                    .await
                    .map(|n| n.payload() != crate::app::instance_id()),
                None => std::future::pending().await,
            }
        };
        #[cfg(unix)]
        let signal = async {
            match hangup.as_mut() {
                Some(hangup) => hangup.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signal = std::future::pending::<Option<()>>();
        let reload = tokio::select! {
            _ = shutdown.cancelled() => false,
            // Without a listener (Postgres away), try again in a while.
            _ = tokio::time::sleep(Duration::from_secs(60)), if !listening => false,
            _ = signal => true,
            heard = notice => match heard {
                Ok(from_elsewhere) => from_elsewhere,
                Err(_) => {
                    listener = None;
                    false
                }
            },
        };
        if reload {
            for app in &apps {
                if let Err(error) = app.reload() {
                    tracing::error!(mailbox = %app.mailbox.id, error = %format!("{error:#}"), "the rules were not reloaded");
                }
            }
        }
    }
}

/// Retries every stored message that failed before (each is retried or quarantined).
/// Returns how many were tried.
pub async fn retry_waiting(app: &App) -> anyhow::Result<usize> {
    let mut tried = 0;
    while let Some(outcome) = ingest::retry_next(app).await? {
        tried += 1;
        if let Outcome::Failed { .. } = outcome {
            // Tried again on the next pass; failures are counted, so this ends.
            continue;
        }
    }
    Ok(tried)
}

async fn retry_loop(app: App, every: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(error) = ingest::retry_next(&app).await {
            tracing::error!(error = %format!("{error:#}"), "retrying a stored message");
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await.ok();
}
