//! How a build tells its caller what is happening. The binary implements [`Reporter`] with
//! progress bars; this crate knows nothing of terminals.

use crate::report::PackageReport;

/// Receives build events. Every method has an empty default.
pub trait Reporter: Send + Sync {
    /// The build is about to start; `total` packages will be built or found up to date.
    fn on_start(&self, total: usize) {
        let _ = total;
    }
    /// A container is starting for `name` `version`.
    fn on_package_start(&self, name: &str, version: &str) {
        let _ = (name, version);
    }
    /// A package is finished: built, up to date, failed, timed out or skipped. `log_tail` holds
    /// the last lines of its log when it failed, else nothing.
    fn on_package_done(&self, package: &PackageReport, log_tail: &[String]) {
        let _ = (package, log_tail);
    }
    /// A file the build left in its output directory that was not its wheel, and was dropped.
    fn on_dropped(&self, name: &str, version: &str, file: &str, reason: &str) {
        let _ = (name, version, file, reason);
    }
    /// Something the user should hear about that did not stop the build (a cache entry that
    /// failed its check and was built again).
    fn on_warning(&self, message: &str) {
        let _ = message;
    }
    /// A later phase starts: `"checking reproducibility"`, `"verifying the install"`.
    fn on_phase(&self, phase: &str) {
        let _ = phase;
    }
}

/// A reporter that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl Reporter for NoReporter {}
