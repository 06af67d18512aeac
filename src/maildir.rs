//! The local inbox edge: a maildir (`new/` and `cur/`) or a plain folder of `.eml` files,
//! read-only. Each file is known by its name (for a maildir, the unique part before `:2,`,
//! so a mail client marking it read does not make it new again).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::app::App;
use crate::ingest::{self, Outcome};
use crate::store::messages::{self, Position};

/// One file waiting in the folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// How the file is known in the database.
    pub key: String,
}

/// The folder's `source` column: `folder:<absolute path>`.
pub fn source(dir: &Path) -> String {
    let absolute = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    format!("folder:{}", absolute.display())
}

/// Every message file in the folder, oldest name first (maildir names start with the
/// delivery time; sample folders are numbered).
pub fn list(dir: &Path) -> anyhow::Result<Vec<Found>> {
    let is_maildir = dir.join("new").is_dir() || dir.join("cur").is_dir();
    let mut found = Vec::new();
    if is_maildir {
        for sub in ["cur", "new"] {
            let sub_dir = dir.join(sub);
            if !sub_dir.is_dir() {
                continue;
            }
            for path in files_in(&sub_dir)? {
                let name = file_name(&path);
                let key = name.split(":2,").next().unwrap_or(&name).to_string();
                found.push(Found { path, key });
            }
        }
    } else {
        for path in files_in(dir)? {
            if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("eml"))
            {
                let key = file_name(&path);
                found.push(Found { path, key });
            }
        }
    }
    found.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(found)
}

fn files_in(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    Ok(entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file() && !file_name(p).starts_with('.'))
        .collect())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Reads a folder once and again on every poll, ingesting files it has not stored yet.
pub struct Watcher {
    dir: PathBuf,
    source: String,
    known: HashSet<String>,
}

/// What one pass over the folder did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    pub processed: usize,
    pub duplicates: usize,
    pub quarantined: usize,
    pub failed: usize,
}

impl Pass {
    pub fn add(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Processed { .. } => self.processed += 1,
            Outcome::Duplicate => self.duplicates += 1,
            Outcome::Quarantined { .. } => self.quarantined += 1,
            Outcome::Failed { .. } => self.failed += 1,
        }
    }
}

impl Watcher {
    pub async fn open(app: &App, dir: &Path) -> anyhow::Result<Watcher> {
        if !dir.is_dir() {
            anyhow::bail!("inbox folder {} does not exist", dir.display());
        }
        let source = source(dir);
        let mut conn = app.pool.acquire().await?;
        let known = messages::known_files(&mut conn, &app.mailbox.id, &source)
            .await?
            .into_iter()
            .collect();
        Ok(Watcher {
            dir: dir.to_path_buf(),
            source,
            known,
        })
    }

    /// Files not stored yet, oldest first.
    pub fn pending(&self) -> anyhow::Result<Vec<Found>> {
        Ok(list(&self.dir)?
            .into_iter()
            .filter(|f| !self.known.contains(&f.key))
            .collect())
    }

    /// Ingests one file; `None` when it vanished since it was listed.
    pub async fn take(&mut self, app: &App, found: Found) -> anyhow::Result<Option<Outcome>> {
        let Ok(raw) = tokio::fs::read(&found.path).await else {
            // Moved or deleted since listing: the next pass sees where it went.
            return Ok(None);
        };
        let outcome =
            ingest::ingest(app, &self.source, Position::File(found.key.clone()), &raw).await?;
        self.known.insert(found.key);
        Ok(Some(outcome))
    }

    /// Ingests every new file; stops early (between files) on shutdown.
    pub async fn pass(&mut self, app: &App, shutdown: &CancellationToken) -> anyhow::Result<Pass> {
        let mut pass = Pass::default();
        for found in self.pending()? {
            if shutdown.is_cancelled() {
                break;
            }
            if let Some(outcome) = self.take(app, found).await? {
                pass.add(&outcome);
            }
        }
        Ok(pass)
    }

    /// Polls the folder every `every` until shutdown.
    pub async fn run(mut self, app: App, every: Duration, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            match self.pass(&app, &shutdown).await {
                Ok(pass) if pass != Pass::default() => tracing::info!(?pass, "inbox folder read"),
                Ok(_) => {}
                Err(error) => {
                    tracing::error!(error = %format!("{error:#}"), "reading the inbox folder")
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(every) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_maildir_is_read_from_new_and_cur_and_known_by_its_unique_name() {
        let dir = std::env::temp_dir().join(format!("rm-maildir-{}", std::process::id()));
        for sub in ["new", "cur", "tmp"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::write(dir.join("new/1700000002.M1P1.host"), "x").unwrap();
        std::fs::write(dir.join("cur/1700000001.M1P1.host:2,S"), "x").unwrap();
        std::fs::write(dir.join("tmp/1700000003.M1P1.host"), "x").unwrap();
        let keys: Vec<String> = list(&dir).unwrap().into_iter().map(|f| f.key).collect();
        assert_eq!(keys, ["1700000001.M1P1.host", "1700000002.M1P1.host"]);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_plain_folder_gives_its_eml_files_in_name_order() {
        let dir = std::env::temp_dir().join(format!("rm-emlfolder-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "02-reply.eml",
            "01-first.eml",
            "notes.txt",
            ".02-reply.eml.partial",
        ] {
            std::fs::write(dir.join(name), "x").unwrap();
        }
        let keys: Vec<String> = list(&dir).unwrap().into_iter().map(|f| f.key).collect();
        assert_eq!(keys, ["01-first.eml", "02-reply.eml"]);
        std::fs::remove_dir_all(&dir).ok();
    }
}
