//! The build stage's scheduler: every package of the lock as soon as its build requirements
//! have wheels, in parallel up to `jobs`, longest chains first; a wheel already in the output
//! directory from the same inputs is kept, one in the wheel cache is taken, anything else is
//! built by a [`Builder`] step. A failure skips what needs it and nothing else.

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use ob_lock::Lock;

use crate::driver::Mode;
use crate::error::BuildError;
use crate::graph::{BuildGraph, PackageId};
use crate::progress::Reporter;
use crate::report::{BuildReport, PackageReport, PackageStatus, REPORT_VERSION, UsedWheel};
use crate::step::{
    BuildFailure, Builder, CrateInput, EnvWheel, SdistInput, StepRequest, StepResult,
};
use crate::wheel::WheelName;

/// Logs live in `<out>/logs/`.
pub const LOGS_DIR: &str = "logs";

/// Everything one build run shares.
pub(crate) struct Run<'a> {
    pub lock: &'a Lock,
    pub builder: &'a Builder,
    pub reporter: &'a dyn Reporter,
    /// The output directory.
    pub out: &'a std::path::Path,
    /// The verified wheelhouse.
    pub wheelhouse: &'a std::path::Path,
    /// The lock's directory, which its patches are relative to.
    pub lock_dir: &'a std::path::Path,
    /// The image reference, for the report.
    pub image: &'a str,
    pub source_date_epoch: u64,
    pub jobs: usize,
    pub use_cache: bool,
}

impl Run<'_> {
    /// The main pass. Returns one report per package (in lock order) and the first error that
    /// stopped the run, if any.
    pub async fn build_all(
        &self,
        graph: &BuildGraph,
        previous: Option<&BuildReport>,
    ) -> (Vec<PackageReport>, Option<BuildError>) {
        let count = self.lock.packages.len();
        let mut reports: Vec<Option<PackageReport>> = vec![None; count];
        let mut wheels: Vec<Option<UsedWheel>> = vec![None; count];
        let mut started = vec![false; count];
        let mut running = FuturesUnordered::new();
        let mut fatal = None;
        let jobs = self.jobs.max(1);
        self.reporter.on_start(count);

        loop {
            // Start (or find up to date) everything ready, until nothing changes.
            while fatal.is_none() {
                let mut ready: Vec<PackageId> = graph
                    .ids()
                    .filter(|&id| {
                        !started[id.index()]
                            && graph
                                .requires(id)
                                .iter()
                                .all(|j| wheels[j.index()].is_some())
                    })
                    .collect();
                ready.sort_by_key(|&id| {
                    (
                        std::cmp::Reverse(graph.priority(id)),
                        self.lock.packages[id.index()].pin(),
                    )
                });
                let mut finished_any = false;
                for id in ready {
                    let used = self.used_wheels(graph, id, &wheels);
                    let package = &self.lock.packages[id.index()];
                    // A prebuilt wheel's one input is its pinned bytes; it is checked again
                    // on every run (no container: a copy and a read).
                    let key = match &package.wheel {
                        Some(wheel) => wheel.sha256.clone(),
                        None => self.builder.cache_key(
                            &package.name,
                            &package.version,
                            &self.sdist(id),
                            &used,
                        ),
                    };
                    if package.wheel.is_none()
                        && let Some(report) = self.up_to_date(id, &key, previous)
                    {
                        started[id.index()] = true;
                        wheels[id.index()] = Some(self.used_wheel(id, &report));
                        self.reporter.on_package_done(&report, &[]);
                        reports[id.index()] = Some(report);
                        finished_any = true;
                        continue;
                    }
                    if running.len() >= jobs {
                        continue;
                    }
                    started[id.index()] = true;
                    self.reporter
                        .on_package_start(&package.name, &package.version);
                    running.push(async move {
                        let result = self.build_package(id, used, key).await;
                        (id, result)
                    });
                }
                if !finished_any {
                    break;
                }
            }
            let Some((id, result)) = running.next().await else {
                break;
            };
            let package = &self.lock.packages[id.index()];
            let (report, tail) = match result {
                Ok(done) => done,
                Err(err) => {
                    let mut report = self.blank_report(id, Vec::new(), String::new());
                    report.status = PackageStatus::Failed;
                    report.error = Some(format!("{err}"));
                    fatal.get_or_insert(err);
                    (report, Vec::new())
                }
            };
            if report.status.has_wheel() {
                wheels[id.index()] = Some(self.used_wheel(id, &report));
            }
            self.reporter.on_package_done(&report, &tail);
            let failed = !report.status.has_wheel();
            reports[id.index()] = Some(report);
            // Record every finished package at once: if the run is interrupted, the next one
            // finds these wheels up to date instead of building them again.
            if let Err(err) = self.checkpoint(&reports, previous) {
                fatal.get_or_insert(err);
            }
            if failed {
                for dependant in graph.transitive_dependants(id) {
                    if started[dependant.index()] {
                        continue;
                    }
                    started[dependant.index()] = true;
                    let mut skipped = self.blank_report(dependant, Vec::new(), String::new());
                    skipped.status = PackageStatus::Skipped;
                    skipped.error = Some(format!(
                        "not built: it needs `{}` {} to build, which failed",
                        package.name, package.version
                    ));
                    self.reporter.on_package_done(&skipped, &[]);
                    reports[dependant.index()] = Some(skipped);
                }
            }
        }
        // Anything never started (the run stopped early) is reported as skipped.
        let reports = reports
            .into_iter()
            .zip(graph.ids())
            .map(|(report, id)| {
                report.unwrap_or_else(|| {
                    let mut skipped = self.blank_report(id, Vec::new(), String::new());
                    skipped.status = PackageStatus::Skipped;
                    skipped.error = Some("not built: the run stopped early".to_owned());
                    skipped
                })
            })
            .collect();
        (reports, fatal)
    }

    /// The report for `packages`, as the run stands.
    pub fn report(&self, packages: Vec<PackageReport>) -> BuildReport {
        BuildReport {
            report_version: REPORT_VERSION,
            image: self.image.to_owned(),
            image_digest: self.builder.image_digest().to_owned(),
            source_date_epoch: self.source_date_epoch,
            settings_digest: self.builder.settings_digest().to_owned(),
            packages,
            verify_install: None,
        }
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
        self.report(packages).write(self.out)
    }

    /// What a finished package gives the builds that need it.
    fn used_wheel(&self, id: PackageId, report: &PackageReport) -> UsedWheel {
        let package = &self.lock.packages[id.index()];
        UsedWheel {
            name: package.name.clone(),
            version: package.version.clone(),
            wheel: report.wheel.clone().unwrap_or_default(),
            sha256: report.wheel_sha256.clone().unwrap_or_default(),
        }
    }

    /// The wheels package `id` gets in its build environment: exactly its locked build-requires.
    fn used_wheels(
        &self,
        graph: &BuildGraph,
        id: PackageId,
        wheels: &[Option<UsedWheel>],
    ) -> Vec<UsedWheel> {
        let mut used: Vec<UsedWheel> = graph
            .requires(id)
            .iter()
            .filter_map(|j| wheels[j.index()].clone())
            .collect();
        used.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
        used
    }

    /// The previous report's entry for package `id` if it was built from exactly `inputs` and
    /// its wheel is still in the output directory, byte for byte.
    fn up_to_date(
        &self,
        id: PackageId,
        inputs: &str,
        previous: Option<&BuildReport>,
    ) -> Option<PackageReport> {
        let package = &self.lock.packages[id.index()];
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
        let actual = crate::sha256_file(&self.out.join(filename)).ok()?;
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

    pub fn blank_report(
        &self,
        id: PackageId,
        used: Vec<UsedWheel>,
        inputs: String,
    ) -> PackageReport {
        let package = &self.lock.packages[id.index()];
        PackageReport {
            name: package.name.clone(),
            version: package.version.clone(),
            sdist_sha256: package.sdist.sha256.clone(),
            wheel: None,
            wheel_sha256: None,
            top_level: Vec::new(),
            extension_modules: Vec::new(),
            degraded: None,
            build_requires: used,
            image_digest: self.builder.image_digest().to_owned(),
            inputs_digest: inputs,
            duration_seconds: 0.0,
            status: PackageStatus::Failed,
            log: None,
            error: None,
            dropped: Vec::new(),
            reproducible: None,
        }
    }

    /// Why a wheel with these extension modules is degraded, if it is: its sdist ships native
    /// sources and it holds no extension module.
    fn degraded(
        &self,
        sdist: &SdistInput,
        extension_modules: &[String],
        wheel: &std::path::Path,
    ) -> Option<String> {
        if !extension_modules.is_empty() {
            return None;
        }
        let sources = crate::sources::native_sources(&sdist.path, &sdist.filename, wheel);
        (!sources.is_empty()).then(|| {
            format!(
                "its sdist ships native sources ({}) but the wheel holds no extension module; a missing system library is the usual cause",
                sources.join(", ")
            )
        })
    }

    /// The request for package `id` with `used`; the caller keeps `environment` and `sdist`.
    pub fn environment(&self, used: &[UsedWheel]) -> Vec<EnvWheel> {
        used.iter()
            .map(|wheel| EnvWheel {
                wheel: wheel.clone(),
                path: self.out.join(&wheel.wheel),
            })
            .collect()
    }

    pub fn sdist(&self, id: PackageId) -> SdistInput {
        let package = &self.lock.packages[id.index()];
        let crates = self
            .lock
            .crates_of(package)
            .map(|entry| CrateInput {
                name: entry.name.clone(),
                version: entry.version.clone(),
                sha256: entry.sha256.clone(),
                source: entry.source.clone(),
                path: self
                    .wheelhouse
                    .join(ob_fetch::CRATES_DIR)
                    .join(entry.filename()),
                default_registry: self.lock.tool.cargo_default_registry.as_ref()
                    == Some(&entry.source),
            })
            .collect();
        SdistInput {
            path: self.wheelhouse.join(&package.sdist.filename),
            filename: package.sdist.filename.clone(),
            sha256: package.sdist.sha256.clone(),
            crates,
            settings: package.settings.clone(),
            patch_root: self.lock_dir.to_path_buf(),
        }
    }

    /// Package `id`'s upstream wheel (a release `allow-binary` names) into the output
    /// directory: copied there under a hidden name, checked as a built wheel is (sha256
    /// against the lock, one sound archive, RECORD, METADATA, the install policy), then given
    /// its name. A package that fails is reported failed, its dependants skipped.
    fn admit_prebuilt(&self, id: PackageId, wheel: &ob_lock::Wheel) -> PackageReport {
        let package = &self.lock.packages[id.index()];
        let mut report = self.blank_report(id, Vec::new(), wheel.sha256.clone());
        report.sdist_sha256.clear();
        match self.admit(package, wheel) {
            Ok(checked) => {
                report.status = PackageStatus::Prebuilt;
                report.wheel = Some(checked.filename);
                report.wheel_sha256 = Some(checked.sha256);
                report.top_level = checked.top_level;
                report.extension_modules = checked.extension_modules;
            }
            Err(problem) => {
                report.error = Some(format!(
                    "`{}` {}: the upstream wheel `{}` was refused: {problem}",
                    package.name, package.version, wheel.filename
                ));
            }
        }
        report
    }

    /// [`Run::admit_prebuilt`]'s work: a hidden copy (not named as a wheel, removed unless it
    /// is admitted), its sha256 against the lock before anything parses it, the wheel checks,
    /// then its name in the output directory.
    fn admit(
        &self,
        package: &ob_lock::Package,
        wheel: &ob_lock::Wheel,
    ) -> Result<crate::step::ProducedWheel, String> {
        use std::os::unix::fs::PermissionsExt as _;
        let source = self.wheelhouse.join(&wheel.filename);
        let mut copy = tempfile::Builder::new()
            .prefix(".prebuilt-")
            .tempfile_in(self.out)
            .map_err(|err| format!("could not make a copy in `{}`: {err}", self.out.display()))?;
        let mut from = fs_err::File::open(&source).map_err(|err| err.to_string())?;
        std::io::copy(&mut from, copy.as_file_mut()).map_err(|err| err.to_string())?;
        let found = crate::files::sha256_file(copy.path()).map_err(|err| err.to_string())?;
        if found != wheel.sha256 {
            return Err(format!(
                "its sha256 is {found}, but the lock pins {}",
                wheel.sha256
            ));
        }
        let mut checked = crate::step::ProducedWheel::prebuilt(
            copy.path().to_path_buf(),
            &wheel.filename,
            &package.pin(),
            self.builder.policy(),
        )
        .map_err(|problem| problem.to_string())?;
        // Build containers read it as another user.
        fs_err::set_permissions(copy.path(), std::fs::Permissions::from_mode(0o644))
            .map_err(|err| err.to_string())?;
        let target = self.out.join(&wheel.filename);
        copy.persist(&target)
            .map_err(|err| format!("could not name it `{}`: {}", target.display(), err.error))?;
        checked.path = target;
        Ok(checked)
    }

    /// Builds package `id` (or takes its cached wheel) and, when its wheel passed the checks,
    /// puts it into the output directory.
    async fn build_package(
        &self,
        id: PackageId,
        used: Vec<UsedWheel>,
        key: String,
    ) -> Result<(PackageReport, Vec<String>), BuildError> {
        let package = &self.lock.packages[id.index()];
        if let Some(wheel) = &package.wheel {
            return Ok((self.admit_prebuilt(id, wheel), Vec::new()));
        }
        let log_name = format!("{LOGS_DIR}/{}-{}.log", package.name, package.version);
        let environment = self.environment(&used);
        let sdist = self.sdist(id);
        let outcome = self
            .builder
            .step(StepRequest {
                name: &package.name,
                version: &package.version,
                sdist: &sdist,
                environment: &environment,
                mode: Mode::Build,
                log: &self.out.join(&log_name),
                use_cache: self.use_cache,
            })
            .await?;
        for warning in &outcome.warnings {
            self.reporter.on_warning(warning);
        }
        let mut report = self.blank_report(id, used, key);
        report.duration_seconds = (outcome.duration.as_secs_f64() * 100.0).round() / 100.0;
        for dropped in &outcome.dropped {
            self.reporter.on_dropped(
                &package.name,
                &package.version,
                &dropped.file,
                &dropped.reason,
            );
        }
        report.dropped = outcome.dropped.clone();
        match outcome.result {
            StepResult::Wheel(wheel) => {
                wheel.place(&self.out.join(&wheel.filename))?;
                report.status = if wheel.from_cache {
                    PackageStatus::Cached
                } else {
                    report.log = Some(log_name);
                    PackageStatus::Built
                };
                report.wheel = Some(wheel.filename);
                report.wheel_sha256 = Some(wheel.sha256);
                report.top_level = wheel.top_level;
                report.extension_modules = wheel.extension_modules;
                report.degraded = self.degraded(
                    &sdist,
                    &report.extension_modules,
                    &self.out.join(report.wheel.as_deref().unwrap_or_default()),
                );
                Ok((report, Vec::new()))
            }
            StepResult::Failed(failure) => {
                let advice = crate::diagnosis::diagnose_log(&self.out.join(&log_name));
                report.log = Some(log_name);
                report.status = match failure {
                    BuildFailure::TimedOut { .. } => PackageStatus::TimedOut,
                    _ => PackageStatus::Failed,
                };
                let mut error = format!("`{}` {} {failure}", package.name, package.version);
                if let Some(advice) = advice {
                    error.push_str(&format!(" ({advice})"));
                }
                report.error = Some(error);
                Ok((report, outcome.tail))
            }
            // A build step ends with a wheel or a failure.
            StepResult::Requirements | StepResult::Metadata(_) => {
                report.log = Some(log_name);
                report.error = Some(format!(
                    "`{}` {} {}",
                    package.name,
                    package.version,
                    BuildFailure::NoWheel
                ));
                Ok((report, outcome.tail))
            }
        }
    }
}
