//! The resolve operation: an internal Docker network, our recording index proxy at its gateway,
//! one scratch container running the resolve driver, and the lock made from what the driver
//! found and what the proxy served. The container, network and proxy are gone when this returns,
//! whatever happened.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ob_index::{IndexClient, IndexProxy, IndexUrl, ProxyConfig, ServedFile};
use ob_lock::{Lock, LockTool, Package, Pin, Sdist};
use ob_sandbox::{Mount, Network, OutputLine, RunSpec, Sandbox, image};

use crate::ResolveError;
use crate::driver::{self, DriverError, DriverResult, Job};
use crate::input::Requirements;

/// `SOURCE_DATE_EPOCH` recorded in the lock and used by hooks and verification builds:
/// 1980-01-01, the earliest time a zip can hold (the build stage's default too).
pub const SOURCE_DATE_EPOCH: u64 = 315_532_800;

/// How to resolve.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    /// What to resolve.
    pub requirements: Requirements,
    /// Image to resolve in; `None` is the default builder image.
    pub image: Option<String>,
    /// The index to resolve against.
    pub index: IndexUrl,
    /// Ignore files uploaded after this instant.
    pub exclude_newer: Option<jiff::Timestamp>,
    /// Parallel hook runs and builds inside the container.
    pub jobs: usize,
    /// Build every package in build order to prove its build environment complete.
    pub verify_build: bool,
    /// Where the proxy keeps verified sdists between runs (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Wall-clock limit for one package's hooks or build inside the container.
    pub build_timeout: Duration,
    /// Wall-clock limit for the whole container run.
    pub timeout: Duration,
}

/// Phases, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Docker, image, network, proxy.
    Preparing,
    /// The runtime closure (pip's resolver, first round).
    Runtime,
    /// Build-requirement discovery rounds.
    BuildRequirements,
    /// Verification builds.
    Verify,
}

/// Receives progress; every method has an empty default. Only the binary draws bars.
pub trait ResolveReporter: Send + Sync {
    /// A phase began.
    fn on_phase(&self, phase: Phase) {
        let _ = phase;
    }
    /// The resolution now holds `packages` packages.
    fn on_found(&self, packages: usize) {
        let _ = packages;
    }
    /// The build requirements of `package` are known; `done` packages so far.
    fn on_discovered(&self, package: &str, done: usize) {
        let _ = (package, done);
    }
    /// `package` was built in verification; `done` of `total`.
    fn on_built(&self, package: &str, done: usize, total: usize) {
        let _ = (package, done, total);
    }
}

/// A reporter that reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoReporter;

impl ResolveReporter for NoReporter {}

/// What a successful resolve produced.
#[derive(Debug, Clone)]
pub struct ResolveOutcome {
    /// The lock (not written yet).
    pub lock: Lock,
    /// Runtime packages.
    pub runtime: usize,
    /// Build-only packages.
    pub build_only: usize,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Packages whose metadata pip's resolver prepared itself, in an isolated build, instead of
    /// taking it from the sdist's PKG-INFO: the result is the same, only slower. Empty with the
    /// builder image's pip; another pip may not allow the shortcut.
    pub pip_prepared: Vec<String>,
}

/// Parses `--exclude-newer`: an RFC 3339 instant, or a date meaning its midnight UTC.
pub fn parse_exclude_newer(text: &str) -> Result<jiff::Timestamp, ResolveError> {
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Ok(timestamp);
    }
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|date| date.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|zoned| zoned.timestamp())
        .ok_or_else(|| ResolveError::BadTimestamp {
            value: text.to_string(),
        })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ResolveError + '_ {
    move |source| ResolveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `contents` readable by the container's unprivileged user.
fn write_readable(path: &Path, contents: &str) -> Result<(), ResolveError> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::write(path, contents).map_err(io_error(path))?;
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io_error(path))
}

/// Runs the whole resolve. Containers, the network and the proxy are removed in every case.
pub async fn resolve(
    options: &ResolveOptions,
    reporter: &dyn ResolveReporter,
) -> Result<ResolveOutcome, ResolveError> {
    use std::os::unix::fs::PermissionsExt;
    let started = Instant::now();
    reporter.on_phase(Phase::Preparing);
    let sandbox = Sandbox::connect().await?;
    // Containers and networks of an earlier run that was killed before it could clean up.
    sandbox.remove_leftovers().await?;
    let image = image::require(&sandbox, options.image.as_deref()).await?;

    // The work directory outlives a failed run, so that the logs it names can be read.
    let work = tempfile::Builder::new()
        .prefix("offline-build-resolve-")
        .tempdir()
        .map_err(io_error(&std::env::temp_dir()))?;
    let stage = work.path().join("stage");
    let out = work.path().join("out");
    for directory in [work.path(), &stage] {
        fs_err::create_dir_all(directory).map_err(io_error(directory))?;
        fs_err::set_permissions(directory, std::fs::Permissions::from_mode(0o755))
            .map_err(io_error(directory))?;
    }
    fs_err::create_dir_all(&out).map_err(io_error(&out))?;
    write_readable(&stage.join("driver.py"), driver::DRIVER)?;
    write_readable(&stage.join("audit.py"), driver::AUDIT)?;
    write_readable(&stage.join("build_driver.py"), driver::BUILD_DRIVER)?;
    let pth = work.path().join("audit.pth");
    write_readable(&pth, &driver::audit_pth())?;

    let network_name = format!(
        "offline-build-resolve-{}-{}",
        std::process::id(),
        jiff::Timestamp::now().as_nanosecond() % 1_000_000_000
    );
    let network = sandbox.create_internal_network(&network_name).await?;
    let client = match IndexClient::new(options.index.clone()) {
        Ok(client) => client,
        Err(err) => {
            let _ = network.remove().await;
            return Err(err.into());
        }
    };
    let proxy = match IndexProxy::start(
        client,
        SocketAddr::new(network.gateway(), 0),
        ProxyConfig {
            exclude_newer: options.exclude_newer,
            cache_dir: options.cache_dir.clone(),
        },
    )
    .await
    {
        Ok(proxy) => proxy,
        Err(err) => {
            let _ = network.remove().await;
            return Err(err.into());
        }
    };

    let job = Job {
        index_url: proxy.simple_url(),
        allow_host: network.gateway().to_string(),
        requirements: options.requirements.requirements.clone(),
        constraints: options.requirements.constraints.clone(),
        jobs: options.jobs.max(1),
        verify: options.verify_build,
        build_driver: format!("{}/build_driver.py", driver::STAGE_DIR),
        audit: format!("{}/audit.py", driver::STAGE_DIR),
        source_date_epoch: SOURCE_DATE_EPOCH,
        build_timeout: options.build_timeout.as_secs().max(1),
        out: driver::OUT_DIR.to_string(),
    };
    // Serialising a struct of strings, numbers and booleans cannot fail.
    let job_json = serde_json::to_string_pretty(&job).unwrap_or_default();
    let run = async {
        write_readable(&stage.join("job.json"), &job_json)?;
        let mut spec = RunSpec::new(
            image.reference.as_str(),
            vec![
                "python3".into(),
                format!("{}/driver.py", driver::STAGE_DIR),
                format!("{}/job.json", driver::STAGE_DIR),
            ],
            "resolve",
        );
        spec.inputs.push(Mount::new(&stage, driver::STAGE_DIR));
        spec.inputs.push(Mount::new(&pth, driver::AUDIT_PTH));
        spec.output = Some(Mount::new(&out, driver::OUT_DIR));
        spec.network = Network::Named(network.name().to_string());
        // Read by the audit hook at interpreter start-up, the driver's own included.
        spec.env
            .insert("OB_ALLOW_HOST".into(), network.gateway().to_string());
        spec.timeout = options.timeout;
        // Each parallel build gets what one build container of the build stage gets; the sdists,
        // wheels and source trees of the whole resolve live in /tmp, which counts against memory.
        let jobs = i64::try_from(options.jobs.max(1)).unwrap_or(1);
        spec.limits.memory_bytes = spec.limits.memory_bytes.saturating_mul(jobs);
        spec.limits.tmp_bytes = spec.limits.tmp_bytes.saturating_mul(jobs);
        spec.limits.pids = spec.limits.pids.saturating_mul(jobs);
        let mut last_lines: Vec<String> = Vec::new();
        let outcome = sandbox
            .run(&spec, |line| {
                let text = match line {
                    OutputLine::Stdout(text) | OutputLine::Stderr(text) => text,
                };
                if let Some(event) = text.strip_prefix("offline-build-progress ") {
                    report_progress(reporter, event);
                } else {
                    last_lines.push(text);
                    if last_lines.len() > 20 {
                        last_lines.remove(0);
                    }
                }
            })
            .await?;
        Ok::<_, ResolveError>((outcome, last_lines))
    }
    .await;
    let refused = proxy.refused();
    let served = proxy.served();
    proxy.stop().await;
    let removed = network.remove().await;
    let (outcome, last_lines) = run?;
    removed?;

    let result_path = out.join("result.json");
    let result: Option<DriverResult> = fs_err::read_to_string(&result_path)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok());
    let keep_logs = |work: tempfile::TempDir| work.keep();
    let Some(mut result) = result else {
        let kept = keep_logs(work);
        let why = if outcome.timed_out {
            format!("it ran longer than {} s", options.timeout.as_secs())
        } else if outcome.oom_killed {
            "it ran out of memory".to_string()
        } else {
            format!(
                "it exited with code {} without a result:\n{}",
                outcome.exit_code,
                last_lines.join("\n")
            )
        };
        return Err(ResolveError::Driver {
            message: why,
            log: Some(kept.join("out/logs")),
        });
    };
    if let Some(error) = result.error {
        let kept = keep_logs(work);
        return Err(driver_error(error, &kept, &refused));
    }
    let pip_prepared = std::mem::take(&mut result.pip_prepared);
    let lock = make_lock(options, &image, result, &served)?;
    let runtime = lock
        .packages
        .iter()
        .filter(|package| !package.build_only)
        .count();
    Ok(ResolveOutcome {
        runtime,
        build_only: lock.packages.len() - runtime,
        lock,
        elapsed: started.elapsed(),
        pip_prepared,
    })
}

fn report_progress(reporter: &dyn ResolveReporter, event: &str) {
    let Ok(event) = serde_json::from_str::<serde_json::Value>(event) else {
        return;
    };
    let count = |key: &str| event[key].as_u64().unwrap_or(0) as usize;
    match event["event"].as_str() {
        Some("phase") => match event["phase"].as_str() {
            Some("runtime") => reporter.on_phase(Phase::Runtime),
            Some("build-requirements") => reporter.on_phase(Phase::BuildRequirements),
            Some("verify") => reporter.on_phase(Phase::Verify),
            _ => {}
        },
        Some("found") => reporter.on_found(count("packages")),
        Some("discovered") => {
            reporter.on_discovered(event["package"].as_str().unwrap_or(""), count("done"))
        }
        Some("built") => reporter.on_built(
            event["package"].as_str().unwrap_or(""),
            count("done"),
            count("total"),
        ),
        _ => {}
    }
}

/// Maps a log path inside the container (`/out/logs/x.log`) to the kept host copy.
fn host_log(work: &Path, log: Option<&str>) -> PathBuf {
    match log.and_then(|log| log.strip_prefix(&format!("{}/", driver::OUT_DIR))) {
        Some(relative) => work.join("out").join(relative),
        None => work.join("out/logs"),
    }
}

fn driver_error(error: DriverError, work: &Path, refused: &[ob_index::Refusal]) -> ResolveError {
    // An index that served bad bytes explains any failure that follows it.
    let upstream: Vec<String> = refused
        .iter()
        .filter(|refusal| refusal.reason.contains("hash mismatch"))
        .map(|refusal| refusal.reason.clone())
        .collect();
    if !upstream.is_empty() {
        return ResolveError::Proxy {
            reasons: upstream.join("\n"),
        };
    }
    let log = host_log(work, error.log.as_deref());
    let tail = error.tail.clone().unwrap_or_default();
    match error.kind.as_str() {
        "no-sdist" => ResolveError::NoSdist {
            package: error.package,
            requirement: error.requirement.unwrap_or_default(),
            newest_with_sdist: error
                .sdist_versions
                .and_then(|versions| versions.last().cloned()),
        },
        "network" => ResolveError::NeedsNetwork {
            package: error.package,
            via: error.via.unwrap_or_default().into(),
            host: error.host,
            tail,
            log,
        },
        "cycle" => ResolveError::Cycle {
            cycle: error.cycle.unwrap_or_default(),
        },
        "conflict" => ResolveError::Conflict {
            package: error.package,
            explanation: error.message,
            log,
        },
        "hook-failed" | "build-failed" | "bad-sdist" => ResolveError::BuildFailed {
            package: error.package,
            via: error.via.unwrap_or_default().into(),
            message: error.message,
            tail,
            log,
        },
        _ => ResolveError::Driver {
            message: error.message,
            log: Some(log),
        },
    }
}

fn make_lock(
    options: &ResolveOptions,
    image: &image::ImageInfo,
    result: DriverResult,
    served: &BTreeMap<String, ServedFile>,
) -> Result<Lock, ResolveError> {
    let mut packages = Vec::new();
    for package in result.packages {
        // Only what our proxy served and checked goes into the lock; the driver's word is not enough.
        let Some(file) = served.get(&package.filename) else {
            return Err(ResolveError::Driver {
                message: format!(
                    "the driver named `{}` for `{}`, which the index proxy never served",
                    package.filename, package.name
                ),
                log: None,
            });
        };
        if file.project != package.name {
            return Err(ResolveError::Driver {
                message: format!(
                    "`{}` was served for project `{}`, not `{}`",
                    package.filename, file.project, package.name
                ),
                log: None,
            });
        }
        if let Some(allowed) = options.requirements.hashes.get(&package.name)
            && !allowed.contains(&file.sha256)
        {
            return Err(ResolveError::HashMismatch {
                package: package.name,
                filename: file.filename.clone(),
                allowed: allowed.iter().cloned().collect(),
                found: file.sha256.clone(),
            });
        }
        packages.push(Package {
            name: package.name,
            version: package.version,
            requires_python: package.requires_python,
            build_only: !package.runtime,
            dependencies: package.dependencies,
            sdist: Sdist {
                filename: file.filename.clone(),
                url: Some(file.url.clone()),
                path: None,
                upload_time: file.upload_time.map(|time| time.to_string()),
                size: file.size,
                sha256: file.sha256.clone(),
            },
            build_requires: package
                .build_requires
                .into_iter()
                .map(|pin| Pin {
                    name: pin.name,
                    version: pin.version,
                })
                .collect(),
            ..Package::default()
        });
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));
    let lock = Lock {
        requires_python: None,
        packages,
        tool: LockTool {
            image: image.reference.clone(),
            image_digest: image.digest.clone(),
            python_version: result.python_version,
            platform: result.platform,
            index_url: options.index.to_string(),
            exclude_newer: options.exclude_newer.map(|time| time.to_string()),
            build_verified: result.verified,
            source_date_epoch: SOURCE_DATE_EPOCH,
            requirements: options.requirements.requirements.clone(),
            build_order: result.build_order,
        },
        ..Lock::default()
    };
    lock.validate().map_err(|err| ResolveError::Driver {
        message: format!("the resolved lock does not validate: {err}"),
        log: None,
    })?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_newer_takes_instants_and_dates() {
        assert_eq!(
            parse_exclude_newer("2025-06-01T12:00:00+02:00")
                .unwrap()
                .to_string(),
            "2025-06-01T10:00:00Z"
        );
        assert_eq!(
            parse_exclude_newer("2025-06-01").unwrap().to_string(),
            "2025-06-01T00:00:00Z"
        );
        assert!(
            parse_exclude_newer("last tuesday")
                .unwrap_err()
                .to_string()
                .contains("hint:")
        );
    }
}
