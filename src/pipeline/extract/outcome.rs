//! What a council lead reports about a referral: placed, closed, in progress, or moved.

use crate::domain::Outcome;
use crate::pipeline::extract::{Found, Source, SourceRole};
use crate::rules::outcomes::OutcomeRules;

pub fn read(sources: &[Source], rules: &OutcomeRules) -> Option<Found<Outcome>> {
    // Moved first: the case needs routing again whatever else is said.
    let checks = [
        (Outcome::Moved, &rules.moved),
        (Outcome::Employed, &rules.employed),
        (Outcome::Nfa, &rules.nfa),
        (Outcome::InProgress, &rules.in_progress),
    ];
    for (outcome, lexicon) in checks {
        for source in sources.iter().filter(|s| s.role == SourceRole::Own) {
            if let Some(hit) = lexicon.find(source.text.norm()) {
                return Some(Found::new(
                    outcome,
                    source.text.original_span(hit.range),
                    0.8,
                ));
            }
        }
    }
    None
}

/// The new employer named in an employed outcome: the words after a cue ("placed with"),
/// to the end of the clause, in the writer's own spelling.
pub fn employer(sources: &[Source], rules: &OutcomeRules) -> Option<Found<String>> {
    const CLAUSE_ENDS: [&str; 14] = [
        " and ",
        " on ",
        " from ",
        " as ",
        " starting",
        " since ",
        " who ",
        " which ",
        " - ",
        " last ",
        " this ",
        " next ",
        " today",
        " in ",
    ];
    for source in sources.iter().filter(|s| s.role == SourceRole::Own) {
        let norm = source.text.norm();
        for hit in rules.employer.find_iter(norm) {
            let rest = &norm[hit.range.end..];
            let mut end = rest
                .find(['.', ',', ';', '\n', '!', '?', '(', ':'])
                .unwrap_or(rest.len());
            for stop in CLAUSE_ENDS {
                if let Some(at) = rest[..end].find(stop) {
                    end = end.min(at);
                }
            }
            let name = source
                .text
                .original_span(hit.range.end..hit.range.end + end)
                .trim_start_matches("the ")
                .trim();
            let words = name.split_whitespace().count();
            if (1..=8).contains(&words) && name.chars().any(char::is_alphabetic) {
                let evidence = source
                    .text
                    .original_span(hit.range.start..hit.range.end + end);
                return Some(Found::new(name.to_string(), evidence, 0.8));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::text::Text;
    use crate::rules::tests::rules;

    fn outcome(text: &str) -> Option<Outcome> {
        let sources = [Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks: Vec::new(),
        }];
        read(&sources, &rules().outcomes).map(|f| f.value)
    }

    #[test]
    fn lead_replies_become_outcomes() {
        assert_eq!(
            outcome(
                "Tafadzwa has accepted a job offer with Willow Lodge Care and the CoS was assigned."
            ),
            Some(Outcome::Employed)
        );
        assert_eq!(
            outcome("We are closing the referral as NFA - could not contact."),
            Some(Outcome::Nfa)
        );
        assert_eq!(
            outcome("We've arranged an interview for Ms Okeke on 10 January."),
            Some(Outcome::InProgress)
        );
        assert_eq!(
            outcome(
                "She told us she moved to Crewe last week; please refer her to the North West hub instead."
            ),
            Some(Outcome::Moved)
        );
        assert_eq!(outcome("Thanks, will look at this next week."), None);
    }

    #[test]
    fn the_new_employer_is_named_in_the_writers_spelling() {
        let employer = |text: &str| {
            let sources = [Source {
                text: Text::new(text),
                role: SourceRole::Own,
                asks: Vec::new(),
            }];
            employer(&sources, &rules().outcomes).map(|f| f.value)
        };
        let cases = [
            (
                "Tafadzwa has accepted a job offer with Willow Lodge Care and the CoS was assigned.",
                Some("Willow Lodge Care"),
            ),
            (
                "Outcome: employed with Sunrise Care Ltd.",
                Some("Sunrise Care Ltd"),
            ),
            (
                "She was placed with Meadowbank Homes on 3 March.",
                Some("Meadowbank Homes"),
            ),
            (
                "We are closing the referral as NFA - could not contact.",
                None,
            ),
            ("She is now employed.", None),
        ];
        for (text, expected) in cases {
            assert_eq!(employer(text).as_deref(), expected, "{text}");
        }
    }
}
