//! The long-running mailbox: every worker under one cancellation token. SIGTERM or Ctrl-C
//! cancels it; each worker finishes its current step and returns.

use std::path::Path;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::app::App;
use crate::ingest::{self, Outcome};
use crate::maildir::Watcher;
use crate::outbox::{self, Transport};
use crate::scheduler;

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
    tasks.close();
    tracing::info!(inbox = %inbox.display(), "running; Ctrl-C or SIGTERM stops");
    wait_for_signal().await;
    tracing::info!("stopping: finishing the current steps");
    shutdown.cancel();
    tasks.wait().await;
    Ok(())
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
