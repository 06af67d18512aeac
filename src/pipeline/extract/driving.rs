//! Driving licence and car access. Each mention of a licence is read with the words around
//! it: whose country, full or provisional, held or only applied for, negated or not, and
//! whether it is the sponsor's licence instead. Answers to our yes/no questions count too.

use crate::domain::{DrivingLicence, Field};
use crate::pipeline::extract::{Found, Source, SourceRole};
use crate::pipeline::text::Text;
use crate::rules::Lexicon;
use crate::rules::driving::DrivingRules;

const BEFORE: usize = 48;
const AFTER_FOREIGN: usize = 32;
const AFTER_NEGATION: usize = 14;

pub fn licence(sources: &[Source], rules: &DrivingRules) -> Option<Found<DrivingLicence>> {
    let mut claims: Vec<Found<DrivingLicence>> = Vec::new();
    for source in sources.iter().filter(|s| s.role != SourceRole::Signature) {
        let text = &source.text;
        if source.asks == [Field::DrivingLicence] {
            claims.extend(answer(text, rules));
        }
        for sentence in text.sentences() {
            let norm = &text.norm()[sentence.clone()];
            let hits = merge_adjacent(rules.licence_word.find_iter(norm), norm);
            for (i, hit) in hits.iter().enumerate() {
                let previous_end = if i > 0 { hits[i - 1].range.end } else { 0 };
                let next_start = hits.get(i + 1).map_or(norm.len(), |h| h.range.start);
                let before = tail(&norm[previous_end..hit.range.start], BEFORE);
                let after = &norm[hit.range.end..next_start];
                if let Some(value) = read_mention(before, &norm[hit.range.clone()], after, rules) {
                    let span = sentence.start + hit.range.start.saturating_sub(before.len())
                        ..sentence.start
                            + (hit.range.end + head(after, AFTER_FOREIGN).len()).min(norm.len());
                    claims.push(Found::new(value, text.original_span(span), 0.8));
                }
            }
            if let Some(found) = rules.full_statement.find(norm) {
                let span = sentence.start + found.range.start..sentence.start + found.range.end;
                claims.push(Found::new(
                    DrivingLicence::UkFull,
                    text.original_span(span),
                    0.8,
                ));
            }
            if let Some(found) = rules.no_driving.find(norm) {
                let span = sentence.start + found.range.start..sentence.start + found.range.end;
                claims.push(Found::new(
                    DrivingLicence::None,
                    text.original_span(span),
                    0.7,
                ));
            }
        }
    }
    if claims.is_empty() {
        for source in sources.iter().filter(|s| s.role != SourceRole::Signature) {
            if let Some(hit) = rules.provisional_statement.find(source.text.norm()) {
                claims.push(Found::new(
                    DrivingLicence::UkProvisional,
                    source.text.original_span(hit.range),
                    0.5,
                ));
            }
        }
    }
    claims.into_iter().max_by_key(|c| c.value)
}

/// One mention of a licence: what it says, or `None` when it is the sponsor's licence or a
/// licence not yet held.
fn read_mention(
    before: &str,
    word: &str,
    after: &str,
    rules: &DrivingRules,
) -> Option<DrivingLicence> {
    let near_after = head(after, AFTER_NEGATION);
    let about_driving = |s: &str| {
        rules.uk.is_match(s)
            || rules.foreign.is_match(s)
            || rules.full.is_match(s)
            || rules.provisional.is_match(s)
            || s.contains("driv")
    };
    let sponsor = rules.sponsor_licence.is_match(tail(before, 24))
        || rules.sponsor_licence.is_match(head(after, 24));
    if sponsor
        && !about_driving(tail(before, 24))
        && !rules.foreign.is_match(head(after, AFTER_FOREIGN))
    {
        return None;
    }
    if rules.not_held.is_match(tail(before, 30)) || rules.requirement.is_match(tail(before, 40)) {
        return None;
    }
    let negated = rules.negation_before.is_match(tail(before, 28))
        || rules.negation_after.is_match(near_after);
    // Only this clause describes this licence: "pas de permis britannique, seulement mon
    // permis camerounais" has two.
    let near_before = clause(tail(before, 28));
    let foreign = rules.foreign.is_match(before)
        || rules.foreign.is_match(word)
        || rules.foreign.is_match(head(after, AFTER_FOREIGN));
    // What is said right before the word describes this licence; what follows may be
    // another one ("I got my UK provisional because the Zimbabwe one ...").
    if rules.provisional.is_match(near_before) || rules.provisional.is_match(word) {
        return Some(if negated {
            DrivingLicence::None
        } else {
            DrivingLicence::UkProvisional
        });
    }
    // "In Zimbabwe I had a full licence" is a foreign full licence.
    let uk_before = rules.uk.is_match(near_before)
        || (rules.full.is_match(near_before) && !rules.foreign.is_match(before));
    // "Licence: yes" answers our question, which asks about a full UK licence.
    let answered = near_after
        .trim_start()
        .strip_prefix([':', '-', '\u{2013}'])
        .map(str::trim_start);
    if let Some(answer) = answered
        && starts_with(&rules.answer_yes, answer)
        && !negated
    {
        return Some(DrivingLicence::UkFull);
    }
    if uk_before && !negated {
        return Some(DrivingLicence::UkFull);
    }
    if foreign {
        return Some(DrivingLicence::Foreign);
    }
    if rules.provisional.is_match(head(after, 40)) {
        return Some(if negated {
            DrivingLicence::None
        } else {
            DrivingLicence::UkProvisional
        });
    }
    if negated {
        return Some(DrivingLicence::None);
    }
    let held = rules.uk.is_match(near_after)
        || rules.answer_yes.is_match(tail(before, 20))
        || tail(before, 20).contains("driving");
    held.then_some(DrivingLicence::UkFull)
}

/// A reply to "Do you have a full UK driving licence?".
fn answer(text: &Text, rules: &DrivingRules) -> Option<Found<DrivingLicence>> {
    let norm = text.norm();
    let first = text.sentences().into_iter().next()?;
    let evidence = text.original_span(first.clone()).to_string();
    let sentence = &norm[first];
    let value = if rules.foreign.is_match(sentence) {
        DrivingLicence::Foreign
    } else if rules.provisional.is_match(sentence) {
        DrivingLicence::UkProvisional
    } else if starts_with(&rules.answer_yes, sentence) {
        DrivingLicence::UkFull
    } else if starts_with(&rules.answer_no, sentence) {
        DrivingLicence::None
    } else {
        return None;
    };
    Some(Found::new(value, evidence, 0.8))
}

pub fn car(sources: &[Source], rules: &DrivingRules) -> Option<Found<bool>> {
    let mut claims: Vec<Found<bool>> = Vec::new();
    for source in sources.iter().filter(|s| s.role != SourceRole::Signature) {
        let text = &source.text;
        if source.asks == [Field::CarAccess] {
            let norm = text.norm();
            if starts_with(&rules.answer_yes, norm) {
                claims.push(Found::new(
                    true,
                    text.original_span(0..norm.len().min(40)),
                    0.8,
                ));
            } else if starts_with(&rules.answer_no, norm) {
                claims.push(Found::new(
                    false,
                    text.original_span(0..norm.len().min(40)),
                    0.8,
                ));
            }
        }
        // Most texts never mention a car: one look at the whole text spares a search a sentence.
        let whole = text.norm();
        if !rules.car_word.is_match(whole) && !rules.no_car_statement.is_match(whole) {
            continue;
        }
        for sentence in text.sentences() {
            let norm = &text.norm()[sentence.clone()];
            if let Some(found) = rules.no_car_statement.find(norm) {
                let span = sentence.start + found.range.start..sentence.start + found.range.end;
                claims.push(Found::new(false, text.original_span(span), 0.7));
            }
            for hit in rules.car_word.find_iter(norm) {
                let before = clause(tail(&norm[..hit.range.start], 40));
                let after = head(&norm[hit.range.end..], 30);
                let mention = &norm[hit.range.start..(hit.range.end + after.len()).min(norm.len())];
                if rules.car_not_a_car.is_match(mention)
                    || rules.car_not_a_car.is_match(tail(before, 12))
                    || rules
                        .requirement
                        .is_match(tail(&norm[..hit.range.start], 40))
                {
                    continue;
                }
                let near_before = tail(before, 26);
                let value = if rules.car_negation_before.is_match(near_before)
                    || rules.car_negation_after.is_match(head(after, 24))
                {
                    Some(false)
                } else if rules.car_access_before.is_match(before)
                    || rules.car_access_after.is_match(head(after, 16))
                {
                    Some(true)
                } else {
                    None
                };
                if let Some(value) = value {
                    let span = sentence.start + hit.range.start.saturating_sub(near_before.len())
                        ..sentence.start + hit.range.end + head(after, 16).len();
                    claims.push(Found::new(value, text.original_span(span), 0.8));
                }
            }
        }
    }
    claims.pop()
}

/// "Driving licence: provisional (UK)" is one mention, not two.
fn merge_adjacent(
    hits: Vec<crate::rules::lexicon::Hit>,
    norm: &str,
) -> Vec<crate::rules::lexicon::Hit> {
    let mut merged: Vec<crate::rules::lexicon::Hit> = Vec::new();
    for hit in hits {
        if let Some(last) = merged.last_mut() {
            let gap = &norm[last.range.end..hit.range.start];
            if gap.len() <= 4 && !gap.chars().any(char::is_alphanumeric) {
                last.range.end = hit.range.end;
                continue;
            }
        }
        merged.push(hit);
    }
    merged
}

fn starts_with(lexicon: &Lexicon, norm: &str) -> bool {
    lexicon
        .find(norm.trim_start())
        .is_some_and(|h| h.range.start == 0)
}

/// The last `n` characters of `s`.
fn tail(s: &str, n: usize) -> &str {
    let start = s
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    if n == 0 { &s[s.len()..] } else { &s[start..] }
}

/// The first `n` characters of `s`.
fn head(s: &str, n: usize) -> &str {
    let end = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

/// The part of `before` in the same clause: a comma or "but" starts a new statement.
fn clause(before: &str) -> &str {
    let cut = [",", " but ", ";", ":", " and i ", " asi "]
        .iter()
        .filter_map(|t| before.rfind(t).map(|i| i + t.len()))
        .max()
        .unwrap_or(0);
    &before[cut..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::rules;

    fn source(text: &str, asks: Vec<Field>) -> Source {
        Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks,
        }
    }

    fn licence_of(text: &str) -> Option<&'static str> {
        licence(&[source(text, Vec::new())], &rules().driving).map(|f| f.value.as_str())
    }

    fn car_of(text: &str) -> Option<bool> {
        car(&[source(text, Vec::new())], &rules().driving).map(|f| f.value)
    }

    #[test]
    fn licences_are_read_from_how_people_describe_them() {
        let cases = [
            (
                "I have a full UK driving licence and my own car.",
                Some("uk_full"),
            ),
            ("I hold a full UK licence (automatic).", Some("uk_full")),
            (
                "I have a UK provisional licence and I am booked for my test.",
                Some("uk_provisional"),
            ),
            (
                "Licence: I am learning, I have provisional.",
                Some("uk_provisional"),
            ),
            (
                "I can drive but I have only Nigerian licence. No car.",
                Some("foreign"),
            ),
            ("i have licence from india only no car", Some("foreign")),
            (
                "I dont have UK licence I have Zimbabwe one. No car.",
                Some("foreign"),
            ),
            (
                "I have Indian licence and I applied for UK provisional.",
                Some("foreign"),
            ),
            (
                "I have a Sri Lankan driving licence and an international driving permit.",
                Some("foreign"),
            ),
            ("I DONT DRIVE.", Some("none")),
            ("Driving - no licence at all, sorry.", Some("none")),
            ("I don't have licence.", Some("none")),
            (
                "PLEASE HELP ME MY COMPANY LICENCE HAS BEEN REVOKED BY HOME OFFICE",
                None,
            ),
            (
                "My sponsor licence was revoked by the UK Home Office.",
                None,
            ),
            (
                "i am in telford my licence revoke i have ghana licence no car",
                Some("foreign"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(licence_of(text), expected, "{text}");
        }
    }

    #[test]
    fn other_languages_say_it_their_way() {
        let cases = [
            (
                "Não tenho carta de condução do Reino Unido, só a angolana.",
                Some("foreign"),
            ),
            (
                "Wala po akong UK driving licence, Philippine licence lang po.",
                Some("foreign"),
            ),
            (
                "मैं गाड़ी नहीं चलाती, मेरे पास कोई ड्राइविंग लाइसेंस नहीं है।",
                Some("none"),
            ),
            (
                "Ndine full UK driving licence asi handina mota.",
                Some("uk_full"),
            ),
            (
                "എനിക്ക് യുകെ ഡ്രൈവിംഗ് ലൈസൻസ് ഇല്ല, ഇന്ത്യൻ ലൈസൻസ് മാത്രമേ ഉള്ളൂ.",
                Some("foreign"),
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(licence_of(text), expected, "{text}");
        }
    }

    #[test]
    fn answers_to_our_licence_question_count() {
        let yes = licence(
            &[source(
                "Yes I have, but no car",
                vec![Field::DrivingLicence],
            )],
            &rules().driving,
        );
        assert_eq!(yes.map(|f| f.value), Some(DrivingLicence::UkFull));
        let foreign = licence(
            &[source("No only Nigerian", vec![Field::DrivingLicence])],
            &rules().driving,
        );
        assert_eq!(foreign.map(|f| f.value), Some(DrivingLicence::Foreign));
        let no_car = car(&[source("no", vec![Field::CarAccess])], &rules().driving);
        assert_eq!(no_car.map(|f| f.value), Some(false));
    }

    #[test]
    fn car_access_is_read_with_its_negation() {
        let cases = [
            (
                "I have a full UK driving licence and my own car.",
                Some(true),
            ),
            ("I have full UK licence and car.", Some(true)),
            (
                "I have a full UK licence but no car at the moment.",
                Some(false),
            ),
            (
                "I've got a full UK licence but my car is off the road at the moment.",
                Some(false),
            ),
            ("I sold my car when I moved.", Some(false)),
            ("Car: my husband has a car I can use", Some(true)),
            ("I drive, full uk licence, car yes", Some(true)),
            ("Car: no", Some(false)),
            ("Wala rin po akong kotse.", Some(false)),
            ("Não tenho carro.", Some(false)),
            ("I parked in the car park.", None),
        ];
        for (text, expected) in cases {
            assert_eq!(car_of(text), expected, "{text}");
        }
    }
}
