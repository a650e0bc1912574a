//! The `pylock.toml` model: the contract between `resolve`, `fetch` and `build`.
//!
//! A lock is standard PEP 751 (`lock-version = "1.0"`) so that pip, uv and PDM can read it, plus
//! our own `[tool.offline-build]` tables for what PEP 751 has no field for (build requirements,
//! the builder image, the build order).

#![forbid(unsafe_code)]

mod model;

pub use model::*;
