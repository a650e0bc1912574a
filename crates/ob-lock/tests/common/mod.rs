//! A small but complete lock shared by the tests: a runtime set (`requests`-like) and the
//! build-only packages that build it.

#![allow(dead_code)]

use ob_lock::{Dependency, Lock, LockTool, Package, Pin, Sdist};

/// A fake but well-formed sha256 derived from `seed`, so each package has its own.
pub fn digest(seed: &str) -> String {
    let mut out = String::new();
    let mut state: u32 = 2166136261;
    for byte in seed.bytes() {
        state = (state ^ u32::from(byte)).wrapping_mul(16777619);
    }
    while out.len() < 64 {
        state = state.wrapping_mul(1103515245).wrapping_add(12345);
        out.push_str(&format!("{:08x}", state));
    }
    out.truncate(64);
    out
}

pub fn pin(name: &str, version: &str) -> Pin {
    Pin {
        name: name.to_owned(),
        version: version.to_owned(),
    }
}

pub fn package(
    name: &str,
    version: &str,
    build_only: bool,
    dependencies: &[&str],
    build_requires: &[Pin],
) -> Package {
    let filename = Sdist::pep625_filename(name, version);
    Package {
        wheel: None,
        name: name.to_owned(),
        version: version.to_owned(),
        requires_python: Some(">=3.8".to_owned()),
        build_only,
        dependencies: dependencies.iter().map(|d| Dependency::named(*d)).collect(),
        sdist: Sdist {
            url: Some(format!("http://127.0.0.1:8000/files/{filename}")),
            filename,
            path: None,
            upload_time: Some("2024-09-15T17:06:07.123456Z".to_owned()),
            size: 1000 + name.len() as u64,
            sha256: digest(name),
        },
        build_requires: build_requires.to_vec(),
        crates: Vec::new(),
        settings: Default::default(),
        image_tool: None,
        foreign: Default::default(),
    }
}

/// idna (runtime, built with flit-core) and requests (runtime, built with setuptools), plus the
/// build-only flit-core and setuptools.
pub fn sample_lock() -> Lock {
    Lock {
        requires_python: Some(">=3.9".to_owned()),
        packages: vec![
            package("flit-core", "3.12.0", true, &[], &[]),
            package("idna", "3.10", false, &[], &[pin("flit-core", "3.12.0")]),
            package(
                "requests",
                "2.32.5",
                false,
                &["idna"],
                &[pin("setuptools", "80.9.0")],
            ),
            package("setuptools", "80.9.0", true, &[], &[]),
        ],
        tool: LockTool {
            allow_binary: Vec::new(),
            image: "offline-build/builder:trixie".to_owned(),
            image_digest: format!("sha256:{}", digest("image")),
            python_version: "3.13.5".to_owned(),
            platform: "linux_x86_64".to_owned(),
            index_url: "http://127.0.0.1:8000/simple/".to_owned(),
            exclude_newer: Some("2026-11-01T00:00:00Z".to_owned()),
            build_verified: true,
            source_date_epoch: 315532800,
            requirements: vec!["requests>=2".to_owned()],
            build_order: vec![
                pin("flit-core", "3.12.0"),
                pin("idna", "3.10"),
                pin("setuptools", "80.9.0"),
                pin("requests", "2.32.5"),
            ],
            cargo_default_registry: None,
            crates: Vec::new(),
        },
        foreign: Default::default(),
    }
}
