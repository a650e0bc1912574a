//! The resolve operation: our index proxy on a unix socket, the resolver session (pip only,
//! network none) behind it, the build stage's [`Builder`] for every hook and verification
//! build (each in a fresh container with network none), and the [`Engine`] deciding what to do
//! next. The lock is made from what the engine found and what the proxy served and checked.
//! Containers, the session and the proxy are gone when this returns, whatever happened.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;
use ob_build::driver::Mode;
use ob_build::{Builder, BuilderOptions, StepRequest, WheelCache};
use ob_index::{IndexClient, IndexProxy, Listen, ProxyConfig};
use ob_lock::{Lock, LockTool, Package, Pin, Sdist};
use ob_sandbox::{Sandbox, image};
use sha2::{Digest, Sha256};

use crate::ResolveError;
use crate::book::MetadataBook;
use crate::crates::{CrateStore, PinnedCrate};
use crate::engine::{Action, Engine, Event, Locked, lock_dependencies};
use crate::input::Requirements;
use crate::session::Session;
use crate::settings::BuildConfig;

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
    pub index: ob_index::IndexUrl,
    /// Ignore files uploaded after this instant.
    pub exclude_newer: Option<jiff::Timestamp>,
    /// Hook runs and builds at once (each in its own container), and resolutions at once.
    pub jobs: usize,
    /// Build every package to prove its build environment complete.
    pub verify_build: bool,
    /// Where verified sdists are kept between runs (`None`: only for this run).
    pub cache_dir: Option<PathBuf>,
    /// The wheel cache that verification builds fill and take from (`None`: none).
    pub wheel_cache: Option<PathBuf>,
    /// Wall-clock limit for one package's hooks or build.
    pub build_timeout: Duration,
    /// Wall-clock limit for the resolver session.
    pub timeout: Duration,
    /// Where the work directory of each run goes (kept, with its logs, when the run fails;
    /// runs older than a week, and all but the newest ten, are removed at the next start).
    /// `None`: the system's temporary directory, never pruned.
    pub runs_dir: Option<PathBuf>,
    /// What a verification build's wheel may install beyond the rules (`--allow-pth`).
    pub policy: ob_build::install_policy::InstallPolicy,
    /// The OCI runtime every hook run and verification build runs under (`runsc` for gVisor);
    /// the session, which runs no third-party code, stays on the daemon's default.
    pub runtime: Option<String>,
    /// The user's per-package build settings ([`BuildConfig::find`]); written into the lock
    /// for the packages they match.
    pub config: BuildConfig,
    /// Go on after a package fails (its sdist, hooks, metadata, verification build, or a
    /// resolution of its build environment) with everything that does not need it, and fail
    /// at the end with every failure ([`ResolveError::Several`]). Trouble that is no
    /// package's (Docker, the index, the session, an internal error) still stops at once.
    pub keep_going: bool,
}

/// Failed runs kept in `runs_dir`: at most this many, none older than [`KEEP_RUNS_FOR`].
const KEEP_RUNS: usize = 10;
const KEEP_RUNS_FOR: Duration = Duration::from_secs(7 * 24 * 3600);

/// Removes old runs' directories from `runs`: best effort, it only saves space.
fn prune_runs(runs: &Path) {
    let Ok(entries) = fs_err::read_dir(runs) else {
        return;
    };
    let mut found: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|entry| entry.file_name().to_string_lossy().starts_with("resolve-"))
        .filter_map(|entry| {
            let modified = entry.metadata().ok()?.modified().ok()?;
            Some((modified, entry.path()))
        })
        .collect();
    found.sort();
    let now = std::time::SystemTime::now();
    let surplus = found.len().saturating_sub(KEEP_RUNS - 1);
    for (index, (modified, path)) in found.iter().enumerate() {
        let old = now
            .duration_since(*modified)
            .is_ok_and(|age| age > KEEP_RUNS_FOR);
        if index < surplus || old {
            let _ = fs_err::remove_dir_all(path);
        }
    }
}

/// Phases, for progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Phase {
    /// Docker, image, proxy, session.
    Preparing,
    /// The runtime closure (the top-level resolution).
    Runtime,
    /// Build environments: their resolutions and the hooks that name dynamic requirements.
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
    /// The resolution now reaches `packages` packages.
    fn on_found(&self, packages: usize) {
        let _ = packages;
    }
    /// The build requirements of `package` are known; `done` packages so far.
    fn on_discovered(&self, package: &str, done: usize) {
        let _ = (package, done);
    }
    /// `package` was built in verification (or taken from the wheel cache); `done` of `total`.
    fn on_built(&self, package: &str, done: usize, total: usize) {
        let _ = (package, done, total);
    }
    /// Something the user should know that did not stop the resolve.
    fn on_warning(&self, message: &str) {
        let _ = message;
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
    /// Verification builds that compiled.
    pub built: usize,
    /// Verification builds taken from the wheel cache.
    pub from_cache: usize,
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

/// Runs the whole resolve. Containers, the session and the proxy are removed in every case.
pub async fn resolve(
    options: &ResolveOptions,
    reporter: &dyn ResolveReporter,
) -> Result<ResolveOutcome, ResolveError> {
    use std::os::unix::fs::PermissionsExt;
    let started = Instant::now();
    reporter.on_phase(Phase::Preparing);
    let sandbox = Sandbox::connect().await?;
    // Containers of an earlier run that was killed before it could clean up.
    sandbox.remove_leftovers().await?;
    if let Some(runtime) = &options.runtime {
        sandbox.check_runtime(runtime).await?;
    }
    let image = image::require(&sandbox, options.image.as_deref()).await?;

    // The work directory outlives a failed run, so that the logs it names can be read: under
    // `runs_dir` when given (pruned here), else the system's temporary directory.
    let work = match &options.runs_dir {
        Some(runs) => {
            fs_err::create_dir_all(runs).map_err(io_error(runs))?;
            prune_runs(runs);
            tempfile::Builder::new()
                .prefix(&format!(
                    "resolve-{}-",
                    jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ")
                ))
                .tempdir_in(runs)
                .map_err(io_error(runs))?
        }
        None => tempfile::Builder::new()
            .prefix("offline-build-resolve-")
            .tempdir()
            .map_err(io_error(&std::env::temp_dir()))?,
    };
    fs_err::set_permissions(work.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(io_error(work.path()))?;
    // The proxy's socket, the invoking user's alone (0700), in a short path: a unix socket's
    // path may not exceed 107 bytes, which a deep cache directory could.
    let socket_dir = tempfile::Builder::new()
        .prefix("offline-build-socket-")
        .tempdir()
        .map_err(io_error(&std::env::temp_dir()))?;
    fs_err::set_permissions(socket_dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(io_error(socket_dir.path()))?;
    let socket = socket_dir.path().join("index.sock");
    let store = options
        .cache_dir
        .clone()
        .unwrap_or_else(|| work.path().join("sdists"));
    let crates = CrateStore::new(store.join("crates"))
        .map_err(|message| ResolveError::Driver { message, log: None })?;

    // Build tools the image stands in for: served from here, never asked of the index.
    let tools = crate::image_tools::sdists(&image, &options.config);
    let book = Arc::new(MetadataBook::new(options.policy.clone()));
    let client = IndexClient::new(options.index.clone())?;
    let proxy = IndexProxy::start(
        client,
        Listen::Unix(socket.clone()),
        ProxyConfig {
            exclude_newer: options.exclude_newer,
            sdist_store: store,
            // The session gets metadata and pages, never an sdist: pip builds nothing.
            serve_archives: false,
            metadata: Some(book.clone()),
            allow_binary: options.config.allow_binary.clone(),
            local_projects: tools
                .iter()
                .map(|tool| {
                    let file = ob_index::LocalFile {
                        filename: tool.filename.clone(),
                        bytes: tool.bytes.clone(),
                    };
                    (tool.project.clone(), file)
                })
                .collect(),
        },
    )
    .await?;
    let builder = Builder::new(BuilderOptions {
        executor: Arc::new(sandbox.clone()),
        image: image.id.clone(),
        image_digest: image.digest.clone(),
        source_date_epoch: SOURCE_DATE_EPOCH,
        timeout: options.build_timeout,
        jobs: options.jobs.max(1),
        cache: options.wheel_cache.clone().map(WheelCache::new),
        scratch: work.path().join("steps"),
        policy: options.policy.clone(),
        runtime: options.runtime.clone(),
        output_limit: ob_build::step::DEFAULT_OUTPUT_LIMIT,
    })
    .map_err(|err| ResolveError::Driver {
        message: format!("could not prepare the build steps: {err}"),
        log: None,
    })?;
    let session = Session::start(
        &sandbox,
        &image.id,
        &socket,
        work.path(),
        options.jobs.max(1),
        options.timeout,
        options.config.allow_binary.keys().cloned().collect(),
    )?;
    for note in &options.config.notes {
        reporter.on_warning(note);
    }
    let mut engine = Engine::new(
        &options.requirements.requirements,
        &options.requirements.constraints,
        options.verify_build,
        book.clone(),
    )
    .with_config(Arc::new(options.config.clone()))
    .keep_going(options.keep_going);
    let context = Context {
        book,
        crates: &crates,
        proxy: &proxy,
        builder: &builder,
        session: &session,
        logs: work.path().join("logs"),
        policy: &options.policy,
    };
    let result = run(&mut engine, &context, reporter)
        .await
        .and_then(|counts| match engine.failure() {
            Some(failures) => Err(failures),
            None => Ok(counts),
        });
    let refused = proxy.refused();
    let missing = proxy.missing_projects();
    session.stop().await;
    proxy.stop().await;
    let (built, from_cache) = match result {
        Ok(counts) => counts,
        Err(err) => {
            let kept = work.keep();
            let err = err.map_each(|err| crate::image_tools::explain(err, &tools));
            return Err(explain(err, &refused, &missing, &kept));
        }
    };
    let locked = engine.finish()?;
    let mut lock = make_lock(options, &image, &locked, &crates)?;
    crate::image_tools::mark(&mut lock, &tools);
    for warning in options.config.unmatched(
        lock.packages
            .iter()
            .map(|package| (package.name.as_str(), package.version.as_str())),
    ) {
        reporter.on_warning(&warning);
    }
    let runtime = lock.runtime_packages().count();
    Ok(ResolveOutcome {
        runtime,
        build_only: lock.packages.len() - runtime,
        lock,
        elapsed: started.elapsed(),
        built,
        from_cache,
    })
}

/// What the steps of one resolve share.
struct Context<'a> {
    /// The sdists' facts, read once for the proxy and the engine both.
    book: Arc<MetadataBook>,
    /// The Rust crates their Cargo.lock files pin.
    crates: &'a CrateStore,
    proxy: &'a IndexProxy,
    builder: &'a Builder,
    session: &'a Session,
    logs: PathBuf,
    /// What a wheel may install: verification builds' and prebuilt wheels' alike.
    policy: &'a ob_build::install_policy::InstallPolicy,
}

/// The engine's loop: start what it asks for, take in what comes back, until it is done.
/// Returns how many verification builds compiled and how many came from the cache.
async fn run(
    engine: &mut Engine,
    context: &Context<'_>,
    reporter: &dyn ResolveReporter,
) -> Result<(usize, usize), ResolveError> {
    let mut running: FuturesUnordered<BoxFuture<'_, Result<Event, ResolveError>>> =
        FuturesUnordered::new();
    let (mut built, mut from_cache) = (0, 0);
    let mut phase = Phase::Runtime;
    reporter.on_phase(phase);
    let mut discovered = BTreeSet::new();
    loop {
        let plan = engine.plan()?;
        for action in plan.actions {
            if matches!(
                action,
                Action::Step {
                    mode: Mode::Build,
                    ..
                }
            ) && phase != Phase::Verify
            {
                phase = Phase::Verify;
                reporter.on_phase(phase);
            } else if matches!(
                action,
                Action::Step { .. } | Action::Inspect { .. } | Action::Admit { .. }
            ) && phase == Phase::Runtime
            {
                phase = Phase::BuildRequirements;
                reporter.on_phase(phase);
            }
            running.push(start(action, context));
        }
        reporter.on_found(engine.reachable());
        if plan.done {
            return Ok((built, from_cache));
        }
        let Some(event) = running.next().await else {
            // A cycle: the error, or (going on) its packages failed.
            engine.stuck()?;
            continue;
        };
        let event = event?;
        let failures = engine.failures();
        if let Event::Stepped { node, outcome, .. } = &event {
            if let ob_build::StepResult::Wheel(wheel) = &outcome.result {
                if wheel.from_cache {
                    from_cache += 1;
                } else {
                    built += 1;
                }
            }
            if discovered.insert(node.clone()) {
                reporter.on_discovered(&node.name, discovered.len());
            }
        }
        let stepped = match &event {
            Event::Stepped { node, .. } => Some(node.name.clone()),
            _ => None,
        };
        for warning in engine.apply(event)? {
            reporter.on_warning(&warning);
        }
        // A failure that the index's bad bytes or a refusal of metadata explain is not the
        // package's to answer for: stop, and let `explain` say what happened.
        if engine.failures() > failures && stops_the_resolve(&context.proxy.refused()) {
            return Err(engine.failure().unwrap_or_else(|| ResolveError::Driver {
                message: "the proxy refused a file".to_owned(),
                log: None,
            }));
        }
        if let Some(name) = stepped {
            reporter.on_built(&name, engine.built(), engine.reachable());
        }
    }
}

/// The future that carries out one action.
fn start<'a>(
    action: Action,
    context: &'a Context<'_>,
) -> BoxFuture<'a, Result<Event, ResolveError>> {
    match action {
        Action::Resolve { key, epoch } => Box::pin(async move {
            let answer = context
                .session
                .resolve(&key.requirements, &key.constraints)
                .await?;
            Ok(Event::Resolved { key, epoch, answer })
        }),
        Action::Inspect { node, filename } => Box::pin(async move {
            let result = match context.proxy.sdist(&node.name, &filename).await {
                Err(err) => return Err(ResolveError::Index(err)),
                Ok((path, served)) => {
                    let book = context.book.clone();
                    let book_path = path.clone();
                    let name = served.filename.clone();
                    let facts = tokio::task::spawn_blocking(move || book.facts(&name, &book_path))
                        .await
                        .map_err(|join| join.to_string())
                        .and_then(|facts| facts);
                    match facts {
                        Ok(facts) if !facts.crates.is_empty() => {
                            match context.crates.pin(&served.filename, &facts.crates).await {
                                Ok(()) => {
                                    let inputs = context
                                        .crates
                                        .pinned(&served.filename)
                                        .iter()
                                        .map(PinnedCrate::input)
                                        .collect();
                                    context.book.set_crates(&served.filename, inputs);
                                    Ok((path, served, facts))
                                }
                                Err(problem) => Err(problem),
                            }
                        }
                        other => other.map(|facts| (path, served, facts)),
                    }
                }
            };
            Ok(Event::Inspected { node, result })
        }),
        Action::Admit { node, filename } => Box::pin(async move {
            let (path, served) = context
                .proxy
                .sdist(&node.name, &filename)
                .await
                .map_err(ResolveError::Index)?;
            let policy = context.policy.clone();
            let result = tokio::task::spawn_blocking(move || {
                ob_build::ProducedWheel::prebuilt(path, &filename, &node, &policy)
                    .map(|wheel| (served, Box::new(wheel)))
                    .map_err(|problem| problem.to_string())
                    .map(|admitted| (node.clone(), admitted))
                    .map_err(|problem| (node, problem))
            })
            .await
            .map_err(|join| ResolveError::Driver {
                message: format!("checking a wheel failed: {join}"),
                log: None,
            })?;
            Ok(match result {
                Ok((node, admitted)) => Event::Admitted {
                    node,
                    result: Ok(admitted),
                },
                Err((node, problem)) => Event::Admitted {
                    node,
                    result: Err(problem),
                },
            })
        }),
        Action::Step {
            node,
            env,
            mode,
            sdist,
            environment,
        } => Box::pin(async move {
            let kind = if mode == Mode::Build {
                "build"
            } else {
                "hooks"
            };
            let log = context.logs.join(format!(
                "{kind}-{}-{}-{}.log",
                node.name,
                node.version,
                env_tag(&env.requirements)
            ));
            let outcome = context
                .builder
                .step(StepRequest {
                    name: &node.name,
                    version: &node.version,
                    sdist: &sdist,
                    environment: &environment,
                    mode,
                    log: &log,
                    use_cache: true,
                })
                .await
                .map_err(|err| ResolveError::Driver {
                    message: format!("could not run a step of `{node}`: {err}"),
                    log: Some(log.clone()),
                })?;
            Ok(Event::Stepped {
                node,
                env,
                mode,
                outcome: Box::new(outcome),
                log,
            })
        }),
    }
}

/// A short tag of an environment for log names.
fn env_tag(requirements: &[String]) -> String {
    let digest = Sha256::digest(requirements.join("\n").as_bytes());
    hex::encode(&digest[..6])
}

/// The proxy's refusals that explain whatever failed after them: the index served other bytes
/// than it published, or metadata was refused to pip.
fn stops_the_resolve(refused: &[ob_index::Refusal]) -> bool {
    refused.iter().any(|refusal| {
        refusal.reason.contains("hash mismatch")
            || refusal.reason.contains(crate::book::REFUSED_TO_PIP)
    })
}

/// An index that served bad bytes explains any failure that follows it; log paths inside the
/// session container become host paths.
fn explain(
    err: ResolveError,
    refused: &[ob_index::Refusal],
    missing: &BTreeSet<String>,
    work: &Path,
) -> ResolveError {
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
    // Metadata was refused to pip: that package is at fault, not pip.
    if let Some(refusal) = refused
        .iter()
        .find(|refusal| refusal.reason.contains(crate::book::REFUSED_TO_PIP))
    {
        let package = refusal
            .reason
            .split('`')
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        return ResolveError::Refused {
            package,
            message: refusal.reason.clone(),
        };
    }
    localize(err, missing, work)
}

/// [`explain`] of one error, the refusals aside: log paths inside the session container
/// become host paths, and a project the index does not have is named as such.
fn localize(err: ResolveError, missing: &BTreeSet<String>, work: &Path) -> ResolveError {
    let host = |log: PathBuf| match log.strip_prefix("/out") {
        Ok(relative) => work.join("session").join(relative),
        Err(_) => log,
    };
    match err {
        // pip says "no version" both for a project without sdists and for one that does not
        // exist; the proxy knows which.
        ResolveError::NoSdist {
            package,
            requirement,
            newest_with_sdist: None,
            via,
        } if missing.contains(&package) => ResolveError::NoSuchProject {
            package,
            requirement,
            via,
        },
        ResolveError::Conflict {
            package,
            explanation,
            via,
            log,
        } => ResolveError::Conflict {
            package,
            explanation,
            via,
            log: host(log),
        },
        ResolveError::BuildFailed {
            package,
            via,
            message,
            tail,
            log,
        } => ResolveError::BuildFailed {
            package,
            via,
            message,
            tail,
            log: host(log),
        },
        ResolveError::Driver { message, log } => ResolveError::Driver {
            message,
            log: log.map(host),
        },
        ResolveError::Several {
            failures,
            blocked,
            resolved,
        } => ResolveError::Several {
            failures: failures
                .into_iter()
                .map(|failure| failure.map(|error| localize(error, missing, work), host))
                .collect(),
            blocked,
            resolved,
        },
        other => other,
    }
}

fn make_lock(
    options: &ResolveOptions,
    image: &image::ImageInfo,
    locked: &[Locked],
    crates: &CrateStore,
) -> Result<Lock, ResolveError> {
    // One entry per crate across the lock; the store made sure that one name and version is
    // never pinned with two checksums.
    let mut crate_entries: std::collections::BTreeMap<(String, String), ob_lock::Crate> =
        std::collections::BTreeMap::new();
    let mut counts: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for entry in locked {
        *counts.entry(entry.pin.name.as_str()).or_default() += 1;
    }
    let several: BTreeSet<String> = counts
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let mut packages = Vec::new();
    for entry in locked {
        let file = &entry.sdist;
        if file.project != entry.pin.name {
            return Err(ResolveError::Driver {
                message: format!(
                    "`{}` was served for project `{}`, not `{}`",
                    file.filename, file.project, entry.pin.name
                ),
                log: None,
            });
        }
        if entry.runtime
            && let Some(allowed) = options.requirements.hashes.get(&entry.pin.name)
            && !allowed.contains(&file.sha256)
        {
            return Err(ResolveError::HashMismatch {
                package: entry.pin.name.clone(),
                filename: file.filename.clone(),
                allowed: allowed.iter().cloned().collect(),
                found: file.sha256.clone(),
            });
        }
        let mut package = Package {
            name: entry.pin.name.clone(),
            version: entry.pin.version.clone(),
            requires_python: entry.requires_python.clone(),
            build_only: !entry.runtime,
            dependencies: lock_dependencies(&entry.dependencies, &several),
            ..Package::default()
        };
        if entry.prebuilt {
            // Taken as its wheel: no sdist, nothing to build it with.
            package.wheel = Some(ob_lock::Wheel {
                filename: file.filename.clone(),
                url: file.url.clone(),
                upload_time: file.upload_time.map(|time| time.to_string()),
                size: file.size,
                sha256: file.sha256.clone(),
            });
            packages.push(package);
            continue;
        }
        package.sdist = Sdist {
            filename: file.filename.clone(),
            url: Some(file.url.clone()),
            path: None,
            upload_time: file.upload_time.map(|time| time.to_string()),
            size: file.size,
            sha256: file.sha256.clone(),
        };
        package.settings = options
            .config
            .for_package(&entry.pin.name, &entry.pin.version);
        package.build_requires = entry
            .build_requires
            .iter()
            .map(|pin| Pin {
                name: pin.name.clone(),
                version: pin.version.clone(),
            })
            .collect();
        package.crates = crates
            .pinned(&file.filename)
            .into_iter()
            .map(|pinned| {
                let key = pinned.entry.key();
                crate_entries
                    .entry((key.name.clone(), key.version.clone()))
                    .or_insert(pinned.entry);
                key
            })
            .collect();
        packages.push(package);
    }
    packages.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| ob_lock::compare_versions(&a.version, &b.version))
    });
    let mut lock = Lock {
        requires_python: None,
        packages,
        tool: LockTool {
            image: image.reference.clone(),
            image_digest: image.digest.clone(),
            python_version: image.python_version.clone(),
            platform: image.platform.clone(),
            index_url: options.index.to_string(),
            exclude_newer: options.exclude_newer.map(|time| time.to_string()),
            build_verified: options.verify_build,
            source_date_epoch: SOURCE_DATE_EPOCH,
            requirements: options.requirements.requirements.clone(),
            build_order: Vec::new(),
            cargo_default_registry: crates.default_registry_in_use(),
            crates: crate_entries.into_values().collect(),
            allow_binary: locked
                .iter()
                .filter(|entry| entry.prebuilt)
                .map(|entry| entry.pin.clone())
                .collect(),
        },
        ..Lock::default()
    };
    let invalid = |err: ob_lock::LockError| ResolveError::Driver {
        message: format!("the resolved lock does not validate: {err}"),
        log: None,
    };
    lock.tool.build_order = lock.canonical_build_order().map_err(invalid)?;
    lock.validate().map_err(invalid)?;
    Ok(lock)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_runs_are_pruned_and_the_newest_kept() {
        let runs = tempfile::tempdir().unwrap();
        let now = std::time::SystemTime::now();
        for (index, age_hours) in [0u64, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 200]
            .iter()
            .enumerate()
        {
            let dir = runs.path().join(format!("resolve-{index:02}"));
            fs_err::create_dir(&dir).unwrap();
            let when = now - Duration::from_secs(age_hours * 3600);
            fs_err::File::open(&dir)
                .unwrap()
                .set_modified(when)
                .unwrap();
        }
        fs_err::create_dir(runs.path().join("other")).unwrap();
        prune_runs(runs.path());
        let mut left: Vec<String> = fs_err::read_dir(runs.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        // The nine newest (room for the run that is starting), nothing a week old, and what is
        // not a run's.
        assert_eq!(
            left,
            [
                "other",
                "resolve-00",
                "resolve-01",
                "resolve-02",
                "resolve-03",
                "resolve-04",
                "resolve-05",
                "resolve-06",
                "resolve-07",
                "resolve-08"
            ]
        );
    }

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
