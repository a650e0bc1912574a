//! Builds every package of a lock from its hash-verified sdist, each in its own locked-down
//! container (no network, read-only inputs, one fresh output directory), in build-dependency
//! order and in parallel; validates every wheel before it joins the output directory; reuses
//! wheels whose inputs did not change; writes `build-report.json`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let lock = ob_lock::Lock::read(std::path::Path::new("pylock.toml"))?;
//! let options = ob_build::BuildOptions::new("wheelhouse", "dist");
//! let report = ob_build::build(&lock, &options, &ob_build::NoReporter).await?;
//! for package in report.unsuccessful() {
//!     eprintln!("{} {}: {:?}", package.name, package.version, package.error);
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod driver;
mod error;
mod graph;
mod orchestrate;
mod progress;
mod report;
pub mod wheel;

pub use error::BuildError;
pub use graph::BuildGraph;
pub use orchestrate::{BuildOptions, LOG_TAIL_LINES, LOGS_DIR, build};
pub use progress::{NoReporter, Reporter};
pub use report::{
    BuildReport, DroppedFile, InstallCheck, PackageReport, PackageStatus, REPORT_FILE,
    REPORT_VERSION, Reproducibility, UsedWheel,
};
