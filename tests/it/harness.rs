//! Shared helpers: the project's rules, fixture paths and the built binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};

use regional_mailbox::replies::Templates;
use regional_mailbox::rules::Rules;

pub fn project_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures() -> PathBuf {
    project_dir().join("tests/fixtures")
}

pub fn rules() -> &'static Arc<Rules> {
    static RULES: OnceLock<Arc<Rules>> = OnceLock::new();
    RULES.get_or_init(|| {
        Arc::new(Rules::load(&project_dir().join("rules")).unwrap_or_else(|e| panic!("{e}")))
    })
}

pub fn templates() -> &'static Arc<Templates> {
    static TEMPLATES: OnceLock<Arc<Templates>> = OnceLock::new();
    TEMPLATES.get_or_init(|| {
        Arc::new(
            Templates::load(&project_dir().join("templates")).unwrap_or_else(|e| panic!("{e}")),
        )
    })
}

/// Runs the real `regional-mailbox` binary from the project folder.
pub fn regional_mailbox(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_regional-mailbox"))
        .args(args)
        .current_dir(project_dir())
        .env_remove("RM_CONFIG")
        .output()
        .expect("the binary runs")
}

/// A scratch folder under target/, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    let dir = project_dir().join("target/test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The URL of a `#[sqlx::test]` database, for the binary.
pub async fn database_url(pool: &sqlx::PgPool) -> String {
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the database tests");
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(pool)
        .await
        .unwrap();
    let server = base
        .rsplit_once('/')
        .map_or(base.as_str(), |(server, _)| server);
    format!("{server}/{database}")
}

/// Copies a folder and everything in it.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}
