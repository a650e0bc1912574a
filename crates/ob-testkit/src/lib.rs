//! Test support shared by the crates' integration tests: the builder image the tests run in,
//! sdists packed from `fixtures/`, a package index and a cargo registry served on loopback, a
//! connection-counting listener, tests re-run in a child process, and host Python tools pinned
//! in a venv. Not shipped.

#![forbid(unsafe_code)]

pub mod child;
pub mod crates;
mod http;
pub mod image;
pub mod index;
pub mod listener;
pub mod python;
pub mod sdist;
pub mod wheel;

/// The repository's top directory (for `fixtures/` and `stages/`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
