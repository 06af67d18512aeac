//! Phrase lists and regular expressions from rule files, compiled for matching against
//! normalised text (see `pipeline::text`). A phrase is literal words: spaces match any
//! whitespace, an apostrophe may be left out (`don't` matches `dont`), `*` stands for up
//! to three words, and word boundaries are implied. A pattern is a Rust regular
//! expression. Both match case-insensitively.

use std::ops::Range;
use std::sync::OnceLock;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use toml::Spanned;

use super::source::{RuleError, RuleFile};
use crate::pipeline::text::fold_pattern;

/// How a lexicon is written in a rule file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LexiconSpec {
    #[serde(default)]
    pub phrases: Vec<Spanned<String>>,
    #[serde(default)]
    pub patterns: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    combined: Option<Regex>,
    /// Each entry's pattern, compiled on its own only when a question the combined
    /// alternation cannot answer (which match ends last?) is first asked: most lexicons
    /// never are, and a compiled regex per entry would cost tens of megabytes.
    entries: Vec<(String, OnceLock<Regex>)>,
    sources: Vec<String>,
}

/// A match in normalised text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hit {
    pub range: Range<usize>,
}

impl Lexicon {
    pub fn compile(spec: &LexiconSpec, file: &RuleFile) -> Result<Self, Vec<RuleError>> {
        let mut errors = Vec::new();
        let mut alternatives = Vec::new();
        let mut compiled = Vec::new();
        let mut sources = Vec::new();
        let entries = spec
            .phrases
            .iter()
            .map(|p| (p, phrase_to_pattern(p.get_ref())))
            .chain(spec.patterns.iter().map(|p| (p, fold_pattern(p.get_ref()))));
        for (spanned, pattern) in entries {
            if spanned.get_ref().trim().is_empty() {
                errors.push(file.error(spanned.span(), "empty phrase or pattern"));
                continue;
            }
            // Each entry is parsed on its own, for an error on its own line; only the
            // alternation of all of them is compiled.
            match regex_syntax::ParserBuilder::new()
                .multi_line(true)
                .build()
                .parse(&prepare(&pattern))
            {
                // A pattern that can match nothing at all would match everywhere.
                Ok(hir) if hir.properties().minimum_len() == Some(0) => errors.push(file.error(
                    spanned.span(),
                    format!("`{}` matches empty text", spanned.get_ref()),
                )),
                Ok(_) => {
                    alternatives.push(format!("(?:{pattern})"));
                    compiled.push((pattern, OnceLock::new()));
                    sources.push(spanned.get_ref().clone());
                }
                Err(e) => errors.push(file.error(
                    spanned.span(),
                    format!(
                        "invalid pattern `{}`: {}",
                        spanned.get_ref(),
                        first_line(&e.to_string())
                    ),
                )),
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let combined = if alternatives.is_empty() {
            None
        } else {
            Some(
                build(&alternatives.join("|"))
                    .map_err(|e| vec![file.whole_file_error(e.to_string())])?,
            )
        };
        Ok(Self {
            combined,
            entries: compiled,
            sources,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    pub fn len(&self) -> usize {
        self.sources.len()
    }

    pub fn is_match(&self, norm: &str) -> bool {
        self.combined.as_ref().is_some_and(|r| r.is_match(norm))
    }

    pub fn find(&self, norm: &str) -> Option<Hit> {
        self.combined
            .as_ref()?
            .find(norm)
            .map(|m| Hit { range: m.range() })
    }

    pub fn find_iter(&self, norm: &str) -> Vec<Hit> {
        match &self.combined {
            Some(regex) => regex
                .find_iter(norm)
                .map(|m| Hit { range: m.range() })
                .collect(),
            None => Vec::new(),
        }
    }

    /// The match that ends last in `norm` (the longest among those), whichever entry made
    /// it: the cue nearest to what follows the text.
    pub fn last_hit(&self, norm: &str) -> Option<Hit> {
        if !self.is_match(norm) {
            return None;
        }
        self.entries
            .iter()
            .map(|(pattern, regex)| {
                regex.get_or_init(|| build(pattern).expect("checked when the rules were loaded"))
            })
            .filter_map(|regex| regex.find_iter(norm).last())
            .max_by_key(|m| (m.end(), m.len()))
            .map(|m| Hit { range: m.range() })
    }

    /// The matched text of the first hit, for reasons and evidence.
    pub fn find_text<'a>(&self, norm: &'a str) -> Option<&'a str> {
        self.find(norm).map(|hit| &norm[hit.range])
    }
}

/// Normalised text is lower case, so patterns are matched case-sensitively once their
/// literals are lowered: a case-insensitive regex over hundreds of phrases loses the
/// literal prefilters and is several times slower.
fn build(pattern: &str) -> Result<Regex, regex::Error> {
    RegexBuilder::new(&prepare(pattern))
        .multi_line(true)
        .size_limit(64 << 20)
        .dfa_size_limit(4 << 20)
        .build()
}

/// A pattern as it is compiled: literals lowered, Latin word boundaries and word
/// characters made ASCII.
fn prepare(pattern: &str) -> String {
    ascii_word_characters(&ascii_word_boundaries(&lowercase_literals(pattern)))
}

/// Rewrites `\w` as ASCII word characters. Normalised Latin text is ASCII (accents are
/// folded away), and Unicode `\w` costs every regex using it megabytes of automaton;
/// patterns for other scripts spell their letters out.
fn ascii_word_characters(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('w') if in_class => out.push_str("a-zA-Z0-9_"),
                Some('w') => out.push_str("(?-u:\\w)"),
                Some(escaped) => {
                    out.push(c);
                    out.push(escaped);
                }
                None => out.push(c),
            },
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A `]` right after `[` or `[^` is a literal, not the end.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    out.push(chars.next().unwrap_or(']'));
                }
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// Lowers a pattern's letters but for escapes (`\S`, `\W`, `\p{Lu}`, `\x{41}`), whose
/// case is their meaning.
fn lowercase_literals(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.extend(c.to_lowercase());
            continue;
        }
        out.push(c);
        let Some(escaped) = chars.next() else { break };
        out.push(escaped);
        // A braced escape (`\p{Greek}`, `\x{1F600}`) is copied whole.
        if matches!(escaped, 'p' | 'P' | 'x' | 'u' | 'U') && chars.peek() == Some(&'{') {
            for inner in chars.by_ref() {
                out.push(inner);
                if inner == '}' {
                    break;
                }
            }
        }
    }
    out
}

/// Rewrites `\b` between Latin letters as an ASCII word boundary. Normalised text is
/// ASCII wherever it is Latin, and a Unicode `\b` would force the slow regex engines on
/// any text holding one non-ASCII character (a £ sign). Next to another script's letter
/// the Unicode `\b` stays.
fn ascii_word_boundaries(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '\\' && i + 1 < chars.len() {
            let next_to_other_script =
                |c: Option<&char>| c.is_some_and(|c| c.is_alphabetic() && !c.is_ascii());
            if chars[i + 1] == 'b'
                && !next_to_other_script(chars.get(i + 2))
                && !next_to_other_script(i.checked_sub(1).and_then(|j| chars.get(j)))
            {
                out.push_str("(?-u:\\b)");
            } else {
                out.push(chars[i]);
                out.push(chars[i + 1]);
            }
            i += 2;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn first_line(message: &str) -> String {
    message
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(message)
        .trim()
        .to_string()
}

/// Turns a phrase into a regular expression (see the module docs).
pub fn phrase_to_pattern(phrase: &str) -> String {
    let folded = fold_pattern(phrase.trim());
    let words: Vec<&str> = folded.split_whitespace().collect();
    let mut pattern = String::new();
    let mut after_wildcard = false;
    for (i, word) in words.iter().enumerate() {
        if *word == "*" {
            if i > 0 && !after_wildcard {
                pattern.push_str(r"\s+");
            }
            pattern.push_str(r"(?:\S+\s+){0,3}?");
            after_wildcard = true;
            continue;
        }
        if i > 0 && !after_wildcard {
            pattern.push_str(r"\s+");
        }
        after_wildcard = false;
        let escaped = regex::escape(word).replace('\'', "'?");
        pattern.push_str(&escaped);
    }
    // Word boundaries only around Latin letters: other scripts join words differently.
    let starts_word = folded
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    let ends_word = folded
        .chars()
        .last()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    format!(
        "{}{}{}",
        if starts_word { r"\b" } else { "" },
        pattern,
        if ends_word { r"\b" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexicon(phrases: &[&str], patterns: &[&str]) -> Result<Lexicon, Vec<RuleError>> {
        let file = RuleFile {
            path: "rules/test.toml".into(),
            text: "\n\n\n".into(),
        };
        let spanned = |items: &[&str]| {
            items
                .iter()
                .map(|p| Spanned::new(2..3, p.to_string()))
                .collect::<Vec<_>>()
        };
        Lexicon::compile(
            &LexiconSpec {
                phrases: spanned(phrases),
                patterns: spanned(patterns),
            },
            &file,
        )
    }

    #[test]
    fn phrases_match_whole_words_with_flexible_spaces_and_apostrophes() {
        let lex = lexicon(&["don't drive", "took * passport"], &[]).unwrap();
        assert!(lex.is_match("i dont drive"));
        assert!(lex.is_match("i don't  drive at all"));
        assert!(!lex.is_match("i don't driver"));
        assert!(lex.is_match("they took my passport"));
        assert!(lex.is_match("they took away my old passport"));
        assert!(!lex.is_match("they took it and then later kept my passport"));
        assert_eq!(
            lex.find_text("so they took my passport."),
            Some("took my passport")
        );
    }

    #[test]
    fn patterns_match_normalised_text_whatever_case_they_are_written_in() {
        let lex = lexicon(&[], &[r"\bNo\s+CAR\b", "MỌ́TÒ", r"\p{Lu}x"]).unwrap();
        assert!(lex.is_match("no car"));
        assert!(lex.is_match("moto"));
        assert!(!lex.is_match("piano carpet"));
        assert!(
            !lex.is_match("ax"),
            "escapes keep their case: upper-case letters stay upper case"
        );
        assert_eq!(
            lowercase_literals(r"\Sab\W[A-Z]\p{Lu}\x{4A}"),
            r"\Sab\W[a-z]\p{Lu}\x{4A}"
        );
        assert_eq!(
            ascii_word_characters(r"revok\w* [\w.-]+ [^\]\w] \\w"),
            r"revok(?-u:\w)* [a-zA-Z0-9_.-]+ [^\]a-zA-Z0-9_] \\w"
        );
        let lex = lexicon(&[], &[r"\bmoved (\w+ ){0,3}to\b"]).unwrap();
        assert!(lex.is_match("i moved last year to walsall"));
    }

    #[test]
    fn latin_word_boundaries_become_ascii_and_others_stay_unicode() {
        assert_eq!(
            ascii_word_boundaries(r"\bno car\b"),
            r"(?-u:\b)no car(?-u:\b)"
        );
        assert_eq!(ascii_word_boundaries(r"\bनहीं"), r"\bनहीं");
        assert_eq!(ascii_word_boundaries(r"a\\b"), r"a\\b");
        let lex = lexicon(&["no car"], &[r"\bलाइसेंस"]).unwrap();
        assert!(lex.is_match("£5 and no car"));
        assert!(!lex.is_match("no cards"));
        assert!(lex.is_match("मेरे पास लाइसेंस"));
    }

    #[test]
    fn bad_patterns_report_their_line() {
        let errors = lexicon(&[], &["(unclosed", "a*"]).unwrap_err();
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, 3, "the span starts on line 3");
        assert!(
            errors[0]
                .to_string()
                .contains("invalid pattern `(unclosed`"),
            "{}",
            errors[0]
        );
        assert!(errors[1].reason.contains("matches empty text"));
    }
}
