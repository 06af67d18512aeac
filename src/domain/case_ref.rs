//! Case references such as `RM-000123`: a configurable prefix and a number.

use std::fmt;

use regex::Regex;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(into = "String")]
pub struct CaseRef {
    prefix: String,
    number: u64,
}

impl CaseRef {
    pub fn new(prefix: &str, number: u64) -> Self {
        Self {
            prefix: prefix.to_ascii_uppercase(),
            number,
        }
    }

    pub fn number(&self) -> u64 {
        self.number
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Parses exactly one reference such as `RM-000123` (any case).
    pub fn parse(prefix: &str, raw: &str) -> Option<Self> {
        let (head, digits) = raw.trim().split_once('-')?;
        let valid = head.eq_ignore_ascii_case(prefix)
            && (1..=12).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit());
        if !valid {
            return None;
        }
        Some(Self::new(prefix, digits.parse().ok()?))
    }

    /// A reference whatever its prefix (as stored: a deployment may change its prefix).
    pub fn parse_any(raw: &str) -> Option<Self> {
        let (head, _) = raw.trim().split_once('-')?;
        Self::parse(head, raw)
    }
}

impl fmt::Display for CaseRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{:06}", self.prefix, self.number)
    }
}

impl From<CaseRef> for String {
    fn from(value: CaseRef) -> Self {
        value.to_string()
    }
}

/// Finds case references in free text (subjects, bodies) for one prefix.
#[derive(Debug, Clone)]
pub struct CaseRefFinder {
    prefix: String,
    pattern: Regex,
}

impl CaseRefFinder {
    pub fn new(prefix: &str) -> Self {
        let pattern = Regex::new(&format!(
            r"(?i)\b{}[-\s]?(\d{{3,12}})\b",
            regex::escape(prefix)
        ))
        .expect("escaped prefix makes a valid pattern");
        Self {
            prefix: prefix.to_ascii_uppercase(),
            pattern,
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn find_all(&self, text: &str) -> Vec<CaseRef> {
        let mut found: Vec<CaseRef> = Vec::new();
        for caps in self.pattern.captures_iter(text) {
            if let Ok(number) = caps[1].parse() {
                let reference = CaseRef::new(&self.prefix, number);
                if !found.contains(&reference) {
                    found.push(reference);
                }
            }
        }
        found
    }

    pub fn find_first(&self, text: &str) -> Option<CaseRef> {
        self.find_all(text).into_iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_print_with_six_digits_and_parse_back() {
        let reference = CaseRef::new("rm", 123);
        assert_eq!(reference.to_string(), "RM-000123");
        assert_eq!(CaseRef::parse("RM", "RM-000123"), Some(reference));
        assert_eq!(CaseRef::parse("RM", "XX-000123"), None);
        assert_eq!(CaseRef::parse("RM", "RM-12a"), None);
    }

    #[test]
    fn references_are_found_in_subjects_and_bodies() {
        let finder = CaseRefFinder::new("RM");
        assert_eq!(
            finder
                .find_first("Re: [RM-000041] Your email")
                .map(|r| r.number()),
            Some(41)
        );
        assert_eq!(
            finder
                .find_first("close my case (rm 000301)")
                .map(|r| r.number()),
            Some(301)
        );
        assert_eq!(
            finder.find_first("RM88410273GB parcel"),
            None,
            "tracking numbers are not references"
        );
        assert_eq!(
            finder.find_all("RM-001, RM-000001 and RM-002").len(),
            2,
            "one case named twice counts once"
        );
    }
}
