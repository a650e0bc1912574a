//! One `offline-build build` run: check the wheelhouse and the image against the lock before
//! any container starts, build through the scheduler, then the optional checks, and the report.

use crate::install_policy::InstallPolicy;
use crate::overlap::{self, SetWheel};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ob_lock::Lock;
use ob_sandbox::Sandbox;

use crate::cache::WheelCache;
use crate::driver;
use crate::error::BuildError;
use crate::graph::BuildGraph;
use crate::progress::Reporter;
use crate::report::BuildReport;
use crate::schedule::{LOGS_DIR, Run};
use crate::step::{Builder, BuilderOptions};

/// What to build where, and how.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// Directory holding the sdists (checked against the lock before anything runs).
    pub wheelhouse: PathBuf,
    /// Directory that receives the wheels, `build-report.json` and `logs/`.
    pub out: PathBuf,
    /// Image to build in; default: the lock's image, else the default builder image.
    pub image: Option<String>,
    /// Builds running at once.
    pub jobs: usize,
    /// Wall-clock limit of one package's build.
    pub timeout: Duration,
    /// Build everything a second time in fresh containers and compare the wheels.
    pub check_reproducible: bool,
    /// Install the runtime set from the output in a fresh network-less container and import it.
    pub verify_install: bool,
    /// The wheel cache to take wheels from and store them in; `None` builds everything.
    pub cache: Option<PathBuf>,
    /// What a wheel may install beyond the rules (`--allow-pth`).
    pub policy: InstallPolicy,
    /// The OCI runtime every build runs under (`--runtime runsc` for gVisor); `None`: the
    /// daemon's default.
    pub runtime: Option<String>,
    /// Most bytes one build's output directory may hold ([`crate::step::DEFAULT_OUTPUT_LIMIT`]).
    pub output_limit: u64,
    /// The lock's directory: the patches it pins are named relative to it.
    pub lock_dir: PathBuf,
}

impl BuildOptions {
    /// Defaults: one job per core, 30 minutes per package, no extra checks, no wheel cache.
    pub fn new(wheelhouse: impl Into<PathBuf>, out: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions {
            wheelhouse: wheelhouse.into(),
            out: out.into(),
            image: None,
            jobs: std::thread::available_parallelism().map_or(2, usize::from),
            timeout: Duration::from_secs(1800),
            check_reproducible: false,
            verify_install: false,
            cache: None,
            policy: InstallPolicy::default(),
            runtime: None,
            output_limit: crate::step::DEFAULT_OUTPUT_LIMIT,
            lock_dir: PathBuf::from("."),
        }
    }
}

/// Builds every package of `lock`. Returns the report (also written to
/// `<out>/build-report.json`), in which packages that failed are marked; an `Err` means the
/// build could not start or could not go on (bad wheelhouse, image, Docker).
pub async fn build(
    lock: &Lock,
    options: &BuildOptions,
    reporter: &dyn Reporter,
) -> Result<BuildReport, BuildError> {
    let graph = BuildGraph::from_lock(lock)?;
    verify_sdists(lock, &options.wheelhouse).await?;
    verify_patches(lock, &options.lock_dir)?;

    let sandbox = Sandbox::connect()
        .await
        .map_err(sandbox_error("connecting to Docker"))?;
    // A build killed outright (SIGKILL, a crash) could not remove its containers; do it now.
    sandbox
        .remove_leftovers()
        .await
        .map_err(sandbox_error("removing containers left by killed runs"))?;
    if let Some(runtime) = &options.runtime {
        sandbox
            .check_runtime(runtime)
            .await
            .map_err(sandbox_error("checking the runtime"))?;
    }
    let image = options
        .image
        .clone()
        .or_else(|| Some(lock.tool.image.clone()).filter(|image| !image.is_empty()))
        .unwrap_or_else(|| ob_sandbox::image::DEFAULT_IMAGE.to_owned());
    let info = ob_sandbox::image::require(&sandbox, Some(&image))
        .await
        .map_err(sandbox_error(&format!("looking up the image `{image}`")))?;
    if !lock.tool.image_digest.is_empty() && lock.tool.image_digest != info.digest {
        return Err(BuildError::ImageMismatch {
            image,
            locked: lock.tool.image_digest.clone(),
            actual: info.digest,
        });
    }

    let out = &options.out;
    let logs = out.join(LOGS_DIR);
    fs_err::create_dir_all(&logs).map_err(BuildError::io("create", &logs))?;
    let source_date_epoch = match lock.tool.source_date_epoch {
        0 => driver::DEFAULT_SOURCE_DATE_EPOCH,
        epoch => epoch,
    };
    let builder = Builder::new(BuilderOptions {
        executor: Arc::new(sandbox),
        // The image ID, fixed for the whole run, so a re-tag in the middle changes nothing.
        image: info.id.clone(),
        image_digest: info.digest.clone(),
        source_date_epoch,
        timeout: options.timeout,
        jobs: options.jobs,
        cache: options.cache.clone().map(WheelCache::new),
        scratch: out.clone(),
        policy: options.policy.clone(),
        runtime: options.runtime.clone(),
        output_limit: options.output_limit,
    })?;
    let run = Run {
        lock,
        builder: &builder,
        reporter,
        out,
        wheelhouse: &options.wheelhouse,
        lock_dir: &options.lock_dir,
        image: &image,
        source_date_epoch,
        jobs: options.jobs,
        use_cache: options.cache.is_some(),
    };
    let previous = BuildReport::read(out);
    let (packages, fatal) = run.build_all(&graph, previous.as_ref()).await;
    let mut report = run.report(packages);
    fail_overlapping_wheels(lock, out, &mut report)?;
    remove_stale_wheels(out, &report)?;
    if fatal.is_none() && report.unsuccessful().next().is_none() {
        if options.check_reproducible {
            reporter.on_phase("checking reproducibility");
            run.check_reproducible(&mut report).await?;
        }
        if options.verify_install {
            reporter.on_phase("verifying the install");
            report.verify_install = Some(run.verify_install(&report).await?);
        }
    }
    report.write(out)?;
    match fatal {
        Some(err) => Err(err),
        None => Ok(report),
    }
}

/// Checks every patch the lock pins (beside the lock) before any container starts; each step
/// checks its copy again. A patch must be a regular file inside the lock's directory (no link
/// out of it: its sha256 would be printed) and small: a link to a device or a FIFO would stall
/// the build here.
fn verify_patches(lock: &Lock, lock_dir: &Path) -> Result<(), BuildError> {
    let mut root = None;
    for package in &lock.packages {
        for patch in &package.settings.patches {
            let path = lock_dir.join(&patch.path);
            let refused = |problem: String| BuildError::Patch {
                package: package.name.clone(),
                path: path.clone(),
                problem,
            };
            if root.is_none() {
                root = Some(
                    fs_err::canonicalize(lock_dir)
                        .map_err(|error| refused(format!("could not be read: {error}")))?,
                );
            }
            let canonical = fs_err::canonicalize(&path)
                .map_err(|error| refused(format!("could not be read: {error}")))?;
            if root
                .as_ref()
                .is_some_and(|root| !canonical.starts_with(root))
            {
                return Err(refused(
                    "leads outside the lock's directory (through a link)".to_owned(),
                ));
            }
            let metadata = fs_err::metadata(&canonical)
                .map_err(|error| refused(format!("could not be read: {error}")))?;
            if !metadata.is_file() {
                return Err(refused("is not a regular file".to_owned()));
            }
            if metadata.len() > ob_lock::MAX_PATCH_BYTES {
                return Err(refused(format!(
                    "is larger than {} bytes",
                    ob_lock::MAX_PATCH_BYTES
                )));
            }
            let found = crate::files::sha256_file(&canonical)
                .map_err(|error| refused(format!("could not be read: {error}")))?;
            if found != patch.sha256 {
                return Err(refused(format!(
                    "has sha256 {found}, but the lock pins {}",
                    patch.sha256
                )));
            }
        }
    }
    Ok(())
}

/// Checks every sdist against the lock (size and full sha256) before any container starts.
async fn verify_sdists(lock: &Lock, wheelhouse: &Path) -> Result<(), BuildError> {
    let owned_lock = lock.clone();
    let owned_wheelhouse = wheelhouse.to_owned();
    let check = tokio::task::spawn_blocking(move || {
        ob_fetch::verify_wheelhouse(&owned_lock, &owned_wheelhouse)
    })
    .await
    .map_err(|join| BuildError::io("check", wheelhouse)(std::io::Error::other(join)))?
    .map_err(|source| BuildError::WheelhouseCheck {
        wheelhouse: wheelhouse.to_owned(),
        source,
    })?;
    let mut wrong: Vec<String> = check
        .wrong
        .iter()
        .map(|wrong| format!("{}: {}", wrong.filename, wrong.reason()))
        .collect();
    wrong.extend(manifest_disagreements(lock, wheelhouse)?);
    if check.missing.is_empty() && wrong.is_empty() {
        return Ok(());
    }
    Err(BuildError::Wheelhouse {
        wheelhouse: wheelhouse.to_owned(),
        missing: check.missing,
        wrong,
    })
}

/// Where fetch's manifest (if the wheelhouse has one) records a file differently from the lock:
/// the wheelhouse was fetched for another lock, or edited since.
fn manifest_disagreements(lock: &Lock, wheelhouse: &Path) -> Result<Vec<String>, BuildError> {
    if !wheelhouse.join(ob_fetch::MANIFEST_FILE).is_file() {
        // A wheelhouse filled by hand has none; the files themselves were verified above.
        return Ok(Vec::new());
    }
    let manifest =
        ob_fetch::Manifest::read(wheelhouse).map_err(|source| BuildError::WheelhouseCheck {
            wheelhouse: wheelhouse.to_owned(),
            source,
        })?;
    let mut disagreements = Vec::new();
    for package in &lock.packages {
        let (filename, sha256, size) = (
            package.filename(),
            package.file_sha256(),
            package.file_size(),
        );
        let Some(entry) = manifest
            .files
            .iter()
            .find(|entry| entry.filename == filename)
        else {
            continue;
        };
        if entry.sha256 != sha256
            || entry.size != size
            || entry.name != package.name
            || entry.version != package.version
        {
            disagreements.push(format!(
                "{filename}: the wheelhouse manifest records {} {} with sha256 {}, the lock says {} {} with sha256 {sha256}",
                entry.name, entry.version, entry.sha256, package.name, package.version,
            ));
        }
    }
    Ok(disagreements)
}

fn sandbox_error(action: &str) -> impl FnOnce(ob_sandbox::SandboxError) -> BuildError {
    let action = action.to_owned();
    move |source| BuildError::Sandbox { action, source }
}

/// Removes wheels from the output directory that no package of this report owns (older
/// versions, packages gone from the lock, failed rebuilds), so `out/*.whl` is the built set.
/// Fails every runtime package whose wheel installs a file another runtime wheel installs with
/// other contents (`overlap`); their wheels then leave the output directory with the others
/// that no package owns.
fn fail_overlapping_wheels(
    lock: &Lock,
    out: &Path,
    report: &mut BuildReport,
) -> Result<(), BuildError> {
    let runtime: std::collections::BTreeSet<(String, &str)> = lock
        .runtime_packages()
        .map(|package| {
            (
                ob_lock::normalize_name(&package.name),
                package.version.as_str(),
            )
        })
        .collect();
    let wheels: Vec<(String, PathBuf)> = report
        .packages
        .iter()
        .filter(|package| package.status.has_wheel())
        .filter(|package| runtime.contains(&(package.name.clone(), package.version.as_str())))
        .filter_map(|package| {
            let wheel = package.wheel.as_ref()?;
            Some((package.name.clone(), out.join(wheel)))
        })
        .collect();
    let set: Vec<SetWheel<'_>> = wheels
        .iter()
        .map(|(name, path)| SetWheel { name, path })
        .collect();
    let found = overlap::overlaps(&set)
        .map_err(|message| BuildError::io("read", out)(std::io::Error::other(message)))?;
    for found in found {
        for (at, name) in found.packages.iter().enumerate() {
            let other = &found.packages[1 - at];
            let Some(package) = report.packages.iter_mut().find(|p| &p.name == name) else {
                continue;
            };
            let problem = format!(
                "its wheel installs `{}`, which `{other}` also installs with other contents; \
                 pip would let one overwrite the other",
                found.path
            );
            package.error = Some(match package.error.take() {
                Some(before) => format!("{before}; {problem}"),
                None => problem,
            });
            package.status = crate::PackageStatus::Failed;
            package.wheel = None;
            package.wheel_sha256 = None;
        }
    }
    Ok(())
}

fn remove_stale_wheels(out: &Path, report: &BuildReport) -> Result<(), BuildError> {
    let owned: Vec<&str> = report
        .packages
        .iter()
        .filter(|package| package.status.has_wheel())
        .filter_map(|package| package.wheel.as_deref())
        .collect();
    for entry in fs_err::read_dir(out).map_err(BuildError::io("list", out))? {
        let entry = entry.map_err(BuildError::io("list", out))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".whl") && !owned.contains(&file.as_str()) {
            fs_err::remove_file(entry.path()).map_err(BuildError::io("remove", entry.path()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lock_with_patch(path: &str, sha256: &str) -> Lock {
        Lock {
            packages: vec![ob_lock::Package {
                name: "tuned".into(),
                version: "1.0".into(),
                settings: ob_lock::BuildSettings {
                    patches: vec![ob_lock::Patch {
                        path: path.into(),
                        sha256: sha256.into(),
                    }],
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn problem(result: Result<(), BuildError>) -> String {
        match result {
            Err(BuildError::Patch { problem, .. }) => problem,
            other => panic!("not a patch error: {other:?}"),
        }
    }

    /// Regression (attacker's review): a patch that is a link out of the lock's directory had
    /// its target hashed and the hash printed; one that is a FIFO or a device stalled the build.
    #[test]
    fn a_patch_must_be_a_small_regular_file_inside_the_lock_directory() {
        let dir = tempfile::tempdir().unwrap();
        let lock_dir = dir.path().join("repo");
        fs_err::create_dir_all(lock_dir.join("patches")).unwrap();
        fs_err::write(lock_dir.join("patches/ok.patch"), "x").unwrap();
        let sha256 = crate::files::sha256_file(&lock_dir.join("patches/ok.patch")).unwrap();
        assert!(verify_patches(&lock_with_patch("patches/ok.patch", &sha256), &lock_dir).is_ok());
        assert!(
            problem(verify_patches(
                &lock_with_patch("patches/ok.patch", &"0".repeat(64)),
                &lock_dir
            ))
            .contains("but the lock pins")
        );

        fs_err::write(dir.path().join("secret"), "host file").unwrap();
        std::os::unix::fs::symlink(
            dir.path().join("secret"),
            lock_dir.join("patches/out.patch"),
        )
        .unwrap();
        let out = problem(verify_patches(
            &lock_with_patch("patches/out.patch", &sha256),
            &lock_dir,
        ));
        assert!(out.contains("outside the lock's directory"), "{out}");
        assert!(
            !out.contains("sha256"),
            "the target's digest is not shown: {out}"
        );

        std::os::unix::fs::symlink("/dev/zero", lock_dir.join("patches/zero.patch")).unwrap();
        let zero = problem(verify_patches(
            &lock_with_patch("patches/zero.patch", &sha256),
            &lock_dir,
        ));
        assert!(zero.contains("outside"), "{zero}");

        let fifo = lock_dir.join("patches/fifo.patch");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let fifo = problem(verify_patches(
            &lock_with_patch("patches/fifo.patch", &sha256),
            &lock_dir,
        ));
        assert!(fifo.contains("not a regular file"), "{fifo}");
    }
}
