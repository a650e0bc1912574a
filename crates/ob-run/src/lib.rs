//! Runs the user's program in the environment `build` made, with the seed's runtime
//! protections: the runtime image (the locked builder image plus the built wheels, installed
//! offline and pinned by sha256), no network unless one is named, data mounted read-only, one
//! writable results directory, and a snapshot of it before every run that can be restored.
//!
//! ```no_run
//! use ob_run::{RunOptions, Snapshots, parse_mount, run};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let sandbox = ob_sandbox::Sandbox::connect().await?;
//! let mut options = RunOptions::new(vec!["python3".into(), "analyse.py".into()]);
//! options.data.push(parse_mount("./input:/data", false)?);
//! options.results = Some(parse_mount("./results:/results", true)?);
//! let report = run(&sandbox, &options, &(), |line| println!("{line:?}")).await?;
//! if report.outcome.exit_code != 0 {
//!     // Undo whatever the run did to its results.
//!     Snapshots::for_results("./results".as_ref())?.restore(None)?;
//! }
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

pub mod assemble;
mod error;
mod run;
pub mod snapshot;

pub use assemble::{AssembleOptions, RuntimeImage, assemble};
pub use error::RunError;
pub use run::{Reporter, RunOptions, RunReport, parse_mount, run};
pub use snapshot::{Snapshot, SnapshotKind, Snapshots};
