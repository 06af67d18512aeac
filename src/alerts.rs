//! Alerts about a mailbox itself (its inbox unreachable, or nothing arriving for too long):
//! an exception without a case in the staff queue and, once per incident, an email to the
//! configured staff through the outbox. Resolved by the bot when the cause goes away.

use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use serde_json::json;

use crate::app::App;
use crate::conversation::{NewException, Outgoing};
use crate::domain::EmailAddress;
use crate::outgoing::Thread;
use crate::replies::Reply;
use crate::store::events::Actor;
use crate::store::{events, exceptions};

/// The inbox could not be reached, or its login was refused, for too long.
pub const UNREACHABLE: &str = "inbox_unreachable";
/// Nothing arrived for too many working hours.
pub const QUIET: &str = "inbox_quiet";

/// Alerts rank with the most urgent work: while the inbox is down nobody is answered.
const PRIORITY: i16 = crate::conversation::priority::SAFEGUARDING + 1;

/// Opens the alert unless it is open already; emails staff when it is new. Returns whether
/// it was new.
pub async fn raise(
    app: &App,
    reason: &'static str,
    title: &str,
    detail: &str,
) -> anyhow::Result<bool> {
    let mut tx = app.pool.begin().await?;
    let exception = NewException {
        reason,
        detail: format!("{title}. {detail}"),
        priority: PRIORITY,
    };
    if !exceptions::open_alert(&mut tx, &app.mailbox.id, &exception).await? {
        return Ok(false);
    }
    let to: Vec<EmailAddress> = app
        .alerts
        .to
        .iter()
        .filter_map(|a| EmailAddress::parse(a))
        .collect();
    if !to.is_empty() {
        let mut mail = Outgoing::new(Reply::StaffAlert, to, false);
        mail.alert = Some((title.to_string(), detail.to_string()));
        let place = crate::outbox::Queue {
            case_id: None,
            reply_to: None,
            held: false,
        };
        let thread = Thread::default();
        crate::outbox::queue(&mut tx, app, &mail, None, &thread, place, Utc::now()).await?;
    }
    events::insert(
        &mut tx,
        None,
        None,
        &Actor::Bot,
        "alert_raised",
        &json!({ "mailbox": app.mailbox.id, "reason": reason }),
    )
    .await?;
    tx.commit().await?;
    metrics::counter!("rm_alerts_raised_total", "mailbox" => app.mailbox.id.clone(), "reason" => reason)
        .increment(1);
    tracing::warn!(mailbox = %app.mailbox.id, reason, "alert raised");
    Ok(true)
}

/// Resolves the alert if it is open. Returns whether it was.
pub async fn clear(app: &App, reason: &'static str) -> anyhow::Result<bool> {
    let mut conn = app.pool.acquire().await?;
    let cleared = exceptions::resolve_alert(&mut conn, &app.mailbox.id, reason).await?;
    if cleared {
        events::insert(
            &mut conn,
            None,
            None,
            &Actor::Bot,
            "alert_cleared",
            &json!({ "mailbox": app.mailbox.id, "reason": reason }),
        )
        .await?;
        tracing::info!(mailbox = %app.mailbox.id, reason, "alert cleared");
    }
    Ok(cleared)
}

/// Raises or clears the quiet-inbox alert: nothing arrived for `quiet_working_hours`.
pub async fn check_quiet(app: &App, now: DateTime<Utc>) -> anyhow::Result<()> {
    let limit = app.alerts.quiet_working_hours;
    if limit == 0 || app.servers.imap.is_none() {
        return Ok(());
    }
    // Since the last message, or since the inbox was first read.
    let since: Option<DateTime<Utc>> = sqlx::query_scalar(
        "SELECT GREATEST(
            (SELECT max(received_at) FROM messages WHERE mailbox = $1),
            (SELECT min(first_ok_at) FROM imap_state WHERE mailbox = $1))",
    )
    .bind(&app.mailbox.id)
    .fetch_one(&app.pool)
    .await?;
    let Some(since) = since else {
        return Ok(());
    };
    if working_hours_between(since, now) >= limit as f64 {
        raise(
            app,
            QUIET,
            &format!("No email has arrived for {limit} working hours"),
            "A regional mailbox usually receives several requests a day. Check that UKVI still \
             gives this address, that the account's mail is not redirected or filtered, and \
             that the inbox folder in the settings is the one mail arrives in.",
        )
        .await?;
    } else {
        clear(app, QUIET).await?;
    }
    Ok(())
}

/// Working hours (Monday to Friday, 09:00 to 17:00 UK time) between two instants.
pub fn working_hours_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    if to <= from {
        return 0.0;
    }
    let mut total = Duration::zero();
    // Beyond a year the answer is "a lot"; the loop stays short.
    let first = from.date_naive().pred_opt().unwrap_or(from.date_naive());
    let last = to.date_naive().min(first + Duration::days(400));
    let mut day = first;
    while day <= last {
        if !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) {
            let offset = uk_offset(day);
            let open = utc(day, 9) - offset;
            let close = utc(day, 17) - offset;
            let start = open.max(from);
            let end = close.min(to);
            if end > start {
                total += end - start;
            }
        }
        day = day.succ_opt().expect("dates within range");
    }
    total.num_seconds() as f64 / 3600.0
}

fn utc(day: NaiveDate, hour: u32) -> DateTime<Utc> {
    Utc.from_utc_datetime(&day.and_hms_opt(hour, 0, 0).expect("valid hour"))
}

/// UK time is UTC+1 (BST) from the last Sunday of March to the last Sunday of October
/// (the change happens at 01:00 UTC on a Sunday, never within working hours).
fn uk_offset(day: NaiveDate) -> Duration {
    let start = last_sunday(day.year(), 3);
    let end = last_sunday(day.year(), 10);
    if day >= start && day < end {
        Duration::hours(1)
    } else {
        Duration::zero()
    }
}

fn last_sunday(year: i32, month: u32) -> NaiveDate {
    let mut day = NaiveDate::from_ymd_opt(year, month, 31).expect("March and October have 31 days");
    while day.weekday() != Weekday::Sun {
        day = day.pred_opt().expect("within the month");
    }
    day
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn counts_only_weekday_office_hours_in_uk_time() {
        // Friday 16:00 UTC in winter (16:00 UK) to Monday 10:00 UTC (10:00 UK): 1 + 1 hours.
        let hours = working_hours_between(at("2026-11-20T16:00:00Z"), at("2026-11-23T10:00:00Z"));
        assert!((hours - 2.0).abs() < 1e-9, "{hours}");
        // In summer 09:00 UK is 08:00 UTC: Monday 07:00 to 10:00 UTC is 2 working hours.
        let hours = working_hours_between(at("2026-07-06T07:00:00Z"), at("2026-07-06T10:00:00Z"));
        assert!((hours - 2.0).abs() < 1e-9, "{hours}");
        // A whole week is 40 hours.
        let hours = working_hours_between(at("2026-11-16T00:00:00Z"), at("2026-11-23T00:00:00Z"));
        assert!((hours - 40.0).abs() < 1e-9, "{hours}");
        assert_eq!(
            working_hours_between(at("2026-11-21T09:00:00Z"), at("2026-11-22T17:00:00Z")),
            0.0
        );
    }

    #[test]
    fn british_summer_time_changes_on_the_last_sundays() {
        assert_eq!(
            last_sunday(2026, 3),
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()
        );
        assert_eq!(
            last_sunday(2026, 10),
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap()
        );
        assert_eq!(
            uk_offset(NaiveDate::from_ymd_opt(2026, 3, 30).unwrap()),
            Duration::hours(1)
        );
        assert_eq!(
            uk_offset(NaiveDate::from_ymd_opt(2026, 10, 26).unwrap()),
            Duration::zero()
        );
    }
}
