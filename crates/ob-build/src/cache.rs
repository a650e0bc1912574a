//! The content-addressed wheel cache: a validated wheel kept under a key made of everything that
//! determines it, so that `build` right after `resolve` (whose verification builds fill it), and
//! another project with the same pins, compile nothing. Only the orchestrator writes it, after
//! the wheel passed validation; every use checks the wheel against its recorded sha256, and an
//! entry that fails is removed with a warning and built again.
//!
//! Layout: `<root>/<key>/entry.json` and `<root>/<key>/<wheel file>`. What it trusts is written
//! in docs/build.md: the user's own cache directory, nothing a build container can reach.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BuildError;
use crate::report::UsedWheel;
use crate::wheel::WheelName;

/// Format of `entry.json`; an entry of another format (an older offline-build's) is a miss and
/// is replaced. Raise it whenever a field is added.
pub const ENTRY_VERSION: u32 = 2;
/// Entries are small; anything larger was not written by us.
const MAX_ENTRY_BYTES: u64 = 1 << 20;

/// Everything one wheel is made from. Two builds with equal inputs give the same wheel, so a
/// validated wheel can stand in for a build with the same key.
#[derive(Debug, Clone, Copy)]
pub struct KeyInputs<'a> {
    /// Normalized name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// sha256 of the sdist.
    pub sdist_sha256: &'a str,
    /// The wheels of its build environment (name, version, file name, sha256).
    pub environment: &'a [UsedWheel],
    /// Layer digest of the builder image.
    pub image_digest: &'a str,
    /// [`crate::driver::settings_digest`]: the driver's files, the container layout and
    /// `SOURCE_DATE_EPOCH`.
    pub settings_digest: &'a str,
    /// sha256 of the package's own build settings (environment variables, config settings,
    /// patches); empty while there are none.
    pub package_settings: &'a str,
    /// The Rust crates vendored into its build: name, version, sha256.
    pub crates: &'a [(&'a str, &'a str, &'a str)],
}

impl KeyInputs<'_> {
    /// The key: lowercase hex sha256 over every input, each NUL-terminated and labelled, the
    /// environment sorted.
    pub fn key(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(b"offline-build wheel 1\0");
        for (label, value) in [
            ("name", self.name),
            ("version", self.version),
            ("sdist", self.sdist_sha256),
            ("image", self.image_digest),
            ("settings", self.settings_digest),
            ("package-settings", self.package_settings),
        ] {
            hasher.update(label.as_bytes());
            hasher.update(b"=");
            hasher.update(value.as_bytes());
            hasher.update(b"\0");
        }
        let mut environment: Vec<&UsedWheel> = self.environment.iter().collect();
        environment.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        for wheel in environment {
            for part in [&wheel.name, &wheel.version, &wheel.wheel, &wheel.sha256] {
                hasher.update(part.as_bytes());
                hasher.update(b"\0");
            }
        }
        let mut crates: Vec<&(&str, &str, &str)> = self.crates.iter().collect();
        crates.sort();
        for (name, version, sha256) in crates {
            for part in ["crate", name, version, sha256] {
                hasher.update(part.as_bytes());
                hasher.update(b"\0");
            }
        }
        hex::encode(hasher.finalize())
    }
}

/// What the cache records beside a wheel: the facts the stages would otherwise have to build
/// again to learn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CacheEntry {
    /// [`ENTRY_VERSION`].
    pub entry_version: u32,
    /// The key it is stored under.
    pub key: String,
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The wheel's file name.
    pub wheel: String,
    /// The wheel's sha256, checked on every use.
    pub sha256: String,
    /// Its importable top-level modules.
    pub top_level: Vec<String>,
    /// Its compiled extension modules.
    #[serde(default)]
    pub extension_modules: Vec<String>,
    /// What `get_requires_for_build_wheel` named in the build that made it.
    pub build_requirements: Vec<String>,
    /// The wheel's `Requires-Dist`.
    pub requires_dist: Vec<String>,
    /// The wheel's `Requires-Python`.
    pub requires_python: Option<String>,
    /// The wheel's `Provides-Extra`.
    pub provides_extra: Vec<String>,
}

/// A cache entry that passed its check.
#[derive(Debug, Clone)]
pub struct CachedWheel {
    /// The entry.
    pub entry: CacheEntry,
    /// The wheel file inside the cache.
    pub path: PathBuf,
}

/// What a lookup found.
#[derive(Debug)]
pub enum Lookup {
    /// A sound entry.
    Hit(Box<CachedWheel>),
    /// No entry under this key.
    Miss,
    /// An entry whose wheel or record did not check out; it was removed, and the caller builds
    /// again and should warn with the reason.
    Tampered {
        /// The entry's directory.
        entry: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// The cache at one root directory.
#[derive(Debug, Clone)]
pub struct WheelCache {
    root: PathBuf,
}

impl WheelCache {
    /// The cache rooted at `root` (created, 0700, when the first wheel is stored).
    pub fn new(root: impl Into<PathBuf>) -> WheelCache {
        WheelCache { root: root.into() }
    }

    /// `$XDG_CACHE_HOME/offline-build/wheels`, else `~/.cache/offline-build/wheels`.
    pub fn default_root() -> Option<PathBuf> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|value| !value.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("offline-build").join("wheels"))
    }

    /// Where the cache lives.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The entry under `key`, checked: its record parses, names this package and a plain wheel
    /// file beside it, and that file's sha256 is the recorded one.
    pub fn lookup(&self, key: &str, name: &str, version: &str) -> Lookup {
        if !is_key(key) {
            return Lookup::Miss;
        }
        let directory = self.root.join(key);
        let record = directory.join("entry.json");
        match std::fs::symlink_metadata(&record) {
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Lookup::Miss,
            _ => {}
        }
        if self.other_format(&record) {
            let _ = fs_err::remove_dir_all(&directory);
            return Lookup::Miss;
        }
        match self.check(&directory, key, name, version) {
            Ok(cached) => Lookup::Hit(Box::new(cached)),
            Err(reason) => {
                // Gone, so the next build replaces it; failing to remove it only means the
                // next lookup says the same.
                let _ = fs_err::remove_dir_all(&directory);
                Lookup::Tampered {
                    entry: directory,
                    reason,
                }
            }
        }
    }

    /// An entry that parses as one of ours but of another format version: not a sign of
    /// tampering, only of another offline-build.
    fn other_format(&self, record: &Path) -> bool {
        #[derive(Deserialize)]
        #[serde(rename_all = "kebab-case")]
        struct Version {
            entry_version: u32,
        }
        read_small_file(record)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Version>(&bytes).ok())
            .is_some_and(|found| found.entry_version != ENTRY_VERSION)
    }

    fn check(
        &self,
        directory: &Path,
        key: &str,
        name: &str,
        version: &str,
    ) -> Result<CachedWheel, String> {
        let record = directory.join("entry.json");
        let text = read_small_file(&record).map_err(|err| format!("entry.json: {err}"))?;
        let entry: CacheEntry =
            serde_json::from_slice(&text).map_err(|err| format!("entry.json: {err}"))?;
        if entry.entry_version != ENTRY_VERSION || entry.key != key {
            return Err("entry.json belongs to another key or format".to_owned());
        }
        if entry.name != name || entry.version != version {
            return Err(format!(
                "entry.json names {} {}, not {name} {version}",
                entry.name, entry.version
            ));
        }
        let plain_name = !entry.wheel.contains(['/', '\\', '\0']) && !entry.wheel.starts_with('.');
        if !plain_name || !WheelName::parse(&entry.wheel).is_some_and(|w| w.is(name, version)) {
            return Err(format!(
                "`{}` is not a wheel of {name} {version}",
                entry.wheel
            ));
        }
        let path = directory.join(&entry.wheel);
        let metadata =
            std::fs::symlink_metadata(&path).map_err(|err| format!("{}: {err}", entry.wheel))?;
        if !metadata.file_type().is_file() {
            return Err(format!("{} is not a regular file", entry.wheel));
        }
        let actual = crate::sha256_file(&path).map_err(|err| format!("{}: {err}", entry.wheel))?;
        if actual != entry.sha256 {
            return Err(format!(
                "{} has sha256 {actual}, the entry records {}",
                entry.wheel, entry.sha256
            ));
        }
        Ok(CachedWheel { entry, path })
    }

    /// Stores `wheel` (validated by the caller) under `entry.key`: written to a temporary
    /// directory beside the entries, then renamed into place, so a reader never sees half an
    /// entry. When another process stored the same key meanwhile, its entry is kept (the same
    /// inputs give the same wheel) and returned if it checks out.
    pub fn store(&self, entry: &CacheEntry, wheel: &Path) -> Result<CachedWheel, BuildError> {
        use std::os::unix::fs::PermissionsExt as _;
        if !is_key(&entry.key) {
            return Err(BuildError::io("store in the wheel cache", &self.root)(
                std::io::Error::other(format!("`{}` is not a cache key", entry.key)),
            ));
        }
        if !self.root.exists() {
            fs_err::create_dir_all(&self.root)
                .map_err(BuildError::io("create the wheel cache", &self.root))?;
            fs_err::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                .map_err(BuildError::io("restrict the wheel cache", &self.root))?;
        }
        let staging = tempfile::Builder::new()
            .prefix(".store-")
            .tempdir_in(&self.root)
            .map_err(BuildError::io("create a temporary entry in", &self.root))?;
        let target = staging.path().join(&entry.wheel);
        // A copy: the wheel was written by a container's user; the entry is ours.
        crate::files::copy_file(wheel, &target)?;
        fs_err::set_permissions(&target, std::fs::Permissions::from_mode(0o644))
            .map_err(BuildError::io("set the mode of", &target))?;
        let record = staging.path().join("entry.json");
        let mut json = serde_json::to_vec_pretty(entry)
            .map_err(|err| BuildError::io("serialise", &record)(std::io::Error::other(err)))?;
        json.push(b'\n');
        fs_err::write(&record, json).map_err(BuildError::io("write", &record))?;
        let directory = self.root.join(&entry.key);
        let staged = staging.keep();
        match fs_err::rename(&staged, &directory) {
            Ok(()) => {}
            Err(_) if directory.exists() => {
                let _ = fs_err::remove_dir_all(&staged);
            }
            Err(err) => {
                let _ = fs_err::remove_dir_all(&staged);
                return Err(BuildError::io("store in the wheel cache", &directory)(err));
            }
        }
        match self.lookup(&entry.key, &entry.name, &entry.version) {
            Lookup::Hit(cached) => Ok(*cached),
            Lookup::Miss | Lookup::Tampered { .. } => Err(BuildError::io(
                "read back from the wheel cache",
                &directory,
            )(std::io::Error::other(
                "the entry just stored does not check out",
            ))),
        }
    }
}

fn is_key(key: &str) -> bool {
    key.len() == 64
        && key
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A small regular file, not followed through a symlink, read up to [`MAX_ENTRY_BYTES`].
fn read_small_file(path: &Path) -> std::io::Result<Vec<u8>> {
    let metadata = std::fs::symlink_metadata(path)?;
    if !metadata.file_type().is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    fs_err::File::open(path)?
        .take(MAX_ENTRY_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_ENTRY_BYTES {
        return Err(std::io::Error::other("larger than an entry can be"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs<'a>(environment: &'a [UsedWheel]) -> KeyInputs<'a> {
        KeyInputs {
            name: "greet",
            version: "1.0",
            sdist_sha256: "a",
            environment,
            image_digest: "sha256:b",
            settings_digest: "c",
            package_settings: "",
            crates: &[],
        }
    }

    fn wheel(name: &str, sha256: &str) -> UsedWheel {
        UsedWheel {
            name: name.to_owned(),
            version: "1.0".to_owned(),
            wheel: format!("{name}-1.0-py3-none-any.whl"),
            sha256: sha256.to_owned(),
        }
    }

    /// Regression: entries of an older offline-build lacked `extension-modules`, which read
    /// back as "none" and reported compiled wheels as degraded.
    #[test]
    fn an_entry_of_another_format_is_a_quiet_miss_and_goes() {
        let root = tempfile::tempdir().unwrap();
        let cache = WheelCache::new(root.path());
        let key = "a".repeat(64);
        let entry = root.path().join(&key);
        fs_err::create_dir(&entry).unwrap();
        fs_err::write(
            entry.join("entry.json"),
            format!(r#"{{"entry-version": 1, "key": "{key}", "name": "greet", "version": "1.0"}}"#),
        )
        .unwrap();
        assert!(matches!(cache.lookup(&key, "greet", "1.0"), Lookup::Miss));
        assert!(!entry.exists());
    }

    #[test]
    fn every_input_changes_the_key_and_the_environment_order_does_not() {
        let environment = [wheel("minibackend", "1"), wheel("flit-core", "2")];
        let reversed = [wheel("flit-core", "2"), wheel("minibackend", "1")];
        let base = inputs(&environment).key();
        assert_eq!(base, inputs(&reversed).key());
        let other_wheel = [wheel("minibackend", "9"), wheel("flit-core", "2")];
        let mut keys = vec![
            KeyInputs {
                sdist_sha256: "x",
                ..inputs(&environment)
            }
            .key(),
            KeyInputs {
                image_digest: "sha256:x",
                ..inputs(&environment)
            }
            .key(),
            KeyInputs {
                settings_digest: "x",
                ..inputs(&environment)
            }
            .key(),
            KeyInputs {
                package_settings: "x",
                ..inputs(&environment)
            }
            .key(),
            KeyInputs {
                version: "2.0",
                ..inputs(&environment)
            }
            .key(),
            inputs(&other_wheel).key(),
            inputs(&environment[..1]).key(),
            KeyInputs {
                crates: &[("itoa", "1.0.0", "d")],
                ..inputs(&environment)
            }
            .key(),
            KeyInputs {
                crates: &[("itoa", "1.0.0", "e")],
                ..inputs(&environment)
            }
            .key(),
        ];
        keys.push(base);
        let distinct: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(distinct.len(), keys.len(), "{keys:#?}");
    }
}
