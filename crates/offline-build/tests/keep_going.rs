//! `offline-build resolve --keep-going` as a user runs it: the real binary, real containers, and
//! an index served on loopback where two independent packages fail in different phases
//! (`hookfails` in its hooks, fixtures/build/broken in its verification build), one needs a
//! failing package to build (fixtures/build/needsbroken), and one is fine (greet).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ob_testkit::index::{IndexEntry, TestIndex, pack_resolve_fixtures};

/// fixtures/resolve/keep-going plus the build fixtures it needs.
fn fixture_index(dir: &Path) -> TestIndex {
    let mut entries = pack_resolve_fixtures("keep-going", dir);
    for name in ["minibackend", "greet", "broken", "needsbroken"] {
        let packed = ob_testkit::sdist::pack_fixture(name, dir).unwrap();
        entries.push(IndexEntry::from_file(&packed.name, &packed.path));
    }
    TestIndex::serve(entries)
}

const REQUIREMENTS: [&str; 4] = ["hookfails", "broken", "needsbroken", "greet"];

fn resolve(index: &TestIndex, dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .arg("resolve")
        .args(REQUIREMENTS)
        .args(args)
        .args(["--index-url", &index.url()])
        .args(["--image", &ob_testkit::image::builder_image()])
        .args(["--exclude-newer", "2025-01-01T00:00:00Z"])
        .args(["--jobs", "2"])
        .arg("--lock")
        .arg(dir.join("pylock.toml"))
        .current_dir(dir)
        // The sdist and wheel caches, and the kept runs with their logs, in the test's directory.
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .env("TMPDIR", {
            let tmp = dir.join("tmp");
            fs_err::create_dir_all(&tmp).unwrap();
            tmp
        })
        .output()
        .unwrap();
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The paths after `log: ` in the listing, in its order.
fn logs(stderr: &str) -> Vec<PathBuf> {
    stderr
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("log: "))
        .map(PathBuf::from)
        .collect()
}

#[test]
fn keep_going_lists_every_failure_names_what_they_block_and_writes_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let lock = dir.path().join("pylock.toml");

    let output = resolve(&index, dir.path(), &["--keep-going"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "error: 2 package(s) failed, 1 more could not be resolved because of them; \
             nothing was locked:\n"
        ),
        "{stderr}"
    );
    // Each failure once, with its phase and what the build driver saw fail; sorted by name,
    // so broken comes first.
    assert!(
        stderr.contains(
            "\n  `broken` 1.0 (verification build): its verification build failed to build \
             (exit status 1): build_wheel raised RuntimeError: broken: this fixture fails on \
             purpose\n"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "\n  `hookfails` 1.0 (hooks): its build hooks failed to build (exit status 1): \
             get_requires_for_build_wheel raised RuntimeError: hookfails: this hook fails on \
             purpose\n"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.matches("`broken` 1.0 (").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("`hookfails` 1.0 (").count(), 1, "{stderr}");
    // Their logs are kept, and are theirs.
    let logs = logs(&stderr);
    assert_eq!(logs.len(), 2, "{stderr}");
    let broken = fs_err::read_to_string(&logs[0]).unwrap();
    assert!(
        broken.contains("broken: this fixture fails on purpose"),
        "{broken}"
    );
    let hookfails = fs_err::read_to_string(&logs[1]).unwrap();
    assert!(
        hookfails.contains("hookfails: this hook fails on purpose"),
        "{hookfails}"
    );
    // needsbroken was not tried: it is broken's, not a failure of its own.
    assert!(
        stderr.contains(
            "not resolved because a package they need failed:\n  `needsbroken` 1.0: because of `broken`\n"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("`needsbroken` 1.0 ("), "{stderr}");
    // greet (and the backend everything here builds with) went on and resolved.
    assert!(
        stderr.contains("resolved: 2 package(s) (greet==1.0, minibackend==1.0)"),
        "{stderr}"
    );
    assert!(!lock.exists(), "a failed resolve wrote {}", lock.display());

    // An existing lock is left exactly as it was; --json carries the same record.
    let committed = b"# a committed lock, which a failed resolve must not touch\n";
    fs_err::write(&lock, committed).unwrap();
    let output = resolve(&index, dir.path(), &["--keep-going", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(fs_err::read(&lock).unwrap(), committed);
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let failures: Vec<(&str, &str, bool)> = summary["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|failure| {
            (
                failure["package"].as_str().unwrap(),
                failure["phase"].as_str().unwrap(),
                Path::new(failure["log"].as_str().unwrap()).is_file(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [
            ("broken", "verification-build", true),
            ("hookfails", "hooks", true)
        ],
        "{summary:#}"
    );
    assert_eq!(
        summary["blocked"],
        serde_json::json!([{"package": "needsbroken", "version": "1.0", "because": ["broken"]}])
    );
    assert_eq!(
        summary["resolved"],
        serde_json::json!(["greet==1.0", "minibackend==1.0"])
    );
    assert_eq!(summary["changed"], false);
}

#[test]
fn without_keep_going_the_first_failure_stops_the_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let index = fixture_index(dir.path());
    let output = resolve(&index, dir.path(), &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // One failure, whichever came first, shown as ever: with its log's tail and path.
    let broken = stderr.contains("error: `broken`: its verification build failed");
    let hookfails = stderr.contains("error: `hookfails`: its build hooks failed");
    assert!(broken != hookfails, "{stderr}");
    assert!(stderr.contains("\nfull log: "), "{stderr}");
    assert!(!stderr.contains("package(s) failed"), "{stderr}");
    assert!(!stderr.contains("not resolved because"), "{stderr}");
    assert!(!dir.path().join("pylock.toml").exists());
}
