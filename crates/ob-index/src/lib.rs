//! Package index access for `offline-build`: where the index is ([`config`]), a Simple API
//! client that reads PEP 691 JSON with PEP 503 HTML as fallback ([`client`]), and the recording
//! index proxy that the resolve container talks to ([`proxy`]).
//!
//! ```no_run
//! # fn main() -> Result<(), ob_index::IndexError> {
//! let index = ob_index::config::default_index_url()?;
//! println!("pip would look at {index} ({})", index.source());
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

pub mod client;
pub mod config;
mod error;
pub mod image_tools;
pub mod proxy;

pub use client::{IndexClient, IndexFile, ProjectPage, normalize_name};
pub use config::{Credentials, IndexSource, IndexUrl, default_index_url};
pub use error::IndexError;
pub use proxy::{IndexProxy, Listen, LocalFile, MetadataSource, ProxyConfig, Refusal, ServedFile};
