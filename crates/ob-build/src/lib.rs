//! ob-build

#![forbid(unsafe_code)]
