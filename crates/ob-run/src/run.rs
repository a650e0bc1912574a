//! One `offline-build run`: check the mounts, make sure the runtime image exists, snapshot the
//! results directory, run the program under the locked-down profile, and prune old snapshots.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ob_sandbox::{Limits, Mount, Network, OutputLine, RunOutcome, RunSpec, Sandbox};

use crate::assemble::{AssembleOptions, METADATA_DIR, RuntimeImage, VENV_DIR, assemble};
use crate::error::RunError;
use crate::snapshot::{Snapshot, Snapshots};

/// What to run and with what.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The lock file.
    pub lock: PathBuf,
    /// The build's output directory.
    pub out: PathBuf,
    /// Read-only mounts.
    pub data: Vec<Mount>,
    /// The one writable mount.
    pub results: Option<Mount>,
    /// A Docker network to join; `None` is no network at all.
    pub network: Option<String>,
    /// Program and arguments.
    pub command: Vec<String>,
    /// Snapshots of the results directory to keep; 0 takes none.
    pub keep: usize,
    /// Wall-clock limit; the program is killed when it is reached.
    pub timeout: Duration,
    /// Memory, pids, CPU and `/tmp` limits.
    pub limits: Limits,
    /// The OCI runtime the program runs under (`runsc` for gVisor); `None`: the daemon's default.
    pub runtime: Option<String>,
}

impl RunOptions {
    /// Defaults: `pylock.toml`, `dist/`, no mounts, no network, 10 snapshots, 24 hours.
    pub fn new(command: Vec<String>) -> RunOptions {
        RunOptions {
            lock: PathBuf::from("pylock.toml"),
            out: PathBuf::from("dist"),
            data: Vec::new(),
            results: None,
            network: None,
            command,
            keep: crate::snapshot::DEFAULT_KEEP,
            timeout: Duration::from_secs(24 * 3600),
            limits: Limits::default(),
            runtime: None,
        }
    }
}

/// How a run went.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The image it ran in.
    pub image: RuntimeImage,
    /// The snapshot taken before it, if there is a results directory.
    pub snapshot: Option<Snapshot>,
    /// Snapshots dropped by retention afterwards.
    pub dropped: Vec<Snapshot>,
    /// Exit code, timeout, OOM.
    pub outcome: RunOutcome,
}

/// Progress of [`run`]; the binary prints these.
pub trait Reporter {
    /// A step began or ended, e.g. "snapshot 20261127T051500Z-1 of `results` taken".
    fn on_step(&self, message: &str);
}

impl Reporter for () {
    fn on_step(&self, _message: &str) {}
}

/// Parses `HOST:CONTAINER` (split at the last colon, so a host path may contain one); the host
/// path is made absolute and must be an existing directory unless `create` (then it is made).
pub fn parse_mount(spec: &str, create: bool) -> Result<Mount, RunError> {
    let bad = |problem: &str, hint: &str| RunError::BadMount {
        spec: spec.to_string(),
        problem: problem.to_string(),
        hint: hint.to_string(),
    };
    let Some((host, container)) = spec.rsplit_once(':') else {
        return Err(bad(
            "it is not HOST:CONTAINER",
            "write e.g. `--data ./input:/data`",
        ));
    };
    if host.is_empty() || !container.starts_with('/') || container == "/" {
        return Err(bad(
            "the host path must be given and the container path must be absolute and not `/`",
            "write e.g. `--data ./input:/data`",
        ));
    }
    for reserved in [VENV_DIR, METADATA_DIR, "/tmp"] {
        if Path::new(container).starts_with(reserved) || Path::new(reserved).starts_with(container)
        {
            return Err(bad(
                &format!(
                    "`{container}` would hide or sit inside `{reserved}`, which the run needs"
                ),
                "mount it somewhere else, e.g. under `/data` or `/results`",
            ));
        }
    }
    let host = Path::new(host);
    if create && !host.exists() {
        fs_err::create_dir_all(host).map_err(RunError::io("create", host))?;
    }
    let host = fs_err::canonicalize(host).map_err(|_| {
        bad(
            &format!("`{}` does not exist", host.display()),
            "create it first, or check the path",
        )
    })?;
    Ok(Mount::new(host, container))
}

/// Runs `options.command` in the runtime image (assembled first when needed) with no network
/// unless one is named, the data mounts read-only and the results mount writable, after a
/// snapshot of the results directory. Each line the program prints goes to `on_line`; its exit
/// code is in the report.
pub async fn run(
    sandbox: &Sandbox,
    options: &RunOptions,
    reporter: &dyn Reporter,
    on_line: impl FnMut(OutputLine),
) -> Result<RunReport, RunError> {
    check_mounts(&options.data, options.results.as_ref())?;
    if let Some(runtime) = &options.runtime {
        sandbox
            .check_runtime(runtime)
            .await
            .map_err(RunError::sandbox("check the runtime"))?;
    }
    let image = assemble(
        sandbox,
        &AssembleOptions {
            lock: options.lock.clone(),
            out: options.out.clone(),
            tag: None,
        },
    )
    .await?;
    reporter.on_step(&format!(
        "{} runtime image `{}`",
        if image.reused { "Using" } else { "Assembled" },
        image.reference
    ));
    if !image.evicted.is_empty() {
        reporter.on_step(&crate::assemble::evicted_message(&image.evicted));
    }

    let snapshots = match &options.results {
        Some(results) if options.keep > 0 => Some(Snapshots::for_results(&results.source)?),
        _ => None,
    };
    let snapshot = match &snapshots {
        Some(snapshots) => {
            let snapshot = snapshots.take()?;
            reporter.on_step(&format!(
                "Snapshot `{}` of `{}` taken ({} files, {} bytes)",
                snapshot.id,
                snapshots.results().display(),
                snapshot.files,
                snapshot.bytes
            ));
            if !snapshot.skipped.is_empty() {
                reporter.on_step(&format!(
                    "Left out of the snapshot (neither file, directory nor symlink): {}",
                    snapshot
                        .skipped
                        .iter()
                        .map(|path| path.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            Some(snapshot)
        }
        None => None,
    };

    let mut spec = RunSpec::new(image.id.clone(), options.command.clone(), "run:program");
    spec.env
        .insert("PATH".to_string(), crate::assemble::runtime_path());
    spec.env
        .insert("VIRTUAL_ENV".to_string(), VENV_DIR.to_string());
    // The rootfs is read-only: byte-compiling on import could not be saved anyway.
    spec.env
        .insert("PYTHONDONTWRITEBYTECODE".to_string(), "1".to_string());
    spec.inputs = options.data.clone();
    spec.output = options.results.clone();
    spec.network = match &options.network {
        Some(name) => Network::Named(name.clone()),
        None => Network::None,
    };
    spec.workdir = Some(
        options
            .results
            .as_ref()
            .map_or_else(|| "/tmp".to_string(), |results| results.target.clone()),
    );
    spec.limits = options.limits.clone();
    spec.runtime = options.runtime.clone();
    spec.timeout = options.timeout;
    // The sandbox makes the results directory writable for everyone (the container's user is
    // not its owner); it goes back to its own mode afterwards, whatever the run did.
    let results_mode = options.results.as_ref().and_then(|results| {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(&results.source)
            .ok()
            .map(|meta| (results.source.clone(), meta.permissions().mode() & 0o777))
    });
    let outcome = sandbox.run(&spec, on_line).await;
    if let Some((path, mode)) = results_mode {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(RunError::io("restore the mode of", &path))?;
    }
    let outcome = outcome.map_err(RunError::sandbox(format!(
        "could not run `{}`",
        options.command.join(" ")
    )))?;

    let dropped = match &snapshots {
        Some(snapshots) => snapshots.prune(options.keep)?,
        None => Vec::new(),
    };
    Ok(RunReport {
        image,
        snapshot,
        dropped,
        outcome,
    })
}

/// A data directory that is also (inside) the results directory, or the other way round, would
/// be writable through the results mount: refuse, since `--data` promises read-only.
fn check_mounts(data: &[Mount], results: Option<&Mount>) -> Result<(), RunError> {
    let mut targets: Vec<&str> = data.iter().map(|mount| mount.target.as_str()).collect();
    targets.extend(results.map(|mount| mount.target.as_str()));
    for (i, target) in targets.iter().enumerate() {
        if targets[..i].contains(target) {
            return Err(RunError::BadMount {
                spec: (*target).to_string(),
                problem: "two mounts share this container path".to_string(),
                hint: "give each --data and --results its own container path".to_string(),
            });
        }
    }
    let Some(results) = results else {
        return Ok(());
    };
    for mount in data {
        if mount.source.starts_with(&results.source) || results.source.starts_with(&mount.source) {
            return Err(RunError::BadMount {
                spec: format!("{}:{}", mount.source.display(), mount.target),
                problem: format!(
                    "it overlaps the results directory `{}`, which is writable",
                    results.source.display()
                ),
                hint: "keep data and results in separate directories".to_string(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_mount_inside_the_results_is_refused() {
        let results = Mount::new("/srv/project", "/results");
        let data = [Mount::new("/srv/project/input", "/data")];
        let err = check_mounts(&data, Some(&results)).unwrap_err().to_string();
        assert!(
            err.contains("/srv/project/input") && err.contains("writable"),
            "{err}"
        );
    }

    #[test]
    fn mounts_over_the_venv_or_without_a_colon_are_refused() {
        for spec in [
            "/srv/x:/opt/venv",
            "/srv/x:/opt",
            "/srv/x",
            "/srv/x:relative",
            "/srv/x:/",
        ] {
            let err = parse_mount(spec, false).unwrap_err();
            assert!(matches!(err, RunError::BadMount { .. }), "{spec}: {err}");
        }
    }
}
