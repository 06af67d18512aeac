//! One `Config`: built-in defaults, then a TOML file, then `RM_*` environment variables.
//! Secrets (passwords, tokens, the database URL) come only from the environment.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::domain::case_ref::CaseRefFinder;
use crate::pipeline::Settings;

/// Keys that hold secrets and must never be written in the config file.
const SECRET_KEYS: [&str; 4] = ["database_url", "password", "token", "secret"];

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// PostgreSQL, from `RM_DATABASE_URL` only (it may hold a password). The database is
    /// created and migrated at start-up when missing.
    #[serde(skip_serializing, default = "default_database_url")]
    pub database_url: SecretString,
    /// Connections in the pool.
    pub database_pool: u32,
    /// Folder of rule files (`rules/`).
    pub rules_dir: PathBuf,
    /// Folder of reply templates (`templates/<lang>/<name>.txt`).
    pub templates_dir: PathBuf,
    /// Prefix of case references: `RM` gives `RM-000123`.
    pub case_prefix: String,
    /// Optional ONS Postcode Directory CSV: exact postcodes take precedence over districts.
    pub postcode_directory: Option<PathBuf>,
    /// The mailboxes this deployment runs, by id (`[mailboxes.west_midlands]`). None
    /// configured: one local mailbox, [`default_mailbox`].
    #[serde(default, skip_serializing)]
    pub mailboxes: BTreeMap<String, MailboxConfig>,
    pub http: HttpConfig,
    pub alerts: AlertConfig,
    pub outbox: OutboxConfig,
    pub retention: RetentionConfig,
    pub log: LogConfig,
}

/// How long a closed case is kept before it is erased (an anonymous tombstone stays).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Days after a case closed; 0 keeps closed cases until someone erases them.
    pub closed_days: u32,
}

/// How the outbox worker retries a delivery that failed for now.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxConfig {
    /// Wait before the first retry; each further retry waits twice as long (at most 4 h).
    pub first_retry_seconds: u64,
}

/// One regional mailbox: who it is, and (for the daemon) its IMAP inbox and SMTP server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxConfig {
    /// Signs every email: "West Midlands Regional Support Mailbox".
    pub name: String,
    /// The mailbox's own address: replies come from it, and Message-IDs use its domain.
    pub address: String,
    /// This mailbox's own rules (its home region and directory); default: `rules_dir`.
    #[serde(default)]
    pub rules_dir: Option<PathBuf>,
    /// This mailbox's own case prefix; default: `case_prefix`.
    #[serde(default)]
    pub case_prefix: Option<String>,
    #[serde(default)]
    pub imap: Option<ImapConfig>,
    #[serde(default)]
    pub smtp: Option<SmtpConfig>,
}

/// How a connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Security {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Tls,
    /// Plain first, then STARTTLS, which is required (IMAP 143, submission 587).
    Starttls,
    /// No TLS at all: only for servers on loopback.
    Plain,
}

/// How the mailbox logs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMethod {
    /// A username and password (IMAP LOGIN, SMTP PLAIN/LOGIN).
    Password,
    /// OAuth 2.0 bearer token (Microsoft 365, Google): `oauth_command` or `oauth_file`.
    Xoauth2,
}

/// What happens to a message on the server once it is stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AfterFetch {
    /// Set the `processed_flag` keyword and leave it in the folder.
    Flag,
    /// Move it to `processed_folder` (MOVE, or COPY + EXPUNGE when the server lacks MOVE).
    Move,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    #[serde(default = "default_imap_port")]
    pub port: u16,
    #[serde(default = "default_tls")]
    pub security: Security,
    pub username: String,
    /// From the environment only: `RM_MAILBOXES__<ID>__IMAP__PASSWORD`.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
    /// XOAUTH2: a command that prints a fresh access token (run at every login).
    #[serde(default)]
    pub oauth_command: Option<String>,
    /// XOAUTH2: a file holding the current access token (kept fresh by another process).
    #[serde(default)]
    pub oauth_file: Option<PathBuf>,
    #[serde(default = "default_folder")]
    pub folder: String,
    #[serde(default = "default_after")]
    pub after: AfterFetch,
    #[serde(default = "default_processed_flag")]
    pub processed_flag: String,
    #[serde(default = "default_processed_folder")]
    pub processed_folder: String,
    /// Where a copy of every email sent is appended (e.g. `Sent`); none by default.
    #[serde(default)]
    pub sent_folder: Option<String>,
    /// A PEM file of extra trusted certificates (a private CA); the public roots always are.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// An IDLE is ended and renewed after this long, whatever the server says meanwhile.
    #[serde(default = "default_idle_minutes")]
    pub idle_minutes: u64,
    /// Polling interval when the server has no IDLE, and the longest wait after a failure.
    #[serde(default = "default_poll_seconds")]
    pub poll_seconds: u64,
    /// Every IMAP command must answer within this.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    #[serde(default = "default_starttls")]
    pub security: Security,
    /// Empty: no authentication (a relay that trusts this host).
    #[serde(default)]
    pub username: String,
    /// From the environment only: `RM_MAILBOXES__<ID>__SMTP__PASSWORD`.
    #[serde(default, skip_serializing)]
    pub password: Option<SecretString>,
    #[serde(default = "default_auth")]
    pub auth: AuthMethod,
    #[serde(default)]
    pub oauth_command: Option<String>,
    #[serde(default)]
    pub oauth_file: Option<PathBuf>,
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Connections kept open to the server.
    #[serde(default = "default_pool_size")]
    pub pool_size: u32,
    /// A send must finish within this (lettre's own timeout covers only connecting).
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: u64,
}

fn default_imap_port() -> u16 {
    993
}
fn default_smtp_port() -> u16 {
    587
}
fn default_tls() -> Security {
    Security::Tls
}
fn default_starttls() -> Security {
    Security::Starttls
}
fn default_auth() -> AuthMethod {
    AuthMethod::Password
}
fn default_folder() -> String {
    "INBOX".into()
}
fn default_after() -> AfterFetch {
    AfterFetch::Flag
}
fn default_processed_flag() -> String {
    "$Processed".into()
}
fn default_processed_folder() -> String {
    "Processed".into()
}
fn default_idle_minutes() -> u64 {
    20
}
fn default_poll_seconds() -> u64 {
    60
}
fn default_timeout_seconds() -> u64 {
    60
}
fn default_pool_size() -> u32 {
    4
}

/// Health, metrics and (later) the staff app.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The staff web app and `/healthz`, `/readyz`, `/metrics`; empty to serve nothing.
    pub listen: String,
    /// Session cookies only over HTTPS (behind a TLS proxy). Browsers also accept them on
    /// `http://localhost`; turn off only for plain HTTP on another host name.
    pub secure_cookies: bool,
}

/// When staff are emailed about the mailbox itself.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// Who gets alerts; none: alerts are only logged and counted.
    pub to: Vec<String>,
    /// The inbox unreachable (or its login refused) for this long.
    pub unreachable_minutes: u64,
    /// Nothing arrived for this many working hours (Monday to Friday, 09:00-17:00 UK); 0: off.
    pub quiet_working_hours: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
    /// A tracing filter such as `info` or `regional_mailbox=debug`; `RUST_LOG` overrides it.
    pub level: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            database_url: default_database_url(),
            database_pool: 5,
            rules_dir: PathBuf::from("rules"),
            templates_dir: PathBuf::from("templates"),
            case_prefix: "RM".into(),
            postcode_directory: None,
            mailboxes: BTreeMap::new(),
            http: HttpConfig {
                listen: "127.0.0.1:8080".into(),
                secure_cookies: true,
            },
            alerts: AlertConfig {
                to: Vec::new(),
                unreachable_minutes: 15,
                quiet_working_hours: 0,
            },
            outbox: OutboxConfig {
                first_retry_seconds: 60,
            },
            retention: RetentionConfig { closed_days: 365 },
            log: LogConfig {
                format: LogFormat::Text,
                level: "info".into(),
            },
        }
    }
}

/// The mailbox used when none is configured: local folders only.
pub fn default_mailbox() -> (String, MailboxConfig) {
    (
        "west_midlands".into(),
        MailboxConfig {
            name: "West Midlands Regional Support Mailbox".into(),
            address: "support@regional-mailbox.example.org".into(),
            rules_dir: None,
            case_prefix: None,
            imap: None,
            smtp: None,
        },
    )
}

/// A local PostgreSQL with trust authentication (the development default).
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/regional_mailbox";

fn default_database_url() -> SecretString {
    SecretString::from(DEFAULT_DATABASE_URL)
}

impl Config {
    pub fn database_url(&self) -> &str {
        self.database_url.expose_secret()
    }

    /// The configured mailboxes by id, or the default one.
    pub fn mailboxes(&self) -> Vec<(String, MailboxConfig)> {
        if self.mailboxes.is_empty() {
            vec![default_mailbox()]
        } else {
            self.mailboxes.clone().into_iter().collect()
        }
    }

    /// One mailbox by id; `None` picks the only (or first) one.
    pub fn mailbox(&self, id: Option<&str>) -> anyhow::Result<(String, MailboxConfig)> {
        let all = self.mailboxes();
        match id {
            None => Ok(all.into_iter().next().expect("there is always a mailbox")),
            Some(id) => all.into_iter().find(|(k, _)| k == id).with_context(|| {
                format!("no mailbox `{id}` in the configuration ([mailboxes.{id}])")
            }),
        }
    }

    /// Loads defaults, then `path` (or `regional-mailbox.toml` if present), then `RM_*`
    /// variables (`RM_CASE_PREFIX`, `RM_LOG__FORMAT`: a double underscore enters a section).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let default_file = PathBuf::from("regional-mailbox.toml");
        let file = match path {
            Some(path) => {
                if !path.exists() {
                    bail!("config file {} does not exist", path.display());
                }
                Some(path.to_path_buf())
            }
            None => default_file.exists().then_some(default_file),
        };
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &file {
            refuse_secrets_in(file)?;
            figment = figment.merge(Toml::file(file));
        }
        let config: Config = figment
            .merge(Env::prefixed("RM_").split("__").ignore(&["config"]))
            .extract()
            .context("reading configuration")?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if !valid_prefix(&self.case_prefix) {
            bail!(
                "case_prefix must be 1 to 8 letters, got `{}`",
                self.case_prefix
            );
        }
        for (id, mailbox) in self.mailboxes() {
            let id_ok = !id.is_empty()
                && id
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
            if !id_ok {
                bail!("mailbox ids must be lower-case letters, digits and _, got `{id}`");
            }
            if crate::domain::EmailAddress::parse(&mailbox.address).is_none() {
                bail!(
                    "mailboxes.{id}.address `{}` is not an email address",
                    mailbox.address
                );
            }
            if let Some(prefix) = &mailbox.case_prefix
                && !valid_prefix(prefix)
            {
                bail!("mailboxes.{id}.case_prefix must be 1 to 8 letters, got `{prefix}`");
            }
            for (what, auth, command, file) in [
                mailbox
                    .imap
                    .as_ref()
                    .map(|i| ("imap", i.auth, &i.oauth_command, &i.oauth_file)),
                mailbox
                    .smtp
                    .as_ref()
                    .map(|s| ("smtp", s.auth, &s.oauth_command, &s.oauth_file)),
            ]
            .into_iter()
            .flatten()
            {
                if auth == AuthMethod::Xoauth2 && command.is_none() && file.is_none() {
                    bail!("mailboxes.{id}.{what}: xoauth2 needs oauth_command or oauth_file");
                }
            }
        }
        for address in &self.alerts.to {
            if crate::domain::EmailAddress::parse(address).is_none() {
                bail!("alerts.to: `{address}` is not an email address");
            }
        }
        Ok(())
    }

    /// What the daemon needs on top of [`Config::load`]'s checks: every mailbox has its
    /// servers and, for password logins, its passwords (which only the daemon needs).
    pub fn check_servers(&self) -> anyhow::Result<()> {
        for (id, mailbox) in &self.mailboxes {
            let env = id.to_ascii_uppercase();
            let Some(imap) = &mailbox.imap else {
                bail!(
                    "mailbox `{id}` has no [mailboxes.{id}.imap] settings (or use `run --inbox DIR --outbox DIR`)"
                );
            };
            let Some(smtp) = &mailbox.smtp else {
                bail!("mailbox `{id}` has no [mailboxes.{id}.smtp] settings");
            };
            if imap.auth == AuthMethod::Password && imap.password.is_none() {
                bail!(
                    "mailbox `{id}`: set the IMAP password in RM_MAILBOXES__{env}__IMAP__PASSWORD"
                );
            }
            if smtp.auth == AuthMethod::Password
                && !smtp.username.is_empty()
                && smtp.password.is_none()
            {
                bail!(
                    "mailbox `{id}`: set the SMTP password in RM_MAILBOXES__{env}__SMTP__PASSWORD"
                );
            }
        }
        if self.mailboxes.is_empty() {
            bail!(
                "no mailbox is configured: add [mailboxes.<id>] with imap and smtp settings (see the README), or use `run --inbox DIR --outbox DIR`"
            );
        }
        Ok(())
    }

    pub fn pipeline_settings(&self) -> Settings {
        Settings {
            case_refs: CaseRefFinder::new(&self.case_prefix),
        }
    }
}

fn valid_prefix(prefix: &str) -> bool {
    !prefix.is_empty() && prefix.len() <= 8 && prefix.chars().all(|c| c.is_ascii_alphabetic())
}

fn refuse_secrets_in(file: &Path) -> anyhow::Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let table: toml::Table =
        toml::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
    let mut found = Vec::new();
    find_secret_keys(&table, "", &mut found);
    if !found.is_empty() {
        bail!(
            "{} holds secrets ({}): set them in the environment instead (e.g. RM_DATABASE_URL)",
            file.display(),
            found.join(", ")
        );
    }
    Ok(())
}

fn find_secret_keys(table: &toml::Table, prefix: &str, found: &mut Vec<String>) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        if SECRET_KEYS
            .iter()
            .any(|s| key.to_ascii_lowercase().contains(s))
        {
            found.push(path.clone());
        }
        if let toml::Value::Table(inner) = value {
            find_secret_keys(inner, &path, found);
        }
    }
}

#[cfg(test)]
// figment's Jail API returns its own (large) error type.
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "rm.toml",
                "case_prefix = \"WM\"\n[log]\nformat = \"json\"\nlevel = \"debug\"\n\
                 [mailboxes.north_west]\nname = \"North West\"\naddress = \"nw@example.org\"\n\
                 [mailboxes.north_west.imap]\nhost = \"imap.example.org\"\nusername = \"nw\"\n",
            )?;
            let config = Config::load(Some(Path::new("rm.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.case_prefix, "WM");
            assert_eq!(config.log.format, LogFormat::Json);
            jail.set_env("RM_CASE_PREFIX", "NW");
            jail.set_env("RM_LOG__LEVEL", "warn");
            jail.set_env("RM_DATABASE_URL", "postgres://rm:pw@db/rm");
            jail.set_env("RM_MAILBOXES__NORTH_WEST__IMAP__PASSWORD", "imap-secret");
            let config = Config::load(Some(Path::new("rm.toml"))).map_err(|e| e.to_string())?;
            assert_eq!(config.case_prefix, "NW");
            assert_eq!(config.log.level, "warn");
            assert_eq!(config.database_url(), "postgres://rm:pw@db/rm");
            let (id, north_west) = config
                .mailbox(Some("north_west"))
                .map_err(|e| e.to_string())?;
            assert_eq!(id, "north_west");
            assert_eq!(north_west.address, "nw@example.org");
            let imap = north_west.imap.expect("imap settings");
            assert_eq!(imap.port, 993, "a default");
            assert_eq!(
                imap.password
                    .map(|p| p.expose_secret().to_string())
                    .as_deref(),
                Some("imap-secret")
            );
            Ok(())
        });
    }

    #[test]
    fn the_database_defaults_to_a_local_server() {
        figment::Jail::expect_with(|_| {
            let config = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(config.database_url(), DEFAULT_DATABASE_URL);
            assert_eq!(config.mailboxes().len(), 1, "one local mailbox");
            Ok(())
        });
    }

    #[test]
    fn secrets_in_the_file_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("rm.toml", "[imap]\npassword = \"hunter2\"\n")?;
            let error = Config::load(Some(Path::new("rm.toml")))
                .unwrap_err()
                .to_string();
            assert!(error.contains("imap.password"), "{error}");
            Ok(())
        });
    }

    #[test]
    fn a_bad_case_prefix_fails_fast() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("RM_CASE_PREFIX", "R-M");
            assert!(Config::load(None).is_err());
            Ok(())
        });
    }
}
