//! Stage 3: what a message answers. Reads the case reference and recognises our own
//! earlier message (by its Message-ID prefix, its subject or its quoted wording), so that
//! a bare "Yes" can be read as the answer to the question we asked.

use crate::domain::{CaseRef, Email, Field, case_ref::CaseRefFinder};
use crate::pipeline::quote::Split;
use crate::pipeline::text::Text;
use crate::rules::Rules;
use crate::rules::prompts::{PromptKind, Questions};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// Our earlier message this one answers, if recognised.
    pub prompt: Option<PromptKind>,
    /// How the prompt was recognised, for the reasons list.
    pub prompt_evidence: Option<String>,
    /// The fields our earlier message asked about.
    pub asks: Vec<Field>,
    /// The case reference: subject first, then our ids in In-Reply-To/References, then body.
    pub case_ref: Option<CaseRef>,
    /// Whether the sender uses a webmail provider (people do; organisations rarely).
    pub free_mail_sender: bool,
}

pub fn read(email: &Email, split: &Split, rules: &Rules, case_refs: &CaseRefFinder) -> Context {
    let quoted = Text::new(&split.quoted_text());
    let subject = Text::new(&email.subject);
    let our_ids: Vec<String> = email
        .in_reply_to
        .iter()
        .chain(email.references.iter().rev())
        .map(|id| id.local_part().to_ascii_lowercase())
        .collect();

    let mut prompt = None;
    let mut prompt_evidence = None;
    for candidate in &rules.prompts.prompts {
        let by_id = email
            .in_reply_to
            .iter()
            .map(|id| id.local_part().to_ascii_lowercase())
            .find(|local| {
                candidate
                    .message_id_prefixes
                    .iter()
                    .any(|p| local.starts_with(p.as_str()))
            });
        let evidence = if let Some(local) = by_id {
            Some(format!("In-Reply-To {local}"))
        } else if let Some(words) = candidate.quoted.find_text(quoted.norm()) {
            Some(format!("quotes \"{words}\""))
        } else if is_reply(&email.subject) {
            candidate
                .subject
                .find_text(subject.norm())
                .map(|words| format!("subject \"{words}\""))
        } else {
            None
        };
        if evidence.is_some() {
            prompt = Some(candidate.kind);
            prompt_evidence = evidence;
            break;
        }
    }

    let asks = match prompt {
        Some(PromptKind::Referral | PromptKind::CaseUpdate) | None => Vec::new(),
        Some(_) => fields_asked(quoted.norm(), &rules.prompts.questions),
    };

    let case_ref = case_refs
        .find_first(&email.subject)
        .or_else(|| our_ids.iter().find_map(|local| case_refs.find_first(local)))
        .or_else(|| case_refs.find_first(&split.own_text()));

    let free_mail_sender = email
        .sender()
        .is_some_and(|a| rules.kinds.is_free_mail(a.domain()));
    Context {
        prompt,
        prompt_evidence,
        asks,
        case_ref,
        free_mail_sender,
    }
}

fn is_reply(subject: &str) -> bool {
    let lower = subject.trim_start().to_lowercase();
    [
        "re:", "re :", "aw:", "sv:", "antw:", "r:", "ref:", "rif:", "res:", "fw:", "fwd:",
    ]
    .iter()
    .any(|prefix| lower.starts_with(prefix))
}

/// The fields a quoted message (or one quoted line) asks about.
pub fn fields_asked(norm: &str, questions: &Questions) -> Vec<Field> {
    let mut asks = Vec::new();
    let checks = [
        (Field::Consent, &questions.consent),
        (Field::Location, &questions.postcode),
        (Field::Phone, &questions.phone),
        (Field::DrivingLicence, &questions.driving_licence),
        (Field::CarAccess, &questions.car_access),
    ];
    for (field, lexicon) in checks {
        if lexicon.is_match(norm) {
            asks.push(field);
        }
    }
    asks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{parse, quote};
    use crate::rules::tests::rules;

    fn context(raw: &str) -> Context {
        let email = parse::parse(raw.as_bytes()).unwrap();
        let split = quote::split(&email.body);
        read(&email, &split, rules(), &CaseRefFinder::new("RM"))
    }

    #[test]
    fn our_message_id_prefix_names_the_prompt() {
        let c = context(
            "From: a@gmail.com\nSubject: Re: hello\nIn-Reply-To: <consent-RM-000041@wmca.example.org>\n\nYES\n",
        );
        assert_eq!(c.prompt, Some(PromptKind::ConsentRequest));
        assert_eq!(c.case_ref.map(|r| r.number()), Some(41));
        assert!(c.free_mail_sender);
    }

    #[test]
    fn the_quoted_wording_names_the_prompt_when_ids_and_subject_are_lost() {
        let c = context(concat!(
            "From: a@yahoo.com\nSubject: hello\n\nI will ask my husband\n\n",
            "-------- Original message --------\nFrom: Mailbox <m@example.org>\nDate: 07/01/2025\nTo: Rose <r@example.org>\nSubject: x\n\n",
            "Please reply to this email with YES if you consent to us sharing your details, or NO if you do not consent.\n",
            "1. Your full postcode (where you live now)\n2. Your phone number\n3. Do you have a full UK driving licence?\n4. Do you have access to a car?\n"
        ));
        assert_eq!(c.prompt, Some(PromptKind::ConsentRequest));
        assert!(c.asks.contains(&Field::DrivingLicence) && c.asks.contains(&Field::Location));
    }

    #[test]
    fn a_single_question_is_known_by_what_it_asks() {
        let c = context(concat!(
            "From: a@gmail.com\nSubject: Re: [RM-000205] One more question\nIn-Reply-To: <info2-RM-000205@wmca.example.org>\n\n",
            "Yes I have, but no car\n\nOn Wed, 18 Dec 2024 at 10:41, Mailbox <m@example.org> wrote:\n\n",
            "> Thank you for sending your details. One more question: do you have a full UK driving licence?\n"
        ));
        assert_eq!(c.prompt, Some(PromptKind::Question));
        assert_eq!(c.asks, vec![Field::DrivingLicence]);
    }

    #[test]
    fn first_contact_has_no_prompt() {
        let c = context(
            "From: a@gmail.com\nSubject: Help - sponsor licence revoked\n\nI live in Coventry.\n",
        );
        assert_eq!(c.prompt, None);
        assert_eq!(c.case_ref, None);
    }
}
