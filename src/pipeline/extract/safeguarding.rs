//! Safeguarding indicators in the worker's words (or a referrer's account of them), each
//! with the words that raised it: a phrase or pattern, or a group of concepts found close
//! together within one sentence. Ordinary uses ("my passport expires", "worried I will be
//! deported") are kept out by each indicator's `unless` list.

use std::ops::Range;

use crate::domain::{Safeguarding, SafeguardingIndicator};
use crate::pipeline::extract::{Source, SourceRole};
use crate::pipeline::text::Text;
use crate::rules::safeguarding::{Indicator, SafeguardingRules};

const MAX_PHRASE_CHARS: usize = 160;

pub fn scan(sources: &[Source], rules: &SafeguardingRules) -> Safeguarding {
    let mut found: Vec<SafeguardingIndicator> = Vec::new();
    for source in sources.iter().filter(|s| s.role != SourceRole::Signature) {
        // Which concepts appear anywhere in the text, found once: a group whose concepts
        // are not all there cannot come together in a sentence.
        let present: Vec<bool> = rules
            .concepts
            .iter()
            .map(|(_, lexicon)| lexicon.is_match(source.text.norm()))
            .collect();
        for indicator in &rules.indicators {
            if found.iter().any(|f| f.indicator == indicator.id) {
                continue;
            }
            if let Some(span) = raised(&source.text, indicator, &present, rules) {
                let phrase: String = source
                    .text
                    .original_span(span)
                    .chars()
                    .take(MAX_PHRASE_CHARS)
                    .collect();
                found.push(SafeguardingIndicator {
                    indicator: indicator.id.clone(),
                    phrase,
                });
            }
        }
    }
    Safeguarding(found)
}

/// The first span of `text` that raises the indicator, judged within its sentence.
fn raised(
    text: &Text,
    indicator: &Indicator,
    present: &[bool],
    rules: &SafeguardingRules,
) -> Option<Range<usize>> {
    let norm = text.norm();
    // One pass over the whole text for the phrases and patterns.
    for hit in indicator.raises.find_iter(norm) {
        let sentence = text.sentence_at(hit.range.start);
        let sentence_text = &norm[sentence.clone()];
        let span = if hit.range.end <= sentence.end {
            Some(hit.range.clone())
        } else {
            indicator
                .raises
                .find(sentence_text)
                .map(|h| sentence.start + h.range.start..sentence.start + h.range.end)
        };
        if let Some(span) = span
            && !indicator.unless.is_match(sentence_text)
        {
            return Some(span);
        }
    }
    let groups: Vec<&Vec<usize>> = indicator
        .together
        .iter()
        .filter(|group| group.iter().all(|&concept| present[concept]))
        .collect();
    if groups.is_empty() {
        return None;
    }
    for sentence in text.sentences() {
        let sentence_text = &norm[sentence.clone()];
        for group in &groups {
            if let Some(span) = together(sentence_text, group, rules)
                && !indicator.unless.is_match(sentence_text)
            {
                return Some(sentence.start + span.start..sentence.start + span.end);
            }
        }
    }
    None
}

/// Every concept of the group has a word within `together_within` characters of a word
/// of the first concept.
fn together(sentence: &str, group: &[usize], rules: &SafeguardingRules) -> Option<Range<usize>> {
    let mut hits: Vec<Vec<Range<usize>>> = Vec::with_capacity(group.len());
    for &concept in group {
        let found: Vec<Range<usize>> = rules.concepts[concept]
            .1
            .find_iter(sentence)
            .into_iter()
            .map(|h| h.range)
            .collect();
        if found.is_empty() {
            return None;
        }
        hits.push(found);
    }
    for anchor in &hits[0] {
        let mut span = anchor.clone();
        let mut all_near = true;
        for others in &hits[1..] {
            let nearest = others
                .iter()
                .min_by_key(|h| h.start.abs_diff(anchor.start))
                .expect("non-empty");
            if nearest.start.abs_diff(anchor.start) > rules.together_within {
                all_near = false;
                break;
            }
            span = span.start.min(nearest.start)..span.end.max(nearest.end);
        }
        if all_near {
            return Some(span);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::rules;

    fn indicators(text: &str) -> Vec<String> {
        let sources = [Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks: Vec::new(),
        }];
        scan(&sources, &rules().safeguarding)
            .0
            .into_iter()
            .map(|i| i.indicator)
            .collect()
    }

    #[test]
    fn disclosures_raise_the_right_indicator_with_its_words() {
        let cases = [
            (
                "The company took my passport and my BRP when I started.",
                "withheld_documents",
            ),
            (
                "The manager keeps our documents in the office safe and we must ask permission to get them.",
                "withheld_documents",
            ),
            (
                "I have not received my salary since August.",
                "unpaid_wages",
            ),
            (
                "After deductions for the house and transport I end up with about £80 a month.",
                "unpaid_wages",
            ),
            (
                "I paid 7 lakhs to the agent in Punjab for COS.",
                "debt_for_job",
            ),
            (
                "The agent keeps calling my mother asking for the balance for my visa.",
                "debt_for_job",
            ),
            (
                "He said if I stop he will report me to the Home Office and I will be removed.",
                "threats",
            ),
            (
                "He said if I report anything he will make sure I never work in care again.",
                "threats",
            ),
            ("I have had no day off for 6 weeks.", "forced_labour"),
            (
                "I work nights at the client's house and I am not allowed to leave.",
                "forced_labour",
            ),
            (
                "We have very little food and she has no income.",
                "no_food_or_shelter",
            ),
            (
                "I have been skipping meals so my son can eat.",
                "no_food_or_shelter",
            ),
            (
                "My kids have not eaten properly this week.",
                "children_at_risk",
            ),
            ("I don't want to live anymore.", "self_harm"),
            (
                "Sometimes I think everyone would be better without me.",
                "self_harm",
            ),
            (
                "He comes into my room at night and sits on my bed.",
                "abuse",
            ),
        ];
        for (text, expected) in cases {
            assert!(
                indicators(text).contains(&expected.to_string()),
                "{text}: {:?}",
                indicators(text)
            );
        }
        let sources = [Source {
            text: Text::new("They TOOK my passport."),
            role: SourceRole::Own,
            asks: Vec::new(),
        }];
        assert_eq!(
            scan(&sources, &rules().safeguarding).0[0].phrase,
            "TOOK my passport"
        );
    }

    #[test]
    fn ordinary_uses_of_the_same_words_raise_nothing() {
        let cases = [
            "My passport expires next year and I need to renew it.",
            "I still have my BRP and my eVisa account.",
            "The company took copies of my passport and BRP for the right to work check.",
            "I am worried that I will be deported.",
            "I am very stressed and I cannot sleep since I got the email.",
            "My last month's salary was paid late, but it has now been paid in full.",
            "I paid my own visa fee and the company paid for the CoS.",
            "We are worried about how we will pay the rent next month.",
            "I don't want to live in Walsall anymore.",
            "My son is in Year 3 at the school here.",
            "My contract says I must repay my NVQ course if I leave, but the manager said nobody will be asked to pay anything back.",
        ];
        for text in cases {
            assert!(
                indicators(text).is_empty(),
                "{text}: {:?}",
                indicators(text)
            );
        }
    }
}
