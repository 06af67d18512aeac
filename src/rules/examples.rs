//! `regional-mailbox rules test`: runs the example messages in `rules/tests/*.toml`
//! through the whole pipeline and compares the results with what each example expects,
//! so a rule change is tested like code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{RuleError, RuleFile, Rules};
use crate::pipeline::{self, Settings};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExampleFile {
    example: Vec<Example>,
}

/// One example: a message written out in parts, or an .eml file beside the examples.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Example {
    name: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    #[serde(default)]
    in_reply_to: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    eml: Option<String>,
    expect: toml::Table,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub file: PathBuf,
    pub name: String,
    /// Empty when the example passed.
    pub failures: Vec<String>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

pub fn run(rules: &Rules, settings: &Settings) -> Result<Vec<Outcome>, Vec<RuleError>> {
    let dir = rules.dir.join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| {
            vec![RuleError {
                path: dir.clone(),
                line: 0,
                reason: format!("cannot read: {e}"),
            }]
        })?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    files.sort();
    let mut outcomes = Vec::new();
    let mut errors = Vec::new();
    for path in files {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let file = match RuleFile::read(&dir, &name) {
            Ok(file) => file,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let spec: ExampleFile = match file.parse() {
            Ok(spec) => spec,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        for example in spec.example {
            let raw = match message(&example, &dir) {
                Ok(raw) => raw,
                Err(reason) => {
                    errors.push(
                        file.whole_file_error(format!("example `{}`: {reason}", example.name)),
                    );
                    continue;
                }
            };
            let failures = match pipeline::triage(&raw, rules, settings) {
                Ok(triage) => compare(
                    &serde_json::to_value(&triage).expect("triage serialises"),
                    &example.expect,
                ),
                Err(quarantine) => vec![format!("quarantined: {quarantine}")],
            };
            outcomes.push(Outcome {
                file: path.clone(),
                name: example.name,
                failures,
            });
        }
    }
    if errors.is_empty() {
        Ok(outcomes)
    } else {
        Err(errors)
    }
}

fn message(example: &Example, dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(eml) = &example.eml {
        return std::fs::read(dir.join(eml)).map_err(|e| format!("cannot read {eml}: {e}"));
    }
    let body = example.body.as_deref().ok_or("needs `body` or `eml`")?;
    let mut raw = String::new();
    raw.push_str(&format!(
        "From: {}\r\n",
        example
            .from
            .as_deref()
            .unwrap_or("Test Worker <test.worker@gmail.com>")
    ));
    raw.push_str("To: regional.mailbox@example.org\r\n");
    raw.push_str(&format!(
        "Subject: {}\r\n",
        example.subject.as_deref().unwrap_or("Help")
    ));
    raw.push_str("Date: Mon, 4 Nov 2024 09:00:00 +0000\r\n");
    raw.push_str("Message-ID: <example@rules.test>\r\n");
    if let Some(id) = &example.in_reply_to {
        raw.push_str(&format!(
            "In-Reply-To: <{}>\r\n",
            id.trim_matches(['<', '>'])
        ));
    }
    for (name, value) in &example.headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n");
    raw.push_str(&body.replace('\n', "\r\n"));
    Ok(raw.into_bytes())
}

/// Each expected key must equal the result's value; `indicators` lists indicator ids.
fn compare(actual: &serde_json::Value, expect: &toml::Table) -> Vec<String> {
    let mut failures = Vec::new();
    for (key, expected) in expect {
        let expected = serde_json::to_value(expected).expect("toml converts to json");
        let got = if key == "indicators" {
            let ids: Vec<serde_json::Value> = actual["indicators"]
                .as_array()
                .map(|list| list.iter().map(|i| i["indicator"].clone()).collect())
                .unwrap_or_default();
            serde_json::Value::Array(ids)
        } else {
            actual.get(key).cloned().unwrap_or(serde_json::Value::Null)
        };
        let same = match (&expected, &got) {
            (serde_json::Value::String(e), serde_json::Value::Null) => e == "null",
            (serde_json::Value::Array(e), serde_json::Value::Array(g)) if key == "indicators" => {
                let mut e = e.clone();
                let mut g = g.clone();
                e.sort_by_key(|v| v.to_string());
                g.sort_by_key(|v| v.to_string());
                e == g
            }
            _ => expected == got,
        };
        if !same {
            failures.push(format!("{key}: expected {expected}, got {got}"));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::tests::rules;

    #[test]
    fn the_shipped_examples_all_pass() {
        let outcomes = run(rules(), &Settings::default()).unwrap_or_else(|e| panic!("{e:?}"));
        assert!(outcomes.len() >= 20, "only {} examples", outcomes.len());
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| !o.passed())
            .map(|o| {
                format!(
                    "{} / {}: {}",
                    o.file.display(),
                    o.name,
                    o.failures.join("; ")
                )
            })
            .collect();
        assert!(failed.is_empty(), "{}", failed.join("\n"));
    }

    #[test]
    fn a_wrong_expectation_is_reported_as_a_failure() {
        let actual = serde_json::json!({"kind": "support_request", "consent": null});
        let expect: toml::Table = toml::from_str("kind = \"bounce\"\nconsent = \"null\"").unwrap();
        assert_eq!(
            compare(&actual, &expect),
            vec!["kind: expected \"bounce\", got \"support_request\"".to_string()]
        );
    }
}
