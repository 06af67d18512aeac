//! Text as the extractors see it: a normalised copy for matching (lower case, plain
//! quotes and dashes, Latin accents dropped, spaces collapsed) that maps every byte back
//! to the original, so evidence is always quoted in the writer's own words.

use std::ops::Range;
use std::sync::OnceLock;

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone)]
pub struct Text {
    original: String,
    norm: String,
    /// For each byte of `norm` (plus one past the end), the byte offset in `original`.
    to_original: Vec<u32>,
    /// Found when first asked for: many texts are only searched, never split.
    sentences: OnceLock<Vec<Range<usize>>>,
}

impl Text {
    pub fn new(original: &str) -> Self {
        let mut norm = String::with_capacity(original.len());
        let mut to_original = Vec::with_capacity(original.len() + 1);
        let mut last_was_space = true;
        for (offset, c) in original.char_indices() {
            let emit = |out: char, norm: &mut String, to_original: &mut Vec<u32>| {
                let start = norm.len();
                norm.push(out);
                to_original.extend(std::iter::repeat_n(offset as u32, norm.len() - start));
            };
            // Most text is plain ASCII letters and digits: no table lookups for them.
            if c.is_ascii_alphanumeric() {
                emit(c.to_ascii_lowercase(), &mut norm, &mut to_original);
                last_was_space = false;
                continue;
            }
            match fold(c, true) {
                Folded::Drop => {}
                Folded::Newline => {
                    // Trailing spaces before a line break carry nothing.
                    while norm.ends_with(' ') {
                        norm.pop();
                        to_original.pop();
                    }
                    emit('\n', &mut norm, &mut to_original);
                    last_was_space = true;
                }
                Folded::Space => {
                    if !last_was_space {
                        emit(' ', &mut norm, &mut to_original);
                        last_was_space = true;
                    }
                }
                Folded::One(out) => {
                    emit(out, &mut norm, &mut to_original);
                    last_was_space = false;
                }
                Folded::Chars(chars) => {
                    for out in chars {
                        emit(out, &mut norm, &mut to_original);
                    }
                    last_was_space = false;
                }
            }
        }
        to_original.push(original.len() as u32);
        Self {
            original: original.to_string(),
            norm,
            to_original,
            sentences: OnceLock::new(),
        }
    }

    pub fn norm(&self) -> &str {
        &self.norm
    }

    pub fn original(&self) -> &str {
        &self.original
    }

    /// The writer's own words behind a range of the normalised text.
    pub fn original_span(&self, range: Range<usize>) -> &str {
        let start = self.to_original[range.start.min(self.norm.len())] as usize;
        let end_index = range.end.min(self.norm.len());
        // The end maps to the start of the next original character.
        let end = if end_index == 0 {
            start
        } else {
            let last = self.to_original[end_index - 1] as usize;
            let mut end = last + 1;
            while end < self.original.len() && !self.original.is_char_boundary(end) {
                end += 1;
            }
            end.max(start)
        };
        self.original[start..end.min(self.original.len())].trim()
    }

    /// Sentence ranges over the normalised text. A line break ends a sentence unless the
    /// line looks hard-wrapped (long, no final punctuation, next line starts in lower case).
    pub fn sentences(&self) -> Vec<Range<usize>> {
        self.cached_sentences().to_vec()
    }

    fn cached_sentences(&self) -> &[Range<usize>] {
        self.sentences.get_or_init(|| sentence_ranges(&self.norm))
    }

    /// The sentence holding byte `at` of the normalised text.
    pub fn sentence_at(&self, at: usize) -> Range<usize> {
        self.cached_sentences()
            .iter()
            .find(|s| s.start <= at && at < s.end)
            .cloned()
            .unwrap_or(0..self.norm.len())
    }
}

enum Folded {
    Drop,
    Space,
    Newline,
    /// One character (nearly always): no allocation.
    One(char),
    Chars(Vec<char>),
}

fn fold(c: char, lowercase: bool) -> Folded {
    match c {
        '\n' => Folded::Newline,
        '\r' | '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{feff}' | '\u{ad}' => Folded::Drop,
        c if c.is_whitespace() => Folded::Space,
        '\u{2018}' | '\u{2019}' | '\u{201b}' | '\u{2032}' | '\u{02bc}' | '`' | '\u{b4}' => {
            Folded::One('\'')
        }
        '\u{201c}' | '\u{201d}' | '\u{201e}' | '\u{2033}' => Folded::One('"'),
        '\u{2010}'..='\u{2015}' | '\u{2212}' => Folded::One('-'),
        c if c.is_ascii() => Folded::One(if lowercase { c.to_ascii_lowercase() } else { c }),
        c => {
            let base = std::iter::once(c).nfd().filter(|d| !is_latin_diacritic(*d));
            let chars: Vec<char> = if lowercase {
                base.flat_map(char::to_lowercase).collect()
            } else {
                base.collect()
            };
            match chars.as_slice() {
                [] => Folded::Drop,
                [one] => Folded::One(*one),
                _ => Folded::Chars(chars),
            }
        }
    }
}

/// Combining marks of the Latin/Greek/Cyrillic blocks (accents, Yoruba tone marks and
/// dots). Indic and Arabic marks live in their own blocks and are kept: they are letters.
fn is_latin_diacritic(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
}

/// Folds a rule pattern the way [`Text::new`] folds text, but keeps case (regex escapes such
/// as `\S` and `\W` depend on it; patterns are compiled case-insensitive instead).
pub fn fold_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for c in pattern.chars() {
        match fold(c, false) {
            Folded::Drop => {}
            Folded::Space => out.push(' '),
            Folded::Newline => out.push('\n'),
            Folded::One(c) => out.push(c),
            Folded::Chars(chars) => out.extend(chars),
        }
    }
    out
}

const ABBREVIATIONS: [&str; 14] = [
    "mr", "mrs", "ms", "dr", "st", "no", "e.g", "i.e", "etc", "approx", "tel", "mob", "ref", "nr",
];

fn sentence_ranges(norm: &str) -> Vec<Range<usize>> {
    let bytes = norm.as_bytes();
    let mut ranges = Vec::new();
    let mut start = 0;
    let mut chars = norm.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let next = chars.peek().map(|&(_, n)| n);
        let boundary_end = match c {
            '\n' => (!is_soft_wrap(norm, start, i)).then_some(i),
            '.' | '!' | '?' => {
                let followed_by_gap = next.is_none_or(|n| n == ' ' || n == '\n');
                let word_before = norm[start..i].rsplit([' ', '\n']).next().unwrap_or("");
                let abbreviation = c == '.' && ABBREVIATIONS.contains(&word_before);
                (followed_by_gap && !abbreviation).then_some(i + 1)
            }
            '\u{964}' | '\u{6d4}' | '\u{3002}' => Some(i + c.len_utf8()),
            _ => None,
        };
        if let Some(end) = boundary_end {
            push_trimmed(&mut ranges, bytes, start, end);
            start = if c == '\n' { i + 1 } else { end };
        }
    }
    push_trimmed(&mut ranges, bytes, start, norm.len());
    ranges
}

fn push_trimmed(ranges: &mut Vec<Range<usize>>, bytes: &[u8], mut start: usize, mut end: usize) {
    while start < end && bytes[start].is_ascii_whitespace() {
        start += 1;
    }
    while end > start && bytes[end - 1].is_ascii_whitespace() {
        end -= 1;
    }
    if start < end {
        ranges.push(start..end);
    }
}

fn is_soft_wrap(norm: &str, line_start: usize, newline: usize) -> bool {
    let line = &norm[line_start..newline];
    let line = line.rsplit('\n').next().unwrap_or(line);
    let next_starts_lower = norm[newline + 1..]
        .chars()
        .next()
        .is_some_and(|c| c.is_lowercase());
    let ends_open = !line.ends_with(['.', '!', '?', ':', ',', ';']);
    line.chars().count() >= 60 && ends_open && next_starts_lower
}

/// The largest char boundary at or below `i`.
pub fn floor_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The smallest char boundary at or above `i`.
pub fn ceil_boundary(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A word token of normalised text: letters and digits, with its byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub word: &'a str,
    pub range: Range<usize>,
}

/// Splits on anything that is not a letter or digit; `&` counts as the word "and".
pub fn tokens(norm: &str) -> Vec<Token<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in norm.char_indices() {
        let word_char = c.is_alphanumeric() || is_mark(c);
        match (word_char, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push(Token {
                    word: &norm[s..i],
                    range: s..i,
                });
                start = None;
            }
            _ => {}
        }
        if c == '&' {
            out.push(Token {
                word: "and",
                range: i..i + 1,
            });
        }
    }
    if let Some(s) = start {
        out.push(Token {
            word: &norm[s..],
            range: s..norm.len(),
        });
    }
    out
}

/// Combining marks inside words of Indic and Arabic scripts.
fn is_mark(c: char) -> bool {
    unicode_normalization::char::is_combining_mark(c)
        || matches!(c, '\u{0900}'..='\u{0903}' | '\u{093a}'..='\u{094f}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_text_folds_case_quotes_and_accents() {
        let text = Text::new("I DON’T  drive —\r\nMọ́tò  Não");
        assert_eq!(text.norm(), "i don't drive -\nmoto nao");
    }

    #[test]
    fn evidence_maps_back_to_the_original_words() {
        let text = Text::new("They TOOK my   passport, Mọ́tò!");
        let at = text.norm().find("took my passport").unwrap();
        assert_eq!(
            text.original_span(at..at + "took my passport".len()),
            "TOOK my   passport"
        );
        let at = text.norm().find("moto").unwrap();
        assert_eq!(text.original_span(at..at + 4), "Mọ́tò");
    }

    #[test]
    fn sentences_split_on_punctuation_and_line_breaks_but_not_abbreviations() {
        let text = Text::new("Hello. I live in St. Albans!\ni dont drive\nprince\nमेरा नाम है। ठीक");
        let sentences: Vec<&str> = text
            .sentences()
            .into_iter()
            .map(|r| &text.norm()[r])
            .collect();
        assert_eq!(
            sentences,
            vec![
                "hello.",
                "i live in st. albans!",
                "i dont drive",
                "prince",
                "मेरा नाम है।",
                "ठीक"
            ]
        );
    }

    #[test]
    fn hard_wrapped_lines_stay_one_sentence() {
        let text = Text::new(
            "We have tried to contact the worker three times by phone and twice\nby email since 20 November.",
        );
        assert_eq!(text.sentences().len(), 1);
    }

    #[test]
    fn tokens_split_on_punctuation_and_read_ampersands_as_and() {
        let words: Vec<&str> = tokens("stoke-on-trent, telford & wrekin (tf2)")
            .iter()
            .map(|t| t.word)
            .collect();
        assert_eq!(
            words,
            vec!["stoke", "on", "trent", "telford", "and", "wrekin", "tf2"]
        );
        let words: Vec<&str> = tokens("मेरा नाम").iter().map(|t| t.word).collect();
        assert_eq!(words, vec!["मेरा", "नाम"]);
    }

    #[test]
    fn patterns_fold_like_text_but_keep_regex_case() {
        assert_eq!(fold_pattern(r"don’t\S+ mọ́tò"), r"don't\S+ moto");
    }
}
