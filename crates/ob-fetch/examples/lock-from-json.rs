//! Writes a `pylock.toml` from a JSON list of sdists, for the fetch benchmark
//! (`benches/bench-fetch.py`), which finds real sdists on the index at run time and needs a lock
//! that `offline-build fetch` reads, without waiting for `resolve`.
//!
//! Usage: `lock-from-json <sdists.json> <pylock.toml> <index-url>`, where the JSON is
//! `[{"name", "version", "filename", "url", "size", "sha256"}, ...]`.

use std::path::Path;

use ob_lock::{Lock, LockTool, Package, Sdist};
use serde::Deserialize;

#[derive(Deserialize)]
struct Entry {
    name: String,
    version: String,
    filename: String,
    url: String,
    size: u64,
    sha256: String,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, index_url] = arguments.as_slice() else {
        return Err("usage: lock-from-json <sdists.json> <pylock.toml> <index-url>".into());
    };
    let entries: Vec<Entry> = serde_json::from_str(&fs_err::read_to_string(input)?)?;
    let mut packages: Vec<Package> = entries
        .into_iter()
        .map(|entry| Package {
            name: entry.name,
            version: entry.version,
            sdist: Sdist {
                filename: entry.filename,
                url: Some(entry.url),
                size: entry.size,
                sha256: entry.sha256,
                ..Sdist::default()
            },
            ..Package::default()
        })
        .collect();
    packages.sort_by(|left, right| left.name.cmp(&right.name));
    let build_order = packages.iter().map(ob_lock::Package::pin).collect();
    let lock = Lock {
        packages,
        tool: LockTool {
            image: "offline-build/builder:trixie".to_owned(),
            // Not built from here: the benchmark only fetches.
            image_digest: format!("sha256:{}", "0".repeat(64)),
            python_version: "3.13.5".to_owned(),
            platform: "linux_x86_64".to_owned(),
            index_url: index_url.clone(),
            build_order,
            ..LockTool::default()
        },
        ..Lock::default()
    };
    lock.write(Path::new(output))?;
    Ok(())
}
