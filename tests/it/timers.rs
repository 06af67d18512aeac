//! Reminders, closures and deadline warnings on a real Postgres, driven by the scheduler's
//! step with the clock moved instead of waiting.

use chrono::Utc;
use regional_mailbox::domain::CaseState;
use regional_mailbox::scheduler::{self, Tick};
use sqlx::PgPool;

use crate::mailbox::{Mail, TestApp};

const WORKER: &str = "worker.one@gmail.com";

#[sqlx::test]
async fn a_quiet_case_gets_one_reminder_then_closes_with_a_way_back(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&Mail::from(WORKER).body("My sponsor licence was revoked. Please help."))
        .await;
    assert_eq!(
        scheduler::tick(&app.app, Utc::now()).await.unwrap(),
        Tick::default(),
        "too early"
    );

    app.let_days_pass(6).await;
    let tick = scheduler::tick(&app.app, Utc::now()).await.unwrap();
    assert_eq!(tick.reminded, 1);
    let reminder = app.last_to(WORKER).await;
    assert_eq!(reminder.kind, "reminder");
    assert!(
        reminder.body.contains("reply YES"),
        "consent is still pending:\n{}",
        reminder.body
    );
    assert!(
        reminder.message_id.starts_with("consent-remind-"),
        "a YES to it counts as consent"
    );
    assert_eq!(
        scheduler::tick(&app.app, Utc::now())
            .await
            .unwrap()
            .reminded,
        0,
        "one reminder only"
    );

    app.let_days_pass(15).await;
    assert_eq!(
        scheduler::tick(&app.app, Utc::now()).await.unwrap().closed,
        1
    );
    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::ClosedNfa);
    let closing = app.last_to(WORKER).await;
    assert_eq!(closing.kind, "closing");
    assert!(
        closing.body.contains("come back at any time"),
        "{}",
        closing.body
    );
    assert_eq!(
        scheduler::tick(&app.app, Utc::now()).await.unwrap(),
        Tick::default()
    );
}

#[sqlx::test]
async fn a_worker_who_answers_the_reminder_is_not_closed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&Mail::from(WORKER).body("My sponsor licence was revoked. Please help."))
        .await;
    app.let_days_pass(6).await;
    scheduler::tick(&app.app, Utc::now()).await.unwrap();
    let reminder = app.last_to(WORKER).await;
    app.receive(
        &Mail::from(WORKER)
            .body("Yes, I agree. I have a phone but I am not sure of my postcode yet.")
            .replying_to(&reminder),
    )
    .await;
    let case = app.only_case().await;
    assert_eq!(
        case.state,
        CaseState::Triaged,
        "asked twice for the postcode: staff take over"
    );
    assert!(app.exceptions().await.iter().any(|e| e.0 == "no_location"));
    app.let_days_pass(30).await;
    assert_eq!(
        scheduler::tick(&app.app, Utc::now()).await.unwrap(),
        Tick::default()
    );
}

#[sqlx::test]
async fn a_close_deadline_opens_a_priority_exception_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let revoked = (Utc::now() - chrono::Duration::days(50))
        .format("%-d %B %Y")
        .to_string();
    app.receive(&Mail::from(WORKER).body(&format!(
        "My sponsor's licence was revoked on {revoked}. Please help me."
    )))
    .await;
    let case = app.only_case().await;
    assert!(
        case.deadline.is_some(),
        "the deadline comes from the revocation date"
    );

    let tick = scheduler::tick(&app.app, Utc::now()).await.unwrap();
    assert_eq!(tick.deadline_warnings, 1);
    let exceptions = app.exceptions().await;
    let deadline = exceptions
        .iter()
        .find(|e| e.0 == "deadline_near")
        .expect("a deadline exception");
    assert_eq!(deadline.1, 1, "right after safeguarding");
    assert_eq!(
        scheduler::tick(&app.app, Utc::now())
            .await
            .unwrap()
            .deadline_warnings,
        0
    );
}
