//! One `offline-build build` run: verify the wheelhouse and the image, then build every package
//! of the lock in its own container as soon as its build requirements are built (in parallel up
//! to `jobs`), validate each wheel before it joins the output directory, reuse wheels whose
//! inputs did not change, and optionally rebuild everything to compare and test-install.

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ob_lock::Lock;
use ob_sandbox::{Mount, OutputLine, RunOutcome, RunSpec, Sandbox};
use sha2::{Digest, Sha256};

use crate::driver::{self, DIST_DIR, Job, OUT_DIR, SDIST_DIR, WHEELS_DIR};
use crate::error::BuildError;
use crate::graph::BuildGraph;
use crate::progress::Reporter;
use crate::report::{
    BuildReport, DroppedFile, InstallCheck, PackageReport, PackageStatus, REPORT_VERSION,
    Reproducibility, UsedWheel,
};
use crate::wheel::{self, CheckedWheel, WheelName};

/// Lines of a failed build's log shown with the failure.
pub const LOG_TAIL_LINES: usize = 20;
/// Logs live in `<out>/logs/`.
pub const LOGS_DIR: &str = "logs";

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
}

impl BuildOptions {
    /// Defaults: one job per core, 30 minutes per package, no extra checks.
    pub fn new(wheelhouse: impl Into<PathBuf>, out: impl Into<PathBuf>) -> BuildOptions {
        BuildOptions {
            wheelhouse: wheelhouse.into(),
            out: out.into(),
            image: None,
            jobs: std::thread::available_parallelism().map_or(2, usize::from),
            timeout: Duration::from_secs(1800),
            check_reproducible: false,
            verify_install: false,
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

    let sandbox = Sandbox::connect()
        .await
        .map_err(sandbox_error("connecting to Docker"))?;
    // A build killed outright (SIGKILL, a crash) could not remove its containers; do it now.
    sandbox
        .remove_leftovers()
        .await
        .map_err(sandbox_error("removing containers left by killed runs"))?;
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
    let context = Context {
        lock,
        options,
        sandbox,
        image: image.clone(),
        image_id: info.id.clone(),
        image_digest: info.digest.clone(),
        source_date_epoch,
        settings_digest: driver::settings_digest(source_date_epoch),
        reporter,
    };
    let previous = BuildReport::read(out);
    let (packages, fatal) = context.build_all(&graph, previous.as_ref()).await;
    let mut report = BuildReport {
        report_version: REPORT_VERSION,
        image,
        image_digest: info.digest,
        source_date_epoch,
        settings_digest: context.settings_digest.clone(),
        packages,
        verify_install: None,
    };
    remove_stale_wheels(out, &report)?;
    if fatal.is_none() && report.unsuccessful().next().is_none() {
        if options.check_reproducible {
            reporter.on_phase("checking reproducibility");
            context.check_reproducible(&mut report).await?;
        }
        if options.verify_install {
            reporter.on_phase("verifying the install");
            report.verify_install = Some(context.verify_install(&report).await?);
        }
    }
    report.write(out)?;
    match fatal {
        Some(err) => Err(err),
        None => Ok(report),
    }
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
        let sdist = &package.sdist;
        let Some(entry) = manifest
            .files
            .iter()
            .find(|entry| entry.filename == sdist.filename)
        else {
            continue;
        };
        if entry.sha256 != sdist.sha256
            || entry.size != sdist.size
            || entry.name != package.name
            || entry.version != package.version
        {
            disagreements.push(format!(
                "{}: the wheelhouse manifest records {} {} with sha256 {}, the lock says {} {} with sha256 {}",
                sdist.filename,
                entry.name,
                entry.version,
                entry.sha256,
                package.name,
                package.version,
                sdist.sha256
            ));
        }
    }
    Ok(disagreements)
}

fn sandbox_error(action: &str) -> impl FnOnce(ob_sandbox::SandboxError) -> BuildError {
    let action = action.to_owned();
    move |source| BuildError::Sandbox { action, source }
}

/// Everything one run shares.
struct Context<'a> {
    lock: &'a Lock,
    options: &'a BuildOptions,
    sandbox: Sandbox,
    /// The image reference, for the report.
    image: String,
    /// The image ID, fixed for the whole run, so a re-tag in the middle changes nothing.
    image_id: String,
    image_digest: String,
    source_date_epoch: u64,
    settings_digest: String,
    reporter: &'a dyn Reporter,
}

/// A wheel in the output directory.
#[derive(Debug, Clone)]
struct Built {
    filename: String,
    sha256: String,
}

/// One container run and what it left.
struct Attempt {
    outcome: RunOutcome,
    /// The build's private directory; its `out/` was the container's `/out`.
    work: tempfile::TempDir,
    /// The package's wheel (file name and check result), if it left exactly one.
    wheel: Option<(String, Result<CheckedWheel, wheel::WheelProblem>)>,
    dropped: Vec<DroppedFile>,
    tail: Vec<String>,
    network_attempts: Vec<String>,
}

impl Context<'_> {
    /// The main pass. Returns one report per package (sorted like the lock) and the first
    /// error that stopped the run, if any.
    async fn build_all(
        &self,
        graph: &BuildGraph,
        previous: Option<&BuildReport>,
    ) -> (Vec<PackageReport>, Option<BuildError>) {
        let count = self.lock.packages.len();
        let mut reports: Vec<Option<PackageReport>> = vec![None; count];
        let mut wheels: Vec<Option<Built>> = vec![None; count];
        let mut started = vec![false; count];
        let mut running = FuturesUnordered::new();
        let mut fatal = None;
        let jobs = self.options.jobs.max(1);
        self.reporter.on_start(count);

        loop {
            // Start (or find up to date) everything ready, until nothing changes.
            while fatal.is_none() {
                let mut ready: Vec<usize> = (0..count)
                    .filter(|&i| {
                        !started[i] && graph.requires(i).iter().all(|&j| wheels[j].is_some())
                    })
                    .collect();
                ready.sort_by_key(|&i| {
                    (
                        std::cmp::Reverse(graph.priority(i)),
                        self.lock.packages[i].name.clone(),
                    )
                });
                let mut finished_any = false;
                for i in ready {
                    let used = self.used_wheels(graph, i, &wheels);
                    let inputs = self.inputs_digest(i, &used);
                    if let Some(report) = self.up_to_date(i, &inputs, previous) {
                        started[i] = true;
                        wheels[i] = Some(Built {
                            filename: report.wheel.clone().unwrap_or_default(),
                            sha256: report.wheel_sha256.clone().unwrap_or_default(),
                        });
                        self.reporter.on_package_done(&report, &[]);
                        reports[i] = Some(report);
                        finished_any = true;
                        continue;
                    }
                    if running.len() >= jobs {
                        continue;
                    }
                    started[i] = true;
                    let package = &self.lock.packages[i];
                    self.reporter
                        .on_package_start(&package.name, &package.version);
                    running.push(async move {
                        let result = self.build_package(i, used, inputs).await;
                        (i, result)
                    });
                }
                if !finished_any {
                    break;
                }
            }
            let Some((i, result)) = running.next().await else {
                break;
            };
            let package = &self.lock.packages[i];
            let (report, tail) = match result {
                Ok(done) => done,
                Err(err) => {
                    let mut report = self.blank_report(i, Vec::new(), String::new());
                    report.status = PackageStatus::Failed;
                    report.error = Some(format!("{err}"));
                    fatal.get_or_insert(err);
                    (report, Vec::new())
                }
            };
            if let (true, Some(filename), Some(sha256)) = (
                report.status.has_wheel(),
                &report.wheel,
                &report.wheel_sha256,
            ) {
                wheels[i] = Some(Built {
                    filename: filename.clone(),
                    sha256: sha256.clone(),
                });
            }
            self.reporter.on_package_done(&report, &tail);
            let failed = !report.status.has_wheel();
            reports[i] = Some(report);
            // Record every finished package at once: if the run is interrupted, the next one
            // finds these wheels up to date instead of building them again.
            if let Err(err) = self.checkpoint(&reports, previous) {
                fatal.get_or_insert(err);
            }
            if failed {
                for dependant in graph.transitive_dependants(i) {
                    if started[dependant] {
                        continue;
                    }
                    started[dependant] = true;
                    let mut skipped = self.blank_report(dependant, Vec::new(), String::new());
                    skipped.status = PackageStatus::Skipped;
                    skipped.error = Some(format!(
                        "not built: it needs `{}` {} to build, which failed",
                        package.name, package.version
                    ));
                    self.reporter.on_package_done(&skipped, &[]);
                    reports[dependant] = Some(skipped);
                }
            }
        }
        // Anything never started (the run stopped early) is reported as skipped.
        let reports = reports
            .into_iter()
            .enumerate()
            .map(|(i, report)| {
                report.unwrap_or_else(|| {
                    let mut skipped = self.blank_report(i, Vec::new(), String::new());
                    skipped.status = PackageStatus::Skipped;
                    skipped.error = Some("not built: the run stopped early".to_owned());
                    skipped
                })
            })
            .collect();
        (reports, fatal)
    }

    /// Writes the report of the packages finished so far, keeping the previous report's
    /// entries for packages not reached yet (their wheels are still in the output directory).
    fn checkpoint(
        &self,
        reports: &[Option<PackageReport>],
        previous: Option<&BuildReport>,
    ) -> Result<(), BuildError> {
        let packages = self
            .lock
            .packages
            .iter()
            .zip(reports)
            .filter_map(|(package, report)| {
                report.clone().or_else(|| {
                    previous?
                        .packages
                        .iter()
                        .find(|entry| {
                            entry.name == package.name && entry.version == package.version
                        })
                        .cloned()
                })
            })
            .collect();
        BuildReport {
            report_version: REPORT_VERSION,
            image: self.image.clone(),
            image_digest: self.image_digest.clone(),
            source_date_epoch: self.source_date_epoch,
            settings_digest: self.settings_digest.clone(),
            packages,
            verify_install: None,
        }
        .write(&self.options.out)
    }

    /// The wheels package `i` gets in its build environment: exactly its locked build-requires.
    fn used_wheels(
        &self,
        graph: &BuildGraph,
        i: usize,
        wheels: &[Option<Built>],
    ) -> Vec<UsedWheel> {
        let mut used: Vec<UsedWheel> = graph
            .requires(i)
            .iter()
            .filter_map(|&j| {
                let built = wheels[j].as_ref()?;
                let package = &self.lock.packages[j];
                Some(UsedWheel {
                    name: package.name.clone(),
                    version: package.version.clone(),
                    wheel: built.filename.clone(),
                    sha256: built.sha256.clone(),
                })
            })
            .collect();
        used.sort_by(|a, b| a.name.cmp(&b.name));
        used
    }

    /// sha256 over everything the wheel of package `i` is made from.
    fn inputs_digest(&self, i: usize, used: &[UsedWheel]) -> String {
        let package = &self.lock.packages[i];
        let mut hasher = Sha256::new();
        hasher.update(b"offline-build inputs 1\0");
        for part in [
            &package.name,
            &package.version,
            &package.sdist.filename,
            &package.sdist.sha256,
            &self.image_digest,
            &self.settings_digest,
        ] {
            hasher.update(part.as_bytes());
            hasher.update(b"\0");
        }
        for wheel in used {
            for part in [&wheel.name, &wheel.version, &wheel.wheel, &wheel.sha256] {
                hasher.update(part.as_bytes());
                hasher.update(b"\0");
            }
        }
        hex::encode(hasher.finalize())
    }

    /// The previous report's entry for package `i` if it was built from exactly `inputs` and
    /// its wheel is still in the output directory, byte for byte.
    fn up_to_date(
        &self,
        i: usize,
        inputs: &str,
        previous: Option<&BuildReport>,
    ) -> Option<PackageReport> {
        let package = &self.lock.packages[i];
        let entry = previous?.packages.iter().find(|entry| {
            entry.name == package.name
                && entry.version == package.version
                && entry.status.has_wheel()
                && entry.inputs_digest == inputs
        })?;
        let filename = entry.wheel.as_ref()?;
        let recorded = entry.wheel_sha256.as_ref()?;
        if WheelName::parse(filename).is_none() || filename.contains('/') {
            return None;
        }
        let actual = hash_file(&self.options.out.join(filename)).ok()?;
        if &actual != recorded {
            return None;
        }
        let mut report = entry.clone();
        report.status = PackageStatus::UpToDate;
        report.dropped.clear();
        report.reproducible = None;
        report.error = None;
        Some(report)
    }

    fn blank_report(&self, i: usize, used: Vec<UsedWheel>, inputs: String) -> PackageReport {
        let package = &self.lock.packages[i];
        PackageReport {
            name: package.name.clone(),
            version: package.version.clone(),
            sdist_sha256: package.sdist.sha256.clone(),
            wheel: None,
            wheel_sha256: None,
            top_level: Vec::new(),
            build_requires: used,
            image_digest: self.image_digest.clone(),
            inputs_digest: inputs,
            duration_seconds: 0.0,
            status: PackageStatus::Failed,
            log: None,
            error: None,
            dropped: Vec::new(),
            reproducible: None,
        }
    }

    /// Builds package `i` and, when its wheel passes the checks, moves the wheel into the
    /// output directory.
    async fn build_package(
        &self,
        i: usize,
        used: Vec<UsedWheel>,
        inputs: String,
    ) -> Result<(PackageReport, Vec<String>), BuildError> {
        let package = &self.lock.packages[i];
        let log_name = format!("{LOGS_DIR}/{}-{}.log", package.name, package.version);
        let started = Instant::now();
        let attempt = self.run_build(i, &used, &log_name).await?;
        let mut report = self.blank_report(i, used, inputs);
        report.log = Some(log_name);
        report.duration_seconds = (started.elapsed().as_secs_f64() * 100.0).round() / 100.0;
        for dropped in &attempt.dropped {
            self.reporter.on_dropped(
                &package.name,
                &package.version,
                &dropped.file,
                &dropped.reason,
            );
        }
        report.dropped = attempt.dropped.clone();
        match self.judge(i, &attempt) {
            Ok((filename, checked)) => {
                let from = attempt.work.path().join("out").join(&filename);
                let to = self.options.out.join(&filename);
                fs_err::rename(&from, &to).map_err(BuildError::io("move the wheel to", &to))?;
                report.status = PackageStatus::Built;
                report.wheel = Some(filename);
                report.wheel_sha256 = Some(checked.sha256);
                report.top_level = checked.top_level;
                Ok((report, Vec::new()))
            }
            Err((status, error)) => {
                report.status = status;
                report.error = Some(error);
                Ok((report, attempt.tail))
            }
        }
    }

    /// The accepted wheel of an attempt, or the status and message of its failure.
    fn judge(
        &self,
        i: usize,
        attempt: &Attempt,
    ) -> Result<(String, CheckedWheel), (PackageStatus, String)> {
        let package = &self.lock.packages[i];
        let who = format!("`{}` {}", package.name, package.version);
        if attempt.outcome.timed_out {
            return Err((
                PackageStatus::TimedOut,
                format!(
                    "{who} did not finish within {} s and was stopped",
                    self.options.timeout.as_secs()
                ),
            ));
        }
        if !attempt.outcome.success() {
            if !attempt.network_attempts.is_empty() {
                return Err((
                    PackageStatus::Failed,
                    format!(
                        "{who} needs the network to build: it tried to reach {} and builds never have network access",
                        attempt.network_attempts.join(", ")
                    ),
                ));
            }
            let why = if attempt.outcome.oom_killed {
                "it ran out of memory".to_owned()
            } else {
                format!("exit status {}", attempt.outcome.exit_code)
            };
            return Err((
                PackageStatus::Failed,
                format!("{who} failed to build ({why})"),
            ));
        }
        match &attempt.wheel {
            None => Err((
                PackageStatus::Failed,
                format!("{who} finished but left no wheel for itself in its output directory"),
            )),
            Some((filename, Err(problem))) => Err((
                PackageStatus::Failed,
                format!("{who} built `{filename}`, which was refused: {problem}"),
            )),
            Some((filename, Ok(checked))) => Ok((filename.clone(), checked.clone())),
        }
    }

    /// Runs the driver for package `i` in a fresh container and sorts what it left.
    async fn run_build(
        &self,
        i: usize,
        used: &[UsedWheel],
        log_name: &str,
    ) -> Result<Attempt, BuildError> {
        let package = &self.lock.packages[i];
        let out = &self.options.out;
        let work = tempfile::Builder::new()
            .prefix(".build-")
            .tempdir_in(out)
            .map_err(BuildError::io("create a build directory in", out))?;
        let output = work.path().join("out");
        fs_err::create_dir(&output).map_err(BuildError::io("create", &output))?;

        let sdist_path = std::path::absolute(self.options.wheelhouse.join(&package.sdist.filename))
            .map_err(BuildError::io("find", &self.options.wheelhouse))?;
        let mut inputs = vec![Mount::new(
            sdist_path,
            format!("{SDIST_DIR}/{}", package.sdist.filename),
        )];
        let absolute_out = std::path::absolute(out).map_err(BuildError::io("find", out))?;
        for wheel in used {
            inputs.push(Mount::new(
                absolute_out.join(&wheel.wheel),
                format!("{WHEELS_DIR}/{}", wheel.wheel),
            ));
        }
        let wheel_names: Vec<String> = used.iter().map(|wheel| wheel.wheel.clone()).collect();
        let job = Job::new(
            &package.name,
            &package.version,
            &package.sdist.filename,
            &wheel_names,
            self.source_date_epoch,
        );
        let mut spec = RunSpec::new(
            self.image_id.clone(),
            job.command(),
            format!("build:{}-{}", package.name, package.version),
        );
        spec.inputs = inputs;
        spec.output = Some(Mount::new(
            std::path::absolute(&output).map_err(BuildError::io("find", &output))?,
            OUT_DIR,
        ));
        spec.timeout = self.options.timeout;

        let log_path = out.join(log_name);
        let mut log = std::io::BufWriter::new(
            fs_err::File::create(&log_path).map_err(BuildError::io("create", &log_path))?,
        );
        let mut log_error = writeln!(
            log,
            "# offline-build: {} {} from {} (sha256 {}) in {} ({})",
            package.name,
            package.version,
            package.sdist.filename,
            package.sdist.sha256,
            self.image_id,
            self.image_digest
        )
        .err();
        let mut tail = VecDeque::with_capacity(LOG_TAIL_LINES);
        let mut network_attempts = Vec::new();
        let outcome = self
            .sandbox
            .run(&spec, |line| {
                let text = match line {
                    OutputLine::Stdout(text) | OutputLine::Stderr(text) => text,
                };
                if let Some(address) = network_attempt(&text)
                    && !network_attempts.contains(&address)
                    && network_attempts.len() < 5
                {
                    network_attempts.push(address);
                }
                if let Err(err) = writeln!(log, "{text}") {
                    log_error.get_or_insert(err);
                }
                if tail.len() == LOG_TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(text);
            })
            .await
            .map_err(sandbox_error(&format!(
                "building `{}` {}",
                package.name, package.version
            )))?;
        if outcome.timed_out {
            let line = format!(
                "offline-build: stopped after the timeout of {} s",
                self.options.timeout.as_secs()
            );
            let _ = writeln!(log, "{line}");
            tail.push_back(line);
        }
        if let Some(err) = log_error.or_else(|| log.flush().err()) {
            return Err(BuildError::io("write", &log_path)(err));
        }

        let (wheel, dropped) = sort_output(&output, &package.name, &package.version)?;
        Ok(Attempt {
            outcome,
            work,
            wheel,
            dropped,
            tail: tail.into_iter().collect(),
            network_attempts,
        })
    }

    /// Builds every package again in fresh containers and compares the wheels.
    async fn check_reproducible(&self, report: &mut BuildReport) -> Result<(), BuildError> {
        let jobs = self.options.jobs.max(1);
        let mut pending: Vec<usize> = (0..report.packages.len()).collect();
        let mut running = FuturesUnordered::new();
        loop {
            while running.len() < jobs {
                let Some(i) = pending.pop() else { break };
                let entry = &report.packages[i];
                let used = entry.build_requires.clone();
                let log_name = format!("{LOGS_DIR}/{}-{}.check.log", entry.name, entry.version);
                let index = self
                    .lock
                    .packages
                    .iter()
                    .position(|package| package.name == entry.name)
                    .unwrap_or(i);
                running.push(async move {
                    let attempt = self.run_build(index, &used, &log_name).await;
                    (i, log_name, attempt)
                });
            }
            let Some((i, log_name, attempt)) = running.next().await else {
                break;
            };
            let attempt = attempt?;
            let index = self
                .lock
                .packages
                .iter()
                .position(|package| package.name == report.packages[i].name)
                .unwrap_or(i);
            let first = report.packages[i].clone();
            let result = match self.judge(index, &attempt) {
                Err((_, error)) => Reproducibility {
                    identical: false,
                    second_sha256: None,
                    differences: vec![format!("the second build failed: {error}")],
                    log: log_name,
                },
                Ok((filename, checked)) => {
                    let identical = Some(&checked.sha256) == first.wheel_sha256.as_ref()
                        && Some(&filename) == first.wheel.as_ref();
                    let differences = if identical {
                        Vec::new()
                    } else {
                        let first_path = self.options.out.join(first.wheel.unwrap_or_default());
                        let second_path = attempt.work.path().join("out").join(&filename);
                        zip_differences(&first_path, &second_path)
                    };
                    Reproducibility {
                        identical,
                        second_sha256: Some(checked.sha256),
                        differences,
                        log: log_name,
                    }
                }
            };
            report.packages[i].reproducible = Some(result);
        }
        Ok(())
    }

    /// Installs the runtime set from the output directory into a fresh venv in a new
    /// network-less container (pip, `--no-index`), and imports every top-level module.
    async fn verify_install(&self, report: &BuildReport) -> Result<InstallCheck, BuildError> {
        let runtime: Vec<&PackageReport> = self
            .lock
            .runtime_packages()
            .filter_map(|package| {
                report
                    .packages
                    .iter()
                    .find(|entry| entry.name == package.name)
            })
            .collect();
        let requirements: Vec<String> = runtime
            .iter()
            .map(|entry| format!("{}=={}", entry.name, entry.version))
            .collect();
        let mut modules: Vec<String> = runtime
            .iter()
            .flat_map(|entry| entry.top_level.iter().cloned())
            .collect();
        modules.sort();
        modules.dedup();
        let log_name = format!("{LOGS_DIR}/verify-install.log");
        let job = serde_json::json!({
            "dist": DIST_DIR,
            "requirements": requirements,
            "modules": modules,
        });
        let out = std::path::absolute(&self.options.out)
            .map_err(BuildError::io("find", &self.options.out))?;
        let mut spec = RunSpec::new(
            self.image_id.clone(),
            vec![
                "python3".to_owned(),
                "-I".to_owned(),
                "-c".to_owned(),
                driver::VERIFY_INSTALL.to_owned(),
                job.to_string(),
            ],
            "build:verify-install",
        );
        spec.inputs = vec![Mount::new(out, DIST_DIR)];
        spec.timeout = self.options.timeout;
        let log_path = self.options.out.join(&log_name);
        let mut log = std::io::BufWriter::new(
            fs_err::File::create(&log_path).map_err(BuildError::io("create", &log_path))?,
        );
        let mut log_error = None;
        let outcome = self
            .sandbox
            .run(&spec, |line| {
                let text = match line {
                    OutputLine::Stdout(text) | OutputLine::Stderr(text) => text,
                };
                if let Err(err) = writeln!(log, "{text}") {
                    log_error.get_or_insert(err);
                }
            })
            .await
            .map_err(sandbox_error("verifying the install"))?;
        if let Some(err) = log_error.or_else(|| log.flush().err()) {
            return Err(BuildError::io("write", &log_path)(err));
        }
        Ok(InstallCheck {
            ok: outcome.success(),
            requirements,
            modules,
            log: log_name,
        })
    }
}

/// `Some(address)` when a log line reports an attempt to reach the network: the driver's own
/// marker, or the messages that network failures print.
fn network_attempt(line: &str) -> Option<String> {
    if let Some(rest) = line.split("offline-build: network-attempt ").nth(1) {
        let address = rest.split_once(' ').map_or(rest, |(_, address)| address);
        return Some(address.trim().to_owned());
    }
    const SIGNS: &[&str] = &[
        "Network is unreachable",
        "Temporary failure in name resolution",
        "Name or service not known",
        "Could not resolve host",
        "No address associated with hostname",
    ];
    SIGNS
        .iter()
        .find(|sign| line.contains(*sign))
        .map(|sign| format!("an address (\"{sign}\")"))
}

/// Splits what a build left in its output directory into the package's wheel (checked) and
/// everything else (dropped, with the reason).
#[allow(clippy::type_complexity)]
fn sort_output(
    output: &Path,
    name: &str,
    version: &str,
) -> Result<
    (
        Option<(String, Result<CheckedWheel, wheel::WheelProblem>)>,
        Vec<DroppedFile>,
    ),
    BuildError,
> {
    let mut candidates = Vec::new();
    let mut dropped = Vec::new();
    let mut entries: Vec<_> = fs_err::read_dir(output)
        .map_err(BuildError::io("list", output))?
        .collect::<Result<_, _>>()
        .map_err(BuildError::io("list", output))?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let file = entry.file_name().to_string_lossy().into_owned();
        let kind = entry
            .file_type()
            .map_err(BuildError::io("inspect", entry.path()))?;
        let reason = if kind.is_symlink() {
            Some("a symlink".to_owned())
        } else if kind.is_dir() {
            Some("a directory".to_owned())
        } else if !kind.is_file() {
            Some("not a regular file".to_owned())
        } else {
            match WheelName::parse(&file) {
                None => Some("not a wheel".to_owned()),
                Some(parsed) if !parsed.is(name, version) => {
                    Some(format!("a wheel, but not of `{name}` {version}"))
                }
                Some(_) => None,
            }
        };
        match reason {
            Some(reason) => dropped.push(DroppedFile { file, reason }),
            None => candidates.push(file),
        }
    }
    if candidates.len() > 1 {
        for file in candidates.drain(..) {
            dropped.push(DroppedFile {
                file,
                reason: format!("one of several wheels of `{name}` {version}"),
            });
        }
    }
    let wheel = candidates.pop().map(|file| {
        let checked = wheel::check_wheel(&output.join(&file), name, version);
        (file, checked)
    });
    Ok((wheel, dropped))
}

/// Removes wheels from the output directory that no package of this report owns (older
/// versions, packages gone from the lock, failed rebuilds), so `out/*.whl` is the built set.
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

/// Lowercase hex sha256 of a file, streamed.
fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = fs_err::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

/// How two wheels differ: entries added, removed or changed, or, when every entry is the same,
/// that only the zip's own metadata (times, order, compression) differs.
fn zip_differences(first: &Path, second: &Path) -> Vec<String> {
    let entries = |path: &Path| -> Result<Vec<(String, u32, u64)>, String> {
        let file = fs_err::File::open(path).map_err(|err| err.to_string())?;
        let mut archive = zip::ZipArchive::new(file).map_err(|err| err.to_string())?;
        let mut list = Vec::new();
        for index in 0..archive.len() {
            let entry = archive.by_index_raw(index).map_err(|err| err.to_string())?;
            list.push((entry.name().to_owned(), entry.crc32(), entry.size()));
        }
        list.sort();
        Ok(list)
    };
    let (first, second) = match (entries(first), entries(second)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(err), _) | (_, Err(err)) => return vec![format!("could not compare: {err}")],
    };
    let mut differences = Vec::new();
    for (name, crc, size) in &first {
        match second.iter().find(|(other, _, _)| other == name) {
            None => differences.push(format!("removed {name}")),
            Some((_, other_crc, other_size)) if (other_crc, other_size) != (crc, size) => {
                differences.push(format!("changed {name}"));
            }
            Some(_) => {}
        }
    }
    for (name, _, _) in &second {
        if !first.iter().any(|(other, _, _)| other == name) {
            differences.push(format!("added {name}"));
        }
    }
    if differences.is_empty() {
        differences.push(
            "same entries and contents; the zip metadata (times, order or compression) differs"
                .to_owned(),
        );
    }
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_attempts_are_recognised_by_marker_and_by_message() {
        assert_eq!(
            network_attempt("offline-build: network-attempt socket.connect ('172.17.0.1', 8080)")
                .as_deref(),
            Some("('172.17.0.1', 8080)")
        );
        assert!(network_attempt("OSError: [Errno 101] Network is unreachable").is_some());
        assert!(network_attempt("compiling foo.c").is_none());
    }
}
