//! The worker's phone number: every number in their words, weighed by kind (mobile over
//! landline, helplines never) and by the words before it ("my number is" versus "call my
//! sister on", "WhatsApp only").

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{Kind, Phone};
use crate::pipeline::classify::Writer;
use crate::pipeline::extract::{Found, Source, SourceRole};
use crate::pipeline::text::{ceil_boundary, floor_boundary};
use crate::rules::phone::PhoneRules;

static NUMBER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:\+|\b00|\b0)[\d \-().\u{a0}]{7,20}\d").expect("valid"));

pub fn find(
    sources: &[Source],
    writer: Writer,
    kind: Kind,
    rules: &PhoneRules,
) -> Option<Found<Phone>> {
    let mut best: Option<(f32, Found<Phone>)> = None;
    for source in sources {
        let weight = match (source.role, writer) {
            (SourceRole::Own | SourceRole::Answer, _) => 1.0,
            (SourceRole::Relayed, _) => 0.9,
            (SourceRole::Signature, Writer::Worker) => 0.8,
            (SourceRole::Signature, Writer::Organisation) | (SourceRole::Subject, _) => continue,
        };
        let norm = source.text.norm();
        for m in NUMBER.find_iter(norm) {
            let Some(phone) = Phone::parse(m.as_str()) else {
                continue;
            };
            if phone.is_uk_service() {
                continue;
            }
            let line_start = norm[..m.start()].rfind('\n').map_or(0, |i| i + 1);
            let before =
                &norm[ceil_boundary(norm, line_start.max(m.start().saturating_sub(48)))..m.start()];
            // What follows, up to the end of its sentence: "(my sister's)", not the next sentence.
            let clause_end = norm[m.end()..]
                .find(['\n', '.', '!', '?', ';'])
                .map_or(norm.len(), |i| m.end() + i);
            let after = &norm[m.end()..floor_boundary(norm, clause_end.min(m.end() + 40))];
            let kind_score = if phone.is_uk_mobile() {
                1.0
            } else if !phone.is_uk() {
                0.7
            } else {
                0.4
            };
            let worker_cue = rules.worker.is_match(before);
            let mut score = weight * kind_score;
            if worker_cue {
                score += 1.0;
            }
            if rules.not_worker.is_match(before) || rules.not_worker.is_match(after) {
                score -= 2.0;
            }
            if rules.secondary.is_match(before) {
                score -= 0.6;
            }
            // An organisation's own words name many numbers; only one introduced as the worker's counts.
            let needs_cue = writer == Writer::Organisation || kind == Kind::OutcomeUpdate;
            if needs_cue && !worker_cue {
                continue;
            }
            // A landline in a signature, or in an organisation's own words, is an office's:
            // people give their mobiles. Only "her number is 0121 ..." counts.
            let landline = phone.is_uk() && !phone.is_uk_mobile();
            let third_person_cue = rules.third_person.is_match(before);
            if landline && (source.role == SourceRole::Signature || needs_cue) && !third_person_cue
            {
                continue;
            }
            let better = best.as_ref().is_none_or(|(s, _)| score > *s);
            if score > 0.3 && better {
                let evidence = source.text.original_span(m.range()).to_string();
                best = Some((
                    score,
                    Found::new(phone, evidence, (score / 2.0).clamp(0.3, 1.0)),
                ));
            }
        }
    }
    best.map(|(_, found)| found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::text::Text;
    use crate::rules::tests::rules;

    fn phone(text: &str, writer: Writer) -> Option<String> {
        let sources = [Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks: Vec::new(),
        }];
        find(&sources, writer, Kind::SupportRequest, &rules().phone).map(|f| f.value.to_string())
    }

    #[test]
    fn numbers_in_every_common_format_become_e164() {
        assert_eq!(
            phone("My number is 07700 900142.", Writer::Worker).as_deref(),
            Some("+447700900142")
        );
        assert_eq!(
            phone("PHONE 07700900387", Writer::Worker).as_deref(),
            Some("+447700900387")
        );
        assert_eq!(
            phone("Abena\n0044 7700 900 190", Writer::Worker).as_deref(),
            Some("+447700900190")
        );
        assert_eq!(
            phone("Fatima Bello\n+44 (0)7700 900903", Writer::Worker).as_deref(),
            Some("+447700900903")
        );
        assert_eq!(
            phone("Call me +254 712 000 345", Writer::Worker).as_deref(),
            Some("+254712000345")
        );
    }

    #[test]
    fn the_worker_number_beats_whatsapp_relatives_and_helplines() {
        let text = "My UK number is 07700 900 740, WhatsApp is +91 98765 43210 (please use UK number for calls).";
        assert_eq!(
            phone(text, Writer::Worker).as_deref(),
            Some("+447700900740")
        );
        assert_eq!(
            phone(
                "For urgent matters call my sister on 07700 900 999.",
                Writer::Worker
            ),
            None
        );
        assert_eq!(
            phone("Care Workers Advice Line on 0808 157 0192", Writer::Worker),
            None
        );
    }

    #[test]
    fn organisations_count_only_numbers_introduced_as_the_workers() {
        let text = "Her mobile is 07700 900 702. Our office is on 0121 496 0555.";
        assert_eq!(
            phone(text, Writer::Organisation).as_deref(),
            Some("+447700900702")
        );
        assert_eq!(
            phone(
                "For anything urgent call 0121 496 0733.",
                Writer::Organisation
            ),
            None
        );
    }
}
