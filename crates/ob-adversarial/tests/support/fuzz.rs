//! Shared fuzzing knobs: how many cases a run tries (small by default, many under `just fuzz`),
//! a per-case bound that turns a hang into a failure naming the input, and an execution
//! counter printed at the end so a long run reports what it did.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use proptest::test_runner::{Config, RngSeed};

/// Cases per property: `OB_FUZZ_CASES` if set (the `fuzz` recipe), else a number that keeps the
/// default `cargo test` to seconds.
///
/// The default run uses a fixed seed, so a test run on CI is the same every time and a rare
/// input cannot turn one run red and the next green; `just fuzz` explores with random seeds
/// (`PROPTEST_RNG_SEED` still picks one by hand).
pub fn config(default_cases: u32) -> Config {
    let requested = std::env::var("OB_FUZZ_CASES")
        .ok()
        .and_then(|value| value.parse().ok());
    let cases = requested.unwrap_or(default_cases);
    let rng_seed = match std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|value| value.parse().ok())
    {
        Some(seed) => RngSeed::Fixed(seed),
        None if requested.is_some() => RngSeed::Random,
        None => RngSeed::Fixed(0x0b_f022),
    };
    Config {
        cases,
        rng_seed,
        // Shrinking a failure found after minutes is worth a while; a hang is caught below.
        max_shrink_iters: 2048,
        // Regressions are committed as named tests, not as proptest's seed files.
        failure_persistence: None,
        ..Config::default()
    }
}

/// Generous on purpose: every input here is small and handled in micro- to milliseconds, so
/// only a loop that does not end can reach this. It is a hang detector, not a speed check.
const HANG: Duration = Duration::from_secs(60);

/// Runs `case` on its own thread and fails, naming `what`, if it has not returned within
/// [`HANG`]. A panic inside `case` is re-raised here so proptest shrinks it.
pub fn bounded<T: Send + 'static>(what: &str, case: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = mpsc::channel();
    let handle = std::thread::spawn(move || {
        let value = case();
        // The receiver is gone only if we already reported a hang.
        let _ = sender.send(());
        value
    });
    match receiver.recv_timeout(HANG) {
        Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Ok(value) => value,
            Err(panic) => std::panic::resume_unwind(panic),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: no answer after {HANG:?}: the input makes it hang")
        }
    }
}

/// Counts executions and acceptances of one target, printed when the property ends.
pub struct Tally {
    name: &'static str,
    executions: AtomicU64,
    accepted: AtomicU64,
}

impl Tally {
    pub const fn new(name: &'static str) -> Tally {
        Tally {
            name,
            executions: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        }
    }

    pub fn record(&self, accepted: bool) {
        self.executions.fetch_add(1, Ordering::Relaxed);
        if accepted {
            self.accepted.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Prints the figures (shown with `--nocapture`, as `just fuzz` runs) and returns them.
    pub fn report(&self) -> (u64, u64) {
        let executions = self.executions.load(Ordering::Relaxed);
        let accepted = self.accepted.load(Ordering::Relaxed);
        eprintln!(
            "fuzz {}: {executions} executions, {accepted} accepted, {} refused",
            self.name,
            executions - accepted
        );
        (executions, accepted)
    }
}
