//! The DHSC return as people read it: the figures of the West Midlands return in their
//! sections, with what each counts, printed as CSV, Markdown or JSON, and small numbers
//! (1 to 4) suppressed on request for published copies. Pure: `store::report` counts.

use chrono::NaiveDate;
use serde::Serialize;

/// One figure: its key in the data, its section and its line in the return, and what it
/// counts (the same words as the README's "Reporting" section).
pub struct Definition {
    pub key: &'static str,
    pub section: &'static str,
    pub label: &'static str,
    pub counts: &'static str,
}

pub const FIGURES: [Definition; 13] = [
    Definition {
        key: "new_from_ukvi",
        section: "Demand",
        label: "New cases resulting from UKVI emails",
        counts: "cases opened in the period by the worker's own email",
    },
    Definition {
        key: "from_other_regions",
        section: "Demand",
        label: "Signposted from other regions",
        counts: "cases opened in the period by a referral from another region's hub (rules/directory.toml)",
    },
    Definition {
        key: "from_other_sources",
        section: "Demand",
        label: "Referred from other sources",
        counts: "cases opened in the period by a referral from anyone else (a council, a charity, UKVI)",
    },
    Definition {
        key: "signposted_self_help",
        section: "Activity",
        label: "Signposted to the self-help platform / job matching",
        counts: "cases sent, in the period, an email carrying the self_help or job_matching link",
    },
    Definition {
        key: "signposted_legal",
        section: "Activity",
        label: "Signposted for legal/HR advice",
        counts: "cases sent, in the period, an email carrying the legal link",
    },
    Definition {
        key: "referred_to_councils",
        section: "Activity",
        label: "Signposted to councils for enhanced support",
        counts: "cases referred to a council's International Recruitment lead in the period",
    },
    Definition {
        key: "referred_to_home_region",
        section: "Activity",
        label: "Referred onto the home region",
        counts: "cases referred to the hub of the region the worker lives in, in the period",
    },
    Definition {
        key: "providers_enquired",
        section: "Sponsors",
        label: "Providers who enquired",
        counts: "distinct email domains of care providers' enquiries in the period",
    },
    Definition {
        key: "providers_supported",
        section: "Sponsors",
        label: "Providers who offered to support matched workers",
        counts: "distinct new employers named in the period's outcomes of employment",
    },
    Definition {
        key: "employed",
        section: "Outcomes",
        label: "Supported into new employment",
        counts: "cases closed as employed in the period",
    },
    Definition {
        key: "closed_nfa",
        section: "Outcomes",
        label: "Closed as no further action",
        counts: "cases closed as no further action in the period",
    },
    Definition {
        key: "closed_referred_region",
        section: "Outcomes",
        label: "Closed on referral to another region",
        counts: "cases closed in the period once another region's hub took them on",
    },
    Definition {
        key: "active",
        section: "Outcomes",
        label: "Active cases",
        counts: "cases open at the end of the period's last day",
    },
];

/// How a return is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Markdown,
    Json,
}

impl Format {
    pub fn parse(text: &str) -> Option<Format> {
        match text {
            "csv" => Some(Format::Csv),
            "md" | "markdown" => Some(Format::Markdown),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// One mailbox's return for a period (UK dates, both included).
#[derive(Debug, Clone, Serialize)]
pub struct Return {
    pub mailbox: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Values by key, in the order of [`FIGURES`].
    pub values: Vec<(String, i64)>,
}

/// A figure as published: the number, or `<5` for 1 to 4 when suppressed.
pub fn shown(value: i64, suppress: bool) -> String {
    if suppress && (1..=4).contains(&value) {
        "<5".to_string()
    } else {
        value.to_string()
    }
}

#[derive(Serialize)]
struct Line<'a> {
    section: &'a str,
    figure: &'a str,
    key: &'a str,
    value: serde_json::Value,
}

impl Return {
    pub fn value(&self, key: &str) -> i64 {
        self.values
            .iter()
            .find(|(k, _)| k == key)
            .map_or(0, |(_, v)| *v)
    }

    fn lines(&self, suppress: bool) -> Vec<Line<'_>> {
        FIGURES
            .iter()
            .map(|figure| {
                let value = self.value(figure.key);
                Line {
                    section: figure.section,
                    figure: figure.label,
                    key: figure.key,
                    value: match shown(value, suppress).parse::<i64>() {
                        Ok(n) => n.into(),
                        Err(_) => "<5".into(),
                    },
                }
            })
            .collect()
    }

    pub fn render(&self, format: Format, suppress: bool) -> String {
        let lines = self.lines(suppress);
        match format {
            Format::Csv => {
                let mut out = String::from("section,figure,value\n");
                for line in &lines {
                    out.push_str(&format!(
                        "{},\"{}\",{}\n",
                        line.section,
                        line.figure.replace('"', "\"\""),
                        value_text(&line.value)
                    ));
                }
                out
            }
            Format::Markdown => {
                let mut out = format!(
                    "# DHSC return: {} mailbox, {} to {}\n",
                    self.mailbox, self.from, self.to
                );
                let mut section = "";
                for line in &lines {
                    if line.section != section {
                        section = line.section;
                        out.push_str(&format!(
                            "\n## {section}\n\n| Figure | Value |\n|---|---:|\n"
                        ));
                    }
                    out.push_str(&format!(
                        "| {} | {} |\n",
                        line.figure,
                        value_text(&line.value)
                    ));
                }
                if suppress {
                    out.push_str("\nFigures from 1 to 4 are shown as <5.\n");
                }
                out
            }
            Format::Json => serde_json::to_string_pretty(&serde_json::json!({
                "mailbox": self.mailbox,
                "from": self.from,
                "to": self.to,
                "suppressed_below": if suppress { Some(5) } else { None },
                "figures": lines,
            }))
            .unwrap_or_default(),
        }
    }
}

fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Return {
        Return {
            mailbox: "west_midlands".into(),
            from: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 9, 30).unwrap(),
            values: FIGURES
                .iter()
                .enumerate()
                .map(|(n, f)| (f.key.to_string(), n as i64 * 3))
                .collect(),
        }
    }

    #[test]
    fn every_figure_is_printed_in_each_format_and_small_numbers_can_be_suppressed() {
        let ret = sample();
        let csv = ret.render(Format::Csv, false);
        assert_eq!(csv.lines().count(), FIGURES.len() + 1);
        assert!(csv.contains("Demand,\"New cases resulting from UKVI emails\",0"));
        assert!(csv.contains("Activity,\"Signposted to the self-help platform / job matching\",9"));
        let suppressed = ret.render(Format::Csv, true);
        assert!(
            suppressed.contains("\"Signposted from other regions\",<5"),
            "3 is suppressed"
        );
        assert!(suppressed.contains("UKVI emails\",0"), "0 is not");
        assert!(
            suppressed.contains("job matching\",9"),
            "5 and more are not"
        );
        let md = ret.render(Format::Markdown, true);
        for section in ["## Demand", "## Activity", "## Sponsors", "## Outcomes"] {
            assert!(md.contains(section), "{md}");
        }
        assert!(md.contains("| Active cases | 36 |"), "{md}");
        let json: serde_json::Value =
            serde_json::from_str(&ret.render(Format::Json, true)).unwrap();
        assert_eq!(json["figures"].as_array().unwrap().len(), FIGURES.len());
        assert_eq!(json["figures"][1]["value"], "<5");
        assert_eq!(json["figures"][2]["value"], 6);
    }
}
