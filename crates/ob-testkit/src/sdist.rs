//! Packs a source tree under `fixtures/` into a deterministic sdist (owned by the build work).
