//! `offline-build resolve`: gathers the requirements, calls `ob_resolve::resolve`, draws a
//! spinner per phase, writes the lock (untouched when unchanged) and prints a summary.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use ob_index::{IndexSource, IndexUrl};
use ob_resolve::{Phase, RequirementSources, ResolveError, ResolveOptions, ResolveReporter};

use crate::cli::ResolveArgs;
use crate::exit::{Exit, rejected};
use crate::printer::Printer;

/// The whole container run may take this long (a large closure with verification builds).
const TIMEOUT: Duration = Duration::from_secs(3 * 3600);

/// What to do after a failed `--locked` check.
const LOCKED_HINT: &str = "run `offline-build resolve` with the same inputs and without --locked \
                           to update it, then review and commit the change";

pub async fn exec(args: ResolveArgs, printer: &Printer) -> anyhow::Result<Exit> {
    // A check with nothing to check against fails before the resolve, not after it.
    if args.locked && !args.lock.lock.exists() {
        return Err(no_lock_to_check(&args.lock.lock));
    }
    let requirements = RequirementSources {
        specs: args.specs.clone(),
        requirement_files: args.requirements.clone(),
        project: args.project.clone(),
        extras: args.extra.clone(),
        groups: args.group.clone(),
    }
    .read()
    .map_err(classify)?;
    let index = match &args.index_url {
        Some(url) => IndexUrl::parse(url, IndexSource::CommandLine).map_err(rejected)?,
        None => ob_index::default_index_url()?,
    };
    let config = ob_resolve::BuildConfig::find(&args.lock.lock, args.project.as_deref())
        .map_err(classify)?;
    if let Some(source) = &config.source {
        printer.info(format!(
            "Per-package build settings from {}",
            source.display()
        ));
    }
    let exclude_newer = args
        .exclude_newer
        .as_deref()
        .map(ob_resolve::parse_exclude_newer)
        .transpose()
        .map_err(rejected)?;
    let jobs = args.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|cores| cores.get())
            .unwrap_or(1)
    });
    printer.info(format!(
        "Resolving {} requirement(s) against {index} ({})",
        requirements.requirements.len(),
        index.source()
    ));
    let options = ResolveOptions {
        requirements,
        image: args.image.image.clone(),
        index,
        exclude_newer,
        jobs,
        verify_build: !args.no_verify_build,
        cache_dir: cache_dir(),
        wheel_cache: if args.no_cache {
            None
        } else {
            ob_build::WheelCache::default_root()
        },
        build_timeout: Duration::from_secs(args.timeout),
        timeout: TIMEOUT,
        runs_dir: runs_dir(),
        runtime: args.runtime.runtime.clone(),
        policy: ob_build::install_policy::InstallPolicy::allowing_pth(
            args.allow_pth.iter().map(String::as_str),
        ),
        config,
        keep_going: args.keep_going,
    };
    let reporter = SpinnerReporter::new(printer);
    let result = tokio::select! {
        result = ob_resolve::resolve(&options, &reporter) => result,
        _ = tokio::signal::ctrl_c() => {
            reporter.finish();
            // Dropping the resolve removes its container and network and stops the proxy.
            ob_sandbox::settle_cleanups().await;
            anyhow::bail!("interrupted; no lock was written");
        }
    };
    reporter.finish();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(err) => {
            if args.json
                && let Some(summary) = failures_json(&err, &args.lock.lock)
            {
                println!("{summary:#}");
            }
            return Err(classify(err));
        }
    };
    let written = if args.locked {
        check_locked(&outcome.lock, &args.lock.lock)?;
        ob_lock::WriteOutcome::Unchanged
    } else {
        outcome
            .lock
            .write(&args.lock.lock)
            .with_context(|| format!("could not write the lock `{}`", args.lock.lock.display()))?
    };
    if args.json {
        let summary = serde_json::json!({
            "lock": args.lock.lock,
            "changed": matches!(written, ob_lock::WriteOutcome::Written),
            "runtime": outcome.runtime,
            "build_only": outcome.build_only,
            "build_verified": outcome.lock.tool.build_verified,
            "build_order": outcome
                .lock
                .tool
                .build_order
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            "seconds": outcome.elapsed.as_secs_f64(),
            "built": outcome.built,
            "from_cache": outcome.from_cache,
        });
        println!("{summary:#}");
    }
    printer.info(format!(
        "Resolved {} runtime package(s) and {} build-only in {:.1}s{}; {} `{}`",
        outcome.runtime,
        outcome.build_only,
        outcome.elapsed.as_secs_f64(),
        if outcome.lock.tool.build_verified {
            if outcome.from_cache > 0 {
                format!(
                    ", every package verified ({} built, {} from the wheel cache)",
                    outcome.built, outcome.from_cache
                )
            } else {
                ", every package built once to verify".to_owned()
            }
        } else {
            " (verification builds skipped)".to_owned()
        },
        match written {
            ob_lock::WriteOutcome::Written => "wrote",
            _ if args.locked => "up to date:",
            _ => "unchanged",
        },
        args.lock.lock.display()
    ));
    Ok(Exit::Success)
}

/// `--json` after `--keep-going` failed: what failed, what that blocked and what resolved.
/// `None` for any other error (it goes to stderr only).
fn failures_json(err: &ResolveError, lock: &std::path::Path) -> Option<serde_json::Value> {
    let ResolveError::Several {
        failures,
        blocked,
        resolved,
    } = err
    else {
        return None;
    };
    let failures: Vec<serde_json::Value> = failures
        .iter()
        .map(|failure| {
            serde_json::json!({
                "package": failure.package,
                "version": failure.version,
                "phase": failure.phase.as_str(),
                "message": failure.message(),
                "needed_because": failure.needed_because(),
                "log": failure.log,
            })
        })
        .collect();
    let blocked: Vec<serde_json::Value> = blocked
        .iter()
        .map(|package| {
            serde_json::json!({
                "package": package.package,
                "version": package.version,
                "because": package.because,
            })
        })
        .collect();
    Some(serde_json::json!({
        "lock": lock,
        "changed": false,
        "failures": failures,
        "blocked": blocked,
        "resolved": resolved.iter().map(ToString::to_string).collect::<Vec<_>>(),
    }))
}

/// `--locked`: the file at `path` must hold exactly the bytes of `resolved`, or the resolve
/// fails (exit 1) with what differs and writes nothing.
fn check_locked(resolved: &ob_lock::Lock, path: &std::path::Path) -> anyhow::Result<()> {
    resolved
        .validate()
        .context("the resolved lock does not validate")?;
    let existing = match fs_err::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(no_lock_to_check(path));
        }
        Err(err) => return Err(err).context("could not read the lock to check it"),
    };
    if existing == resolved.to_toml_string().as_bytes() {
        return Ok(());
    }
    // Name the packages that differ where the committed lock can be read; otherwise (an older
    // or hand-broken file) say only that it differs.
    let details = match ob_lock::Lock::read(path) {
        Ok(committed) => {
            let changes = committed.package_changes(resolved);
            if changes.is_empty() {
                "the packages are the same; other fields differ ([tool.offline-build], \
                 `requires-python`, `created-by` or the file's layout)"
                    .to_string()
            } else {
                let lines: Vec<String> =
                    changes.iter().map(|change| format!("  {change}")).collect();
                format!("compared with it, this resolve has:\n{}", lines.join("\n"))
            }
        }
        Err(err) => format!("it cannot be read as a lock ({err})"),
    };
    Err(rejected(anyhow::anyhow!(
        "--locked: `{}` is out of date, and was left as it is; {details}\n\nhint: \
         {LOCKED_HINT}",
        path.display()
    )))
}

fn no_lock_to_check(path: &std::path::Path) -> anyhow::Error {
    rejected(anyhow::anyhow!(
        "--locked: there is no lock `{}` to check\n\nhint: {LOCKED_HINT}",
        path.display()
    ))
}

fn classify(err: ResolveError) -> anyhow::Error {
    if err.is_user_error() {
        rejected(err)
    } else {
        anyhow::Error::new(err)
    }
}

/// `$XDG_CACHE_HOME/offline-build` (or `~/.cache/offline-build`).
fn cache_root() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("offline-build"))
}

/// `<cache>/sdists`: verified sdists kept between runs.
fn cache_dir() -> Option<PathBuf> {
    cache_root().map(|root| root.join("sdists"))
}

/// `<cache>/runs`: each resolve's work directory, kept with its logs when the run fails.
fn runs_dir() -> Option<PathBuf> {
    cache_root().map(|root| root.join("runs"))
}

/// One spinner per phase; hidden with --quiet, --no-progress, or when stderr is not a terminal.
struct SpinnerReporter {
    progress: MultiProgress,
    printer: Printer,
    current: std::sync::Mutex<Option<ProgressBar>>,
}

impl SpinnerReporter {
    fn new(printer: &Printer) -> SpinnerReporter {
        SpinnerReporter {
            progress: printer.multi_progress(),
            printer: printer.clone(),
            current: std::sync::Mutex::new(None),
        }
    }

    fn start(&self, message: &str) {
        let bar = self.progress.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar.set_message(message.to_string());
        let mut current = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(previous) = current.replace(bar) {
            previous.finish();
        }
    }

    fn message(&self, message: String) {
        if let Some(bar) = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
        {
            bar.set_message(message);
        }
    }

    fn finish(&self) {
        if let Some(bar) = self
            .current
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
        {
            bar.finish();
        }
    }
}

impl ResolveReporter for SpinnerReporter {
    fn on_phase(&self, phase: Phase) {
        self.start(match phase {
            Phase::Preparing => "Starting the index proxy and the resolver session",
            Phase::Runtime => "Resolving the runtime closure (sdists only)",
            Phase::BuildRequirements => "Discovering build requirements",
            Phase::Verify => "Verification builds",
            _ => "Resolving",
        });
    }

    fn on_found(&self, packages: usize) {
        self.message(format!(
            "Discovering build requirements: {packages} packages so far"
        ));
    }

    fn on_discovered(&self, package: &str, done: usize) {
        self.message(format!(
            "Discovering build requirements: {done} packages examined (last: {package})"
        ));
    }

    fn on_built(&self, package: &str, done: usize, total: usize) {
        self.message(format!(
            "Verification builds: {done}/{total} built (last: {package})"
        ));
    }

    fn on_warning(&self, message: &str) {
        // Without a terminal the bars are hidden, and so is what they would print.
        if self.progress.is_hidden() {
            self.printer.warn(message);
        } else {
            let _ = self.progress.println(format!(
                "warning: {}",
                crate::printer::escape_controls(message)
            ));
        }
    }
}
