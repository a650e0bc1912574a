//! Helpers shared by the adversarial tests; each test binary uses only some of them.
#![allow(dead_code)]

pub mod fuzz;
