//! Rust extensions end to end against the real package index (where pip would look) and the
//! real crate registry (where cargo would look): `rpds-py`, `bcrypt`, `cryptography` and
//! `pydantic` resolved together from source, their build backends too (maturin, itself a Rust
//! program, and setuptools-rust), every crate of every Cargo.lock pinned in the lock, fetched
//! beside the sdists, and vendored into network-less builds. The wheels then install from
//! `dist/` alone in a container with no network, and each package does real work there.
//!
//! Slow (maturin, cryptography and pydantic-core compile for minutes on two cores): each one
//! compiles once, in resolve's verification build, and `build` takes it from the same run's
//! wheel cache. Skips, saying why, only when the index or the registry cannot be reached.

use std::process::Command;

mod real;
use real::{offline_build, registries_reachable};

const SMOKE: &str = r#"
import os, bcrypt, rpds, pydantic
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

key = AESGCM.generate_key(bit_length=256)
nonce = os.urandom(12)
sealed = AESGCM(key).encrypt(nonce, b"offline", b"aad")
assert AESGCM(key).decrypt(nonce, sealed, b"aad") == b"offline"

class Model(pydantic.BaseModel):
    count: int
    name: str

assert Model.model_validate({"count": "3", "name": "x"}).count == 3
try:
    Model.model_validate({"count": "three", "name": "x"})
    raise SystemExit("pydantic accepted a bad int")
except pydantic.ValidationError:
    pass

hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4))
assert bcrypt.checkpw(b"secret", hashed) and not bcrypt.checkpw(b"other", hashed)

assert rpds.HashTrieMap({"a": 1}).insert("b", 2) == rpds.HashTrieMap({"a": 1, "b": 2})
print("smoke ok")
"#;

#[test]
fn rust_extensions_and_their_backends_build_from_source_with_pinned_crates() {
    if let Err(reason) = registries_reachable() {
        eprintln!("SKIPPED: the package index or the crate registry cannot be reached: {reason}");
        return;
    }
    let image = ob_testkit::image::builder_image();
    let dir = tempfile::tempdir().unwrap();
    let resolved = offline_build(
        dir.path(),
        &[
            "resolve",
            "rpds-py",
            "bcrypt",
            "cryptography",
            "pydantic",
            "--exclude-newer",
            "2026-11-01T00:00:00Z",
            "--image",
            &image,
        ],
    );
    assert_eq!(resolved.status.code(), Some(0));

    let lock = ob_lock::Lock::read(&dir.path().join("pylock.toml")).unwrap();
    for name in [
        "rpds-py",
        "bcrypt",
        "cryptography",
        "pydantic-core",
        "maturin",
    ] {
        let package = lock
            .packages
            .iter()
            .find(|package| package.name == name)
            .unwrap_or_else(|| panic!("`{name}` is not in the lock"));
        assert!(
            !package.crates.is_empty(),
            "`{name}` pins no crates: {package:?}"
        );
        for key in &package.crates {
            let entry = lock
                .crate_entry(key)
                .unwrap_or_else(|| panic!("`{key}` of `{name}` has no crate entry"));
            assert_eq!(entry.sha256.len(), 64, "{entry:?}");
            assert!(entry.url.starts_with("https://"), "{entry:?}");
        }
    }
    assert!(
        lock.packages
            .iter()
            .any(|package| package.name == "setuptools-rust"),
        "bcrypt's backend is built from source too"
    );

    let fetched = offline_build(dir.path(), &["fetch"]);
    assert_eq!(fetched.status.code(), Some(0));
    let crates = fs_err::read_dir(dir.path().join("wheelhouse/crates"))
        .unwrap()
        .count();
    assert_eq!(crates, lock.tool.crates.len());

    let built = offline_build(dir.path(), &["build", "--json"]);
    assert_eq!(built.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&built.stdout).unwrap();
    for package in report["packages"].as_array().unwrap() {
        assert_eq!(package["status"], "cached", "{package:#}");
    }

    // Installed from dist/ alone, in a container with no network, each does real work.
    let dist = dir.path().join("dist");
    let check = Command::new("docker")
        .args(["run", "--rm", "--network", "none", "-v"])
        .arg(format!("{}:/dist:ro", dist.display()))
        .args([
            &image,
            "sh",
            "-c",
            "python3 -m venv /tmp/v && /tmp/v/bin/pip install -q --no-index --find-links /dist \
             rpds-py bcrypt cryptography pydantic && /tmp/v/bin/python -c \"$1\"",
            "sh",
            SMOKE,
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout).trim(),
        "smoke ok",
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
}
