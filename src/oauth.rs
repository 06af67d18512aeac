//! OAuth 2.0 access tokens for XOAUTH2 (Microsoft 365, Google). The mailbox does not run an
//! OAuth flow itself: an operator's command prints a fresh token, or another process keeps
//! it in a file. Either is read at every login, so a token is always fresh when used.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::config::AuthMethod;

/// Reads the token from `command` (run with `sh -c`, 30 s at most) or from `file`.
pub async fn access_token(
    command: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<SecretString> {
    let token = match (command, file) {
        (Some(command), _) => {
            let output = tokio::time::timeout(
                Duration::from_secs(30),
                tokio::process::Command::new("sh")
                    .arg("-c")
                    .arg(command)
                    .kill_on_drop(true)
                    .output(),
            )
            .await
            .context("the OAuth token command took longer than 30 s")?
            .context("running the OAuth token command")?;
            if !output.status.success() {
                bail!("the OAuth token command failed ({})", output.status);
            }
            String::from_utf8(output.stdout).context("the OAuth token is not UTF-8")?
        }
        (None, Some(file)) => tokio::fs::read_to_string(file)
            .await
            .with_context(|| format!("reading the OAuth token file {}", file.display()))?,
        (None, None) => bail!("XOAUTH2 needs oauth_command or oauth_file"),
    };
    let token = token.trim();
    if token.is_empty() || token.contains(char::is_whitespace) {
        bail!("the OAuth token is empty or not a single word");
    }
    Ok(SecretString::from(token.to_string()))
}

/// What a login presents for `auth`: the configured password (none is an empty one, which
/// the server refuses with its own words), or a fresh access token.
pub async fn login_secret(
    auth: AuthMethod,
    password: Option<&SecretString>,
    command: Option<&str>,
    file: Option<&Path>,
) -> anyhow::Result<SecretString> {
    match auth {
        AuthMethod::Password => Ok(password.cloned().unwrap_or_else(|| SecretString::from(""))),
        AuthMethod::Xoauth2 => access_token(command, file).await,
    }
}

/// The SASL XOAUTH2 initial response (before base64): `user=…^Aauth=Bearer …^A^A`.
pub fn xoauth2_response(user: &str, token: &str) -> String {
    format!("user={user}\x01auth=Bearer {token}\x01\x01")
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn the_xoauth2_response_has_the_documented_shape() {
        assert_eq!(
            xoauth2_response("support@example.org", "ya29.token"),
            "user=support@example.org\x01auth=Bearer ya29.token\x01\x01"
        );
    }

    #[tokio::test]
    async fn a_token_comes_from_a_command_or_a_file() {
        let token = access_token(Some("printf 'abc.def\\n'"), None)
            .await
            .unwrap();
        assert_eq!(token.expose_secret(), "abc.def");
        let file = std::env::temp_dir().join(format!("rm-token-{}", std::process::id()));
        std::fs::write(&file, "from-file\n").unwrap();
        assert_eq!(
            access_token(None, Some(&file))
                .await
                .unwrap()
                .expose_secret(),
            "from-file"
        );
        std::fs::remove_file(&file).ok();
        assert!(access_token(Some("exit 3"), None).await.is_err());
        assert!(access_token(Some("echo two words"), None).await.is_err());
    }
}
