//! What the tests against the real package index and crate registry share: whether those answer
//! (they skip, saying why, only when one cannot be reached at all), and the binary run with the
//! test's own caches.

// Each test binary that includes this module uses part of it.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// Whether `url` answers at all; any HTTP status counts as an answer.
pub fn reachable(url: &str) -> Result<(), String> {
    let probe = "import sys, urllib.request, urllib.error\n\
                 try:\n    urllib.request.urlopen(sys.argv[1], timeout=20)\n\
                 except urllib.error.HTTPError:\n    pass\n";
    let output = Command::new("python3")
        .args(["-c", probe, url])
        .output()
        .map_err(|err| err.to_string())?;
    if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).trim().to_string())
    }
}

/// Whether the index pip would use answers.
pub fn index_reachable() -> Result<(), String> {
    let index = ob_index::default_index_url().map_err(|err| err.to_string())?;
    reachable(index.url().as_str())
}

/// Whether the index and the crate registry cargo would use both answer.
pub fn registries_reachable() -> Result<(), String> {
    index_reachable()?;
    let registry = ob_cargo::probe::default_index(None).map_err(|err| err.to_string())?;
    reachable(&format!("{registry}config.json"))
}

/// The binary in `dir`, with the run's own sdist and wheel caches under `dir/cache`, shared by
/// its stages and by nothing else; its stderr is echoed for the test log.
pub fn offline_build(dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_offline-build"))
        .current_dir(dir)
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ offline-build {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
