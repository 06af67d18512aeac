//! rules/phone.toml: words around a phone number that say whose number it is.

use serde::Deserialize;

use super::{Compiler, Lexicon, LexiconSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhoneSpec {
    worker: LexiconSpec,
    not_worker: LexiconSpec,
    secondary: LexiconSpec,
    third_person: LexiconSpec,
}

#[derive(Debug)]
pub struct PhoneRules {
    /// "my number is", "mobile:", "her mobile is".
    pub worker: Lexicon,
    /// Someone else's number: helplines, offices, relatives ("call my sister on").
    pub not_worker: Lexicon,
    /// The worker's, but not the one to call ("WhatsApp only").
    pub secondary: Lexicon,
    /// "her number is": someone else's words about the worker's number.
    pub third_person: Lexicon,
}

impl PhoneRules {
    pub fn compile(spec: PhoneSpec, c: &mut Compiler) -> Self {
        Self {
            worker: c.lexicon(&spec.worker),
            not_worker: c.lexicon(&spec.not_worker),
            secondary: c.lexicon(&spec.secondary),
            third_person: c.lexicon(&spec.third_person),
        }
    }
}
