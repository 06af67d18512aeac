//! rules/consent.toml: how people say yes or no to sharing their details, per language.

use serde::Deserialize;

use super::{Compiler, Lexicon, LexiconSpec, PerLanguage};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ConsentLanguage {
    given: LexiconSpec,
    refused: LexiconSpec,
    yes: LexiconSpec,
    no: LexiconSpec,
    deferred: LexiconSpec,
    third_party_given: LexiconSpec,
    third_party_not_given: LexiconSpec,
}

#[derive(Debug)]
pub struct ConsentRules {
    /// Statements that give consent in themselves ("I consent", "you can share my details").
    pub given: Lexicon,
    /// Statements that refuse it ("I don't want my details shared").
    pub refused: Lexicon,
    /// A bare yes at the start of an answer: consent only when it answers our consent request.
    pub yes: Lexicon,
    /// A bare no at the start of an answer.
    pub no: Lexicon,
    /// Neither yes nor no yet ("before I say yes", "I will ask my husband first").
    pub deferred: Lexicon,
    /// A referrer relaying the worker's consent to share onward with the council.
    pub third_party_given: Lexicon,
    /// A referrer saying consent was not asked, or covers only passing details to us.
    pub third_party_not_given: Lexicon,
}

impl ConsentRules {
    pub fn compile(spec: PerLanguage<ConsentLanguage>, c: &mut Compiler) -> Self {
        if !spec.contains_key("en") {
            c.file_error("an [en] table is required");
        }
        let languages = spec.values();
        Self {
            given: c.merged(languages.clone(), |l| &l.given),
            refused: c.merged(languages.clone(), |l| &l.refused),
            yes: c.merged(languages.clone(), |l| &l.yes),
            no: c.merged(languages.clone(), |l| &l.no),
            deferred: c.merged(languages.clone(), |l| &l.deferred),
            third_party_given: c.merged(languages.clone(), |l| &l.third_party_given),
            third_party_not_given: c.merged(languages, |l| &l.third_party_not_given),
        }
    }
}
