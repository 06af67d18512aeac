//! Where the worker lives now: postcodes (tolerating case, spacing and O/0, I/1 slips)
//! and place names from the gazetteer, each weighed by the words around it ("I live in"
//! versus "my sponsor was in", "I used to work in", "I'm moving to").

use std::ops::Range;

use crate::domain::Postcode;
use crate::gazetteer::{CouncilId, Gazetteer, Place, PlaceKind};
use crate::pipeline::classify::Writer;
use crate::pipeline::extract::{Source, SourceRole};
use crate::pipeline::text::{Text, Token, ceil_boundary, floor_boundary, tokens};
use crate::rules::Rules;
use crate::rules::location::LocationRules;

/// The worker's home as far as the message tells.
#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub postcode: Option<Postcode>,
    pub council: Option<CouncilId>,
    pub council_name: Option<String>,
    pub region: Option<String>,
    /// 0..1: below rules/routing.toml `min_location_confidence`, staff decide.
    pub confidence: f32,
    pub evidence: String,
    /// Why the location is uncertain or conflicting, for the reasons list.
    pub notes: Vec<String>,
    /// Another place the worker also says they live in, in a different council or region.
    pub conflict: Option<String>,
    /// Every place and postcode weighed, best last: `"text" cue score`.
    pub considered: Vec<String>,
}

/// A place or postcode mentioned in the text, with its neighbours merged into one.
#[derive(Debug, Clone)]
struct Mention {
    source: usize,
    range: Range<usize>,
    postcode: Option<Postcode>,
    places: Vec<PlaceHit>,
    /// Only an outward code like `E6` or `B1`, which also appear as other things.
    short_outward: bool,
}

#[derive(Debug, Clone)]
struct PlaceHit {
    key: String,
    entries: Vec<Place>,
}

/// A mention resolved to a council or at least a region.
#[derive(Debug, Clone)]
struct Resolved {
    council: Option<CouncilId>,
    region: String,
    confidence: f32,
    notes: Vec<String>,
}

#[derive(Debug, Clone)]
struct Scored {
    mention: Mention,
    resolved: Resolved,
    score: f32,
    cue: Cue,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cue {
    LivesHere,
    None,
    WorksThere,
    Elsewhere,
}

pub fn locate(
    sources: &[Source],
    sender_name: &str,
    writer: Writer,
    rules: &Rules,
) -> Option<Location> {
    let gazetteer = &rules.gazetteer;
    let name_words: Vec<String> = tokens(Text::new(sender_name).norm())
        .iter()
        .map(|t| t.word.to_string())
        .collect();
    // First every mention with the words around it; then resolve, so that a town named
    // anywhere ("I stay in Darlaston, postcode WS10 8QJ") can settle a split district.
    let mut cued = Vec::new();
    for (index, source) in sources.iter().enumerate() {
        let weight = match (source.role, writer) {
            (SourceRole::Own | SourceRole::Answer, _) => 1.0,
            (SourceRole::Relayed, _) => 0.9,
            (SourceRole::Signature, Writer::Worker) => 0.3,
            (SourceRole::Signature, Writer::Organisation) => continue,
            (SourceRole::Subject, _) => 0.6,
        };
        let mentions = mentions(index, &source.text, &name_words, rules);
        for (i, mention) in mentions.iter().enumerate() {
            let previous_end = if i > 0 { mentions[i - 1].range.end } else { 0 };
            let next_start = mentions
                .get(i + 1)
                .map_or(source.text.norm().len(), |m| m.range.start);
            let (cue, cue_score) = cue(
                &source.text,
                mention,
                previous_end,
                next_start,
                &rules.location,
            );
            // Subjects and signatures name many places (an old employer's address): only
            // a clear "I live in" counts there.
            let needs_cue = (mention.short_outward && mention.places.is_empty())
                || source.role == SourceRole::Subject
                || (source.role == SourceRole::Signature
                    && !in_home_address(&source.text, &mention.range));
            if needs_cue && cue != Cue::LivesHere {
                continue;
            }
            cued.push((mention.clone(), cue, cue_score, weight));
        }
    }
    // Councils each mention could be in, to let the others settle it: a split postcode
    // district ("Darlaston, postcode WS10 8QJ") or a name found in several counties
    // ("Newport, near Telford").
    let councils_of = |m: &Mention| -> Vec<CouncilId> {
        let mut ids: Vec<CouncilId> = m
            .places
            .iter()
            .flat_map(|p| p.entries.iter().filter_map(|e| e.council))
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let trusted: Vec<Vec<CouncilId>> = cued
        .iter()
        .map(|(m, cue, _, _)| {
            if *cue == Cue::Elsewhere {
                Vec::new()
            } else {
                councils_of(m)
            }
        })
        .collect();
    let mut scored = Vec::new();
    for (index, (mention, cue, cue_score, weight)) in cued.into_iter().enumerate() {
        let named: Vec<CouncilId> = trusted
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != index)
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        let Some(resolved) = resolve(&mention, &named, gazetteer, &rules.routing.home_region)
        else {
            continue;
        };
        let base = match (&mention.postcode, mention.places.is_empty()) {
            (Some(p), false) if p.is_full() => 0.7,
            (Some(p), true) if p.is_full() => 0.6,
            (Some(_), false) => 0.6,
            (Some(_), true) => 0.5,
            (None, _) => 0.4,
        };
        let score = weight * base
            + if cue_score > 0.0 {
                weight * cue_score
            } else {
                cue_score
            };
        scored.push(Scored {
            mention,
            resolved,
            score,
            cue,
        });
    }
    choose(scored, sources, gazetteer)
}

fn choose(mut scored: Vec<Scored>, sources: &[Source], gazetteer: &Gazetteer) -> Option<Location> {
    // Highest score wins; among equals the later mention ("I lived in X, now I live in Y").
    scored.sort_by(|a, b| {
        a.score.total_cmp(&b.score).then(
            (a.mention.source, a.mention.range.start)
                .cmp(&(b.mention.source, b.mention.range.start)),
        )
    });
    let considered: Vec<String> = scored
        .iter()
        .map(|s| {
            let text = sources[s.mention.source]
                .text
                .original_span(s.mention.range.clone());
            format!("\"{text}\" {:?} {:.2}", s.cue, s.score)
        })
        .collect();
    let mut best = scored.last()?.clone();
    if best.score <= 0.0 {
        return None;
    }
    // "moved back to London ... a flat in Barking (IG11)": the borough says more than the region.
    if best.resolved.council.is_none()
        && let Some(specific) = scored.iter().rev().find(|s| {
            s.score > 0.0
                && s.cue != Cue::Elsewhere
                && s.resolved.council.is_some()
                && s.resolved.region == best.resolved.region
        })
    {
        best = specific.clone();
    }
    let same_place = |s: &Scored| match (s.resolved.council, best.resolved.council) {
        (Some(a), Some(b)) => a == b,
        _ => s.resolved.region == best.resolved.region,
    };
    let postcode = best.mention.postcode.clone().or_else(|| {
        scored
            .iter()
            .rev()
            .filter(|s| s.score > 0.0 && s.cue != Cue::Elsewhere)
            .filter(|s| same_place(s) || postcode_reaches(s, best.resolved.council, gazetteer))
            .find_map(|s| s.mention.postcode.clone())
    });
    let conflict = scored
        .iter()
        .rev()
        .skip(1)
        .find(|s| {
            s.cue == Cue::LivesHere
                && best.cue == Cue::LivesHere
                && !same_place(s)
                && !contains(&best, s)
        })
        .map(|s| {
            let text = &sources[s.mention.source].text;
            format!(
                "also says \"{}\"",
                text.original_span(s.mention.range.clone())
            )
        });
    let cue_factor = match best.cue {
        Cue::LivesHere => 1.0,
        Cue::None => 0.85,
        Cue::WorksThere => 0.7,
        Cue::Elsewhere => 0.3,
    };
    let text = &sources[best.mention.source].text;
    let council = best.resolved.council.map(|c| gazetteer.council(c));
    Some(Location {
        postcode,
        council: best.resolved.council,
        council_name: council.map(|c| c.name.clone()),
        region: Some(best.resolved.region.clone()),
        confidence: best.resolved.confidence * cue_factor,
        evidence: text.original_span(best.mention.range.clone()).to_string(),
        notes: best.resolved.notes.clone(),
        conflict,
        considered,
    })
}

/// Whether a postcode mention's district reaches into a council ("Featherstone, near
/// Wolverhampton (WV10 7QR)": WV10 is mostly Wolverhampton but partly Staffordshire).
fn postcode_reaches(s: &Scored, council: Option<CouncilId>, gazetteer: &Gazetteer) -> bool {
    let (Some(postcode), Some(council)) = (&s.mention.postcode, council) else {
        return false;
    };
    gazetteer
        .district(postcode.outward())
        .is_some_and(|shares| {
            shares
                .iter()
                .any(|share| share.council == council && share.share >= 0.05)
        })
}

/// A region-only mention ("London") inside the same area as a council-level one is not a conflict.
fn contains(best: &Scored, other: &Scored) -> bool {
    other.resolved.council.is_none() && other.resolved.region == best.resolved.region
}

/// Finds postcodes and place names in one text and merges neighbours ("Coventry, CV6 5BU").
fn mentions(source: usize, text: &Text, name_words: &[String], rules: &Rules) -> Vec<Mention> {
    let norm = text.norm();
    let words = tokens(norm);
    let mut found: Vec<Mention> = Vec::new();
    // Words inside an email address or a link name no place; decided once a word.
    let mut used: Vec<bool> = words
        .iter()
        .map(|w| in_address_or_link(norm, &w.range))
        .collect();
    postcodes(source, text, &words, &mut used, &mut found, rules);
    places(
        source, text, &words, &mut used, name_words, &mut found, rules,
    );
    found.sort_by_key(|m| m.range.start);

    let mut merged: Vec<Mention> = Vec::new();
    for mention in found {
        if let Some(last) = merged.last_mut() {
            let gap = &norm[last.range.end.min(mention.range.start)..mention.range.start];
            let punctuation = |c: char| matches!(c, ' ' | ',' | '(' | ')' | '-' | '/' | ':' | '.');
            let gap_words = gap.trim_matches(punctuation);
            let adjacent = (gap.len() <= 4 && gap.chars().all(punctuation))
                || (mention.postcode.is_some() && POSTCODE_GAPS.contains(&gap_words));
            if adjacent && !(last.postcode.is_some() && mention.postcode.is_some()) {
                last.range.end = mention.range.end;
                last.places.extend(mention.places);
                if last.postcode.is_none() {
                    last.postcode = mention.postcode;
                    last.short_outward = mention.short_outward;
                }
                continue;
            }
        }
        merged.push(mention);
    }
    merged
}

fn postcodes(
    source: usize,
    text: &Text,
    words: &[Token<'_>],
    used: &mut [bool],
    found: &mut Vec<Mention>,
    rules: &Rules,
) {
    let norm = text.norm();
    let gazetteer = &rules.gazetteer;
    let spaced = |a: &Token<'_>, b: &Token<'_>| {
        let gap = &norm[a.range.end..b.range.start];
        !gap.is_empty() && gap.len() <= 2 && gap.chars().all(|c| c == ' ')
    };
    let mut i = 0;
    while i < words.len() {
        let word = words[i].word;
        let starts_with_letter = word.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
        // A postcode found must hold a digit (`has_letter_and_digit` below), and a reading
        // spans at most this word and the next two: most words are turned away here.
        let digit_near = || {
            words[i..words.len().min(i + 3)]
                .iter()
                .any(|t| t.word.bytes().any(|b| b.is_ascii_digit()))
        };
        if !starts_with_letter || !word.is_ascii() || word.len() > 7 || used[i] || !digit_near() {
            i += 1;
            continue;
        }
        // Try the longest reading first: outward + inward in two or three tokens, then one token.
        let mut candidates: Vec<(usize, String)> = Vec::new();
        if let (Some(a), Some(b)) = (words.get(i + 1), words.get(i + 2))
            && word.len() <= 2
            && word.chars().all(|c| c.is_ascii_alphabetic())
            && spaced(&words[i], a)
            && spaced(a, b)
            && a.word.len() <= 2
            && b.word.len() == 3
        {
            candidates.push((3, format!("{word}{}{}", a.word, b.word)));
        }
        if let Some(next) = words.get(i + 1)
            && spaced(&words[i], next)
            && next.word.len() == 3
            && next.word.is_ascii()
        {
            candidates.push((2, format!("{word}{}", next.word)));
        }
        candidates.push((1, word.to_string()));

        let mut matched = None;
        for (span, raw) in candidates {
            if !raw.bytes().any(|b| b.is_ascii_digit()) {
                continue; // it could not be kept: a postcode found holds a digit
            }
            let reading = Postcode::readings(&raw)
                .into_iter()
                .find(|p| (span == 1 || p.is_full()) && gazetteer.is_known_district(p.outward()));
            if let Some(postcode) = reading {
                matched = Some((span, postcode));
                break;
            }
        }
        let Some((span, postcode)) = matched else {
            i += 1;
            continue;
        };
        let range = words[i].range.start..words[i + span - 1].range.end;
        if has_letter_and_digit(&norm[range.clone()]) && !blocked(norm, &range, &rules.location) {
            let short_outward = !postcode.is_full() && postcode.outward().len() <= 2;
            found.push(Mention {
                source,
                range,
                postcode: Some(postcode),
                places: Vec::new(),
                short_outward,
            });
            used[i..i + span].iter_mut().for_each(|u| *u = true);
            i += span;
        } else {
            i += 1;
        }
    }
}

fn has_letter_and_digit(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit()) && s.chars().any(|c| c.is_ascii_alphabetic())
}

fn in_address_or_link(norm: &str, range: &Range<usize>) -> bool {
    let start = norm[..range.start]
        .rfind([' ', '\n', '<', '(', '"'])
        .map_or(0, |i| i + 1);
    let end = norm[range.end..]
        .find([' ', '\n', '>', ')', '"'])
        .map_or(norm.len(), |i| range.end + i);
    let word = &norm[start..end];
    word.contains('@')
        || word.contains("://")
        || word.starts_with("www.")
        || word.contains(".com")
        || word.contains(".uk")
}

/// "IELTS level B1", "the M6 motorway": postcode-shaped, not postcodes.
fn blocked(norm: &str, range: &Range<usize>, rules: &LocationRules) -> bool {
    // "the M6", "the M42": motorways, written like Manchester districts.
    let motorway =
        norm[range.clone()].starts_with('m') && norm[..range.start].trim_end().ends_with(" the");
    if motorway {
        return true;
    }
    let before_start = floor_boundary(norm, range.start.saturating_sub(24));
    let after_end = ceil_boundary(norm, (range.end + 24).min(norm.len()));
    let before = &norm[before_start..range.start];
    let after = &norm[range.end..after_end];
    rules.postcode_not_before.is_match(before) || rules.postcode_not_after.is_match(after)
}

/// Words allowed between a town and its postcode: "Darlaston, postcode WS10 8QJ".
const POSTCODE_GAPS: [&str; 6] = [
    "postcode",
    "post code",
    "postcode is",
    "post code is",
    "postcode:",
    "pc",
];

/// Words after a place name that make it an organisation, a street or an actor, not a home:
/// "Walsall Council", "Coventry Road", "Walsall rang me".
const NOT_PLACE_AFTER: [&str; 38] = [
    "ltd",
    "limited",
    "plc",
    "care",
    "homecare",
    "healthcare",
    "group",
    "services",
    "nursing",
    "agency",
    "street",
    "road",
    "lane",
    "avenue",
    "close",
    "drive",
    "way",
    "university",
    "college",
    "hospital",
    "airport",
    "station",
    "council",
    "team",
    "lead",
    "hub",
    "office",
    "rang",
    "called",
    "phoned",
    "emailed",
    "contacted",
    "said",
    "told",
    "wrote",
    "sent",
    "asked",
    "offered",
];
const PERSON_TITLES: [&str; 6] = ["mr", "mrs", "ms", "miss", "dr", "sister"];

fn places(
    source: usize,
    text: &Text,
    words: &[Token<'_>],
    used: &mut [bool],
    name_words: &[String],
    found: &mut Vec<Mention>,
    rules: &Rules,
) {
    let norm = text.norm();
    let gazetteer = &rules.gazetteer;
    let longest = gazetteer.longest_place_name().min(5);
    let joined = |a: &Token<'_>, b: &Token<'_>| {
        let gap = &norm[a.range.end..b.range.start];
        matches!(gap, " " | "-" | "'" | " - " | "." | ". ")
    };
    let aliases = &rules.location.alias_first_words;
    let mut key = String::new();
    let mut i = 0;
    while i < words.len() {
        let first = words[i].word;
        // The longest name that could start here; most words start none.
        let could = gazetteer
            .longest_starting_with(first)
            .max(aliases.get(first).copied().unwrap_or(0))
            .min(longest);
        if used[i] || !first.is_ascii() || could == 0 {
            i += 1;
            continue;
        }
        let mut hit = None;
        for n in (1..=could.min(words.len() - i)).rev() {
            let span = &words[i..i + n];
            if span
                .iter()
                .enumerate()
                .any(|(j, w)| used[i + j] || !w.word.is_ascii())
                || span.windows(2).any(|pair| !joined(&pair[0], &pair[1]))
            {
                continue;
            }
            key.clear();
            for (j, w) in span.iter().enumerate() {
                if j > 0 {
                    key.push(' ');
                }
                key.push_str(w.word);
            }
            if key.len() < 3 {
                continue;
            }
            if let Some(entries) = place_entries(&key, rules) {
                hit = Some((n, key.clone(), entries));
                break;
            }
        }
        let Some((n, key, entries)) = hit else {
            i += 1;
            continue;
        };
        let range = words[i].range.start..words[i + n - 1].range.end;
        let part_of_name = n == 1 && name_words.iter().any(|w| w == &key);
        let before = i.checked_sub(1).map(|j| words[j].word);
        let after = words.get(i + n).map(|w| w.word);
        let person = before.is_some_and(|w| PERSON_TITLES.contains(&w));
        let organisation = after.is_some_and(|w| NOT_PLACE_AFTER.contains(&w));
        let common_word = rules.location.is_common_word(&key);
        // "Reading the letter" is not Reading: common words need "I live in" right before them.
        // A writer who capitalises names must capitalise this one too ("my new address from
        // Saturday" is not Frome).
        let capitalised = text
            .original_span(range.clone())
            .chars()
            .next()
            .is_some_and(char::is_uppercase);
        let common_word_ok = !common_word
            || (has_live_cue_before(text, range.start, &rules.location)
                && (capitalised || !capitalises_names(text.original())));
        if part_of_name || person || organisation || !common_word_ok {
            i += 1;
            continue;
        }
        used[i..i + n].iter_mut().for_each(|u| *u = true);
        found.push(Mention {
            source,
            range,
            postcode: None,
            places: vec![PlaceHit { key, entries }],
            short_outward: false,
        });
        i += n;
    }
}

fn place_entries(key: &str, rules: &Rules) -> Option<Vec<Place>> {
    let gazetteer = &rules.gazetteer;
    if let Some(target) = rules.location.county_aliases.get(key) {
        return Some(match gazetteer.council_named(target) {
            Some(id) => vec![Place {
                name: target.clone(),
                council: Some(id),
                region: gazetteer.council(id).region.clone(),
                population: 0,
                kind: PlaceKind::Alias,
            }],
            None => vec![Place {
                name: target.clone(),
                council: None,
                region: target.clone(),
                population: 0,
                kind: PlaceKind::Alias,
            }],
        });
    }
    gazetteer.places(key).map(<[Place]>::to_vec)
}

/// Whether a signature mention sits in the writer's own postal address ("Flat 3, 27
/// Birchwood Road / Sheffield S13 9QN"): a house number starts the block, and no line of
/// it names an organisation (an employer's address is not home).
fn in_home_address(text: &Text, range: &Range<usize>) -> bool {
    let original = text.original();
    let at = text.original_span(range.clone());
    let lines: Vec<&str> = original.lines().collect();
    let Some(line) = lines.iter().position(|l| l.contains(at)) else {
        return false;
    };
    let block = &lines[line.saturating_sub(3)..=line];
    let starts_with_number = block.iter().any(|l| HOUSE_NUMBER.is_match(l));
    let organisation = block.iter().any(|l| ORGANISATION_WORDS.is_match(l));
    starts_with_number && !organisation
}

static HOUSE_NUMBER: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(
        r"(?i)^\s*((flat|apartment|apt|room)\s*\d+[a-z]?\s*,?\s*)?\d+[a-z]?\s*,?\s+[a-z]",
    )
    .expect("valid")
});
static ORGANISATION_WORDS: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
    regex::Regex::new(r"(?i)\b(care|nursing|home care|ltd|limited|plc|council|unit|services|group|trust|centre|center|office|\|)|\|").expect("valid")
});

/// Whether the writer capitalises proper names: some word other than "I" starts with a
/// capital in the middle of a sentence. All-lowercase and all-caps writers do not.
fn capitalises_names(original: &str) -> bool {
    let has_lower = original.chars().any(char::is_lowercase);
    has_lower
        && original.split(['.', '!', '?', '\n']).any(|sentence| {
            sentence.split_whitespace().skip(1).any(|w| {
                w.len() > 1
                    && w.chars().next().is_some_and(char::is_uppercase)
                    && w != "I'm"
                    && w != "I've"
            })
        })
}

fn has_live_cue_before(text: &Text, start: usize, rules: &LocationRules) -> bool {
    let from = floor_boundary(text.norm(), start.saturating_sub(40));
    let before = &text.norm()[from..start];
    rules
        .lives_here
        .last_hit(before)
        .is_some_and(|hit| before[hit.range.end..].trim().len() <= 3)
}

/// Resolves a mention: an exact postcode, else the postcode district (a place in the same
/// mention decides a split district), else the place name.
fn resolve(
    mention: &Mention,
    named: &[CouncilId],
    gazetteer: &Gazetteer,
    home_region: &str,
) -> Option<Resolved> {
    let place_councils: Vec<CouncilId> = mention
        .places
        .iter()
        .flat_map(|p| p.entries.iter().filter_map(|e| e.council))
        .collect();
    if let Some(postcode) = &mention.postcode {
        if let Some(council) = gazetteer.exact_postcode(postcode) {
            let region = gazetteer.council(council).region.clone();
            return Some(Resolved {
                council: Some(council),
                region,
                confidence: 1.0,
                notes: Vec::new(),
            });
        }
        if let Some(shares) = gazetteer.district(postcode.outward()) {
            let settled = shares
                .iter()
                .find(|s| place_councils.contains(&s.council))
                .or_else(|| {
                    shares
                        .iter()
                        .find(|s| s.share >= 0.05 && named.contains(&s.council))
                });
            if let Some(share) = settled {
                let region = gazetteer.council(share.council).region.clone();
                let confidence = if shares.len() == 1 { 1.0 } else { 0.95 };
                return Some(Resolved {
                    council: Some(share.council),
                    region,
                    confidence,
                    notes: Vec::new(),
                });
            }
            let main = shares[0];
            let mut notes = Vec::new();
            if shares.len() > 1 && main.share < 0.95 {
                let split: Vec<String> = shares
                    .iter()
                    .filter(|s| s.share >= 0.05)
                    .map(|s| {
                        format!(
                            "{} {:.0}%",
                            gazetteer.council(s.council).name,
                            s.share * 100.0
                        )
                    })
                    .collect();
                notes.push(format!(
                    "{} is split between councils ({}): took the main one",
                    postcode.outward(),
                    split.join(", ")
                ));
            }
            let region = gazetteer.council(main.council).region.clone();
            return Some(Resolved {
                council: Some(main.council),
                region,
                confidence: main.share,
                notes,
            });
        }
        if let Some(region) = gazetteer.area_region(postcode.area()) {
            return Some(Resolved {
                council: None,
                region: region.to_string(),
                confidence: 0.9,
                notes: Vec::new(),
            });
        }
    }
    resolve_places(&mention.places, named, gazetteer, home_region)
}

fn resolve_places(
    places: &[PlaceHit],
    named: &[CouncilId],
    gazetteer: &Gazetteer,
    home_region: &str,
) -> Option<Resolved> {
    // Prefer a council that every place in the mention agrees on ("Hanley, Stoke";
    // "Newcastle, Staffs"), then the most populous, then the home region.
    let all: Vec<&Place> = places.iter().flat_map(|p| p.entries.iter()).collect();
    if all.is_empty() {
        return None;
    }
    let agreed = |place: &Place| {
        places.iter().all(|hit| {
            hit.entries
                .iter()
                .any(|e| match (e.council, place.council) {
                    (Some(a), Some(b)) => a == b,
                    (None, _) | (_, None) => e.region == place.region,
                })
        })
    };
    let mut candidates: Vec<&Place> = all.iter().copied().filter(|p| agreed(p)).collect();
    if candidates.is_empty() {
        candidates = all.clone();
    }
    let rank = |p: &&&Place| {
        (
            p.council.is_some_and(|c| named.contains(&c)),
            p.population,
            p.region == home_region,
            p.kind == PlaceKind::CouncilName,
        )
    };
    let best = *candidates.iter().max_by_key(rank)?;
    let rival = candidates
        .iter()
        .filter(|p| p.council != best.council || p.region != best.region)
        .filter(|p| p.population as f32 >= best.population as f32 * 0.2 && p.population > 0)
        .max_by_key(|p| p.population);
    let mut notes = Vec::new();
    let confidence = match rival {
        Some(rival) => {
            let rival_name = rival
                .council
                .map_or(rival.region.clone(), |c| gazetteer.council(c).name.clone());
            notes.push(format!(
                "\"{}\" is also a place in {rival_name}",
                places[0].key
            ));
            0.5
        }
        None => 0.9,
    };
    Some(Resolved {
        council: best.council,
        region: best.region.clone(),
        confidence,
        notes,
    })
}

/// Reads the words before (and just after) a mention: does the worker live there now?
fn cue(
    text: &Text,
    mention: &Mention,
    previous_end: usize,
    next_start: usize,
    rules: &LocationRules,
) -> (Cue, f32) {
    let norm = text.norm();
    let sentence = text.sentence_at(mention.range.start);
    let window_start = floor_boundary(
        norm,
        sentence
            .start
            .max(previous_end)
            .max(mention.range.start.saturating_sub(80)),
    );
    let before = clause_tail(&norm[window_start..mention.range.start]);
    let after_end = ceil_boundary(
        norm,
        sentence
            .end
            .min(next_start)
            .min(mention.range.end + 40)
            .max(mention.range.end),
    );
    let after = &norm[mention.range.end..after_end];

    let last_hit = |lexicon: &crate::rules::Lexicon| {
        lexicon
            .last_hit(before)
            .map(|h| (h.range.end, h.range.len()))
    };
    let candidates = [
        (Cue::Elsewhere, last_hit(&rules.lived_elsewhere)),
        (Cue::LivesHere, last_hit(&rules.lives_here)),
        (Cue::WorksThere, last_hit(&rules.works_there)),
    ];
    // The cue nearest the mention wins; at equal distance the longer one ("used to work in"
    // over "work in"), and on a full tie the earlier listed.
    let nearest = candidates
        .iter()
        .filter_map(|(cue, hit)| hit.map(|(end, len)| (*cue, end, len)))
        .max_by(|a, b| (a.1, a.2).cmp(&(b.1, b.2)));
    let after_lives = rules
        .lives_here_after
        .find(after)
        .is_some_and(|h| h.range.start <= 40);
    let after_elsewhere = rules
        .elsewhere_after
        .find(after)
        .is_some_and(|h| h.range.start <= 4);
    if after_elsewhere {
        return (Cue::Elsewhere, -2.0);
    }
    // "a sponsor in Wakefield, and I moved there last week": what follows settles it.
    if after_lives {
        return (Cue::LivesHere, 1.0);
    }
    match nearest {
        Some((Cue::Elsewhere, _, _)) => (Cue::Elsewhere, -2.0),
        // "I'm moving out on Saturday because I've found a room with a friend in Worcester".
        Some((Cue::LivesHere, _, _)) if rules.future_move.is_match(before) => {
            (Cue::Elsewhere, -2.0)
        }
        Some((Cue::LivesHere, _, _)) => (Cue::LivesHere, 1.0),
        Some((Cue::WorksThere, _, _)) => (Cue::WorksThere, -0.3),
        _ => (Cue::None, 0.0),
    }
}

/// The part of the text before a mention that belongs to its clause: cut at "but", ";" and
/// similar turns, so "my sponsor was in Dudley but I live in Manchester" keeps them apart.
fn clause_tail(before: &str) -> &str {
    const TURNS: [&str; 8] = [
        " but ",
        ";",
        " however",
        " although ",
        " whereas ",
        " while ",
        " though ",
        " except ",
    ];
    let cut = TURNS
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

    fn locate_in(text: &str) -> Option<Location> {
        let source = Source {
            text: Text::new(text),
            role: SourceRole::Own,
            asks: Vec::new(),
        };
        locate(&[source], "", Writer::Worker, rules())
    }

    fn summary(text: &str) -> (Option<String>, Option<String>, Option<String>) {
        let l = locate_in(text);
        (
            l.as_ref()
                .and_then(|l| l.postcode.as_ref().map(|p| p.to_string())),
            l.as_ref().and_then(|l| l.council_name.clone()),
            l.as_ref().and_then(|l| l.region.clone()),
        )
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn postcodes_are_read_however_they_are_typed() {
        assert_eq!(
            summary("I live in Coventry, CV6 5BU."),
            (s("CV6 5BU"), s("Coventry"), s("West Midlands"))
        );
        assert_eq!(
            summary("postcode cv115ab"),
            (s("CV11 5AB"), s("Warwickshire"), s("West Midlands"))
        );
        assert_eq!(
            summary("My postcode is WV1O 6QT (Wolverhampton)."),
            (s("WV10 6QT"), s("Wolverhampton"), s("West Midlands"))
        );
        assert_eq!(
            summary("I live in Erdington, postcode B 23 6TH."),
            (s("B23 6TH"), s("Birmingham"), s("West Midlands"))
        );
        assert_eq!(
            summary("Hello my postcode dy13lp."),
            (s("DY1 3LP"), s("Dudley"), s("West Midlands"))
        );
    }

    #[test]
    fn where_the_worker_lives_beats_where_the_sponsor_was() {
        assert_eq!(
            summary("My sponsor was in Dudley but I now live in Manchester M14 with my brother."),
            (s("M14"), s("Manchester"), s("North West"))
        );
        assert_eq!(
            summary("I live in Rugby but I used to work in Coventry city centre (CV1)."),
            (None, s("Warwickshire"), s("West Midlands"))
        );
        assert_eq!(
            summary("I moved from Coventry to Nottingham NG7 last week."),
            (s("NG7"), s("Nottingham"), s("East Midlands"))
        );
        assert_eq!(
            summary(
                "I live in Stoke ST1 at the moment but I'm moving to my sister's in Derby next week."
            ),
            (s("ST1"), s("Stoke-on-Trent"), s("West Midlands"))
        );
    }

    #[test]
    fn place_names_find_their_council() {
        assert_eq!(
            summary("i am in bilston. what i do now?").1,
            s("Wolverhampton")
        );
        assert_eq!(summary("I AM LIVING IN WEST BROMWICH.").1, s("Sandwell"));
        assert_eq!(summary("i am in hanley stoke").1, s("Stoke-on-Trent"));
        assert_eq!(
            summary("I live in Newcastle, Staffs (ST5).").1,
            s("Staffordshire")
        );
        assert_eq!(summary("I live in Wednesbury.").1, s("Sandwell"));
        assert_eq!(
            summary("I live in East Ham, London E6 with my husband.").1,
            s("Newham")
        );
    }

    #[test]
    fn split_districts_are_decided_by_a_named_place_or_marked_uncertain() {
        let named = locate_in("I live in Wednesbury WS10.").unwrap();
        assert_eq!(named.council_name.as_deref(), Some("Sandwell"));
        let unnamed = locate_in("My postcode is B36 8AA.").unwrap();
        assert_eq!(unnamed.council_name.as_deref(), Some("Solihull"));
        assert!(unnamed.confidence < 0.75, "{unnamed:?}");
        assert!(unnamed.notes[0].contains("split"), "{:?}", unnamed.notes);
    }

    #[test]
    fn things_shaped_like_postcodes_are_not_postcodes() {
        assert_eq!(
            summary("I passed IELTS level B1 last year."),
            (None, None, None)
        );
        assert_eq!(summary("I drove up the M6 motorway."), (None, None, None));
        assert_eq!(summary("email me at jo.b12@gmail.com"), (None, None, None));
        assert_eq!(
            summary("Reading the letter made me cry."),
            (None, None, None)
        );
        assert_eq!(summary("I live in Reading (RG1).").1, s("Reading"));
    }

    #[test]
    fn wales_and_scotland_are_found_but_outside_england() {
        assert_eq!(summary("I live in Cardiff CF10 1AA.").2, s("Wales"));
        assert_eq!(summary("I live in Glasgow.").2, s("Scotland"));
    }
}
