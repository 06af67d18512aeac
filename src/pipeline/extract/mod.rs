//! Stage 5: the worker's facts, taken only from text that speaks for the worker: their
//! own words and answers, their signature (weakly), and, in a referral, the worker's own
//! forwarded email. Quoted context and forwarded letters are never read as facts.

pub mod consent;
pub mod dates;
pub mod driving;
pub mod language;
pub mod location;
pub mod outcome;
pub mod phone;
pub mod safeguarding;

use chrono::NaiveDate;

use crate::domain::{Consent, DrivingLicence, Email, Field, Kind, Outcome, Phone, Safeguarding};
use crate::pipeline::classify::{Classification, Writer};
use crate::pipeline::context::{Context, fields_asked};
use crate::pipeline::quote::{Role, Split};
use crate::pipeline::text::Text;
use crate::rules::Rules;
use crate::rules::prompts::PromptKind;

pub use location::Location;

/// Where a piece of text sits, which decides how much it says about the worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceRole {
    /// The writer's own words above any quote.
    Own,
    /// Words typed as the answer to a quoted question.
    Answer,
    /// The sign-off block: a name and phone, sometimes an old employer's address.
    Signature,
    /// A worker's own email passed on by a referrer.
    Relayed,
    /// The subject line of a first email: only strong cues count there.
    Subject,
}

#[derive(Debug, Clone)]
pub struct Source {
    pub text: Text,
    pub role: SourceRole,
    /// The fields the question being answered asked about.
    pub asks: Vec<Field>,
}

/// A value with the words it came from and how sure the extractor is (0..1).
#[derive(Debug, Clone, PartialEq)]
pub struct Found<T> {
    pub value: T,
    pub evidence: String,
    pub confidence: f32,
}

impl<T> Found<T> {
    pub fn new(value: T, evidence: impl Into<String>, confidence: f32) -> Self {
        Self {
            value,
            evidence: evidence.into(),
            confidence,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub location: Option<Location>,
    pub phone: Option<Found<Phone>>,
    pub driving_licence: Option<Found<DrivingLicence>>,
    pub car_access: Option<Found<bool>>,
    pub consent: Option<Found<Consent>>,
    pub safeguarding: Safeguarding,
    pub revocation_date: Option<Found<NaiveDate>>,
    pub outcome: Option<Found<Outcome>>,
    /// The new employer, when an outcome says the worker was employed.
    pub employer: Option<Found<String>>,
    pub language: String,
}

/// Picks the text that speaks for the worker in this kind of message.
pub fn sources(
    email: &Email,
    split: &Split,
    context: &Context,
    classification: &Classification,
    rules: &Rules,
) -> Vec<Source> {
    let kind = classification.kind;
    let mut sources = Vec::new();
    if kind.is_automatic() || kind == Kind::Unrelated {
        return sources;
    }
    let mut first_own = true;
    for block in &split.blocks {
        match block.role {
            Role::Own => {
                let (role, asks) = match &block.answers {
                    Some(question) => (
                        SourceRole::Answer,
                        fields_asked(Text::new(question).norm(), &rules.prompts.questions),
                    ),
                    None if first_own => (SourceRole::Own, top_reply_asks(context)),
                    None => (SourceRole::Own, Vec::new()),
                };
                if block.answers.is_none() {
                    first_own = false;
                }
                sources.push(Source {
                    text: Text::new(&block.text),
                    role,
                    asks,
                });
            }
            Role::Signature => sources.push(Source {
                text: Text::new(&block.text),
                role: SourceRole::Signature,
                asks: Vec::new(),
            }),
            Role::Quoted if kind == Kind::ReferralIn => {
                let from_a_person = block
                    .header
                    .as_ref()
                    .and_then(|h| h.address.as_ref())
                    .is_some_and(|a| rules.kinds.is_free_mail(a.domain()));
                if from_a_person {
                    sources.push(Source {
                        text: Text::new(&block.text),
                        role: SourceRole::Relayed,
                        asks: Vec::new(),
                    });
                }
            }
            Role::Quoted => {}
        }
    }
    // A first email's subject can carry the location ("Sponsor revoked - my address B67 5HT").
    if matches!(kind, Kind::SupportRequest | Kind::ReferralIn)
        && context.prompt.is_none()
        && !is_reply(&email.subject)
    {
        sources.push(Source {
            text: Text::new(&email.subject),
            role: SourceRole::Subject,
            asks: Vec::new(),
        });
    }
    if kind == Kind::ReferralIn {
        for forwarded in &email.forwarded {
            let from_a_person = forwarded
                .from
                .as_ref()
                .is_some_and(|m| rules.kinds.is_free_mail(m.address.domain()));
            if from_a_person {
                sources.push(Source {
                    text: Text::new(&forwarded.body),
                    role: SourceRole::Relayed,
                    asks: Vec::new(),
                });
            }
        }
    }
    if classification.writer == Writer::Organisation {
        // An organisation's signature is its own contact details, never the worker's.
        sources.retain(|s| s.role != SourceRole::Signature);
    }
    sources
}

fn is_reply(subject: &str) -> bool {
    let lower = subject.trim_start().to_lowercase();
    ["re:", "re ", "aw:", "sv:", "fw:", "fwd:"]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// What a reply at the top answers: our consent request, or our single question.
fn top_reply_asks(context: &Context) -> Vec<Field> {
    match context.prompt {
        Some(PromptKind::ConsentRequest) => vec![Field::Consent],
        Some(PromptKind::Question) if context.asks.len() == 1 => context.asks.clone(),
        _ => Vec::new(),
    }
}

pub fn extract(
    email: &Email,
    sources: &[Source],
    classification: &Classification,
    rules: &Rules,
) -> Facts {
    let kind = classification.kind;
    let writer = classification.writer;
    let own_text: String = sources
        .iter()
        .filter(|s| matches!(s.role, SourceRole::Own | SourceRole::Answer))
        .map(|s| s.text.original())
        .collect::<Vec<_>>()
        .join("\n");
    let language = language::detect(&own_text, &rules.language);
    if !kind.is_about_a_worker() {
        let safeguarding = if kind == Kind::ProviderEnquiry {
            safeguarding::scan(sources, &rules.safeguarding)
        } else {
            Safeguarding::default()
        };
        return Facts {
            safeguarding,
            language,
            ..Facts::default()
        };
    }
    let sender_name = email.sender_name().unwrap_or("");
    let outcome = (kind == Kind::OutcomeUpdate)
        .then(|| outcome::read(sources, &rules.outcomes))
        .flatten();
    let employer = outcome
        .as_ref()
        .filter(|o| o.value == Outcome::Employed)
        .and_then(|_| outcome::employer(sources, &rules.outcomes));
    Facts {
        location: location::locate(sources, sender_name, writer, rules),
        phone: phone::find(sources, writer, kind, &rules.phone),
        driving_licence: driving::licence(sources, &rules.driving),
        car_access: driving::car(sources, &rules.driving),
        consent: consent::read(kind, sources, rules),
        safeguarding: safeguarding::scan(sources, &rules.safeguarding),
        revocation_date: dates::revocation(sources, email.date, &rules.dates),
        outcome,
        employer,
        language,
    }
}
