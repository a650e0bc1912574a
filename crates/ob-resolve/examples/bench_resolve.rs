//! Benchmark (not a test): `offline-build resolve` of a requirement (default `requests`, with
//! verification builds) against `pip wheel --no-binary :all:` of the same requirement in the same
//! image, side by side, alternating, N rounds each. Both reach the index through the same
//! recording proxy on an internal network, so both see the same sdist-only pages. Ours runs once
//! with a cold sdist cache and once warm per round. Prints every time, medians and ratios.
//!
//! cargo run --release -p ob-resolve --example bench_resolve -- [REQUIREMENT] [ROUNDS] [EXCLUDE_NEWER]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ob_index::{IndexClient, IndexProxy, Listen, ProxyConfig};
use ob_resolve::{NoReporter, RequirementSources, ResolveOptions};
use ob_sandbox::{Network, RunSpec, Sandbox, image};

/// The middle value; of an even count (the warm runs leave out the first round), the mean of
/// the two middle ones, not the upper one.
fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    let middle = times.len() / 2;
    if times.len().is_multiple_of(2) {
        (times[middle - 1] + times[middle]) / 2.0
    } else {
        times[middle]
    }
}

async fn pip_wheel(
    sandbox: &Sandbox,
    image: &str,
    requirement: &str,
    exclude_newer: jiff::Timestamp,
) -> Result<f64, Box<dyn std::error::Error>> {
    let network = sandbox
        .create_internal_network(&format!("offline-build-bench-{}", std::process::id()))
        .await?;
    let client = IndexClient::new(ob_index::default_index_url()?)?;
    // A fresh store per pip run: pip's side of the benchmark starts cold, as before.
    let store = tempfile::tempdir()?;
    let proxy = IndexProxy::start(
        client,
        Listen::Tcp(SocketAddr::new(network.gateway(), 0)),
        ProxyConfig {
            exclude_newer: Some(exclude_newer),
            sdist_store: store.path().to_path_buf(),
            serve_archives: true,
            metadata: None,
            local_projects: Default::default(),
            allow_binary: Default::default(),
        },
    )
    .await?;
    let gateway = network.gateway().to_string();
    let mut spec = RunSpec::new(
        image,
        vec![
            "python3".into(),
            "-m".into(),
            "pip".into(),
            "wheel".into(),
            "--no-binary".into(),
            ":all:".into(),
            "--index-url".into(),
            proxy.simple_url(),
            "--trusted-host".into(),
            gateway,
            "--wheel-dir".into(),
            "/tmp/wheels".into(),
            requirement.into(),
        ],
        "bench:pip-wheel",
    );
    spec.network = Network::Named(network.name().to_string());
    spec.env
        .insert("PIP_CONFIG_FILE".into(), "/dev/null".into());
    spec.env
        .insert("PIP_DISABLE_PIP_VERSION_CHECK".into(), "1".into());
    let started = Instant::now();
    let mut tail = Vec::new();
    let outcome = sandbox
        .run(&spec, |line| {
            tail.push(format!("{line:?}"));
            if tail.len() > 20 {
                tail.remove(0);
            }
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    proxy.stop().await;
    network.remove().await?;
    let outcome = outcome?;
    if !outcome.success() {
        return Err(format!("pip wheel failed:\n{}", tail.join("\n")).into());
    }
    Ok(elapsed)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let requirement = args.first().cloned().unwrap_or_else(|| "requests".into());
    let rounds: usize = args.get(1).map(|n| n.parse()).transpose()?.unwrap_or(3);
    let exclude_newer =
        ob_resolve::parse_exclude_newer(args.get(2).map(String::as_str).unwrap_or("2026-11-01"))?;
    let sandbox = Sandbox::connect().await?;
    let image = image::require(&sandbox, None).await?.reference;
    let warm_cache = tempfile::tempdir()?;
    let options =
        |cache: Option<std::path::PathBuf>| -> Result<ResolveOptions, Box<dyn std::error::Error>> {
            Ok(ResolveOptions {
                requirements: RequirementSources {
                    specs: vec![requirement.clone()],
                    ..RequirementSources::default()
                }
                .read()?,
                image: Some(image.clone()),
                index: ob_index::default_index_url()?,
                exclude_newer: Some(exclude_newer),
                jobs: std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(1),
                verify_build: true,
                cache_dir: cache,
                // Verification builds compile every time: the wheel cache is e2e's business.
                wheel_cache: None,
                build_timeout: Duration::from_secs(1800),
                timeout: Duration::from_secs(3600),
                runs_dir: None,
                policy: Default::default(),
                runtime: None,
                config: Default::default(),
                keep_going: false,
            })
        };
    let (mut ours_cold, mut ours_warm, mut pip) = (Vec::new(), Vec::new(), Vec::new());
    for round in 1..=rounds {
        let started = Instant::now();
        let outcome = ob_resolve::resolve(&options(None)?, &NoReporter).await?;
        ours_cold.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        ob_resolve::resolve(
            &options(Some(warm_cache.path().to_path_buf()))?,
            &NoReporter,
        )
        .await?;
        let warm = started.elapsed().as_secs_f64();
        // The first warm run fills the cache; only later ones are warm.
        if round > 1 || rounds == 1 {
            ours_warm.push(warm);
        }
        pip.push(pip_wheel(&sandbox, &image, &requirement, exclude_newer).await?);
        println!(
            "round {round}: resolve (cold cache) {:.1}s, resolve (warm) {warm:.1}s, pip wheel --no-binary :all: {:.1}s; {} runtime + {} build-only packages",
            ours_cold[round - 1],
            pip[round - 1],
            outcome.runtime,
            outcome.build_only
        );
    }
    let (cold, warm, baseline) = (
        median(&mut ours_cold),
        median(&mut ours_warm),
        median(&mut pip),
    );
    println!(
        "medians over {rounds} rounds: resolve cold {cold:.1}s, resolve warm {warm:.1}s, pip wheel {baseline:.1}s; ratio cold {:.2}x, warm {:.2}x",
        cold / baseline,
        warm / baseline
    );
    Ok(())
}
