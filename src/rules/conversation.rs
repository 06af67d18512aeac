//! rules/conversation.toml: what is needed before a referral, who is told what, and the
//! reminder and closing timers.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::Compiler;
use crate::domain::Field;

/// Fields a referral can carry; `[share]` lists must use these names.
pub const SHAREABLE: [&str; 10] = [
    "name",
    "email",
    "phone",
    "postcode",
    "town",
    "council",
    "driving_licence",
    "car_access",
    "language",
    "revocation_date",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationSpec {
    required_before_referral: Vec<String>,
    asked_before_referral: Vec<String>,
    reminder_after_days: u32,
    close_after_days: u32,
    deadline_warning_days: u32,
    max_automatic_replies_per_day: u32,
    share: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone)]
pub struct ConversationRules {
    pub required_before_referral: Vec<Field>,
    pub asked_before_referral: Vec<Field>,
    pub reminder_after_days: u32,
    pub close_after_days: u32,
    pub deadline_warning_days: u32,
    pub max_automatic_replies_per_day: u32,
    pub share_with_council: Vec<String>,
    pub share_with_region: Vec<String>,
}

impl ConversationRules {
    pub fn compile(spec: ConversationSpec, c: &mut Compiler) -> Self {
        let mut fields = |names: &[String]| -> Vec<Field> {
            names
                .iter()
                .filter_map(|n| match Field::parse(n) {
                    Some(Field::Consent) | None => {
                        c.file_error(format!("`{n}` is not a field to ask for (location, phone, driving_licence, car_access)"));
                        None
                    }
                    Some(field) => Some(field),
                })
                .collect()
        };
        let required = fields(&spec.required_before_referral);
        let asked = fields(&spec.asked_before_referral);
        let mut share = |who: &str| -> Vec<String> {
            let Some(list) = spec.share.get(who) else {
                c.file_error(format!("[share] needs a `{who}` list"));
                return Vec::new();
            };
            for name in list {
                if !SHAREABLE.contains(&name.as_str()) && name != "deadline" {
                    c.file_error(format!(
                        "[share] {who}: `{name}` is not a shareable field ({})",
                        SHAREABLE.join(", ")
                    ));
                }
            }
            list.clone()
        };
        let share_with_council = share("council");
        let share_with_region = share("region");
        if spec.reminder_after_days == 0 || spec.close_after_days == 0 {
            c.file_error("reminder_after_days and close_after_days must be at least 1");
        }
        Self {
            required_before_referral: required,
            asked_before_referral: asked,
            reminder_after_days: spec.reminder_after_days,
            close_after_days: spec.close_after_days,
            deadline_warning_days: spec.deadline_warning_days,
            max_automatic_replies_per_day: spec.max_automatic_replies_per_day.max(1),
            share_with_council,
            share_with_region,
        }
    }
}
