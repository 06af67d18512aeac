//! rules/routing.toml: the home region, how sure a location must be before it is
//! routed without staff, and the names the programme uses for councils and regions.

use std::collections::{BTreeMap, HashMap};

use serde::Deserialize;

use super::Compiler;
use crate::gazetteer::{Naming, is_english_region};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingSpec {
    home_region: String,
    min_location_confidence: f32,
    region_names: BTreeMap<String, String>,
    council_names: BTreeMap<String, String>,
}

#[derive(Debug)]
pub struct RoutingRules {
    /// Councils here get referrals directly (`la:`); other English regions go to their hub.
    pub home_region: String,
    /// Below this, a location (e.g. a postcode district split between councils) goes to staff.
    pub min_location_confidence: f32,
    pub region_names: HashMap<String, String>,
    pub council_names: HashMap<String, String>,
}

impl RoutingRules {
    pub fn compile(spec: RoutingSpec, c: &mut Compiler) -> Self {
        let region_names: HashMap<String, String> = spec.region_names.into_iter().collect();
        let canonical = |r: &str| {
            region_names
                .get(r)
                .cloned()
                .unwrap_or_else(|| r.to_string())
        };
        if !is_english_region(&canonical(&spec.home_region)) {
            c.file_error(format!(
                "home_region `{}` is not an English region",
                spec.home_region
            ));
        }
        if !(0.0..=1.0).contains(&spec.min_location_confidence) {
            c.file_error("min_location_confidence must be between 0 and 1");
        }
        Self {
            home_region: canonical(&spec.home_region),
            min_location_confidence: spec.min_location_confidence,
            council_names: spec.council_names.into_iter().collect(),
            region_names,
        }
    }

    pub fn naming(&self) -> Naming {
        Naming {
            council_names: self.council_names.clone(),
            region_names: self.region_names.clone(),
        }
    }
}
