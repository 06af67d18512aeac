//! Email addresses and Message-IDs as they arrive in headers (RFC 5322 §3.4, §3.6.4).

use std::fmt;

/// A mailbox address `local@domain`, the domain lower-cased.
/// Local parts are kept as written: RFC 5321 lets them be case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim().trim_matches(|c| c == '<' || c == '>').trim();
        let (local, domain) = raw.rsplit_once('@')?;
        let valid_local = !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(|c| c.is_whitespace() || c.is_control());
        let valid_domain = domain.len() >= 3
            && domain.len() <= 255
            && domain.contains('.')
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
        (valid_local && valid_domain).then(|| Self(format!("{local}@{}", domain.to_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local_part(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(local, _)| local)
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map_or("", |(_, domain)| domain)
    }

    /// Addresses compare case-insensitively in practice: every big provider ignores case.
    pub fn same_mailbox(&self, other: &EmailAddress) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Message-ID without its angle brackets.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct MessageId(String);

impl MessageId {
    pub fn parse(raw: &str) -> Option<Self> {
        let id = raw
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .trim();
        let plausible = !id.is_empty()
            && id.len() <= 998
            && !id.chars().any(|c| c.is_whitespace() || c.is_control());
        plausible.then(|| Self(id.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part before `@`, which our own outgoing ids use to say what the message was.
    pub fn local_part(&self) -> &str {
        self.0.split('@').next().unwrap_or("")
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_with_or_without_brackets_and_lowercase_the_domain() {
        let cases = [
            ("<Priya@GMail.com>", Some("Priya@gmail.com")),
            ("worker@example.org", Some("worker@example.org")),
            (
                "MAILER-DAEMON@mail.example.org",
                Some("MAILER-DAEMON@mail.example.org"),
            ),
            ("", None),
            ("no-at-sign", None),
            ("a@b", None),
            ("two words@example.org", None),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                EmailAddress::parse(raw).as_ref().map(|a| a.as_str()),
                expected,
                "{raw}"
            );
        }
    }

    #[test]
    fn message_ids_lose_their_brackets_and_keep_a_local_part() {
        let id = MessageId::parse(" <consent-RM-000041@wmca.example.org> ").unwrap();
        assert_eq!(id.as_str(), "consent-RM-000041@wmca.example.org");
        assert_eq!(id.local_part(), "consent-RM-000041");
        assert_eq!(id.to_string(), "<consent-RM-000041@wmca.example.org>");
        assert!(MessageId::parse("<>").is_none());
    }
}
