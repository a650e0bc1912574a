//! The seam between "what to run" and "where it runs": a stage describes one locked-down run as a
//! [`RunSpec`] and hands it to an [`Executor`]. [`Sandbox`] (Docker) is the one executor today;
//! docs/design/scale.md describes how a Kubernetes Jobs executor would honour the same spec.

use std::future::Future;
use std::pin::Pin;

use crate::error::SandboxError;
use crate::run::{OutputLine, RunOutcome, RunSpec};
use crate::sandbox::Sandbox;

/// A future an executor returns: boxed, so that executors can be chosen at run time.
pub type RunFuture<'a> =
    Pin<Box<dyn Future<Output = Result<RunOutcome, SandboxError>> + Send + 'a>>;

/// Runs one [`RunSpec`] to completion under the locked-down profile, streaming its output lines
/// to `on_line`, and leaves nothing of the run behind (also when the future is dropped).
///
/// Architecture invariant: an executor may add restrictions but never lift one of the spec's
/// (network, read-only inputs, one writable output, non-root, no capabilities, limits, timeout).
pub trait Executor: Send + Sync {
    /// Runs `spec`.
    fn run<'a>(
        &'a self,
        spec: &'a RunSpec,
        on_line: &'a mut (dyn FnMut(OutputLine) + Send),
    ) -> RunFuture<'a>;

    /// A short name for messages and reports, e.g. `docker`.
    fn name(&self) -> &str;
}

impl Executor for Sandbox {
    fn run<'a>(
        &'a self,
        spec: &'a RunSpec,
        on_line: &'a mut (dyn FnMut(OutputLine) + Send),
    ) -> RunFuture<'a> {
        Box::pin(Sandbox::run(self, spec, on_line))
    }

    fn name(&self) -> &str {
        "docker"
    }
}
