//! SMTP (RFC 5321) edge: hands an outbox row's exact bytes to the submission server
//! (lettre, rustls, pooled connections) and says whether a failure is worth retrying.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransport, PoolConfig};
use lettre::{AsyncTransport, Tokio1Executor};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use crate::config::{AuthMethod, ImapConfig, Security, SmtpConfig};

/// Why a send failed, and whether trying again could help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Connection trouble, a 4xx answer, a timeout: the outbox tries again later.
    #[error("{0}")]
    Temporary(String),
    /// A 5xx answer or an address that cannot be used: trying again will not help.
    #[error("{0}")]
    Permanent(String),
}

/// OAuth access tokens live about an hour; the transport is rebuilt with a fresh one
/// well before that.
const TOKEN_LIFETIME: Duration = Duration::from_secs(40 * 60);

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// A pooled SMTP client for one mailbox.
pub struct SmtpSender {
    config: SmtpConfig,
    /// The mailbox's own address: the envelope sender, so bounces come back to the inbox.
    envelope_from: Address,
    transport: Mutex<Option<(Arc<Transport>, Instant)>>,
    /// Where a copy of each sent email is filed (IMAP APPEND), when configured.
    sent_copy: Option<ImapConfig>,
    sent_session: Mutex<Option<crate::imap::Connection>>,
}

impl SmtpSender {
    pub fn new(
        config: SmtpConfig,
        envelope_from: &str,
        sent_copy: Option<ImapConfig>,
    ) -> anyhow::Result<SmtpSender> {
        let envelope_from = envelope_from
            .parse()
            .with_context(|| format!("the mailbox address {envelope_from:?}"))?;
        // Fail at start-up, not at the first send, on a bad CA file.
        tls_parameters(&config)?;
        Ok(SmtpSender {
            config,
            envelope_from,
            transport: Mutex::new(None),
            sent_copy,
            sent_session: Mutex::new(None),
        })
    }

    /// Files a copy of a sent email in the Sent folder, if one is configured. Best effort:
    /// the email has gone either way, so a failure is only logged.
    pub async fn file_copy(&self, outbox_id: i64, raw: &[u8]) {
        let Some(imap) = &self.sent_copy else {
            return;
        };
        let Some(folder) = imap.sent_folder.as_deref() else {
            return;
        };
        let mut session = self.sent_session.lock().await;
        for attempt in 0..2 {
            if session.is_none() {
                match crate::imap::Connection::open(imap).await {
                    Ok(connection) => *session = Some(connection),
                    Err(error) => {
                        tracing::warn!(outbox = outbox_id, error = %error, "no copy in the Sent folder");
                        return;
                    }
                }
            }
            let connection = session.as_mut().expect("opened above");
            match connection.append(folder, raw).await {
                Ok(()) => return,
                // A session that went stale is reopened once.
                Err(error) => {
                    *session = None;
                    if attempt == 1 {
                        tracing::warn!(outbox = outbox_id, error = %error, "no copy in the Sent folder");
                    }
                }
            }
        }
    }

    /// Sends `raw` as it is to `recipients`, within the configured time.
    pub async fn send(&self, recipients: &[String], raw: &[u8]) -> Result<(), SendError> {
        let to = recipients
            .iter()
            .map(|r| r.parse::<Address>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(format!("a recipient address is invalid: {e}")))?;
        let envelope = Envelope::new(Some(self.envelope_from.clone()), to)
            .map_err(|e| SendError::Permanent(format!("no usable recipient: {e}")))?;
        let transport = self.transport().await?;
        let deadline = Duration::from_secs(self.config.timeout_seconds.max(1));
        let result = match tokio::time::timeout(deadline, transport.send_raw(&envelope, raw)).await
        {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(error)) => classify(&error),
            Err(_) => SendError::Temporary(format!(
                "the SMTP server did not finish within {deadline:?}"
            )),
        };
        // The next attempt starts afresh: new connections and, for XOAUTH2, a new token
        // (the old one may have been revoked or renewed early).
        *self.transport.lock().await = None;
        Err(result)
    }

    /// The pooled transport, rebuilt when an OAuth token is due for renewal.
    async fn transport(&self) -> Result<Arc<Transport>, SendError> {
        let mut current = self.transport.lock().await;
        if let Some((transport, built)) = current.as_ref() {
            let stale = self.config.auth == AuthMethod::Xoauth2 && built.elapsed() > TOKEN_LIFETIME;
            if !stale {
                return Ok(Arc::clone(transport));
            }
        }
        let transport = Arc::new(
            build(&self.config)
                .await
                .map_err(|e| SendError::Temporary(format!("{e:#}")))?,
        );
        *current = Some((Arc::clone(&transport), Instant::now()));
        Ok(transport)
    }
}

fn classify(error: &lettre::transport::smtp::Error) -> SendError {
    let text = error.to_string();
    if error.is_permanent() {
        SendError::Permanent(text)
    } else {
        SendError::Temporary(text)
    }
}

fn tls_parameters(config: &SmtpConfig) -> anyhow::Result<TlsParameters> {
    let mut builder = TlsParameters::builder(config.host.clone());
    if let Some(ca_file) = &config.ca_file {
        let pem = std::fs::read(ca_file)
            .with_context(|| format!("reading the CA file {}", ca_file.display()))?;
        builder = builder.add_root_certificate(
            Certificate::from_pem(&pem)
                .with_context(|| format!("the CA file {}", ca_file.display()))?,
        );
    }
    builder.build_rustls().context("the SMTP TLS settings")
}

async fn build(config: &SmtpConfig) -> anyhow::Result<Transport> {
    let tls = match config.security {
        Security::Tls => Tls::Wrapper(tls_parameters(config)?),
        Security::Starttls => Tls::Required(tls_parameters(config)?),
        Security::Plain => Tls::None,
    };
    let mut builder = Transport::builder_dangerous(config.host.as_str())
        .port(config.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(config.timeout_seconds.max(1))))
        .pool_config(PoolConfig::new().max_size(config.pool_size.max(1)));
    if !config.username.is_empty() {
        builder = match config.auth {
            AuthMethod::Password => {
                let password = config
                    .password
                    .as_ref()
                    .map(|p| p.expose_secret().to_string())
                    .unwrap_or_default();
                builder
                    .credentials(Credentials::new(config.username.clone(), password))
                    .authentication(vec![Mechanism::Plain, Mechanism::Login])
            }
            AuthMethod::Xoauth2 => {
                let token = crate::oauth::access_token(
                    config.oauth_command.as_deref(),
                    config.oauth_file.as_deref(),
                )
                .await?;
                builder
                    .credentials(Credentials::new(
                        config.username.clone(),
                        token.expose_secret().to_string(),
                    ))
                    .authentication(vec![Mechanism::Xoauth2])
            }
        };
    }
    Ok(builder.build())
}
