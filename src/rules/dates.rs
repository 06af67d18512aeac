//! rules/dates.toml: the words that make a date the sponsor licence revocation date.

use serde::Deserialize;

use super::{Compiler, Lexicon, LexiconSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DateSpec {
    revocation: LexiconSpec,
    grace_days: u32,
}

#[derive(Debug)]
pub struct DateRules {
    pub revocation: Lexicon,
    /// Days a displaced worker has to find a new sponsor after the notice.
    pub grace_days: u32,
}

impl DateRules {
    pub fn compile(spec: DateSpec, c: &mut Compiler) -> Self {
        if spec.grace_days == 0 {
            c.file_error("grace_days must be at least 1");
        }
        Self {
            revocation: c.lexicon(&spec.revocation),
            grace_days: spec.grace_days,
        }
    }
}
