//! Turns a planned email into the exact bytes of an outbox row: the language, the template
//! context (only the fields this recipient may see), the Message-ID and threading headers.
//! Pure, so the store writes the final message in the same transaction as the case change.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use crate::conversation::{Mailbox, Outgoing, Target};
use crate::domain::{
    CaseRef, CaseSnapshot, DrivingLicence, EmailAddress, Field, HeldFact, MessageId, Phone,
};
use crate::replies::{
    AlertContext, AskContext, CaseContext, DetailContext, Envelope, LinkContext, MailboxContext,
    NameContext, Reply, ReplyContext, TargetContext, Templates, WorkerContext, compose,
};
use crate::rules::Rules;

/// What a draft may say about the case, after this message's changes.
#[derive(Debug, Clone, Copy)]
pub struct CaseView<'a> {
    pub reference: &'a CaseRef,
    pub language: &'a str,
    pub worker_name: Option<&'a str>,
    pub worker_email: Option<&'a EmailAddress>,
    pub facts: &'a BTreeMap<String, HeldFact>,
    pub deadline: Option<NaiveDate>,
    /// How many organisations were told about a withdrawal.
    pub notified: usize,
}

impl<'a> CaseView<'a> {
    /// The case as stored (outside the bot's own transitions: staff actions).
    pub fn of(case: &'a CaseSnapshot) -> CaseView<'a> {
        CaseView {
            reference: &case.reference,
            language: &case.language,
            worker_name: case.worker_name.as_deref(),
            worker_email: case.addresses.first(),
            facts: &case.facts,
            deadline: case.deadline,
            notified: 0,
        }
    }
}

/// Where the draft sits in the mail thread.
#[derive(Debug, Clone, Default)]
pub struct Thread {
    /// The inbound message being answered, when the draft answers one.
    pub parent: Option<MessageId>,
    /// The parent's own References, oldest first.
    pub ancestors: Vec<MessageId>,
}

/// An outbox row, ready to store.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub reply: Reply,
    pub message_id: MessageId,
    pub recipients: Vec<EmailAddress>,
    pub subject: String,
    pub raw: Vec<u8>,
    pub template_version: String,
    /// The worker's details this email discloses (for the disclosure log).
    pub disclosed: Vec<&'static str>,
    /// Sent by the mailbox by itself (counted by the loop guard), not written by a person.
    pub automatic: bool,
    /// The signposting links (`rules/signposting.toml` ids) the email carries, for the
    /// programme's figures: read from the rendered text, so edited templates count true.
    pub signposted: Vec<String>,
}

/// Our Message-ID for an outbox row: the prefix says which question it asks (read back by
/// `rules/prompts.toml` when someone answers), the reference finds the case, the outbox id
/// makes it unique and stable across retries.
pub fn message_id(
    outgoing: &Outgoing,
    reference: Option<&CaseRef>,
    outbox_id: i64,
    mailbox: &Mailbox,
) -> MessageId {
    let prefix = outgoing.reply.message_id_prefix(outgoing.consent_pending);
    let domain = mailbox.address.domain();
    let raw = match reference {
        Some(reference) => format!("{prefix}-{reference}.{outbox_id}@{domain}"),
        None => format!("{prefix}.{outbox_id}@{domain}"),
    };
    MessageId::parse(&raw).expect("our own Message-IDs are well formed")
}

#[allow(clippy::too_many_arguments)]
pub fn draft(
    outgoing: &Outgoing,
    case: Option<&CaseView<'_>>,
    message_id: MessageId,
    thread: &Thread,
    mailbox: &Mailbox,
    rules: &Rules,
    templates: &Templates,
    now: DateTime<Utc>,
) -> anyhow::Result<Draft> {
    let (details, disclosed) = match (&outgoing.target, case) {
        (Some(target), Some(case))
            if matches!(
                outgoing.reply,
                Reply::ReferralCouncil | Reply::ReferralRegion
            ) =>
        {
            let share = match target {
                Target::Council { .. } => &rules.conversation.share_with_council,
                Target::Region { .. } => &rules.conversation.share_with_region,
            };
            details(case, share)
        }
        // Safeguarding: everything that helps the council reach the worker.
        (_, Some(case)) if outgoing.reply == Reply::SafeguardingReferral => {
            details(case, &rules.conversation.share_with_council)
        }
        _ => (Vec::new(), Vec::new()),
    };
    let context = context(outgoing, case, details, mailbox, rules);
    let language = case.map_or("en", |c| c.language);
    let rendered = templates.render(outgoing.reply, language, &context)?;
    let (in_reply_to, references) = match (&thread.parent, outgoing.in_reply) {
        (Some(parent), true) => {
            let mut chain = thread.ancestors.clone();
            chain.push(parent.clone());
            (Some(parent.clone()), chain)
        }
        _ => (None, Vec::new()),
    };
    let raw = compose(
        &Envelope {
            from_name: &mailbox.name,
            from: &mailbox.address,
            to: &outgoing.to,
            case: case.map(|c| c.reference),
            message_id: &message_id,
            in_reply_to: in_reply_to.as_ref(),
            references: &references,
            auto_submitted: Some(outgoing.auto_submitted),
            date: now,
        },
        &rendered,
    )?;
    let signposted = rules
        .signposting
        .links
        .iter()
        .filter(|link| rendered.body.contains(&link.text))
        .map(|link| link.id.clone())
        .collect();
    Ok(Draft {
        signposted,
        reply: outgoing.reply,
        message_id,
        recipients: outgoing.to.clone(),
        subject: match case {
            Some(case) => format!("[{}] {}", case.reference, rendered.subject),
            None => rendered.subject,
        },
        raw,
        template_version: rendered.version,
        disclosed,
        automatic: outgoing.auto_submitted != "no",
    })
}

fn context(
    outgoing: &Outgoing,
    case: Option<&CaseView<'_>>,
    details: Vec<DetailContext>,
    mailbox: &Mailbox,
    rules: &Rules,
) -> ReplyContext {
    let fact = |name: &str| {
        case.and_then(|c| c.facts.get(name))
            .map(|f| f.value.as_str())
    };
    let worker_name = case.and_then(|c| c.worker_name);
    let licence = fact("driving_licence").and_then(DrivingLicence::parse);
    let needs_driving_help =
        licence.is_some_and(|l| l != DrivingLicence::UkFull) || fact("car_access") == Some("no");
    let asks = |field: Field| outgoing.asks.contains(&field);
    let (target, council, region) = match &outgoing.target {
        Some(t @ Target::Council { name, .. }) => (target_context(t), name.clone(), String::new()),
        Some(t @ Target::Region { name, .. }) => (target_context(t), String::new(), name.clone()),
        None => (TargetContext::default(), String::new(), String::new()),
    };
    ReplyContext {
        mailbox: MailboxContext {
            name: mailbox.name.clone(),
            address: mailbox.address.to_string(),
            region: mailbox.region.clone(),
        },
        case: CaseContext {
            reference: case.map(|c| c.reference.to_string()).unwrap_or_default(),
        },
        worker: WorkerContext {
            first_name: worker_name
                .and_then(|n| n.split_whitespace().next())
                .map(str::to_string),
            name: worker_name.map(str::to_string),
            email: case.and_then(|c| c.worker_email).map(|e| e.to_string()),
        },
        ask: AskContext {
            any: !outgoing.asks.is_empty(),
            location: asks(Field::Location),
            phone: asks(Field::Phone),
            driving_licence: asks(Field::DrivingLicence),
            car_access: asks(Field::CarAccess),
        },
        consent_pending: outgoing.consent_pending,
        signposting: rules
            .signposting
            .for_worker(needs_driving_help)
            .into_iter()
            .map(|l| LinkContext {
                title: l.title.clone(),
                text: l.text.clone(),
            })
            .collect(),
        urgent: rules.signposting.urgent.clone(),
        council: NameContext { name: council },
        region: NameContext { name: region },
        target,
        details,
        notified: case.map_or(0, |c| c.notified),
        erasure_requested: outgoing.erasure_requested,
        worker_contacted: outgoing.worker_contacted,
        close_after_days: rules.conversation.close_after_days,
        alert: outgoing
            .alert
            .as_ref()
            .map(|(title, detail)| AlertContext {
                title: title.clone(),
                detail: detail.clone(),
            })
            .unwrap_or_default(),
        staff_text: outgoing.staff_text.clone().unwrap_or_default(),
    }
}

fn target_context(target: &Target) -> TargetContext {
    TargetContext {
        kind: target.kind().into(),
        name: target.name().into(),
    }
}

/// The referral's lines: only the fields in the recipient's share list that are known.
fn details(case: &CaseView<'_>, share: &[String]) -> (Vec<DetailContext>, Vec<&'static str>) {
    let mut lines = Vec::new();
    let mut disclosed = Vec::new();
    for name in share {
        let Some((field, label, value)) = detail(case, name) else {
            continue;
        };
        lines.push(DetailContext {
            label: label.into(),
            value,
        });
        disclosed.push(field);
    }
    (lines, disclosed)
}

fn detail(case: &CaseView<'_>, name: &str) -> Option<(&'static str, &'static str, String)> {
    let fact = |key: &str| case.facts.get(key).map(|f| f.value.clone());
    let date = |d: NaiveDate| d.format("%-d %B %Y").to_string();
    Some(match name {
        "name" => ("name", "Name", case.worker_name?.to_string()),
        "email" => ("email", "Email", case.worker_email?.to_string()),
        "phone" => {
            let phone = fact("phone")?;
            (
                "phone",
                "Phone",
                Phone::parse(&phone).map_or(phone, |p| p.national()),
            )
        }
        "postcode" => ("postcode", "Postcode", fact("postcode")?),
        // A town only helps when there is no postcode.
        "town" if case.facts.contains_key("postcode") => return None,
        "town" => ("town", "Town or area", fact("town")?),
        "council" => ("council", "Council", fact("council")?),
        "driving_licence" => {
            let licence = DrivingLicence::parse(&fact("driving_licence")?)?;
            (
                "driving_licence",
                "Driving licence",
                licence.describe().into(),
            )
        }
        "car_access" => {
            let car = if fact("car_access")? == "yes" {
                "Yes"
            } else {
                "No"
            };
            ("car_access", "Car for work", car.into())
        }
        "language" => (
            "language",
            "Wrote to us in",
            language_name(case.language).into(),
        ),
        "revocation_date" => {
            let day = NaiveDate::parse_from_str(&fact("revocation_date")?, "%Y-%m-%d").ok()?;
            ("revocation_date", "Sponsor licence revoked", date(day))
        }
        "deadline" => (
            "deadline",
            "Deadline to find a new sponsor",
            date(case.deadline?),
        ),
        _ => return None,
    })
}

fn language_name(code: &str) -> &str {
    match code {
        "en" => "English",
        "ml" => "Malayalam",
        "hi" => "Hindi",
        "pa" => "Punjabi",
        "ur" => "Urdu",
        "tl" => "Tagalog",
        "yo" => "Yoruba",
        "sw" => "Swahili",
        "tw" => "Twi",
        "pt" => "Portuguese",
        "es" => "Spanish",
        "fr" => "French",
        "ta" => "Tamil",
        "ne" => "Nepali",
        "si" => "Sinhala",
        "zh" => "Chinese",
        "ar" => "Arabic",
        _ => code,
    }
}
