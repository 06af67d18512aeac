//! The `triage --json` contract and the `rules` commands, through the real binary.

use serde_json::Value;

use crate::harness::{fixtures, regional_mailbox, scratch};

const CONTRACT_KEYS: [&str; 16] = [
    "file",
    "kind",
    "consent",
    "postcode",
    "local_authority",
    "region",
    "safeguarding",
    "safeguarding_reasons",
    "driving_licence",
    "car_access",
    "phone",
    "language",
    "readiness",
    "route",
    "reasons",
    "automatic",
];

#[test]
fn triage_json_prints_one_object_per_file_with_every_contract_key() {
    let dev = fixtures().join("dev");
    let files: Vec<String> = ["001.eml", "006.eml", "086.eml"]
        .iter()
        .map(|f| dev.join(f).display().to_string())
        .collect();
    let mut args = vec!["triage", "--json"];
    args.extend(files.iter().map(String::as_str));
    let output = regional_mailbox(&args);
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    for (line, file) in lines.iter().zip(&files) {
        assert_eq!(line["file"], file.as_str(), "the path as given");
        for key in CONTRACT_KEYS {
            assert!(line.get(key).is_some(), "{key} missing in {line}");
        }
    }
    let first = &lines[0];
    assert_eq!(first["kind"], "support_request");
    assert_eq!(first["postcode"], "CV6 5BU");
    assert_eq!(first["local_authority"], "Coventry");
    assert_eq!(first["region"], "West Midlands");
    assert_eq!(first["phone"], "+447700900142");
    assert_eq!(first["driving_licence"], "uk_full");
    assert_eq!(first["car_access"], true);
    assert_eq!(first["readiness"], "ready");
    assert_eq!(first["route"], "la:Coventry");
    assert!(first["reasons"].as_array().is_some_and(|r| !r.is_empty()));
    assert_eq!(lines[2]["kind"], "bounce");
    assert_eq!(lines[2]["route"], "none");
}

#[test]
fn a_folder_is_triaged_file_by_file_and_unreadable_files_get_an_error_line() {
    let dir = scratch("cli-folder");
    std::fs::copy(fixtures().join("dev/005.eml"), dir.join("a.eml")).unwrap();
    std::fs::write(dir.join("b.eml"), b"\x00\x01\x02 not a message").unwrap();
    let missing = dir.join("nope.eml").display().to_string();
    let output = regional_mailbox(&["triage", "--json", &dir.display().to_string(), &missing]);
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["safeguarding"], true);
    assert!(
        lines[0]["safeguarding_reasons"][0]
            .as_str()
            .unwrap()
            .starts_with("withheld_documents")
    );
    assert!(
        lines[1]["error"].as_str().unwrap().contains("quarantined"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2]["error"].as_str().unwrap().contains("cannot read"),
        "{}",
        lines[2]
    );
}

#[test]
fn without_json_triage_prints_a_readable_table() {
    let output = regional_mailbox(&[
        "triage",
        &fixtures().join("dev/001.eml").display().to_string(),
    ]);
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("file"));
    let row = lines.next().unwrap();
    assert!(
        row.contains("support_request") && row.contains("la:Coventry"),
        "{row}"
    );
}

#[test]
fn rules_check_and_rules_test_pass_on_the_shipped_rules_and_fail_on_broken_ones() {
    let check = regional_mailbox(&["rules", "check"]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let test = regional_mailbox(&["rules", "test"]);
    assert!(
        test.status.success(),
        "{}",
        String::from_utf8_lossy(&test.stdout)
    );
    assert!(String::from_utf8_lossy(&test.stdout).contains("0 failed"));

    let broken = scratch("broken-rules");
    copy_dir(&crate::harness::project_dir().join("rules"), &broken);
    let phone = std::fs::read_to_string(broken.join("phone.toml")).unwrap();
    std::fs::write(
        broken.join("phone.toml"),
        phone.replacen(
            "worker = { patterns = [",
            "worker = { patterns = [\n  '[unclosed',",
            1,
        ),
    )
    .unwrap();
    let check = regional_mailbox(&["rules", "check", "--rules", &broken.display().to_string()]);
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains("phone.toml:") && stderr.contains("[unclosed"),
        "{stderr}"
    );
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::write(&target, std::fs::read(entry.path()).unwrap()).unwrap();
        }
    }
}
