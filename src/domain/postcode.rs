//! UK postcodes: a full postcode (`CV1 5FB`) or its outward code alone (`B23`).
//!
//! Formats from the Royal Mail PAF guide: outward `A9 A99 AA9 AA99 A9A AA9A`, inward `9AA`.
//! Whether a district really exists is the gazetteer's question, not this type's.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Postcode {
    outward: String,
    inward: Option<String>,
}

impl Postcode {
    /// Parses a postcode written in any case, with or without the space.
    pub fn parse(raw: &str) -> Option<Self> {
        let compact: String = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Self::from_compact(&compact)
    }

    fn from_compact(compact: &str) -> Option<Self> {
        if !compact.is_ascii() {
            return None;
        }
        if is_outward(compact) {
            return Some(Self {
                outward: compact.to_string(),
                inward: None,
            });
        }
        // The inward code is always the last three characters.
        let split = compact.len().checked_sub(3)?;
        let (outward, inward) = compact.split_at(split);
        (is_outward(outward) && is_inward(inward)).then(|| Self {
            outward: outward.to_string(),
            inward: Some(inward.to_string()),
        })
    }

    /// Every reading of a hand-typed postcode, repairing the letter O / digit 0 and
    /// letter I / digit 1 confusions where the format says which one belongs there.
    /// The most literal reading comes first.
    pub fn readings(raw: &str) -> Vec<Self> {
        let compact: Vec<char> = raw
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        // Every outward code has a digit second or third (A9, AA9, A9A...), or a letter O
        // or I typed for one: most words are turned away here, before any allocation.
        let digit_like = |c: &char| c.is_ascii_digit() || matches!(c, 'O' | 'I');
        if compact.len() < 2
            || compact.len() > 7
            || compact.iter().any(|c| !c.is_ascii_alphanumeric())
            || !compact[1..compact.len().min(3)].iter().any(digit_like)
        {
            return Vec::new();
        }
        let mut readings = Vec::new();
        let mut push = |chars: &[char]| {
            let text: String = chars.iter().collect();
            if let Some(postcode) = Self::from_compact(&text)
                && !readings.contains(&postcode)
            {
                readings.push(postcode);
            }
        };
        push(&compact);
        // Try each ambiguous character both ways; at most 2^4 variants for 7 characters.
        let ambiguous: Vec<usize> = compact
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c, 'O' | '0' | 'I' | '1'))
            .map(|(i, _)| i)
            .take(4)
            .collect();
        for mask in 1u32..(1 << ambiguous.len()) {
            let mut variant = compact.clone();
            for (bit, &index) in ambiguous.iter().enumerate() {
                if mask & (1 << bit) != 0 {
                    variant[index] = match variant[index] {
                        'O' => '0',
                        '0' => 'O',
                        'I' => '1',
                        _ => 'I',
                    };
                }
            }
            push(&variant);
        }
        readings
    }

    pub fn outward(&self) -> &str {
        &self.outward
    }

    pub fn inward(&self) -> Option<&str> {
        self.inward.as_deref()
    }

    pub fn is_full(&self) -> bool {
        self.inward.is_some()
    }

    /// The postcode area: the leading letters of the outward code (`CV`, `B`).
    pub fn area(&self) -> &str {
        let letters = self
            .outward
            .chars()
            .take_while(|c| c.is_ascii_alphabetic())
            .count();
        &self.outward[..letters]
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inward {
            Some(inward) => write!(f, "{} {}", self.outward, inward),
            None => f.write_str(&self.outward),
        }
    }
}

impl serde::Serialize for Postcode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn is_outward(s: &str) -> bool {
    let b = s.as_bytes();
    let alpha = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_uppercase());
    let digit = |i: usize| b.get(i).is_some_and(|c| c.is_ascii_digit());
    match b.len() {
        2 => alpha(0) && digit(1),
        3 => alpha(0) && ((digit(1) && (digit(2) || alpha(2))) || (alpha(1) && digit(2))),
        4 => alpha(0) && alpha(1) && digit(2) && (digit(3) || alpha(3)),
        _ => false,
    }
}

fn is_inward(s: &str) -> bool {
    let b = s.as_bytes();
    // Royal Mail never uses C I K M O V in the last two letters.
    let unit = |c: &u8| c.is_ascii_uppercase() && !b"CIKMOV".contains(c);
    b.len() == 3 && b[0].is_ascii_digit() && unit(&b[1]) && unit(&b[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postcodes_parse_in_any_case_with_or_without_the_space() {
        let cases = [
            ("CV6 5BU", Some("CV6 5BU")),
            ("cv115ab", Some("CV11 5AB")),
            ("dy13lp", Some("DY1 3LP")),
            ("B 23 6TH", Some("B23 6TH")),
            ("B23", Some("B23")),
            ("ec1a 1bb", Some("EC1A 1BB")),
            ("M14", Some("M14")),
            ("WV1O 6QT", Some("WV1O 6QT")),
            ("12345", None),
            ("ABCDE", None),
            ("CV1 5FI", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                Postcode::parse(raw).map(|p| p.to_string()).as_deref(),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn readings_repair_letter_o_and_digit_one_confusions() {
        let readings: Vec<String> = Postcode::readings("WV1O 6QT")
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert!(readings.contains(&"WV10 6QT".to_string()), "{readings:?}");
        let readings: Vec<String> = Postcode::readings("B1O 0AA")
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert!(readings.contains(&"B10 0AA".to_string()), "{readings:?}");
        let readings: Vec<String> = Postcode::readings("CVI 5FB")
            .iter()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(readings, vec!["CV1 5FB".to_string()]);
        assert!(Postcode::readings("hello world").is_empty());
    }

    #[test]
    fn areas_are_the_leading_letters() {
        assert_eq!(Postcode::parse("CV11 4DL").unwrap().area(), "CV");
        assert_eq!(Postcode::parse("B77").unwrap().area(), "B");
        assert!(Postcode::parse("B77 2AD").unwrap().is_full());
    }
}
