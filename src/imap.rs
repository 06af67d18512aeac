//! IMAP (RFC 3501) edge: connects (TLS, STARTTLS, or plain on loopback), logs in (LOGIN or
//! XOAUTH2), and offers the few commands the fetcher needs, each with a deadline, turning
//! wire types into plain values. It decides nothing about which messages to take.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_imap::extensions::idle::IdleResponse;
use async_imap::{Authenticator, Client, Session};
use futures::TryStreamExt;
use secrecy::ExposeSecret;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::config::{AfterFetch, AuthMethod, ImapConfig, Security};
use crate::tls::Wire;

/// Why an IMAP step failed: the fetcher alerts differently on a refused login.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot reach the IMAP server: {0:#}")]
    Unreachable(anyhow::Error),
    #[error("the IMAP server refused the login: {0}")]
    Auth(String),
    #[error("IMAP command failed: {0:#}")]
    Command(anyhow::Error),
}

type Result<T> = std::result::Result<T, ImapError>;

/// A selected folder, as the server describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selected {
    pub uidvalidity: u32,
    pub uidnext: Option<u32>,
    pub exists: u32,
}

/// How an IDLE ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The server announced a change (new mail, expunge).
    NewData,
    /// The absolute IDLE deadline passed: renew it.
    Renew,
    Shutdown,
}

pub struct Connection {
    session: Session<Wire>,
    deadline: Duration,
    capabilities: HashSet<String>,
}

struct XOAuth2(String);

impl Authenticator for XOAuth2 {
    type Response = String;

    fn process(&mut self, _challenge: &[u8]) -> String {
        self.0.clone()
    }
}

/// Every command gets a deadline: async-imap has none of its own.
async fn timed<T, E>(
    deadline: Duration,
    what: &str,
    future: impl Future<Output = std::result::Result<T, E>>,
) -> Result<T>
where
    E: Into<anyhow::Error>,
{
    match tokio::time::timeout(deadline, future).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(ImapError::Command(error.into().context(what.to_string()))),
        Err(_) => Err(ImapError::Command(anyhow::anyhow!(
            "{what}: no answer within {deadline:?}"
        ))),
    }
}

impl Connection {
    /// Connects, secures and logs in.
    pub async fn open(config: &ImapConfig) -> Result<Connection> {
        let deadline = Duration::from_secs(config.timeout_seconds.max(1));
        let wire = connect(config, deadline)
            .await
            .map_err(ImapError::Unreachable)?;
        let mut client = Client::new(wire);
        // The greeting comes first; async-imap leaves reading it to us.
        match tokio::time::timeout(deadline, client.read_response()).await {
            Ok(Ok(Some(_))) => {}
            Ok(Ok(None)) => {
                return Err(ImapError::Unreachable(anyhow::anyhow!(
                    "the server closed the connection"
                )));
            }
            Ok(Err(e)) => return Err(ImapError::Unreachable(e.into())),
            Err(_) => {
                return Err(ImapError::Unreachable(anyhow::anyhow!(
                    "no greeting within {deadline:?}"
                )));
            }
        }
        let client = if config.security == Security::Starttls {
            starttls(client, config, deadline).await?
        } else {
            client
        };
        let login = async {
            let secret = crate::oauth::login_secret(
                config.auth,
                config.password.as_ref(),
                config.oauth_command.as_deref(),
                config.oauth_file.as_deref(),
            )
            .await
            .map_err(|e| async_imap::error::Error::No(format!("{e:#}")))?;
            match config.auth {
                AuthMethod::Password => client
                    .login(&config.username, secret.expose_secret())
                    .await
                    .map_err(|(e, _)| e),
                AuthMethod::Xoauth2 => {
                    let response =
                        crate::oauth::xoauth2_response(&config.username, secret.expose_secret());
                    client
                        .authenticate("XOAUTH2", XOAuth2(response))
                        .await
                        .map_err(|(e, _)| e)
                }
            }
        };
        let mut session = match tokio::time::timeout(deadline, login).await {
            Ok(Ok(session)) => session,
            Ok(Err(
                async_imap::error::Error::No(reason) | async_imap::error::Error::Bad(reason),
            )) => {
                return Err(ImapError::Auth(reason));
            }
            Ok(Err(e)) => return Err(ImapError::Unreachable(e.into())),
            Err(_) => {
                return Err(ImapError::Unreachable(anyhow::anyhow!(
                    "no answer to the login within {deadline:?}"
                )));
            }
        };
        let capabilities = timed(deadline, "CAPABILITY", session.capabilities()).await?;
        let capabilities = ["IDLE", "MOVE", "UIDPLUS"]
            .into_iter()
            .filter(|c| capabilities.has_str(c))
            .map(str::to_string)
            .collect();
        Ok(Connection {
            session,
            deadline,
            capabilities,
        })
    }

    pub fn has(&self, capability: &str) -> bool {
        self.capabilities.contains(capability)
    }

    pub async fn select(&mut self, folder: &str) -> Result<Selected> {
        let mailbox = timed(self.deadline, "SELECT", self.session.select(folder)).await?;
        let uidvalidity = mailbox.uid_validity.ok_or_else(|| {
            ImapError::Command(anyhow::anyhow!(
                "the server gave no UIDVALIDITY for {folder}"
            ))
        })?;
        Ok(Selected {
            uidvalidity,
            uidnext: mailbox.uid_next,
            exists: mailbox.exists,
        })
    }

    /// UIDs of the messages not yet marked as processed, ascending.
    pub async fn unprocessed(&mut self, after: AfterFetch, flag: &str) -> Result<Vec<u32>> {
        let query = match after {
            AfterFetch::Flag => format!("UNKEYWORD {flag} NOT DELETED"),
            // Processed mail leaves the folder: whatever is here is still to do.
            AfterFetch::Move => "NOT DELETED".to_string(),
        };
        let uids = timed(self.deadline, "UID SEARCH", self.session.uid_search(query)).await?;
        let mut uids: Vec<u32> = uids.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The raw bytes of each message (`BODY.PEEK[]`: fetching sets no flag), by UID.
    pub async fn fetch(&mut self, uids: &[u32]) -> Result<Vec<(u32, Vec<u8>)>> {
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uid_set(uids);
        let deadline = self.deadline * 4;
        let fetched = timed(deadline, "UID FETCH", async {
            let stream = self.session.uid_fetch(&set, "(UID BODY.PEEK[])").await?;
            // Drained completely before the next command.
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        let mut messages: Vec<(u32, Vec<u8>)> = fetched
            .iter()
            .filter_map(|f| Some((f.uid?, f.body()?.to_vec())))
            .collect();
        messages.sort_by_key(|(uid, _)| *uid);
        Ok(messages)
    }

    /// Marks messages as processed on the server: a keyword, or a move to another folder.
    pub async fn mark(
        &mut self,
        uids: &[u32],
        after: AfterFetch,
        flag: &str,
        folder: &str,
    ) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        match after {
            AfterFetch::Flag => {
                let query = format!("+FLAGS.SILENT ({flag})");
                timed(self.deadline, "UID STORE", async {
                    let stream = self.session.uid_store(&set, query).await?;
                    stream.try_collect::<Vec<_>>().await
                })
                .await?;
            }
            AfterFetch::Move if self.has("MOVE") => {
                self.ensure_folder(folder).await?;
                timed(self.deadline, "UID MOVE", self.session.uid_mv(&set, folder)).await?;
            }
            AfterFetch::Move => {
                // No MOVE (RFC 6851): copy, mark deleted, expunge just these (UIDPLUS) or all.
                self.ensure_folder(folder).await?;
                timed(
                    self.deadline,
                    "UID COPY",
                    self.session.uid_copy(&set, folder),
                )
                .await?;
                self.delete(uids).await?;
            }
        }
        Ok(())
    }

    /// Deletes messages for good: `\Deleted`, then expunge (only these with UIDPLUS).
    pub async fn delete(&mut self, uids: &[u32]) -> Result<()> {
        if uids.is_empty() {
            return Ok(());
        }
        let set = uid_set(uids);
        timed(self.deadline, "UID STORE \\Deleted", async {
            let stream = self
                .session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        if self.has("UIDPLUS") {
            timed(self.deadline, "UID EXPUNGE", async {
                let stream = self.session.uid_expunge(&set).await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
        } else {
            timed(self.deadline, "EXPUNGE", async {
                let stream = self.session.expunge().await?;
                stream.try_collect::<Vec<_>>().await
            })
            .await?;
        }
        Ok(())
    }

    /// UIDs whose Message-ID header is `message_id` (for erasure of a person's mail).
    pub async fn search_message_id(&mut self, message_id: &str) -> Result<Vec<u32>> {
        let clean: String = message_id
            .chars()
            .filter(|c| !matches!(c, '"' | '\\' | '\r' | '\n'))
            .collect();
        let query = format!("HEADER Message-ID \"{clean}\"");
        let uids = timed(self.deadline, "UID SEARCH", self.session.uid_search(query)).await?;
        let mut uids: Vec<u32> = uids.into_iter().collect();
        uids.sort_unstable();
        Ok(uids)
    }

    pub async fn append(&mut self, folder: &str, raw: &[u8]) -> Result<()> {
        self.ensure_folder(folder).await?;
        timed(
            self.deadline,
            "APPEND",
            self.session.append(folder, Some("(\\Seen)"), None, raw),
        )
        .await
    }

    async fn ensure_folder(&mut self, folder: &str) -> Result<()> {
        // CREATE fails when the folder exists: that is the common case, and harmless.
        let _ = tokio::time::timeout(self.deadline, self.session.create(folder)).await;
        Ok(())
    }

    /// Waits in IDLE (RFC 2177) for news, at most `max` in all: async-imap's own timeout
    /// restarts at every server keepalive, so an absolute deadline is kept here.
    pub async fn idle(
        self,
        max: Duration,
        shutdown: &CancellationToken,
    ) -> Result<(Connection, Woken)> {
        let Connection {
            session,
            deadline,
            capabilities,
        } = self;
        let mut handle = session.idle();
        timed(deadline, "IDLE", handle.init()).await?;
        let woken = {
            let (wait, stop) = handle.wait_with_timeout(max);
            tokio::select! {
                outcome = tokio::time::timeout(max, wait) => match outcome {
                    Ok(Ok(IdleResponse::NewData(_))) => Woken::NewData,
                    Ok(Ok(IdleResponse::Timeout | IdleResponse::ManualInterrupt)) | Err(_) => Woken::Renew,
                    Ok(Err(e)) => return Err(ImapError::Command(anyhow::Error::from(e).context("IDLE"))),
                },
                _ = shutdown.cancelled() => {
                    drop(stop);
                    Woken::Shutdown
                }
            }
        };
        let session = timed(deadline, "DONE", handle.done()).await?;
        Ok((
            Connection {
                session,
                deadline,
                capabilities,
            },
            woken,
        ))
    }

    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(self.deadline, self.session.logout()).await;
    }
}

async fn connect(config: &ImapConfig, deadline: Duration) -> anyhow::Result<Wire> {
    let address = format!("{}:{}", config.host, config.port);
    let tcp = tokio::time::timeout(deadline, TcpStream::connect(&address))
        .await
        .with_context(|| format!("connecting to {address}: no answer within {deadline:?}"))?
        .with_context(|| format!("connecting to {address}"))?;
    keepalive(&tcp);
    match config.security {
        Security::Tls => Ok(Wire::Tls(Box::new(
            tls_handshake(tcp, config, deadline).await?,
        ))),
        Security::Starttls | Security::Plain => Ok(Wire::Plain(tcp)),
    }
}

/// TCP keepalive: a connection that died silently (NAT, firewall) is noticed.
fn keepalive(tcp: &TcpStream) {
    let settings = socket2::TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(20));
    let _ = socket2::SockRef::from(tcp).set_tcp_keepalive(&settings);
}

async fn tls_handshake(
    tcp: TcpStream,
    config: &ImapConfig,
    deadline: Duration,
) -> anyhow::Result<TlsStream<TcpStream>> {
    let tls = crate::tls::client_config(config.ca_file.as_deref())?;
    let name = rustls_pki_types::ServerName::try_from(config.host.clone())
        .context("the IMAP host name")?;
    tokio::time::timeout(
        deadline,
        TlsConnector::from(Arc::clone(&tls)).connect(name, tcp),
    )
    .await
    .context("TLS handshake: no answer")?
    .context("TLS handshake with the IMAP server")
}

async fn starttls(
    mut client: Client<Wire>,
    config: &ImapConfig,
    deadline: Duration,
) -> Result<Client<Wire>> {
    timed(
        deadline,
        "STARTTLS",
        client.run_command_and_check_ok("STARTTLS", None),
    )
    .await?;
    let Wire::Plain(tcp) = client.into_inner() else {
        return Err(ImapError::Command(anyhow::anyhow!(
            "STARTTLS on a connection that is already TLS"
        )));
    };
    let tls = tls_handshake(tcp, config, deadline)
        .await
        .map_err(ImapError::Unreachable)?;
    Ok(Client::new(Wire::Tls(Box::new(tls))))
}

/// `1:3,7,9:10` from sorted UIDs.
pub fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts = Vec::new();
    let mut iter = sorted.into_iter().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().expect("peeked");
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}:{end}")
        });
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::uid_set;

    #[test]
    fn uid_sets_are_compact() {
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 10]), "1:3,7,9:10");
        assert_eq!(uid_set(&[5]), "5");
        assert_eq!(uid_set(&[]), "");
    }
}
