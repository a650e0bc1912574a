//! `offline-build build` from the command line: exit codes, what it prints, `--json`, and the
//! no-op rebuild. The build itself is tested in crates/ob-build/tests/.

#[path = "../../ob-build/tests/support/mod.rs"]
mod support;

use std::process::{Command, Output};

use support::*;

fn offline_build(project: &Project, extra: &[&str]) -> Output {
    let lockfile = project.dir.path().join("pylock.toml");
    project.lock.write(&lockfile).unwrap();
    Command::new(env!("CARGO_BIN_EXE_offline-build"))
        // A wheel cache of the project's own: another test's wheels must not stand in.
        .env("XDG_CACHE_HOME", project.dir.path().join("cache"))
        .arg("build")
        .arg("--lock")
        .arg(&lockfile)
        .arg("--wheelhouse")
        .arg(&project.wheelhouse)
        .arg("--out")
        .arg(&project.out)
        .args(["--jobs", "2"])
        .args(extra)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A clean build prints a line per package and the report on stdout; the same build again does
/// nothing and says everything is up to date.
#[test]
fn builds_then_finds_everything_up_to_date() {
    let project = Project::new(&[MINIBACKEND, GREET, LAYERED]);
    let output = offline_build(&project, &["--json", "--verify-install"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let statuses: Vec<(&str, &str)> = report["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("greet", "built"),
            ("layered", "built"),
            ("minibackend", "built")
        ]
    );
    assert_eq!(report["verify-install"]["ok"], true);
    let text = stderr(&output);
    eprintln!("{text}");
    assert!(text.contains("built      greet 1.0 in "), "{text}");
    assert!(
        text.contains("3 built, 0 from the wheel cache, 0 up to date, 0 failed, 0 skipped"),
        "{text}"
    );
    assert!(
        text.contains("verified: installed 2 package(s) offline and imported greet, layered"),
        "{text}"
    );

    let again = offline_build(&project, &[]);
    assert_eq!(again.status.code(), Some(0), "{}", stderr(&again));
    let text = stderr(&again);
    eprintln!("{text}");
    assert!(
        text.contains("0 built, 0 from the wheel cache, 3 up to date, 0 failed, 0 skipped"),
        "{text}"
    );
}

/// A failing package: exit 1, its error with the end of its log and the log's path, its
/// dependant listed as skipped, the independent package built.
#[test]
fn a_failed_package_exits_1_with_the_end_of_its_log() {
    const BROKEN: Fixture = fixture("broken", &["minibackend"]);
    const NEEDSBROKEN: Fixture = fixture("needsbroken", &["minibackend", "broken"]);
    let project = Project::new(&[MINIBACKEND, GREET, BROKEN, NEEDSBROKEN]);
    let output = offline_build(&project, &["--quiet"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    eprintln!("{text}");
    assert!(
        text.contains("`broken` 1.0 failed to build (exit status 1)"),
        "{text}"
    );
    assert!(text.contains("last 20 lines of its log:"), "{text}");
    assert!(
        text.contains("| RuntimeError: broken: this fixture fails on purpose"),
        "{text}"
    );
    assert!(text.contains("logs/broken-1.0.log"), "{text}");
    assert!(
        text.contains("skipped because a build requirement failed: needsbroken 1.0"),
        "{text}"
    );
    assert!(project.out.join("greet-1.0-py3-none-any.whl").is_file());
}

/// A tampered sdist: exit 1 naming the file, with a hint, and nothing built.
#[test]
fn a_tampered_sdist_exits_1_naming_it() {
    let project = Project::new(&[MINIBACKEND, GREET]);
    fs_err::write(
        project.wheelhouse.join("greet-1.0.tar.gz"),
        b"not the sdist",
    )
    .unwrap();
    let output = offline_build(&project, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    eprintln!("{text}");
    assert!(text.contains("greet-1.0.tar.gz"), "{text}");
    assert!(text.contains("hint: run `offline-build fetch`"), "{text}");
    assert!(!project.out.exists());
}

/// A build whose log ends with terminal escape sequences (a window title, a line wiped and
/// rewritten as a fake "built" line, a bidirectional override) fails, and the terminal gets
/// them as visible text, never as escapes: no ESC, BEL or CR byte reaches stderr.
#[test]
fn escape_sequences_in_a_failed_build_s_log_are_shown_not_sent() {
    const BROKEN: Fixture = fixture("broken", &["minibackend"]);
    let trees = tempfile::tempdir().unwrap();
    let tree = copy_fixture("broken", trees.path());
    let backend = tree.join("_build/broken_backend.py");
    let text = fs_err::read_to_string(&backend).unwrap().replace(
        "    raise RuntimeError(\"broken: this fixture fails on purpose\")",
        "    print(\"\\x1b]0;pwned\\x07\\x1b[2K\\r  built      broken 1.0 in 0.1s\\u202e\", flush=True)\n    raise RuntimeError(\"broken: this fixture fails on purpose\")",
    );
    assert!(text.contains("pwned"), "the fixture changed: {backend:?}");
    fs_err::write(&backend, text).unwrap();
    let project = Project::with_sources(&[MINIBACKEND, BROKEN], &[("broken", &tree)]);
    let output = offline_build(&project, &[]);
    assert_eq!(output.status.code(), Some(1));
    for byte in [0x1b_u8, 0x07, b'\r'] {
        assert!(
            !output.stderr.contains(&byte),
            "byte {byte:#04x} reached the terminal:\n{}",
            stderr(&output)
        );
    }
    let text = stderr(&output);
    assert!(
        text.contains(r"| \x1b]0;pwned\x07\x1b[2K\x0d  built      broken 1.0 in 0.1s\u{202e}"),
        "{text}"
    );
}

/// A package whose sdist ships C sources but whose wheel holds no extension module (its build
/// fell back to pure Python, as pyyaml's does without libyaml's headers) is reported degraded,
/// by name and with the sources; `--strict` makes that exit 1. A compiled package is not.
#[test]
fn a_wheel_built_without_its_native_part_is_reported_degraded() {
    const FALLBACK: Fixture = fixture("fallback", &["minibackend"]);
    let project = Project::new(&[MINIBACKEND, FALLBACK, CSPEED]);
    let output = offline_build(&project, &["--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.contains("fallback 1.0 is degraded: its sdist ships native sources (fallback-1.0/src/_speedups.c)"),
        "{text}"
    );
    assert!(!text.contains("cspeed 1.0 is degraded"), "{text}");
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let find = |name: &str| {
        report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap()
            .clone()
    };
    assert!(find("fallback")["degraded"].is_string());
    assert!(find("cspeed")["degraded"].is_null());
    assert!(
        find("cspeed")["extension-modules"]
            .as_array()
            .is_some_and(|modules| !modules.is_empty())
    );
    let strict = offline_build(&project, &["--strict"]);
    assert_eq!(strict.status.code(), Some(1), "{}", stderr(&strict));
    assert!(stderr(&strict).contains("--strict: 1 degraded wheel(s)"));
}
