//! Exactly-once ingest on a real Postgres: bad input is kept and put aside, a failing
//! message never blocks the others, and concurrent deliveries of one message count once.

use regional_mailbox::ingest::{self, MAX_ATTEMPTS, Outcome};
use regional_mailbox::store::messages::Position;
use sqlx::PgPool;

use crate::harness::fixtures;
use crate::mailbox::{Mail, TestApp};

#[sqlx::test]
async fn a_message_that_cannot_be_read_is_kept_with_its_reason_and_goes_to_staff(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let garbage = b"\x00\x01 this is not an email at all \xff\xfe".to_vec();
    let panicking = std::fs::read(fixtures().join("fuzz/mail-parser-invalid-part-id.eml")).unwrap();
    for raw in [&garbage, &panicking] {
        let outcome = app.receive_raw(raw).await;
        assert!(
            matches!(outcome, Outcome::Quarantined { .. }),
            "{outcome:?}"
        );
    }
    let kept: Vec<(Vec<u8>, String, Option<String>)> =
        sqlx::query_as("SELECT raw, status, quarantine_reason FROM messages ORDER BY id")
            .fetch_all(&app.app.pool)
            .await
            .unwrap();
    assert_eq!(kept.len(), 2);
    assert_eq!(kept[0].0, garbage, "the raw bytes are kept exactly");
    assert!(
        kept.iter()
            .all(|(_, status, reason)| status == "quarantined" && reason.is_some())
    );
    assert_eq!(
        app.exceptions()
            .await
            .iter()
            .filter(|e| e.0 == "quarantined")
            .count(),
        2
    );
    assert_eq!(app.count("outbox").await, 0);
}

#[sqlx::test]
async fn a_message_that_keeps_failing_is_quarantined_and_the_queue_keeps_moving(pool: PgPool) {
    let app = TestApp::new(pool).await;
    // A real failure inside the transaction: the database refuses consent requests.
    sqlx::query(
        "ALTER TABLE outbox ADD CONSTRAINT no_consent_requests CHECK (kind <> 'consent_request')",
    )
    .execute(&app.app.pool)
    .await
    .unwrap();
    let worker =
        Mail::from("worker.one@gmail.com").body("My sponsor licence was revoked. Please help.");
    let outcome = app.receive(&worker).await;
    assert!(matches!(outcome, Outcome::Failed { .. }), "{outcome:?}");
    let provider = Mail::from("jobs@care-provider.co.uk").subject("Vacancies").body(
        "We are a CQC registered care provider with a sponsor licence and have vacancies for care assistants. We can offer Certificates of Sponsorship.",
    );
    assert!(
        matches!(app.receive(&provider).await, Outcome::Processed { .. }),
        "the next message is not blocked"
    );

    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM messages WHERE from_address IS NULL")
            .fetch_one(&app.app.pool)
            .await
            .unwrap();
    assert_eq!(
        (status.as_str(), attempts),
        ("received", 1),
        "kept for a retry"
    );
    assert_eq!(
        app.count("cases").await,
        0,
        "nothing of the failed attempt remains"
    );

    let mut outcomes = Vec::new();
    while let Some(outcome) = ingest::retry_next(&app.app).await.unwrap() {
        outcomes.push(outcome);
    }
    assert_eq!(outcomes.len() as i32, MAX_ATTEMPTS, "{outcomes:?}");
    assert!(matches!(outcomes.last(), Some(Outcome::Quarantined { .. })));
    assert!(app.exceptions().await.iter().any(|e| e.0 == "quarantined"));

    // Once the fault is fixed, a new message goes through.
    sqlx::query("ALTER TABLE outbox DROP CONSTRAINT no_consent_requests")
        .execute(&app.app.pool)
        .await
        .unwrap();
    let next =
        Mail::from("worker.two@gmail.com").body("My sponsor licence was revoked. Please help.");
    assert!(matches!(
        app.receive(&next).await,
        Outcome::Processed { .. }
    ));
}

#[sqlx::test]
async fn a_failed_message_succeeds_on_retry_once_the_fault_is_gone(pool: PgPool) {
    let app = TestApp::new(pool).await;
    sqlx::query(
        "ALTER TABLE outbox ADD CONSTRAINT no_consent_requests CHECK (kind <> 'consent_request')",
    )
    .execute(&app.app.pool)
    .await
    .unwrap();
    app.receive(
        &Mail::from("worker.one@gmail.com").body("My sponsor licence was revoked. Please help."),
    )
    .await;
    sqlx::query("ALTER TABLE outbox DROP CONSTRAINT no_consent_requests")
        .execute(&app.app.pool)
        .await
        .unwrap();

    let outcome = ingest::retry_next(&app.app).await.unwrap();
    assert!(
        matches!(outcome, Some(Outcome::Processed { case: Some(_), .. })),
        "{outcome:?}"
    );
    assert_eq!(app.sent("consent_request").await.len(), 1);
    assert_eq!(ingest::retry_next(&app.app).await.unwrap(), None);
}

#[sqlx::test]
async fn the_same_message_arriving_twice_at_once_is_processed_once(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let mail = Mail::from("worker.one@gmail.com")
        .body("My sponsor licence was revoked. I live in Walsall WS1 3AB.");
    let raw = mail.to_bytes();
    let (a, b) = tokio::join!(
        app.receive_at(
            Position::Imap {
                uidvalidity: 7,
                uid: 1
            },
            &raw
        ),
        app.receive_at(
            Position::Imap {
                uidvalidity: 7,
                uid: 1
            },
            &raw
        ),
    );
    let mut outcomes = [a, b];
    outcomes.sort_by_key(|o| matches!(o, Outcome::Duplicate));
    assert!(
        matches!(outcomes[0], Outcome::Processed { .. }),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], Outcome::Duplicate);
    assert_eq!(app.count("messages").await, 1);
    assert_eq!(app.sent("consent_request").await.len(), 1);
}

#[sqlx::test]
async fn two_first_messages_from_one_worker_at_once_open_one_case(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first = Mail::from("worker.one@gmail.com")
        .subject("help")
        .body("My sponsor licence was revoked.");
    let second = Mail::from("worker.one@gmail.com")
        .subject("more")
        .body("I forgot to say: I live in Walsall WS1 3AB.");
    let (a, b) = tokio::join!(app.receive(&first), app.receive(&second));
    assert!(matches!(a, Outcome::Processed { .. }) && matches!(b, Outcome::Processed { .. }));
    assert_eq!(app.count("cases").await, 1);
    assert_eq!(app.only_case().await.fact("postcode"), Some("WS1 3AB"));
}
