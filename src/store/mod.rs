//! Postgres, the system of record: messages, cases, facts, consent, the outbox, referrals,
//! the disclosure log, staff exceptions and the audit trail. Functions here read and write
//! rows and convert them to domain types; they decide nothing.

pub mod cases;
pub mod events;
pub mod exceptions;
pub mod imap;
pub mod messages;
pub mod outbox;
pub mod report;
pub mod staff;
pub mod views;

use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use sqlx::migrate::{MigrateDatabase, Migrator};
use sqlx::postgres::PgPoolOptions;

/// The schema, compiled in from `migrations/`.
pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Connects, creating the database when the server lacks it (a fresh machine), and brings
/// the schema up to date.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let exists = sqlx::Postgres::database_exists(url)
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {}", redact(url)))?;
    if !exists {
        sqlx::Postgres::create_database(url)
            .await
            .with_context(|| format!("creating the database at {}", redact(url)))?;
        tracing::info!(database = %redact(url), "created the database");
    }
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await
        .with_context(|| format!("connecting to {}", redact(url)))?;
    migrate(&pool).await?;
    Ok(pool)
}

pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR
        .run(pool)
        .await
        .context("applying the database migrations")
}

/// The URL without its password, for messages and logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_messages() {
        let cases = [
            (
                "postgres://rm:secret@db:5432/rm",
                "postgres://rm:***@db:5432/rm",
            ),
            (
                "postgres://postgres@127.0.0.1/rm",
                "postgres://postgres@127.0.0.1/rm",
            ),
            ("postgres:///rm", "postgres:///rm"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact(url), shown);
        }
    }
}
