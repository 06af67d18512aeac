//! The golden test: every labelled message of the dev corpus (tests/fixtures/dev), scored
//! field by field against the thresholds the contract promises. Mismatches are written to
//! target/test-scratch/golden/dev.failed.jsonl to read side by side.

use std::collections::BTreeMap;
use std::io::Write;

use regional_mailbox::pipeline::{self, Settings};
use serde_json::Value;

use crate::harness::{fixtures, rules, scratch};

const FIELDS: [(&str, f64); 9] = [
    ("kind", 0.95),
    ("consent", 0.97),
    ("region", 0.97),
    ("local_authority", 0.95),
    ("postcode", 0.97),
    ("phone", 0.97),
    ("driving_licence", 0.93),
    ("car_access", 0.93),
    ("language", 0.95),
];

#[test]
fn the_dev_corpus_is_triaged_above_every_threshold() {
    score_corpus("dev", 100);
}

#[test]
fn the_further_labelled_sets_are_triaged_above_every_threshold() {
    for set in ["set1", "set2", "set3", "set4", "set5"] {
        score_corpus(&format!("extra/{set}"), 60);
    }
}

fn score_corpus(name: &str, at_least: usize) {
    let dir = fixtures().join(name);
    let labels = std::fs::read_to_string(dir.join("labels.jsonl")).expect("labels.jsonl");
    let failed_path = scratch(&format!("golden/{name}")).join("failed.jsonl");
    let mut failed = std::fs::File::create(&failed_path).expect("failed file");
    let mut correct: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut true_positive, mut false_positive, mut false_negative, mut total) = (0, 0, 0, 0);

    for line in labels.lines().filter(|l| !l.trim().is_empty()) {
        let label: Value = serde_json::from_str(line).expect("label is JSON");
        let file = label["file"].as_str().expect("file");
        let raw = std::fs::read(dir.join(file)).expect("eml");
        let triage =
            pipeline::triage(&raw, rules(), &Settings::default()).expect("dev mail parses");
        let got = serde_json::to_value(&triage).expect("serialises");
        total += 1;
        for (field, _) in FIELDS {
            if got[field] == label[field] {
                *correct.entry(field).or_default() += 1;
            } else {
                let mismatch = serde_json::json!({"file": file, "field": field, "expected": label[field], "got": got[field], "reasons": got["reasons"]});
                writeln!(failed, "{mismatch}").unwrap();
            }
        }
        match (
            label["safeguarding"].as_bool().unwrap(),
            triage.safeguarding,
        ) {
            (true, true) => true_positive += 1,
            (false, true) => {
                false_positive += 1;
                writeln!(failed, "{}", serde_json::json!({"file": file, "field": "safeguarding", "expected": false, "got": triage.safeguarding_reasons})).unwrap();
            }
            (true, false) => {
                false_negative += 1;
                writeln!(failed, "{}", serde_json::json!({"file": file, "field": "safeguarding", "expected": true, "got": false})).unwrap();
            }
            (false, false) => {}
        }
    }

    assert!(
        total >= at_least,
        "ran only {total} labelled messages in {name}"
    );
    println!("{name}: {total} messages");
    let mut below = Vec::new();
    for (field, threshold) in FIELDS {
        let score = *correct.get(field).unwrap_or(&0) as f64 / total as f64;
        println!(
            "  {field:<16} {:>6.1}%  (needs {:.0}%)",
            score * 100.0,
            threshold * 100.0
        );
        if score < threshold {
            below.push(field);
        }
    }
    let recall = true_positive as f64 / (true_positive + false_negative).max(1) as f64;
    let precision = true_positive as f64 / (true_positive + false_positive).max(1) as f64;
    println!(
        "  safeguarding     recall {:.1}% (needs 100%), precision {:.1}% (needs 90%)",
        recall * 100.0,
        precision * 100.0
    );
    println!("  mismatches: {}", failed_path.display());
    assert!(
        below.is_empty(),
        "below threshold: {below:?} (see {})",
        failed_path.display()
    );
    assert_eq!(
        false_negative,
        0,
        "a safeguarding disclosure was missed (see {})",
        failed_path.display()
    );
    assert!(
        precision >= 0.90,
        "safeguarding precision {precision:.2} < 0.90"
    );
}
