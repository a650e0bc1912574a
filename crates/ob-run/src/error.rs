//! The one error type of this crate: what went wrong assembling the runtime image, running the
//! program, or taking and restoring snapshots, each naming its file, package, image or snapshot.

use std::path::PathBuf;

/// Everything that can stop `run`, `image assemble` or `snapshots`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The lock could not be read or is invalid.
    #[error("could not use the lock `{}`", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: ob_lock::LockError,
    },

    /// The output directory has no build report.
    #[error(
        "`{}` has no readable build-report.json\n\nhint: run `offline-build build --out {}` first",
        out.display(),
        out.display()
    )]
    NoBuildReport {
        /// The output directory.
        out: PathBuf,
    },

    /// A runtime package of the lock has no wheel in the build report.
    #[error(
        "`{package}` `{version}` was not built into `{}`\n\nhint: run `offline-build build` and \
         fix its failures first",
        out.display()
    )]
    NotBuilt {
        /// Package name.
        package: String,
        /// Its locked version.
        version: String,
        /// The output directory.
        out: PathBuf,
    },

    /// A wheel on disk is not the one the build report vouches for.
    #[error(
        "wheel `{}` does not match build-report.json: expected sha256 {expected}, found \
         {actual}\n\nhint: the output directory was changed after the build; run \
         `offline-build build` again",
        path.display()
    )]
    WheelMismatch {
        /// The wheel.
        path: PathBuf,
        /// sha256 in the report.
        expected: String,
        /// sha256 on disk (`missing` when the file is absent).
        actual: String,
    },

    /// The builder image is not the one the lock or the build report names.
    #[error(
        "image `{image}` has layer digest {actual}, but {what} names {expected}\n\nhint: use \
         the builder image the wheels were built in, or build again"
    )]
    ImageMismatch {
        /// The builder image reference.
        image: String,
        /// `the lock` or `build-report.json`.
        what: &'static str,
        /// The digest there.
        expected: String,
        /// The digest of the image Docker has.
        actual: String,
    },

    /// pip could not install the runtime set into the image.
    #[error(
        "installing the runtime set into the image failed (exit code {exit_code}):\n{log_tail}"
    )]
    InstallFailed {
        /// pip's exit code.
        exit_code: i64,
        /// The last lines pip printed.
        log_tail: String,
    },

    /// A `--data` or `--results` argument is not `HOST:CONTAINER` or names a bad path.
    #[error("bad mount `{spec}`: {problem}\n\nhint: {hint}")]
    BadMount {
        /// The argument as given.
        spec: String,
        /// What is wrong.
        problem: String,
        /// What to do.
        hint: String,
    },

    /// No snapshot with this ID exists for the results directory.
    #[error(
        "no snapshot `{id}` of `{}`\n\nhint: `offline-build snapshots list --results {}` shows \
         the snapshots there are",
        results.display(),
        results.display()
    )]
    NoSuchSnapshot {
        /// The results directory.
        results: PathBuf,
        /// The ID asked for (`newest` when none was).
        id: String,
    },

    /// An external program (`btrfs`) failed.
    #[error("`{command}` failed: {detail}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Its error output or exit status.
        detail: String,
    },

    /// Docker refused or failed a request this crate makes itself (commit, upload, tag).
    #[error("could not {action}")]
    Docker {
        /// What we were doing.
        action: String,
        /// Docker's answer.
        #[source]
        source: ob_sandbox::bollard::errors::Error,
    },

    /// The sandbox failed (Docker unreachable, an image missing, a container that failed).
    #[error("{action}")]
    Sandbox {
        /// What we were doing.
        action: String,
        /// Why.
        #[source]
        source: ob_sandbox::SandboxError,
    },

    /// A file system operation failed.
    #[error("could not {action} `{}`", path.display())]
    Io {
        /// What we were doing.
        action: String,
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl RunError {
    /// Whether this is the user's to fix (exit code 1) rather than the environment's (2).
    pub fn is_input_error(&self) -> bool {
        match self {
            RunError::Lock { source, .. } => ob_lock::LockError::is_input_error(source),
            RunError::NoBuildReport { .. }
            | RunError::NotBuilt { .. }
            | RunError::WheelMismatch { .. }
            | RunError::ImageMismatch { .. }
            | RunError::InstallFailed { .. }
            | RunError::BadMount { .. }
            | RunError::NoSuchSnapshot { .. } => true,
            RunError::Sandbox { source, .. } => matches!(
                source,
                ob_sandbox::SandboxError::ImageMissing { .. }
                    | ob_sandbox::SandboxError::Mount { .. }
            ),
            RunError::CommandFailed { .. } | RunError::Docker { .. } | RunError::Io { .. } => false,
        }
    }

    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> RunError {
        let action = action.into();
        let path = path.into();
        move |source| RunError::Io {
            action,
            path,
            source,
        }
    }

    pub(crate) fn sandbox(
        action: impl Into<String>,
    ) -> impl FnOnce(ob_sandbox::SandboxError) -> RunError {
        let action = action.into();
        move |source| RunError::Sandbox { action, source }
    }

    pub(crate) fn docker(
        action: impl Into<String>,
    ) -> impl FnOnce(ob_sandbox::bollard::errors::Error) -> RunError {
        let action = action.into();
        move |source| RunError::Docker { action, source }
    }
}
