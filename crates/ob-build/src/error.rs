//! The one error type of this crate. A package that fails to build is not an error here: it is
//! a status in the report, so that the others still finish. These are the reasons a build cannot
//! start or cannot go on at all.

use std::path::PathBuf;

/// Why a build could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A package's `build-requires` names a package that the lock does not pin at that version.
    #[error(
        "`{package}` needs `{requirement}` to build, but the lock does not pin that package at that version"
    )]
    UnknownBuildRequirement {
        /// The package whose build-requires is wrong.
        package: String,
        /// The pin that is not in the lock.
        requirement: String,
    },
    /// The build requirements form a cycle, so no order exists. Never broken silently.
    #[error("build requirements form a cycle: {}", cycle.join(" -> "))]
    Cycle {
        /// The packages of the cycle, the first repeated at the end.
        cycle: Vec<String>,
    },
    /// The wheelhouse does not hold every sdist of the lock with the pinned sha256.
    #[error("the wheelhouse `{}` does not match the lock:{}", wheelhouse.display(), list_problems(missing, wrong))]
    Wheelhouse {
        /// The wheelhouse directory.
        wheelhouse: PathBuf,
        /// Files the lock names that are absent.
        missing: Vec<String>,
        /// Files present with another size or sha256: `file: reason`.
        wrong: Vec<String>,
    },
    /// Checking the wheelhouse failed (unreadable file, bad lock entry).
    #[error("could not check the wheelhouse `{}`", wheelhouse.display())]
    WheelhouseCheck {
        /// The wheelhouse directory.
        wheelhouse: PathBuf,
        /// The underlying error.
        #[source]
        source: ob_fetch::FetchError,
    },
    /// The builder image is not the one the lock pins.
    #[error("the image `{image}` has digest {actual}, but the lock pins {locked}")]
    ImageMismatch {
        /// The image reference.
        image: String,
        /// The digest in the lock.
        locked: String,
        /// The digest of the image Docker has.
        actual: String,
    },
    /// Docker or the image failed.
    #[error("the container runtime failed while {action}")]
    Sandbox {
        /// What we were doing, e.g. `building idna 3.10`.
        action: String,
        /// The underlying error.
        #[source]
        source: ob_sandbox::SandboxError,
    },
    /// A pinned crate could not be vendored (its archive is refused, or unreadable).
    #[error("could not vendor the crate `{name}` {version} from `{}`", path.display())]
    Crate {
        /// Crate name.
        name: String,
        /// Its version.
        version: String,
        /// The `.crate` file.
        path: PathBuf,
        /// Why (boxed: the error is large, and rare).
        #[source]
        source: Box<ob_cargo::CargoError>,
    },
    /// A patch the lock pins for a package is missing, or not the file it pinned.
    #[error("the patch `{}` of `{package}` {problem}", path.display())]
    Patch {
        /// The package it patches.
        package: String,
        /// The patch file.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
    /// A wheel of a build environment is not, just before it is mounted, the file that was
    /// checked when it joined the output directory (or the cache).
    #[error(
        "the wheel `{}` changed after it was checked: its sha256 is {found}, but {expected} was checked",
        path.display()
    )]
    ChangedWheel {
        /// The wheel.
        path: PathBuf,
        /// What it was when checked.
        expected: String,
        /// What it is now.
        found: String,
    },
    /// A file or directory could not be read or written.
    #[error("could not {action} `{}`", path.display())]
    Io {
        /// What we were doing, e.g. `write`.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

fn list_problems(missing: &[String], wrong: &[String]) -> String {
    let mut text = String::new();
    for file in missing {
        text.push_str(&format!("\n  missing: {file}"));
    }
    for file in wrong {
        text.push_str(&format!("\n  wrong:   {file}"));
    }
    text
}

impl BuildError {
    /// True when the user's input is at fault (a wrong lock, wheelhouse or image): exit code 1.
    /// Everything else is the environment's fault: exit code 2.
    pub fn is_rejection(&self) -> bool {
        match self {
            BuildError::UnknownBuildRequirement { .. }
            | BuildError::Cycle { .. }
            | BuildError::Wheelhouse { .. }
            | BuildError::ImageMismatch { .. }
            | BuildError::Crate { .. }
            | BuildError::Patch { .. } => true,
            // Something other than this build writes to its output directory or the cache.
            BuildError::ChangedWheel { .. } => false,
            BuildError::WheelhouseCheck { source, .. } => source.is_rejection(),
            BuildError::Sandbox { .. } | BuildError::Io { .. } => false,
        }
    }

    /// What to do next, shown after the message.
    pub fn hint(&self) -> Option<String> {
        match self {
            BuildError::UnknownBuildRequirement { .. } | BuildError::Cycle { .. } => {
                Some("re-create the lock with `offline-build resolve`".to_owned())
            }
            BuildError::Wheelhouse { .. } => Some(
                "run `offline-build fetch` with the same lock to download and verify the sdists; nothing was built"
                    .to_owned(),
            ),
            BuildError::WheelhouseCheck { source, .. } => source.hint(),
            BuildError::ImageMismatch { .. } => Some(
                "build with the image the lock was resolved with, or resolve again with this image"
                    .to_owned(),
            ),
            BuildError::Sandbox { .. } => {
                Some("check that Docker runs (`offline-build doctor`)".to_owned())
            }
            BuildError::Crate { .. } => Some(
                "the crate's archive is not one cargo publishes; resolve again, and report the package whose Cargo.lock pins it if it persists"
                    .to_owned(),
            ),
            BuildError::Patch { .. } => Some(
                "the lock pins every patch by sha256: restore the file the lock names, or resolve \
                 again to pin the changed patch"
                    .to_owned(),
            ),
            BuildError::ChangedWheel { .. } => Some(
                "something else writes to the output directory or the wheel cache while this \
                 build runs; stop it and build again (wheels are checked again before use)"
                    .to_owned(),
            ),
            BuildError::Io { .. } => None,
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io {
            action,
            path,
            source,
        }
    }
}
