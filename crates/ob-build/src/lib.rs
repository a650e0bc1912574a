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

mod build;
pub mod cache;
mod checks;
pub mod diagnosis;
pub mod driver;
mod error;
mod files;
mod graph;
pub mod install_policy;
pub mod metadata;
pub mod overlap;
mod progress;
mod report;
mod schedule;
pub mod sources;
pub mod step;
pub mod tarball;
pub mod wheel;
mod zip_layout;

pub use build::{BuildOptions, build};
pub use cache::WheelCache;
pub use error::BuildError;
pub use files::{place_file, sha256_file};
pub use graph::{BuildGraph, PackageId};
pub use progress::{NoReporter, Reporter};
pub use report::{
    BuildReport, DroppedFile, InstallCheck, PackageReport, PackageStatus, REPORT_FILE,
    REPORT_VERSION, Reproducibility, UsedWheel,
};
pub use schedule::LOGS_DIR;
pub use step::{
    BuildFailure, Builder, BuilderOptions, CrateInput, EnvWheel, LOG_TAIL_LINES, ProducedWheel,
    SdistInput, StepOutcome, StepRequest, StepResult,
};
