# Recipes people run. `just --list` shows them with these comments.

# Resolve, fetch and build the bundled example (creates the builder image first if needed).
demo:
    bash fixtures/example/run.sh

# Run the whole test suite (starts real containers; creates the builder image on first use).
test:
    cargo test --workspace

# Formatting, clippy with warnings denied, no dbg!/todo!/unimplemented! left behind, and ruff
# on the Python that runs in the containers (stages/).
lint:
    bash .ci/check-leftovers
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings
    bash .ci/ruff

# Exactly what CI runs.
ci:
    bash .ci/run

# Every stage's benchmark against the obvious alternative, side by side (needs the real index; slow).
bench: bench-sandbox bench-fetch bench-build bench-resolve bench-e2e

# Container start-to-removal overhead: Sandbox::run against `docker run --rm` with the same flags.
bench-sandbox:
    cargo run --release -p ob-sandbox --example bench_run -- 30

# fetch of the requests closure against 8 parallel curl and pip download; warm no-op over 30 files.
bench-fetch:
    python3 crates/ob-fetch/benches/bench-fetch.py

# build of the requests closure against `pip wheel --no-binary :all:` offline; no-op rebuild.
bench-build:
    python3 crates/ob-build/bench/requests_closure.py --runs 3

# resolve of requests against `pip wheel --no-binary :all:` through the same proxy.
bench-resolve:
    cargo run --release -p ob-resolve --example bench_resolve -- requests 3

# resolve + fetch + build of requests and pyyaml, cold, against `uv pip install --no-binary :all:` and `fromager bootstrap`.
bench-e2e:
    cargo build --release -p offline-build
    python3 crates/offline-build/benches/e2e.py --runs 3

# Fuzz the lock, requirements and index page parsers and the wheel validator (CASES per target; 100000 take about 12 minutes).
fuzz CASES="100000":
    OB_FUZZ_CASES={{CASES}} cargo test --release --no-fail-fast -p ob-adversarial --test fuzz_lock --test fuzz_wheel --test fuzz_requirements --test fuzz_index -- --nocapture --test-threads 2
