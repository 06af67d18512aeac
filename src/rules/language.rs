//! rules/language.toml: which languages the detector may answer, when to trust it, and
//! marker words for languages the statistical detector does not know (Yoruba, Swahili).

use std::collections::{BTreeMap, HashMap};

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
    /// The languages with marker words (ISO 639-1 codes), and each marker word (folded
    /// like message text) with the languages it marks, one bit each: one lookup a word.
    pub marker_languages: Vec<String>,
    pub markers: HashMap<String, u64>,
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
        if spec.markers.len() > 64 {
            c.file_error("markers: at most 64 languages");
        }
        let mut markers: HashMap<String, u64> = HashMap::new();
        let mut marker_languages = Vec::new();
        for (bit, (code, words)) in spec.markers.into_iter().take(64).enumerate() {
            for word in &words {
                *markers
                    .entry(Text::new(word).norm().to_string())
                    .or_default() |= 1 << bit;
            }
            marker_languages.push(code);
        }
        Self {
            fallback: spec.fallback,
            min_letters: spec.min_letters,
            allowed,
            marker_languages,
            markers,
        }
    }
}
