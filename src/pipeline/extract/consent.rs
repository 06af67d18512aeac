//! Consent to share the worker's details. A bare "yes" counts only as the answer to our
//! consent request; explicit statements ("I consent", "don't share my details") count
//! anywhere in the worker's words; a referrer's "she agreed to us passing her details to
//! you" is not consent to share onward.

use crate::domain::{Consent, Field, Kind};
use crate::pipeline::classify::bare_answer;
use crate::pipeline::extract::{Found, Source, SourceRole};
use crate::rules::Rules;

pub fn read(kind: Kind, sources: &[Source], all_rules: &Rules) -> Option<Found<Consent>> {
    let rules = &all_rules.consent;
    let kinds = &all_rules.kinds;
    let own: Vec<&Source> = sources
        .iter()
        .filter(|s| matches!(s.role, SourceRole::Own | SourceRole::Answer))
        .collect();
    match kind {
        Kind::Withdrawal => {
            let evidence = own
                .iter()
                .find_map(|s| {
                    kinds
                        .withdrawal
                        .find(s.text.norm())
                        .or_else(|| rules.refused.find(s.text.norm()))
                        .map(|hit| s.text.original_span(hit.range).to_string())
                })
                .unwrap_or_default();
            Some(Found::new(Consent::Withdrawn, evidence, 0.9))
        }
        Kind::ReferralIn => {
            for source in &own {
                let norm = source.text.norm();
                if let Some(hit) = rules.third_party_not_given.find(norm) {
                    let _ = hit;
                    return None;
                }
                if let Some(hit) = rules.third_party_given.find(norm) {
                    return Some(Found::new(
                        Consent::Given,
                        source.text.original_span(hit.range),
                        0.8,
                    ));
                }
            }
            None
        }
        Kind::SupportRequest | Kind::ConsentReply | Kind::InfoReply => {
            worker_statement(&own, all_rules)
        }
        _ => None,
    }
}

fn worker_statement(own: &[&Source], all_rules: &Rules) -> Option<Found<Consent>> {
    let rules = &all_rules.consent;
    if own.iter().any(|s| rules.deferred.is_match(s.text.norm())) {
        return None;
    }
    for source in own {
        let text = &source.text;
        let answers_consent = source.asks.contains(&Field::Consent);
        for (index, sentence) in text.sentences().into_iter().enumerate() {
            let norm = &text.norm()[sentence.clone()];
            let given = rules.given.find(norm).map(|h| h.range.start);
            let refused = rules
                .refused
                .find(norm)
                .or_else(|| {
                    all_rules
                        .kinds
                        .no_longer_needed
                        .find(norm)
                        .filter(|_| answers_consent)
                })
                .map(|h| h.range.start);
            let statement = match (given, refused) {
                (Some(g), Some(r)) if r < g => Some(Consent::Refused),
                (Some(_), _) => Some(Consent::Given),
                (None, Some(_)) => Some(Consent::Refused),
                (None, None) if answers_consent && index == 0 => {
                    if bare_answer(&rules.yes, norm, all_rules) {
                        Some(Consent::Given)
                    } else if bare_answer(&rules.no, norm, all_rules) {
                        Some(Consent::Refused)
                    } else {
                        None
                    }
                }
                (None, None) => None,
            };
            if let Some(value) = statement {
                return Some(Found::new(value, text.original_span(sentence), 0.9));
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

    fn consent(kind: Kind, text: &str, asks: Vec<Field>) -> Option<&'static str> {
        let sources = [Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks,
        }];
        read(kind, &sources, rules()).map(|f| f.value.as_str())
    }

    #[test]
    fn yes_counts_only_as_the_answer_to_our_consent_request() {
        assert_eq!(
            consent(Kind::ConsentReply, "YES", vec![Field::Consent]),
            Some("given")
        );
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "Yes please help me.",
                vec![Field::Consent]
            ),
            Some("given")
        );
        assert_eq!(
            consent(
                Kind::InfoReply,
                "Yes I have, but no car",
                vec![Field::DrivingLicence]
            ),
            None
        );
        assert_eq!(
            consent(
                Kind::SupportRequest,
                "Yes, my sponsor licence was revoked.",
                Vec::new()
            ),
            None
        );
    }

    #[test]
    fn explicit_statements_count_and_deferrals_do_not() {
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "ok you can share\npostcode cv115ab",
                vec![Field::Consent]
            ),
            Some("given")
        );
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "no I dont want my details shared.",
                vec![Field::Consent]
            ),
            Some("refused")
        );
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "Hello, before I say yes, what will you do with my data?",
                vec![Field::Consent]
            ),
            None
        );
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "I will ask my husband first and then I reply you.",
                vec![Field::Consent]
            ),
            None
        );
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "I live in Small Heath. Yes you can share with Birmingham council but please do not give my details to my old employer.",
                vec![Field::Consent]
            ),
            Some("given")
        );
        assert_eq!(
            consent(
                Kind::ConsentReply,
                "Opo, pumapayag po ako na i-share ang details ko sa council.",
                vec![Field::Consent]
            ),
            Some("given")
        );
    }

    #[test]
    fn referrers_relay_consent_only_to_share_onward() {
        assert_eq!(
            consent(
                Kind::ReferralIn,
                "She has given consent for her details to be shared with the West Midlands mailbox and with her local council.",
                Vec::new()
            ),
            Some("given")
        );
        assert_eq!(
            consent(
                Kind::ReferralIn,
                "She has agreed to us passing her details to you so you can help her.",
                Vec::new()
            ),
            None
        );
        assert_eq!(
            consent(
                Kind::ReferralIn,
                "We haven't asked for her consent yet.",
                Vec::new()
            ),
            None
        );
    }
}
