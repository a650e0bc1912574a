//! End to end against the real package index (found through pip's configuration): resolve,
//! fetch and build `requests` from source, then install and import it in a container with no
//! network. Needs the index, so it is ignored by default:
//! `cargo test -p offline-build --test build_e2e -- --ignored`.

use std::path::Path;
use std::process::{Command, Output};

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
#[ignore = "needs the real package index; run with --ignored"]
fn resolves_fetches_builds_and_imports_requests_offline() {
    ob_testkit::image::builder_image();
    let dir = tempfile::tempdir().unwrap();
    let resolved = offline_build(dir.path(), &["resolve", "requests", "--jobs", "2"]);
    assert_eq!(resolved.status.code(), Some(0));
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
