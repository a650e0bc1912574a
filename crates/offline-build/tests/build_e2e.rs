//! End to end against the real package index (where pip would look): resolve `boto3` and
//! `requests` from source (their build environments disagree: python-dateutil's build needs
//! `setuptools_scm<8`, urllib3's `>=8`), fetch every sdist, build (which takes every wheel from
//! the cache resolve's verification builds filled), build once more with no cache (every wheel
//! compiled again, bit for bit the same), then install and import the result in a container
//! with no network. It skips, saying why, only when the index cannot be reached at all.

use std::process::Command;

mod real;
use real::{index_reachable, offline_build};

#[test]
fn resolves_fetches_builds_and_imports_boto3_and_requests_offline() {
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
            "boto3",
            "requests==2.32.5",
            "--exclude-newer",
            "2026-11-01T00:00:00Z",
            "--jobs",
            "2",
            "--json",
        ],
    );
    assert_eq!(resolved.status.code(), Some(0));
    let summary: serde_json::Value = serde_json::from_slice(&resolved.stdout).unwrap();
    let lock_path = dir.path().join("pylock.toml");
    let lock = ob_lock::Lock::read(&lock_path).unwrap();
    assert!(lock.tool.build_verified);
    // Every package verified once, each wheel kept for `build`.
    assert_eq!(
        summary["built"].as_u64().unwrap() + summary["from_cache"].as_u64().unwrap(),
        lock.packages.len() as u64,
        "{summary:#}"
    );
    let runtime: Vec<&str> = lock
        .runtime_packages()
        .map(|package| package.name.as_str())
        .collect();
    for expected in [
        "boto3",
        "botocore",
        "certifi",
        "charset-normalizer",
        "idna",
        "jmespath",
        "python-dateutil",
        "requests",
        "s3transfer",
        "six",
        "urllib3",
    ] {
        assert!(
            runtime.contains(&expected),
            "{expected} missing from {runtime:?}"
        );
    }
    // The reason per-package build environments exist: two setuptools-scm, one per build.
    let scm = |name: &str| -> String {
        lock.package(name)
            .unwrap()
            .build_requires
            .iter()
            .find(|pin| pin.name == "setuptools-scm")
            .unwrap_or_else(|| panic!("{name} is built without setuptools-scm"))
            .version
            .clone()
    };
    let (dateutil_scm, urllib3_scm) = (scm("python-dateutil"), scm("urllib3"));
    assert!(dateutil_scm.starts_with("7."), "{dateutil_scm}");
    assert!(!urllib3_scm.starts_with("7."), "{urllib3_scm}");
    assert_eq!(lock.packages_named("setuptools-scm").count(), 2);
    assert!(lock.packages_named("setuptools-scm").all(|p| p.build_only));
    // Every package comes after its whole build environment.
    for package in &lock.packages {
        let position = |pin: &ob_lock::Pin| {
            lock.tool
                .build_order
                .iter()
                .position(|entry| entry == pin)
                .unwrap()
        };
        for pin in &package.build_requires {
            assert!(
                position(pin) < position(&package.pin()),
                "{pin} before {}",
                package.pin()
            );
        }
    }

    let fetched = offline_build(dir.path(), &["fetch"]);
    assert_eq!(fetched.status.code(), Some(0));
    // Right after resolve, build compiles nothing: every wheel comes from the cache.
    let built = offline_build(dir.path(), &["build", "--json"]);
    assert_eq!(built.status.code(), Some(0));
    let cached: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    for package in cached["packages"].as_array().unwrap() {
        assert_eq!(package["status"], "cached", "{package:#}");
    }
    // With no cache, everything is compiled again from its sdist, offline, to the same bytes.
    let rebuilt = offline_build(
        dir.path(),
        &[
            "build",
            "--no-cache",
            "--out",
            "dist-again",
            "--verify-install",
            "--json",
        ],
    );
    assert_eq!(rebuilt.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&rebuilt.stdout).unwrap();
    let packages = report["packages"].as_array().unwrap();
    let first = cached["packages"].as_array().unwrap();
    for package in packages {
        assert_eq!(package["status"], "built", "{package:#}");
        let earlier = first
            .iter()
            .find(|p| p["name"] == package["name"] && p["version"] == package["version"])
            .unwrap();
        assert_eq!(
            package["wheel-sha256"], earlier["wheel-sha256"],
            "{} is not the wheel resolve built",
            package["name"]
        );
    }
    // requests is built with a setuptools that was itself built from its sdist in this run.
    let requests = packages.iter().find(|p| p["name"] == "requests").unwrap();
    let setuptools_used = requests["build-requires"]
        .as_array()
        .unwrap()
        .iter()
        .find(|used| used["name"] == "setuptools")
        .unwrap();
    assert!(
        packages.iter().any(|p| p["name"] == "setuptools"
            && p["version"] == setuptools_used["version"]
            && p["wheel-sha256"] == setuptools_used["sha256"]),
        "{requests:#}"
    );
    // And it installs from dist/ alone and imports, in a container with no network.
    assert_eq!(report["verify-install"]["ok"], true, "{report:#}");
    let modules = report["verify-install"]["modules"].as_array().unwrap();
    for module in ["boto3", "requests", "dateutil"] {
        assert!(modules.iter().any(|m| m == module), "{module}: {modules:?}");
    }
}

/// Native packages against the real index, in one lock: pyyaml (Cython, compiled once, in
/// resolve, for pyyaml and numpy both; `build` takes every wheel from the cache) with libyaml,
/// lxml with libxml2 and libxslt, Pillow with its image libraries, psutil, and numpy (meson,
/// with the image's ninja and OpenBLAS), each linking the builder image's libraries. The result
/// installs offline with every C extension: `yaml.__with_libyaml__` is true, lxml parses and
/// transforms, Pillow has jpeg, png, webp, tiff, freetype and lcms, numpy was built against
/// OpenBLAS and multiplies matrices, and no wheel is degraded.
#[test]
fn native_packages_build_with_the_image_libraries_and_cython_compiled_once() {
    if let Err(reason) = index_reachable() {
        eprintln!("SKIPPED: the package index cannot be reached: {reason}");
        return;
    }
    let image = ob_testkit::image::builder_image();
    let dir = tempfile::tempdir().unwrap();
    let resolved = offline_build(
        dir.path(),
        &[
            "resolve",
            "pyyaml==6.0.3",
            "lxml",
            "pillow",
            "psutil",
            "numpy",
            "--exclude-newer",
            "2026-11-01T00:00:00Z",
            "--jobs",
            "2",
            "--json",
        ],
    );
    assert_eq!(resolved.status.code(), Some(0));
    assert_eq!(offline_build(dir.path(), &["fetch"]).status.code(), Some(0));
    let built = offline_build(dir.path(), &["build", "--strict", "--json"]);
    assert_eq!(
        built.status.code(),
        Some(0),
        "--strict: nothing is degraded"
    );
    let report: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    for package in report["packages"].as_array().unwrap() {
        assert_eq!(package["status"], "cached", "{package:#}");
    }
    let extension_of = |name: &str, prefix: &str| {
        let package = report["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} is in the report"));
        assert!(
            package["extension-modules"]
                .as_array()
                .is_some_and(|modules| modules
                    .iter()
                    .any(|m| m.as_str().unwrap().starts_with(prefix))),
            "{package:#}"
        );
    };
    extension_of("pyyaml", "yaml/_yaml");
    extension_of("lxml", "lxml/etree");
    extension_of("pillow", "PIL/_imaging");
    extension_of("psutil", "psutil/_psutil_linux");
    extension_of("numpy", "numpy/_core/_multiarray_umath");
    // Installed from dist/ alone, in a container with no network, each uses the image's
    // libraries.
    let dist = dir.path().join("dist");
    let script = "\
import yaml, psutil
import numpy as np
from lxml import etree
from PIL import features
print(yaml.__with_libyaml__)
doc = etree.XML('<a><b>x</b></a>')
style = etree.XML(
    \"<xsl:stylesheet version='1.0' xmlns:xsl='http://www.w3.org/1999/XSL/Transform'>\"
    \"<xsl:template match='/'><c><xsl:value-of select='a/b'/></c></xsl:template>\"
    \"</xsl:stylesheet>\"
)
print(etree.tostring(etree.XSLT(style)(doc)).decode())
print(sorted(f for f in ('jpg', 'zlib', 'webp', 'libtiff', 'freetype2', 'littlecms2', 'jpg_2000') if features.check(f)))
print(psutil.cpu_count() > 0)
config = np.show_config(mode='dicts')['Build Dependencies']
print(config['blas']['name'], config['lapack']['name'])
a = np.arange(6, dtype=float).reshape(2, 3)
print((a @ a.T).tolist(), np.linalg.inv(np.diag([2.0, 4.0])).tolist())
";
    let check = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{}:/dist:ro", dist.display()))
        .args([
            &image,
            "sh",
            "-c",
            "python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --no-index --find-links /dist \
             pyyaml lxml pillow psutil numpy && /tmp/v/bin/python -c \"$0\"",
            script,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "True",
            "<c>x</c>",
            "['freetype2', 'jpg', 'jpg_2000', 'libtiff', 'littlecms2', 'webp', 'zlib']",
            "True",
            "openblas openblas",
            "[[5.0, 14.0], [14.0, 50.0]] [[0.5, 0.0], [0.0, 0.25]]",
        ],
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
