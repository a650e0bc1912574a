//! Benchmark: the cost of one locked-down `Sandbox::run` of `true`, side by side with the same
//! profile through the docker CLI (`docker run --rm ...`), alternating, with medians and ratio.
//!
//! Run: `cargo run --release -p ob-sandbox --example bench_run -- [ROUNDS]` (needs the builder
//! image: `offline-build image create`).

use std::process::Command;
use std::time::{Duration, Instant};

use ob_sandbox::{RunSpec, SANDBOX_USER, Sandbox, image};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|rounds| rounds.parse())
        .transpose()?
        .unwrap_or(20);
    let sandbox = Sandbox::connect().await?;
    let builder = image::require(&sandbox, None).await?;
    let spec = RunSpec::new(builder.reference.as_str(), vec!["true".into()], "bench:run");

    let mut ours = Vec::with_capacity(rounds);
    let mut cli = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let started = Instant::now();
        let outcome = sandbox.run(&spec, |_| {}).await?;
        ours.push(started.elapsed());
        assert!(outcome.success());

        let started = Instant::now();
        let status = Command::new("docker")
            .args([
                "run",
                "--rm",
                "--network=none",
                "--read-only",
                "--tmpfs=/tmp:rw,exec,nosuid,nodev,size=2g",
                "--cap-drop=ALL",
                "--security-opt=no-new-privileges",
                "--memory=4g",
                "--pids-limit=1024",
                "--user",
                SANDBOX_USER,
                builder.reference.as_str(),
                "true",
            ])
            .status()?;
        cli.push(started.elapsed());
        assert!(status.success());
    }
    let ours = median(&mut ours);
    let cli = median(&mut cli);
    println!("rounds: {rounds}");
    println!("Sandbox::run   median {:>7.1} ms", ours.as_secs_f64() * 1e3);
    println!("docker run --rm median {:>7.1} ms", cli.as_secs_f64() * 1e3);
    println!(
        "ratio (ours / cli): {:.2}",
        ours.as_secs_f64() / cli.as_secs_f64()
    );
    Ok(())
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}
