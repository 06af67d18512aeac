//! The scheduler: reminders and closures of quiet cases, and staff warnings when a worker's
//! 60-day deadline is close. Each case is claimed with `FOR UPDATE SKIP LOCKED`, so several
//! instances never act on one case twice.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::conversation::{self, NewException, priority};
use crate::ingest;
use crate::store::events::Actor;
use crate::store::{cases, events, exceptions};

/// What one tick did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tick {
    pub reminded: usize,
    pub closed: usize,
    pub deadline_warnings: usize,
}

/// Runs every timer that is due at `now`.
#[tracing::instrument(skip_all)]
pub async fn tick(app: &App, now: DateTime<Utc>) -> anyhow::Result<Tick> {
    let mut tick = Tick::default();
    let rules = app.rules.get();
    let quiet_for = rules
        .conversation
        .reminder_after_days
        .min(rules.conversation.close_after_days);
    let candidates: Vec<i64> = sqlx::query_scalar(
        "SELECT id FROM cases
         WHERE mailbox = $1 AND state IN ('awaiting_consent', 'awaiting_info') AND closed_at IS NULL
           AND GREATEST(last_inbound_at, last_outbound_at, reminder_sent_at) <= $2
         ORDER BY id",
    )
    .bind(&app.mailbox.id)
    .bind(now - chrono::Duration::days(i64::from(quiet_for)))
    .fetch_all(&app.pool)
    .await?;
    for id in candidates {
        let mut tx = app.pool.begin().await?;
        let claimed: Option<i64> =
            sqlx::query_scalar("SELECT id FROM cases WHERE id = $1 FOR UPDATE SKIP LOCKED")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
        if claimed.is_none() {
            continue;
        }
        let Some(case) = cases::snapshot(&mut tx, id).await? else {
            continue;
        };
        let Some(plan) = conversation::on_timer(&case, now, &rules) else {
            continue;
        };
        let reminded = plan.reminded;
        ingest::apply(&mut tx, app, plan, Some(&case), None, &Actor::Bot, now).await?;
        tx.commit().await?;
        if reminded {
            tick.reminded += 1;
        } else {
            tick.closed += 1;
        }
    }
    tick.deadline_warnings = warn_deadlines(app, now).await?;
    Ok(tick)
}

/// Opens a priority exception for each open, unreferred case whose deadline is close.
async fn warn_deadlines(app: &App, now: DateTime<Utc>) -> anyhow::Result<usize> {
    let horizon = now.date_naive()
        + Days::new(u64::from(
            app.rules.get().conversation.deadline_warning_days,
        ));
    let due: Vec<(i64, String, chrono::NaiveDate)> = sqlx::query_as(
        "SELECT id, reference, deadline FROM cases c
         WHERE mailbox = $1 AND closed_at IS NULL AND deadline <= $2
           AND state NOT IN ('referred_la', 'referred_region')
           AND NOT EXISTS (SELECT 1 FROM exceptions e WHERE e.case_id = c.id AND e.reason = 'deadline_near')
         ORDER BY deadline",
    )
    .bind(&app.mailbox.id)
    .bind(horizon)
    .fetch_all(&app.pool)
    .await?;
    let mut warned = 0;
    for (id, reference, deadline) in due {
        let mut tx = app.pool.begin().await?;
        let days_left = (deadline - now.date_naive()).num_days();
        let exception = NewException {
            reason: "deadline_near",
            detail: format!(
                "Case {reference}: {days_left} days left of the worker's 60 days to find a new sponsor (deadline {deadline}), and not referred yet."
            ),
            priority: priority::DEADLINE,
        };
        if exceptions::open(&mut tx, Some(id), None, &exception).await? {
            events::insert(
                &mut tx,
                Some(id),
                None,
                &Actor::Bot,
                "deadline_near",
                &json!({ "days_left": days_left }),
            )
            .await?;
            warned += 1;
        }
        tx.commit().await?;
    }
    Ok(warned)
}

/// Ticks every `every` until shutdown.
pub async fn run(app: App, every: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        match tick(&app, Utc::now()).await {
            Ok(tick) if tick != Tick::default() => tracing::info!(?tick, "timers"),
            Ok(_) => {}
            Err(error) => tracing::error!(error = %format!("{error:#}"), "scheduler"),
        }
        if let Err(error) = crate::alerts::check_quiet(&app, Utc::now()).await {
            tracing::error!(error = %format!("{error:#}"), "checking for a quiet inbox");
        }
        match crate::privacy::apply_retention(&app, app.retention_days, Utc::now()).await {
            Ok(erased) if !erased.is_empty() => {
                tracing::info!(cases = ?erased, "retention erased closed cases");
            }
            Ok(_) => {}
            Err(error) => tracing::error!(error = %format!("{error:#}"), "retention"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(every) => {}
        }
    }
}
