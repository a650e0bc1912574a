//! `offline-build resolve`: discovers the complete dependency set of some requirements, build
//! requirements included, and turns it into a [`ob_lock::Lock`]. pip's resolver runs in a
//! scratch container with no network (our index proxy on a unix socket is all it reaches, and
//! it gets metadata, never an sdist); every package's build environment is resolved on its own;
//! every third-party hook and verification build runs in its own network-less container through
//! the build stage's [`ob_build::Builder`].
//!
//! ```no_run
//! # async fn example() -> Result<(), ob_resolve::ResolveError> {
//! use ob_resolve::{NoReporter, RequirementSources, ResolveOptions};
//! let requirements = RequirementSources { specs: vec!["idna==3.10".into()], ..Default::default() }.read()?;
//! let options = ResolveOptions {
//!     requirements,
//!     image: None,
//!     index: ob_index::default_index_url()?,
//!     exclude_newer: Some(ob_resolve::parse_exclude_newer("2025-06-01")?),
//!     jobs: 2,
//!     verify_build: true,
//!     cache_dir: None,
//!     wheel_cache: None,
//!     runs_dir: None,
//!     policy: Default::default(),
//!     runtime: None,
//!     config: Default::default(),
//!     keep_going: false,
//!     build_timeout: std::time::Duration::from_secs(1800),
//!     timeout: std::time::Duration::from_secs(3600),
//! };
//! let outcome = ob_resolve::resolve(&options, &NoReporter).await?;
//! outcome.lock.write(std::path::Path::new("pylock.toml")).ok();
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod book;
mod crates;
mod engine;
mod error;
mod image_tools;
pub mod input;
mod requirement;
mod resolve;
pub mod sdist;
pub mod session;
pub mod settings;

pub use error::{BlockedPackage, FailurePhase, PackageFailure, ResolveError};
pub use input::{RequirementSources, Requirements};
pub use resolve::{
    NoReporter, Phase, ResolveOptions, ResolveOutcome, ResolveReporter, SOURCE_DATE_EPOCH,
    parse_exclude_newer, resolve,
};
pub use settings::BuildConfig;
