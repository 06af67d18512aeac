//! Stage 1: raw RFC 5322 bytes → [`Email`]. Never panics and never fails silently:
//! input the MIME parser cannot read becomes a [`Quarantine`] with a reason.

use std::panic::{AssertUnwindSafe, catch_unwind};

use chrono::DateTime;
use mail_parser::{Message, MessageParser, MessagePart, MimeHeaders, PartType};

use crate::domain::{Attachment, Email, EmailAddress, Forwarded, Mailbox, MessageId};

/// Text longer than this (per part) is cut: triage needs the start of a message, and
/// a multi-megabyte text part must not stall the queue.
const MAX_TEXT_BYTES: usize = 256 * 1024;
/// Forwards inside forwards inside forwards: deeper levels are listed, not read.
const MAX_NESTING: usize = 3;

/// Why a message was put aside instead of triaged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quarantine {
    pub reason: String,
}

impl std::fmt::Display for Quarantine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

pub fn parse(raw: &[u8]) -> Result<Email, Quarantine> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(Quarantine {
            reason: "empty message".into(),
        });
    }
    let raw = with_line_feeds(raw);
    // mail-parser is fuzzed but still has known panics (#120, #145, #155).
    match catch_unwind(AssertUnwindSafe(|| parse_unguarded(&raw))) {
        Ok(result) => result,
        Err(panic) => Err(Quarantine {
            reason: format!("the MIME parser crashed: {}", panic_message(&panic)),
        }),
    }
}

/// Classic Mac files end lines with a bare CR, which MIME parsers do not read as line
/// ends. Only the copy being parsed is changed; the stored raw bytes stay as they came.
fn with_line_feeds(raw: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if raw.contains(&b'\n') || !raw.contains(&b'\r') {
        return std::borrow::Cow::Borrowed(raw);
    }
    let mut fixed = Vec::with_capacity(raw.len() + raw.len() / 40);
    for &byte in raw {
        fixed.push(byte);
        if byte == b'\r' {
            fixed.push(b'\n');
        }
    }
    std::borrow::Cow::Owned(fixed)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}

fn parse_unguarded(raw: &[u8]) -> Result<Email, Quarantine> {
    let message = MessageParser::default()
        .parse(raw)
        .ok_or_else(|| Quarantine {
            reason: "no RFC 5322 header block found".into(),
        })?;
    if !has_known_header(&message) {
        return Err(Quarantine {
            reason: "no RFC 5322 headers found (From, To, Subject, Date, Message-ID, ...)".into(),
        });
    }
    Ok(convert(&message, 0))
}

fn has_known_header(message: &Message<'_>) -> bool {
    const KNOWN: [&str; 10] = [
        "from",
        "to",
        "subject",
        "date",
        "message-id",
        "received",
        "content-type",
        "mime-version",
        "return-path",
        "sender",
    ];
    message
        .headers_raw()
        .any(|(name, _)| KNOWN.iter().any(|known| name.eq_ignore_ascii_case(known)))
}

fn convert(message: &Message<'_>, depth: usize) -> Email {
    let raw_header = |name: &str| message.header_raw(name).map(unfold);
    let content_type = message.root_part().content_type();
    let mime_type = content_type
        .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
        .unwrap_or_else(|| "text/plain".into());
    let report_type = content_type
        .and_then(|ct| ct.attribute("report-type"))
        .map(|v| v.to_ascii_lowercase());

    let mut email = Email {
        message_id: message.message_id().and_then(MessageId::parse),
        from: message.from().and_then(|a| a.first()).and_then(mailbox),
        from_name: message
            .from()
            .and_then(|a| a.first())
            .and_then(|addr| addr.name())
            .map(|n| n.trim().trim_matches('"').trim().to_string())
            .filter(|n| !n.is_empty()),
        reply_to: message
            .reply_to()
            .and_then(|a| a.first())
            .and_then(|addr| addr.address())
            .and_then(EmailAddress::parse),
        to: addresses(message.to()),
        cc: addresses(message.cc()),
        subject: message.subject().map(unfold).unwrap_or_default(),
        date: message
            .date()
            .and_then(|d| DateTime::from_timestamp(d.to_timestamp(), 0)),
        in_reply_to: raw_header("In-Reply-To")
            .map(|v| message_ids(&v))
            .unwrap_or_default(),
        references: raw_header("References")
            .map(|v| message_ids(&v))
            .unwrap_or_default(),
        return_path: raw_header("Return-Path").map(|v| {
            v.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .trim()
                .to_string()
        }),
        automation_headers: automation_headers(message),
        mime_type,
        report_type,
        ..Email::default()
    };

    read_body(message, &mut email);
    read_attachments(message, depth, &mut email);
    email
}

fn unfold(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn mailbox(addr: &mail_parser::Addr<'_>) -> Option<Mailbox> {
    let address = EmailAddress::parse(addr.address()?)?;
    let name = addr
        .name()
        .map(|n| n.trim().trim_matches('"').trim().to_string())
        .filter(|n| !n.is_empty());
    Some(Mailbox { name, address })
}

fn addresses(address: Option<&mail_parser::Address<'_>>) -> Vec<EmailAddress> {
    address
        .map(|a| {
            a.iter()
                .filter_map(|addr| addr.address().and_then(EmailAddress::parse))
                .collect()
        })
        .unwrap_or_default()
}

fn message_ids(raw: &str) -> Vec<MessageId> {
    let bracketed: Vec<MessageId> = raw
        .split('<')
        .skip(1)
        .filter_map(|rest| rest.split('>').next())
        .filter_map(MessageId::parse)
        .collect();
    if bracketed.is_empty() {
        raw.split_whitespace()
            .filter(|t| t.contains('@'))
            .filter_map(MessageId::parse)
            .collect()
    } else {
        bracketed
    }
}

/// The headers RFC 3834, RFC 2369 and common autoresponders use to mark automatic mail.
fn automation_headers(message: &Message<'_>) -> Vec<(String, String)> {
    const NAMES: [&str; 8] = [
        "auto-submitted",
        "precedence",
        "x-auto-response-suppress",
        "x-autoreply",
        "x-autorespond",
        "x-autogenerated",
        "x-failed-recipients",
        "x-loop",
    ];
    message
        .headers_raw()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            NAMES.contains(&name.as_str()) || name.starts_with("list-")
        })
        .map(|(name, value)| (name.to_ascii_lowercase(), unfold(value)))
        .collect()
}

fn read_body(message: &Message<'_>, email: &mut Email) {
    let mut plain = Vec::new();
    let mut html = Vec::new();
    for part in message.text_bodies() {
        match &part.body {
            PartType::Text(text) => plain.push(cap(text).to_string()),
            PartType::Html(markup) => html.push(html_to_text(cap(markup))),
            _ => {}
        }
        note_encoding_problem(part, email);
    }
    // Some mailers send an empty text/plain alternative beside the real HTML.
    let plain_is_empty = plain.iter().all(|t| t.trim().is_empty());
    if plain_is_empty {
        for part in message.html_bodies() {
            if let PartType::Html(markup) = &part.body
                && html.is_empty()
            {
                html.push(html_to_text(cap(markup)));
            }
        }
    }
    if !plain_is_empty {
        email.body = plain.join("\n\n");
    } else if !html.is_empty() {
        email.body = html.join("\n\n");
        email.body_was_html = true;
    }
}

fn read_attachments(message: &Message<'_>, depth: usize, email: &mut Email) {
    for part in message.attachments() {
        let mime_type = part
            .content_type()
            .map(|ct| format!("{}/{}", ct.ctype(), ct.subtype().unwrap_or("")).to_ascii_lowercase())
            .unwrap_or_else(|| "application/octet-stream".into());
        let text = match &part.body {
            PartType::Text(text) => Some(cap(text).to_string()),
            PartType::Html(markup) => Some(html_to_text(cap(markup))),
            PartType::Binary(bytes) | PartType::InlineBinary(bytes)
                if mime_type.starts_with("text/") || mime_type.starts_with("message/") =>
            {
                Some(
                    String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_TEXT_BYTES)]).into_owned(),
                )
            }
            _ => None,
        };
        let report_part =
            mime_type.ends_with("delivery-status") || mime_type.ends_with("feedback-report");
        if report_part && email.delivery_status.is_none() {
            email.delivery_status = text.clone();
        }
        if mime_type == "text/rfc822-headers"
            && let Some(text) = &text
        {
            email.returned_ids.extend(message_ids_in_headers(text));
        }
        if let PartType::Message(nested) = &part.body {
            if depth < MAX_NESTING {
                let inner = convert(nested, depth + 1);
                email.returned_ids.extend(inner.message_id.clone());
                email.forwarded.push(Forwarded {
                    from: inner.from,
                    subject: inner.subject,
                    body: inner.body,
                });
            } else {
                email
                    .problems
                    .push("forwarded message nested too deeply: listed, not read".into());
            }
        }
        note_encoding_problem(part, email);
        email.attachments.push(Attachment {
            name: part.attachment_name().map(str::to_string),
            mime_type,
            size: part.len(),
            text,
        });
    }
}

/// `Message-ID:` lines of a header block (RFC 6522 `text/rfc822-headers`).
fn message_ids_in_headers(text: &str) -> Vec<MessageId> {
    text.lines()
        .take_while(|line| !line.trim().is_empty())
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.trim()
                .eq_ignore_ascii_case("message-id")
                .then(|| MessageId::parse(value))
                .flatten()
        })
        .collect()
}

fn note_encoding_problem(part: &MessagePart<'_>, email: &mut Email) {
    if part.is_encoding_problem {
        email
            .problems
            .push("a part could not be decoded as declared; decoded best effort".into());
    }
}

fn cap(text: &str) -> &str {
    if text.len() <= MAX_TEXT_BYTES {
        return text;
    }
    let mut end = MAX_TEXT_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// HTML to plain text with a real HTML parser (html2text): block elements become lines,
/// `<blockquote>` becomes `> ` lines, entities are decoded. No wrapping: lines stay sentences.
pub fn html_to_text(markup: &str) -> String {
    html2text::config::plain_no_decorate()
        .string_from_read(markup.as_bytes(), 100_000)
        .unwrap_or_else(|_| strip_tags(markup))
}

/// Last resort when the HTML parser gives up: drop tags, keep text.
fn strip_tags(markup: &str) -> String {
    let mut text = String::with_capacity(markup.len());
    let mut in_tag = false;
    for c in markup.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(raw: &str) -> Email {
        parse(raw.as_bytes()).expect("parses")
    }

    #[test]
    fn headers_become_domain_values() {
        let e = email(concat!(
            "From: Priya Nair <priyanair@Gmail.com>\r\n",
            "To: regional.mailbox@wmca.example.org\r\n",
            "Subject: Re: [RM-000041] consent\r\n",
            "Message-ID: <abc@mail.gmail.com>\r\n",
            "In-Reply-To: <consent-RM-000041@wmca.example.org>\r\n",
            "References: <a@b.c> <consent-RM-000041@wmca.example.org>\r\n",
            "Date: Mon, 4 Nov 2024 09:12:42 +0000\r\n",
            "Return-Path: <>\r\n",
            "Auto-Submitted: auto-replied\r\n",
            "\r\n",
            "YES\r\n"
        ));
        assert_eq!(e.sender().unwrap().as_str(), "priyanair@gmail.com");
        assert_eq!(e.sender_name(), Some("Priya Nair"));
        assert_eq!(
            e.in_reply_to[0].as_str(),
            "consent-RM-000041@wmca.example.org"
        );
        assert_eq!(e.references.len(), 2);
        assert_eq!(e.return_path.as_deref(), Some(""));
        assert_eq!(e.header("Auto-Submitted"), Some("auto-replied"));
        assert_eq!(e.date.unwrap().to_rfc3339(), "2024-11-04T09:12:42+00:00");
        assert_eq!(e.body.trim(), "YES");
    }

    #[test]
    fn html_only_mail_is_read_as_text() {
        let e = email(concat!(
            "From: a@example.org\r\nContent-Type: text/html; charset=utf-8\r\n\r\n",
            "<div>I live in <b>Bilston</b>.</div><div>Call&nbsp;me</div>",
            "<blockquote>quoted words</blockquote>"
        ));
        assert!(e.body_was_html);
        assert!(e.body.contains("I live in Bilston."), "{}", e.body);
        assert!(e.body.contains("> quoted words"), "{}", e.body);
    }

    #[test]
    fn a_bounce_carries_back_the_message_id_it_is_about() {
        let raw = "From: MAILER-DAEMON@mx.example.com\r\nSubject: Undelivered\r\n\
            Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nNot delivered.\r\n\
            --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.com\r\n\r\nAction: failed\r\n\
            --b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: a@example.org\r\nMessage-ID: <consent-RM-000001.1@example.org>\r\n\
            --b--\r\n";
        let e = parse(raw.as_bytes()).unwrap();
        let ids: Vec<&str> = e.returned_ids.iter().map(MessageId::as_str).collect();
        assert_eq!(ids, ["consent-RM-000001.1@example.org"]);
    }

    #[test]
    fn forwarded_messages_and_attachments_are_kept_apart_from_the_body() {
        let e = email(concat!(
            "From: w@example.org\r\nContent-Type: multipart/mixed; boundary=X\r\n\r\n",
            "--X\r\nContent-Type: text/plain\r\n\r\nSee attached.\r\n",
            "--X\r\nContent-Type: message/rfc822\r\n\r\n",
            "From: UKVI <noreply@homeoffice.example.gov.uk>\r\nSubject: Notice\r\n\r\nSponsor in WV1 4RX.\r\n",
            "--X\r\nContent-Type: application/pdf; name=letter.pdf\r\nContent-Disposition: attachment; filename=letter.pdf\r\n\r\n%PDF\r\n",
            "--X--\r\n"
        ));
        assert_eq!(e.body.trim(), "See attached.");
        assert_eq!(e.forwarded.len(), 1);
        assert_eq!(e.forwarded[0].subject, "Notice");
        assert!(e.forwarded[0].body.contains("WV1 4RX"));
        assert!(
            e.attachments
                .iter()
                .any(|a| a.name.as_deref() == Some("letter.pdf") && a.text.is_none())
        );
    }

    #[test]
    fn classic_mac_line_endings_are_read() {
        let e = email(
            "From: a@example.org\rSubject: Mail delivery failed\r\rThe message could not be delivered.\r",
        );
        assert_eq!(e.subject, "Mail delivery failed");
        assert!(e.body.contains("could not be delivered"));
    }

    #[test]
    fn inputs_that_crash_the_mime_parser_come_back_as_results() {
        // Found by cargo fuzz: mail-parser panics "Invalid part ID" on it in debug builds.
        let raw = include_bytes!("../../tests/fixtures/fuzz/mail-parser-invalid-part-id.eml");
        match parse(raw) {
            Ok(_) => {}
            Err(quarantine) => assert!(!quarantine.reason.is_empty()),
        }
    }

    #[test]
    fn unreadable_input_is_quarantined_with_a_reason() {
        assert!(parse(b"").unwrap_err().reason.contains("empty"));
        assert!(parse(b"   \n\n").is_err());
        let binary: Vec<u8> = (0..200u8).map(|b| b.wrapping_mul(37)).collect();
        let result = parse(&binary);
        assert!(result.is_err(), "binary noise has no RFC 5322 headers");
    }
}
