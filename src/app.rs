//! What every worker needs, loaded and validated once at start-up: the database pool, the
//! rules, the templates and the mailbox's identity and servers. Fails fast on any invalid
//! part. One `App` per mailbox; mailboxes share the pool and the templates.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use sqlx::PgPool;

use crate::config::{AlertConfig, Config, MailboxConfig};
use crate::conversation::Mailbox;
use crate::domain::EmailAddress;
use crate::domain::case_ref::CaseRefFinder;
use crate::pipeline::Settings;
use crate::replies::Templates;
use crate::rules::Rules;

/// A part read from files that staff may change while the mailbox runs: each use takes
/// the current version ([`get`](Reloadable::get)); a reload replaces it whole, so a
/// message is never read with half old and half new rules.
#[derive(Debug)]
pub struct Reloadable<T>(Arc<RwLock<Arc<T>>>);

impl<T> Clone for Reloadable<T> {
    fn clone(&self) -> Self {
        Reloadable(self.0.clone())
    }
}

impl<T> Reloadable<T> {
    pub fn new(value: Arc<T>) -> Self {
        Reloadable(Arc::new(RwLock::new(value)))
    }

    pub fn get(&self) -> Arc<T> {
        // A writer never panics while holding the lock (it only swaps an Arc).
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn replace(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

/// This process among the instances sharing the database (to ignore its own notices).
pub fn instance_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// Where the reloadable parts come from.
#[derive(Debug, Clone)]
pub struct Sources {
    pub rules_dir: PathBuf,
    pub templates_dir: PathBuf,
    pub postcode_directory: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct App {
    pub pool: PgPool,
    pub rules: Reloadable<Rules>,
    pub templates: Reloadable<Templates>,
    pub sources: Arc<Sources>,
    pub settings: Settings,
    pub mailbox: Mailbox,
    pub case_prefix: String,
    /// The mailbox's servers (IMAP, SMTP), when it has them.
    pub servers: Arc<MailboxConfig>,
    /// Who is told when the mailbox itself is in trouble.
    pub alerts: Arc<AlertConfig>,
    /// The outbox's first retry wait (then doubling).
    pub first_retry: chrono::Duration,
    /// Days a closed case is kept before the retention job erases it (0: kept).
    pub retention_days: u32,
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
        // Each mailbox's outbox worker keeps one connection for LISTEN and one for each
        // email in flight (its row stays locked until sent), its fetcher one for each
        // message being stored, and the daemon's reload listener one.
        let outbox: u32 = mailboxes
            .iter()
            .map(|(_, m)| 1 + m.smtp.as_ref().map_or(1, |s| s.pool_size.max(1)))
            .sum();
        let ingest = mailboxes.len() as u32 * crate::fetcher::INGEST_PARALLEL as u32;
        let size = config.database_pool + outbox + ingest + 1;
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
        let sources = Sources {
            rules_dir: mailbox
                .rules_dir
                .clone()
                .unwrap_or_else(|| config.rules_dir.clone()),
            templates_dir: config.templates_dir.clone(),
            postcode_directory: config.postcode_directory.clone(),
        };
        App {
            pool,
            sources: Arc::new(sources),
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
            rules: Reloadable::new(rules),
            templates: Reloadable::new(templates),
            case_prefix,
            servers: Arc::new(mailbox.clone()),
            alerts: Arc::new(config.alerts.clone()),
            first_retry: chrono::Duration::seconds(config.outbox.first_retry_seconds.max(1) as i64),
            retention_days: config.retention.closed_days,
        }
    }
}

impl App {
    /// Reads the rules and templates again from their folders and, only when both are
    /// valid, puts them in place of the running ones. The home region stays as started.
    pub fn reload(&self) -> anyhow::Result<()> {
        let sources = &self.sources;
        let mut rules = Rules::load(&sources.rules_dir)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("loading rules from {}", sources.rules_dir.display()))?;
        if let Some(path) = &sources.postcode_directory {
            rules.gazetteer.load_postcode_directory(path)?;
        }
        anyhow::ensure!(
            rules.routing.home_region == self.mailbox.region,
            "the home region changed (from {} to {}): restart the mailbox for that",
            self.mailbox.region,
            rules.routing.home_region
        );
        let templates = Templates::load(&sources.templates_dir)
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| {
                format!("loading templates from {}", sources.templates_dir.display())
            })?;
        self.rules.replace(Arc::new(rules));
        self.templates.replace(Arc::new(templates));
        tracing::info!(mailbox = %self.mailbox.id, "reloaded the rules and templates");
        Ok(())
    }
}

pub fn load_templates(config: &Config) -> anyhow::Result<Templates> {
    Templates::load(&config.templates_dir)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading templates from {}", config.templates_dir.display()))
}
