//! Renders `templates/<lang>/<name>.txt` (tera) into outgoing mail. A template starts with
//! a `subject:` line and a `---` line, then the body. English must exist for every reply;
//! another language is used when the worker writes in it and a translation exists.
//! Composing the RFC 5322 message (Message-ID, threading, Auto-Submitted) is done here too:
//! pure, so the store can write the exact bytes into the outbox in the same transaction.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use lettre::message::header::{
    ContentTransferEncoding, ContentType, Header, HeaderName, HeaderValue,
};
use lettre::message::{Mailbox as LettreMailbox, Message};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{CaseRef, EmailAddress, MessageId};
use crate::rules::{RuleError, RuleErrors};

/// Every reply the mailbox sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    ConsentRequest,
    DetailsRequest,
    Reminder,
    ReferralCouncil,
    ReferralRegion,
    WorkerReferred,
    ConsentRefused,
    WithdrawalConfirmation,
    WithdrawalNotice,
    Closing,
    SafeguardingUrgentHelp,
    ProviderAcknowledgement,
    ReferralReceived,
    /// To staff, about the mailbox itself (inbox unreachable, nothing arriving).
    StaffAlert,
    /// Written by a member of staff in the web app, sent to the worker in the thread.
    StaffMessage,
    /// A staff decision to escalate a safeguarding concern to the council's contact.
    SafeguardingReferral,
}

impl Reply {
    pub const ALL: [Reply; 16] = [
        Reply::ConsentRequest,
        Reply::DetailsRequest,
        Reply::Reminder,
        Reply::ReferralCouncil,
        Reply::ReferralRegion,
        Reply::WorkerReferred,
        Reply::ConsentRefused,
        Reply::WithdrawalConfirmation,
        Reply::WithdrawalNotice,
        Reply::Closing,
        Reply::SafeguardingUrgentHelp,
        Reply::ProviderAcknowledgement,
        Reply::ReferralReceived,
        Reply::StaffAlert,
        Reply::StaffMessage,
        Reply::SafeguardingReferral,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Reply::ConsentRequest => "consent_request",
            Reply::DetailsRequest => "details_request",
            Reply::Reminder => "reminder",
            Reply::ReferralCouncil => "referral_council",
            Reply::ReferralRegion => "referral_region",
            Reply::WorkerReferred => "worker_referred",
            Reply::ConsentRefused => "consent_refused",
            Reply::WithdrawalConfirmation => "withdrawal_confirmation",
            Reply::WithdrawalNotice => "withdrawal_notice",
            Reply::Closing => "closing",
            Reply::SafeguardingUrgentHelp => "safeguarding_urgent_help",
            Reply::ProviderAcknowledgement => "provider_acknowledgement",
            Reply::ReferralReceived => "referral_received",
            Reply::StaffAlert => "staff_alert",
            Reply::StaffMessage => "staff_message",
            Reply::SafeguardingReferral => "safeguarding_referral",
        }
    }

    pub fn parse(name: &str) -> Option<Reply> {
        Reply::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The start of our Message-ID for this reply: rules/prompts.toml reads it back when
    /// someone answers, so a bare "YES" to a consent request counts as consent.
    pub fn message_id_prefix(self, asks_consent: bool) -> &'static str {
        match self {
            Reply::ConsentRequest => "consent",
            Reply::Reminder if asks_consent => "consent-remind",
            Reply::Reminder => "remind",
            Reply::DetailsRequest => "info",
            Reply::ReferralCouncil | Reply::ReferralRegion => "referral",
            Reply::WorkerReferred => "update",
            Reply::WithdrawalNotice => "withdrawn",
            Reply::ProviderAcknowledgement => "ack",
            Reply::ReferralReceived => "received",
            Reply::ConsentRefused | Reply::WithdrawalConfirmation | Reply::Closing => "closing",
            Reply::SafeguardingUrgentHelp => "help",
            Reply::StaffAlert => "alert",
            Reply::StaffMessage => "staff",
            Reply::SafeguardingReferral => "safeguarding",
        }
    }

    /// Sent to organisations (leads, hubs, providers), never in a worker's language.
    pub fn to_organisation(self) -> bool {
        matches!(
            self,
            Reply::ReferralCouncil
                | Reply::ReferralRegion
                | Reply::WithdrawalNotice
                | Reply::ProviderAcknowledgement
                | Reply::ReferralReceived
                | Reply::StaffAlert
                | Reply::SafeguardingReferral
        )
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A rendered reply, before it becomes an RFC 5322 message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub body: String,
    /// `name@hash-of-the-template-file`: the exact wording sent, recorded with consent.
    pub version: String,
    pub language: String,
}

pub struct Templates {
    tera: tera::Tera,
    versions: BTreeMap<String, String>,
    dir: PathBuf,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("dir", &self.dir)
            .field("templates", &self.versions.len())
            .finish()
    }
}

impl Templates {
    /// Loads every `<lang>/<name>.txt`. Fails with file-located errors when English lacks a
    /// reply, a file is not `subject:` / `---` / body, a template does not parse, or a
    /// template is named after no reply.
    pub fn load(dir: &Path) -> Result<Templates, RuleErrors> {
        let mut errors = Vec::new();
        let mut tera = tera::Tera::new();
        let mut versions = BTreeMap::new();
        let error = |path: &Path, reason: String| RuleError {
            path: path.to_path_buf(),
            line: 0,
            reason,
        };
        let languages = match std::fs::read_dir(dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .collect::<Vec<_>>(),
            Err(e) => return Err(RuleErrors(vec![error(dir, format!("cannot read: {e}"))])),
        };
        for language in languages {
            let lang = language.file_name().to_string_lossy().into_owned();
            let Ok(files) = std::fs::read_dir(language.path()) else {
                continue;
            };
            for file in files.filter_map(|e| e.ok()).map(|e| e.path()) {
                if file.extension().is_none_or(|x| x != "txt") {
                    continue;
                }
                let name = file
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if Reply::parse(&name).is_none() {
                    errors.push(error(
                        &file,
                        format!("`{name}` is not a reply the mailbox sends"),
                    ));
                    continue;
                }
                let text = match std::fs::read_to_string(&file) {
                    Ok(text) => text,
                    Err(e) => {
                        errors.push(error(&file, format!("cannot read: {e}")));
                        continue;
                    }
                };
                let Some((subject, body)) = split_template(&text) else {
                    errors.push(error(
                        &file,
                        "must start with a `subject:` line, then a `---` line".into(),
                    ));
                    continue;
                };
                for (part, source) in [("subject", subject), ("body", body)] {
                    if let Err(e) = tera.add_raw_template(&format!("{lang}/{name}.{part}"), source)
                    {
                        errors.push(error(&file, format!("{part}: {e}")));
                    }
                }
                let hash = Sha256::digest(text.as_bytes());
                let short: String = hash.iter().take(4).map(|b| format!("{b:02x}")).collect();
                versions.insert(format!("{lang}/{name}"), format!("{name}@{short}"));
            }
        }
        for reply in Reply::ALL {
            if !versions.contains_key(&format!("en/{}", reply.name())) {
                errors.push(error(
                    &dir.join("en"),
                    format!("no English template `{}.txt`", reply.name()),
                ));
            }
        }
        let templates = Templates {
            tera,
            versions,
            dir: dir.to_path_buf(),
        };
        if errors.is_empty() {
            errors.extend(templates.check_renders());
        }
        if errors.is_empty() {
            Ok(templates)
        } else {
            Err(RuleErrors(errors))
        }
    }

    /// Renders every template with a full example context: tera reports unknown variables
    /// at render time, and staff should hear about them from `rules check`, not from a worker.
    fn check_renders(&self) -> Vec<RuleError> {
        let mut errors = Vec::new();
        for key in self.versions.keys() {
            let (lang, name) = key.split_once('/').expect("keys are lang/name");
            let reply = Reply::parse(name).expect("checked at load");
            if let Err(e) = self.render(reply, lang, &ReplyContext::example()) {
                errors.push(RuleError {
                    path: self.dir.join(lang).join(format!("{name}.txt")),
                    line: 0,
                    reason: e.to_string(),
                });
            }
        }
        errors
    }

    pub fn has_language(&self, reply: Reply, lang: &str) -> bool {
        self.versions
            .contains_key(&format!("{lang}/{}", reply.name()))
    }

    pub fn render(
        &self,
        reply: Reply,
        lang: &str,
        context: &ReplyContext,
    ) -> anyhow::Result<Rendered> {
        let lang = if !reply.to_organisation() && self.has_language(reply, lang) {
            lang
        } else {
            "en"
        };
        let ctx = tera::Context::from_serialize(context)?;
        let render = |part: &str| {
            self.tera
                .render(&format!("{lang}/{}.{part}", reply.name()), &ctx)
        };
        let subject = render("subject")?
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let body = tidy(&render("body")?);
        let version = self.versions[&format!("{lang}/{}", reply.name())].clone();
        Ok(Rendered {
            subject,
            body,
            version,
            language: lang.to_string(),
        })
    }
}

fn split_template(text: &str) -> Option<(&str, &str)> {
    let (head, body) = text.split_once("\n---\n")?;
    let subject = head.trim().strip_prefix("subject:")?.trim();
    (!subject.is_empty()).then_some((subject, body.trim_start_matches('\n')))
}

/// At most one blank line in a row, and no trailing spaces: templates with optional
/// blocks leave gaps behind.
fn tidy(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut blank = 0;
    for line in body.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string() + "\n"
}

/// Everything a template may use. Every key is always present (null when unknown), so a
/// template can test `{% if worker.first_name %}`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReplyContext {
    pub mailbox: MailboxContext,
    pub case: CaseContext,
    pub worker: WorkerContext,
    pub ask: AskContext,
    pub consent_pending: bool,
    pub signposting: Vec<LinkContext>,
    pub urgent: Vec<String>,
    pub council: NameContext,
    pub region: NameContext,
    pub target: TargetContext,
    pub details: Vec<DetailContext>,
    pub notified: usize,
    pub erasure_requested: bool,
    pub worker_contacted: bool,
    pub close_after_days: u32,
    pub alert: AlertContext,
    /// What a member of staff wrote (StaffMessage).
    pub staff_text: String,
}

/// A staff alert about the mailbox itself.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AlertContext {
    pub title: String,
    pub detail: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct MailboxContext {
    pub name: String,
    pub address: String,
    pub region: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct CaseContext {
    pub reference: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct WorkerContext {
    pub first_name: Option<String>,
    pub name: Option<String>,
    pub email: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct AskContext {
    pub any: bool,
    pub location: bool,
    pub phone: bool,
    pub driving_licence: bool,
    pub car_access: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkContext {
    pub title: String,
    pub text: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct NameContext {
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct TargetContext {
    /// `council` or `region`.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DetailContext {
    pub label: String,
    pub value: String,
}

impl ReplyContext {
    /// A context with every field filled, to check that templates render.
    pub fn example() -> ReplyContext {
        ReplyContext {
            mailbox: MailboxContext {
                name: "Example Regional Support Mailbox".into(),
                address: "mailbox@example.org".into(),
                region: "West Midlands".into(),
            },
            case: CaseContext {
                reference: "RM-000001".into(),
            },
            worker: WorkerContext {
                first_name: Some("Sam".into()),
                name: Some("Sam Example".into()),
                email: Some("sam@example.com".into()),
            },
            ask: AskContext {
                any: true,
                location: true,
                phone: true,
                driving_licence: true,
                car_access: true,
            },
            consent_pending: true,
            signposting: vec![LinkContext {
                title: "Advice".into(),
                text: "0800 000 000".into(),
            }],
            urgent: vec!["Call 999.".into()],
            council: NameContext {
                name: "Coventry".into(),
            },
            region: NameContext {
                name: "North West".into(),
            },
            target: TargetContext {
                kind: "council".into(),
                name: "Coventry".into(),
            },
            details: vec![DetailContext {
                label: "Name".into(),
                value: "Sam Example".into(),
            }],
            notified: 1,
            erasure_requested: true,
            worker_contacted: true,
            close_after_days: 14,
            alert: AlertContext {
                title: "The inbox cannot be reached".into(),
                detail: "Login refused since 09:00.".into(),
            },
            staff_text: "Thank you for your message. I have called your council for you.".into(),
        }
    }
}

/// `Auto-Submitted` (RFC 3834 §5): replies the mailbox sends by itself say so, so that
/// other autoresponders do not answer them and loops cannot start.
#[derive(Debug, Clone)]
pub struct AutoSubmitted(pub &'static str);

impl Header for AutoSubmitted {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Auto-Submitted")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match s.trim() {
            "auto-replied" => Ok(AutoSubmitted("auto-replied")),
            "auto-generated" => Ok(AutoSubmitted("auto-generated")),
            "no" => Ok(AutoSubmitted("no")),
            other => Err(format!("unknown Auto-Submitted value {other}").into()),
        }
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.to_string())
    }
}

/// One message to send, fully decided.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    pub from_name: &'a str,
    pub from: &'a EmailAddress,
    pub to: &'a [EmailAddress],
    pub case: Option<&'a CaseRef>,
    pub message_id: &'a MessageId,
    pub in_reply_to: Option<&'a MessageId>,
    pub references: &'a [MessageId],
    /// `auto-replied` for replies to a person's mail, `auto-generated` for mail we start.
    pub auto_submitted: Option<&'static str>,
    pub date: chrono::DateTime<chrono::Utc>,
}

/// The exact bytes to send: RFC 5322, UTF-8 quoted-printable text, the case reference in
/// the subject (and nothing personal there), threading headers.
pub fn compose(envelope: &Envelope<'_>, rendered: &Rendered) -> anyhow::Result<Vec<u8>> {
    let subject = match envelope.case {
        Some(reference) => format!("[{reference}] {}", rendered.subject),
        None => rendered.subject.clone(),
    };
    // Header injection guard: templates are data, and data could carry a line break.
    let subject: String = subject
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let from = LettreMailbox::new(
        Some(envelope.from_name.to_string()),
        envelope.from.as_str().parse()?,
    );
    let mut builder = Message::builder()
        .from(from)
        .subject(subject)
        .message_id(Some(envelope.message_id.to_string()))
        .date(envelope.date.into())
        .header(ContentType::TEXT_PLAIN)
        .header(ContentTransferEncoding::QuotedPrintable);
    for to in envelope.to {
        builder = builder.to(LettreMailbox::new(None, to.as_str().parse()?));
    }
    if let Some(parent) = envelope.in_reply_to {
        builder = builder.in_reply_to(parent.to_string());
    }
    if !envelope.references.is_empty() {
        let chain: Vec<String> = envelope
            .references
            .iter()
            .map(|id| id.to_string())
            .collect();
        builder = builder.references(chain.join(" "));
    }
    if let Some(value) = envelope.auto_submitted {
        builder = builder.header(AutoSubmitted(value));
    }
    Ok(builder.body(rendered.body.clone())?.formatted())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates() -> Templates {
        Templates::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("templates"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_reply_has_an_english_template_that_renders() {
        let t = templates();
        for reply in Reply::ALL {
            let rendered = t.render(reply, "en", &ReplyContext::example()).unwrap();
            assert!(!rendered.subject.is_empty(), "{reply}");
            assert!(
                rendered.body.contains("Example Regional Support Mailbox"),
                "{reply}: {}",
                rendered.body
            );
            assert!(!rendered.body.contains("{{"), "{reply}");
            assert!(rendered.version.starts_with(reply.name()));
        }
    }

    #[test]
    fn the_consent_request_asks_only_for_what_is_missing() {
        let t = templates();
        let mut context = ReplyContext::example();
        context.ask = AskContext {
            any: true,
            phone: true,
            ..AskContext::default()
        };
        let body = t
            .render(Reply::ConsentRequest, "en", &context)
            .unwrap()
            .body;
        assert!(body.contains("reply to this email with YES if you consent"));
        assert!(body.contains("your phone number"));
        assert!(!body.contains("postcode (where you live now)"));
        assert!(!body.contains("\n\n\n"), "no runs of blank lines:\n{body}");
        context.ask = AskContext::default();
        let body = t
            .render(Reply::ConsentRequest, "en", &context)
            .unwrap()
            .body;
        assert!(!body.contains("It would also help us"));
    }

    #[test]
    fn a_language_without_a_translation_falls_back_to_english() {
        let t = templates();
        let rendered = t
            .render(Reply::Closing, "xx", &ReplyContext::example())
            .unwrap();
        assert_eq!(rendered.language, "en");
    }

    #[test]
    fn broken_templates_are_reported_with_their_file() {
        let dir = std::env::temp_dir().join(format!("rm-templates-{}", std::process::id()));
        let en = dir.join("en");
        std::fs::create_dir_all(&en).unwrap();
        for reply in Reply::ALL {
            std::fs::write(
                en.join(format!("{}.txt", reply.name())),
                "subject: Hi\n---\nHello {{ mailbox.name }}\n",
            )
            .unwrap();
        }
        std::fs::write(en.join("closing.txt"), "no subject line here").unwrap();
        std::fs::write(
            en.join("reminder.txt"),
            "subject: Hi\n---\n{{ no_such_variable }}\n",
        )
        .unwrap();
        std::fs::write(en.join("thank_you.txt"), "subject: Hi\n---\nHello\n").unwrap();
        let errors = Templates::load(&dir).unwrap_err().to_string();
        assert!(
            errors.contains("closing.txt") && errors.contains("subject:"),
            "{errors}"
        );
        assert!(errors.contains("thank_you.txt"), "{errors}");
        std::fs::write(en.join("closing.txt"), "subject: Hi\n---\nBye\n").unwrap();
        std::fs::remove_file(en.join("thank_you.txt")).unwrap();
        let errors = Templates::load(&dir).unwrap_err().to_string();
        assert!(errors.contains("reminder.txt"), "{errors}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn composed_mail_threads_carries_the_reference_and_auto_submitted() {
        let t = templates();
        let rendered = t
            .render(Reply::ConsentRequest, "en", &ReplyContext::example())
            .unwrap();
        let from = EmailAddress::parse("mailbox@example.org").unwrap();
        let to = [EmailAddress::parse("worker@example.com").unwrap()];
        let reference = CaseRef::new("RM", 41);
        let id = MessageId::parse("consent-RM-000041.7@example.org").unwrap();
        let parent = MessageId::parse("abc@mail.example.com").unwrap();
        let raw = compose(
            &Envelope {
                from_name: "Example Mailbox",
                from: &from,
                to: &to,
                case: Some(&reference),
                message_id: &id,
                in_reply_to: Some(&parent),
                references: std::slice::from_ref(&parent),
                auto_submitted: Some("auto-replied"),
                date: chrono::Utc::now(),
            },
            &rendered,
        )
        .unwrap();
        let email = crate::pipeline::parse::parse(&raw).unwrap();
        assert!(
            email.subject.starts_with("[RM-000041] Your email"),
            "{}",
            email.subject
        );
        assert_eq!(
            email.message_id.as_ref().unwrap().as_str(),
            "consent-RM-000041.7@example.org"
        );
        assert_eq!(email.in_reply_to[0].as_str(), "abc@mail.example.com");
        assert_eq!(email.header("Auto-Submitted"), Some("auto-replied"));
        assert!(email.body.contains("YES if you consent"));
    }
}
