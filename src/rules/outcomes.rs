//! rules/outcomes.toml: how council leads report what happened to a referral.

use serde::Deserialize;

use super::{Compiler, Lexicon, LexiconSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutcomeSpec {
    employed: LexiconSpec,
    nfa: LexiconSpec,
    in_progress: LexiconSpec,
    moved: LexiconSpec,
    #[serde(default)]
    employer: LexiconSpec,
}

#[derive(Debug)]
pub struct OutcomeRules {
    pub employed: Lexicon,
    pub nfa: Lexicon,
    pub in_progress: Lexicon,
    pub moved: Lexicon,
    /// The words before a new employer's name.
    pub employer: Lexicon,
}

impl OutcomeRules {
    pub fn compile(spec: OutcomeSpec, c: &mut Compiler) -> Self {
        Self {
            employed: c.lexicon(&spec.employed),
            nfa: c.lexicon(&spec.nfa),
            in_progress: c.lexicon(&spec.in_progress),
            moved: c.lexicon(&spec.moved),
            employer: c.lexicon(&spec.employer),
        }
    }
}
