//! One inbound email after MIME parsing: the headers that matter, the readable body,
//! attachments and forwarded messages. Built by `pipeline::parse`; no parser types leak out.

use chrono::{DateTime, Utc};

use super::{EmailAddress, MessageId};

#[derive(Debug, Clone, Default)]
pub struct Email {
    pub message_id: Option<MessageId>,
    pub from: Option<Mailbox>,
    /// The display name of From, kept even when the address is unusable (`MAILER-DAEMON <>`).
    pub from_name: Option<String>,
    pub reply_to: Option<EmailAddress>,
    pub to: Vec<EmailAddress>,
    pub cc: Vec<EmailAddress>,
    pub subject: String,
    pub date: Option<DateTime<Utc>>,
    pub in_reply_to: Vec<MessageId>,
    pub references: Vec<MessageId>,
    /// `Some("")` for the null reverse-path `<>` of bounces and autoresponders.
    pub return_path: Option<String>,
    /// Headers that mark automatic mail (RFC 3834, RFC 2369, RFC 2076), names lower-cased.
    pub automation_headers: Vec<(String, String)>,
    /// Top-level MIME type, e.g. `multipart/report`.
    pub mime_type: String,
    /// `report-type` of a multipart/report (RFC 6522), e.g. `delivery-status`.
    pub report_type: Option<String>,
    /// The readable body: text/plain when there is one, else HTML turned into text.
    pub body: String,
    pub body_was_html: bool,
    pub attachments: Vec<Attachment>,
    /// Messages attached as `message/rfc822` (forwards, returned originals).
    pub forwarded: Vec<Forwarded>,
    /// Message-IDs of messages this one carries back: a bounce's returned headers
    /// (`text/rfc822-headers`) or attached messages. Finds the email a bounce is about.
    pub returned_ids: Vec<MessageId>,
    /// The machine-readable part of a delivery status notification (RFC 3464) or an abuse
    /// feedback report (RFC 5965).
    pub delivery_status: Option<String>,
    /// Non-fatal problems met while decoding (bad charset, broken part).
    pub problems: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mailbox {
    pub name: Option<String>,
    pub address: EmailAddress,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: Option<String>,
    pub mime_type: String,
    pub size: usize,
    /// Decoded text of text attachments; other kinds are only listed.
    pub text: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forwarded {
    pub from: Option<Mailbox>,
    pub subject: String,
    pub body: String,
}

impl Email {
    pub fn sender(&self) -> Option<&EmailAddress> {
        self.from.as_ref().map(|mailbox| &mailbox.address)
    }

    pub fn sender_name(&self) -> Option<&str> {
        self.from
            .as_ref()
            .and_then(|mailbox| mailbox.name.as_deref())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.automation_headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}
