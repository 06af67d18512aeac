//! Postcode district / place name → upper-tier council (the adult social care authority)
//! → region, from the open data in `rules/geo/` (attribution in its SOURCES.md).
//! An operator may add the full ONS Postcode Directory; exact postcodes then take
//! precedence over districts. Pure lookups: reading the files happens once, at load.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::domain::Postcode;
use crate::rules::source::{RuleError, RuleFile};

pub type CouncilId = u16;

/// The nine English regions, as the programme names them.
pub const ENGLISH_REGIONS: [&str; 9] = [
    "North East",
    "North West",
    "Yorkshire and the Humber",
    "East Midlands",
    "West Midlands",
    "East of England",
    "London",
    "South East",
    "South West",
];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Council {
    pub code: String,
    /// The common short name (`Telford and Wrekin`, `Bristol`).
    pub name: String,
    pub official_name: String,
    /// An English region, or `Wales`, `Scotland`, `Northern Ireland`, ...
    pub region: String,
}

impl Council {
    pub fn in_england(&self) -> bool {
        is_english_region(&self.region)
    }
}

pub fn is_english_region(region: &str) -> bool {
    ENGLISH_REGIONS.contains(&region)
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Share {
    pub council: CouncilId,
    /// Fraction of the district's postcodes in this council.
    pub share: f32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlaceKind {
    Populated,
    Alias,
    CouncilName,
    Locality,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Place {
    pub name: String,
    pub council: Option<CouncilId>,
    pub region: String,
    pub population: u32,
    pub kind: PlaceKind,
}

#[derive(Debug, Default)]
pub struct Gazetteer {
    councils: Vec<Council>,
    council_by_key: HashMap<String, CouncilId>,
    council_by_code: HashMap<String, CouncilId>,
    districts: HashMap<String, Vec<Share>>,
    areas: HashMap<String, String>,
    places: HashMap<String, Vec<Place>>,
    longest_place: usize,
    /// First word of a place name → the most words a name starting with it has: a word
    /// that starts no name is passed over without building any longer key.
    first_words: HashMap<String, usize>,
    /// Exact postcodes from an operator-supplied ONS Postcode Directory, sorted by key.
    exact: Vec<(u64, CouncilId)>,
    lad_to_council: HashMap<String, String>,
}

#[derive(Deserialize)]
struct AuthorityRow {
    la_code: String,
    la_name: String,
    region: String,
    official_name: String,
}

#[derive(Deserialize)]
struct DistrictRow {
    outward_code: String,
    la_code: String,
    la_name: String,
    region: String,
    share: f32,
}

#[derive(Deserialize)]
struct AreaRow {
    postcode_area: String,
    region: String,
    is_primary: u8,
}

#[derive(Deserialize)]
struct PlaceRow {
    place_name: String,
    la_code: String,
    la_name: String,
    region: String,
    population: Option<u32>,
    place_type: String,
    match_key: String,
}

#[derive(Deserialize)]
struct LadRow {
    lad_code: String,
    la_code: String,
}

/// Display names and region spellings the programme uses, from rules/routing.toml.
#[derive(Debug, Clone, Default)]
pub struct Naming {
    pub council_names: HashMap<String, String>,
    pub region_names: HashMap<String, String>,
}

impl Gazetteer {
    pub fn load(dir: &Path, naming: &Naming) -> Result<Self, RuleError> {
        let mut gazetteer = Gazetteer::default();
        let region = |raw: &str| {
            naming
                .region_names
                .get(raw)
                .cloned()
                .unwrap_or_else(|| raw.to_string())
        };
        let display = |name: &str| {
            naming
                .council_names
                .get(name)
                .cloned()
                .unwrap_or_else(|| name.to_string())
        };

        for row in read_csv::<AuthorityRow>(dir, "adult_social_care_authorities.csv")? {
            let id = gazetteer.add_council(
                &row.la_code,
                &display(&row.la_name),
                &row.official_name,
                &region(&row.region),
            );
            gazetteer
                .council_by_key
                .entry(place_key(&row.la_name))
                .or_insert(id);
        }
        for row in read_csv::<DistrictRow>(dir, "postcode_districts.csv")? {
            let council = match gazetteer.council_by_code.get(&row.la_code) {
                Some(&id) => id,
                // Welsh and Scottish councils over the border: known, but outside England.
                None => gazetteer.add_council(
                    &row.la_code,
                    &display(&row.la_name),
                    &row.la_name,
                    &region(&row.region),
                ),
            };
            gazetteer
                .districts
                .entry(row.outward_code)
                .or_default()
                .push(Share {
                    council,
                    share: row.share,
                });
        }
        for shares in gazetteer.districts.values_mut() {
            shares.sort_by(|a, b| b.share.total_cmp(&a.share));
        }
        for row in read_csv::<AreaRow>(dir, "postcode_areas.csv")? {
            if row.is_primary == 1 {
                gazetteer
                    .areas
                    .insert(row.postcode_area, region(&row.region));
            }
        }
        for row in read_csv::<PlaceRow>(dir, "places.csv")? {
            let council = if row.la_code.is_empty() {
                None
            } else {
                Some(match gazetteer.council_by_code.get(&row.la_code) {
                    Some(&id) => id,
                    None => gazetteer.add_council(
                        &row.la_code,
                        &display(&row.la_name),
                        &row.la_name,
                        &region(&row.region),
                    ),
                })
            };
            let kind = match row.place_type.as_str() {
                "populated place" => PlaceKind::Populated,
                "locality (curated)" => PlaceKind::Locality,
                t if t.starts_with("local authority") => PlaceKind::CouncilName,
                _ => PlaceKind::Alias,
            };
            let place = Place {
                name: row.place_name.clone(),
                council,
                region: region(&row.region),
                population: row.population.unwrap_or(0),
                kind,
            };
            for key in [row.match_key.clone(), place_key(&row.place_name)] {
                if key.is_empty() {
                    continue;
                }
                let entries = gazetteer.places.entry(key.clone()).or_default();
                if !entries
                    .iter()
                    .any(|p| p.council == place.council && p.region == place.region)
                {
                    entries.push(place.clone());
                }
                let words = key.split(' ').count();
                gazetteer.longest_place = gazetteer.longest_place.max(words);
                let first = key.split(' ').next().unwrap_or_default().to_string();
                let longest = gazetteer.first_words.entry(first).or_default();
                *longest = (*longest).max(words);
            }
        }
        for row in read_csv::<LadRow>(dir, "lad_to_la.csv")? {
            gazetteer.lad_to_council.insert(row.lad_code, row.la_code);
        }
        Ok(gazetteer)
    }

    fn add_council(
        &mut self,
        code: &str,
        name: &str,
        official_name: &str,
        region: &str,
    ) -> CouncilId {
        let id = self.councils.len() as CouncilId;
        self.councils.push(Council {
            code: code.to_string(),
            name: name.to_string(),
            official_name: official_name.to_string(),
            region: region.to_string(),
        });
        self.council_by_code.insert(code.to_string(), id);
        for key in [place_key(name), place_key(official_name)] {
            self.council_by_key.entry(key).or_insert(id);
        }
        id
    }

    pub fn council(&self, id: CouncilId) -> &Council {
        &self.councils[id as usize]
    }

    /// A council by its name in any common spelling (`Telford & Wrekin Council`).
    pub fn council_named(&self, name: &str) -> Option<CouncilId> {
        let key = place_key(name);
        self.council_by_key.get(&key).copied().or_else(|| {
            let trimmed = key
                .trim_end_matches(" council")
                .trim_end_matches(" city")
                .trim_end_matches(" county")
                .trim_end_matches(" metropolitan borough");
            self.council_by_key.get(trimmed).copied()
        })
    }

    pub fn councils(&self) -> impl Iterator<Item = (CouncilId, &Council)> {
        self.councils
            .iter()
            .enumerate()
            .map(|(i, c)| (i as CouncilId, c))
    }

    /// Councils sharing a postcode district, largest share first.
    pub fn district(&self, outward: &str) -> Option<&[Share]> {
        self.districts.get(outward).map(Vec::as_slice)
    }

    pub fn is_known_district(&self, outward: &str) -> bool {
        self.districts.contains_key(outward)
    }

    /// The main region of a postcode area (`BT` → Northern Ireland), for districts the
    /// gazetteer does not list.
    pub fn area_region(&self, area: &str) -> Option<&str> {
        self.areas.get(area).map(String::as_str)
    }

    /// The council of an exact postcode, when the operator has loaded the ONS Postcode Directory.
    pub fn exact_postcode(&self, postcode: &Postcode) -> Option<CouncilId> {
        let key = postcode_key(&postcode.to_string())?;
        self.exact
            .binary_search_by_key(&key, |&(k, _)| k)
            .ok()
            .map(|i| self.exact[i].1)
    }

    pub fn has_exact_postcodes(&self) -> bool {
        !self.exact.is_empty()
    }

    pub fn places(&self, key: &str) -> Option<&[Place]> {
        self.places.get(key).map(Vec::as_slice)
    }

    /// The most words any place name has, to bound n-gram lookups.
    pub fn longest_place_name(&self) -> usize {
        self.longest_place
    }

    /// The most words of a place name that starts with `word` (0: none starts with it).
    pub fn longest_starting_with(&self, word: &str) -> usize {
        self.first_words.get(word).copied().unwrap_or(0)
    }

    /// Loads the ONS Postcode Directory (or any CSV with a postcode column `pcds`/`pcd`/`pcd7`/`pcd8`
    /// and a local authority district column `oslaua`/`ladNNcd`/`lad_code`). Returns how many
    /// English postcodes were loaded.
    pub fn load_postcode_directory(&mut self, path: &Path) -> anyhow::Result<usize> {
        use anyhow::Context;
        let mut reader =
            csv::Reader::from_path(path).with_context(|| format!("opening {}", path.display()))?;
        let headers = reader.headers()?.clone();
        let find = |pred: &dyn Fn(&str) -> bool| {
            headers.iter().position(|h| pred(&h.to_ascii_lowercase()))
        };
        let postcode_col =
            find(&|h| matches!(h, "pcds" | "pcd" | "pcd7" | "pcd8" | "pcd2" | "postcode"))
                .context("no postcode column (pcds, pcd, pcd7, pcd8 or postcode)")?;
        let lad_col = find(&|h| {
            h == "oslaua"
                || h == "lad_code"
                || h == "laua"
                || (h.starts_with("lad") && h.ends_with("cd"))
        })
        .context("no local authority district column (oslaua, ladNNcd or lad_code)")?;
        let mut exact = Vec::new();
        for record in reader.records() {
            let record = record?;
            let (Some(raw), Some(lad)) = (record.get(postcode_col), record.get(lad_col)) else {
                continue;
            };
            let Some(key) = postcode_key(raw) else {
                continue;
            };
            let code = self
                .lad_to_council
                .get(lad)
                .map(String::as_str)
                .unwrap_or(lad);
            if let Some(&council) = self.council_by_code.get(code) {
                exact.push((key, council));
            }
        }
        exact.sort_unstable_by_key(|&(k, _)| k);
        exact.dedup_by_key(|&mut (k, _)| k);
        let count = exact.len();
        self.exact = exact;
        Ok(count)
    }
}

fn read_csv<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> Result<Vec<T>, RuleError> {
    let file = RuleFile::read(dir, name)?;
    let mut reader = csv::Reader::from_reader(file.text.as_bytes());
    let mut rows = Vec::new();
    for (index, row) in reader.deserialize::<T>().enumerate() {
        match row {
            Ok(row) => rows.push(row),
            Err(e) => {
                let line = e.position().map_or(index + 2, |p| p.line() as usize);
                return Err(RuleError {
                    path: file.path.clone(),
                    line,
                    reason: e.to_string(),
                });
            }
        }
    }
    if rows.is_empty() {
        return Err(file.whole_file_error("no rows"));
    }
    Ok(rows)
}

/// The lookup key of a place name: lower-case ASCII words, `&` read as `and`.
pub fn place_key(name: &str) -> String {
    let text = crate::pipeline::text::Text::new(name);
    let words: Vec<&str> = crate::pipeline::text::tokens(text.norm())
        .into_iter()
        .map(|t| t.word)
        .collect();
    words.join(" ")
}

/// A postcode packed into 64 bits (6 bits a character), for a compact exact-postcode table.
fn postcode_key(raw: &str) -> Option<u64> {
    let postcode = Postcode::parse(raw)?;
    postcode.inward()?;
    let mut key = 0u64;
    for c in postcode.to_string().bytes().filter(|b| *b != b' ') {
        let code = match c {
            b'0'..=b'9' => c - b'0' + 1,
            b'A'..=b'Z' => c - b'A' + 11,
            _ => return None,
        };
        key = (key << 6) | u64::from(code);
    }
    Some(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    pub fn gazetteer() -> &'static Gazetteer {
        static GAZETTEER: OnceLock<Gazetteer> = OnceLock::new();
        GAZETTEER.get_or_init(|| {
            let naming = Naming {
                council_names: [("City of Bristol".to_string(), "Bristol".to_string())].into(),
                region_names: [(
                    "Yorkshire and The Humber".to_string(),
                    "Yorkshire and the Humber".to_string(),
                )]
                .into(),
            };
            Gazetteer::load(
                &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/geo"),
                &naming,
            )
            .expect("geo loads")
        })
    }

    #[test]
    fn districts_list_their_councils_largest_share_first() {
        let g = gazetteer();
        let b36 = g.district("B36").unwrap();
        assert_eq!(g.council(b36[0].council).name, "Solihull");
        assert_eq!(g.council(b36[1].council).name, "Birmingham");
        let ls8 = g.district("LS8").unwrap();
        assert_eq!(g.council(ls8[0].council).region, "Yorkshire and the Humber");
        let hr3 = g.district("HR3").unwrap();
        assert!(hr3.iter().any(|s| g.council(s.council).region == "Wales"));
        assert!(!g.is_known_district("ZZ9"));
    }

    #[test]
    fn places_and_council_names_resolve() {
        let g = gazetteer();
        let bilston = g.places("bilston").unwrap();
        assert!(
            bilston
                .iter()
                .any(|p| p.council.map(|c| g.council(c).name.as_str()) == Some("Wolverhampton"))
        );
        assert!(g.places("stoke on trent").is_some());
        assert_eq!(
            g.council_named("Telford & Wrekin Council")
                .map(|c| g.council(c).name.clone())
                .as_deref(),
            Some("Telford and Wrekin")
        );
        assert_eq!(
            g.council_named("City of Bristol")
                .map(|c| g.council(c).name.clone())
                .as_deref(),
            Some("Bristol")
        );
        assert_eq!(g.area_region("BT"), Some("Northern Ireland"));
        assert!(g.longest_place_name() >= 4);
    }

    #[test]
    fn the_postcode_directory_adds_exact_postcodes() {
        let dir = std::env::temp_dir().join(format!("rm-onspd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("ONSPD.csv");
        std::fs::write(
            &csv,
            "pcd,pcds,oslaua\nB36 8AA,B36 8AA,E08000025\nCV7 9ZZ,CV7 9ZZ,E07000219\n",
        )
        .unwrap();
        let mut g = Gazetteer::load(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/geo"),
            &Naming::default(),
        )
        .unwrap();
        assert_eq!(g.load_postcode_directory(&csv).unwrap(), 2);
        let b36 = g
            .exact_postcode(&Postcode::parse("b368aa").unwrap())
            .unwrap();
        assert_eq!(g.council(b36).name, "Birmingham");
        // Nuneaton and Bedworth (a district) rolls up to Warwickshire (the care authority).
        let cv7 = g
            .exact_postcode(&Postcode::parse("CV7 9ZZ").unwrap())
            .unwrap();
        assert_eq!(g.council(cv7).name, "Warwickshire");
        assert!(g.exact_postcode(&Postcode::parse("B36").unwrap()).is_none());
        std::fs::remove_dir_all(dir).ok();
    }
}
