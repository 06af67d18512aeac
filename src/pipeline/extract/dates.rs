//! The date the sponsor's licence was revoked (or the notice arrived), when the worker
//! gives one. A date without a year takes the latest year that is not after the email.

use std::sync::LazyLock;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use regex::Regex;

use crate::pipeline::extract::{Found, Source, SourceRole};
use crate::rules::dates::DateRules;

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];

static DAY_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})(?:st|nd|rd|th)?(?: of)? (jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?(?:,? (\d{4}))?\b")
        .expect("valid")
});
static MONTH_DAY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]* (\d{1,2})(?:st|nd|rd|th)?\b(?:,? (\d{4}))?").expect("valid")
});
static NUMERIC: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})\b").expect("valid")
});

pub fn revocation(
    sources: &[Source],
    sent: Option<DateTime<Utc>>,
    rules: &DateRules,
) -> Option<Found<NaiveDate>> {
    let sent = sent.map(|d| d.date_naive());
    for source in sources.iter().filter(|s| s.role != SourceRole::Signature) {
        let text = &source.text;
        for sentence in text.sentences() {
            let norm = &text.norm()[sentence.clone()];
            if !rules.revocation.is_match(norm) {
                continue;
            }
            if let Some((date, range)) = first_date(norm, sent) {
                let span = sentence.start + range.start..sentence.start + range.end;
                return Some(Found::new(date, text.original_span(span), 0.8));
            }
        }
    }
    None
}

fn first_date(norm: &str, sent: Option<NaiveDate>) -> Option<(NaiveDate, std::ops::Range<usize>)> {
    let mut found: Vec<(usize, NaiveDate, std::ops::Range<usize>)> = Vec::new();
    for caps in DAY_MONTH.captures_iter(norm) {
        let day = caps[1].parse().ok()?;
        let month = month_number(&caps[2]);
        let year = caps.get(3).and_then(|y| y.as_str().parse().ok());
        if let Some(date) = complete(day, month, year, sent) {
            let m = caps.get(0).expect("whole match");
            found.push((m.start(), date, m.range()));
        }
    }
    for caps in MONTH_DAY.captures_iter(norm) {
        let month = month_number(&caps[1]);
        let day = caps[2].parse().ok()?;
        let year = caps.get(3).and_then(|y| y.as_str().parse().ok());
        if let Some(date) = complete(day, month, year, sent) {
            let m = caps.get(0).expect("whole match");
            found.push((m.start(), date, m.range()));
        }
    }
    for caps in NUMERIC.captures_iter(norm) {
        let day = caps[1].parse().ok()?;
        let month = caps[2].parse().ok()?;
        let year: i32 = caps[3].parse().ok()?;
        let year = if year < 100 { 2000 + year } else { year };
        if let Some(date) = NaiveDate::from_ymd_opt(year, month, day) {
            let m = caps.get(0).expect("whole match");
            found.push((m.start(), date, m.range()));
        }
    }
    found
        .into_iter()
        .min_by_key(|(start, _, _)| *start)
        .map(|(_, date, range)| (date, range))
}

fn month_number(prefix: &str) -> u32 {
    MONTHS
        .iter()
        .position(|m| *m == prefix)
        .map_or(1, |i| i as u32 + 1)
}

fn complete(day: u32, month: u32, year: Option<i32>, sent: Option<NaiveDate>) -> Option<NaiveDate> {
    if let Some(year) = year {
        return NaiveDate::from_ymd_opt(year, month, day);
    }
    let sent = sent?;
    let this_year = NaiveDate::from_ymd_opt(sent.year(), month, day)?;
    if this_year <= sent + chrono::Days::new(1) {
        Some(this_year)
    } else {
        NaiveDate::from_ymd_opt(sent.year() - 1, month, day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::text::Text;
    use crate::rules::tests::rules;

    fn date(text: &str) -> Option<String> {
        let sources = [Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks: Vec::new(),
        }];
        let sent = DateTime::parse_from_rfc3339("2025-01-10T09:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        revocation(&sources, Some(sent), &rules().dates).map(|f| f.value.to_string())
    }

    #[test]
    fn revocation_dates_are_read_with_the_year_inferred() {
        assert_eq!(
            date("My sponsor's licence was revoked on 8 November.").as_deref(),
            Some("2024-11-08")
        );
        assert_eq!(
            date("My sponsor licence was revoked on the 15th of November.").as_deref(),
            Some("2024-11-15")
        );
        assert_eq!(
            date("Revocation letter dated 12 November 2024").as_deref(),
            Some("2024-11-12")
        );
        assert_eq!(
            date("The licence was revoked on 6 January.").as_deref(),
            Some("2025-01-06")
        );
        assert_eq!(
            date("Date of revocation notice: 28/10/2024").as_deref(),
            Some("2024-10-28")
        );
    }

    #[test]
    fn dates_without_a_revocation_word_are_not_revocation_dates() {
        assert_eq!(date("I start my new job on 2 December."), None);
        assert_eq!(date("My licence was revoked last week."), None);
    }
}
