//! The pure core's speed on one thread: whole-message triage over the dev corpus (120
//! labelled worker emails) and the public corpus (1,123 real-world messages: bounces,
//! charsets, malformed MIME), then the cost of each stage. Run with `cargo bench --bench
//! core` (optionally `-- --seconds N`); pin it to one core with `taskset -c 0` for steady
//! figures. Prints a Markdown table for BENCHMARKS.md.

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use regional_mailbox::domain::Email;
use regional_mailbox::pipeline::extract::{self, SourceRole, location};
use regional_mailbox::pipeline::text::Text;
use regional_mailbox::pipeline::{self, Settings, classify, context, parse, quote};
use regional_mailbox::rules::Rules;

fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)
            .expect("the corpus folder")
            .flatten()
        {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("eml" | "txt" | "msg")
            ) && !path.ends_with("SOURCES.md")
            {
                files.push(path);
            }
        }
    }
    files.sort();
    files.iter().filter_map(|p| std::fs::read(p).ok()).collect()
}

/// Runs `round` over and over for at least `budget` (or exactly `BENCH_ROUNDS` times,
/// for a profiler that counts instructions); returns items per second in the median
/// round, so that a neighbour's burst on a shared machine does not move the figure.
fn rate(items: usize, budget: Duration, mut round: impl FnMut()) -> f64 {
    round(); // warm: caches, lazy statics
    let fixed: Option<usize> = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok());
    let start = Instant::now();
    let mut rounds: Vec<f64> = Vec::new();
    while fixed.map_or(start.elapsed() < budget || rounds.len() < 5, |n| {
        rounds.len() < n
    }) {
        let began = Instant::now();
        round();
        rounds.push(began.elapsed().as_secs_f64());
    }
    if rounds.is_empty() {
        return f64::NAN;
    }
    rounds.sort_by(f64::total_cmp);
    items as f64 / rounds[rounds.len() / 2]
}

fn main() {
    let mut budget = Duration::from_secs(3);
    // `--only dev|public`: that corpus's triage alone (for a profiler).
    let mut only = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                if let Some(n) = args.next().and_then(|n| n.parse().ok()) {
                    budget = Duration::from_secs(n);
                }
            }
            "--only" => only = args.next(),
            _ => {}
        }
    }
    let loading = Instant::now();
    let rules = Rules::load(&project().join("rules")).unwrap_or_else(|e| panic!("{e}"));
    println!(
        "rules loaded in {:.2} s; {}",
        loading.elapsed().as_secs_f64(),
        memory("VmRSS:")
    );
    let settings = Settings::default();
    let corpora = [
        ("dev", corpus(&project().join("tests/fixtures/dev"))),
        ("public", corpus(&project().join("tests/fixtures/public"))),
    ];
    println!("| corpus | messages | bytes (mean) | triage, messages/s | µs per message |");
    println!("|---|---:|---:|---:|---:|");
    for (name, messages) in &corpora {
        if only.as_deref().is_some_and(|only| only != *name) {
            continue;
        }
        let bytes = messages.iter().map(Vec::len).sum::<usize>() / messages.len().max(1);
        let per_second = rate(messages.len(), budget, || {
            for raw in messages {
                black_box(pipeline::triage(black_box(raw), &rules, &settings).ok());
            }
        });
        println!(
            "| {name} | {} | {bytes} | {per_second:.0} | {:.1} |",
            messages.len(),
            1e6 / per_second
        );
    }

    if only.is_some() {
        peak_memory();
        return;
    }
    println!();
    println!("| stage (dev corpus) | µs per message | share |");
    println!("|---|---:|---:|");
    let (_, dev) = &corpora[0];
    let emails: Vec<Email> = dev
        .iter()
        .filter_map(|raw| parse::parse(raw).ok())
        .collect();
    let splits: Vec<_> = emails.iter().map(|e| quote::split(&e.body)).collect();
    let contexts: Vec<_> = emails
        .iter()
        .zip(&splits)
        .map(|(e, s)| context::read(e, s, &rules, &settings.case_refs))
        .collect();
    let owns: Vec<Text> = splits.iter().map(|s| Text::new(&s.own_text())).collect();
    let classes: Vec<_> = (0..emails.len())
        .map(|i| classify::classify(&emails[i], &splits[i], &owns[i], &contexts[i], &rules))
        .collect();
    let sources: Vec<_> = (0..emails.len())
        .map(|i| extract::sources(&emails[i], &splits[i], &contexts[i], &classes[i], &rules))
        .collect();
    let n = emails.len();
    let us = |per_second: f64| 1e6 / per_second;
    let stages = [
        (
            "parse (MIME, charsets, HTML to text)",
            us(rate(n, budget, || {
                for raw in dev {
                    black_box(parse::parse(black_box(raw)).ok());
                }
            })),
        ),
        (
            "split quotes and signature",
            us(rate(n, budget, || {
                for e in &emails {
                    black_box(quote::split(black_box(&e.body)));
                }
            })),
        ),
        (
            "context (our questions, case reference)",
            us(rate(n, budget, || {
                for (e, s) in emails.iter().zip(&splits) {
                    black_box(context::read(e, s, &rules, &settings.case_refs));
                }
            })),
        ),
        (
            "classify (kind, automatic mail)",
            us(rate(n, budget, || {
                for i in 0..n {
                    black_box(classify::classify(
                        &emails[i],
                        &splits[i],
                        &owns[i],
                        &contexts[i],
                        &rules,
                    ));
                }
            })),
        ),
        (
            "extract facts (all fields)",
            us(rate(n, budget, || {
                for i in 0..n {
                    let s =
                        extract::sources(&emails[i], &splits[i], &contexts[i], &classes[i], &rules);
                    black_box(extract::extract(&emails[i], &s, &classes[i], &rules));
                }
            })),
        ),
        (
            "  of which: location (gazetteer)",
            us(rate(n, budget, || {
                for i in 0..n {
                    let name = emails[i].sender_name().unwrap_or("");
                    black_box(location::locate(
                        &sources[i],
                        name,
                        classes[i].writer,
                        &rules,
                    ));
                }
            })),
        ),
        (
            "  of which: safeguarding indicators",
            us(rate(n, budget, || {
                for source in &sources {
                    black_box(extract::safeguarding::scan(source, &rules.safeguarding));
                }
            })),
        ),
        (
            "  of which: phone",
            us(rate(n, budget, || {
                for i in 0..n {
                    black_box(extract::phone::find(
                        &sources[i],
                        classes[i].writer,
                        classes[i].kind,
                        &rules.phone,
                    ));
                }
            })),
        ),
        (
            "  of which: driving licence and car",
            us(rate(n, budget, || {
                for source in &sources {
                    black_box(extract::driving::licence(source, &rules.driving));
                    black_box(extract::driving::car(source, &rules.driving));
                }
            })),
        ),
        (
            "  of which: consent",
            us(rate(n, budget, || {
                for i in 0..n {
                    black_box(extract::consent::read(classes[i].kind, &sources[i], &rules));
                }
            })),
        ),
        (
            "  of which: revocation date",
            us(rate(n, budget, || {
                for i in 0..n {
                    black_box(extract::dates::revocation(
                        &sources[i],
                        emails[i].date,
                        &rules.dates,
                    ));
                }
            })),
        ),
        (
            "  of which: language",
            us(rate(n, budget, || {
                for split in &splits {
                    black_box(extract::language::detect(
                        &split.own_text(),
                        &rules.language,
                    ));
                }
            })),
        ),
    ];
    let whole: f64 = stages
        .iter()
        .filter(|(name, _)| !name.starts_with(' '))
        .map(|(_, us)| us)
        .sum();
    for (name, us) in stages {
        println!("| {name} | {us:.1} | {:.0} % |", us / whole * 100.0);
    }
    let own: usize = sources
        .iter()
        .map(|s| s.iter().filter(|s| s.role == SourceRole::Own).count())
        .sum();
    println!();
    println!("(dev corpus: {n} messages parsed, {own} own-words blocks read for facts)");
    peak_memory();
}

/// The process's resident memory now and at its peak: the rules, and the regex caches
/// they grew.
fn peak_memory() {
    println!("{}; peak {}", memory("VmRSS:"), memory("VmHWM:"));
}

fn memory(field: &str) -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let value = status
        .lines()
        .find(|l| l.starts_with(field))
        .map_or("?", |l| l.trim_start_matches(field).trim());
    format!("resident memory {value}")
}
