//! The `pylock.toml` model: the contract between `resolve`, `fetch` and `build`.
//!
//! A lock is standard PEP 751 (`lock-version = "1.0"`) so that pip, uv and PDM can read it, plus
//! our own `[tool.offline-build]` tables for what PEP 751 has no field for (build requirements,
//! the builder image, the build order). The format is documented in `docs/lockfile.md`.
//!
//! Reading validates; writing validates, renders deterministically and replaces the file
//! atomically, and only when its bytes change.
//!
//! ```no_run
//! use std::path::Path;
//! use ob_lock::{Lock, WriteOutcome};
//!
//! # fn main() -> Result<(), ob_lock::LockError> {
//! let path = Path::new("pylock.toml");
//! let lock = Lock::read(path)?;
//! for package in lock.runtime_packages() {
//!     println!("{} {}", package.pin(), package.sdist.sha256);
//! }
//! assert_eq!(lock.write(path)?, WriteOutcome::Unchanged);
//! # Ok(())
//! # }
//! ```

#![forbid(unsafe_code)]

mod diff;
mod error;
mod model;
mod read;
mod validate;
mod write;

use std::path::Path;

pub use diff::PackageChange;
pub use error::{LockError, Problem};
pub use model::*;
pub use read::LockWarning;
pub use write::WriteOutcome;

impl Lock {
    /// Parses and validates a lock; `path` is used in error messages only.
    pub fn from_toml_str(text: &str, path: &Path) -> Result<Lock, LockError> {
        read::parse(text, path).map(|(lock, _warnings)| lock)
    }

    /// Like [`Lock::from_toml_str`], also returning what the user should be warned about.
    pub fn from_toml_str_with_warnings(
        text: &str,
        path: &Path,
    ) -> Result<(Lock, Vec<LockWarning>), LockError> {
        read::parse(text, path)
    }

    /// Reads and validates the lock at `path`.
    pub fn read(path: &Path) -> Result<Lock, LockError> {
        Lock::read_with_warnings(path).map(|(lock, _warnings)| lock)
    }

    /// Like [`Lock::read`], also returning what the user should be warned about (a newer
    /// `lock-version` minor, which PEP 751 asks readers to report).
    pub fn read_with_warnings(path: &Path) -> Result<(Lock, Vec<LockWarning>), LockError> {
        let bytes = fs_err::read(path).map_err(|source| LockError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let text = std::str::from_utf8(&bytes).map_err(|source| LockError::NotUtf8 {
            path: path.to_path_buf(),
            source,
        })?;
        read::parse(text, path)
    }

    /// The lock as TOML: the same lock always gives the same bytes, whatever the order of
    /// packages, dependencies, build requirements or requirements in memory.
    pub fn to_toml_string(&self) -> String {
        write::render(self)
    }

    /// Validates, then writes the lock to `path` atomically (temp file in the same directory,
    /// fsync, rename). A file that already holds exactly these bytes is not touched.
    pub fn write(&self, path: &Path) -> Result<WriteOutcome, LockError> {
        write::write(self, path)
    }

    /// Checks everything later stages rely on; the error names the package and field.
    pub fn validate(&self) -> Result<(), LockError> {
        validate::lock(self)
    }
}
