//! Fuzzing the requirements.txt reader through its public entry point
//! (`ob_resolve::RequirementSources::read`; the line parser itself is private): files built from
//! requirement, option, comment and continuation fragments, nested `-r`/`-c` includes (also of
//! themselves), and raw text. Property: no panic or hang; an accepted file yields only index
//! requirements with no options left in them; a refusal names the file.

mod support;

use ob_resolve::{RequirementSources, ResolveError};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use support::fuzz::{Tally, bounded, config};

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("idna==3.10".to_owned()),
        2 => Just("requests[socks] >= 2.0 ; python_version >= '3.8'".to_owned()),
        1 => Just("Flit_Core".to_owned()),
        1 => Just("--hash=sha256:03a49cd658642b57c4252644b212332d5f25b0624c9625f3687062b0ba0bd529".to_owned()),
        1 => Just("--hash sha256:AB".to_owned()),
        1 => Just("--hash".to_owned()),
        1 => Just("--hash=md5:00".to_owned()),
        1 => Just("-r other.txt".to_owned()),
        1 => Just("-c other.txt".to_owned()),
        1 => Just("--requirement=requirements.txt".to_owned()),
        1 => Just("-r".to_owned()),
        1 => Just("-r ../../../../etc/hostname".to_owned()),
        1 => Just("--index-url http://127.0.0.1:1/simple".to_owned()),
        1 => Just("-e .".to_owned()),
        1 => Just("./local.tar.gz".to_owned()),
        1 => Just("pkg @ https://127.0.0.1/pkg.tar.gz".to_owned()),
        1 => Just("/abs/path".to_owned()),
        1 => Just("# comment".to_owned()),
        1 => Just(" # trailing".to_owned()),
        1 => Just("\\".to_owned()),
        1 => Just("\t".to_owned()),
        1 => Just("-".to_owned()),
        1 => Just("==".to_owned()),
        1 => Just("\u{feff}é\u{202e}".to_owned()),
        2 => "[ -~]{0,24}",
        1 => "\\PC{0,8}",
    ]
}

fn file_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::collection::vec(fragment(), 1..4),
            prop_oneof![Just("\n"), Just(" \\\n"), Just("\r\n"), Just(" ")],
        ),
        0..8,
    )
    .prop_map(|lines| {
        lines
            .into_iter()
            .map(|(words, end)| format!("{}{end}", words.join(" ")))
            .collect()
    })
}

static TALLY: Tally = Tally::new("requirements");

#[test]
fn generated_requirements_files_never_panic_and_what_is_accepted_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut runner = TestRunner::new(config(400));
    runner
        .run(&(file_text(), file_text()), |(main, other)| {
            std::fs::write(root.join("requirements.txt"), &main).unwrap();
            std::fs::write(root.join("other.txt"), &other).unwrap();
            let sources = RequirementSources {
                requirement_files: vec![root.join("requirements.txt")],
                ..RequirementSources::default()
            };
            let result = bounded("RequirementSources::read", move || sources.read());
            match &result {
                Ok(requirements) => {
                    for requirement in requirements
                        .requirements
                        .iter()
                        .chain(&requirements.constraints)
                    {
                        assert!(!requirement.trim().is_empty(), "{main:?}");
                        // `A--` is no valid name, but it is no option either (found by
                        // fuzzing: names are left for pip to judge inside the container).
                        assert!(
                            !requirement
                                .split_whitespace()
                                .any(|word| word.starts_with("--")),
                            "option kept in `{requirement}`: {main:?}"
                        );
                        assert!(
                            !requirement.contains("://"),
                            "URL kept in `{requirement}`: {main:?}"
                        );
                        assert!(!ob_resolve::input::requirement_name(requirement).is_empty());
                    }
                    for hashes in requirements.hashes.values() {
                        assert!(hashes.iter().all(|hash| *hash == hash.to_ascii_lowercase()));
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    assert!(
                        message.contains(".txt")
                            || matches!(
                                error,
                                ResolveError::NoRequirements | ResolveError::ReadInput { .. }
                            ),
                        "the error does not name the file: {message}"
                    );
                }
            }
            TALLY.record(result.is_ok());
            Ok(())
        })
        .unwrap();
    let (executions, accepted) = TALLY.report();
    assert!(
        accepted > 0 && accepted < executions,
        "{accepted} of {executions}"
    );
}

static SPECS: Tally = Tally::new("requirement specs");

#[test]
fn arbitrary_command_line_specs_never_panic() {
    let mut runner = TestRunner::new(config(400));
    runner
        .run(&prop::collection::vec("\\PC{0,30}", 1..4), |specs| {
            let sources = RequirementSources {
                specs,
                ..RequirementSources::default()
            };
            let accepted = bounded("RequirementSources::read", move || sources.read().is_ok());
            SPECS.record(accepted);
            Ok(())
        })
        .unwrap();
    assert!(SPECS.report().0 > 0);
}
