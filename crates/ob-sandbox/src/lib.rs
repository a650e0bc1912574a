//! ob-sandbox

#![forbid(unsafe_code)]
