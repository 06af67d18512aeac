//! What every worker needs, loaded and validated once at start-up: the database pool, the
//! rules, the templates and the mailbox's identity and servers. Fails fast on any invalid
//! part. One `App` per mailbox; mailboxes share the pool and the templates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;

use crate::config::{AlertConfig, Config, MailboxConfig};
use crate::conversation::Mailbox;
use crate::domain::EmailAddress;
use crate::domain::case_ref::CaseRefFinder;
use crate::pipeline::Settings;
use crate::replies::Templates;
use crate::rules::Rules;

#[derive(Debug, Clone)]
pub struct App {
    pub pool: PgPool,
    pub rules: Arc<Rules>,
    pub templates: Arc<Templates>,
    pub settings: Settings,
    pub mailbox: Mailbox,
    pub case_prefix: String,
    /// The mailbox's servers (IMAP, SMTP), when it has them.
    pub servers: Arc<MailboxConfig>,
    /// Who is told when the mailbox itself is in trouble.
    pub alerts: Arc<AlertConfig>,
    /// The outbox's first retry wait (then doubling).
    pub first_retry: chrono::Duration,
}

impl App {
    /// One mailbox (`None`: the only or first one), with the database reached, created and
    /// migrated when needed.
    pub async fn start(config: &Config, mailbox: Option<&str>) -> anyhow::Result<App> {
        let (id, mailbox) = config.mailbox(mailbox)?;
        let templates = Arc::new(load_templates(config)?);
        let dir = mailbox
            .rules_dir
            .clone()
            .unwrap_or_else(|| config.rules_dir.clone());
        let rules = Arc::new(crate::cli::load_rules(&dir, config)?);
        let pool = crate::store::connect(config.database_url(), config.database_pool).await?;
        Ok(App::new(pool, rules, templates, config, &id, &mailbox))
    }

    /// Every configured mailbox, sharing one pool (and rules when they share a folder).
    pub async fn start_all(config: &Config) -> anyhow::Result<Vec<App>> {
        let templates = Arc::new(load_templates(config)?);
        let mut rules_by_dir: BTreeMap<PathBuf, Arc<Rules>> = BTreeMap::new();
        let mailboxes = config.mailboxes();
        for (_, mailbox) in &mailboxes {
            let dir = mailbox
                .rules_dir
                .clone()
                .unwrap_or_else(|| config.rules_dir.clone());
            if let std::collections::btree_map::Entry::Vacant(slot) = rules_by_dir.entry(dir) {
                let rules = Arc::new(crate::cli::load_rules(slot.key(), config)?);
                slot.insert(rules);
            }
        }
        // Each mailbox's outbox worker keeps one connection for LISTEN.
        let size = config.database_pool + mailboxes.len() as u32;
        let pool = crate::store::connect(config.database_url(), size).await?;
        Ok(mailboxes
            .iter()
            .map(|(id, mailbox)| {
                let dir = mailbox
                    .rules_dir
                    .clone()
                    .unwrap_or_else(|| config.rules_dir.clone());
                let rules = rules_by_dir[&dir].clone();
                App::new(pool.clone(), rules, templates.clone(), config, id, mailbox)
            })
            .collect())
    }

    pub fn new(
        pool: PgPool,
        rules: Arc<Rules>,
        templates: Arc<Templates>,
        config: &Config,
        id: &str,
        mailbox: &MailboxConfig,
    ) -> App {
        let case_prefix = mailbox
            .case_prefix
            .clone()
            .unwrap_or_else(|| config.case_prefix.clone());
        App {
            pool,
            settings: Settings {
                case_refs: CaseRefFinder::new(&case_prefix),
            },
            mailbox: Mailbox {
                id: id.to_string(),
                name: mailbox.name.clone(),
                address: EmailAddress::parse(&mailbox.address)
                    .expect("validated when the config was loaded"),
                region: rules.routing.home_region.clone(),
            },
            rules,
            templates,
            case_prefix,
            servers: Arc::new(mailbox.clone()),
            alerts: Arc::new(config.alerts.clone()),
            first_retry: chrono::Duration::seconds(config.outbox.first_retry_seconds.max(1) as i64),
        }
    }
}

pub fn load_templates(config: &Config) -> anyhow::Result<Templates> {
    Templates::load(&config.templates_dir)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading templates from {}", config.templates_dir.display()))
}
