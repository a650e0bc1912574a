//! The adversarial suite lives in `tests/`: hostile packages, fault injection and property-based
//! fuzzing of the lockfile, requirements and index page parsers and the wheel validator. This
//! library is empty; it exists so the tests have a crate to belong to.

#![forbid(unsafe_code)]
