//! Stage 4: what kind of message this is, and whether it is automatic mail that must
//! never be answered (RFC 3834 and the Pigeonhole vacation rules). Every decision
//! carries its reasons.

use crate::domain::{Automatic, Email, Kind};
use crate::pipeline::context::Context;
use crate::pipeline::quote::Split;
use crate::pipeline::text::Text;
use crate::rules::Rules;
use crate::rules::prompts::PromptKind;

/// Who wrote the message, as far as the text and address tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// A worker writing about themselves.
    Worker,
    /// A council, hub, charity, provider or other organisation.
    Organisation,
}

#[derive(Debug, Clone)]
pub struct Classification {
    pub kind: Kind,
    pub writer: Writer,
    /// Why the message must not be answered automatically; empty for ordinary mail.
    pub automatic: Vec<Automatic>,
    pub reasons: Vec<String>,
}

/// `own`: the writer's own words (`split.own_text()`), normalised once for every stage.
pub fn classify(
    email: &Email,
    split: &Split,
    own: &Text,
    context: &Context,
    rules: &Rules,
) -> Classification {
    let subject = Text::new(&email.subject);
    let signature = Text::new(&split.signature_text());
    let k = &rules.kinds;
    let mut automatic = automatic_headers(email, rules);
    let mut reasons = Vec::new();
    let writer = writer(email, own, &signature, context, rules);

    let done = |kind: Kind,
                writer: Writer,
                automatic: Vec<Automatic>,
                mut reasons: Vec<String>,
                why: String| {
        reasons.insert(0, format!("{kind}: {why}"));
        Classification {
            kind,
            writer,
            automatic,
            reasons,
        }
    };

    // Delivery reports first: they quote our own mail, which would read as a worker's words.
    // Read receipts (RFC 8098) are automatic too, but they are replies, not bounces.
    let report = email.mime_type == "multipart/report";
    let receipt = report
        && email
            .report_type
            .as_deref()
            .is_some_and(|t| t.contains("disposition-notification"));
    let dsn = (report && !receipt) || email.delivery_status.is_some();
    if receipt {
        automatic.push(Automatic::DeliveryReport);
        let why = "a read receipt (disposition notification)".to_string();
        return done(
            Kind::AutoReply,
            Writer::Organisation,
            automatic,
            reasons,
            why,
        );
    }
    let bounce_subject = k.bounce_subject.find_text(subject.norm());
    let system_sender = automatic
        .iter()
        .any(|a| matches!(a, Automatic::SystemSender(_)));
    let null_sender = automatic.contains(&Automatic::NullReturnPath);
    // Bounce wording in the body counts only beside a bounce subject or a system sender:
    // the body's opening is read only then.
    let bounce_body = if !dsn && (bounce_subject.is_some() || system_sender || null_sender) {
        let body_start = Text::new(&first_chars(&email.body, 1500));
        k.bounce_body
            .find_text(body_start.norm())
            .map(str::to_string)
    } else {
        None
    };
    if dsn
        || (bounce_subject.is_some() && (bounce_body.is_some() || system_sender || null_sender))
        || (bounce_body.is_some() && (system_sender || null_sender))
    {
        if dsn && !automatic.contains(&Automatic::DeliveryReport) {
            automatic.push(Automatic::DeliveryReport);
        }
        let why = if dsn {
            "a delivery status notification (multipart/report)".to_string()
        } else {
            format!(
                "bounce wording \"{}\"",
                bounce_subject
                    .map(str::to_string)
                    .or(bounce_body)
                    .unwrap_or_default()
            )
        };
        return done(Kind::Bounce, Writer::Organisation, automatic, reasons, why);
    }

    let auto_header = automatic.iter().find(|a| {
        matches!(
            a,
            Automatic::AutoSubmitted(_)
                | Automatic::AutoreplyHeader(_)
                | Automatic::AutoResponseSuppress(_)
        ) || matches!(a, Automatic::Precedence(p) if p.contains("auto"))
    });
    let auto_subject = k.auto_reply_subject.find_text(subject.norm());
    let auto_body = k.auto_reply_body.find_text(own.norm());
    let short = own.norm().split_whitespace().count() <= 120;
    if let Some(header) = auto_header {
        return done(
            Kind::AutoReply,
            writer,
            automatic.clone(),
            reasons,
            header.to_string(),
        );
    }
    if let Some(cue) = auto_subject {
        automatic.push(Automatic::SubjectCue(cue.to_string()));
        return done(
            Kind::AutoReply,
            writer,
            automatic,
            reasons,
            format!("subject \"{cue}\""),
        );
    }
    if let Some(cue) = auto_body.filter(|_| short) {
        automatic.push(Automatic::BodyCue(cue.to_string()));
        return done(
            Kind::AutoReply,
            writer,
            automatic,
            reasons,
            format!("autoresponder wording \"{cue}\""),
        );
    }
    let bulk = automatic.iter().find(|a| {
        matches!(a, Automatic::ListHeader(_))
            || matches!(a, Automatic::Precedence(p) if p != "auto_reply")
    });
    if let Some(bulk) = bulk {
        let why = format!("bulk or list mail ({bulk})");
        return done(
            Kind::Unrelated,
            Writer::Organisation,
            automatic.clone(),
            reasons,
            why,
        );
    }

    if let Some(evidence) = &context.prompt_evidence {
        reasons.push(format!(
            "replies to our {:?} ({evidence})",
            context.prompt.expect("evidence implies a prompt")
        ));
    }
    reasons.push(format!(
        "written by {}",
        if writer == Writer::Worker {
            "a worker"
        } else {
            "an organisation"
        }
    ));

    let (kind, why) = human_kind(email, split, own, &subject, writer, context, rules);
    done(kind, writer, automatic, reasons, why)
}

/// The kind of a message a person wrote (not automatic), and why.
fn human_kind(
    email: &Email,
    split: &Split,
    own: &Text,
    subject: &Text,
    writer: Writer,
    context: &Context,
    rules: &Rules,
) -> (Kind, String) {
    let k = &rules.kinds;
    let own_norm = own.norm();
    let consent_requested = context.prompt == Some(PromptKind::ConsentRequest);
    let replies_to_us = context.prompt.is_some() || context.case_ref.is_some();

    if writer == Writer::Worker {
        if let Some(cue) = k.withdrawal.find_text(own_norm) {
            return (Kind::Withdrawal, format!("\"{cue}\""));
        }
        if let Some(cue) = k
            .withdrawal_in_reply
            .find_text(own_norm)
            .filter(|_| replies_to_us)
        {
            return (Kind::Withdrawal, format!("\"{cue}\" in reply to us"));
        }
    }
    let refusal = rules
        .consent
        .refused
        .find_text(own_norm)
        .or_else(|| k.no_longer_needed.find_text(own_norm));
    if let Some(cue) = refusal
        && !consent_requested
        && replies_to_us
    {
        return (
            Kind::Withdrawal,
            format!("\"{cue}\" after consent was given"),
        );
    }
    if context.prompt == Some(PromptKind::Referral) && writer == Writer::Organisation {
        return (Kind::OutcomeUpdate, "a reply to our referral".into());
    }

    let provider = k.provider.find_iter(own_norm).len();
    let referral = k.referral.find_iter(own_norm).len();
    if provider > 0 && provider >= referral && writer == Writer::Organisation || provider >= 2 {
        let cue = k.provider.find_text(own_norm).unwrap_or_default();
        return (
            Kind::ProviderEnquiry,
            format!("a care provider (\"{cue}\")"),
        );
    }
    if writer == Writer::Organisation {
        if referral > 0 {
            let cue = k.referral.find_text(own_norm).unwrap_or_default();
            return (Kind::ReferralIn, format!("passes on a worker (\"{cue}\")"));
        }
        if forwards_a_persons_email(email, split, rules) {
            return (
                Kind::ReferralIn,
                "forwards a person's own email to us".into(),
            );
        }
    }

    let explicit_consent = rules.consent.given.find_text(own_norm);
    match context.prompt {
        Some(PromptKind::ConsentRequest) => {
            // A reply that only gives details, with no word on consent, is an info reply.
            let about_consent = explicit_consent.is_some()
                || rules.consent.refused.is_match(own_norm)
                || rules.consent.deferred.is_match(own_norm)
                || bare_answer(&rules.consent.yes, own_norm, rules)
                || bare_answer(&rules.consent.no, own_norm, rules)
                || k.about_consent.is_match(own_norm)
                || own_norm.contains('?');
            return if about_consent {
                (Kind::ConsentReply, "answers our consent request".into())
            } else {
                (
                    Kind::InfoReply,
                    "replies to our consent request with details only".into(),
                )
            };
        }
        Some(PromptKind::DetailsRequest | PromptKind::Question | PromptKind::CaseUpdate) => {
            return match explicit_consent {
                Some(cue) => (Kind::ConsentReply, format!("gives consent (\"{cue}\")")),
                None => (Kind::InfoReply, "answers our request for details".into()),
            };
        }
        Some(PromptKind::Referral) | None => {}
    }

    let outcome = [
        &rules.outcomes.employed,
        &rules.outcomes.nfa,
        &rules.outcomes.moved,
    ]
    .iter()
    .find_map(|l| l.find_text(own_norm));
    if let Some(cue) = outcome
        && writer == Writer::Organisation
        && context.case_ref.is_some()
    {
        return (
            Kind::OutcomeUpdate,
            format!("reports an outcome (\"{cue}\")"),
        );
    }

    let topic = k
        .worker_topic
        .find_text(own_norm)
        .or_else(|| k.worker_topic.find_text(subject.norm()));
    let first_person = k.worker.find_text(own_norm);
    let unrelated = k
        .unrelated
        .find_text(own_norm)
        .or_else(|| k.unrelated.find_text(subject.norm()));
    if let Some(cue) = unrelated
        && (topic.is_none() || first_person.is_none())
    {
        return (Kind::Unrelated, format!("not about a worker (\"{cue}\")"));
    }
    if let Some(cue) = explicit_consent.filter(|_| context.case_ref.is_some()) {
        return (
            Kind::ConsentReply,
            format!("gives consent on a case (\"{cue}\")"),
        );
    }
    if let Some(cue) = topic.or(first_person) {
        return (
            Kind::SupportRequest,
            format!("a worker asking for help (\"{cue}\")"),
        );
    }
    // A person writing in another script with no English keyword is most likely a worker.
    let letters = own_norm.chars().filter(|c| c.is_alphabetic()).count();
    let non_latin = own_norm
        .chars()
        .filter(|c| c.is_alphabetic() && !c.is_ascii())
        .count();
    if context.free_mail_sender && non_latin > 10 && non_latin * 3 > letters {
        return (
            Kind::SupportRequest,
            "written in another language: read as a worker".into(),
        );
    }
    (
        Kind::Unrelated,
        "nothing about sponsors, visas or care work".into(),
    )
}

/// A yes or no at the start that is not the answer to another question ("Yes full UK
/// licence" answers the licence question, not the consent one).
pub fn bare_answer(lexicon: &crate::rules::Lexicon, norm: &str, rules: &Rules) -> bool {
    let Some(hit) = lexicon
        .find(norm.trim_start())
        .filter(|h| h.range.start == 0)
    else {
        return false;
    };
    let rest = norm.trim_start()[hit.range.end..].trim_start_matches([',', ' ', '.', '!', '-']);
    let clause: String = rest
        .chars()
        .take_while(|c| {
            !matches!(
                c,
                '.' | ',' | ';' | '!' | '?' | '\n' | '\u{964}' | '\u{6d4}'
            )
        })
        .collect();
    let other_question = rules.driving.licence_word.is_match(&clause)
        || rules.driving.car_word.is_match(&clause)
        || clause.contains("drive")
        || clause.contains("postcode");
    !other_question
}

/// An organisation forwarding (FW:) an email a person wrote to them.
fn forwards_a_persons_email(email: &Email, split: &Split, rules: &Rules) -> bool {
    let forwarded_subject = {
        let lower = email.subject.trim_start().to_lowercase();
        lower.starts_with("fw") || lower.starts_with("fwd")
    };
    let quoted_person = split.blocks.iter().any(|b| {
        b.header
            .as_ref()
            .and_then(|h| h.address.as_ref())
            .is_some_and(|a| rules.kinds.is_free_mail(a.domain()))
    });
    let attached_person = email.forwarded.iter().any(|f| {
        f.from
            .as_ref()
            .is_some_and(|m| rules.kinds.is_free_mail(m.address.domain()))
    });
    forwarded_subject && (quoted_person || attached_person)
}

fn first_chars(text: &str, limit: usize) -> String {
    text.chars().take(limit).collect()
}

/// Header and sender signs of automatic mail (RFC 3834 §2, RFC 2369, Pigeonhole vacation).
pub fn automatic_headers(email: &Email, rules: &Rules) -> Vec<Automatic> {
    let mut found = Vec::new();
    if email.return_path.as_deref() == Some("") {
        found.push(Automatic::NullReturnPath);
    }
    for (name, value) in &email.automation_headers {
        let lower = value.trim().to_ascii_lowercase();
        match name.as_str() {
            "auto-submitted" if !lower.is_empty() && !lower.starts_with("no") => {
                found.push(Automatic::AutoSubmitted(lower))
            }
            "precedence"
                if ["bulk", "junk", "list", "auto_reply", "auto-reply"]
                    .iter()
                    .any(|p| lower.starts_with(p)) =>
            {
                found.push(Automatic::Precedence(lower))
            }
            "x-auto-response-suppress"
                if lower
                    .split(',')
                    .map(str::trim)
                    .any(|v| v == "all" || v == "oof" || v == "autoreply") =>
            {
                found.push(Automatic::AutoResponseSuppress(value.trim().to_string()))
            }
            "x-autoreply" | "x-autorespond" | "x-autogenerated"
                if !lower.is_empty() && lower != "no" =>
            {
                found.push(Automatic::AutoreplyHeader(name.clone()))
            }
            n if n.starts_with("list-")
                && !found.iter().any(|a| matches!(a, Automatic::ListHeader(_))) =>
            {
                found.push(Automatic::ListHeader(header_name(n)))
            }
            _ => {}
        }
    }
    if let Some(sender) = email.sender() {
        let local = sender.local_part().to_ascii_lowercase();
        if rules.kinds.system_sender.is_match(&local)
            || rules.kinds.no_reply_sender.is_match(&local)
        {
            found.push(Automatic::SystemSender(local));
        }
    }
    if let Some(name) = email.sender_name()
        && !found
            .iter()
            .any(|a| matches!(a, Automatic::SystemSender(_)))
        && rules.kinds.system_name.is_match(&name.to_lowercase())
    {
        found.push(Automatic::SystemSender(name.to_string()));
    }
    found
}

fn header_name(lower: &str) -> String {
    lower
        .split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Organisations write "we", sign with job titles and write about the worker in the
/// third person; workers write about "my sponsor".
fn writer(email: &Email, own: &Text, signature: &Text, context: &Context, rules: &Rules) -> Writer {
    let k = &rules.kinds;
    // A relative writing "on behalf of my wife" is the worker's side, not an organisation.
    let relative = k.family.is_match(own.norm()) && context.free_mail_sender;
    let third_person = if relative {
        0.0
    } else {
        k.third_person.find_iter(own.norm()).len().min(3) as f32
    };
    let organisation_words = k.organisation.find_iter(own.norm()).len().min(3) as f32;
    let mut organisation = if relative { 0.0 } else { organisation_words }
        + k.organisation.find_iter(signature.norm()).len().min(2) as f32
        + third_person * 0.5;
    let mut worker = k.worker.find_iter(own.norm()).len().min(3) as f32;
    if context.free_mail_sender {
        worker += 1.0;
    } else if email.sender().is_some() {
        organisation += 1.5;
    }
    if organisation > worker {
        Writer::Organisation
    } else {
        Writer::Worker
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::case_ref::CaseRefFinder;
    use crate::pipeline::{context, parse, quote};
    use crate::rules::tests::rules;

    fn kind(raw: &str) -> Kind {
        classification(raw).kind
    }

    fn classification(raw: &str) -> Classification {
        let email = parse::parse(raw.as_bytes()).unwrap();
        let split = quote::split(&email.body);
        let context = context::read(&email, &split, rules(), &CaseRefFinder::new("RM"));
        let own = Text::new(&split.own_text());
        classify(&email, &split, &own, &context, rules())
    }

    #[test]
    fn automatic_mail_is_recognised_by_headers_subject_or_wording() {
        let cases = [
            (
                "From: a@example.org\nAuto-Submitted: auto-replied\nSubject: Away\n\nI am away.\n",
                Kind::AutoReply,
            ),
            (
                "From: a@example.org\nX-Autoreply: yes\nSubject: Re: x\n\nThanks.\n",
                Kind::AutoReply,
            ),
            (
                "From: lead@council.example.gov.uk\nSubject: Out of Office: [RM-000341] Referral\n\nI am on annual leave.\n",
                Kind::AutoReply,
            ),
            (
                "From: t@council.example.gov.uk\nSubject: RE: [RM-1] Referral\n\nThis is an automated response to confirm that we have received your email.\n",
                Kind::AutoReply,
            ),
            (
                "From: MAILER-DAEMON@mx.example.org\nReturn-Path: <>\nSubject: Undelivered Mail Returned to Sender\n\nI'm sorry to have to inform you that your message could not be delivered.\n",
                Kind::Bounce,
            ),
            (
                "From: news@example.com\nList-Unsubscribe: <mailto:u@example.com>\nPrecedence: bulk\nSubject: Webinar on sponsor licences\n\nBook now.\n",
                Kind::Unrelated,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(kind(raw), expected, "{raw}");
        }
    }

    #[test]
    fn a_delivery_report_is_a_bounce_whatever_it_quotes() {
        let raw = concat!(
            "From: postmaster@example.org\nContent-Type: multipart/report; report-type=delivery-status; boundary=B\n\n",
            "--B\nContent-Type: text/plain\n\nDelivery failed.\n",
            "--B\nContent-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n",
            "--B\nContent-Type: text/plain\n\nPlease reply YES if you consent. I live in Coventry.\n--B--\n"
        );
        let c = classification(raw);
        assert_eq!(c.kind, Kind::Bounce);
        assert!(c.automatic.contains(&Automatic::DeliveryReport));
    }

    #[test]
    fn human_mail_is_told_apart_by_what_it_says() {
        let cases = [
            (
                "From: p@gmail.com\nSubject: Help\n\nMy sponsor licence was revoked. I live in Coventry.\n",
                Kind::SupportRequest,
            ),
            (
                "From: p@gmail.com\nSubject: Re: x\nIn-Reply-To: <consent-RM-000041@wmca.example.org>\n\nYES\n",
                Kind::ConsentReply,
            ),
            (
                "From: p@gmail.com\nSubject: Re: x\nIn-Reply-To: <info-RM-000066@wmca.example.org>\n\nMy postcode is B63 3TT.\n",
                Kind::InfoReply,
            ),
            (
                "From: p@gmail.com\nSubject: Re: x\nIn-Reply-To: <update-RM-000233@wmca.example.org>\n\nPlease remove my name from your list.\n",
                Kind::Withdrawal,
            ),
            (
                "From: lead@walsall.example.gov.uk\nSubject: RE: [RM-000019] Referral\nIn-Reply-To: <referral-RM-000019@wmca.example.org>\n\nHe has accepted a job offer.\n",
                Kind::OutcomeUpdate,
            ),
            (
                "From: m@homecare.example.co.uk\nSubject: Vacancies\n\nWe are a home care provider with a sponsor licence and we have 4 vacancies for care workers.\n",
                Kind::ProviderEnquiry,
            ),
            (
                "From: hub@example.org\nSubject: Referral to West Midlands\n\nWe are passing her to you as her home region. She lives in Nuneaton.\n",
                Kind::ReferralIn,
            ),
            (
                "From: m@hotmail.co.uk\nSubject: Care home place for my mother\n\nMy mother is 86. Which care homes in Solihull have places?\n",
                Kind::Unrelated,
            ),
        ];
        for (raw, expected) in cases {
            assert_eq!(kind(raw), expected, "{raw}");
        }
    }
}
