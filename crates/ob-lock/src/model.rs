//! In-memory form of a lock, and the small helpers every stage needs (names, pins, lookups).
//! Field meanings are documented in docs/lockfile.md; reading, writing and validation live in
//! their own modules.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{LockError, Problem};

/// The only PEP 751 lock version we write; we read any `1.x`.
pub const LOCK_VERSION: &str = "1.0";

/// Dependency group that holds build-only packages, left out of `default-groups` so that a plain
/// `pip install -r pylock.toml` installs the runtime set only.
pub const BUILD_GROUP: &str = "build";

/// The PEP 751 marker written on every build-only package.
pub const BUILD_MARKER: &str = "'build' in dependency_groups";

/// A whole lock: every package pinned to one sdist, and how to build them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lock {
    /// `requires-python` at the top level, if the resolve recorded one.
    pub requires_python: Option<String>,
    /// Packages, sorted by name and then version. A name may have several entries, one per
    /// version, when build environments need different versions of it; at most one of them is
    /// a runtime package.
    pub packages: Vec<Package>,
    /// The `[tool.offline-build]` table.
    pub tool: LockTool,
    /// Top-level keys we do not interpret (other tools' `[tool.*]` tables, PEP 751 keys we do
    /// not use), kept so that rewriting a lock does not drop them.
    pub foreign: Foreign,
}

/// `[tool.offline-build]`: how the lock was resolved and how it must be built.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockTool {
    /// Builder image reference, e.g. `offline-build/builder:trixie`.
    pub image: String,
    /// Layer digest of the builder image (`sha256:<64 hex>`): stable across re-imports.
    pub image_digest: String,
    /// Python version inside the image, e.g. `3.13.5`.
    pub python_version: String,
    /// Platform tag of the image, e.g. `linux_x86_64`.
    pub platform: String,
    /// Index the lock was resolved against, without credentials.
    pub index_url: String,
    /// Files uploaded after this RFC 3339 instant were ignored during resolve.
    pub exclude_newer: Option<String>,
    /// Whether resolve built every package to prove the build requirements complete.
    pub build_verified: bool,
    /// `SOURCE_DATE_EPOCH` every build uses.
    pub source_date_epoch: u64,
    /// The top-level requirements the lock was resolved from, as given.
    pub requirements: Vec<String>,
    /// Every package once, each after its build requirements (`name==version`: a name may be
    /// locked at several versions).
    pub build_order: Vec<Pin>,
    /// The Cargo.lock source of cargo's built-in default registry (`registry+URL`), as cargo
    /// named it when the lock was resolved; present when some crate comes from it. The build's
    /// cargo configuration replaces that registry as `[source.crates-io]`.
    pub cargo_default_registry: Option<String>,
    /// `[[tool.offline-build.crates]]`: every Rust crate some package's build needs, once
    /// each (by name and version), sorted. Packages name theirs in [`Package::crates`].
    pub crates: Vec<Crate>,
    /// `allow-binary`: the releases the user allowed as upstream wheels (`name==version`,
    /// normalized, sorted), exactly the lock's packages that have a [`Package::wheel`]. Empty
    /// for every lock that builds everything from source, and then not written.
    pub allow_binary: Vec<Pin>,
}

/// One Rust crate from a registry, pinned as the Cargo.lock of the sdist that needs it pins it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Crate {
    /// The crate's name, as cargo spells it (not normalized).
    pub name: String,
    /// Exact version.
    pub version: String,
    /// The Cargo.lock's `source` for it (`sparse+URL` or `registry+URL`), which the vendored
    /// build's source replacement names.
    pub source: String,
    /// Where fetch downloads it from (https, or http on loopback), without credentials.
    pub url: String,
    /// Size in bytes, never zero.
    pub size: u64,
    /// Lowercase hex sha256, 64 digits: the Cargo.lock's `checksum`.
    pub sha256: String,
}

impl Crate {
    /// `name@version`, as packages refer to it.
    pub fn key(&self) -> CrateKey {
        CrateKey {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    /// Its file name in the wheelhouse's `crates/` directory: `{name}-{version}.crate`.
    pub fn filename(&self) -> String {
        format!("{}-{}.crate", self.name, self.version)
    }
}

/// A `name@version` reference from a package to one of the lock's crates.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CrateKey {
    /// Crate name as cargo spells it.
    pub name: String,
    /// Exact version.
    pub version: String,
}

impl fmt::Display for CrateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

impl CrateKey {
    /// Parses `name@version`.
    pub fn parse(text: &str) -> Option<CrateKey> {
        let (name, version) = text.split_once('@')?;
        (is_valid_crate_name(name) && is_valid_crate_version(version)).then(|| CrateKey {
            name: name.to_owned(),
            version: version.to_owned(),
        })
    }
}

/// A crate name cargo could publish: ASCII letters, digits, `-` and `_`, at most 64, starting
/// with a letter or digit (so that it is safe in a file name).
pub fn is_valid_crate_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// A semver version as a Cargo.lock holds one: ASCII letters, digits, `.`, `-` and `+`, at
/// most 64, starting with a digit.
pub fn is_valid_crate_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version.as_bytes()[0].is_ascii_digit()
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// One `[[packages]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Package {
    /// Normalized name (PEP 503: lowercase, runs of `-_.` become `-`).
    pub name: String,
    /// Exact version.
    pub version: String,
    /// `requires-python` of this release, if the index published one.
    pub requires_python: Option<String>,
    /// True when the package is needed only to build others: it carries the marker
    /// `'build' in dependency_groups` and is not installed by default.
    pub build_only: bool,
    /// The packages this one depends on at run time (PEP 751 `dependencies`).
    pub dependencies: Vec<Dependency>,
    /// The one source distribution of this release; empty (`Sdist::default()`) for a package
    /// taken as a wheel ([`Package::wheel`]).
    pub sdist: Sdist,
    /// The upstream wheel this release is taken as, instead of being built: only for a
    /// release the user allowed by name and version (`allow-binary`, recorded in
    /// [`LockTool::allow_binary`]). PEP 751's `wheels`, with exactly one entry.
    pub wheel: Option<Wheel>,
    /// `[packages.tool.offline-build].build-requires`: the complete pinned build environment.
    pub build_requires: Vec<Pin>,
    /// `[packages.tool.offline-build].crates`: the Rust crates its build vendors, each one of
    /// the lock's [`LockTool::crates`].
    pub crates: Vec<CrateKey>,
    /// The rest of `[packages.tool.offline-build]`: the build settings the user's configuration
    /// gave this package at resolve time. `build` uses exactly these, whatever the configuration
    /// on the building machine says; empty for most packages.
    pub settings: BuildSettings,
    /// `[packages.tool.offline-build].image-tool`: `debian-package=debian-version` when this
    /// package is a stand-in made by offline-build for a tool of the builder image (`cmake`,
    /// `ninja`, `patchelf`) rather than an sdist of the index; fetch makes its sdist again
    /// from its name and version, and its sha256 pins that.
    pub image_tool: Option<String>,
    /// Keys of this package we do not interpret (e.g. `index`, `[packages.tool.uv]`), kept so
    /// that rewriting a lock does not drop them.
    pub foreign: Foreign,
}

/// `[packages.tool.offline-build]` settings the user's configuration gave this package's build.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BuildSettings {
    /// Environment variables set for its build steps (resolve's hook steps too).
    pub env: BTreeMap<String, String>,
    /// PEP 517 config_settings passed to every hook.
    pub config_settings: BTreeMap<String, ConfigSetting>,
    /// PEP 508 requirements added to its build environment (as the user wrote them), sorted,
    /// unique. Informational in the lock: their pins are already in `build-requires`.
    pub extra_build_requires: Vec<String>,
    /// Patches applied in this order to the extracted sdist before any hook.
    pub patches: Vec<Patch>,
}

/// One PEP 517 `config_settings` value: a TOML string or an array of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSetting {
    /// A single string.
    One(String),
    /// An array of strings, kept in order (the backend receives a list).
    Many(Vec<String>),
}

/// One patch of a package's sdist, pinned by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// Relative to the lock file's directory: not absolute, no `..`, `/` separators (the same
    /// rule as `sdist.path`).
    pub path: String,
    /// Lowercase hex sha256, 64 digits.
    pub sha256: String,
}

impl BuildSettings {
    /// True when the configuration gave this package nothing: nothing is written to the lock.
    pub fn is_empty(&self) -> bool {
        self.env.is_empty()
            && self.config_settings.is_empty()
            && self.extra_build_requires.is_empty()
            && self.patches.is_empty()
    }

    /// `config_settings` as a frontend passes them to the hooks: a JSON object of strings and
    /// lists of strings.
    pub fn config_settings_json(&self) -> serde_json::Map<String, serde_json::Value> {
        use serde_json::Value;
        self.config_settings
            .iter()
            .map(|(key, setting)| {
                let value = match setting {
                    ConfigSetting::One(text) => Value::String(text.clone()),
                    ConfigSetting::Many(items) => {
                        Value::Array(items.iter().cloned().map(Value::String).collect())
                    }
                };
                (key.clone(), value)
            })
            .collect()
    }

    /// A canonical text of all four fields for a wheel cache key to hash: equal settings give
    /// equal text, any difference a different one; `""` when empty, so that a package without
    /// settings keeps the key it had before settings existed. `extra_build_requires` is taken
    /// sorted and unique, as the lock writes it.
    ///
    /// It is compact JSON with sorted keys, built in sorted order, so serde_json's
    /// `preserve_order` feature (which another crate may turn on) cannot change it.
    pub fn digest_input(&self) -> String {
        use serde_json::{Map, Value};
        if self.is_empty() {
            return String::new();
        }
        let strings =
            |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
        let env: Map<String, Value> = self
            .env
            .iter()
            .map(|(name, value)| (name.clone(), Value::String(value.clone())))
            .collect();
        let config_settings = self.config_settings_json();
        let mut extra = self.extra_build_requires.clone();
        extra.sort();
        extra.dedup();
        let patches = self
            .patches
            .iter()
            .map(|patch| {
                let mut entry = Map::new();
                entry.insert("path".to_owned(), Value::String(patch.path.clone()));
                entry.insert("sha256".to_owned(), Value::String(patch.sha256.clone()));
                Value::Object(entry)
            })
            .collect();
        let mut root = Map::new();
        root.insert("config-settings".to_owned(), Value::Object(config_settings));
        root.insert("env".to_owned(), Value::Object(env));
        root.insert("extra-build-requires".to_owned(), strings(&extra));
        root.insert("patches".to_owned(), Value::Array(patches));
        Value::Object(root).to_string()
    }
}

/// The largest patch a package's settings may name: a patch of an sdist is a small text file,
/// and a larger "patch" (a link to a device, say) must not stall a build.
pub const MAX_PATCH_BYTES: u64 = 16 << 20;

/// Variables a package's `env` may not set: the build relies on their values for
/// reproducibility and isolation.
pub const RESERVED_BUILD_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "TMPDIR",
    "VIRTUAL_ENV",
    "SOURCE_DATE_EPOCH",
    "PYTHONHASHSEED",
    "PYTHONNOUSERSITE",
    "PYTHONDONTWRITEBYTECODE",
    "PYTHONUNBUFFERED",
    "PYTHONPATH",
    "PYTHONHOME",
    "PIP_NO_INDEX",
    "LANG",
    "LC_ALL",
    "CARGO_HOME",
    "CARGO_TARGET_DIR",
    "CARGO_NET_OFFLINE",
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
];

/// Longest environment variable name a package's settings may use.
const MAX_BUILD_ENV_NAME: usize = 128;

/// Checks one env variable name for a package's settings: `[A-Za-z_][A-Za-z0-9_]*`, at most 128
/// bytes, not in [`RESERVED_BUILD_ENV`] (compared exactly: names are case-sensitive). The lock
/// reader uses it, and so can a configuration reader, so that both refuse the same names; the
/// [`Problem`] says which rule failed and has a [`Problem::hint`].
pub fn check_build_env_name(name: &str) -> Result<(), Problem> {
    let bad = |reason: &'static str| Problem::BadEnvName {
        name: name.to_owned(),
        reason,
    };
    let Some(&first) = name.as_bytes().first() else {
        return Err(bad("is empty"));
    };
    if name.len() > MAX_BUILD_ENV_NAME {
        return Err(bad("is longer than 128 bytes"));
    }
    if !(first.is_ascii_alphabetic() || first == b'_')
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return Err(bad(
            "is not letters, digits and `_`, starting with a letter or `_`",
        ));
    }
    let reserved_family = RESERVED_BUILD_ENV_PREFIXES
        .iter()
        .any(|prefix| name.starts_with(prefix))
        && !ALLOWED_BUILD_ENV_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix));
    if RESERVED_BUILD_ENV.contains(&name) || reserved_family {
        return Err(Problem::ReservedEnvName {
            name: name.to_owned(),
        });
    }
    Ok(())
}

/// Families of variables a package's `env` may not set either: the dynamic loader's
/// (`LD_AUDIT` is as strong as `LD_PRELOAD`), the interpreter's, pip's (a backend that calls
/// pip must not be pointed at wheels the sdist ships), and cargo's and rustc's
/// (`CARGO_ENCODED_RUSTFLAGS` would replace the path-rewriting flags, `RUSTC_WRAPPER` the
/// compiler), except those in [`ALLOWED_BUILD_ENV_PREFIXES`].
pub const RESERVED_BUILD_ENV_PREFIXES: &[&str] = &["LD_", "PYTHON", "PIP_", "CARGO_", "RUSTC"];

/// Exceptions to [`RESERVED_BUILD_ENV_PREFIXES`]: cargo's profile settings (e.g.
/// `CARGO_PROFILE_RELEASE_LTO=off`), which change how a crate is optimised, not what it is
/// built from or where.
pub const ALLOWED_BUILD_ENV_PREFIXES: &[&str] = &["CARGO_PROFILE_"];

/// A `name==version` pin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pin {
    /// Normalized name.
    pub name: String,
    /// Exact version.
    pub version: String,
}

/// One entry of a package's `dependencies`: a name, and a version where the lock holds that
/// name at several versions (PEP 751 asks for enough keys to tell the entries apart).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dependency {
    /// Normalized name.
    pub name: String,
    /// The version depended on, when the name alone is ambiguous.
    pub version: Option<String>,
}

impl Dependency {
    /// A dependency by name alone.
    pub fn named(name: impl Into<String>) -> Dependency {
        Dependency {
            name: name.into(),
            version: None,
        }
    }
}

impl fmt::Display for Dependency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.version {
            Some(version) => write!(f, "{}=={version}", self.name),
            None => write!(f, "{}", self.name),
        }
    }
}

/// `[packages.sdist]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sdist {
    /// File name, e.g. `idna-3.10.tar.gz`; never contains a path separator.
    pub filename: String,
    /// Where to download it (https, or http on loopback).
    pub url: Option<String>,
    /// Or a path relative to the lock file.
    pub path: Option<String>,
    /// Upload time from the index (RFC 3339).
    pub upload_time: Option<String>,
    /// Size in bytes, never zero.
    pub size: u64,
    /// Lowercase hex sha256, 64 digits.
    pub sha256: String,
}

/// The one entry of `[[packages.wheels]]`: an upstream wheel from the index, pinned by sha256.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Wheel {
    /// File name, e.g. `demo-1.0-py3-none-any.whl`; never contains a path separator.
    pub filename: String,
    /// Where to download it (https, or http on loopback).
    pub url: String,
    /// Upload time from the index (RFC 3339).
    pub upload_time: Option<String>,
    /// Size in bytes, never zero.
    pub size: u64,
    /// Lowercase hex sha256, 64 digits.
    pub sha256: String,
}

/// TOML we carry through without interpreting: the unknown keys of one table, as canonical TOML
/// text (so that [`Lock`] stays `Eq`). Empty for locks built in memory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Foreign {
    pub(crate) toml: String,
}

impl Foreign {
    /// True when there is nothing to carry through.
    pub fn is_empty(&self) -> bool {
        self.toml.is_empty()
    }

    /// Keeps `table` (the keys we did not interpret) in canonical form.
    pub(crate) fn from_table(table: toml::Table) -> Foreign {
        if table.is_empty() {
            return Foreign::default();
        }
        // Serialising a table that came out of the TOML parser cannot fail; if it ever did,
        // dropping foreign keys is the lesser harm than refusing the lock.
        Foreign {
            toml: toml::to_string(&table).unwrap_or_default(),
        }
    }
}

impl Lock {
    /// The package called `name` (any spelling: it is normalized first): its runtime entry when
    /// it has one, else its only entry. `None` when it is not locked, or locked only as several
    /// build-only versions (use [`Lock::packages_named`] or [`Lock::package_at`] then).
    pub fn package(&self, name: &str) -> Option<&Package> {
        let mut named = self.packages_named(name).peekable();
        let first = named.next()?;
        if named.peek().is_none() {
            return Some(first);
        }
        std::iter::once(first)
            .chain(named)
            .find(|package| !package.build_only)
    }

    /// Every entry of `name` (normalized first), in version order.
    pub fn packages_named(&self, name: &str) -> impl Iterator<Item = &Package> {
        let name = normalize_name(name);
        self.packages
            .iter()
            .filter(move |package| package.name == name)
    }

    /// The entry of `name` at exactly `version`.
    pub fn package_at(&self, name: &str, version: &str) -> Option<&Package> {
        self.packages_named(name)
            .find(|package| package.version == version)
    }

    /// Packages a plain `pip install -r pylock.toml` installs: everything not build-only.
    pub fn runtime_packages(&self) -> impl Iterator<Item = &Package> {
        self.packages.iter().filter(|package| !package.build_only)
    }

    /// The lock's entry for `key`, if it has one.
    pub fn crate_entry(&self, key: &CrateKey) -> Option<&Crate> {
        self.tool
            .crates
            .iter()
            .find(|entry| entry.name == key.name && entry.version == key.version)
    }

    /// The crates `package`'s build vendors (those the lock has entries for; validation refuses
    /// a lock where one is missing).
    pub fn crates_of<'a>(&'a self, package: &'a Package) -> impl Iterator<Item = &'a Crate> {
        package
            .crates
            .iter()
            .filter_map(|key| self.crate_entry(key))
    }

    /// Packages needed only to build others.
    pub fn build_only_packages(&self) -> impl Iterator<Item = &Package> {
        self.packages.iter().filter(|package| package.build_only)
    }

    /// A build order derived from the packages' `build_requires` alone: each package after all
    /// of its build requirements, ties broken by name, so the same lock always gives the same
    /// order. Fails naming the packages left when build requirements form a cycle or name a
    /// package that is not locked.
    pub fn canonical_build_order(&self) -> Result<Vec<Pin>, LockError> {
        crate::validate::canonical_build_order(self)
    }
}

impl Package {
    /// This package as a `name==version` pin.
    pub fn pin(&self) -> Pin {
        Pin {
            name: self.name.clone(),
            version: self.version.clone(),
        }
    }

    /// The one file of this release in a wheelhouse: its wheel's name when it is taken as a
    /// wheel, else its sdist's.
    pub fn filename(&self) -> &str {
        match &self.wheel {
            Some(wheel) => &wheel.filename,
            None => &self.sdist.filename,
        }
    }

    /// The sha256 of [`Package::filename`].
    pub fn file_sha256(&self) -> &str {
        match &self.wheel {
            Some(wheel) => &wheel.sha256,
            None => &self.sdist.sha256,
        }
    }

    /// The size of [`Package::filename`].
    pub fn file_size(&self) -> u64 {
        match &self.wheel {
            Some(wheel) => wheel.size,
            None => self.sdist.size,
        }
    }
}

/// The name and version parts of a wheel file name (PEP 427:
/// `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`), as written; `None` for
/// anything else. The one reading of wheel names that the lock, the proxy and resolve share.
pub fn wheel_release(filename: &str) -> Option<(&str, &str)> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    match parts.len() {
        5 | 6 if parts.iter().all(|part| !part.is_empty()) => Some((parts[0], parts[1])),
        _ => None,
    }
}

impl Pin {
    /// Parses `name==version`. The name is normalized (PEP 503); the version is kept as written.
    pub fn parse(text: &str) -> Result<Pin, LockError> {
        let invalid = || LockError::Invalid {
            path: None,
            package: None,
            field: "pin".to_owned(),
            problem: Box::new(Problem::BadPin {
                found: text.to_owned(),
            }),
        };
        let (name, version) = text.split_once("==").ok_or_else(invalid)?;
        if !is_valid_name(name) || !is_valid_version(version) {
            return Err(invalid());
        }
        Ok(Pin {
            name: normalize_name(name),
            version: version.to_owned(),
        })
    }
}

impl fmt::Display for Pin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=={}", self.name, self.version)
    }
}

impl std::str::FromStr for Pin {
    type Err = LockError;

    fn from_str(text: &str) -> Result<Pin, LockError> {
        Pin::parse(text)
    }
}

impl Sdist {
    /// The PEP 625 file name of a new sdist: `{name_with_underscores}-{version}.tar.gz`.
    pub fn pep625_filename(name: &str, version: &str) -> String {
        format!(
            "{}-{version}.tar.gz",
            normalize_name(name).replace('-', "_")
        )
    }

    /// Checks that this sdist's file name is safe to use as a file name and belongs to
    /// `name` at `version`. Older sdists that keep the project's own spelling
    /// (`PyYAML-6.0.2.tar.gz`, `zope.interface-7.0.tar.gz`) and `.zip` sdists are accepted:
    /// the name part is compared after normalization.
    pub fn check_filename(&self, name: &str, version: &str) -> Result<(), LockError> {
        crate::validate::sdist_filename(&self.filename, name, version).map_err(|problem| {
            LockError::Invalid {
                path: None,
                package: Some(name.to_owned()),
                field: "sdist.name".to_owned(),
                problem: Box::new(problem),
            }
        })
    }
}

/// PEP 440 order of two versions; text order for what does not parse (validation refuses
/// versions that are not plausible, so this only decides the order of odd ones).
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    match (
        a.parse::<pep440_rs::Version>(),
        b.parse::<pep440_rs::Version>(),
    ) {
        (Ok(left), Ok(right)) => left.cmp(&right).then_with(|| a.cmp(b)),
        _ => a.cmp(b),
    }
}

/// PEP 503 normalization: lowercase, and every run of `-`, `_` and `.` becomes one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    let mut in_separator_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator_run {
                normalized.push('-');
            }
            in_separator_run = true;
        } else {
            normalized.push(c.to_ascii_lowercase());
            in_separator_run = false;
        }
    }
    normalized
}

/// A project name as PEP 508 allows it: ASCII letters and digits, with `-_.` inside.
pub fn is_valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        }
        _ => false,
    }
}

/// A version string plausible under PEP 440: non-empty, starting with a letter or digit, and
/// made only of the characters a version may contain. (Full PEP 440 parsing is the index's and
/// pip's business; this keeps separators, spaces and operators out of pins and file names.)
pub fn is_valid_version(version: &str) -> bool {
    version
        .as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphanumeric())
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'!' | b'+' | b'-' | b'_'))
}
