//! rules/language.toml: which languages the detector may answer, when to trust it, and
//! marker words for languages the statistical detector does not know (Yoruba, Swahili).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Compiler;
use crate::pipeline::text::Text;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanguageSpec {
    fallback: String,
    min_letters: usize,
    languages: Vec<String>,
    markers: BTreeMap<String, Vec<String>>,
}

#[derive(Debug)]
pub struct LanguageRules {
    /// ISO 639-1 code used when the text is too short or unclear (`en`).
    pub fallback: String,
    /// Texts with fewer letters than this are not detected.
    pub min_letters: usize,
    /// The detector only chooses among these: fewer wrong guesses on short text.
    pub allowed: Vec<whatlang::Lang>,
    /// ISO 639-1 code → common words, folded like message text.
    pub markers: Vec<(String, Vec<String>)>,
}

impl LanguageRules {
    pub fn compile(spec: LanguageSpec, c: &mut Compiler) -> Self {
        let mut allowed = Vec::new();
        for code in &spec.languages {
            match crate::pipeline::extract::language::lang_from_iso1(code) {
                Some(lang) => allowed.push(lang),
                None => c.file_error(format!(
                    "`{code}` is not an ISO 639-1 code the detector knows"
                )),
            }
        }
        if allowed.is_empty() {
            c.file_error("languages must list at least one language");
        }
        let markers = spec
            .markers
            .into_iter()
            .map(|(code, words)| {
                (
                    code,
                    words
                        .iter()
                        .map(|w| Text::new(w).norm().to_string())
                        .collect(),
                )
            })
            .collect();
        Self {
            fallback: spec.fallback,
            min_letters: spec.min_letters,
            allowed,
            markers,
        }
    }
}
