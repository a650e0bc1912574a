//! Reading, writing and validating locks: round trips, determinism, atomic and lazy writes, and
//! the helpers other crates call.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{pin, sample_lock};
use ob_lock::{Lock, Pin, Problem, WriteOutcome, normalize_name};

#[test]
fn round_trip_is_byte_identical() {
    let lock = sample_lock();
    lock.validate().unwrap();
    let text = lock.to_toml_string();
    let back = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(back, lock);
    assert_eq!(back.to_toml_string(), text);
}

#[test]
fn shuffled_input_gives_identical_output() {
    let lock = sample_lock();
    let mut shuffled = lock.clone();
    shuffled.packages.reverse();
    shuffled.packages.swap(0, 2);
    shuffled.tool.requirements = vec!["zope-interface".to_owned(), "requests>=2".to_owned()];
    let mut sorted = lock.clone();
    sorted.tool.requirements = vec!["requests>=2".to_owned(), "zope-interface".to_owned()];
    for package in &mut shuffled.packages {
        package.build_requires.reverse();
        package.dependencies.reverse();
    }
    assert_eq!(shuffled.to_toml_string(), sorted.to_toml_string());
}

#[test]
fn write_creates_then_leaves_unchanged_file_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pylock.toml");
    let lock = sample_lock();
    assert_eq!(lock.write(&path).unwrap(), WriteOutcome::Written);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        lock.to_toml_string()
    );

    // Backdate the file so an unwanted rewrite would show as a new mtime.
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(lock.write(&path).unwrap(), WriteOutcome::Unchanged);
    assert_eq!(std::fs::metadata(&path).unwrap().modified().unwrap(), old);

    let mut changed = lock.clone();
    changed.tool.build_verified = false;
    assert_eq!(changed.write(&path).unwrap(), WriteOutcome::Written);
    assert_ne!(std::fs::metadata(&path).unwrap().modified().unwrap(), old);
    assert_eq!(Lock::read(&path).unwrap(), changed);
    // No temp file left beside it.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(names, ["pylock.toml"]);
}

#[cfg(unix)]
#[test]
fn written_lock_is_world_readable() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pylock.toml");
    sample_lock().write(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644);
}

#[test]
fn invalid_lock_is_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pylock.toml");
    let mut lock = sample_lock();
    lock.packages[0].sdist.sha256 = "abc".to_owned();
    let error = lock.write(&path).unwrap_err();
    assert!(matches!(error.problem(), Some(Problem::BadSha256 { .. })));
    assert!(error.to_string().contains("pylock.toml"), "{error}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn read_reports_missing_file_with_path() {
    let error = Lock::read(Path::new("/nonexistent/dir/pylock.toml")).unwrap_err();
    assert!(
        error.to_string().contains("/nonexistent/dir/pylock.toml"),
        "{error}"
    );
}

#[test]
fn normalize_name_follows_pep_503() {
    assert_eq!(normalize_name("Friendly-Bard"), "friendly-bard");
    assert_eq!(normalize_name("FRIENDLY-BARD"), "friendly-bard");
    assert_eq!(normalize_name("friendly.bard"), "friendly-bard");
    assert_eq!(normalize_name("friendly_bard"), "friendly-bard");
    assert_eq!(normalize_name("friendly--bard"), "friendly-bard");
    assert_eq!(normalize_name("FrIeNdLy-._.-bArD"), "friendly-bard");
    assert_eq!(normalize_name("zope.interface"), "zope-interface");
}

#[test]
fn pins_parse_and_display() {
    let parsed = Pin::parse("Flit_Core==3.12.0").unwrap();
    assert_eq!(parsed, pin("flit-core", "3.12.0"));
    assert_eq!(parsed.to_string(), "flit-core==3.12.0");
    for bad in [
        "flit-core",
        "flit-core>=3",
        "==1.0",
        "flit-core==",
        "a b==1",
        "x===1",
        "x==1;y",
    ] {
        assert!(Pin::parse(bad).is_err(), "{bad} should not parse");
    }
}

#[test]
fn lookups_by_any_spelling_and_runtime_set() {
    let lock = sample_lock();
    assert_eq!(lock.package("Flit_Core").unwrap().version, "3.12.0");
    assert!(lock.package("numpy").is_none());
    let runtime: Vec<_> = lock.runtime_packages().map(|p| p.name.as_str()).collect();
    assert_eq!(runtime, ["idna", "requests"]);
    let build: Vec<_> = lock
        .build_only_packages()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(build, ["flit-core", "setuptools"]);
    assert_eq!(lock.packages[1].pin().to_string(), "idna==3.10");
}

#[test]
fn canonical_build_order_puts_requirements_first() {
    let lock = sample_lock();
    assert_eq!(
        lock.canonical_build_order().unwrap(),
        ["flit-core", "idna", "setuptools", "requests"]
    );
    let mut cyclic = lock.clone();
    cyclic.packages[0].build_requires = vec![pin("idna", "3.10")];
    let error = cyclic.canonical_build_order().unwrap_err();
    assert_eq!(
        error.problem(),
        Some(&Problem::BuildCycle {
            packages: vec!["flit-core".to_owned(), "idna".to_owned()]
        })
    );
}

#[test]
fn sdist_filename_checks() {
    let lock = sample_lock();
    let sdist = &lock.packages[0].sdist;
    sdist.check_filename("flit-core", "3.12.0").unwrap();
    assert!(sdist.check_filename("flit-core", "3.11.0").is_err());
    let mut old_style = sdist.clone();
    for (filename, name, version) in [
        ("PyYAML-6.0.2.tar.gz", "pyyaml", "6.0.2"),
        ("zope.interface-7.0.tar.gz", "zope-interface", "7.0"),
        (
            "python-dateutil-2.9.0.post0.tar.gz",
            "python-dateutil",
            "2.9.0.post0",
        ),
        ("foo-1.0.zip", "foo", "1.0"),
    ] {
        old_style.filename = filename.to_owned();
        old_style.check_filename(name, version).unwrap();
    }
    for filename in [
        "../foo-1.0.tar.gz",
        "foo-1.0.whl",
        "bar-1.0.tar.gz",
        ".foo-1.0.tar.gz",
    ] {
        old_style.filename = filename.to_owned();
        assert!(
            old_style.check_filename("foo", "1.0").is_err(),
            "{filename}"
        );
    }
}
