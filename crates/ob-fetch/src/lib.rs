//! ob-fetch

#![forbid(unsafe_code)]
