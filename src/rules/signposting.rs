//! rules/signposting.toml: the services every reply points workers to, and the urgent
//! help sent when someone is in danger.

use serde::{Deserialize, Serialize};

use super::Compiler;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignpostingSpec {
    link: Vec<Link>,
    urgent: Urgent,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    pub id: String,
    pub title: String,
    pub text: String,
    /// `always`, or `driving` for workers without a full UK licence or without a car.
    pub when: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Urgent {
    pub lines: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct Signposting {
    pub links: Vec<Link>,
    pub urgent: Vec<String>,
}

impl Signposting {
    pub fn compile(spec: SignpostingSpec, c: &mut Compiler) -> Self {
        for link in &spec.link {
            if !matches!(link.when.as_str(), "always" | "driving") {
                c.file_error(format!(
                    "link `{}`: when must be `always` or `driving`",
                    link.id
                ));
            }
        }
        if spec.urgent.lines.is_empty() {
            c.file_error("[urgent] lines must not be empty");
        }
        Self {
            links: spec.link,
            urgent: spec.urgent.lines,
        }
    }

    /// The links for one worker: driving help only when they need it.
    pub fn for_worker(&self, needs_driving_help: bool) -> Vec<&Link> {
        self.links
            .iter()
            .filter(|l| l.when == "always" || needs_driving_help)
            .collect()
    }
}
