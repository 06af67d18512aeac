//! rules/kinds.toml: the cues that tell what kind of message this is.

use serde::Deserialize;

use super::{Compiler, Lexicon, LexiconSpec};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSpec {
    senders: SenderSpec,
    bounce: SubjectBodySpec,
    auto_reply: SubjectBodySpec,
    withdrawal: LexiconSpec,
    withdrawal_in_reply: LexiconSpec,
    no_longer_needed: LexiconSpec,
    about_consent: LexiconSpec,
    provider: LexiconSpec,
    referral: LexiconSpec,
    organisation: LexiconSpec,
    worker: LexiconSpec,
    third_person: LexiconSpec,
    family: LexiconSpec,
    erasure: LexiconSpec,
    do_not_contact: LexiconSpec,
    worker_topic: LexiconSpec,
    unrelated: LexiconSpec,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SenderSpec {
    system: LexiconSpec,
    system_names: LexiconSpec,
    no_reply: LexiconSpec,
    free_mail_domains: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubjectBodySpec {
    subject: LexiconSpec,
    body: LexiconSpec,
}

#[derive(Debug)]
pub struct KindRules {
    /// Local parts of system senders (MAILER-DAEMON, owner-*, *-request): never answered.
    pub system_sender: Lexicon,
    /// Display names of system senders ("Mail Delivery System", "MAILER-DAEMON <>").
    pub system_name: Lexicon,
    /// Local parts that cannot receive replies (no-reply).
    pub no_reply_sender: Lexicon,
    /// Domains of webmail providers: their users are people, not organisations.
    pub free_mail_domains: Vec<String>,
    pub bounce_subject: Lexicon,
    pub bounce_body: Lexicon,
    pub auto_reply_subject: Lexicon,
    pub auto_reply_body: Lexicon,
    pub withdrawal: Lexicon,
    /// Short stop words that count only in a reply to our own message ("UNSUBSCRIBE").
    pub withdrawal_in_reply: Lexicon,
    /// "I don't need help any more": a refusal before consent, a withdrawal after it.
    pub no_longer_needed: Lexicon,
    /// Words about consent itself in a reply to the consent request ("what will you do with my data").
    pub about_consent: Lexicon,
    pub provider: Lexicon,
    pub referral: Lexicon,
    /// An organisation writing (we/our/on behalf of, job titles).
    pub organisation: Lexicon,
    /// A worker writing about their own situation (my sponsor, I live ...).
    pub worker: Lexicon,
    /// Writing about someone else ("she lives", "her number"): a referrer.
    pub third_person: Lexicon,
    /// A relative writing for the worker ("on behalf of my wife").
    pub family: Lexicon,
    /// "Please delete my details": an erasure request for an admin.
    pub erasure: Lexicon,
    /// "Please don't reply, he checks my phone": no automatic email to the worker.
    pub do_not_contact: Lexicon,
    /// The programme's subject matter: sponsors, visas, care work.
    pub worker_topic: Lexicon,
    pub unrelated: Lexicon,
}

impl KindRules {
    pub fn compile(spec: KindSpec, c: &mut Compiler) -> Self {
        Self {
            system_sender: c.lexicon(&spec.senders.system),
            system_name: c.lexicon(&spec.senders.system_names),
            no_reply_sender: c.lexicon(&spec.senders.no_reply),
            free_mail_domains: spec
                .senders
                .free_mail_domains
                .iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            bounce_subject: c.lexicon(&spec.bounce.subject),
            bounce_body: c.lexicon(&spec.bounce.body),
            auto_reply_subject: c.lexicon(&spec.auto_reply.subject),
            auto_reply_body: c.lexicon(&spec.auto_reply.body),
            withdrawal: c.lexicon(&spec.withdrawal),
            withdrawal_in_reply: c.lexicon(&spec.withdrawal_in_reply),
            no_longer_needed: c.lexicon(&spec.no_longer_needed),
            about_consent: c.lexicon(&spec.about_consent),
            provider: c.lexicon(&spec.provider),
            referral: c.lexicon(&spec.referral),
            organisation: c.lexicon(&spec.organisation),
            worker: c.lexicon(&spec.worker),
            third_person: c.lexicon(&spec.third_person),
            family: c.lexicon(&spec.family),
            erasure: c.lexicon(&spec.erasure),
            do_not_contact: c.lexicon(&spec.do_not_contact),
            worker_topic: c.lexicon(&spec.worker_topic),
            unrelated: c.lexicon(&spec.unrelated),
        }
    }

    /// Whether a domain (or its parent, e.g. `yahoo.co.uk`) is a webmail provider.
    pub fn is_free_mail(&self, domain: &str) -> bool {
        let domain = domain.to_ascii_lowercase();
        self.free_mail_domains.iter().any(|d| {
            if let Some(prefix) = d.strip_suffix(".*") {
                domain.starts_with(&format!("{prefix}."))
            } else {
                domain == *d
            }
        })
    }
}
