//! The language of the worker's own words, as an ISO 639-1 code. Marker words catch
//! languages the statistical detector (whatlang) lacks; short or unclear text falls back.

use whatlang::{Detector, Lang};

use crate::pipeline::text::{Text, tokens};
use crate::rules::language::LanguageRules;

/// ISO 639-1 ↔ whatlang's ISO 639-3, for the languages whatlang knows.
const CODES: [(&str, Lang); 70] = [
    ("eo", Lang::Epo),
    ("en", Lang::Eng),
    ("ru", Lang::Rus),
    ("zh", Lang::Cmn),
    ("es", Lang::Spa),
    ("pt", Lang::Por),
    ("it", Lang::Ita),
    ("bn", Lang::Ben),
    ("fr", Lang::Fra),
    ("de", Lang::Deu),
    ("uk", Lang::Ukr),
    ("ka", Lang::Kat),
    ("ar", Lang::Ara),
    ("hi", Lang::Hin),
    ("ja", Lang::Jpn),
    ("he", Lang::Heb),
    ("yi", Lang::Yid),
    ("pl", Lang::Pol),
    ("am", Lang::Amh),
    ("jv", Lang::Jav),
    ("ko", Lang::Kor),
    ("nb", Lang::Nob),
    ("da", Lang::Dan),
    ("sv", Lang::Swe),
    ("fi", Lang::Fin),
    ("tr", Lang::Tur),
    ("nl", Lang::Nld),
    ("hu", Lang::Hun),
    ("cs", Lang::Ces),
    ("el", Lang::Ell),
    ("bg", Lang::Bul),
    ("be", Lang::Bel),
    ("mr", Lang::Mar),
    ("kn", Lang::Kan),
    ("ro", Lang::Ron),
    ("sl", Lang::Slv),
    ("hr", Lang::Hrv),
    ("sr", Lang::Srp),
    ("mk", Lang::Mkd),
    ("lt", Lang::Lit),
    ("lv", Lang::Lav),
    ("et", Lang::Est),
    ("ta", Lang::Tam),
    ("vi", Lang::Vie),
    ("ur", Lang::Urd),
    ("th", Lang::Tha),
    ("gu", Lang::Guj),
    ("uz", Lang::Uzb),
    ("pa", Lang::Pan),
    ("az", Lang::Aze),
    ("id", Lang::Ind),
    ("te", Lang::Tel),
    ("fa", Lang::Pes),
    ("ml", Lang::Mal),
    ("or", Lang::Ori),
    ("my", Lang::Mya),
    ("ne", Lang::Nep),
    ("si", Lang::Sin),
    ("km", Lang::Khm),
    ("tk", Lang::Tuk),
    ("tw", Lang::Aka),
    ("zu", Lang::Zul),
    ("sn", Lang::Sna),
    ("af", Lang::Afr),
    ("la", Lang::Lat),
    ("sk", Lang::Slk),
    ("ca", Lang::Cat),
    ("tl", Lang::Tgl),
    ("hy", Lang::Hye),
    ("cy", Lang::Cym),
];

pub fn lang_from_iso1(code: &str) -> Option<Lang> {
    CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, lang)| *lang)
}

fn iso1(lang: Lang) -> &'static str {
    CODES
        .iter()
        .find(|(_, l)| *l == lang)
        .map_or("und", |(c, _)| c)
}

pub fn detect(own_words: &str, rules: &LanguageRules) -> String {
    let letters = own_words.chars().filter(|c| c.is_alphabetic()).count();
    if letters < rules.min_letters {
        return rules.fallback.clone();
    }
    if let Some(code) = by_markers(own_words, rules) {
        return code;
    }
    // A few hundred characters tell a language as well as a whole email does.
    let sample = &own_words[..crate::pipeline::text::floor_boundary(own_words, 600)];
    let detector = Detector::with_allowlist(rules.allowed.clone());
    match detector.detect(sample) {
        // Non-Latin scripts are decided by the script itself and are reliable even when short.
        Some(info) if info.is_reliable() || info.script() != whatlang::Script::Latin => {
            iso1(info.lang()).to_string()
        }
        Some(info) if info.confidence() > 0.3 && letters > 60 => iso1(info.lang()).to_string(),
        _ => rules.fallback.clone(),
    }
}

/// At least a fifth of the words, and three different ones, from one marker list.
fn by_markers(own_words: &str, rules: &LanguageRules) -> Option<String> {
    let text = Text::new(own_words);
    let words = tokens(text.norm());
    if words.is_empty() {
        return None;
    }
    let languages = rules.marker_languages.len();
    let mut hits = vec![0usize; languages];
    let mut distinct: Vec<Vec<&str>> = vec![Vec::new(); languages];
    for word in &words {
        let Some(&marks) = rules.markers.get(word.word) else {
            continue;
        };
        for (language, count) in hits.iter_mut().enumerate() {
            if marks & (1 << language) != 0 {
                *count += 1;
                if distinct[language].len() < 3 && !distinct[language].contains(&word.word) {
                    distinct[language].push(word.word);
                }
            }
        }
    }
    (0..languages)
        .filter_map(|language| {
            let ratio = hits[language] as f32 / words.len() as f32;
            (ratio >= 0.2 && distinct[language].len() >= 3).then_some((ratio, language))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, language)| rules.marker_languages[language].clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::rules;

    #[test]
    fn languages_are_named_by_iso_639_1_codes() {
        let r = &rules().language;
        assert_eq!(
            detect(
                "Hello, I live in Coventry and I need a new sponsor for my job please.",
                r
            ),
            "en"
        );
        assert_eq!(
            detect("मेरा नाम सुनीता शर्मा है। मैं केयर असिस्टेंट के रूप में काम करती थी।", r),
            "hi"
        );
        assert_eq!(
            detect(
                "Moro em Worcester. Não tenho carta de condução do Reino Unido, só a angolana. Não tenho carro.",
                r
            ),
            "pt"
        );
        assert_eq!(detect("YES", r), "en");
        assert_eq!(
            detect(
                "Mo ń gbé ní Dudley. Mi ò ní UK driving licence, ti Nàìjíríà nìkan ni mo ní. Mi ò ní mọ́tò.",
                r
            ),
            "yo"
        );
    }
}
