//! The one error type of this crate. Every lock problem names the file (when there is one), the
//! package and the field, says what is wrong, and ends with a `hint:` on what to do next.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong reading, validating or writing a lock.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// The lock file could not be read.
    #[error("failed to read lock file `{}`{}", path.display(), read_hint(source))]
    Read {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The lock file is not UTF-8 text.
    #[error(
        "lock file `{}` is not UTF-8 text\n\nhint: a pylock.toml is TOML; regenerate it with `offline-build resolve`",
        path.display()
    )]
    NotUtf8 {
        /// The lock file.
        path: PathBuf,
        /// Where the decoding failed.
        #[source]
        source: std::str::Utf8Error,
    },
    /// The lock file is not valid TOML.
    #[error(
        "lock file `{}` is not valid TOML (line {line}, column {column})\n\nhint: fix the syntax at that spot, or regenerate the file with `offline-build resolve`",
        path.display()
    )]
    Syntax {
        /// The lock file.
        path: PathBuf,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column (in characters) of the error.
        column: usize,
        /// The parser's description (boxed: it is large, and errors travel by value).
        #[source]
        source: Box<toml::de::Error>,
    },
    /// The lock parses but says something wrong or something we cannot honour.
    #[error("{}", Invalid { path, package, field, problem })]
    Invalid {
        /// The lock file, when the lock came from one.
        path: Option<PathBuf>,
        /// The package the problem is in, as written in the lock; `None` for top-level keys.
        package: Option<String>,
        /// The key, dotted from the package or the top level, e.g. `sdist.hashes.sha256`.
        field: String,
        /// What is wrong (boxed to keep the error small).
        problem: Box<Problem>,
    },
    /// The lock could not be written.
    #[error("failed to write lock file `{}`", path.display())]
    Write {
        /// The lock file.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// A missing lock is the common case worth a hint; other I/O errors speak for themselves.
fn read_hint(source: &std::io::Error) -> &'static str {
    if source.kind() == std::io::ErrorKind::NotFound {
        "\n\nhint: create it with `offline-build resolve`, or point `--lock` at an existing lock"
    } else {
        ""
    }
}

impl LockError {
    /// True when the user's input is at fault (a missing, unreadable-as-text, malformed or
    /// invalid lock), as opposed to the machine (permissions, a full disk): the binary exits 1
    /// for the former and 2 for the latter.
    pub fn is_input_error(&self) -> bool {
        match self {
            LockError::Read { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
            LockError::NotUtf8 { .. } | LockError::Syntax { .. } | LockError::Invalid { .. } => {
                true
            }
            LockError::Write { .. } => false,
        }
    }

    /// The problem, when the lock parsed but is invalid.
    pub fn problem(&self) -> Option<&Problem> {
        match self {
            LockError::Invalid { problem, .. } => Some(problem),
            _ => None,
        }
    }

    /// Attaches the lock file's path to a validation error that lacks one.
    pub(crate) fn in_file(self, file: &std::path::Path) -> LockError {
        match self {
            LockError::Invalid {
                path: None,
                package,
                field,
                problem,
            } => LockError::Invalid {
                path: Some(file.to_path_buf()),
                package,
                field,
                problem,
            },
            other => other,
        }
    }
}

/// Display helper for [`LockError::Invalid`]: where, what, then the hint.
struct Invalid<'a> {
    path: &'a Option<PathBuf>,
    package: &'a Option<String>,
    field: &'a String,
    problem: &'a Problem,
}

impl fmt::Display for Invalid<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.path {
            Some(path) => write!(f, "invalid lock file `{}`: ", path.display())?,
            None => write!(f, "invalid lock: ")?,
        }
        if let Some(package) = self.package {
            write!(f, "package `{package}`: ")?;
        }
        write!(f, "`{}`: {}", self.field, self.problem)?;
        write!(f, "\n\nhint: {}", self.problem.hint())
    }
}

/// What exactly is wrong with a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// A required key is absent.
    Missing,
    /// A key holds the wrong TOML type.
    WrongType {
        /// What we expected, e.g. `a string`.
        expected: &'static str,
        /// What the file holds, e.g. `integer`.
        found: String,
    },
    /// A key we own (in `[tool.offline-build]`, `[packages.sdist]` ...) that we do not know.
    UnknownKey,
    /// `lock-version` with a major version we cannot read, or not a version at all.
    UnsupportedLockVersion {
        /// The version in the file.
        found: String,
    },
    /// A required string is empty.
    Empty,
    /// Not a valid project name.
    BadName {
        /// The name in the file.
        found: String,
    },
    /// A name that is valid but not written in normalized form.
    NotNormalized {
        /// The name in the file.
        found: String,
        /// How it must be written.
        normalized: String,
    },
    /// Not a plausible version.
    BadVersion {
        /// The version in the file.
        found: String,
    },
    /// Two `[[packages]]` entries with the same name and version.
    DuplicatePackage,
    /// A name locked at several versions outside the build group: a plain install would have
    /// to pick one.
    SeveralRuntimeVersions {
        /// The versions not marked build-only.
        versions: Vec<String>,
    },
    /// A dependency given by name alone, when the lock holds that name at several versions.
    AmbiguousDependency {
        /// The dependency's name.
        name: String,
        /// The versions the lock holds.
        versions: Vec<String>,
    },
    /// A package without `[packages.sdist]`.
    NoSdist,
    /// A package that lists a wheel although `[tool.offline-build].allow-binary` does not name
    /// its release: every other package is built from its sdist.
    HasWheels,
    /// A package that lists both an sdist and a wheel: it is either built or taken as a wheel.
    SdistAndWheel,
    /// A package that lists several wheels: one environment takes exactly one.
    SeveralWheels {
        /// How many.
        count: usize,
    },
    /// An `allow-binary` entry that names no package locked as a wheel.
    AllowedWithoutWheel {
        /// `name==version`.
        pin: String,
    },
    /// A package taken from a VCS, a directory or an archive instead of an sdist.
    UnsupportedSource {
        /// `vcs`, `directory` or `archive`.
        kind: String,
    },
    /// A package marker other than the build-group marker we write.
    UnsupportedMarker {
        /// The marker in the file.
        marker: String,
    },
    /// An sdist without a sha256.
    MissingSha256,
    /// A sha256 that is not 64 lowercase hex digits.
    BadSha256 {
        /// The value in the file.
        found: String,
    },
    /// An image digest that is not `sha256:` followed by 64 lowercase hex digits.
    BadDigest {
        /// The value in the file.
        found: String,
    },
    /// An sdist file name that is unsafe (separators, `..`) or not an sdist.
    BadFilename {
        /// The file name.
        filename: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An sdist file name that belongs to another project or version.
    FilenameMismatch {
        /// The file name.
        filename: String,
        /// The package's name.
        name: String,
        /// The package's version.
        version: String,
    },
    /// An sdist with neither `url` nor `path`.
    NoLocation,
    /// A `path` that is absolute or leaves the lock's directory.
    UnsafePath {
        /// The path in the file.
        path: String,
    },
    /// A URL that does not parse, has an unsupported scheme, or carries credentials.
    BadUrl {
        /// The URL in the file.
        url: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A plain-http URL to a host that is not loopback.
    InsecureUrl {
        /// The URL in the file.
        url: String,
    },
    /// A size of zero bytes.
    ZeroSize,
    /// A number too large for TOML (above 2^63 - 1) or negative.
    OutOfRange,
    /// Not a TOML offset date-time (`2024-09-15T17:06:07Z`).
    BadDatetime {
        /// The value in the file.
        found: String,
    },
    /// A package's crate reference that is not `name@version` with a crate name and version.
    BadCrateKey {
        /// The entry in the file.
        found: String,
    },
    /// A package's crate reference that names no `[[tool.offline-build.crates]]` entry.
    CrateNotLocked {
        /// The entry in the file.
        entry: String,
    },
    /// One crate (by name and version) listed twice in `[[tool.offline-build.crates]]`.
    DuplicateCrate {
        /// `name@version`.
        entry: String,
    },
    /// A crate's `source` that is not a registry (`registry+URL` or `sparse+URL`).
    BadCrateSource {
        /// The value in the file.
        found: String,
    },
    /// A build requirement that is not `name==version`.
    BadPin {
        /// The entry in the file.
        found: String,
    },
    /// A build requirement (or dependency) naming a package the lock does not contain.
    NotLocked {
        /// The entry in the file.
        entry: String,
    },
    /// A build requirement pinned to another version than the lock's.
    PinVersionMismatch {
        /// The entry in the file.
        pin: String,
        /// The version the lock holds.
        locked: String,
    },
    /// The same package twice in one list.
    DuplicateEntry {
        /// The entry in the file.
        entry: String,
    },
    /// A package listed as its own build requirement.
    BuildRequiresItself,
    /// `build-order` does not list every package once, after its build requirements.
    BadBuildOrder {
        /// What is inconsistent.
        detail: String,
    },
    /// A runtime package depending on a package marked build-only, which a plain install would
    /// leave out.
    RuntimeNeedsBuildOnly {
        /// The dependency marked build-only.
        dependency: String,
    },
    /// A build requirement whose own run-time dependency is missing from the build environment.
    IncompleteBuildEnvironment {
        /// The build requirement.
        requirement: String,
        /// Its dependency that `build-requires` lacks.
        missing: String,
    },
    /// Build requirements that form a cycle (or name packages that are not locked).
    BuildCycle {
        /// The packages that cannot be ordered.
        packages: Vec<String>,
    },
    /// A build setting's environment variable name that is empty, too long, or not
    /// `[A-Za-z_][A-Za-z0-9_]*`.
    BadEnvName {
        /// The name.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// A build setting's environment variable that the build sets itself
    /// ([`crate::RESERVED_BUILD_ENV`]).
    ReservedEnvName {
        /// The name.
        name: String,
    },
    /// A build setting's value that a build step could not be given faithfully (a NUL byte; a
    /// line break in a requirement).
    BadSettingValue {
        /// The value in the file.
        found: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Missing => write!(f, "missing"),
            Problem::WrongType { expected, found } => {
                write!(f, "expected {expected}, found {found}")
            }
            Problem::UnknownKey => write!(f, "unknown key"),
            Problem::UnsupportedLockVersion { found } => write!(
                f,
                "lock-version `{found}` is not supported (this offline-build reads 1.x)"
            ),
            Problem::Empty => write!(f, "must not be empty"),
            Problem::BadName { found } => write!(f, "`{found}` is not a valid project name"),
            Problem::NotNormalized { found, normalized } => write!(
                f,
                "name `{found}` is not normalized (PEP 503 form: `{normalized}`)"
            ),
            Problem::BadVersion { found } => write!(f, "`{found}` is not a valid version"),
            Problem::DuplicatePackage => {
                write!(f, "package is listed more than once at this version")
            }
            Problem::SeveralRuntimeVersions { versions } => write!(
                f,
                "versions {} are both installed by default (only one version of a name may be unmarked)",
                versions.join(" and ")
            ),
            Problem::AmbiguousDependency { name, versions } => write!(
                f,
                "`{name}` is locked at {}; say which with `version`",
                versions.join(", ")
            ),
            Problem::NoSdist => write!(f, "package has no sdist"),
            Problem::HasWheels => write!(
                f,
                "package lists a wheel, and `allow-binary` does not name this release"
            ),
            Problem::SdistAndWheel => write!(f, "package lists both an sdist and a wheel"),
            Problem::SeveralWheels { count } => {
                write!(
                    f,
                    "package lists {count} wheels; a package taken as a wheel lists exactly one"
                )
            }
            Problem::AllowedWithoutWheel { pin } => {
                write!(
                    f,
                    "`{pin}` is allowed as a binary, but no package of the lock is that wheel"
                )
            }
            Problem::UnsupportedSource { kind } => {
                write!(f, "package comes from a `{kind}` source, not an sdist")
            }
            Problem::UnsupportedMarker { marker } => write!(f, "unsupported marker `{marker}`"),
            Problem::MissingSha256 => write!(f, "no sha256 hash"),
            Problem::BadSha256 { found } => {
                write!(f, "`{found}` is not a sha256 (64 lowercase hex digits)")
            }
            Problem::BadDigest { found } => write!(
                f,
                "`{found}` is not a digest (`sha256:` and 64 lowercase hex digits)"
            ),
            Problem::BadFilename { filename, reason } => {
                write!(f, "sdist file name `{filename}` {reason}")
            }
            Problem::FilenameMismatch {
                filename,
                name,
                version,
            } => write!(
                f,
                "sdist file name `{filename}` does not belong to `{name}` version `{version}`"
            ),
            Problem::NoLocation => write!(f, "sdist has neither `url` nor `path`"),
            Problem::UnsafePath { path } => write!(
                f,
                "path `{path}` is absolute or leaves the lock file's directory"
            ),
            Problem::BadUrl { url, reason } => write!(f, "URL `{url}` {reason}"),
            Problem::InsecureUrl { url } => write!(
                f,
                "URL `{url}` uses plain http to a host that is not loopback"
            ),
            Problem::ZeroSize => write!(f, "size is zero"),
            Problem::OutOfRange => write!(f, "number out of range (0 to 2^63 - 1)"),
            Problem::BadDatetime { found } => write!(
                f,
                "`{found}` is not a date-time with offset (e.g. `2024-09-15T17:06:07Z`)"
            ),
            Problem::BadPin { found } => write!(f, "`{found}` is not `name==version`"),
            Problem::BadCrateKey { found } => {
                write!(f, "`{found}` is not `name@version` of a Rust crate")
            }
            Problem::CrateNotLocked { entry } => write!(
                f,
                "`{entry}` names a crate that `[[tool.offline-build.crates]]` does not pin"
            ),
            Problem::DuplicateCrate { entry } => write!(f, "the crate `{entry}` is pinned twice"),
            Problem::BadCrateSource { found } => write!(
                f,
                "`{found}` is not a crate registry (`registry+URL` or `sparse+URL`)"
            ),
            Problem::NotLocked { entry } => {
                write!(f, "`{entry}` names a package that is not in the lock")
            }
            Problem::PinVersionMismatch { pin, locked } => {
                write!(f, "`{pin}` does not match the locked version `{locked}`")
            }
            Problem::DuplicateEntry { entry } => write!(f, "`{entry}` is listed more than once"),
            Problem::BuildRequiresItself => {
                write!(f, "package lists itself as a build requirement")
            }
            Problem::RuntimeNeedsBuildOnly { dependency } => write!(
                f,
                "`{dependency}` is needed at run time but marked build-only"
            ),
            Problem::IncompleteBuildEnvironment {
                requirement,
                missing,
            } => write!(
                f,
                "build requirement `{requirement}` needs `{missing}` at run time, which is not in build-requires"
            ),
            Problem::BadBuildOrder { detail } => write!(f, "inconsistent build order: {detail}"),
            Problem::BadEnvName { name, reason } => write!(
                f,
                "environment variable name `{}` {reason}",
                name.escape_debug()
            ),
            Problem::ReservedEnvName { name } => write!(
                f,
                "`{name}` is set by the build itself; a package's settings may not set it"
            ),
            Problem::BadSettingValue { found, reason } => {
                write!(f, "`{}` {reason}", found.escape_debug())
            }
            Problem::BuildCycle { packages } => write!(
                f,
                "build requirements form a cycle among {}",
                packages
                    .iter()
                    .map(|name| format!("`{name}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }
}

impl Problem {
    /// What the user can do about it.
    pub fn hint(&self) -> &'static str {
        match self {
            Problem::UnsupportedLockVersion { .. } => {
                "this lock was written for a newer lock format; upgrade offline-build, or regenerate the lock with `offline-build resolve`"
            }
            Problem::UnknownKey => {
                "was this lock written by a newer offline-build? Upgrade, or regenerate the lock with `offline-build resolve`"
            }
            Problem::NotNormalized { .. } => {
                "write names in PEP 503 normalized form (lowercase, `-` between words), or regenerate the lock with `offline-build resolve`"
            }
            Problem::NoSdist | Problem::UnsupportedSource { .. } => {
                "offline-build builds every package from its sdist; lock a release that publishes one with `offline-build resolve`"
            }
            Problem::HasWheels
            | Problem::SdistAndWheel
            | Problem::SeveralWheels { .. }
            | Problem::AllowedWithoutWheel { .. } => {
                "offline-build builds every package from its sdist except the releases `allow-binary` names, each taken as one wheel; regenerate the lock with `offline-build resolve`"
            }
            Problem::UnsupportedMarker { .. } => {
                "offline-build locks one environment and marks only build-only packages (with `'build' in dependency_groups`); regenerate the lock with `offline-build resolve`"
            }
            Problem::MissingSha256 | Problem::BadSha256 { .. } => {
                "every sdist, crate and patch must be pinned by its sha256; regenerate the lock with `offline-build resolve`"
            }
            Problem::ReservedEnvName { .. } => {
                "PATH, HOME, SOURCE_DATE_EPOCH, the LD_, PYTHON, PIP_, CARGO_ (but CARGO_PROFILE_) and RUSTC families and the other variables listed in docs/lockfile.md are the build's own; remove it from the package's build settings and run `offline-build resolve` again"
            }
            Problem::BadEnvName { .. } | Problem::BadSettingValue { .. } => {
                "fix the package's build settings in your offline-build configuration and run `offline-build resolve` again"
            }
            Problem::BadDigest { .. } => {
                "record the builder image's layer digest; regenerate the lock with `offline-build resolve`"
            }
            Problem::BadFilename { .. }
            | Problem::FilenameMismatch { .. }
            | Problem::UnsafePath { .. } => {
                "the lock may have been tampered with; regenerate it with `offline-build resolve` and review the diff"
            }
            Problem::InsecureUrl { .. } => {
                "use an https index; plain http is accepted only for loopback addresses"
            }
            Problem::BadUrl { .. } => {
                "use an https URL without credentials (keep credentials in pip's configuration or .netrc)"
            }
            Problem::BadCrateKey { .. }
            | Problem::CrateNotLocked { .. }
            | Problem::DuplicateCrate { .. }
            | Problem::BadCrateSource { .. } => {
                "every crate a build vendors must be pinned once in this same lock; regenerate it with `offline-build resolve`"
            }
            Problem::BadPin { .. }
            | Problem::NotLocked { .. }
            | Problem::PinVersionMismatch { .. }
            | Problem::BuildRequiresItself
            | Problem::RuntimeNeedsBuildOnly { .. }
            | Problem::IncompleteBuildEnvironment { .. }
            | Problem::AmbiguousDependency { .. }
            | Problem::SeveralRuntimeVersions { .. }
            | Problem::BadBuildOrder { .. } => {
                "build requirements must pin packages of this same lock; regenerate it with `offline-build resolve`"
            }
            Problem::BuildCycle { .. } => {
                "a build cycle cannot be built from source in order; pin versions that break the cycle in your requirements"
            }
            Problem::Missing
            | Problem::WrongType { .. }
            | Problem::Empty
            | Problem::BadName { .. }
            | Problem::BadVersion { .. }
            | Problem::DuplicatePackage
            | Problem::NoLocation
            | Problem::ZeroSize
            | Problem::OutOfRange
            | Problem::BadDatetime { .. }
            | Problem::DuplicateEntry { .. } => {
                "the lock is generated; regenerate it with `offline-build resolve` instead of editing it by hand"
            }
        }
    }
}
