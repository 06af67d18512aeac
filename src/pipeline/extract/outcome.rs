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
}
