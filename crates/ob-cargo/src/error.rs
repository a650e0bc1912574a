//! The one error type of this crate. Every variant names the crate, file, source or URL it is
//! about; causes go in `#[source]`. URLs in errors never carry credentials: an index URL with a
//! userinfo part is refused, and the message shows it with the userinfo removed.
//!
//! Fields holding a Cargo.lock `source` string are called `lock_source`, not `source`: thiserror
//! takes a field named `source` for the error's cause.

use std::path::PathBuf;

/// Why a Cargo.lock, cargo's configuration, a registry or a `.crate` file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CargoError {
    /// The Cargo.lock is larger than [`crate::lockfile::MAX_LOCK_BYTES`].
    #[error("Cargo.lock is {bytes} bytes, more than the {max} bytes offline-build reads")]
    LockTooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// The Cargo.lock names more than [`crate::lockfile::MAX_LOCK_PACKAGES`] packages.
    #[error("Cargo.lock names {count} packages, more than the {max} offline-build reads")]
    LockTooManyPackages {
        /// How many `[[package]]` entries it has.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The Cargo.lock is not TOML, or not shaped like a Cargo.lock.
    #[error("Cargo.lock is not a readable lock file")]
    LockSyntax {
        /// What the TOML parser said.
        #[source]
        cause: toml::de::Error,
    },
    /// The Cargo.lock declares a `version` this crate does not know (it knows 1 to 4).
    #[error("Cargo.lock has version {version}; offline-build reads versions 1 to 4")]
    LockVersion {
        /// The declared version.
        version: i64,
    },
    /// A crate name that is not ASCII alphanumerics, `-` and `_` (at most 64 characters).
    #[error("crate name {name:?} is not a valid crate name")]
    InvalidName {
        /// The name, as written.
        name: String,
    },
    /// A version that is not ASCII alphanumerics and `.-+` (at most 64 characters).
    #[error("crate `{crate_name}` has version {version:?}, which is not a valid version")]
    InvalidVersion {
        /// The crate.
        crate_name: String,
        /// The version, as written.
        version: String,
    },
    /// A checksum that is not 64 lowercase hex digits.
    #[error(
        "crate `{crate_name}` {version} has checksum {checksum:?}, which is not a sha256 in \
         lowercase hex"
    )]
    InvalidChecksum {
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// The checksum, as written.
        checksum: String,
    },
    /// A registry crate in Cargo.lock without a checksum: it cannot be verified.
    #[error("crate `{crate_name}` {version} from `{lock_source}` has no checksum in Cargo.lock")]
    MissingChecksum {
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// Its `source` in Cargo.lock.
        lock_source: String,
    },
    /// The same crate and version appear twice in Cargo.lock with different checksums; their
    /// vendored directories would collide.
    #[error(
        "crate `{crate_name}` {version} appears in Cargo.lock with two checksums: {first} and \
         {second}"
    )]
    ConflictingChecksums {
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// One checksum.
        first: String,
        /// The other.
        second: String,
    },
    /// A git dependency: its content is named by a commit, not a sha256, so it is refused.
    #[error(
        "crate `{crate_name}` {version} is a git dependency (`{lock_source}`); git dependencies \
         cannot be pinned by sha256 and are refused"
    )]
    GitDependency {
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// Its `source` in Cargo.lock.
        lock_source: String,
    },
    /// A source in Cargo.lock that is neither a registry nor git.
    #[error(
        "crate `{crate_name}` {version} comes from `{lock_source}`, a kind of source offline-build does not support"
    )]
    UnsupportedSource {
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// Its `source` in Cargo.lock.
        lock_source: String,
    },
    /// [`crate::config::CargoConfig::index_for`] was given a source that is not `registry+` or
    /// `sparse+`.
    #[error("`{lock_source}` is not a registry source")]
    NotARegistry {
        /// The source string.
        lock_source: String,
    },
    /// A cargo configuration file could not be read.
    #[error("cannot read cargo's configuration")]
    ConfigRead {
        /// What failed (fs-err names the path).
        #[source]
        cause: std::io::Error,
    },
    /// A cargo configuration file is not TOML.
    #[error("cargo's configuration `{}` is not valid TOML", path.display())]
    ConfigSyntax {
        /// The file.
        path: PathBuf,
        /// What the TOML parser said.
        #[source]
        cause: toml::de::Error,
    },
    /// A key of cargo's configuration has a value this crate cannot use.
    #[error("cargo's configuration `{origin}`: `{key}` {problem}")]
    ConfigValue {
        /// The file, or the environment variable, that sets it.
        origin: String,
        /// The key, e.g. `source.mirror.registry`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// `replace-with` names a source or registry that is defined nowhere.
    #[error(
        "cargo's configuration replaces source `{replaced}` with `{missing}`, which is neither a \
         [source] nor a [registries] entry"
    )]
    UnknownReplacement {
        /// The source whose `replace-with` points nowhere.
        replaced: String,
        /// The name it points at.
        missing: String,
    },
    /// `replace-with` entries form a cycle.
    #[error("cargo's configuration has a cycle of `replace-with` sources: {}", chain.join(" -> "))]
    ReplacementCycle {
        /// The names in order, the first repeated at the end.
        chain: Vec<String>,
    },
    /// Two `[source]` tables define the same registry, so which replacement applies is unclear.
    #[error(
        "cargo's configuration defines registry `{registry}` twice: [source.{first}] and [source.{second}]"
    )]
    AmbiguousSource {
        /// The registry URL.
        registry: String,
        /// One table.
        first: String,
        /// The other.
        second: String,
    },
    /// A source is replaced with a `directory`, `local-registry` or `git` source, which this
    /// crate does not read.
    #[error(
        "`{lock_source}` is replaced with [source.{name}], a {kind} source; offline-build reads \
         sparse registries only"
    )]
    UnsupportedReplacement {
        /// The Cargo.lock source.
        lock_source: String,
        /// The replacing source's name.
        name: String,
        /// `directory`, `local-registry` or `git`.
        kind: String,
    },
    /// The index cargo would read for this source uses the git protocol.
    #[error(
        "`{lock_source}` is read through the git-protocol index {index}; offline-build reads \
         sparse indexes only"
    )]
    GitIndex {
        /// The Cargo.lock source.
        lock_source: String,
        /// The git index cargo would read (the source's own URL unless it is replaced).
        index: String,
    },
    /// Cargo's built-in default registry is not replaced, and cargo could not say which
    /// sparse index it reads it through.
    #[error("`{lock_source}` is cargo's default registry, whose index cargo could not name: {why}")]
    DefaultIndex {
        /// The Cargo.lock source.
        lock_source: String,
        /// What the probe said.
        why: String,
    },
    /// A registry wants a token and none is configured for it.
    #[error("the registry {registry} requires a token, and none is configured for it")]
    TokenRequired {
        /// The index URL.
        registry: String,
        /// The variable that would hold it, when the registry has a cargo name.
        variable: Option<String>,
    },
    /// A URL that does not parse.
    #[error("{what} {url:?} is not a valid URL")]
    InvalidUrl {
        /// What the URL is for, e.g. "registry index" or "download URL".
        what: &'static str,
        /// The URL, as written.
        url: String,
        /// What the URL parser said.
        #[source]
        cause: url::ParseError,
    },
    /// A URL that is not https (or http to a loopback address), or carries credentials.
    #[error("{what} {url} is refused: {reason}")]
    UnsafeUrl {
        /// What the URL is for.
        what: &'static str,
        /// The URL, without any userinfo.
        url: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// A registry's `config.json` could not be fetched.
    #[error("cannot fetch {url}")]
    Http {
        /// The URL.
        url: String,
        /// What reqwest said.
        #[source]
        cause: reqwest::Error,
    },
    /// A registry's `config.json` answered with an HTTP error status.
    #[error("HTTP status {status} for {url}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// A registry's `config.json` is larger than [`crate::registry::MAX_CONFIG_JSON_BYTES`].
    #[error("{url} is more than {max} bytes")]
    RegistryConfigTooLarge {
        /// The URL.
        url: String,
        /// The limit.
        max: usize,
    },
    /// A registry's `config.json` is not JSON with a string `dl`.
    #[error("{url} is not a registry config.json")]
    RegistryConfigSyntax {
        /// The URL.
        url: String,
        /// What the JSON parser said.
        #[source]
        cause: serde_json::Error,
    },
    /// The vendored crate's directory exists already.
    #[error("`{}` exists already; refusing to unpack over it", path.display())]
    VendorDirExists {
        /// The directory.
        path: PathBuf,
    },
    /// A `.crate` file holds something refused: a link, a device, a path outside the crate's
    /// directory, too many members or bytes.
    #[error("`{}` (crate `{crate_name}` {version}) is refused: {reason}", file.display())]
    CrateArchive {
        /// The `.crate` file.
        file: PathBuf,
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// What is wrong, naming the member.
        reason: String,
    },
    /// Reading a `.crate` file, or writing the vendored crate, failed.
    #[error("cannot unpack `{}` (crate `{crate_name}` {version})", file.display())]
    Unpack {
        /// The `.crate` file.
        file: PathBuf,
        /// The crate.
        crate_name: String,
        /// Its version.
        version: String,
        /// What failed (fs-err errors name their path).
        #[source]
        cause: std::io::Error,
    },
    /// The host's cargo could not say which registry is its default.
    #[error("could not ask cargo for its default registry: {why}")]
    Probe {
        /// What went wrong.
        why: String,
    },
}

impl CargoError {
    /// What the user can do next, printed after the error as a `hint:` line.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            CargoError::GitDependency { crate_name, .. } => format!(
                "depend on a released version of `{crate_name}` from a registry, or build this \
                 package some other way"
            ),
            CargoError::GitIndex { .. } | CargoError::DefaultIndex { .. } => {
                "add a sparse source replacement to cargo's \
                 configuration ($CARGO_HOME/config.toml), e.g. `[source.NAME] replace-with = \
                 \"mirror\"` with `[registries.mirror] index = \"sparse+https://...\"`"
                    .to_owned()
            }
            CargoError::TokenRequired { variable, .. } => match variable {
                Some(variable) => format!(
                    "set {variable}, or add the token to $CARGO_HOME/credentials.toml, as for cargo"
                ),
                None => "give the registry a name in cargo's configuration (`[registries.NAME] \
                         index = ...`) and its token in $CARGO_HOME/credentials.toml"
                    .to_owned(),
            },
            CargoError::MissingChecksum { .. } => {
                "regenerate Cargo.lock with a current cargo, which records checksums".to_owned()
            }
            CargoError::UnsupportedReplacement { .. } => {
                "replace the source with a sparse registry in cargo's configuration".to_owned()
            }
            CargoError::UnsafeUrl { .. } => "use an https URL without credentials".to_owned(),
            _ => return None,
        };
        Some(hint)
    }
}
