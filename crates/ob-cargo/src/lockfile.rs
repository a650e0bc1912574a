//! Reading a Rust extension's Cargo.lock (versions 1 to 4) into the registry crates it pins.
//! Everything that leaves here has a checked name, version and sha256, so it can be used in a
//! file name or a URL; anything that cannot be pinned by sha256 (git) is refused.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::CargoError;
use crate::names::{check_checksum, check_name, check_version};

/// Largest Cargo.lock read: real ones with a thousand crates are about 150 KiB.
pub const MAX_LOCK_BYTES: usize = 16 << 20;

/// Most `[[package]]` entries read.
pub const MAX_LOCK_PACKAGES: usize = 20_000;

/// One crate that Cargo.lock pins to a registry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LockedCrate {
    /// The crate's name (ASCII alphanumerics, `-`, `_`).
    pub name: String,
    /// Its version (ASCII alphanumerics and `.-+`).
    pub version: String,
    /// Its source exactly as in Cargo.lock: `sparse+URL` or `registry+URL`.
    pub source: String,
    /// The sha256 of its `.crate` file, 64 lowercase hex digits.
    pub checksum: String,
}

/// The parts of a Cargo.lock read here; the dependency graph is cargo's business.
#[derive(Deserialize)]
struct RawLock {
    version: Option<i64>,
    #[serde(default)]
    package: Vec<RawPackage>,
    /// Version 1 keeps checksums here, keyed `checksum NAME VERSION (SOURCE)`.
    #[serde(default)]
    metadata: BTreeMap<String, toml::Value>,
}

#[derive(Deserialize)]
struct RawPackage {
    name: String,
    version: String,
    source: Option<String>,
    checksum: Option<String>,
}

/// The registry crates a Cargo.lock pins, sorted by (name, version, source), without
/// duplicates.
///
/// Packages without a `source` (the workspace's own members and path dependencies, which ship
/// inside the sdist) are skipped. A git dependency is refused with
/// [`CargoError::GitDependency`], as is any other kind of source, a registry crate without a
/// checksum, and the same name and version with two checksums (from two registries, say): their
/// vendored directories `NAME-VERSION` would collide.
///
/// ```
/// let lock = r#"
/// version = 4
///
/// [[package]]
/// name = "app"
/// version = "0.1.0"
///
/// [[package]]
/// name = "dep"
/// version = "1.0.0"
/// source = "sparse+https://registry.example/index/"
/// checksum = "0000000000000000000000000000000000000000000000000000000000000000"
/// "#;
/// let crates = ob_cargo::lockfile::parse_cargo_lock(lock)?;
/// assert_eq!(crates.len(), 1);
/// assert_eq!(crates[0].name, "dep");
/// # Ok::<(), ob_cargo::CargoError>(())
/// ```
pub fn parse_cargo_lock(text: &str) -> Result<Vec<LockedCrate>, CargoError> {
    if text.len() > MAX_LOCK_BYTES {
        return Err(CargoError::LockTooLarge {
            bytes: text.len(),
            max: MAX_LOCK_BYTES,
        });
    }
    let raw: RawLock = toml::from_str(text).map_err(|cause| CargoError::LockSyntax { cause })?;
    if let Some(version) = raw.version
        && !(1..=4).contains(&version)
    {
        return Err(CargoError::LockVersion { version });
    }
    if raw.package.len() > MAX_LOCK_PACKAGES {
        return Err(CargoError::LockTooManyPackages {
            count: raw.package.len(),
            max: MAX_LOCK_PACKAGES,
        });
    }

    let mut crates = Vec::new();
    for package in raw.package {
        let Some(source) = package.source else {
            continue;
        };
        check_name(&package.name)?;
        let kind = source.split_once('+').map(|(kind, _)| kind);
        match kind {
            Some("registry" | "sparse") => {}
            Some("git") => {
                return Err(CargoError::GitDependency {
                    crate_name: package.name,
                    version: package.version,
                    lock_source: source,
                });
            }
            _ => {
                return Err(CargoError::UnsupportedSource {
                    crate_name: package.name,
                    version: package.version,
                    lock_source: source,
                });
            }
        }
        check_version(&package.name, &package.version)?;
        let checksum = package.checksum.or_else(|| {
            let key = format!("checksum {} {} ({source})", package.name, package.version);
            raw.metadata
                .get(&key)
                .and_then(|value| value.as_str())
                // Version 1 writes `<none>` for a package it has no checksum for.
                .filter(|value| *value != "<none>")
                .map(str::to_owned)
        });
        let Some(checksum) = checksum else {
            return Err(CargoError::MissingChecksum {
                crate_name: package.name,
                version: package.version,
                lock_source: source,
            });
        };
        check_checksum(&package.name, &package.version, &checksum)?;
        crates.push(LockedCrate {
            name: package.name,
            version: package.version,
            source,
            checksum,
        });
    }

    crates.sort();
    crates.dedup();
    for pair in crates.windows(2) {
        let [first, second] = pair else {
            continue;
        };
        if first.name == second.name
            && first.version == second.version
            && first.checksum != second.checksum
        {
            return Err(CargoError::ConflictingChecksums {
                crate_name: first.name.clone(),
                version: first.version.clone(),
                first: first.checksum.clone(),
                second: second.checksum.clone(),
            });
        }
    }
    Ok(crates)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPARSE: &str = "sparse+http://127.0.0.1:9/index/";
    const GIT_REGISTRY: &str = "registry+https://registry.example/index";

    fn sum(digit: char) -> String {
        digit.to_string().repeat(64)
    }

    #[test]
    fn version_4_registry_crates_sorted_and_members_skipped() {
        let text = format!(
            r#"
# This file is automatically @generated by Cargo.
version = 4

[[package]]
name = "zeta"
version = "0.2.0"
source = "{SPARSE}"
checksum = "{a}"

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["zeta", "alpha"]

[[package]]
name = "alpha"
version = "1.0.0+build"
source = "{GIT_REGISTRY}"
checksum = "{b}"
"#,
            a = sum('a'),
            b = sum('b'),
        );
        let crates = parse_cargo_lock(&text).unwrap();
        assert_eq!(
            crates,
            vec![
                LockedCrate {
                    name: "alpha".into(),
                    version: "1.0.0+build".into(),
                    source: GIT_REGISTRY.into(),
                    checksum: sum('b'),
                },
                LockedCrate {
                    name: "zeta".into(),
                    version: "0.2.0".into(),
                    source: SPARSE.into(),
                    checksum: sum('a'),
                },
            ]
        );
    }

    #[test]
    fn version_1_checksums_come_from_metadata() {
        let text = format!(
            r#"
[[package]]
name = "app"
version = "0.1.0"
dependencies = ["dep 1.2.3 ({GIT_REGISTRY})"]

[[package]]
name = "dep"
version = "1.2.3"
source = "{GIT_REGISTRY}"

[metadata]
"checksum dep 1.2.3 ({GIT_REGISTRY})" = "{c}"
"#,
            c = sum('c'),
        );
        let crates = parse_cargo_lock(&text).unwrap();
        assert_eq!(crates.len(), 1);
        assert_eq!(crates[0].checksum, sum('c'));
    }

    #[test]
    fn version_1_none_checksum_is_missing() {
        let text = format!(
            r#"
[[package]]
name = "dep"
version = "1.2.3"
source = "{GIT_REGISTRY}"

[metadata]
"checksum dep 1.2.3 ({GIT_REGISTRY})" = "<none>"
"#
        );
        let err = parse_cargo_lock(&text).unwrap_err();
        assert!(matches!(err, CargoError::MissingChecksum { .. }), "{err}");
        assert!(err.to_string().contains("`dep` 1.2.3"), "{err}");
    }

    #[test]
    fn git_dependency_is_refused_by_name() {
        let text = r#"
version = 3

[[package]]
name = "gitdep"
version = "0.3.0"
source = "git+https://git.example/gitdep?rev=abc#abcdef0123"
"#;
        let err = parse_cargo_lock(text).unwrap_err();
        assert!(matches!(err, CargoError::GitDependency { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("`gitdep`"), "{message}");
        assert!(message.contains("cannot be pinned by sha256"), "{message}");
        assert!(message.contains("refused"), "{message}");
    }

    #[test]
    fn other_source_kinds_are_refused() {
        let text = r#"
[[package]]
name = "odd"
version = "0.3.0"
source = "directory+file:///vendor"
"#;
        let err = parse_cargo_lock(text).unwrap_err();
        assert!(matches!(err, CargoError::UnsupportedSource { .. }), "{err}");
        assert!(
            err.to_string().contains("directory+file:///vendor"),
            "{err}"
        );
    }

    #[test]
    fn odd_names_versions_and_checksums_are_refused() {
        let cases = [
            ("../../etc", "1.0.0", sum('a')),
            ("dep", "../1", sum('a')),
            ("dep", "1.0.0", "A".repeat(64)),
            ("dep", "1.0.0", "a".repeat(63)),
        ];
        for (name, version, checksum) in cases {
            let text = format!(
                "[[package]]\nname = {name:?}\nversion = {version:?}\nsource = {SPARSE:?}\n\
                 checksum = {checksum:?}\n"
            );
            let err = parse_cargo_lock(&text).unwrap_err();
            assert!(
                matches!(
                    err,
                    CargoError::InvalidName { .. }
                        | CargoError::InvalidVersion { .. }
                        | CargoError::InvalidChecksum { .. }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn duplicates_merge_but_conflicting_checksums_are_refused() {
        let entry = |source: &str, checksum: &str| {
            format!(
                "[[package]]\nname = \"dep\"\nversion = \"1.0.0\"\nsource = {source:?}\n\
                 checksum = {checksum:?}\n\n"
            )
        };
        let same = entry(SPARSE, &sum('a')) + &entry(SPARSE, &sum('a'));
        assert_eq!(parse_cargo_lock(&same).unwrap().len(), 1);

        let two_registries = entry(SPARSE, &sum('a')) + &entry(GIT_REGISTRY, &sum('a'));
        assert_eq!(parse_cargo_lock(&two_registries).unwrap().len(), 2);

        let conflict = entry(SPARSE, &sum('a')) + &entry(GIT_REGISTRY, &sum('b'));
        let err = parse_cargo_lock(&conflict).unwrap_err();
        assert!(
            matches!(err, CargoError::ConflictingChecksums { .. }),
            "{err}"
        );
    }

    #[test]
    fn limits_and_versions() {
        let big = " ".repeat(MAX_LOCK_BYTES + 1);
        assert!(matches!(
            parse_cargo_lock(&big),
            Err(CargoError::LockTooLarge { .. })
        ));
        let many = "[[package]]\nname = \"a\"\nversion = \"1\"\n".repeat(MAX_LOCK_PACKAGES + 1);
        assert!(matches!(
            parse_cargo_lock(&many),
            Err(CargoError::LockTooManyPackages { .. })
        ));
        assert!(matches!(
            parse_cargo_lock("version = 5\n"),
            Err(CargoError::LockVersion { version: 5 })
        ));
        assert!(matches!(
            parse_cargo_lock("[[package]]\nname = 3\n"),
            Err(CargoError::LockSyntax { .. })
        ));
        assert!(parse_cargo_lock("").unwrap().is_empty());
    }
}
