//! rules/safeguarding.toml: the indicators of abuse, exploitation or harm that a
//! safeguarding lead must see. Each indicator is raised by phrases and patterns, or by
//! `together` groups of named concepts (word lists in `[concepts]`) that must all appear
//! close together in one sentence: "passport" + "kept" + "manager" in any order and
//! wording. Concept lists are also the easy way to cover other languages. `unless` holds
//! the words that show an ordinary use ("renew my passport").

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Compiler, Lexicon, LexiconSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SafeguardingSpec {
    /// Characters within which the concepts of a `together` group must all appear.
    together_within: usize,
    concepts: BTreeMap<String, LexiconSpec>,
    indicator: Vec<IndicatorSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IndicatorSpec {
    id: String,
    description: String,
    #[serde(default)]
    phrases: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    together: Vec<Vec<Spanned<String>>>,
    #[serde(default)]
    unless: LexiconSpec,
}

#[derive(Debug)]
pub struct Indicator {
    pub id: String,
    pub description: String,
    pub raises: Lexicon,
    /// Each group: indexes into `SafeguardingRules::concepts`, all required.
    pub together: Vec<Vec<usize>>,
    /// Matched in the same sentence, this makes the match an ordinary use.
    pub unless: Lexicon,
}

#[derive(Debug)]
pub struct SafeguardingRules {
    pub indicators: Vec<Indicator>,
    pub concepts: Vec<(String, Lexicon)>,
    pub together_within: usize,
}

impl SafeguardingRules {
    pub fn compile(spec: SafeguardingSpec, c: &mut Compiler) -> Self {
        let concepts: Vec<(String, Lexicon)> = spec
            .concepts
            .iter()
            .map(|(name, lexicon)| (name.clone(), c.lexicon(lexicon)))
            .collect();
        let mut seen = std::collections::HashSet::new();
        let mut indicators = Vec::new();
        for i in spec.indicator {
            if !seen.insert(i.id.clone()) {
                c.file_error(format!("indicator `{}` is defined twice", i.id));
            }
            let raises = LexiconSpec {
                phrases: i.phrases,
                patterns: i.patterns,
            };
            if raises.phrases.is_empty() && raises.patterns.is_empty() && i.together.is_empty() {
                c.file_error(format!(
                    "indicator `{}` has no phrases, patterns or together groups",
                    i.id
                ));
            }
            let mut together = Vec::new();
            for group in &i.together {
                if group.len() < 2 {
                    c.file_error(format!(
                        "a together group of `{}` needs at least two concepts",
                        i.id
                    ));
                }
                let mut indexes = Vec::new();
                for name in group {
                    match concepts.iter().position(|(n, _)| n == name.get_ref()) {
                        Some(index) => indexes.push(index),
                        None => c.error(
                            name.span(),
                            format!("no concept `{}` in [concepts]", name.get_ref()),
                        ),
                    }
                }
                together.push(indexes);
            }
            indicators.push(Indicator {
                raises: c.lexicon(&raises),
                together,
                unless: c.lexicon(&i.unless),
                id: i.id,
                description: i.description,
            });
        }
        if spec.together_within == 0 {
            c.file_error("together_within must be at least 1");
        }
        Self {
            indicators,
            concepts,
            together_within: spec.together_within,
        }
    }
}
