//! The outbox worker on a real Postgres: each email delivered once with a stable
//! Message-ID, retried with backoff when delivery fails, handed to staff when it never works.

use chrono::Utc;
use regional_mailbox::outbox::{self, Delivered, MAX_ATTEMPTS, Transport};
use sqlx::PgPool;

use crate::mailbox::{Mail, TestApp};

async fn one_queued_email(app: &TestApp) {
    app.receive(
        &Mail::from("worker.one@gmail.com").body("My sponsor licence was revoked. Please help."),
    )
    .await;
    assert_eq!(app.outbox().await.len(), 1);
}

#[sqlx::test]
async fn each_email_is_written_once_with_its_message_id_even_when_delivered_again(pool: PgPool) {
    let app = TestApp::new(pool).await;
    one_queued_email(&app).await;
    assert_eq!(app.deliver().await, 1);
    assert_eq!(app.deliver().await, 0, "nothing left to send");
    let sent = app.outbox().await.remove(0);
    assert_eq!(sent.status, "sent");

    // A crash between writing the file and recording it: the row is delivered again.
    sqlx::query("UPDATE outbox SET status = 'queued', sent_at = NULL")
        .execute(&app.app.pool)
        .await
        .unwrap();
    assert_eq!(app.deliver().await, 1);
    let files: Vec<_> = std::fs::read_dir(&app.outbox_dir)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert_eq!(files.len(), 1, "the same file, not a second email");
    let written = std::fs::read(files[0].path()).unwrap();
    assert_eq!(written, sent.raw, "the same bytes and Message-ID");
    assert_eq!(
        sent.header("Auto-Submitted").as_deref(),
        Some("auto-replied")
    );
}

#[sqlx::test]
async fn a_failed_delivery_is_retried_with_backoff_then_handed_to_staff(pool: PgPool) {
    let app = TestApp::new(pool).await;
    one_queued_email(&app).await;
    // A file where the outbox folder should be: every write fails.
    let blocked = app.outbox_dir.join("blocked");
    std::fs::write(&blocked, "not a folder").unwrap();
    let transport = Transport::Folder(blocked.join("outbox"));

    let now = Utc::now();
    assert_eq!(
        outbox::deliver_next(&app.app, &transport, now)
            .await
            .unwrap(),
        Delivered::Retried
    );
    assert_eq!(
        outbox::deliver_next(&app.app, &transport, now)
            .await
            .unwrap(),
        Delivered::Empty,
        "not due yet"
    );
    let (attempts, next, status): (i32, chrono::DateTime<Utc>, String) =
        sqlx::query_as("SELECT attempts, next_attempt_at, status FROM outbox")
            .fetch_one(&app.app.pool)
            .await
            .unwrap();
    assert_eq!((attempts, status.as_str()), (1, "queued"));
    assert!(next > now, "backs off");

    let mut later = now;
    let mut outcomes = vec![Delivered::Retried];
    while outcomes.last() == Some(&Delivered::Retried) {
        later += chrono::Duration::hours(5);
        outcomes.push(
            outbox::deliver_next(&app.app, &transport, later)
                .await
                .unwrap(),
        );
    }
    assert_eq!(outcomes.len() as i32, MAX_ATTEMPTS);
    assert_eq!(outcomes.last(), Some(&Delivered::Failed));
    assert_eq!(
        app.outbox().await[0].status,
        "failed",
        "kept, never deleted"
    );
    assert!(
        app.exceptions()
            .await
            .iter()
            .any(|e| e.0 == "undeliverable")
    );
}
