//! Reading, writing and validating locks: round trips, determinism, atomic and lazy writes, and
//! the helpers other crates call.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime};

use common::{package, pin, sample_lock};
use ob_lock::{Dependency, Lock, Pin, Problem, WriteOutcome, normalize_name};

#[test]
fn round_trip_is_byte_identical() {
    let lock = sample_lock();
    lock.validate().unwrap();
    let text = lock.to_toml_string();
    let back = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(back, lock);
    assert_eq!(back.to_toml_string(), text);
}

/// A release `allow-binary` names is locked as PEP 751's `wheels` (one entry), the list is
/// recorded at the top, and both read back as written; the two must agree.
#[test]
fn an_allowed_wheel_round_trips_and_must_be_allowed() {
    let mut lock = sample_lock();
    let idna = lock.packages.iter_mut().find(|p| p.name == "idna").unwrap();
    idna.sdist = ob_lock::Sdist::default();
    idna.build_requires.clear();
    idna.wheel = Some(ob_lock::Wheel {
        filename: "idna-3.10-py3-none-any.whl".to_owned(),
        url: "http://127.0.0.1:8000/files/idna-3.10-py3-none-any.whl".to_owned(),
        upload_time: Some("2024-09-15T17:06:07Z".to_owned()),
        size: 70,
        sha256: common::digest("idna wheel"),
    });
    lock.tool.build_order = lock.canonical_build_order().unwrap();
    let refused = lock.validate().unwrap_err().to_string();
    assert!(
        refused.contains("`allow-binary` does not name this release"),
        "{refused}"
    );

    lock.tool.allow_binary = vec![pin("idna", "3.10")];
    lock.validate().unwrap();
    let text = lock.to_toml_string();
    assert!(
        text.contains("[[packages.wheels]]\nname = \"idna-3.10-py3-none-any.whl\"\n"),
        "{text}"
    );
    assert!(text.contains("allow-binary = [\"idna==3.10\"]"), "{text}");
    assert!(!text.contains("name = \"idna-3.10.tar.gz\""), "{text}");
    let back = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(back, lock);
    assert_eq!(back.to_toml_string(), text);
    let idna = back.packages.iter().find(|p| p.name == "idna").unwrap();
    assert_eq!(idna.filename(), "idna-3.10-py3-none-any.whl");

    // A wheel of another release cannot stand for this one.
    let mut other = lock.clone();
    let idna = other
        .packages
        .iter_mut()
        .find(|p| p.name == "idna")
        .unwrap();
    idna.wheel.as_mut().unwrap().filename = "idna-3.11-py3-none-any.whl".to_owned();
    let refused = other.validate().unwrap_err().to_string();
    assert!(refused.contains("idna-3.11-py3-none-any.whl"), "{refused}");
}

/// Crates are pinned once at the top and named by the packages that vendor them; the tables
/// read back as written, sorted whatever order they were given in.
#[test]
fn crates_round_trip_sorted_and_are_found_by_package() {
    let crate_entry = |name: &str| ob_lock::Crate {
        name: name.to_owned(),
        version: "1.0.0".to_owned(),
        source: "sparse+http://127.0.0.1:8000/index/".to_owned(),
        url: format!("http://127.0.0.1:8000/api/v1/crates/{name}/1.0.0/download"),
        size: 99,
        sha256: common::digest(name),
    };
    let mut lock = sample_lock();
    lock.tool.crates = vec![crate_entry("zeta"), crate_entry("alpha")];
    let idna = lock.packages.iter().position(|p| p.name == "idna").unwrap();
    lock.packages[idna].crates = vec![
        ob_lock::CrateKey::parse("zeta@1.0.0").unwrap(),
        ob_lock::CrateKey::parse("alpha@1.0.0").unwrap(),
    ];
    lock.validate().unwrap();
    let text = lock.to_toml_string();
    assert!(
        text.find("name = \"alpha\"").unwrap() < text.find("name = \"zeta\"").unwrap(),
        "{text}"
    );
    let back = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(back.to_toml_string(), text);
    let names: Vec<&str> = back
        .crates_of(back.package("idna").unwrap())
        .map(|entry| entry.name.as_str())
        .collect();
    assert_eq!(names, ["alpha", "zeta"]);
    assert_eq!(back.crates_of(back.package("requests").unwrap()).count(), 0);
    assert_eq!(
        back.tool.crates[0].filename(),
        "alpha-1.0.0.crate",
        "the wheelhouse name"
    );
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
    let order: Vec<String> = lock
        .canonical_build_order()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        order,
        [
            "flit-core==3.12.0",
            "idna==3.10",
            "setuptools==80.9.0",
            "requests==2.32.5"
        ]
    );
    let mut cyclic = lock.clone();
    cyclic.packages[0].build_requires = vec![pin("idna", "3.10")];
    let error = cyclic.canonical_build_order().unwrap_err();
    assert_eq!(
        error.problem(),
        Some(&Problem::BuildCycle {
            packages: vec!["flit-core==3.12.0".to_owned(), "idna==3.10".to_owned()]
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

/// The committed example lock is exactly what the writer produces for the sample lock; set
/// `OB_LOCK_BLESS=1` to rewrite it after an intended format change.
#[test]
fn valid_fixture_matches_writer_output() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/lock/valid/pylock.toml");
    let expected = sample_lock().to_toml_string();
    if std::env::var_os("OB_LOCK_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &expected).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&path).unwrap(), expected);
    assert_eq!(Lock::read(&path).unwrap(), sample_lock());
}

fn fixture(case: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/lock")
        .join(case)
        .join("pylock.toml")
}

/// Other tools' tables and PEP 751 keys we do not use survive a rewrite, after ours.
#[test]
fn foreign_keys_are_kept_on_rewrite() {
    let path = fixture("valid-foreign");
    let lock = Lock::read(&path).unwrap();
    assert!(!lock.foreign.is_empty());
    assert!(!lock.package("idna").unwrap().foreign.is_empty());
    let text = lock.to_toml_string();
    for kept in [
        "extras = []",
        "environments = [\"sys_platform == 'linux'\"]",
        "index = \"http://127.0.0.1:8000/simple/\"",
        "[packages.tool.uv.source]",
        "[tool.uv]",
        "command = [\"uv\", \"export\"]",
        "[tool.zzz.nested]",
    ] {
        assert!(text.contains(kept), "`{kept}` lost:\n{text}");
    }
    // Ours come first: the uv table follows [tool.offline-build].
    assert!(text.find("[tool.offline-build]").unwrap() < text.find("[tool.uv]").unwrap());
    // Stable from the first rewrite on.
    let again = Lock::from_toml_str(&text, &path).unwrap();
    assert_eq!(again, lock);
    assert_eq!(again.to_toml_string(), text);
    // The foreign keys do not change what we read.
    let mut plain = lock.clone();
    plain.foreign = Default::default();
    for package in &mut plain.packages {
        package.foreign = Default::default();
    }
    assert_eq!(plain, sample_lock());
}

#[test]
fn newer_minor_lock_version_is_accepted_with_a_warning() {
    let text = sample_lock()
        .to_toml_string()
        .replace("lock-version = \"1.0\"", "lock-version = \"1.1\"");
    let (lock, warnings) =
        Lock::from_toml_str_with_warnings(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(lock, sample_lock());
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].to_string().contains("`1.1`"), "{}", warnings[0]);
    // And our own output carries no warning.
    let (_, warnings) =
        Lock::from_toml_str_with_warnings(&sample_lock().to_toml_string(), Path::new("x")).unwrap();
    assert!(warnings.is_empty());
}

#[test]
fn loopback_http_and_https_urls_are_accepted() {
    for url in [
        "http://127.0.0.1:8000/files/idna-3.10.tar.gz",
        "http://127.9.9.9/idna-3.10.tar.gz",
        "http://[::1]:8080/idna-3.10.tar.gz",
        "http://localhost/idna-3.10.tar.gz",
        "http://LOCALHOST:1/idna-3.10.tar.gz",
        "https://files.invalid/idna-3.10.tar.gz",
    ] {
        let mut lock = sample_lock();
        lock.packages[1].sdist.url = Some(url.to_owned());
        lock.validate()
            .unwrap_or_else(|error| panic!("{url}: {error}"));
    }
    for url in [
        "http://10.1.2.3/idna-3.10.tar.gz",
        "http://[::2]/idna-3.10.tar.gz",
        "http://localhost.invalid/x",
    ] {
        let mut lock = sample_lock();
        lock.packages[1].sdist.url = Some(url.to_owned());
        assert!(
            matches!(
                lock.validate().unwrap_err().problem(),
                Some(Problem::InsecureUrl { .. })
            ),
            "{url}"
        );
    }
}

/// PEP 751 lets `sdist.name` be left out when the URL or path ends in it; we fill it in.
#[test]
fn sdist_name_is_taken_from_url_or_path_when_absent() {
    let text = sample_lock()
        .to_toml_string()
        .replace("name = \"idna-3.10.tar.gz\"\n", "");
    let lock = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(lock, sample_lock());

    let mut local = sample_lock();
    local.packages[1].sdist.url = None;
    local.packages[1].sdist.path = Some("sdists/idna-3.10.tar.gz".to_owned());
    let text = local
        .to_toml_string()
        .replace("name = \"idna-3.10.tar.gz\"\n", "");
    assert_eq!(
        Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap(),
        local
    );
}

#[test]
fn lock_built_in_memory_in_any_order_validates_and_round_trips() {
    let mut lock = sample_lock();
    lock.packages.reverse();
    lock.validate().unwrap();
    let back = Lock::from_toml_str(&lock.to_toml_string(), Path::new("pylock.toml")).unwrap();
    assert_eq!(back, sample_lock());
}

/// Per-package build environments lock one name at several versions: python-dateutil's build
/// needs setuptools-scm<8 while urllib3's needs >=8 (boto3's closure). Each version is its own
/// entry, sorted by PEP 440 (9.2.0 before 10.0), dependencies say which version where the name
/// is ambiguous, and a name may be a runtime package at one version and build-only at another.
#[test]
fn a_name_locked_at_several_versions_round_trips_in_version_order() {
    let mut lock = sample_lock();
    lock.packages.extend([
        package(
            "setuptools-scm",
            "10.0",
            true,
            &[],
            &[pin("setuptools", "80.9.0")],
        ),
        package(
            "setuptools-scm",
            "9.2.0",
            true,
            &[],
            &[pin("setuptools", "80.9.0")],
        ),
        // idna at 3.11 is build-only, beside the runtime idna 3.10.
        package("idna", "3.11", true, &[], &[pin("flit-core", "3.12.0")]),
        package(
            "python-dateutil",
            "2.9.0",
            false,
            &[],
            &[pin("setuptools", "80.9.0"), pin("setuptools-scm", "9.2.0")],
        ),
        package(
            "urllib3",
            "2.5.0",
            false,
            &[],
            &[pin("idna", "3.11"), pin("setuptools-scm", "10.0")],
        ),
    ]);
    lock.packages
        .iter_mut()
        .find(|p| p.name == "setuptools-scm" && p.version == "10.0")
        .unwrap()
        .dependencies = vec![Dependency {
        name: "idna".into(),
        version: Some("3.11".into()),
    }];
    // requests' dependency on idna must now say which idna.
    lock.packages
        .iter_mut()
        .find(|p| p.name == "requests")
        .unwrap()
        .dependencies = vec![Dependency {
        name: "idna".into(),
        version: Some("3.10".into()),
    }];
    lock.tool.build_order = lock.canonical_build_order().unwrap();
    lock.validate().unwrap();

    let text = lock.to_toml_string();
    let scm_9 = text.find("version = \"9.2.0\"").unwrap();
    let scm_10 = text.find("version = \"10.0\"").unwrap();
    assert!(scm_9 < scm_10, "PEP 440 order, not text order:\n{text}");
    assert!(text.contains("dependencies = [{ name = \"idna\", version = \"3.11\" }]"));
    let again = Lock::from_toml_str(&text, Path::new("pylock.toml")).unwrap();
    assert_eq!(again.to_toml_string(), text);
    assert_eq!(
        again.package("idna").unwrap().version,
        "3.10",
        "the runtime one"
    );
    assert!(
        again.package("setuptools-scm").is_none(),
        "two build-only: ambiguous"
    );
    assert_eq!(again.packages_named("setuptools-scm").count(), 2);
    assert!(again.package_at("setuptools-scm", "9.2.0").is_some());
    let order: Vec<String> = again
        .tool
        .build_order
        .iter()
        .map(ToString::to_string)
        .collect();
    let position = |pin: &str| order.iter().position(|entry| entry == pin).unwrap();
    assert!(position("setuptools-scm==9.2.0") < position("python-dateutil==2.9.0"));
    assert!(position("idna==3.11") < position("urllib3==2.5.0"));

    // A dependency by name alone is ambiguous once the name has two versions.
    let mut ambiguous = lock.clone();
    ambiguous
        .packages
        .iter_mut()
        .find(|p| p.name == "setuptools-scm" && p.version == "10.0")
        .unwrap()
        .dependencies = vec![Dependency::named("idna")];
    let error = ambiguous.validate().unwrap_err();
    assert!(
        matches!(error.problem(), Some(Problem::AmbiguousDependency { name, .. }) if name == "idna"),
        "{error}"
    );
    // The environment holding setuptools-scm 10.0 must hold an idna.
    let mut incomplete = lock.clone();
    incomplete
        .packages
        .iter_mut()
        .find(|p| p.name == "urllib3")
        .unwrap()
        .build_requires = vec![pin("setuptools-scm", "10.0")];
    let error = incomplete.validate().unwrap_err();
    assert!(
        matches!(
            error.problem(),
            Some(Problem::IncompleteBuildEnvironment { missing, .. }) if missing == "idna"
        ),
        "{error}"
    );
    // A runtime package may list a build-only version beside the runtime one, not alone.
    let mut build_only_only = lock.clone();
    build_only_only
        .packages
        .iter_mut()
        .find(|p| p.name == "requests")
        .unwrap()
        .dependencies = vec![Dependency {
        name: "idna".into(),
        version: Some("3.11".into()),
    }];
    let error = build_only_only.validate().unwrap_err();
    assert!(
        matches!(error.problem(), Some(Problem::RuntimeNeedsBuildOnly { .. })),
        "{error}"
    );
}
