//! End to end against the real package index (where pip would look): resolve `requests` from
//! source and check that its build closure was found, fetch every sdist, build them all, then
//! install and import the result in a container with no network. It skips, saying why, only when
//! the index cannot be reached at all.

use std::path::Path;
use std::process::{Command, Output};

/// Whether the index pip would use answers at all; any HTTP status counts as an answer.
fn index_reachable() -> Result<(), String> {
    let index = ob_index::default_index_url().map_err(|err| err.to_string())?;
    let probe = "import sys, urllib.request, urllib.error\n\
                 try:\n    urllib.request.urlopen(sys.argv[1], timeout=20)\n\
                 except urllib.error.HTTPError:\n    pass\n";
    let output = Command::new("python3")
        .args(["-c", probe, index.url().as_str()])
        .output()
        .map_err(|err| err.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

fn offline_build(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ offline-build {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn resolves_fetches_builds_and_imports_requests_offline() {
    if let Err(reason) = index_reachable() {
        eprintln!("SKIPPED: the package index cannot be reached: {reason}");
        return;
    }
    ob_testkit::image::builder_image();
    let dir = tempfile::tempdir().unwrap();
    let resolved = offline_build(
        dir.path(),
        &[
            "resolve",
            "requests",
            "--exclude-newer",
            "2026-11-01T00:00:00Z",
            "--jobs",
            "2",
            "--json",
        ],
    );
    assert_eq!(resolved.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&resolved.stdout).unwrap();
    // pip resolved from the sdists' metadata alone: it built nothing of its own.
    assert_eq!(
        summary["pip_prepared"],
        serde_json::json!([]),
        "{summary:#}"
    );
    let lock_path = dir.path().join("pylock.toml");
    let lock = ob_lock::Lock::read(&lock_path).unwrap();
    assert!(lock.tool.build_verified);
    let runtime: Vec<&str> = lock
        .runtime_packages()
        .map(|package| package.name.as_str())
        .collect();
    assert_eq!(
        runtime,
        [
            "certifi",
            "charset-normalizer",
            "idna",
            "requests",
            "urllib3"
        ]
    );
    let build_only: Vec<&str> = lock
        .build_only_packages()
        .map(|package| package.name.as_str())
        .collect();
    for expected in [
        "flit-core",
        "hatch-vcs",
        "hatchling",
        "packaging",
        "pathspec",
        "pluggy",
        "setuptools",
        "setuptools-scm",
        "trove-classifiers",
    ] {
        assert!(
            build_only.contains(&expected),
            "{expected} missing from {build_only:?}"
        );
    }
    let urllib3 = lock.package("urllib3").unwrap();
    let environment: Vec<&str> = urllib3
        .build_requires
        .iter()
        .map(|pin| pin.name.as_str())
        .collect();
    assert!(
        environment.contains(&"hatchling") && environment.contains(&"hatch-vcs"),
        "{environment:?}"
    );
    // Every package comes after its whole build environment.
    for package in &lock.packages {
        let position = |name: &str| {
            lock.tool
                .build_order
                .iter()
                .position(|entry| entry == name)
                .unwrap()
        };
        for pin in &package.build_requires {
            assert!(
                position(&pin.name) < position(&package.name),
                "{} before {}",
                pin.name,
                package.name
            );
        }
    }

    let fetched = offline_build(dir.path(), &["fetch"]);
    assert_eq!(fetched.status.code(), Some(0));
    let built = offline_build(dir.path(), &["build", "--verify-install", "--json"]);
    assert_eq!(built.status.code(), Some(0));

    let report: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    let packages = report["packages"].as_array().unwrap();
    let find = |name: &str| {
        packages
            .iter()
            .find(|package| package["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in the report"))
    };
    // requests is built with setuptools, itself built from its sdist in this run.
    let requests = find("requests");
    let setuptools = find("setuptools");
    assert_eq!(requests["status"], "built");
    assert!(
        requests["build-requires"]
            .as_array()
            .unwrap()
            .iter()
            .any(
                |used| used["name"] == "setuptools" && used["sha256"] == setuptools["wheel-sha256"]
            ),
        "{requests:#}"
    );
    for package in packages {
        assert_eq!(package["status"], "built", "{package:#}");
    }
    // And it installs from dist/ alone and imports, in a container with no network.
    assert_eq!(report["verify-install"]["ok"], true);
    let modules = report["verify-install"]["modules"].as_array().unwrap();
    assert!(modules.iter().any(|module| module == "requests"));
    assert!(dir.path().join("dist/build-report.json").is_file());
}
