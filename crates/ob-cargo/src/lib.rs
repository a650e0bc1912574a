//! What cargo would do, as data, for the Rust extensions in Python sdists. Nothing here runs
//! cargo on anything of a package's (only [`probe`] runs the host's cargo, on a project it
//! writes itself, to learn which registry is cargo's default): the builder downloads and verifies the crates a Cargo.lock pins, vendors them, and
//! hands cargo a configuration that builds from the vendored copies with the network off.
//!
//! - [`lockfile`]: the registry crates a Cargo.lock pins, with checked names and sha256s.
//! - [`config`]: which sparse index cargo on this host would read each Cargo.lock source from.
//! - [`registry`]: a sparse registry's `config.json` and the `.crate` download URL.
//! - [`probe`]: the Cargo.lock source of cargo's built-in default registry, asked of cargo.
//! - [`token`]: registry tokens, which are sent and never shown.
//! - [`vendor`]: unpacking a `.crate` into a directory source, and the cargo configuration that
//!   uses it.
//!
//! ```no_run
//! # async fn example(cargo_lock: &str, client: &reqwest::Client) -> Result<(), ob_cargo::CargoError> {
//! use std::path::Path;
//! let config = ob_cargo::config::CargoConfig::from_host()?;
//! let crates = ob_cargo::lockfile::parse_cargo_lock(cargo_lock)?;
//! for locked in &crates {
//!     let index = config.index_for(&locked.source)?;
//!     let registry = ob_cargo::registry::fetch_config(client, &index, config.token_for(&index)).await?;
//!     let url = ob_cargo::registry::download_url(
//!         &registry.dl,
//!         &locked.name,
//!         &locked.version,
//!         &locked.checksum,
//!     )?;
//!     // ... download `url` to `file`, verify its sha256 against `locked.checksum`, then:
//!     # let file = Path::new("dep.crate");
//!     ob_cargo::vendor::unpack_crate(
//!         file,
//!         &locked.name,
//!         &locked.version,
//!         &locked.checksum,
//!         Path::new("vendor"),
//!     )?;
//!     # let _ = url;
//! }
//! let sources: Vec<String> = crates.iter().map(|locked| locked.source.clone()).collect();
//! let cargo_config_toml =
//!     ob_cargo::vendor::cargo_config("/vendor", &sources, config.default_registry());
//! # let _ = cargo_config_toml;
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod config;
mod error;
pub mod lockfile;
mod names;
pub mod probe;
pub mod registry;
pub mod token;
pub mod vendor;

pub use error::CargoError;
