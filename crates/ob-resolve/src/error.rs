//! The one error type of resolve. Variants that are the user's to fix (bad input, a package that
//! cannot be built from source under our rules) say so through [`ResolveError::is_user_error`].

use std::path::PathBuf;

/// Everything that can make a resolve fail.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// A requirements file, constraints file or pyproject.toml could not be read.
    #[error("could not read `{}`", path.display())]
    ReadInput {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line or table of an input file that we do not understand or do not accept.
    #[error("{}: {problem}\n\nhint: {hint}", location)]
    BadInput {
        /// `file:line`, or the file and table.
        location: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        hint: String,
    },
    /// Nothing to resolve.
    #[error(
        "no requirements given\n\nhint: pass requirement specs, `-r requirements.txt` or `--project pyproject.toml`"
    )]
    NoRequirements,
    /// `--exclude-newer` is not a time stamp.
    #[error(
        "`--exclude-newer {value}` is not an RFC 3339 time stamp or a date\n\nhint: e.g. `2025-06-01T00:00:00Z` or `2025-06-01`"
    )]
    BadTimestamp {
        /// What was given.
        value: String,
    },
    /// A requirement has no sdist at any version it allows (pip backtracked through every
    /// version of whatever required it first).
    #[error("`{package}`: no source distribution matches `{requirement}`{}\n{}\nhint: offline-build builds everything from source; pick a version that publishes an sdist, or ask the project to publish one",
        match newest_with_sdist { Some(version) => format!(" (the newest version with an sdist is {version})"), None => " (no version of it has an sdist on this index)".to_string() },
        needed_because(via))]
    NoSdist {
        /// Normalized name.
        package: String,
        /// The requirement as pip saw it.
        requirement: String,
        /// The newest version that has an sdist, if any.
        newest_with_sdist: Option<String>,
        /// How the requirements lead to it; empty for the top-level resolution.
        via: Box<str>,
    },
    /// The index has no project of that name at all (it answered 404).
    #[error(
        "`{package}`: the index has no project of this name (`{requirement}`)\n{}\nhint: check the spelling (the index has no page for it); offline-build resolves against one index: where pip would look, or `--index-url`",
        needed_because(via)
    )]
    NoSuchProject {
        /// Normalized name.
        package: String,
        /// The requirement as pip saw it.
        requirement: String,
        /// How the requirements lead to it; empty for the top-level resolution.
        via: Box<str>,
    },
    /// A build or build hook tried to reach something other than the index.
    #[error("`{package}`: its build tried to reach the network{}\n{}{tail}\n\nfull log: {}\n\nhint: builds run without network; the package needs its network inputs vendored into its sdist",
        host.as_ref().map(|host| format!(" (host `{host}`)")).unwrap_or_default(), needed_because(via), log.display())]
    NeedsNetwork {
        /// The package whose build it was.
        package: String,
        /// How the requirements lead to it ("black needs mypy to build; ..."); empty when asked for.
        /// (A boxed str: it keeps the error small enough to return by value.)
        via: Box<str>,
        /// The host it tried, if known.
        host: Option<String>,
        /// Last lines of the log.
        tail: String,
        /// The whole log.
        log: PathBuf,
    },
    /// Build requirements that depend on each other in a circle.
    #[error("build-dependency cycle: {}\n\nhint: no order can build these from source; pin versions that break the cycle (for example with a constraints file)", cycle.join(" -> "))]
    Cycle {
        /// The packages in the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// An sdist was refused before anything of it ran: what it says about itself (its
    /// metadata, its Cargo.lock) breaks a rule of offline-build.
    #[error(
        "`{package}`: {message}\n\nhint: nothing of it ran; offline-build builds only from sources it can pin by sha256. Pick another version (or a constraint that avoids this package), or ask its project to publish an sdist that pins everything (a Cargo.lock with registry crates only)"
    )]
    Refused {
        /// The package.
        package: String,
        /// What it says, and which rule that breaks.
        message: String,
    },
    /// A build hook or a verification build failed.
    #[error("`{package}`: {message}\n{}{tail}\n\nfull log: {}\n\nhint: read the log; an undeclared build requirement or a missing system library are the usual causes", needed_because(via), log.display())]
    BuildFailed {
        /// The package.
        package: String,
        /// How the requirements lead to it ("black needs mypy to build; ..."); empty when asked for.
        /// (A boxed str: it keeps the error small enough to return by value.)
        via: Box<str>,
        /// What failed.
        message: String,
        /// The last 20 lines of its log.
        tail: String,
        /// The whole log.
        log: PathBuf,
    },
    /// The requirements contradict each other.
    #[error("conflicting requirements{}:\n{}{explanation}\n\nfull log: {}\n\nhint: loosen or remove one of the conflicting requirements",
        if package.is_empty() { String::new() } else { format!(" for `{package}`") }, needed_because(via), log.display())]
    Conflict {
        /// The package pip named, if any.
        package: String,
        /// pip's explanation, cleaned up.
        explanation: String,
        /// Whose build environment it was, and how the requirements lead there; empty for the
        /// top-level resolution.
        via: Box<str>,
        /// The whole log.
        log: PathBuf,
    },
    /// A requirement carried `--hash` values and the sdist found matches none of them.
    #[error("hash mismatch for `{package}` (`{filename}`)\n  allowed sha256: {}\n  found sha256:   {found}\n\nhint: the requirements file pins other bytes than the index serves; check where the hashes came from",
        allowed.join(", "))]
    HashMismatch {
        /// The package.
        package: String,
        /// Its sdist.
        filename: String,
        /// The hashes the requirements allowed.
        allowed: Vec<String>,
        /// What we computed.
        found: String,
    },
    /// The index served bytes that do not match its published sha256, so the proxy refused them.
    #[error(
        "the index served a file that does not match its published hash:\n{reasons}\n\nhint: something between the index and us changed the bytes; nothing was locked"
    )]
    Proxy {
        /// The proxy's refusals, one per line.
        reasons: String,
    },
    /// The driver inside the container failed in a way it could not explain.
    #[error("the resolve driver failed: {message}{}", log.as_ref().map(|log| format!("\n\nfull log: {}", log.display())).unwrap_or_default())]
    Driver {
        /// What it said.
        message: String,
        /// A log, if it named one.
        log: Option<PathBuf>,
    },
    /// Docker or the builder image.
    #[error(transparent)]
    Sandbox(#[from] ob_sandbox::SandboxError),
    /// The package index.
    #[error(transparent)]
    Index(#[from] ob_index::IndexError),
    /// Working files on the host.
    #[error("could not prepare `{}`", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl ResolveError {
    /// Whether the user's input or a package is at fault (exit 1) rather than the environment
    /// or a bug (exit 2).
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            ResolveError::BadInput { .. }
                | ResolveError::ReadInput { .. }
                | ResolveError::NoRequirements
                | ResolveError::BadTimestamp { .. }
                | ResolveError::NoSdist { .. }
                | ResolveError::NoSuchProject { .. }
                | ResolveError::NeedsNetwork { .. }
                | ResolveError::Cycle { .. }
                | ResolveError::BuildFailed { .. }
                | ResolveError::Refused { .. }
                | ResolveError::Conflict { .. }
                | ResolveError::HashMismatch { .. }
                | ResolveError::Proxy { .. }
        ) || matches!(
            self,
            ResolveError::Index(ob_index::IndexError::HashMismatch { .. })
                | ResolveError::Index(ob_index::IndexError::InvalidUrl { .. })
        )
    }
}

/// The line that says why a package nobody asked for is there at all.
fn needed_because(via: &str) -> String {
    if via.is_empty() {
        String::new()
    } else {
        format!("(needed because {via})\n")
    }
}
