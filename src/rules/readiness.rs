//! rules/readiness.toml: when a worker is ready for the jobs on offer, checked in order.

use serde::Deserialize;

use super::Compiler;
use crate::domain::{DrivingLicence, Readiness};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadinessSpec {
    level: Vec<LevelSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelSpec {
    readiness: String,
    #[serde(default)]
    driving_licence: Vec<String>,
    #[serde(default)]
    car_access: Vec<String>,
    reason: String,
}

/// One row of the table: all listed conditions must hold; an empty list holds always.
#[derive(Debug)]
pub struct Level {
    pub readiness: Readiness,
    /// `None` in the list stands for "not known yet".
    pub driving_licence: Vec<Option<DrivingLicence>>,
    pub car_access: Vec<Option<bool>>,
    pub reason: String,
}

#[derive(Debug)]
pub struct ReadinessRules {
    pub levels: Vec<Level>,
}

impl ReadinessRules {
    pub fn compile(spec: ReadinessSpec, c: &mut Compiler) -> Self {
        let mut levels = Vec::new();
        for level in spec.level {
            let Some(readiness) = Readiness::parse(&level.readiness) else {
                c.file_error(format!(
                    "unknown readiness `{}` (ready, needs_support, not_ready, unknown)",
                    level.readiness
                ));
                continue;
            };
            let driving_licence = level
                .driving_licence
                .iter()
                .filter_map(|v| match v.as_str() {
                    "unknown" => Some(None),
                    other => match DrivingLicence::parse(other) {
                        Some(licence) => Some(Some(licence)),
                        None => {
                            c.file_error(format!("unknown driving_licence `{other}` (uk_full, uk_provisional, foreign, none, unknown)"));
                            None
                        }
                    },
                })
                .collect();
            let car_access = level
                .car_access
                .iter()
                .filter_map(|v| match v.as_str() {
                    "yes" => Some(Some(true)),
                    "no" => Some(Some(false)),
                    "unknown" => Some(None),
                    other => {
                        c.file_error(format!("unknown car_access `{other}` (yes, no, unknown)"));
                        None
                    }
                })
                .collect();
            levels.push(Level {
                readiness,
                driving_licence,
                car_access,
                reason: level.reason,
            });
        }
        let catches_all = levels
            .last()
            .is_some_and(|l| l.driving_licence.is_empty() && l.car_access.is_empty());
        if !catches_all {
            c.file_error(
                "the last level must have no conditions, so every worker gets a readiness",
            );
        }
        Self { levels }
    }

    pub fn assess(&self, licence: Option<DrivingLicence>, car: Option<bool>) -> (Readiness, &str) {
        self.levels
            .iter()
            .find(|l| {
                (l.driving_licence.is_empty() || l.driving_licence.contains(&licence))
                    && (l.car_access.is_empty() || l.car_access.contains(&car))
            })
            .map_or((Readiness::Unknown, ""), |l| {
                (l.readiness, l.reason.as_str())
            })
    }
}
