//! ob-index

#![forbid(unsafe_code)]
