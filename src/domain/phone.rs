//! Telephone numbers in E.164 form (`+447700900123`), parsed from how people write them.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct Phone(String);

impl Phone {
    /// Parses UK national (`07700 900123`, `0121 496 0733`), UK international
    /// (`+44 (0)7700 900903`, `0044 7700 900 190`) and foreign (`+254 712 000 345`) numbers.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        let plus = raw.starts_with('+');
        // "(0)" after a country code is the national trunk prefix that E.164 drops.
        let without_trunk = raw.replace("(0)", "");
        let digits: String = without_trunk.chars().filter(char::is_ascii_digit).collect();
        let invalid_char = without_trunk.chars().any(|c| {
            !(c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
        });
        if invalid_char {
            return None;
        }
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if let Some(national) = digits.strip_prefix('0') {
            // A UK national number has 10 digits after the trunk 0.
            if national.len() != 10 {
                return None;
            }
            format!("44{national}")
        } else if digits.starts_with("447") && digits.len() == 12 {
            digits
        } else {
            return None;
        };
        Self::from_international_digits(&international)
    }

    fn from_international_digits(digits: &str) -> Option<Self> {
        if let Some(national) = digits.strip_prefix("44") {
            let national = national.strip_prefix('0').unwrap_or(national);
            let valid = (national.len() == 10 || national.len() == 9)
                && matches!(
                    national.as_bytes()[0],
                    b'1' | b'2' | b'3' | b'5' | b'7' | b'8' | b'9'
                );
            return valid.then(|| Self(format!("+44{national}")));
        }
        let valid = (8..=15).contains(&digits.len()) && !digits.starts_with('0');
        valid.then(|| Self(format!("+{digits}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// How a person in the UK writes it: `07700 900142`; foreign numbers stay international.
    pub fn national(&self) -> String {
        match self.0.strip_prefix("+44") {
            Some(rest) if self.is_uk_mobile() && rest.len() == 10 => {
                format!("0{} {}", &rest[..4], &rest[4..])
            }
            Some(rest) if rest.starts_with("20") && rest.len() == 10 => {
                format!("020 {} {}", &rest[2..6], &rest[6..])
            }
            Some(rest) if rest.starts_with("1") && rest.len() == 10 => {
                format!("0{} {} {}", &rest[..3], &rest[3..6], &rest[6..])
            }
            Some(rest) => format!("0{rest}"),
            None => self.0.clone(),
        }
    }

    pub fn is_uk(&self) -> bool {
        self.0.starts_with("+44")
    }

    /// UK mobiles start 07 nationally (+447), except 070 personal numbers and 076 pagers.
    pub fn is_uk_mobile(&self) -> bool {
        self.0.starts_with("+447") && !self.0.starts_with("+4470") && !self.0.starts_with("+4476")
    }

    /// Freephone, non-geographic and service numbers (08xx, 03xx): helplines, not people.
    pub fn is_uk_service(&self) -> bool {
        self.0.starts_with("+448") || self.0.starts_with("+443")
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_normalise_to_e164() {
        let cases = [
            ("07700 900142", Some("+447700900142")),
            ("07700900387", Some("+447700900387")),
            ("+44 7700 900654", Some("+447700900654")),
            ("0044 7700 900 190", Some("+447700900190")),
            ("+44 (0)7700 900903", Some("+447700900903")),
            ("07700-900-344", Some("+447700900344")),
            ("+254 712 000 345", Some("+254712000345")),
            ("+91 98765 43210", Some("+919876543210")),
            ("0121 496 0733", Some("+441214960733")),
            ("0808 157 0192", Some("+448081570192")),
            ("447700900123", Some("+447700900123")),
            ("0770090012", None),
            ("12345", None),
            ("07700 900142 ext", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                Phone::parse(raw).as_ref().map(Phone::as_str),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn mobiles_and_service_numbers_are_told_apart() {
        assert!(Phone::parse("07700 900142").unwrap().is_uk_mobile());
        assert!(!Phone::parse("0121 496 0733").unwrap().is_uk_mobile());
        assert!(Phone::parse("0808 157 0192").unwrap().is_uk_service());
        assert!(!Phone::parse("+254 712 000 345").unwrap().is_uk());
    }

    #[test]
    fn numbers_are_shown_the_way_people_in_the_uk_write_them() {
        let cases = [
            ("+447700900142", "07700 900142"),
            ("+441214960733", "0121 496 0733"),
            ("+442079460000", "020 7946 0000"),
            ("+448081570192", "08081570192"),
            ("+254712000345", "+254712000345"),
        ];
        for (e164, shown) in cases {
            assert_eq!(Phone::parse(e164).unwrap().national(), shown);
        }
    }
}
