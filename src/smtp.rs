//! SMTP (RFC 5321) edge: hands an outbox row's exact bytes to the submission server
//! (lettre's protocol client over our own pooled connections, rustls) and says whether a
//! failure is worth retrying. Our sockets have `TCP_NODELAY`: lettre 0.11 writes the body
//! and its final `.` apart, and Nagle's algorithm with the server's delayed ACK would hold
//! every email for 40 ms (lettre#1159).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::Context;
use lettre::address::{Address, Envelope};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, AsyncTokioStream, Certificate, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::config::{AuthMethod, ImapConfig, Security, SmtpConfig};
use crate::tls::Wire;

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

/// OAuth access tokens live about an hour; a connection logged in with one is not used
/// again after this.
const TOKEN_LIFETIME: Duration = Duration::from_secs(40 * 60);

/// A logged-in connection and when it was opened.
struct Pooled {
    connection: AsyncSmtpConnection,
    opened: Instant,
}

/// Sends outbox rows over a small pool of connections to one submission server, and files
/// a copy of each sent email in the IMAP Sent folder when configured.
pub struct SmtpSender {
    config: SmtpConfig,
    envelope_from: Address,
    hello: ClientId,
    tls: Option<TlsParameters>,
    idle: Mutex<Vec<Pooled>>,
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
        let tls = match config.security {
            Security::Plain => None,
            Security::Tls | Security::Starttls => Some(tls_parameters(&config)?),
        };
        Ok(SmtpSender {
            config,
            envelope_from,
            hello: ClientId::default(),
            tls,
            idle: Mutex::new(Vec::new()),
            sent_copy,
            sent_session: Mutex::new(None),
        })
    }

    /// How many connections the pool keeps (and so how many emails go at once).
    pub fn connections(&self) -> usize {
        self.config.pool_size.max(1) as usize
    }

    /// Files a copy in the Sent folder (IMAP APPEND), when one is configured. A failure is
    /// logged, never retried: the email itself is sent.
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
                Err(error) => {
                    *session = None;
                    if attempt == 1 {
                        tracing::warn!(outbox = outbox_id, error = %error, "no copy in the Sent folder");
                    }
                }
            }
        }
    }

    /// Sends the exact bytes to the recipients. A pooled connection that has gone stale is
    /// replaced once; anything else comes back as a temporary or permanent failure.
    pub async fn send(&self, recipients: &[String], raw: &[u8]) -> Result<(), SendError> {
        let to = recipients
            .iter()
            .map(|r| r.parse::<Address>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| SendError::Permanent(format!("a recipient address is invalid: {e}")))?;
        let envelope = Envelope::new(Some(self.envelope_from.clone()), to)
            .map_err(|e| SendError::Permanent(format!("no usable recipient: {e}")))?;
        let deadline = Duration::from_secs(self.config.timeout_seconds.max(1));
        for attempt in 0..2 {
            let (mut pooled, reused) = match self.take_idle().await {
                Some(pooled) => (pooled, true),
                None => (self.open().await?, false),
            };
            let result =
                tokio::time::timeout(deadline, pooled.connection.send(&envelope, raw)).await;
            match result {
                Ok(Ok(_)) => {
                    self.give_back(pooled).await;
                    return Ok(());
                }
                // A connection the server closed while it waited in the pool: once more.
                Ok(Err(error)) if reused && attempt == 0 && !error.is_permanent() => continue,
                Ok(Err(error)) => return Err(classify(&error)),
                Err(_) => {
                    return Err(SendError::Temporary(format!(
                        "the SMTP server did not finish within {deadline:?}"
                    )));
                }
            }
        }
        Err(SendError::Temporary(
            "the SMTP connection failed twice".into(),
        ))
    }

    async fn take_idle(&self) -> Option<Pooled> {
        let mut idle = self.idle.lock().await;
        while let Some(pooled) = idle.pop() {
            let stale =
                self.config.auth == AuthMethod::Xoauth2 && pooled.opened.elapsed() > TOKEN_LIFETIME;
            if !stale && !pooled.connection.has_broken() {
                return Some(pooled);
            }
        }
        None
    }

    async fn give_back(&self, pooled: Pooled) {
        let mut idle = self.idle.lock().await;
        if idle.len() < self.config.pool_size.max(1) as usize && !pooled.connection.has_broken() {
            idle.push(pooled);
        }
    }

    /// Connects (TLS first, or STARTTLS), greets and logs in, within the deadline.
    async fn open(&self) -> Result<Pooled, SendError> {
        let deadline = Duration::from_secs(self.config.timeout_seconds.max(1));
        let opened = tokio::time::timeout(deadline, self.connect())
            .await
            .map_err(|_| {
                SendError::Temporary(format!(
                    "no SMTP session with {}:{} within {deadline:?}",
                    self.config.host, self.config.port
                ))
            })?;
        Ok(Pooled {
            connection: opened?,
            opened: Instant::now(),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        let temporary = |e: &dyn fmt::Display| SendError::Temporary(format!("{e}"));
        let tcp = TcpStream::connect((self.config.host.as_str(), self.config.port))
            .await
            .map_err(|e| {
                SendError::Temporary(format!(
                    "cannot reach the SMTP server {}:{}: {e}",
                    self.config.host, self.config.port
                ))
            })?;
        tcp.set_nodelay(true).map_err(|e| temporary(&e))?;
        let stream: Box<dyn AsyncTokioStream> = match self.config.security {
            Security::Tls => {
                let connector = tokio_rustls::TlsConnector::from(
                    crate::tls::client_config(self.config.ca_file.as_deref())
                        .map_err(|e| temporary(&e))?,
                );
                let name = rustls_pki_types::ServerName::try_from(self.config.host.clone())
                    .map_err(|e| temporary(&e))?;
                let tls = connector
                    .connect(name, tcp)
                    .await
                    .map_err(|e| temporary(&format!("the TLS handshake failed: {e}")))?;
                Box::new(Wire::Tls(Box::new(tls)))
            }
            Security::Starttls | Security::Plain => Box::new(Wire::Plain(tcp)),
        };
        let mut connection = AsyncSmtpConnection::connect_with_transport(stream, &self.hello)
            .await
            .map_err(|e| classify(&e))?;
        if self.config.security == Security::Starttls {
            let tls = self.tls.clone().expect("built for STARTTLS");
            connection
                .starttls(tls, &self.hello)
                .await
                .map_err(|e| classify(&e))?;
        }
        if !self.config.username.is_empty() {
            // A fresh OAuth token for every new connection.
            let secret = crate::oauth::login_secret(
                self.config.auth,
                self.config.password.as_ref(),
                self.config.oauth_command.as_deref(),
                self.config.oauth_file.as_deref(),
            )
            .await
            .map_err(|e| temporary(&format!("{e:#}")))?;
            let mechanisms = match self.config.auth {
                AuthMethod::Password => vec![Mechanism::Plain, Mechanism::Login],
                AuthMethod::Xoauth2 => vec![Mechanism::Xoauth2],
            };
            let credentials = Credentials::new(
                self.config.username.clone(),
                secret.expose_secret().to_string(),
            );
            connection
                .auth(&mechanisms, &credentials)
                .await
                .map_err(|e| classify(&e))?;
        }
        Ok(connection)
    }
}

/// Our socket under lettre's protocol client (lettre upgrades a plain one at STARTTLS).
impl AsyncTokioStream for Wire {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Wire::Plain(tcp) => tcp.peer_addr(),
            Wire::Tls(tls) => tls.get_ref().0.peer_addr(),
        }
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
