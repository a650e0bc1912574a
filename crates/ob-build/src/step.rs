//! One step: the build driver on one package, in a fresh container of its own (network none,
//! only its verified sdist and its pinned build wheels mounted, read-only), and what came of it.
//! `build` runs one build step per package; `resolve` runs its hook steps and verification
//! builds through the very same [`Builder::step`]. A build step whose inputs match a wheel
//! cache entry takes that entry instead of running.

use std::collections::VecDeque;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ob_sandbox::{Executor, Mount, OutputLine, RunOutcome, RunSpec};

use crate::cache::{CacheEntry, KeyInputs, Lookup, WheelCache};
use crate::driver::{
    self, CARGO_DIR, DriverEvent, Job, Mode, OUT_DIR, PATCHES_DIR, SDIST_DIR, STAGE_MOUNT,
    StageDir, WHEELS_DIR,
};
use crate::error::BuildError;
use crate::install_policy::InstallPolicy;
use crate::metadata::CoreMetadata;
use crate::report::{DroppedFile, UsedWheel};
use crate::wheel::{self, CheckedWheel, WheelName, WheelProblem};

/// Lines of a failed step's log shown with the failure.
pub const LOG_TAIL_LINES: usize = 20;

/// Most of a step's output its log keeps from the start, and from the end: a build that prints
/// without end fills no disk, and what it printed last (usually its error) is kept.
const LOG_HEAD_BYTES: u64 = 32 << 20;
const LOG_END_BYTES: u64 = 8 << 20;

/// A step's log file: the first [`LOG_HEAD_BYTES`] of output as it comes, then only the last
/// [`LOG_END_BYTES`], written at the end after a line saying what was left out.
pub(crate) struct CappedLog<W: std::io::Write> {
    out: W,
    written: u64,
    end: VecDeque<String>,
    end_bytes: u64,
    dropped_lines: u64,
    dropped_bytes: u64,
}

impl<W: std::io::Write> CappedLog<W> {
    pub(crate) fn new(out: W) -> CappedLog<W> {
        CappedLog {
            out,
            written: 0,
            end: VecDeque::new(),
            end_bytes: 0,
            dropped_lines: 0,
            dropped_bytes: 0,
        }
    }

    pub(crate) fn line(&mut self, text: &str) -> std::io::Result<()> {
        let size = text.len() as u64 + 1;
        if self.written + size <= LOG_HEAD_BYTES {
            self.written += size;
            return writeln!(self.out, "{text}");
        }
        self.end.push_back(text.to_owned());
        self.end_bytes += size;
        while self.end_bytes > LOG_END_BYTES {
            let Some(old) = self.end.pop_front() else {
                break;
            };
            self.end_bytes -= old.len() as u64 + 1;
            self.dropped_lines += 1;
            self.dropped_bytes += old.len() as u64 + 1;
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        if self.dropped_lines > 0 {
            writeln!(
                self.out,
                "# offline-build: {} lines ({} bytes) of output left out here; the log keeps its \
                 first {} MiB and its last {} MiB",
                self.dropped_lines,
                self.dropped_bytes,
                LOG_HEAD_BYTES >> 20,
                LOG_END_BYTES >> 20
            )?;
        }
        for line in &self.end {
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }
}
/// Network attempts kept for the message; one is enough to explain, a few show the pattern.
const MAX_NETWORK_ATTEMPTS: usize = 5;
/// Most of a `.dist-info/METADATA` read from a metadata step's output.
const MAX_METADATA_BYTES: u64 = 1 << 20;

/// How every step of one run is built.
pub struct BuilderOptions {
    /// Where containers run.
    pub executor: Arc<dyn Executor>,
    /// The image (an ID, so that a re-tag during the run changes nothing).
    pub image: String,
    /// Its layer digest, part of every cache key.
    pub image_digest: String,
    /// `SOURCE_DATE_EPOCH` of every build.
    pub source_date_epoch: u64,
    /// Wall-clock limit of one step.
    pub timeout: Duration,
    /// Containers running at once.
    pub jobs: usize,
    /// The wheel cache, if used.
    pub cache: Option<WheelCache>,
    /// Where step directories are made (each step's `/out`); on the same file system as where
    /// wheels go next, so that they move by rename.
    pub scratch: PathBuf,
    /// What a wheel may install beyond the rules; part of every cache key.
    pub policy: InstallPolicy,
    /// The OCI runtime every step runs under (`runsc` for gVisor); `None`: the daemon's default.
    /// The caller checks that the daemon knows it.
    pub runtime: Option<String>,
    /// Most bytes a step's output directory may hold on disk before its container is killed
    /// ([`BuildFailure::OutputTooLarge`]); [`DEFAULT_OUTPUT_LIMIT`] unless a test wants less.
    pub output_limit: u64,
}

/// A step's output budget: a wheel may be [`wheel::MAX_WHEEL_BYTES`], and a build leaves
/// little else in its output directory (its build tree is in the container's `/tmp`).
pub const DEFAULT_OUTPUT_LIMIT: u64 = wheel::MAX_WHEEL_BYTES + (1 << 30);

/// Unpacks `crates` into `<cargo>/vendor/` (cargo's directory source, one folder per crate)
/// and writes `<cargo>/config.toml`, which replaces every registry they come from with it and
/// keeps cargo offline. The directory is mounted read-only at [`CARGO_DIR`].
fn vendor_crates(crates: &[CrateInput], cargo: &Path) -> Result<(), BuildError> {
    let vendor = cargo.join("vendor");
    fs_err::create_dir_all(&vendor).map_err(BuildError::io("create", &vendor))?;
    for input in crates {
        ob_cargo::vendor::unpack_crate(
            &input.path,
            &input.name,
            &input.version,
            &input.sha256,
            &vendor,
        )
        .map_err(|source| BuildError::Crate {
            name: input.name.clone(),
            version: input.version.clone(),
            path: input.path.clone(),
            source: Box::new(source),
        })?;
    }
    let mut sources: Vec<String> = crates.iter().map(|input| input.source.clone()).collect();
    sources.sort();
    sources.dedup();
    let default_registry = crates
        .iter()
        .find(|input| input.default_registry)
        .map(|input| input.source.as_str());
    let config = cargo.join("config.toml");
    fs_err::write(
        &config,
        ob_cargo::vendor::cargo_config(&format!("{CARGO_DIR}/vendor"), &sources, default_registry),
    )
    .map_err(BuildError::io("write", &config))
}

/// Runs steps; shared by every package of a run.
pub struct Builder {
    options: BuilderOptions,
    stage: StageDir,
    settings_digest: String,
    permits: tokio::sync::Semaphore,
}

/// The sdist a step builds, verified by the caller.
#[derive(Debug, Clone)]
pub struct SdistInput {
    /// Where it is on the host.
    pub path: PathBuf,
    /// Its file name (the name it gets in the container).
    pub filename: String,
    /// Its sha256.
    pub sha256: String,
    /// The Rust crates its Cargo.lock pins, verified by the caller; vendored read-only into
    /// every step of this package (maturin's metadata hook runs `cargo metadata` already).
    pub crates: Vec<CrateInput>,
    /// The user's settings for this package, as the lock records them: variables and
    /// config settings for every step, patches applied before any hook. Part of the cache key.
    pub settings: ob_lock::BuildSettings,
    /// The directory `settings.patches` are relative to (the lock's): each patch is copied
    /// from there into the step and checked against its sha256, so that what is mounted is
    /// what the lock pins.
    pub patch_root: PathBuf,
}

/// One verified `.crate` file a step vendors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrateInput {
    /// Crate name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// Its sha256: the Cargo.lock's checksum.
    pub sha256: String,
    /// The Cargo.lock's `source` for it, which the step's cargo configuration replaces.
    pub source: String,
    /// Where the verified `.crate` file is on the host.
    pub path: PathBuf,
    /// Whether `source` is cargo's built-in default registry, which the configuration replaces
    /// as `[source.crates-io]` (cargo refuses a second name for it).
    pub default_registry: bool,
}

/// A wheel of a step's build environment: a validated wheel and where it is on the host.
#[derive(Debug, Clone)]
pub struct EnvWheel {
    /// Name, version, file name and sha256.
    pub wheel: UsedWheel,
    /// Its path on the host.
    pub path: PathBuf,
}

/// What to do with one package.
#[derive(Debug, Clone, Copy)]
pub struct StepRequest<'a> {
    /// Normalized name.
    pub name: &'a str,
    /// Version.
    pub version: &'a str,
    /// Its verified sdist.
    pub sdist: &'a SdistInput,
    /// Exactly its build environment.
    pub environment: &'a [EnvWheel],
    /// Requirements, metadata or a wheel.
    pub mode: Mode,
    /// Where the step's log goes (created or replaced).
    pub log: &'a Path,
    /// Whether a build step may take a cached wheel and store what it builds.
    pub use_cache: bool,
}

/// How a step ended.
#[derive(Debug)]
pub struct StepOutcome {
    /// The wheel cache key of this package with this environment.
    pub key: String,
    /// What `get_requires_for_build_wheel` named, when the driver got that far.
    pub build_requirements: Option<Vec<String>>,
    /// The result.
    pub result: StepResult,
    /// Wall-clock time of the container run (zero for a cache hit).
    pub duration: Duration,
    /// The last lines of its log.
    pub tail: Vec<String>,
    /// Files the build left beside its wheel, which were dropped.
    pub dropped: Vec<DroppedFile>,
    /// Something the user should hear about that did not stop the step (a cache entry that
    /// failed its check and was built again).
    pub warnings: Vec<String>,
}

/// The product of a step.
#[derive(Debug)]
pub enum StepResult {
    /// A wheel that passed validation (mode build, or mode metadata without the hook).
    Wheel(ProducedWheel),
    /// Mode requires: the build requirements were reported.
    Requirements,
    /// Mode metadata: the backend's prepared metadata.
    Metadata(CoreMetadata),
    /// It failed.
    Failed(BuildFailure),
}

/// A validated wheel.
#[derive(Debug, Clone)]
pub struct ProducedWheel {
    /// File name.
    pub filename: String,
    /// sha256 of the file.
    pub sha256: String,
    /// Importable top-level modules.
    pub top_level: Vec<String>,
    /// Its compiled extension modules.
    pub extension_modules: Vec<String>,
    /// Its METADATA.
    pub metadata: CoreMetadata,
    /// Where it is: in the wheel cache, or in the step's own directory (kept as long as this
    /// value or a clone lives).
    pub path: PathBuf,
    /// Taken from the cache instead of built.
    pub from_cache: bool,
    _step_dir: Option<Arc<tempfile::TempDir>>,
}

impl ProducedWheel {
    /// An upstream wheel at `path` (verified by its sha256 already), admitted as `pin`'s wheel
    /// when it passes the checks of a built one: a release `allow-binary` names.
    pub fn prebuilt(
        path: PathBuf,
        filename: &str,
        pin: &ob_lock::Pin,
        policy: &InstallPolicy,
    ) -> Result<ProducedWheel, WheelProblem> {
        let checked = wheel::check_wheel_named(&path, filename, &pin.name, &pin.version, policy)?;
        Ok(ProducedWheel {
            filename: filename.to_owned(),
            sha256: checked.sha256,
            top_level: checked.top_level,
            extension_modules: checked.extension_modules,
            metadata: checked.metadata,
            path,
            from_cache: false,
            _step_dir: None,
        })
    }

    /// Puts the wheel at `target`, replacing what is there: a hard link to a cache entry where
    /// it can, a copy of a wheel a container wrote (so that what is kept is ours).
    pub fn place(&self, target: &Path) -> Result<(), BuildError> {
        if self._step_dir.is_some() {
            crate::files::copy_file(&self.path, target)
        } else {
            crate::place_file(&self.path, target)
        }
    }
}

/// Why a step failed: the package's fault (or its sdist's), never the machine's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildFailure {
    /// It wrote more into its output directory than the step's budget, and was stopped.
    #[error("wrote more than {limit} bytes into its output directory and was stopped")]
    OutputTooLarge {
        /// The budget, in bytes.
        limit: u64,
    },
    /// The wall-clock limit stopped it.
    #[error("did not finish within {seconds} s and was stopped")]
    TimedOut {
        /// The limit.
        seconds: u64,
    },
    /// The kernel killed it at the memory limit.
    #[error("ran out of memory")]
    OutOfMemory,
    /// It tried to reach the network, which builds never have.
    #[error(
        "needs the network to build: it tried to reach {}, and builds never have network access",
        addresses.join(", ")
    )]
    NeedsNetwork {
        /// Hosts or addresses it tried.
        addresses: Vec<String>,
    },
    /// `get_requires_for_build_wheel` named what its build environment does not hold.
    #[error(
        "its build asked for {}, which its build environment does not hold",
        requirements.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
    )]
    MissingBuildRequirements {
        /// The requirements, as named.
        requirements: Vec<String>,
    },
    /// The driver exited with an error.
    #[error("failed to build (exit status {code})")]
    Exited {
        /// Its exit code.
        code: i64,
    },
    /// It exited 0 without reporting its build requirements.
    #[error("its build hooks reported no build requirements")]
    NoRequirementsReported,
    /// It exited 0 and left no wheel of its own.
    #[error("finished but left no wheel for itself in its output directory")]
    NoWheel,
    /// Its wheel failed validation.
    #[error("built `{filename}`, which was refused: {problem}")]
    WheelRefused {
        /// The wheel's file name.
        filename: String,
        /// Why.
        problem: WheelProblem,
    },
    /// Mode metadata: no readable METADATA where the hook said.
    #[error("prepare_metadata_for_build_wheel left no readable METADATA ({detail})")]
    NoMetadata {
        /// What was wrong.
        detail: String,
    },
}

impl Builder {
    /// Writes the stage directory and gets ready to run steps.
    pub fn new(options: BuilderOptions) -> Result<Builder, BuildError> {
        let stage = StageDir::write()?;
        let settings_digest = driver::settings_digest(options.source_date_epoch, &options.policy);
        let permits = tokio::sync::Semaphore::new(options.jobs.max(1));
        Ok(Builder {
            options,
            stage,
            settings_digest,
            permits,
        })
    }

    /// The digest of the build settings that every cache key includes.
    pub fn settings_digest(&self) -> &str {
        &self.settings_digest
    }

    /// The image steps run in.
    pub fn image(&self) -> &str {
        &self.options.image
    }

    /// The OCI runtime steps run under, if not the daemon's default.
    pub fn runtime(&self) -> Option<&str> {
        self.options.runtime.as_deref()
    }

    /// What a wheel may install: the policy every built wheel is checked under.
    pub fn policy(&self) -> &InstallPolicy {
        &self.options.policy
    }

    /// The image's layer digest.
    pub fn image_digest(&self) -> &str {
        &self.options.image_digest
    }

    /// The executor steps run on.
    pub fn executor(&self) -> &dyn Executor {
        &*self.options.executor
    }

    /// The stage directory, for other programs of `stages/build/` (the install check).
    pub fn stage_dir(&self) -> &Path {
        self.stage.path()
    }

    /// The wheel cache, if one is used.
    pub fn cache(&self) -> Option<&WheelCache> {
        self.options.cache.as_ref()
    }

    /// The wheel cache key of `name` `version` built from `sdist` (and its crates) in
    /// `environment`.
    pub fn cache_key(
        &self,
        name: &str,
        version: &str,
        sdist: &SdistInput,
        environment: &[UsedWheel],
    ) -> String {
        let crates: Vec<(&str, &str, &str)> = sdist
            .crates
            .iter()
            .map(|input| {
                (
                    input.name.as_str(),
                    input.version.as_str(),
                    input.sha256.as_str(),
                )
            })
            .collect();
        KeyInputs {
            name,
            version,
            sdist_sha256: &sdist.sha256,
            environment,
            crates: &crates,
            image_digest: &self.options.image_digest,
            settings_digest: &self.settings_digest,
            package_settings: &sdist.settings.digest_input(),
        }
        .key()
    }

    /// Looks `key` up in the cache; `Ok(None)` on a miss (or without a cache), with the reason
    /// when an entry failed its check and was removed.
    pub fn cached(
        &self,
        key: &str,
        name: &str,
        version: &str,
    ) -> (Option<(ProducedWheel, Vec<String>)>, Option<String>) {
        let Some(cache) = &self.options.cache else {
            return (None, None);
        };
        match cache.lookup(key, name, version) {
            Lookup::Hit(cached) => {
                let cached = *cached;
                let entry = cached.entry;
                let wheel = ProducedWheel {
                    filename: entry.wheel,
                    sha256: entry.sha256,
                    top_level: entry.top_level,
                    extension_modules: entry.extension_modules,
                    metadata: CoreMetadata {
                        metadata_version: "2.1".to_owned(),
                        name: entry.name,
                        version: entry.version,
                        requires_dist: entry.requires_dist,
                        requires_python: entry.requires_python,
                        provides_extra: entry.provides_extra,
                        dynamic: Vec::new(),
                    },
                    path: cached.path,
                    from_cache: true,
                    _step_dir: None,
                };
                (Some((wheel, entry.build_requirements)), None)
            }
            Lookup::Miss => (None, None),
            Lookup::Tampered { entry, reason } => (
                None,
                Some(format!(
                    "the cached wheel `{}` failed its check ({reason}); building it again",
                    entry.display()
                )),
            ),
        }
    }

    /// Runs one step (or, for a build with a sound cache entry, takes the entry). `Err` only
    /// when the step could not run at all (Docker, the file system); a package that fails is
    /// an `Ok` with [`StepResult::Failed`].
    pub async fn step(&self, request: StepRequest<'_>) -> Result<StepOutcome, BuildError> {
        let used: Vec<UsedWheel> = request
            .environment
            .iter()
            .map(|w| w.wheel.clone())
            .collect();
        let key = self.cache_key(request.name, request.version, request.sdist, &used);
        let mut warnings = Vec::new();
        if request.mode == Mode::Build && request.use_cache {
            let (hit, warning) = self.cached(&key, request.name, request.version);
            warnings.extend(warning);
            if let Some((wheel, build_requirements)) = hit {
                return Ok(StepOutcome {
                    key,
                    build_requirements: Some(build_requirements),
                    result: StepResult::Wheel(wheel),
                    duration: Duration::ZERO,
                    tail: Vec::new(),
                    dropped: Vec::new(),
                    warnings,
                });
            }
        }
        let _permit = self.permits.acquire().await.map_err(|_| {
            BuildError::io("wait for a build slot", &self.options.scratch)(std::io::Error::other(
                "the build was shut down",
            ))
        })?;
        let started = Instant::now();
        let attempt = self.run(&request).await?;
        let duration = started.elapsed();
        let build_requirements = attempt.build_requirements.clone();
        let mut outcome = StepOutcome {
            key,
            build_requirements,
            result: StepResult::Requirements,
            duration,
            tail: attempt.tail.clone(),
            dropped: attempt.dropped.clone(),
            warnings,
        };
        outcome.result = match judge(
            &request,
            &attempt,
            self.options.timeout,
            self.options.output_limit,
        ) {
            Err(failure) => StepResult::Failed(failure),
            Ok(Judged::Requirements) => StepResult::Requirements,
            Ok(Judged::Metadata(metadata)) => StepResult::Metadata(metadata),
            Ok(Judged::Wheel(filename, checked)) => {
                let wheel = self.keep(&request, &outcome, &attempt, filename, checked)?;
                StepResult::Wheel(wheel)
            }
        };
        Ok(outcome)
    }

    /// A validated wheel: into the cache when one is used, else left in the step directory.
    fn keep(
        &self,
        request: &StepRequest<'_>,
        outcome: &StepOutcome,
        attempt: &Attempt,
        filename: String,
        checked: CheckedWheel,
    ) -> Result<ProducedWheel, BuildError> {
        let built = attempt.output().join(&filename);
        if request.use_cache
            && let Some(cache) = &self.options.cache
        {
            let entry = CacheEntry {
                entry_version: crate::cache::ENTRY_VERSION,
                key: outcome.key.clone(),
                name: request.name.to_owned(),
                version: request.version.to_owned(),
                wheel: filename.clone(),
                sha256: checked.sha256.clone(),
                top_level: checked.top_level.clone(),
                extension_modules: checked.extension_modules.clone(),
                build_requirements: outcome.build_requirements.clone().unwrap_or_default(),
                requires_dist: checked.metadata.requires_dist.clone(),
                requires_python: checked.metadata.requires_python.clone(),
                provides_extra: checked.metadata.provides_extra.clone(),
            };
            let cached = cache.store(&entry, &built)?;
            return Ok(ProducedWheel {
                filename,
                sha256: checked.sha256,
                top_level: checked.top_level,
                extension_modules: checked.extension_modules,
                metadata: checked.metadata,
                path: cached.path,
                from_cache: false,
                _step_dir: None,
            });
        }
        Ok(ProducedWheel {
            filename,
            sha256: checked.sha256,
            top_level: checked.top_level,
            extension_modules: checked.extension_modules,
            metadata: checked.metadata,
            path: built,
            from_cache: false,
            _step_dir: Some(attempt.work.clone()),
        })
    }

    /// Runs the driver in a fresh container and gathers what it left.
    async fn run(&self, request: &StepRequest<'_>) -> Result<Attempt, BuildError> {
        let scratch = &self.options.scratch;
        fs_err::create_dir_all(scratch).map_err(BuildError::io("create", scratch))?;
        let work = tempfile::Builder::new()
            .prefix(".step-")
            .tempdir_in(scratch)
            .map_err(BuildError::io("create a step directory in", scratch))?;
        let output = work.path().join("out");
        fs_err::create_dir(&output).map_err(BuildError::io("create", &output))?;

        let absolute =
            |path: &Path| std::path::absolute(path).map_err(BuildError::io("find", path));
        let mut inputs = vec![
            Mount::new(self.stage.path(), STAGE_MOUNT),
            Mount::new(
                absolute(&request.sdist.path)?,
                format!("{SDIST_DIR}/{}", request.sdist.filename),
            ),
        ];
        for wheel in request.environment {
            // What is mounted is hashed now, not only when it joined the output directory: a
            // wheel replaced there since (by anything else that writes there) is not installed.
            let found = crate::files::sha256_file(&wheel.path)
                .map_err(BuildError::io("hash", &wheel.path))?;
            if found != wheel.wheel.sha256 {
                return Err(BuildError::ChangedWheel {
                    path: wheel.path.clone(),
                    expected: wheel.wheel.sha256.clone(),
                    found,
                });
            }
            inputs.push(Mount::new(
                absolute(&wheel.path)?,
                format!("{WHEELS_DIR}/{}", wheel.wheel.wheel),
            ));
        }
        let wheel_names: Vec<String> = request
            .environment
            .iter()
            .map(|w| w.wheel.wheel.clone())
            .collect();
        let mut job = Job::new(
            request.name,
            request.version,
            &request.sdist.filename,
            &wheel_names,
            self.options.source_date_epoch,
            request.mode,
        );
        apply_settings(request, work.path(), &mut job, &mut inputs)?;
        if !request.sdist.crates.is_empty() {
            let cargo = work.path().join("cargo");
            vendor_crates(&request.sdist.crates, &cargo)?;
            inputs.push(Mount::new(absolute(&cargo)?, CARGO_DIR));
            job.cargo = Some(CARGO_DIR.to_owned());
        }
        let purpose = match request.mode {
            Mode::Build => "build",
            Mode::Metadata | Mode::Requires => "hooks",
        };
        let mut spec = RunSpec::new(
            self.options.image.clone(),
            job.command(),
            format!("{purpose}:{}-{}", request.name, request.version),
        );
        spec.inputs = inputs;
        spec.output = Some(Mount::new(absolute(&output)?, OUT_DIR));
        spec.timeout = self.options.timeout;
        spec.runtime = self.options.runtime.clone();
        spec.output_limit = Some(self.options.output_limit);

        if let Some(parent) = request.log.parent() {
            fs_err::create_dir_all(parent).map_err(BuildError::io("create", parent))?;
        }
        let mut header = std::io::BufWriter::new(
            fs_err::File::create(request.log).map_err(BuildError::io("create", request.log))?,
        );
        let mut log_error = writeln!(
            header,
            "# offline-build: {} {} ({purpose}) from {} (sha256 {}) in {} ({}), with {}",
            request.name,
            request.version,
            request.sdist.filename,
            request.sdist.sha256,
            self.options.image,
            self.options.image_digest,
            if wheel_names.is_empty() {
                "no build requirements".to_owned()
            } else {
                wheel_names.join(", ")
            }
        )
        .err();
        let mut log = CappedLog::new(header);
        let mut seen = Seen::default();
        let mut tail = VecDeque::with_capacity(LOG_TAIL_LINES);
        let mut on_line = |line: OutputLine| {
            let text = match line {
                OutputLine::Stdout(text) | OutputLine::Stderr(text) => text,
            };
            seen.line(&text);
            if let Err(err) = log.line(&text) {
                log_error.get_or_insert(err);
            }
            if tail.len() == LOG_TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(text);
        };
        let outcome = self
            .options
            .executor
            .run(&spec, &mut on_line)
            .await
            .map_err(|source| BuildError::Sandbox {
                action: format!("running `{}` {} ({purpose})", request.name, request.version),
                source,
            })?;
        if outcome.timed_out {
            let line = format!(
                "offline-build: stopped after the timeout of {} s",
                self.options.timeout.as_secs()
            );
            let _ = log.line(&line);
            tail.push_back(line);
        }
        if let Some(err) = log_error.or_else(|| log.finish().err()) {
            return Err(BuildError::io("write", request.log)(err));
        }
        // The container is gone: nothing changes the output directory from here on.
        let (wheel, dropped) =
            sort_output(&output, request.name, request.version, &self.options.policy)?;
        Ok(Attempt {
            outcome,
            work: Arc::new(work),
            wheel,
            dropped,
            tail: tail.into_iter().collect(),
            build_requirements: seen.build_requirements,
            missing: seen.missing,
            metadata_dir: seen.metadata_dir,
            network_attempts: seen.network_attempts,
        })
    }
}

/// What the events and log lines of a run said. The first report of each kind counts: later
/// ones can only come from the package's own code.
#[derive(Default)]
struct Seen {
    build_requirements: Option<Vec<String>>,
    missing: Option<Vec<String>>,
    metadata_dir: Option<String>,
    network_attempts: Vec<String>,
}

impl Seen {
    fn line(&mut self, text: &str) {
        match DriverEvent::parse_line(text) {
            Some(DriverEvent::BuildRequirements { requirements }) => {
                self.build_requirements.get_or_insert(requirements);
            }
            Some(DriverEvent::MissingBuildRequirements { requirements }) => {
                self.missing.get_or_insert(requirements);
            }
            Some(DriverEvent::Metadata { directory }) => {
                self.metadata_dir.get_or_insert(directory);
            }
            Some(DriverEvent::NetworkAttempt { address, .. }) => self.network(address),
            Some(DriverEvent::Built { .. } | DriverEvent::Failed { .. }) => {}
            None => {
                if let Some(address) = network_sign(text) {
                    self.network(address);
                }
            }
        }
    }

    fn network(&mut self, address: String) {
        if !self.network_attempts.contains(&address)
            && self.network_attempts.len() < MAX_NETWORK_ATTEMPTS
        {
            self.network_attempts.push(address);
        }
    }
}

/// One container run and what it left.
struct Attempt {
    outcome: RunOutcome,
    /// The step's private directory; its `out/` was the container's `/out`.
    work: Arc<tempfile::TempDir>,
    /// The package's wheel (file name and check result), if it left exactly one.
    wheel: Option<(String, Result<CheckedWheel, WheelProblem>)>,
    dropped: Vec<DroppedFile>,
    tail: Vec<String>,
    build_requirements: Option<Vec<String>>,
    missing: Option<Vec<String>>,
    metadata_dir: Option<String>,
    network_attempts: Vec<String>,
}

impl Attempt {
    fn output(&self) -> PathBuf {
        self.work.path().join("out")
    }
}

enum Judged {
    Requirements,
    Metadata(CoreMetadata),
    Wheel(String, CheckedWheel),
}

/// The product of an attempt, or why it failed.
fn judge(
    request: &StepRequest<'_>,
    attempt: &Attempt,
    timeout: Duration,
    output_limit: u64,
) -> Result<Judged, BuildFailure> {
    let outcome = &attempt.outcome;
    if outcome.output_exceeded {
        return Err(BuildFailure::OutputTooLarge {
            limit: output_limit,
        });
    }
    if outcome.timed_out {
        return Err(BuildFailure::TimedOut {
            seconds: timeout.as_secs(),
        });
    }
    if !outcome.success() {
        if let Some(requirements) = &attempt.missing
            && outcome.exit_code == driver::EXIT_MISSING_REQUIREMENTS
        {
            return Err(BuildFailure::MissingBuildRequirements {
                requirements: requirements.clone(),
            });
        }
        if !attempt.network_attempts.is_empty() {
            return Err(BuildFailure::NeedsNetwork {
                addresses: attempt.network_attempts.clone(),
            });
        }
        if outcome.oom_killed {
            return Err(BuildFailure::OutOfMemory);
        }
        return Err(BuildFailure::Exited {
            code: outcome.exit_code,
        });
    }
    if attempt.build_requirements.is_none() {
        return Err(BuildFailure::NoRequirementsReported);
    }
    match request.mode {
        Mode::Requires => return Ok(Judged::Requirements),
        Mode::Metadata if attempt.wheel.is_none() => {
            let directory = attempt.metadata_dir.as_deref().unwrap_or_default();
            return read_metadata(&attempt.output(), directory)
                .map(|text| Judged::Metadata(CoreMetadata::parse(&text)))
                .map_err(|detail| BuildFailure::NoMetadata { detail });
        }
        Mode::Metadata | Mode::Build => {}
    }
    match &attempt.wheel {
        None => Err(BuildFailure::NoWheel),
        Some((filename, Err(problem))) => Err(BuildFailure::WheelRefused {
            filename: filename.clone(),
            problem: problem.clone(),
        }),
        Some((filename, Ok(checked))) => Ok(Judged::Wheel(filename.clone(), checked.clone())),
    }
}

/// `<out>/<directory>/METADATA`, written by the package's own hook: a `.dist-info` directory
/// directly in the output, neither of them a symlink, a regular file of bounded size.
fn read_metadata(output: &Path, directory: &str) -> Result<String, String> {
    let plain = !directory.is_empty()
        && !directory.contains(['/', '\\', '\0'])
        && directory != ".."
        && directory.ends_with(".dist-info");
    if !plain {
        return Err(format!("`{directory}` is not a .dist-info directory name"));
    }
    let dir = output.join(directory);
    let kind = std::fs::symlink_metadata(&dir).map_err(|err| format!("{directory}: {err}"))?;
    if !kind.file_type().is_dir() {
        return Err(format!("{directory} is not a directory"));
    }
    let path = dir.join("METADATA");
    let kind = std::fs::symlink_metadata(&path).map_err(|err| format!("METADATA: {err}"))?;
    if !kind.file_type().is_file() {
        return Err("METADATA is not a regular file".to_owned());
    }
    let mut bytes = Vec::new();
    fs_err::File::open(&path)
        .and_then(|file| file.take(MAX_METADATA_BYTES).read_to_end(&mut bytes))
        .map_err(|err| format!("METADATA: {err}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// `Some(address)` when a log line shows a failed attempt to reach the network, from the
/// messages such failures print (the driver's own events are parsed before this).
fn network_sign(line: &str) -> Option<String> {
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

/// Puts the user's settings for the package into the job: its variables, its config settings,
/// and its patches, copied into the step directory (mounted read-only) and checked there.
fn apply_settings(
    request: &StepRequest<'_>,
    work: &Path,
    job: &mut Job,
    inputs: &mut Vec<Mount>,
) -> Result<(), BuildError> {
    let settings = &request.sdist.settings;
    if !settings.env.is_empty() {
        job.env = Some(settings.env.clone());
    }
    if !settings.config_settings.is_empty() {
        job.config_settings = Some(settings.config_settings_json());
    }
    if settings.patches.is_empty() {
        return Ok(());
    }
    let dir = work.join("patches");
    fs_err::create_dir(&dir).map_err(BuildError::io("create", &dir))?;
    {
        use std::os::unix::fs::PermissionsExt as _;
        fs_err::set_permissions(&dir, std::fs::Permissions::from_mode(0o755))
            .map_err(BuildError::io("set the mode of", &dir))?;
    }
    let mut mounted = Vec::new();
    for (index, patch) in settings.patches.iter().enumerate() {
        let source = &request.sdist.patch_root.join(&patch.path);
        let name = format!("{index}-{}", safe_file_name(&patch.path));
        let copy = dir.join(&name);
        copy_patch(source, &copy).map_err(|problem| BuildError::Patch {
            package: request.name.to_owned(),
            path: source.clone(),
            problem,
        })?;
        let found = crate::files::sha256_file(&copy).map_err(BuildError::io("read", &copy))?;
        if found != patch.sha256 {
            return Err(BuildError::Patch {
                package: request.name.to_owned(),
                path: source.clone(),
                problem: format!("has sha256 {found}, but the lock pins {}", patch.sha256),
            });
        }
        mounted.push(format!("{PATCHES_DIR}/{name}"));
    }
    inputs.push(Mount::new(
        std::path::absolute(&dir).map_err(BuildError::io("find", &dir))?,
        PATCHES_DIR,
    ));
    job.patches = Some(mounted);
    Ok(())
}

/// Copies the patch at `source` to `copy` (readable by the build's uid, whatever the source's
/// mode or the umask): a regular file of at most [`ob_lock::MAX_PATCH_BYTES`], or why not. The
/// copy is hashed afterwards, so a file swapped in between is caught there.
fn copy_patch(source: &Path, copy: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    let unreadable = |error: std::io::Error| format!("could not be read: {error}");
    if !fs_err::metadata(source).map_err(unreadable)?.is_file() {
        return Err("is not a regular file".to_owned());
    }
    let input = fs_err::File::open(source).map_err(unreadable)?;
    let mut output = fs_err::File::create(copy).map_err(unreadable)?;
    let copied = std::io::copy(&mut input.take(ob_lock::MAX_PATCH_BYTES + 1), &mut output)
        .map_err(unreadable)?;
    if copied > ob_lock::MAX_PATCH_BYTES {
        return Err(format!("is larger than {} bytes", ob_lock::MAX_PATCH_BYTES));
    }
    fs_err::set_permissions(copy, std::fs::Permissions::from_mode(0o444)).map_err(unreadable)
}

/// The last part of `path` with anything but `[A-Za-z0-9._-]` replaced: a name in the container.
fn safe_file_name(path: &str) -> String {
    let last = path.rsplit('/').next().unwrap_or(path);
    let name: String = last
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    match name.trim_start_matches('.') {
        "" => "patch".to_owned(),
        trimmed => trimmed.to_owned(),
    }
}

/// Splits what a build left in its output directory into the package's wheel (checked) and
/// everything else (dropped, with the reason).
#[allow(clippy::type_complexity)]
fn sort_output(
    output: &Path,
    name: &str,
    version: &str,
    policy: &InstallPolicy,
) -> Result<
    (
        Option<(String, Result<CheckedWheel, WheelProblem>)>,
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
            // A metadata step's .dist-info directory is read, not dropped.
            (!file.ends_with(".dist-info")).then(|| "a directory".to_owned())
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
            None if kind.is_file() => candidates.push(file),
            None => {}
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
        let checked = wheel::check_wheel_with(&output.join(&file), name, version, policy);
        (file, checked)
    });
    Ok((wheel, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_keeps_its_head_and_its_end_and_says_what_it_left_out() {
        let mut bytes = Vec::new();
        let mut log = CappedLog::new(&mut bytes);
        let line = "x".repeat(1023);
        // 64 MiB of output: 32 kept from the start, 8 from the end, 24 left out.
        for _ in 0..(64 << 10) {
            log.line(&line).unwrap();
        }
        log.line("error: the last line").unwrap();
        log.finish().unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.len() as u64 <= LOG_HEAD_BYTES + LOG_END_BYTES + 200);
        assert!(text.ends_with("error: the last line\n"));
        let said = text
            .lines()
            .find(|line| line.starts_with("# offline-build"))
            .unwrap_or_default();
        assert_eq!(
            said,
            "# offline-build: 24577 lines (25166848 bytes) of output left out here; the log \
             keeps its first 32 MiB and its last 8 MiB"
        );
    }

    #[test]
    fn network_failures_are_recognised_by_their_messages() {
        assert!(network_sign("OSError: [Errno 101] Network is unreachable").is_some());
        assert!(network_sign("compiling foo.c").is_none());
        let mut seen = Seen::default();
        seen.line(r#"offline-build-event {"event":"network-attempt","operation":"socket.connect","address":"('203.0.113.7', 443)"}"#);
        seen.line(r#"offline-build-event {"event":"build-requirements","requirements":["a"]}"#);
        seen.line(r#"offline-build-event {"event":"build-requirements","requirements":["b"]}"#);
        assert_eq!(seen.network_attempts, ["('203.0.113.7', 443)"]);
        assert_eq!(
            seen.build_requirements.as_deref(),
            Some(&["a".to_owned()][..]),
            "the first counts"
        );
    }

    #[test]
    fn metadata_is_read_only_from_a_plain_dist_info_directory() {
        let out = tempfile::tempdir().unwrap();
        fs_err::create_dir(out.path().join("a-1.0.dist-info")).unwrap();
        fs_err::write(out.path().join("a-1.0.dist-info/METADATA"), "Name: a\n").unwrap();
        assert_eq!(
            read_metadata(out.path(), "a-1.0.dist-info").unwrap(),
            "Name: a\n"
        );
        for bad in ["../etc", "", "a-1.0.dist-info/../x", "x"] {
            assert!(read_metadata(out.path(), bad).is_err(), "{bad}");
        }
        std::os::unix::fs::symlink("/etc", out.path().join("b-1.0.dist-info")).unwrap();
        assert!(read_metadata(out.path(), "b-1.0.dist-info").is_err());
        fs_err::create_dir(out.path().join("c-1.0.dist-info")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", out.path().join("c-1.0.dist-info/METADATA"))
            .unwrap();
        assert!(read_metadata(out.path(), "c-1.0.dist-info").is_err());
    }
}
