//! In-memory form of a lock. Field meanings are documented in docs/lockfile.md.

/// The only PEP 751 lock version we write; we read any `1.x`.
pub const LOCK_VERSION: &str = "1.0";

/// Dependency group that holds build-only packages, left out of `default-groups` so that a plain
/// `pip install -r pylock.toml` installs the runtime set only.
pub const BUILD_GROUP: &str = "build";

/// A whole lock: every package pinned to one sdist, and how to build them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    /// `requires-python` at the top level, if the resolve recorded one.
    pub requires_python: Option<String>,
    /// Packages, sorted by name; one entry per name.
    pub packages: Vec<Package>,
    /// The `[tool.offline-build]` table.
    pub tool: LockTool,
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
    /// Package names in an order where each package comes after its build requirements.
    pub build_order: Vec<String>,
}

/// One `[[packages]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// Names of the packages this one depends on at run time (PEP 751 `dependencies`).
    pub dependencies: Vec<String>,
    /// The one source distribution of this release.
    pub sdist: Sdist,
    /// `[packages.tool.offline-build].build-requires`: the complete pinned build environment.
    pub build_requires: Vec<Pin>,
}

/// A `name==version` pin.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pin {
    /// Normalized name.
    pub name: String,
    /// Exact version.
    pub version: String,
}

/// `[packages.sdist]`.
#[derive(Debug, Clone, PartialEq, Eq)]
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
