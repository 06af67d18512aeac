//! The command line: `regional-mailbox <command>`. Parses arguments, loads config and
//! rules, and calls the library; no decisions are made here.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde::Serialize;

use crate::app::App;
use crate::config::Config;
use crate::domain::CaseRef;
use crate::maildir::{self, Found, Watcher};
use crate::outbox::Transport;
use crate::pipeline::{self, Settings, Triage};
use crate::rules::{Rules, examples};
use crate::scheduler;
use crate::store::messages::Position;
use crate::store::views;

#[derive(Debug, Parser)]
#[command(
    name = "regional-mailbox",
    version,
    about = "Runs a regional support mailbox for displaced international care workers"
)]
pub struct Cli {
    /// Config file (default: ./regional-mailbox.toml when present). RM_* variables override it.
    #[arg(long, global = true, env = "RM_CONFIG")]
    pub config: Option<PathBuf>,
    /// Which configured mailbox (`[mailboxes.<id>]`); default: the only or first one.
    #[arg(long, global = true)]
    pub mailbox: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Triage emails offline: kind, facts and proposed route for each file (or folder of .eml).
    Triage {
        /// One JSON object per file, one per line (the stable contract).
        #[arg(long)]
        json: bool,
        /// Rules folder (default from config: rules/).
        #[arg(long)]
        rules: Option<PathBuf>,
        /// .eml files, or folders of them.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Validate or test the rules in rules/ (and the templates in templates/).
    Rules {
        #[command(subcommand)]
        action: RulesAction,
        /// Rules folder (default from config: rules/).
        #[arg(long, global = true)]
        rules: Option<PathBuf>,
    },
    /// Create the database if needed and apply the migrations (also done at start-up).
    Migrate,
    /// Run the mailbox: read new mail, answer, refer, remind. Without --inbox, every
    /// configured mailbox on its IMAP and SMTP servers; with --inbox and --outbox, one
    /// mailbox on local folders.
    Run {
        /// A maildir or a folder of .eml files; new files are picked up while running.
        #[arg(long, requires = "outbox")]
        inbox: Option<PathBuf>,
        /// Outgoing emails are written here as <id>-<kind>.eml.
        #[arg(long, requires = "inbox")]
        outbox: Option<PathBuf>,
        /// Process what is there, deliver the outbox, print cases and outbox, and exit.
        #[arg(long)]
        once: bool,
        /// Seconds between looks at the inbox folder.
        #[arg(long, default_value_t = 5)]
        poll_seconds: u64,
    },
    /// Store and process emails once (files or folders), with a progress bar and a summary.
    /// Outgoing emails are queued; `run` delivers them.
    Ingest {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List cases or show one case's timeline.
    Case {
        #[command(subcommand)]
        action: CaseAction,
    },
    /// List the outbox.
    Outbox {
        #[arg(long, default_value_t = 200)]
        limit: i64,
    },
    /// Serve the staff web app (and health and metrics) alone, on `http.listen`.
    Web,
    /// The programme's figures.
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
    /// Data-protection rights: subject access, erasure, retention.
    Gdpr {
        #[command(subcommand)]
        action: GdprAction,
    },
    /// Staff and LA-lead accounts of the web app.
    Staff {
        #[command(subcommand)]
        action: StaffAction,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffAction {
    /// Create an account, or reset its role and password. The password is asked for, or
    /// read from standard input when that is not a terminal.
    Add {
        email: String,
        /// admin (accounts, rules), staff (everything about cases), or la-lead.
        #[arg(long, value_parser = ["admin", "staff", "la-lead"])]
        role: String,
        /// The council whose referrals an LA lead sees, as in rules/directory.toml.
        #[arg(long)]
        council: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ReportAction {
    /// The DHSC return for a period (UK dates, both included).
    Dhsc {
        /// First day, YYYY-MM-DD.
        #[arg(long)]
        from: chrono::NaiveDate,
        /// Last day, YYYY-MM-DD.
        #[arg(long)]
        to: chrono::NaiveDate,
        /// csv, md or json.
        #[arg(long, default_value = "md", value_parser = ["csv", "md", "json"])]
        format: String,
        /// Show figures from 1 to 4 as <5 (for published copies).
        #[arg(long)]
        suppress_small: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GdprAction {
    /// Subject access: everything held about a person (by case reference or email
    /// address) as JSON, with the raw emails received and sent.
    Export {
        /// RM-000123 or an email address.
        who: String,
        /// The folder to write (default: subject-access-<who>).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Erasure: removes a case's messages and facts from the database and the raw copies
    /// from the IMAP server, keeping an anonymous tombstone for the figures.
    Erase {
        /// RM-000123.
        reference: String,
        /// Who asks (recorded with the erasure); default: your login name.
        #[arg(long)]
        by: Option<String>,
    },
    /// Retention: erases closed cases older than `retention.closed_days`.
    Retention {
        /// Only list the cases that would be erased.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CaseAction {
    List {
        /// Only cases in this state (awaiting_consent, referred_la, ...).
        #[arg(long)]
        state: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: i64,
    },
    /// A case's facts and its whole timeline.
    Show { reference: String },
}

#[derive(Debug, Subcommand)]
pub enum RulesAction {
    /// Load and compile every rule file; report errors with file and line.
    Check,
    /// Run the examples in rules/tests/ and compare with their expectations.
    Test,
}

pub fn run(cli: Cli) -> anyhow::Result<std::process::ExitCode> {
    let config = Config::load(cli.config.as_deref())?;
    crate::telemetry::init(&config);
    match cli.command {
        Command::Triage { json, rules, files } => {
            let rules = load_rules(rules.as_deref().unwrap_or(&config.rules_dir), &config)?;
            triage(&files, json, &rules, &config.pipeline_settings())
        }
        Command::Rules { action, rules } => {
            let dir = rules.unwrap_or_else(|| config.rules_dir.clone());
            match action {
                RulesAction::Check => rules_check(&dir, &config),
                RulesAction::Test => rules_test(&dir, &config),
            }
        }
        Command::Migrate => block_on(async {
            crate::store::connect(config.database_url(), 1).await?;
            println!(
                "database at {} is up to date",
                crate::store::redact(config.database_url())
            );
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Run {
            inbox,
            outbox,
            once,
            poll_seconds,
        } => block_on(async {
            let (Some(inbox), Some(outbox)) = (inbox, outbox) else {
                anyhow::ensure!(!once, "--once needs --inbox and --outbox");
                crate::daemon::run_servers(&config).await?;
                return Ok(std::process::ExitCode::SUCCESS);
            };
            let app = App::start(&config, cli.mailbox.as_deref()).await?;
            let transport = Transport::Folder(outbox.clone());
            if once {
                run_once(&app, &inbox, &transport).await?;
                print_cases(&app, None, 200).await?;
                print_outbox(&app, 200, Some(&outbox)).await?;
            } else {
                let every = std::time::Duration::from_secs(poll_seconds.max(1));
                crate::daemon::run_local(app, &inbox, transport, every).await?;
            }
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Ingest { paths } => block_on(async {
            let app = App::start(&config, cli.mailbox.as_deref()).await?;
            ingest_paths(&app, &paths).await
        }),
        Command::Case { action } => block_on(async {
            let app = App::start(&config, cli.mailbox.as_deref()).await?;
            match action {
                CaseAction::List { state, limit } => {
                    print_cases(&app, state.as_deref(), limit).await?
                }
                CaseAction::Show { reference } => return show_case(&app, &reference).await,
            }
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Outbox { limit } => block_on(async {
            let app = App::start(&config, cli.mailbox.as_deref()).await?;
            print_outbox(&app, limit, None).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Report {
            action:
                ReportAction::Dhsc {
                    from,
                    to,
                    format,
                    suppress_small,
                },
        } => block_on(async {
            anyhow::ensure!(from <= to, "--from {from} is after --to {to}");
            let app = App::start(&config, cli.mailbox.as_deref()).await?;
            let mut conn = app.pool.acquire().await?;
            let values = crate::store::report::dhsc(&mut conn, &app.mailbox.id, from, to).await?;
            let ret = crate::report::Return {
                mailbox: app.mailbox.id.clone(),
                from,
                to,
                values,
            };
            let format = crate::report::Format::parse(&format).context("the format")?;
            print!("{}", ret.render(format, suppress_small));
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Gdpr { action } => block_on(async {
            let app = App::start(&config, cli.mailbox.as_deref()).await?;
            let operator = || {
                crate::store::events::Actor::Operator(
                    std::env::var("SUDO_USER")
                        .or_else(|_| std::env::var("USER"))
                        .unwrap_or_else(|_| "unknown".into()),
                )
            };
            match action {
                GdprAction::Export { who, out } => {
                    let out = out.unwrap_or_else(|| {
                        let safe: String = who
                            .chars()
                            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                            .collect();
                        PathBuf::from(format!("subject-access-{safe}"))
                    });
                    let exported = crate::privacy::export(&app, &who, &out, &operator()).await?;
                    println!(
                        "{} case(s), {} messages received, {} emails sent: {}",
                        exported.cases,
                        exported.messages,
                        exported.emails,
                        exported.file.display()
                    );
                }
                GdprAction::Erase { reference, by } => {
                    let actor = by.map_or_else(operator, crate::store::events::Actor::Operator);
                    let reference = CaseRef::parse_any(&reference)
                        .with_context(|| format!("`{reference}` is not a case reference"))?;
                    let mut conn = app.pool.acquire().await?;
                    let id = crate::store::cases::find_by_reference(&mut conn, &reference)
                        .await?
                        .with_context(|| format!("there is no case {reference}"))?;
                    let erased = crate::privacy::erase(&app, id, &actor).await?;
                    println!(
                        "{} erased: {} messages, {} facts, {} emails; {} copies removed from the IMAP server",
                        erased.reference,
                        erased.messages,
                        erased.facts,
                        erased.emails,
                        erased.imap_copies
                    );
                    for file in &erased.files_to_delete {
                        println!("delete this file of the local inbox yourself: {file}");
                    }
                }
                GdprAction::Retention { dry_run } => {
                    let days = config.retention.closed_days;
                    let now = chrono::Utc::now();
                    if dry_run {
                        let due = crate::privacy::due_for_erasure(&app, days, now).await?;
                        println!(
                            "{} case(s) closed more than {days} days ago would be erased:",
                            due.len()
                        );
                        for case in due {
                            println!(
                                "{}  {}  closed {}",
                                case.reference,
                                case.state,
                                case.closed_at.format("%Y-%m-%d")
                            );
                        }
                    } else {
                        let erased = crate::privacy::apply_retention(&app, days, now).await?;
                        println!("{} case(s) erased: {}", erased.len(), erased.join(" "));
                    }
                }
            }
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Web => block_on(async {
            crate::daemon::run_web(&config).await?;
            Ok(std::process::ExitCode::SUCCESS)
        }),
        Command::Staff {
            action:
                StaffAction::Add {
                    email,
                    role,
                    council,
                },
        } => block_on(async {
            let mut directories = Vec::new();
            for (_, mailbox) in config.mailboxes() {
                let dir = mailbox.rules_dir.as_ref().unwrap_or(&config.rules_dir);
                directories.push(
                    Rules::load(dir)
                        .map_err(|e| anyhow::anyhow!("{e}"))?
                        .directory,
                );
            }
            let password = read_password()?;
            let role = crate::web::check_account(
                &email,
                &role,
                council.as_deref(),
                &password,
                |council| directories.iter().any(|d| d.council(council).is_some()),
            )
            .map_err(|problem| anyhow::anyhow!("{problem}"))?;
            let hash = crate::web::hash_password(&password)?;
            let pool = crate::store::connect(config.database_url(), 1).await?;
            let mut conn = pool.acquire().await?;
            let id =
                crate::store::staff::upsert(&mut conn, &email, role, council.as_deref(), &hash)
                    .await?;
            crate::store::events::insert(
                &mut conn,
                None,
                None,
                &crate::store::events::Actor::Bot,
                "account_saved",
                &serde_json::json!({ "account": id, "role": role.as_str(), "council": council }),
            )
            .await?;
            println!("account {} saved ({})", email.to_lowercase(), role.as_str());
            Ok(std::process::ExitCode::SUCCESS)
        }),
    }
}

/// A password from the terminal (not echoed) or from standard input.
fn read_password() -> anyhow::Result<String> {
    use std::io::{BufRead, IsTerminal};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    eprint!("Password (at least 12 characters): ");
    // No echo while typing; restored afterwards even on error.
    let quiet = std::process::Command::new("stty")
        .arg("-echo")
        .status()
        .is_ok_and(|s| s.success());
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if quiet {
        let _ = std::process::Command::new("stty").arg("echo").status();
    }
    eprintln!();
    read?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

fn block_on<F: std::future::Future<Output = anyhow::Result<std::process::ExitCode>>>(
    future: F,
) -> anyhow::Result<std::process::ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

/// One pass: read the inbox (delivering after each message, as the daemon would within
/// seconds), retry earlier failures, run due timers, deliver the outbox.
async fn run_once(app: &App, inbox: &Path, transport: &Transport) -> anyhow::Result<()> {
    let mut watcher = Watcher::open(app, inbox).await?;
    let mut pass = maildir::Pass::default();
    let mut sent = 0;
    let pending = watcher.pending()?;
    // Files stored by an earlier run count as already seen.
    pass.duplicates = maildir::list(inbox)?.len().saturating_sub(pending.len());
    for found in pending {
        if let Some(outcome) = watcher.take(app, found).await? {
            pass.add(&outcome);
        }
        sent += crate::outbox::drain(app, transport).await?;
    }
    let retried = crate::daemon::retry_waiting(app).await?;
    let tick = scheduler::tick(app, chrono::Utc::now()).await?;
    sent += crate::outbox::drain(app, transport).await?;
    println!(
        "inbox {}: {} processed, {} already seen, {} quarantined, {} failed (kept for retry); {} retried",
        inbox.display(),
        pass.processed,
        pass.duplicates,
        pass.quarantined,
        pass.failed,
        retried
    );
    println!(
        "timers: {} reminded, {} closed, {} deadline warnings; {} emails delivered",
        tick.reminded, tick.closed, tick.deadline_warnings, sent
    );
    Ok(())
}

async fn ingest_paths(app: &App, paths: &[PathBuf]) -> anyhow::Result<std::process::ExitCode> {
    let mut files: Vec<(String, Found)> = Vec::new();
    for path in paths {
        if path.is_dir() {
            let source = maildir::source(path);
            files.extend(
                maildir::list(path)?
                    .into_iter()
                    .map(|f| (source.clone(), f)),
            );
        } else {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let key = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            files.push((
                maildir::source(dir),
                Found {
                    path: path.clone(),
                    key,
                },
            ));
        }
    }
    let started = chrono::Utc::now();
    let progress = indicatif::ProgressBar::new(files.len() as u64).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} {per_sec} {elapsed_precise}")
            .expect("a valid progress template"),
    );
    let mut pass = crate::maildir::Pass::default();
    for (source, found) in &files {
        let raw = std::fs::read(&found.path)
            .with_context(|| format!("reading {}", found.path.display()))?;
        let outcome =
            crate::ingest::ingest(app, source, Position::File(found.key.clone()), &raw).await?;
        pass.add(&outcome);
        progress.inc(1);
    }
    progress.finish_and_clear();
    let mut conn = app.pool.acquire().await?;
    let queued: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE mailbox = $1 AND created_at >= $2")
            .bind(&app.mailbox.id)
            .bind(started)
            .fetch_one(&mut *conn)
            .await?;
    let exceptions: i64 =
        sqlx::query_scalar("SELECT count(*) FROM exceptions WHERE created_at >= $1")
            .bind(started)
            .fetch_one(&mut *conn)
            .await?;
    println!(
        "{} files: {} processed, {} already seen, {} quarantined, {} failed (kept for retry)",
        files.len(),
        pass.processed,
        pass.duplicates,
        pass.quarantined,
        pass.failed
    );
    println!(
        "{queued} emails queued in the outbox (`run` delivers them); {exceptions} staff exceptions opened"
    );
    Ok(if pass.failed == 0 {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}

async fn print_cases(app: &App, state: Option<&str>, limit: i64) -> anyhow::Result<()> {
    let mut conn = app.pool.acquire().await?;
    let cases = views::cases(&mut conn, &app.mailbox.id, state, limit).await?;
    println!("\nCASES ({})", cases.len());
    println!(
        "{:<11} {:<22} {:<24} {:<10} {:<14} {:<5} {:<4} open exceptions",
        "reference", "state", "route", "consent", "readiness", "sg", "msgs"
    );
    for c in &cases {
        println!(
            "{:<11} {:<22} {:<24} {:<10} {:<14} {:<5} {:<4} {}",
            c.reference,
            c.state,
            c.route.as_deref().unwrap_or("-"),
            c.consent.as_deref().unwrap_or("-"),
            c.readiness.as_deref().unwrap_or("-"),
            if c.safeguarding { "YES" } else { "-" },
            c.messages,
            c.open_exceptions
        );
    }
    Ok(())
}

async fn print_outbox(app: &App, limit: i64, folder: Option<&Path>) -> anyhow::Result<()> {
    let mut conn = app.pool.acquire().await?;
    let rows = views::outbox(&mut conn, &app.mailbox.id, limit).await?;
    match folder {
        Some(folder) => println!(
            "\nOUTBOX ({} emails; files in {})",
            rows.len(),
            folder.display()
        ),
        None => println!("\nOUTBOX ({} emails)", rows.len()),
    }
    println!(
        "{:<6} {:<9} {:<11} {:<25} {:<34} subject",
        "id", "status", "case", "kind", "to"
    );
    for row in &rows {
        println!(
            "{:<6} {:<9} {:<11} {:<25} {:<34} {}",
            row.id,
            row.status,
            row.reference.as_deref().unwrap_or("-"),
            row.kind,
            row.recipients.join(", "),
            row.subject
        );
    }
    Ok(())
}

async fn show_case(app: &App, reference: &str) -> anyhow::Result<std::process::ExitCode> {
    let mut conn = app.pool.acquire().await?;
    let Some(reference) = CaseRef::parse_any(reference) else {
        bail!("`{reference}` is not a case reference like RM-000123");
    };
    let Some(id) = crate::store::cases::find_by_reference(&mut conn, &reference).await? else {
        eprintln!("no case {reference}");
        return Ok(std::process::ExitCode::FAILURE);
    };
    let case = crate::store::cases::snapshot(&mut conn, id)
        .await?
        .context("the case exists")?;
    println!("{}  {}", case.reference, case.state);
    println!(
        "worker:    {}",
        case.worker_name.as_deref().unwrap_or("(name not known)")
    );
    let addresses: Vec<String> = case.addresses.iter().map(|a| a.to_string()).collect();
    println!(
        "addresses: {}",
        if addresses.is_empty() {
            "-".into()
        } else {
            addresses.join(", ")
        }
    );
    println!("language:  {}", case.language);
    println!(
        "consent:   {}",
        case.consent.map_or("not given yet", |c| c.as_str())
    );
    if let Some(deadline) = case.deadline {
        println!("deadline:  {deadline} (60 days after the revocation)");
    }
    println!("facts:");
    for (field, fact) in &case.facts {
        println!("  {field:<20} {}", fact.value);
    }
    println!("timeline:");
    for entry in views::timeline(&mut conn, id).await? {
        println!(
            "  {}  {:<10} {}",
            entry.at.format("%Y-%m-%d %H:%M:%S"),
            entry.what,
            entry.summary
        );
    }
    Ok(std::process::ExitCode::SUCCESS)
}

pub fn load_rules(dir: &Path, config: &Config) -> anyhow::Result<Rules> {
    let mut rules = Rules::load(dir)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("loading rules from {}", dir.display()))?;
    if let Some(path) = &config.postcode_directory {
        let count = rules.gazetteer.load_postcode_directory(path)?;
        tracing::info!(count, "loaded exact postcodes from the postcode directory");
    }
    Ok(rules)
}

/// One line of `triage --json`: the file as given, then the triage or the error.
#[derive(Serialize)]
struct Line<'a> {
    file: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(flatten)]
    triage: Option<&'a Triage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'static str>,
}

fn triage(
    inputs: &[PathBuf],
    json: bool,
    rules: &Rules,
    settings: &Settings,
) -> anyhow::Result<std::process::ExitCode> {
    let files = expand(inputs)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if !json {
        writeln!(out, "{}", table_row(&TABLE_HEADER.map(String::from)))?;
    }
    for file in &files {
        let shown = file.display().to_string();
        let result = std::fs::read(file)
            .map_err(|e| format!("cannot read file: {e}"))
            .and_then(|raw| {
                pipeline::triage(&raw, rules, settings).map_err(|q| format!("quarantined: {q}"))
            });
        if json {
            let line = match &result {
                Ok(triage) => Line {
                    file: &shown,
                    error: None,
                    triage: Some(triage),
                    route: None,
                },
                Err(reason) => Line {
                    file: &shown,
                    error: Some(reason.clone()),
                    triage: None,
                    route: Some("staff"),
                },
            };
            serde_json::to_writer(&mut out, &line)?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", table_row(&row(&shown, &result)))?;
        }
    }
    out.flush()?;
    Ok(std::process::ExitCode::SUCCESS)
}

/// Files as given; folders become their .eml (and .txt/.msg) files, sorted.
fn expand(inputs: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(input)
                .with_context(|| format!("reading folder {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .is_some_and(|x| x == "eml" || x == "txt" || x == "msg")
                })
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

const TABLE_HEADER: [&str; 11] = [
    "file",
    "kind",
    "consent",
    "postcode",
    "council",
    "region",
    "safeguarding",
    "licence",
    "car",
    "readiness",
    "route",
];

fn row(file: &str, result: &Result<Triage, String>) -> [String; 11] {
    let name = Path::new(file)
        .file_name()
        .map_or(file.to_string(), |n| n.to_string_lossy().into_owned());
    match result {
        Ok(t) => [
            name,
            t.kind.to_string(),
            t.consent.map_or("-".into(), |c| c.as_str().into()),
            t.postcode.as_ref().map_or("-".into(), |p| p.to_string()),
            t.local_authority.clone().unwrap_or("-".into()),
            t.region.clone().unwrap_or("-".into()),
            if t.safeguarding {
                "YES".into()
            } else {
                "-".into()
            },
            t.driving_licence.map_or("-".into(), |l| l.as_str().into()),
            t.car_access
                .map_or("-".into(), |c| if c { "yes".into() } else { "no".into() }),
            t.readiness.as_str().into(),
            t.route.to_string(),
        ],
        Err(reason) => {
            let mut cells: [String; 11] = Default::default();
            cells[0] = name;
            cells[1] = "QUARANTINED".into();
            cells[10] = reason.clone();
            cells
        }
    }
}

fn table_row(cells: &[String; 11]) -> String {
    const WIDTHS: [usize; 11] = [10, 16, 9, 9, 18, 24, 12, 14, 5, 13, 0];
    cells
        .iter()
        .zip(WIDTHS)
        .map(|(cell, width)| format!("{cell:<width$}"))
        .collect::<Vec<_>>()
        .join(" ")
        .trim_end()
        .to_string()
}

fn rules_check(dir: &Path, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    match Rules::load(dir) {
        Ok(rules) => {
            if let Some(path) = &config.postcode_directory {
                let mut rules = rules;
                rules.gazetteer.load_postcode_directory(path)?;
            }
            println!("rules in {} are valid", dir.display());
            match crate::replies::Templates::load(&config.templates_dir) {
                Ok(_) => {
                    println!("templates in {} are valid", config.templates_dir.display());
                    Ok(std::process::ExitCode::SUCCESS)
                }
                Err(errors) => {
                    eprintln!("{errors}");
                    eprintln!(
                        "{} problem(s) in {}",
                        errors.0.len(),
                        config.templates_dir.display()
                    );
                    Ok(std::process::ExitCode::FAILURE)
                }
            }
        }
        Err(errors) => {
            eprintln!("{errors}");
            eprintln!("{} problem(s) in {}", errors.0.len(), dir.display());
            Ok(std::process::ExitCode::FAILURE)
        }
    }
}

fn rules_test(dir: &Path, config: &Config) -> anyhow::Result<std::process::ExitCode> {
    let rules = load_rules(dir, config)?;
    let outcomes = match examples::run(&rules, &config.pipeline_settings()) {
        Ok(outcomes) => outcomes,
        Err(errors) => {
            for error in &errors {
                eprintln!("{error}");
            }
            bail!("{} problem(s) reading rules/tests", errors.len());
        }
    };
    let failed: Vec<&examples::Outcome> = outcomes.iter().filter(|o| !o.passed()).collect();
    for outcome in &failed {
        println!("FAIL {} / {}", outcome.file.display(), outcome.name);
        for failure in &outcome.failures {
            println!("     {failure}");
        }
    }
    println!(
        "{} examples, {} passed, {} failed",
        outcomes.len(),
        outcomes.len() - failed.len(),
        failed.len()
    );
    Ok(if failed.is_empty() {
        std::process::ExitCode::SUCCESS
    } else {
        std::process::ExitCode::FAILURE
    })
}
