//! Indexes a Contents file already on disk and times lookups in it: how the figures in
//! `debian_contents`' documentation and docs/build.md were measured.
//!
//! ```text
//! curl -o /tmp/Contents-amd64.gz "$MIRROR/dists/trixie/main/Contents-amd64.gz"
//! cargo run --release -p ob-sandbox --example contents_index -- /tmp/Contents-amd64.gz zstd.h libzstd.so
//! ```

use std::io::BufReader;
use std::time::Instant;

use ob_sandbox::debian_contents::{ContentsIndex, write_index};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let contents = args
        .next()
        .ok_or("usage: contents_index CONTENTS.gz [NAME...]")?;
    let names: Vec<String> = args.collect();
    let out = tempfile::tempdir()?;
    let index_path = out.path().join("index");
    let started = Instant::now();
    let entries = write_index(
        BufReader::new(fs_err::File::open(&contents)?),
        "offline-build-contents 1 trixie amd64",
        "x86_64-linux-gnu",
        &index_path,
        &contents,
    )?;
    println!(
        "indexed {entries} entries in {:.2} s: {} bytes",
        started.elapsed().as_secs_f64(),
        fs_err::metadata(&index_path)?.len()
    );
    let index = ContentsIndex::open(&index_path).ok_or("the index did not open")?;
    for name in names {
        let started = Instant::now();
        let rounds = 1000;
        let mut found = Vec::new();
        for _ in 0..rounds {
            found = index.find(&name)?;
        }
        let each = started.elapsed().as_secs_f64() / f64::from(rounds);
        println!("{name}: {:.3} ms per lookup, {found:?}", each * 1000.0);
    }
    Ok(())
}
