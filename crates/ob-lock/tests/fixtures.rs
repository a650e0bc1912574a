//! Every malformed lock under `fixtures/lock/<case>/pylock.toml` is refused with the error in
//! `expected-error.txt` beside it; each message names the file and ends with a hint.

use std::path::{Path, PathBuf};

use ob_lock::{Lock, LockError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lock")
}

#[test]
fn every_malformed_fixture_is_refused_with_its_message() {
    let mut cases: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.join("expected-error.txt").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "fixtures missing: {cases:?}");

    let mut failures = Vec::new();
    for case in &cases {
        let expected = std::fs::read_to_string(case.join("expected-error.txt")).unwrap();
        let expected = expected.trim_end();
        let lock_path = case.join("pylock.toml");
        let message = match Lock::read(&lock_path) {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.display()));
                continue;
            }
            Err(error) => {
                assert!(error.is_input_error(), "{error}");
                full_message(&error)
            }
        };
        let name = case.file_name().unwrap().to_string_lossy();
        if !message.contains(expected) {
            failures.push(format!("{name}: expected `{expected}` in:\n{message}"));
        }
        if !message.contains(&lock_path.display().to_string()) {
            failures.push(format!(
                "{name}: message does not name the file:\n{message}"
            ));
        }
        if !message.contains("\n\nhint: ") {
            failures.push(format!("{name}: message has no hint:\n{message}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The message with its causes, as the binary prints it.
fn full_message(error: &LockError) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!("\ncaused by: {cause}"));
        source = cause.source();
    }
    message
}
