//! Robustness over real-world mail (tests/fixtures/public: bounces, charsets, malformed
//! MIME from public test suites) and damaged copies of it: the binary must print exactly
//! one line per file, each triaged or quarantined with a reason, and never crash.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{fixtures, regional_mailbox, scratch};

fn public_messages() -> Vec<PathBuf> {
    let root = fixtures().join("public");
    let index = std::fs::read_to_string(root.join("index.tsv")).expect("index.tsv");
    index
        .lines()
        .filter_map(|l| l.split('\t').next())
        .map(|p| root.join(p))
        .filter(|p| p.is_file())
        .collect()
}

/// Deterministic damage: cut in half, and flip one byte in every 97.
fn damaged_copies(files: &[PathBuf], dir: &Path) -> Vec<PathBuf> {
    let mut written = Vec::new();
    for (i, file) in files.iter().enumerate() {
        let raw = std::fs::read(file).expect("fixture");
        let truncated = &raw[..raw.len() / 2];
        let mut flipped = raw.clone();
        let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        for byte in flipped.iter_mut().step_by(97) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *byte ^= (state & 0xff) as u8 | 1;
        }
        for (suffix, bytes) in [("truncated", truncated), ("flipped", &flipped[..])] {
            let path = dir.join(format!("{i:04}-{suffix}.eml"));
            std::fs::write(&path, bytes).expect("write copy");
            written.push(path);
        }
    }
    written
}

#[test]
fn every_public_message_and_damaged_copy_gets_exactly_one_line() {
    let originals = public_messages();
    assert!(
        originals.len() >= 1000,
        "only {} public messages",
        originals.len()
    );
    let dir = scratch("robustness");
    let mut files = originals.clone();
    files.extend(damaged_copies(&originals, &dir));
    files.push(dir.join("missing-file.eml"));
    std::fs::write(dir.join("empty.eml"), b"").unwrap();
    files.push(dir.join("empty.eml"));

    let list = dir.join("files.txt");
    let args: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    std::fs::write(&list, args.join("\n")).unwrap();
    let mut command: Vec<&str> = vec!["triage", "--json"];
    command.extend(args.iter().map(String::as_str));
    let output = regional_mailbox(&command);
    assert!(
        output.status.success(),
        "exit {:?}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );

    let stdout = String::from_utf8(output.stdout).expect("stdout is UTF-8");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), files.len(), "one line per file");
    let (mut triaged, mut quarantined) = (0, 0);
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(
            line["file"].as_str(),
            Some(file.display().to_string().as_str()),
            "lines keep input order"
        );
        if line.get("error").is_some() {
            assert!(
                !line["error"].as_str().unwrap_or("").is_empty(),
                "a quarantine has a reason: {line}"
            );
            assert_eq!(line["route"], "staff");
            quarantined += 1;
        } else {
            assert!(
                line["kind"].is_string() && line["route"].is_string(),
                "{line}"
            );
            triaged += 1;
        }
    }
    let panics = String::from_utf8_lossy(&output.stderr)
        .matches("panicked")
        .count();
    println!(
        "{} files: {triaged} triaged, {quarantined} quarantined, {panics} parser panics caught",
        files.len()
    );
    assert!(
        quarantined >= 2,
        "the missing and the empty file are quarantined"
    );
}

#[test]
fn delivery_reports_in_the_public_corpus_are_recognised_as_bounces() {
    let root = fixtures().join("public");
    let index = std::fs::read_to_string(root.join("index.tsv")).unwrap();
    let bounces: Vec<String> = index
        .lines()
        .filter(|l| l.split('\t').nth(1) == Some("bounce"))
        .map(|l| {
            root.join(l.split('\t').next().unwrap())
                .display()
                .to_string()
        })
        .collect();
    let mut command = vec!["triage", "--json"];
    command.extend(bounces.iter().map(String::as_str));
    let output = regional_mailbox(&command);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let kinds: Vec<String> = stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["kind"]
                .as_str()
                .unwrap_or("quarantined")
                .to_string()
        })
        .collect();
    let bounce = kinds.iter().filter(|k| *k == "bounce").count();
    let answered = kinds
        .iter()
        .filter(|k| {
            !matches!(
                k.as_str(),
                "bounce" | "auto_reply" | "unrelated" | "quarantined"
            )
        })
        .count();
    println!(
        "{} delivery reports: {bounce} bounce, {answered} read as a person's mail",
        kinds.len()
    );
    assert!(
        bounce as f64 >= kinds.len() as f64 * 0.95,
        "only {bounce} of {} recognised",
        kinds.len()
    );
}
