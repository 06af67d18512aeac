//! Stage 2: splits a body into the writer's own words, quoted context and signature.
//! Recognises `>` quotes (with answers typed between quoted lines), "On … wrote:"
//! attributions, Outlook "From:/Sent:/To:/Subject:" blocks, forward and original-message
//! separators, `-- ` signatures, sign-offs and "Sent from my phone" footers.
//! It only labels text; deciding what quoted text means is the extractors' job.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::EmailAddress;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The writer's own words.
    Own,
    /// Earlier messages quoted or forwarded below (or between) the writer's words.
    Quoted,
    /// Sign-off, name, contact lines and mobile footers.
    Signature,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    pub role: Role,
    pub text: String,
    /// For own words typed between quoted lines: the quoted line just above, usually the
    /// question being answered.
    pub answers: Option<String>,
    /// For quoted text under a header ("On … wrote:", "From: … Subject: …"): who wrote it.
    pub header: Option<QuoteHeader>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuoteHeader {
    pub author: Option<String>,
    pub address: Option<EmailAddress>,
    pub subject: Option<String>,
    /// A "Forwarded message" block rather than a reply quote.
    pub forwarded: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Split {
    pub blocks: Vec<Block>,
}

impl Split {
    pub fn text_of(&self, role: Role) -> String {
        let parts: Vec<&str> = self
            .blocks
            .iter()
            .filter(|b| b.role == role)
            .map(|b| b.text.as_str())
            .collect();
        parts.join("\n")
    }

    pub fn own_text(&self) -> String {
        self.text_of(Role::Own)
    }

    pub fn quoted_text(&self) -> String {
        self.text_of(Role::Quoted)
    }

    pub fn signature_text(&self) -> String {
        self.text_of(Role::Signature)
    }

    pub fn has_quote(&self) -> bool {
        self.blocks
            .iter()
            .any(|b| b.role == Role::Quoted && !b.text.trim().is_empty())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum QuoteStyle {
    /// `>` prefixed: unprefixed lines in between are the writer's answers.
    Prefixed,
    /// Everything below the header is the earlier message.
    Whole,
}

static ATTRIBUTION_START: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(on|le|am|el|em|il|op|w dniu|den|pada|noong|ní)\s").expect("valid")
});
static ATTRIBUTION_END: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(wrote|writes|a écrit|schrieb|escribió|escreveu|ha scritto|schreef|napisał|skrev|menulis|sumulat)\s*:\s*$")
        .expect("valid")
});
static HEADER_FROM: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(from|de|von|van|da|från|fra|od|mula kay)\s*:\*?\s*(.+)$")
        .expect("valid")
});
static HEADER_SENT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(sent|date|envoyé|gesendet|enviado|enviada|data|verzonden|skickat|sendt|datum|inviato|petsa)\s*:").expect("valid")
});
static HEADER_TO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(to|à|a|an|para|aan|till|til|do|cc|kay)\s*:").expect("valid")
});
static HEADER_SUBJECT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*\*?(subject|objet|betreff|asunto|assunto|oggetto|onderwerp|ämne|emne|temat|paksa)\s*:\*?\s*(.*)$")
        .expect("valid")
});
static SEPARATOR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(-{2,}\s*(original message|forwarded message|oorspronkelijk bericht|message d'origine|message transféré|ursprüngliche nachricht|weitergeleitete nachricht|mensaje original|mensaje reenviado|mensagem original|mensagem encaminhada)\s*-{2,}|begin forwarded message\s*:|forwarded message\s*:)\s*$",
    )
    .expect("valid")
});
static RULE_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[-_=─━—]{8,}\s*$").expect("valid"));
static MOBILE_FOOTER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(sent (from|with|via) (my )?\S.{0,40}|get outlook for \w+|sent from (yahoo )?mail( for| on) \w+.*|sent from outlook.*|enviado (desde|do) (mi|meu) .{0,30}|envoyé de mon .{0,30})\s*$",
    )
    .expect("valid")
});
static SIGN_OFF: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(kind(est)? regards|best regards|warm(est)? regards|regards|best wishes|many thanks|thanks( again| so much)?|thank you( very much| so much)?|yours (faithfully|sincerely|truly)|sincerely|cheers|god bless( you)?|respectfully|best|with thanks|salamat po|obrigad[oa]|dhanyavaad|धन्यवाद|ẹ ṣé|ndatenda|asante)[\s,.!]*$",
    )
    .expect("valid")
});
static CONTACT_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(\b(lead|manager|officer|adviser|advisor|coordinator|co-ordinator|director|assistant|administrator|team|council|ltd|limited|plc|services|hub|trust|nhs|charity|fellowship|church|ministry|department|adult social care|international recruitment|tel|mob|mobile|phone|fax|email|e-mail)\b|^(t|m|e|w|tel|mob)\s*:|www\.|https?://|@|\d{3,5}[\s-]?\d{3}[\s-]?\d{3,4}|\b[a-z]{1,2}\d[a-z\d]?\s*\d[a-z]{2}\b|\|)",
    )
    .expect("valid")
});
static NAME_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[A-Z][\p{L}'\-.]+( [A-Z][\p{L}'\-.]+){0,3},?$").expect("valid"));
static FIRST_PERSON: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(i|my|me|i'm|im|we|our|us)\b").expect("valid"));
static ADDRESS_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"[A-Za-z0-9._%+\-']+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}").expect("valid")
});

pub fn split(body: &str) -> Split {
    let lines: Vec<&str> = body.lines().collect();
    let mut builder = Builder::default();
    let mut style: Option<QuoteStyle> = None;
    let mut in_signature = false;
    let mut last_quoted_line: Option<String> = None;
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if style == Some(QuoteStyle::Whole) {
            builder.push(Role::Quoted, line);
            i += 1;
            continue;
        }
        if is_prefixed(line) {
            let content = strip_prefix(line);
            if !content.trim().is_empty() {
                last_quoted_line = Some(content.trim().to_string());
            }
            builder.push(Role::Quoted, content);
            i += 1;
            continue;
        }
        if let Some((header, consumed)) = quote_header(&lines, i) {
            let rest = &lines[(i + consumed).min(lines.len())..];
            let next_style = if is_prefixed_section(rest) {
                QuoteStyle::Prefixed
            } else {
                QuoteStyle::Whole
            };
            builder.start_quote(header);
            style = Some(next_style);
            in_signature = false;
            i += consumed;
            continue;
        }
        if RULE_LINE.is_match(line) {
            i += 1;
            continue;
        }
        if MOBILE_FOOTER.is_match(line) {
            builder.push(Role::Signature, line);
            builder.close();
            i += 1;
            continue;
        }
        if line.trim_end() == "--" || line == "-- " {
            in_signature = true;
            builder.close();
            i += 1;
            continue;
        }
        let role = if in_signature {
            Role::Signature
        } else {
            Role::Own
        };
        if role == Role::Own && style == Some(QuoteStyle::Prefixed) && !line.trim().is_empty() {
            builder.push_answer(line, last_quoted_line.clone());
        } else {
            builder.push(role, line);
        }
        i += 1;
    }
    let mut split = builder.finish();
    mark_sign_off(&mut split);
    split
}

fn is_prefixed(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

fn strip_prefix(line: &str) -> &str {
    let mut rest = line.trim_start();
    while let Some(stripped) = rest.strip_prefix('>') {
        rest = stripped.strip_prefix(' ').unwrap_or(stripped);
    }
    rest
}

fn is_prefixed_section(rest: &[&str]) -> bool {
    let sample: Vec<&&str> = rest
        .iter()
        .filter(|l| !l.trim().is_empty())
        .take(6)
        .collect();
    !sample.is_empty() && sample.iter().filter(|l| is_prefixed(l)).count() * 2 > sample.len()
}

/// Recognises the start of a quoted or forwarded message at line `i`; returns its header
/// and how many lines it spans.
fn quote_header(lines: &[&str], i: usize) -> Option<(QuoteHeader, usize)> {
    let line = lines[i];
    if SEPARATOR.is_match(line) {
        let forwarded = line.to_lowercase().contains("forward");
        let (mut header, consumed) = header_block(lines, i + 1).unwrap_or_default();
        header.forwarded = forwarded;
        return Some((header, 1 + consumed));
    }
    if let Some(found) = header_block(lines, i) {
        return Some(found);
    }
    if ATTRIBUTION_START.is_match(line) {
        // Gmail wraps long attributions: "On Wed, … Mailbox <\naddress> wrote:".
        let mut joined = String::new();
        for (offset, next) in lines[i..].iter().take(3).enumerate() {
            if offset > 0 && next.trim().is_empty() {
                break;
            }
            joined.push_str(next.trim());
            joined.push(' ');
            if ATTRIBUTION_END.is_match(joined.trim_end()) {
                let header = QuoteHeader {
                    author: Some(joined.trim().to_string()),
                    address: ADDRESS_IN_TEXT
                        .find(&joined)
                        .and_then(|m| EmailAddress::parse(m.as_str())),
                    subject: None,
                    forwarded: false,
                };
                return Some((header, offset + 1));
            }
        }
    }
    None
}

/// An Outlook-style header block: `From:` then, within a few lines, `Sent:`/`Date:` and
/// `To:` or `Subject:`.
fn header_block(lines: &[&str], start: usize) -> Option<(QuoteHeader, usize)> {
    let first = (start..lines.len()).find(|&j| !lines[j].trim().is_empty())?;
    let from = HEADER_FROM.captures(lines[first])?;
    let author = from.get(2).map(|m| m.as_str().trim().to_string());
    let mut saw_sent = false;
    let mut saw_to_or_subject = false;
    let mut subject = None;
    let mut end = first + 1;
    for (j, line) in lines.iter().enumerate().skip(first + 1).take(8) {
        if line.trim().is_empty() {
            if saw_sent || saw_to_or_subject {
                break;
            }
            continue;
        }
        if HEADER_SENT.is_match(line) {
            saw_sent = true;
        } else if let Some(caps) = HEADER_SUBJECT.captures(line) {
            saw_to_or_subject = true;
            subject = caps.get(2).map(|m| m.as_str().trim().to_string());
        } else if HEADER_TO.is_match(line) {
            saw_to_or_subject = true;
        } else {
            break;
        }
        end = j + 1;
    }
    if !(saw_sent && saw_to_or_subject) {
        return None;
    }
    let address = author
        .as_deref()
        .and_then(|a| ADDRESS_IN_TEXT.find(a))
        .and_then(|m| EmailAddress::parse(m.as_str()));
    let forwarded = subject.as_deref().is_some_and(|s| {
        let s = s.to_lowercase();
        s.starts_with("fw") || s.starts_with("fwd")
    });
    Some((
        QuoteHeader {
            author,
            address,
            subject,
            forwarded,
        },
        end - start,
    ))
}

/// A sign-off line near the end of the writer's own words ("Kind regards"), followed by a
/// few short lines (name, job title, phone).
fn sign_off_line(lines: &[&str]) -> Option<usize> {
    let at = lines.iter().rposition(|l| SIGN_OFF.is_match(l))?;
    let after: Vec<&&str> = lines[at + 1..]
        .iter()
        .filter(|l| !l.trim().is_empty())
        .collect();
    (after.len() <= 7 && after.iter().all(|l| l.chars().count() <= 90)).then_some(at)
}

/// Without a sign-off: trailing contact lines (job title, organisation, phone, address),
/// with the name lines just above them.
fn contact_block(lines: &[&str]) -> Option<usize> {
    let mut start = None;
    let mut contact_lines = 0;
    for (i, line) in lines.iter().enumerate().rev() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let first_person = FIRST_PERSON.is_match(trimmed);
        if !first_person && trimmed.chars().count() <= 70 && CONTACT_LINE.is_match(trimmed) {
            contact_lines += 1;
            start = Some(i);
        } else if NAME_LINE.is_match(trimmed) && contact_lines > 0 {
            start = Some(i);
        } else {
            break;
        }
    }
    start.filter(|_| contact_lines >= 2)
}

/// The writer's signature: sign-off and contact lines become a separate block.
fn mark_sign_off(split: &mut Split) {
    let Some(index) = split
        .blocks
        .iter()
        .position(|b| b.role == Role::Own && b.answers.is_none())
    else {
        return;
    };
    let block = &split.blocks[index];
    let lines: Vec<&str> = block.text.lines().collect();
    let Some(at) = sign_off_line(&lines).or_else(|| contact_block(&lines)) else {
        return;
    };
    let has_words_before = lines[..at].iter().any(|l| !l.trim().is_empty());
    if !has_words_before {
        return;
    }
    let own = lines[..at].join("\n");
    let signature = lines[at..].join("\n");
    let header = block.header.clone();
    split.blocks[index] = Block {
        role: Role::Own,
        text: own,
        answers: None,
        header,
    };
    split.blocks.insert(
        index + 1,
        Block {
            role: Role::Signature,
            text: signature,
            answers: None,
            header: None,
        },
    );
}

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    pending_header: Option<QuoteHeader>,
}

impl Builder {
    fn push(&mut self, role: Role, line: &str) {
        if let Some(last) = self.blocks.last_mut()
            && last.role == role
            && last.answers.is_none()
            && self.pending_header.is_none()
        {
            last.text.push('\n');
            last.text.push_str(line);
            return;
        }
        if line.trim().is_empty() && role != Role::Quoted {
            return;
        }
        let header = if role == Role::Quoted {
            self.pending_header.take()
        } else {
            None
        };
        self.blocks.push(Block {
            role,
            text: line.to_string(),
            answers: None,
            header,
        });
    }

    fn push_answer(&mut self, line: &str, answers: Option<String>) {
        if let Some(last) = self.blocks.last_mut()
            && last.role == Role::Own
            && last.answers.is_some()
            && last.answers == answers
        {
            last.text.push('\n');
            last.text.push_str(line);
            return;
        }
        self.blocks.push(Block {
            role: Role::Own,
            text: line.to_string(),
            answers,
            header: None,
        });
    }

    fn start_quote(&mut self, header: QuoteHeader) {
        self.pending_header = Some(header);
        self.close();
    }

    /// The next line starts a new block.
    fn close(&mut self) {
        self.blocks.push(Block {
            role: Role::Signature,
            text: String::new(),
            answers: None,
            header: None,
        });
    }

    fn finish(mut self) -> Split {
        if let Some(header) = self.pending_header.take() {
            self.blocks.push(Block {
                role: Role::Quoted,
                text: String::new(),
                answers: None,
                header: Some(header),
            });
        }
        let blocks = self
            .blocks
            .into_iter()
            .filter(|b| !b.text.trim().is_empty() || b.header.is_some())
            .map(|mut b| {
                b.text = b.text.trim_matches('\n').to_string();
                b
            })
            .collect();
        Split { blocks }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(split: &Split) -> Vec<(Role, String)> {
        split
            .blocks
            .iter()
            .map(|b| (b.role, b.text.trim().to_string()))
            .collect()
    }

    #[test]
    fn gmail_replies_keep_only_the_answer_as_own_words() {
        let split = split(
            "YES\n\nOn Wed, 6 Nov 2024 at 15:48, West Midlands Regional Support Mailbox <\nregional.mailbox@wmca.example.org> wrote:\n\n> Dear Anjali,\n>\n> Please reply YES\n",
        );
        assert_eq!(split.own_text().trim(), "YES");
        assert!(split.quoted_text().contains("Please reply YES"));
        let header = split.blocks.iter().find_map(|b| b.header.clone()).unwrap();
        assert_eq!(
            header.address.unwrap().as_str(),
            "regional.mailbox@wmca.example.org"
        );
    }

    #[test]
    fn answers_typed_between_quoted_questions_remember_the_question() {
        let split = split(
            "YES I consent\n\nOn Tue, 17 Dec 2024 at 09:14, Mailbox <m@example.org> wrote:\n\n> 1. Your full postcode\nDY4 7QJ\n> 2. Do you have a full UK driving licence?\nNo only Nigerian\n> Kind regards\n",
        );
        let answers: Vec<(String, Option<String>)> = split
            .blocks
            .iter()
            .filter(|b| b.role == Role::Own)
            .map(|b| (b.text.clone(), b.answers.clone()))
            .collect();
        assert_eq!(answers[0], ("YES I consent".into(), None));
        assert_eq!(
            answers[1],
            ("DY4 7QJ".into(), Some("1. Your full postcode".into()))
        );
        assert_eq!(
            answers[2],
            (
                "No only Nigerian".into(),
                Some("2. Do you have a full UK driving licence?".into())
            )
        );
    }

    #[test]
    fn outlook_header_blocks_quote_everything_below_them() {
        let split = split(
            "Yes I agree.\n\nRutendo\n\n________________________________\nFrom: Mailbox <m@example.org>\nSent: 08 November 2024 08:24\nTo: Rutendo <r@example.org>\nSubject: [RM-000051] consent needed\n\nDear Rutendo,\nPostcode please\n",
        );
        assert_eq!(split.own_text().trim(), "Yes I agree.\n\nRutendo");
        assert!(split.quoted_text().contains("Postcode please"));
        let header = split.blocks.iter().find_map(|b| b.header.clone()).unwrap();
        assert_eq!(
            header.subject.as_deref(),
            Some("[RM-000051] consent needed")
        );
        assert!(!header.forwarded);
    }

    #[test]
    fn forwarded_messages_are_quoted_with_their_author() {
        let split = split(
            "Please see below.\n\n---------- Forwarded message ---------\nFrom: UK Visas and Immigration <ukvi@homeoffice.example.gov.uk>\nDate: Mon, 4 Nov 2024 at 16:20\nSubject: Important information\nTo: <w@example.org>\n\nDear Chinedu,\nSponsor in Dudley DY1 4QT.\n",
        );
        assert_eq!(split.own_text().trim(), "Please see below.");
        let quoted = split
            .blocks
            .iter()
            .find(|b| b.role == Role::Quoted)
            .unwrap();
        assert!(quoted.text.contains("DY1 4QT"));
        assert!(quoted.header.as_ref().unwrap().forwarded);
    }

    #[test]
    fn yahoo_and_samsung_quotes_without_markers_are_quoted() {
        let yahoo = split(
            "Yes please.\n\n   On Tuesday, 26 November 2024 at 11:00:47 GMT, Mailbox <m@example.org> wrote:  \n\n Dear Blessing,\n Please reply YES\n",
        );
        assert_eq!(yahoo.own_text().trim(), "Yes please.");
        let samsung = split(
            "I consent\nI live in Shrewsbury\n\n\nSent from my Galaxy\n\n\n-------- Original message --------\nFrom: Mailbox <m@example.org>\nDate: 27/01/2025 10:26 (GMT+00:00)\nTo: Gift <g@example.org>\nSubject: consent needed\n\nDear Gift,\n",
        );
        assert_eq!(samsung.own_text().trim(), "I consent\nI live in Shrewsbury");
        assert!(samsung.signature_text().contains("Sent from my Galaxy"));
        assert!(samsung.quoted_text().contains("Dear Gift"));
    }

    #[test]
    fn sign_offs_start_the_signature_only_near_the_end() {
        let split = split(
            "I live in Cannock, WS11.\n\nKind regards,\n\nFaith Mupfumi\nSenior Carer | Bright Futures Care Ltd | Walsall WS4 2AB\nMob: 07700 900 455\n",
        );
        assert_eq!(split.own_text().trim(), "I live in Cannock, WS11.");
        assert!(split.signature_text().contains("WS4 2AB"));
        let long = split_roles(
            "Thanks\nfor your email. I want to tell you a long story about my job that goes on for many many words and more words still so it is not a signature at all.\n",
        );
        assert_eq!(long[0].0, Role::Own);
    }

    fn split_roles(body: &str) -> Vec<(Role, String)> {
        roles(&split(body))
    }

    #[test]
    fn trailing_contact_lines_are_a_signature_without_a_sign_off() {
        let split = split(
            "Mr Chidziva started with Greenacres on Monday.\n\nRebecca\n\nRebecca Lane\nInternational Recruitment Lead\nWorcestershire County Council\nTel: 01632 960 522\n",
        );
        assert_eq!(
            split.own_text().trim(),
            "Mr Chidziva started with Greenacres on Monday."
        );
        assert!(split.signature_text().contains("Tel: 01632 960 522"));
        let worker = split_roles("I live in Coventry CV6 5BU.\nMy number is 07700 900142\n");
        assert_eq!(
            worker.len(),
            1,
            "first-person lines are the writer's own words"
        );
    }

    #[test]
    fn dash_dash_space_starts_a_signature() {
        let blocks = split_roles("Hello\n-- \nJo\n07700 900123\n");
        assert_eq!(
            blocks,
            vec![
                (Role::Own, "Hello".into()),
                (Role::Signature, "Jo\n07700 900123".into())
            ]
        );
    }
}
