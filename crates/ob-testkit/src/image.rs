//! Makes sure the builder image exists before a test uses it (owned by the sandbox work).
