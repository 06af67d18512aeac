//! rules/location.toml: the words around a place or postcode that say whether the
//! worker lives there now, county nicknames, and place names that are also common words.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::{Compiler, Lexicon, LexiconSpec, PerLanguage, RuleError};
use crate::gazetteer::{Gazetteer, is_english_region, place_key};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocationSpec {
    cues: PerLanguage<CueLanguage>,
    postcodes: PostcodeSpec,
    common_word_places: Vec<String>,
    county_aliases: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CueLanguage {
    lives_here: LexiconSpec,
    lives_here_after: LexiconSpec,
    lived_elsewhere: LexiconSpec,
    works_there: LexiconSpec,
    elsewhere_after: LexiconSpec,
    future_move: LexiconSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostcodeSpec {
    not_before: LexiconSpec,
    not_after: LexiconSpec,
}

#[derive(Debug)]
pub struct LocationRules {
    /// Words just before a place that say the worker lives there now ("I live in").
    pub lives_here: Lexicon,
    /// Words just after ("the Walsall resident", "Smethwick में रहती").
    pub lives_here_after: Lexicon,
    /// Somewhere the worker does not live (now): the sponsor's, an old or a future address.
    pub lived_elsewhere: Lexicon,
    /// Where the worker works: a weak hint that they live nearby.
    pub works_there: Lexicon,
    /// Words just after a place that make it somewhere else ("... has offered me a job").
    pub elsewhere_after: Lexicon,
    /// A move still to come, in the same clause as a place: not where they live now.
    pub future_move: Lexicon,
    /// Words that make a postcode-shaped token something else ("level B1", "the M6").
    pub postcode_not_before: Lexicon,
    pub postcode_not_after: Lexicon,
    /// Place names that are also ordinary words: they count only when written with a
    /// capital letter and introduced by a cue ("I live in Reading").
    pub common_word_places: Vec<String>,
    /// Nicknames of counties and councils ("staffs" → Staffordshire), by place key.
    pub county_aliases: BTreeMap<String, String>,
    /// First word of an alias → the most words an alias starting with it has.
    pub alias_first_words: BTreeMap<String, usize>,
    alias_spans: BTreeMap<String, (std::ops::Range<usize>, std::path::PathBuf, usize)>,
}

impl LocationRules {
    pub fn compile(spec: LocationSpec, c: &mut Compiler) -> Self {
        let cues = spec.cues.values();
        let mut alias_spans = BTreeMap::new();
        let county_aliases: BTreeMap<String, String> = spec
            .county_aliases
            .iter()
            .map(|(alias, target)| {
                alias_spans.insert(
                    place_key(alias),
                    (
                        target.span(),
                        c.file.path.clone(),
                        c.file.line_of(target.span().start),
                    ),
                );
                (place_key(alias), target.get_ref().clone())
            })
            .collect();
        Self {
            lives_here: c.merged(cues.clone(), |l| &l.lives_here),
            lives_here_after: c.merged(cues.clone(), |l| &l.lives_here_after),
            lived_elsewhere: c.merged(cues.clone(), |l| &l.lived_elsewhere),
            works_there: c.merged(cues.clone(), |l| &l.works_there),
            elsewhere_after: c.merged(cues.clone(), |l| &l.elsewhere_after),
            future_move: c.merged(cues, |l| &l.future_move),
            postcode_not_before: c.lexicon(&spec.postcodes.not_before),
            postcode_not_after: c.lexicon(&spec.postcodes.not_after),
            common_word_places: spec
                .common_word_places
                .iter()
                .map(|p| place_key(p))
                .collect(),
            alias_first_words: county_aliases
                .keys()
                .fold(BTreeMap::new(), |mut firsts, key| {
                    let words = key.split(' ').count();
                    let first = key.split(' ').next().unwrap_or_default().to_string();
                    let longest: &mut usize = firsts.entry(first).or_default();
                    *longest = (*longest).max(words);
                    firsts
                }),
            county_aliases,
            alias_spans,
        }
    }

    /// Every alias must name a council or an English region the gazetteer knows.
    pub fn check_aliases(&self, gazetteer: &Gazetteer) -> Vec<RuleError> {
        self.county_aliases
            .iter()
            .filter(|(_, target)| gazetteer.council_named(target).is_none() && !is_english_region(target))
            .map(|(alias, target)| {
                let (_, path, line) = &self.alias_spans[alias];
                RuleError {
                    path: path.clone(),
                    line: *line,
                    reason: format!("alias `{alias}` names `{target}`, which is neither a council nor an English region"),
                }
            })
            .collect()
    }

    pub fn is_common_word(&self, key: &str) -> bool {
        self.common_word_places.iter().any(|w| w == key)
    }
}
