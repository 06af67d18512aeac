//! The consent conversation end to end on a real Postgres: each path of the case
//! lifecycle, driven by emails as workers, councils and providers write them.

use regional_mailbox::domain::{CaseState, Consent, Kind};
use regional_mailbox::ingest::Outcome;
use sqlx::PgPool;

use crate::mailbox::{Mail, TestApp};

const PRIYA: &str = "priya.nair.1991@gmail.com";
const WALSALL_LEAD: &str = "ir.lead@walsall.example.gov.uk";

fn priya() -> Mail {
    Mail::from(PRIYA).named("Priya Nair")
}

#[sqlx::test]
async fn a_workers_three_message_conversation_ends_in_exactly_one_referral_to_the_right_council(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().subject("Help - sponsor licence revoked").body(
        "Dear Sir/Madam,\n\nMy employer's sponsor licence was revoked on 10 November 2026. I am a senior carer.\nPlease help me find a new sponsor.\n\nPriya Nair",
    ))
    .await;
    let consent_request = app.last_to(PRIYA).await;
    assert_eq!(consent_request.kind, "consent_request");
    assert!(
        consent_request.body.contains("YES"),
        "{}",
        consent_request.body
    );
    assert!(
        consent_request.body.contains("your full postcode"),
        "asks for the missing details at once"
    );

    app.receive(&priya().body("Yes I agree").replying_to(&consent_request))
        .await;
    let details_request = app.last_to(PRIYA).await;
    assert_eq!(details_request.kind, "details_request");
    assert!(details_request.body.contains("postcode"));
    assert!(
        !details_request.body.contains("phone number"),
        "the phone was asked once already"
    );

    app.receive(
        &priya()
            .body("My postcode is WS1 3AB. I have a full UK driving licence and a car. My number is 07700 900142.")
            .replying_to(&details_request),
    )
    .await;

    let referrals = app.sent("referral_council").await;
    assert_eq!(referrals.len(), 1, "exactly one referral");
    assert_eq!(referrals[0].to, [WALSALL_LEAD]);
    let body = &referrals[0].body;
    for line in [
        "Name: Priya Nair",
        "Postcode: WS1 3AB",
        "Phone: 07700 900142",
        "Driving licence: Full UK licence",
        "Car for work: Yes",
    ] {
        assert!(body.contains(line), "referral lacks {line}:\n{body}");
    }
    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::ReferredLa);
    assert!(
        referrals[0]
            .subject
            .starts_with(&format!("[{}]", case.reference))
    );
    let told = app.last_to(PRIYA).await;
    assert_eq!(told.kind, "worker_referred");
    assert!(told.body.contains("Walsall"), "{}", told.body);
    assert!(
        told.body.contains("Self-help"),
        "the worker gets the signposting"
    );

    let disclosures: Vec<(String, Vec<String>, Option<i64>)> =
        sqlx::query_as("SELECT recipient, fields, consent_id FROM disclosures")
            .fetch_all(&app.app.pool)
            .await
            .unwrap();
    assert_eq!(disclosures.len(), 1);
    assert_eq!(disclosures[0].0, WALSALL_LEAD);
    assert!(disclosures[0].1.contains(&"phone".to_string()));
    assert!(
        disclosures[0].2.is_some(),
        "the disclosure names the consent it relied on"
    );
    let wording: String = sqlx::query_scalar("SELECT wording_version FROM consents")
        .fetch_one(&app.app.pool)
        .await
        .unwrap();
    assert!(
        wording.starts_with("consent_request@"),
        "consent records the wording shown: {wording}"
    );
}

#[sqlx::test]
async fn replaying_the_same_messages_changes_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let first =
        priya().body("My sponsor licence was revoked. I live in Walsall WS1 3AB. Please help.");
    app.receive(&first).await;
    let consent_request = app.last_to(PRIYA).await;
    let yes = priya().body("YES").replying_to(&consent_request);
    app.receive(&yes).await;
    let tables = [
        "cases",
        "messages",
        "facts",
        "consents",
        "outbox",
        "referrals",
        "disclosures",
        "exceptions",
        "events",
    ];
    let mut before = Vec::new();
    for table in tables {
        before.push(app.count(table).await);
    }

    // The same bytes again (a re-fetch), and the same Message-ID from another place.
    assert_eq!(app.receive(&first).await, Outcome::Duplicate);
    assert_eq!(app.receive(&yes).await, Outcome::Duplicate);
    let mut edited = yes.to_bytes();
    edited.extend_from_slice(b"\r\nSent from my phone\r\n");
    assert_eq!(
        app.receive_raw(&edited).await,
        Outcome::Duplicate,
        "same Message-ID"
    );

    let mut after = Vec::new();
    for table in tables {
        after.push(app.count(table).await);
    }
    assert_eq!(before, after);
    assert_eq!(app.sent("referral_council").await.len(), 1);
}

#[sqlx::test]
async fn a_withdrawal_notifies_everyone_who_received_the_details(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("Sponsor licence revoked. I live at WS1 3AB, Walsall. I have a full UK licence and a car, phone 07700 900142.")).await;
    let consent_request = app.last_to(PRIYA).await;
    app.receive(&priya().body("Yes").replying_to(&consent_request))
        .await;
    app.deliver().await;
    assert_eq!(app.sent("referral_council").await[0].status, "sent");

    app.receive(
        &priya()
            .subject("stop")
            .body("I have changed my mind. I withdraw my consent, please do not share my details."),
    )
    .await;

    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::Withdrawn);
    assert_eq!(case.consent, Some(Consent::Withdrawn));
    let notices = app.sent("withdrawal_notice").await;
    assert_eq!(notices.len(), 1);
    assert_eq!(notices[0].to, [WALSALL_LEAD]);
    assert!(notices[0].body.contains(&case.reference.to_string()));
    assert!(
        !notices[0].body.contains("Priya"),
        "a notice carries no personal data"
    );
    let confirmation = app.last_to(PRIYA).await;
    assert_eq!(confirmation.kind, "withdrawal_confirmation");
    assert!(
        confirmation
            .body
            .contains("We have told everyone we shared your details with")
    );
}

#[sqlx::test]
async fn a_withdrawal_before_delivery_cancels_the_referral_and_tells_nobody(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("Sponsor licence revoked. I live at WS1 3AB."))
        .await;
    let consent_request = app.last_to(PRIYA).await;
    app.receive(&priya().body("YES").replying_to(&consent_request))
        .await;
    app.receive(
        &priya()
            .subject("stop")
            .body("Please stop, I withdraw my consent."),
    )
    .await;

    assert_eq!(app.sent("referral_council").await[0].status, "cancelled");
    assert!(app.sent("withdrawal_notice").await.is_empty());
    app.deliver().await;
    let files: Vec<_> = std::fs::read_dir(&app.outbox_dir)
        .unwrap()
        .filter_map(Result::ok)
        .collect();
    assert!(
        files
            .iter()
            .all(|f| !f.file_name().to_string_lossy().contains("referral")),
        "no referral left the building"
    );
}

#[sqlx::test]
async fn an_auto_reply_to_our_consent_request_gets_no_answer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("My sponsor licence was revoked, please help."))
        .await;
    let consent_request = app.last_to(PRIYA).await;
    let before = app.outbox().await.len();

    let vacation = priya()
        .header("Auto-Submitted", "auto-replied")
        .body("I am on leave until Monday and will reply when I am back.")
        .replying_to(&consent_request);
    let outcome = app.receive(&vacation).await;
    assert!(
        matches!(
            outcome,
            Outcome::Processed {
                kind: Kind::AutoReply,
                ..
            }
        ),
        "{outcome:?}"
    );
    // Without headers too: an autoresponder that only says so in words.
    let plain = priya()
        .subject("Out of office")
        .body("Thank you for your email. I am out of the office with limited access to email.");
    app.receive(&plain).await;

    assert_eq!(
        app.outbox().await.len(),
        before,
        "nothing answers automatic mail"
    );
    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::AwaitingConsent);
    let linked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE kind = 'auto_reply' AND case_id IS NOT NULL",
    )
    .fetch_one(&app.app.pool)
    .await
    .unwrap();
    assert_eq!(linked, 2, "kept on the worker's case for staff to see");
}

#[sqlx::test]
async fn a_reference_from_a_stranger_goes_to_staff(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("My sponsor licence was revoked. I live in Walsall, WS1 3AB."))
        .await;
    let case = app.only_case().await;
    let events_before = app.count("facts").await;

    let stranger = Mail::from("someone.else@hotmail.com")
        .subject(&format!("Re: [{}] consent", case.reference))
        .body("YES I consent. My postcode is B1 1AA and my phone is 07700 900999.");
    app.receive(&stranger).await;

    assert_eq!(
        app.count("cases").await,
        1,
        "no case for the stranger either"
    );
    let after = app.only_case().await;
    assert_eq!(
        after.consent, None,
        "the stranger's YES is not the worker's consent"
    );
    assert_eq!(after.fact("postcode"), Some("WS1 3AB"));
    assert_eq!(app.count("facts").await, events_before);
    let exceptions = app.exceptions().await;
    assert!(
        exceptions
            .iter()
            .any(|(reason, _, case)| reason == "unknown_sender" && case.is_none()),
        "{exceptions:?}"
    );
    let stranger_mail = app
        .outbox()
        .await
        .into_iter()
        .filter(|s| s.to[0] == "someone.else@hotmail.com")
        .count();
    assert_eq!(stranger_mail, 0);
}

#[sqlx::test]
async fn consent_refused_sends_signposting_only_and_shares_nothing(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("My sponsor licence was revoked. I live in Walsall WS1 3AB."))
        .await;
    let consent_request = app.last_to(PRIYA).await;
    app.receive(
        &priya()
            .body("No, I do not consent. Please do not share my details.")
            .replying_to(&consent_request),
    )
    .await;

    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::ClosedNoConsent);
    assert_eq!(case.consent, Some(Consent::Refused));
    let reply = app.last_to(PRIYA).await;
    assert_eq!(reply.kind, "consent_refused");
    assert!(reply.body.contains("Self-help"), "{}", reply.body);
    assert_eq!(app.count("referrals").await, 0);
    assert_eq!(app.count("disclosures").await, 0);
}

#[sqlx::test]
async fn safeguarding_opens_a_priority_exception_and_nothing_is_shared_without_staff(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body(
        "Please help. My employer is keeping my passport and has not paid my wages for two months. I live in Walsall WS1 3AB.",
    ))
    .await;
    let exceptions = app.exceptions().await;
    assert_eq!(exceptions[0].0, "safeguarding");
    assert_eq!(exceptions[0].1, 0, "the most urgent priority");
    let help = app.sent("safeguarding_urgent_help").await;
    assert_eq!(help.len(), 1);
    assert!(
        help[0].body.contains("999") && help[0].body.contains("08000 121 700"),
        "{}",
        help[0].body
    );

    let consent_request = app.sent("consent_request").await.remove(0);
    app.receive(&priya().body("Yes").replying_to(&consent_request))
        .await;
    let case = app.only_case().await;
    assert_eq!(case.consent, Some(Consent::Given));
    assert!(case.safeguarding_hold);
    assert_eq!(case.state, CaseState::Triaged);
    assert_eq!(app.count("referrals").await, 0, "held for a staff decision");
    assert_eq!(
        app.exceptions()
            .await
            .iter()
            .filter(|e| e.0 == "safeguarding")
            .count(),
        1,
        "one open concern, not two"
    );
}

#[sqlx::test]
async fn a_worker_in_another_region_is_referred_to_that_regions_hub(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let joseph = "joseph.mensah@outlook.com";
    app.receive(
        &Mail::from(joseph).named("Joseph Mensah").body(
            "My sponsor lost its licence. I live in Manchester, M14 5RT. Phone 07700 900456.",
        ),
    )
    .await;
    let consent_request = app.last_to(joseph).await;
    app.receive(
        &Mail::from(joseph)
            .body("YES, I consent.")
            .replying_to(&consent_request),
    )
    .await;

    let referrals = app.sent("referral_region").await;
    assert_eq!(referrals.len(), 1);
    assert!(
        referrals[0].subject.contains("North West"),
        "{}",
        referrals[0].subject
    );
    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::ReferredRegion);
    assert!(app.last_to(joseph).await.body.contains("North West"));
}

#[sqlx::test]
async fn a_referral_from_another_organisation_opens_a_case_for_the_worker_it_describes(
    pool: PgPool,
) {
    let app = TestApp::new(pool).await;
    let hub = "displaced.workers@northwest-hub.example.org";
    app.receive(&Mail::from(hub).subject("Referral: worker living in Wolverhampton").body(
        "Dear colleagues,\n\nWe are referring a displaced care worker who lives in your region: Maria Santos, \
         maria.santos@gmail.com, 07700 900321, living in Wolverhampton WV1 1AA. She has a full UK driving licence. \
         She has given her consent for her details to be shared with her local council.\n\nKind regards,\nNorth West Hub",
    ))
    .await;

    let case = app.only_case().await;
    assert!(
        case.addresses
            .iter()
            .any(|a| a.as_str() == "maria.santos@gmail.com"),
        "{:?}",
        case.addresses
    );
    assert_eq!(
        case.consent,
        Some(Consent::Given),
        "relayed consent, stated by the referrer"
    );
    let relayed: String = sqlx::query_scalar("SELECT wording_version FROM consents")
        .fetch_one(&app.app.pool)
        .await
        .unwrap();
    assert!(relayed.contains(hub), "{relayed}");
    assert_eq!(
        app.sent("referral_council").await[0].to,
        ["ir.lead@wolverhampton.example.gov.uk"]
    );
    assert_eq!(app.last_to(hub).await.kind, "referral_received");
}

#[sqlx::test]
async fn a_referral_without_stated_consent_asks_the_worker_first(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let charity = "advice@migrant-support.example.org";
    app.receive(&Mail::from(charity).subject("Referral of a care worker").body(
        "Hello,\n\nWe are supporting a displaced care worker, Ana Reyes (ana.reyes@yahoo.com), who lives in Coventry CV1 2AA. \
         Could you help her find a new sponsor?\n\nBest wishes,\nMigrant Support",
    ))
    .await;
    let case = app.only_case().await;
    assert_eq!(case.consent, None);
    assert_eq!(
        app.last_to("ana.reyes@yahoo.com").await.kind,
        "consent_request"
    );
    assert_eq!(app.count("referrals").await, 0);
}

#[sqlx::test]
async fn an_outcome_from_the_council_lead_closes_the_case_as_employed(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("Sponsor licence revoked. I live at WS1 3AB."))
        .await;
    let consent_request = app.last_to(PRIYA).await;
    app.receive(&priya().body("YES").replying_to(&consent_request))
        .await;
    let referral = app.sent("referral_council").await.remove(0);

    app.receive(
        &Mail::from(WALSALL_LEAD)
            .body("Good news: she has accepted a job offer with a licensed sponsor and starts next month.")
            .replying_to(&referral),
    )
    .await;
    let case = app.only_case().await;
    assert_eq!(case.state, CaseState::ClosedEmployed);
    let outcome: Option<String> = sqlx::query_scalar("SELECT outcome FROM referrals")
        .fetch_one(&app.app.pool)
        .await
        .unwrap();
    assert_eq!(outcome.as_deref(), Some("employed"));
    assert_eq!(
        app.last_to(WALSALL_LEAD).await.kind,
        "referral_council",
        "no reply to the lead"
    );
}

#[sqlx::test]
async fn a_provider_enquiry_is_recorded_and_acknowledged(pool: PgPool) {
    let app = TestApp::new(pool).await;
    let provider = "recruitment@sunnyside-care.co.uk";
    let outcome = app
        .receive(&Mail::from(provider).subject("Vacancies for displaced care workers").body(
            "Dear team,\n\nWe are a CQC registered home care provider with a sponsor licence. We have six vacancies \
             for care assistants and can offer Certificates of Sponsorship to displaced workers.\n\nKind regards,\nSunnyside Care",
        ))
        .await;
    assert!(
        matches!(
            outcome,
            Outcome::Processed {
                kind: Kind::ProviderEnquiry,
                case: None
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(app.last_to(provider).await.kind, "provider_acknowledgement");
    assert_eq!(app.count("cases").await, 0);
    assert_eq!(
        app.events("provider_enquiry").await,
        1,
        "counted for the programme figures"
    );
}

#[sqlx::test]
async fn the_worker_is_never_asked_twice_for_what_they_already_gave(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("My sponsor licence was revoked. My phone is 07700 900142 and I have a full UK driving licence.")).await;
    let consent_request = app.last_to(PRIYA).await;
    assert!(!consent_request.body.contains("your phone number"));
    assert!(!consent_request.body.contains("driving licence?"));
    assert!(consent_request.body.contains("your full postcode"));

    app.receive(&priya().body("yes").replying_to(&consent_request))
        .await;
    let details = app.last_to(PRIYA).await;
    assert_eq!(details.kind, "details_request");
    assert!(!details.body.contains("phone"), "{}", details.body);
    app.receive(&priya().body("Sorry I don't know").replying_to(&details))
        .await;
    assert_eq!(
        app.sent("details_request").await.len(),
        1,
        "the postcode is asked for at most twice"
    );
    assert!(app.exceptions().await.iter().any(|e| e.0 == "no_location"));
}

#[sqlx::test]
async fn the_same_reply_goes_to_an_address_at_most_once_a_day(pool: PgPool) {
    let app = TestApp::new(pool).await;
    for n in 0..3 {
        app.receive(
            &priya()
                .subject(&format!("help {n}"))
                .body("My manager has taken my passport and I have not been paid. Please help."),
        )
        .await;
    }
    assert_eq!(app.sent("safeguarding_urgent_help").await.len(), 1);
    assert_eq!(app.sent("consent_request").await.len(), 1);
    assert!(app.events("reply_suppressed").await >= 2);
}

#[sqlx::test]
async fn a_bounce_of_our_email_goes_to_staff_and_gets_no_answer(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("My sponsor licence was revoked."))
        .await;
    let ours = app.last_to(PRIYA).await;
    let before = app.outbox().await.len();
    let bounce = format!(
        "From: MAILER-DAEMON@mx.example.com\r\nTo: support@regional-mailbox.example.org\r\nSubject: Undelivered Mail Returned to Sender\r\n\
         Message-ID: <bounce-1@mx.example.com>\r\nDate: Mon, 16 Nov 2026 09:20:00 +0000\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
         --b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n\
         --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nFinal-Recipient: rfc822; {PRIYA}\r\nAction: failed\r\nStatus: 5.1.1\r\n\
         --b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <{}>\r\nSubject: {}\r\n--b--\r\n",
        ours.message_id, ours.subject
    );
    let outcome = app.receive_raw(bounce.as_bytes()).await;
    assert!(
        matches!(
            outcome,
            Outcome::Processed {
                kind: Kind::Bounce,
                case: Some(_)
            }
        ),
        "{outcome:?}"
    );
    assert_eq!(app.outbox().await.len(), before);
    assert!(
        app.exceptions()
            .await
            .iter()
            .any(|e| e.0 == "undeliverable")
    );
}

#[sqlx::test]
async fn a_closed_case_comes_back_when_the_worker_replies(pool: PgPool) {
    let app = TestApp::new(pool).await;
    app.receive(&priya().body("My sponsor licence was revoked."))
        .await;
    let consent_request = app.last_to(PRIYA).await;
    app.receive(
        &priya()
            .body("No thank you, I do not consent.")
            .replying_to(&consent_request),
    )
    .await;
    assert_eq!(app.only_case().await.state, CaseState::ClosedNoConsent);
    let refused = app.last_to(PRIYA).await;

    app.receive(
        &priya()
            .body("I have changed my mind. Yes, I consent. My postcode is WS1 3AB.")
            .replying_to(&refused),
    )
    .await;
    let case = app.only_case().await;
    assert_eq!(case.consent, Some(Consent::Given));
    assert_eq!(case.state, CaseState::ReferredLa);
}

#[sqlx::test]
async fn a_worker_is_answered_in_their_language_when_a_translation_exists(pool: PgPool) {
    // A templates folder with a Portuguese consent request beside the English set.
    let dir = crate::harness::scratch(&format!("templates-pt-{}", std::process::id()));
    let en = dir.join("en");
    std::fs::create_dir_all(&en).unwrap();
    for entry in std::fs::read_dir(crate::harness::project_dir().join("templates/en")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), en.join(entry.file_name())).unwrap();
    }
    std::fs::create_dir_all(dir.join("pt")).unwrap();
    std::fs::write(
        dir.join("pt/consent_request.txt"),
        "subject: O seu email - precisamos do seu consentimento\n---\nOlá,\n\nResponda SIM se concorda que partilhemos os seus dados com a sua câmara municipal.\n\n{{ mailbox.name }}\n",
    )
    .unwrap();
    let templates = std::sync::Arc::new(
        regional_mailbox::replies::Templates::load(&dir).unwrap_or_else(|e| panic!("{e}")),
    );
    let app = TestApp::new(pool).await;
    app.app.templates.replace(templates);

    app.receive(&Mail::from("ana.costa@gmail.com").body(
        "Olá, a licença do meu patrocinador foi revogada e preciso de encontrar um novo patrocinador. Podem ajudar-me?",
    ))
    .await;
    let reply = app.last_to("ana.costa@gmail.com").await;
    assert!(
        reply.subject.contains("precisamos do seu consentimento"),
        "{}",
        reply.subject
    );
    assert!(reply.body.contains("Responda SIM"));

    // No Portuguese version of the next email: English, never nothing.
    app.receive(
        &Mail::from("ana.costa@gmail.com")
            .body("Sim, concordo.")
            .replying_to(&reply),
    )
    .await;
    let next = app.last_to("ana.costa@gmail.com").await;
    assert_eq!(next.kind, "details_request");
    assert!(next.body.contains("we still need"), "{}", next.body);
}
