//! Exit codes (documented in docs/cli.md): 0 success; 1 the user's input is wrong or a
//! verification failed; 2 an internal or environment error.

use std::fmt;
use std::process::ExitCode;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Everything asked for was done.
    Success,
    /// The user's input is wrong or a verification failed (bad lock, hash mismatch, a package
    /// that does not build).
    Failure,
    /// An internal or environment error (Docker unreachable, a bug, a stage not built yet).
    Internal,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        match exit {
            Exit::Success => ExitCode::from(0),
            Exit::Failure => ExitCode::from(1),
            Exit::Internal => ExitCode::from(2),
        }
    }
}

/// Wraps an error that is the user's to fix (exit 1). Everything else exits 2.
#[derive(Debug)]
pub struct Rejected(pub anyhow::Error);

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Rejected {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Marks `err` as the user's input being wrong or a verification failing: exit code 1.
pub fn rejected(err: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Rejected(err.into()))
}

/// Exit 1 when any error in the chain was marked [`Rejected`], else 2.
pub fn classify(err: &anyhow::Error) -> Exit {
    if err.chain().any(|cause| cause.is::<Rejected>()) {
        Exit::Failure
    } else {
        Exit::Internal
    }
}

/// Writing to a closed pipe (`offline-build ... | head`) is not an error.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
