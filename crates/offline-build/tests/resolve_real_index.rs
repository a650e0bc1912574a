//! End to end against the real package index (where pip would look), so it needs the internet
//! and is ignored by default: `cargo test -p offline-build --test resolve_real_index -- --ignored`.
//! It resolves `requests` from source and checks that the build closure was found.

use std::process::Command;

#[test]
#[ignore = "needs the real package index"]
fn resolves_requests_and_its_build_closure_from_the_real_index() {
    let dir = tempfile::tempdir().unwrap();
    let lock_path = dir.path().join("pylock.toml");
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .args(["resolve", "requests", "--exclude-newer", "2026-11-01"])
        .args(["--image", &ob_testkit::image::builder_image()])
        .arg("--lock")
        .arg(&lock_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
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
}
