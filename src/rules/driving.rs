//! rules/driving.toml: driving licences and car access, per language.

use serde::Deserialize;

use super::{Compiler, Lexicon, LexiconSpec, PerLanguage};

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct DrivingLanguage {
    licence_word: LexiconSpec,
    sponsor_licence: LexiconSpec,
    uk: LexiconSpec,
    foreign: LexiconSpec,
    full: LexiconSpec,
    provisional: LexiconSpec,
    not_held: LexiconSpec,
    requirement: LexiconSpec,
    negation_before: LexiconSpec,
    negation_after: LexiconSpec,
    no_driving: LexiconSpec,
    full_statement: LexiconSpec,
    provisional_statement: LexiconSpec,
    no_car_statement: LexiconSpec,
    car_word: LexiconSpec,
    car_not_a_car: LexiconSpec,
    car_negation_before: LexiconSpec,
    car_negation_after: LexiconSpec,
    car_access_before: LexiconSpec,
    car_access_after: LexiconSpec,
    answer_yes: LexiconSpec,
    answer_no: LexiconSpec,
}

#[derive(Debug)]
pub struct DrivingRules {
    /// The word for a licence ("licence", "ലൈസൻസ്", "carta de condução").
    pub licence_word: Lexicon,
    /// Words that make "licence" the sponsor's licence, not a driving licence.
    pub sponsor_licence: Lexicon,
    pub uk: Lexicon,
    /// Another country's licence ("Indian", "Ghana", "international driving permit").
    pub foreign: Lexicon,
    pub full: Lexicon,
    pub provisional: Lexicon,
    /// Applied for or waiting for, not yet held ("applied for UK provisional").
    pub not_held: Lexicon,
    /// A job's requirement, not the worker's own licence or car ("they need a UK licence").
    pub requirement: Lexicon,
    pub negation_before: Lexicon,
    pub negation_after: Lexicon,
    /// "I don't drive", "does not drive": no licence at all.
    pub no_driving: Lexicon,
    /// A full UK licence said without the word licence ("I passed my driving test here").
    pub full_statement: Lexicon,
    /// Signs of a UK provisional licence without the word ("I am learning to drive"),
    /// taken only when nothing else is said about a licence.
    pub provisional_statement: Lexicon,
    /// No car said without the word car ("I rely on buses").
    pub no_car_statement: Lexicon,
    pub car_word: Lexicon,
    /// "car park", "by car": the word car that says nothing about having one.
    pub car_not_a_car: Lexicon,
    pub car_negation_before: Lexicon,
    pub car_negation_after: Lexicon,
    pub car_access_before: Lexicon,
    pub car_access_after: Lexicon,
    /// Answers to a yes/no question ("Yes I have", "No").
    pub answer_yes: Lexicon,
    pub answer_no: Lexicon,
}

impl DrivingRules {
    pub fn compile(spec: PerLanguage<DrivingLanguage>, c: &mut Compiler) -> Self {
        if !spec.contains_key("en") {
            c.file_error("an [en] table is required");
        }
        let l = spec.values();
        Self {
            licence_word: c.merged(l.clone(), |x| &x.licence_word),
            sponsor_licence: c.merged(l.clone(), |x| &x.sponsor_licence),
            uk: c.merged(l.clone(), |x| &x.uk),
            foreign: c.merged(l.clone(), |x| &x.foreign),
            full: c.merged(l.clone(), |x| &x.full),
            provisional: c.merged(l.clone(), |x| &x.provisional),
            not_held: c.merged(l.clone(), |x| &x.not_held),
            requirement: c.merged(l.clone(), |x| &x.requirement),
            negation_before: c.merged(l.clone(), |x| &x.negation_before),
            negation_after: c.merged(l.clone(), |x| &x.negation_after),
            no_driving: c.merged(l.clone(), |x| &x.no_driving),
            full_statement: c.merged(l.clone(), |x| &x.full_statement),
            provisional_statement: c.merged(l.clone(), |x| &x.provisional_statement),
            no_car_statement: c.merged(l.clone(), |x| &x.no_car_statement),
            car_word: c.merged(l.clone(), |x| &x.car_word),
            car_not_a_car: c.merged(l.clone(), |x| &x.car_not_a_car),
            car_negation_before: c.merged(l.clone(), |x| &x.car_negation_before),
            car_negation_after: c.merged(l.clone(), |x| &x.car_negation_after),
            car_access_before: c.merged(l.clone(), |x| &x.car_access_before),
            car_access_after: c.merged(l.clone(), |x| &x.car_access_after),
            answer_yes: c.merged(l.clone(), |x| &x.answer_yes),
            answer_no: c.merged(l, |x| &x.answer_no),
        }
    }
}
