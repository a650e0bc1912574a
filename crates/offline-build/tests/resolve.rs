//! `offline-build resolve` as a user runs it: the real binary, a package index served on
//! loopback from the hand-made sdists under fixtures/resolve/index (plus the build fixtures'
//! minibackend and greet), real containers on the real Docker daemon, and the lock compared
//! byte for byte with fixtures/resolve/expected/ (index port and image digest filtered).
//! Set UPDATE_EXPECTED=1 to rewrite the expected files after a deliberate change.

use std::path::Path;
use std::process::{Command, Output};

use ob_testkit::index::{IndexEntry, TestIndex, pack_resolve_fixtures};

fn fixture_index(dir: &Path) -> Fixture {
    let mut entries = pack_resolve_fixtures("index", dir);
    for name in ["minibackend", "greet"] {
        let packed = ob_testkit::sdist::pack_fixture(name, dir).unwrap();
        entries.push(IndexEntry::from_file(&packed.name, &packed.path));
    }
    // A later release that must stay invisible under --exclude-newer.
    let later = ob_testkit::sdist::pack_fixture("greet", &dir.join("later")).unwrap();
    let mut later_entry =
        IndexEntry::from_file("greet", &later.path).uploaded("2025-06-01T00:00:00Z");
    later_entry.filename = "greet-3.0.tar.gz".into();
    entries.push(later_entry);
    let facts = entries
        .iter()
        .map(|entry| (entry.filename.clone(), entry.bytes.len(), entry.sha256()))
        .collect();
    let index = TestIndex::serve(entries);
    Fixture { index, facts }
}

/// The index, and (file name, size, sha256) of every file it serves.
struct Fixture {
    index: TestIndex,
    facts: Vec<(String, usize, String)>,
}

fn resolve(index: &TestIndex, dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .arg("resolve")
        .args(args)
        .args(["--index-url", &index.url()])
        .args(["--image", &ob_testkit::image::builder_image()])
        .args(["--exclude-newer", "2025-01-01T00:00:00Z"])
        .arg("--lock")
        .arg(dir.join("pylock.toml"))
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        // Logs of a failed resolve are kept under the temporary directory: keep them in the test's.
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

/// The lock with what differs between machines and runs replaced: the index's port, the image
/// digest, and the size and sha256 of each sdist, which become `<size of FILE>` and
/// `<sha256 of FILE>` only where they equal what the index served for that file (the build
/// fixtures' bytes belong to another suite and may change).
fn filtered(lock: &str, fixture: &Fixture) -> String {
    let base = fixture.index.url().trim_end_matches("simple/").to_string();
    let mut lock = lock.to_string();
    for (filename, size, sha256) in &fixture.facts {
        lock = lock.replace(
            &format!("{filename}\"\nurl = \"{base}files/{filename}\"\nupload-time = 2024-01-01T00:00:00Z\nsize = {size}\nhashes = {{ sha256 = \"{sha256}\" }}"),
            &format!("{filename}\"\nurl = \"{base}files/{filename}\"\nupload-time = 2024-01-01T00:00:00Z\nsize = <size of {filename}>\nhashes = {{ sha256 = \"<sha256 of {filename}>\" }}"),
        );
    }
    lock.replace(&base, "http://127.0.0.1:<port>/")
        .lines()
        .map(|line| {
            if line.starts_with("image-digest = ") {
                "image-digest = \"<digest>\"".to_string()
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn check_expected(name: &str, actual: &str) {
    let path = ob_testkit::repo_root()
        .join("fixtures/resolve/expected")
        .join(name);
    if std::env::var_os("UPDATE_EXPECTED").is_some() {
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(&path, actual).unwrap();
    }
    let expected = fs_err::read_to_string(&path).unwrap();
    assert_eq!(actual, expected, "the lock differs from {}", path.display());
}

#[test]
fn resolve_writes_the_exact_lock_and_a_second_run_leaves_it_byte_identical() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    let index = &fixture.index;
    let first = resolve(index, dir.path(), &["app", "--no-verify-build"]);
    assert!(first.status.success());
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("Resolved 4 runtime package(s) and 3 build-only"),
        "{stderr}"
    );
    assert!(stderr.contains("wrote"), "{stderr}");
    let lock = fs_err::read_to_string(dir.path().join("pylock.toml")).unwrap();
    check_expected("app.pylock.toml", &filtered(&lock, &fixture));

    let second = resolve(index, dir.path(), &["app", "--no-verify-build"]);
    assert!(second.status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(stderr.contains("unchanged"), "{stderr}");
    assert_eq!(
        fs_err::read_to_string(dir.path().join("pylock.toml")).unwrap(),
        lock
    );
    // The second run was served from the proxy's cache: each of the 7 sdists (greet at two
    // versions) was downloaded once.
    let downloads = index
        .requests()
        .iter()
        .filter(|path| path.starts_with("/files/"))
        .count();
    assert_eq!(downloads, 7, "{:?}", index.requests());
}

/// `--locked` checks a committed lock instead of writing it: the same inputs pass and leave
/// the file alone; other inputs fail with the packages that differ, and leave it as it was.
#[test]
fn locked_passes_an_up_to_date_lock_and_fails_a_stale_one_without_writing() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    let index = &fixture.index;
    let lock_path = dir.path().join("pylock.toml");
    let stderr = |output: &Output| String::from_utf8_lossy(&output.stderr).into_owned();

    let missing = resolve(
        index,
        dir.path(),
        &["greet", "--no-verify-build", "--locked"],
    );
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("there is no lock"),
        "{}",
        stderr(&missing)
    );
    assert!(!lock_path.exists());

    let written = resolve(index, dir.path(), &["greet", "--no-verify-build"]);
    assert!(written.status.success());
    let committed = fs_err::read(&lock_path).unwrap();
    let modified = fs_err::metadata(&lock_path).unwrap().modified().unwrap();
    let same = resolve(
        index,
        dir.path(),
        &["greet", "--no-verify-build", "--locked"],
    );
    assert!(same.status.success(), "{}", stderr(&same));
    assert!(stderr(&same).contains("up to date:"), "{}", stderr(&same));
    assert_eq!(
        fs_err::metadata(&lock_path).unwrap().modified().unwrap(),
        modified
    );

    let other = resolve(index, dir.path(), &["app", "--no-verify-build", "--locked"]);
    assert_eq!(other.status.code(), Some(1), "{}", stderr(&other));
    let text = stderr(&other);
    assert!(
        text.contains("is out of date, and was left as it is"),
        "{text}"
    );
    assert!(text.contains("+ app 1.0"), "{text}");
    assert!(text.contains("+ dynreq 1.0"), "{text}");
    assert!(text.contains("hint: run `offline-build resolve`"), "{text}");
    assert_eq!(fs_err::read(&lock_path).unwrap(), committed);
}

#[test]
fn a_requirement_with_no_sdist_exits_1_naming_it_and_writes_no_lock() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    let index = &fixture.index;
    let output = resolve(index, dir.path(), &["greet==3.0", "--no-verify-build"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("`greet`: no source distribution matches `greet==3.0` (the newest version with an sdist is 2.0)"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(!dir.path().join("pylock.toml").exists());
}

/// Regression: a project the index does not have at all was reported as having "no sdist".
#[test]
fn a_project_the_index_does_not_have_is_named_as_missing_not_as_lacking_an_sdist() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    let output = resolve(
        &fixture.index,
        dir.path(),
        &["this-package-does-not-exist-xyz==1.0", "--no-verify-build"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr).replace(&fixture.index.url(), "[INDEX]");
    insta::assert_snapshot!(stderr.lines().filter(|l| !l.starts_with("Resolving")).collect::<Vec<_>>().join("\n"), @r"
    error: `this-package-does-not-exist-xyz`: the index has no project of this name (`this-package-does-not-exist-xyz==1.0`)

    hint: check the spelling (the index has no page for it); offline-build resolves against one index: where pip would look, or `--index-url`
    ");
    assert!(!dir.path().join("pylock.toml").exists());
}

#[test]
fn a_wrong_hash_in_a_requirements_file_fails_the_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    let index = &fixture.index;
    let requirements = dir.path().join("requirements.txt");
    fs_err::write(
        &requirements,
        format!(
            "# pinned by hand\nminibackend==1.0 \\\n    --hash=sha256:{}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let output = resolve(
        index,
        dir.path(),
        &["-r", requirements.to_str().unwrap(), "--no-verify-build"],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("hash mismatch for `minibackend`"),
        "{stderr}"
    );
    assert!(!dir.path().join("pylock.toml").exists());
}

/// The names and versions in a written lock, runtime and build-only apart.
fn locked(dir: &Path) -> (Vec<String>, Vec<String>) {
    let lock = ob_lock::Lock::read(&dir.join("pylock.toml")).unwrap();
    let pins = |build_only: bool| {
        lock.packages
            .iter()
            .filter(|package| package.build_only == build_only)
            .map(|package| format!("{}=={}", package.name, package.version))
            .collect()
    };
    (pins(false), pins(true))
}

#[test]
fn a_project_with_an_extra_and_a_group_resolves_what_they_name() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    fs_err::write(
        dir.path().join("pyproject.toml"),
        r#"[project]
name = "myproject"
version = "0"
dependencies = ["pins-greet"]

[project.optional-dependencies]
cli = ["app"]
never = ["wants-newer"]

[dependency-groups]
lint = ["legacy"]
test = [{ include-group = "lint" }, "minibackend"]
"#,
    )
    .unwrap();
    let output = resolve(
        &fixture.index,
        dir.path(),
        &[
            "--project",
            "pyproject.toml",
            "--extra",
            "cli",
            "--group",
            "test",
            "--no-verify-build",
        ],
    );
    assert_eq!(output.status.code(), Some(0));
    let (runtime, build_only) = locked(dir.path());
    // pins-greet holds greet at 1.0; `never` (which wants greet>=2) was not asked for.
    assert_eq!(
        runtime,
        [
            "app==1.0",
            "dynreq==1.0",
            "greet==1.0",
            "legacy==1.0",
            "minibackend==1.0",
            "pins-greet==1.0"
        ]
    );
    assert_eq!(build_only, ["setuptools==99.0"]);
}

#[test]
fn constraints_and_markers_of_a_requirements_file_are_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let fixture = fixture_index(dir.path());
    fs_err::write(dir.path().join("constraints.txt"), "greet<2\n").unwrap();
    fs_err::write(
        dir.path().join("requirements.txt"),
        "-c constraints.txt\ngreet\nlegacy ; python_version < \"3\"\n",
    )
    .unwrap();
    let output = resolve(
        &fixture.index,
        dir.path(),
        &["-r", "requirements.txt", "--no-verify-build"],
    );
    assert_eq!(output.status.code(), Some(0));
    let (runtime, build_only) = locked(dir.path());
    // Without the constraint greet would be 2.0; legacy's marker is false on the image's Python.
    assert_eq!(runtime, ["greet==1.0"]);
    assert_eq!(build_only, ["minibackend==1.0"]);

    fs_err::write(dir.path().join("constraints.txt"), "").unwrap();
    let output = resolve(
        &fixture.index,
        dir.path(),
        &["-r", "requirements.txt", "--no-verify-build"],
    );
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(locked(dir.path()).0, ["greet==2.0"]);
}
