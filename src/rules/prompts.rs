//! rules/prompts.toml: how to recognise the mailbox's own earlier message that a reply
//! answers (by our Message-ID prefix, the subject, or the quoted wording), and the
//! questions inside it.

use serde::Deserialize;
use toml::Spanned;

use super::{Compiler, Lexicon, LexiconSpec};

/// What our earlier message asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptKind {
    /// Asked for consent (and usually for details too).
    ConsentRequest,
    /// Asked for missing details, consent already given.
    DetailsRequest,
    /// Asked one question (the quoted question says which).
    Question,
    /// A referral we sent to a council lead or a regional hub.
    Referral,
    /// Told the worker what happened on their case.
    CaseUpdate,
}

impl std::fmt::Display for PromptKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PromptKind::ConsentRequest => "consent request",
            PromptKind::DetailsRequest => "details request",
            PromptKind::Question => "question",
            PromptKind::Referral => "referral",
            PromptKind::CaseUpdate => "case update",
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromptSpec {
    prompt: Vec<PromptEntrySpec>,
    questions: QuestionSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PromptEntrySpec {
    kind: PromptKind,
    message_id_prefixes: Vec<Spanned<String>>,
    subject: LexiconSpec,
    quoted: LexiconSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QuestionSpec {
    consent: LexiconSpec,
    postcode: LexiconSpec,
    phone: LexiconSpec,
    driving_licence: LexiconSpec,
    car_access: LexiconSpec,
}

#[derive(Debug)]
pub struct Prompt {
    pub kind: PromptKind,
    pub message_id_prefixes: Vec<String>,
    pub subject: Lexicon,
    pub quoted: Lexicon,
}

/// One lexicon per field the mailbox asks about, to read which question a line asks.
#[derive(Debug)]
pub struct Questions {
    pub consent: Lexicon,
    pub postcode: Lexicon,
    pub phone: Lexicon,
    pub driving_licence: Lexicon,
    pub car_access: Lexicon,
}

#[derive(Debug)]
pub struct PromptRules {
    /// In order of precedence: the first that matches wins.
    pub prompts: Vec<Prompt>,
    pub questions: Questions,
}

impl PromptRules {
    pub fn compile(spec: PromptSpec, c: &mut Compiler) -> Self {
        let prompts = spec
            .prompt
            .iter()
            .map(|p| Prompt {
                kind: p.kind,
                message_id_prefixes: p
                    .message_id_prefixes
                    .iter()
                    .map(|prefix| {
                        if prefix.get_ref().trim().is_empty() {
                            c.error(prefix.span(), "empty Message-ID prefix");
                        }
                        prefix.get_ref().to_ascii_lowercase()
                    })
                    .collect(),
                subject: c.lexicon(&p.subject),
                quoted: c.lexicon(&p.quoted),
            })
            .collect();
        let q = &spec.questions;
        Self {
            prompts,
            questions: Questions {
                consent: c.lexicon(&q.consent),
                postcode: c.lexicon(&q.postcode),
                phone: c.lexicon(&q.phone),
                driving_licence: c.lexicon(&q.driving_licence),
                car_access: c.lexicon(&q.car_access),
            },
        }
    }
}
