//! `offline-build build`: reads the lock, calls `ob_build::build`, draws progress and prints the
//! outcome (human lines on stderr, the report as JSON on stdout with `--json`).

use std::fmt;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use ob_build::{BuildOptions, BuildReport, PackageReport, PackageStatus, Reporter};
use ob_lock::Lock;

use crate::cli::BuildArgs;
use crate::exit::{Exit, rejected};
use crate::printer::{Printer, escape_controls};

pub async fn exec(args: BuildArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let started = Instant::now();
    let lock = read_lock(&args.lock.lock, printer)?;
    let mut options = BuildOptions::new(&args.wheelhouse, &args.out);
    options.image = args.image.image.clone();
    if let Some(jobs) = args.jobs {
        options.jobs = jobs.max(1);
    }
    options.timeout = Duration::from_secs(args.timeout.max(1));
    options.check_reproducible = args.check_reproducible;
    options.verify_install = args.verify_install;
    options.runtime = args.runtime.runtime.clone();
    options.lock_dir = match args.lock.lock.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    options.policy = ob_build::install_policy::InstallPolicy::allowing_pth(
        args.allow_pth.iter().map(String::as_str),
    );
    options.cache = if args.no_cache {
        None
    } else {
        ob_build::WheelCache::default_root()
    };

    let reporter = BarReporter::new(printer, &args.out);
    // On Ctrl-C or SIGTERM the build is dropped, which removes its containers; wheels already
    // in the output directory stay, and the next run finds them up to date.
    let result = ob_sandbox::until_interrupted(ob_build::build(&lock, &options, &reporter)).await;
    reporter.bar.finish_and_clear();
    let report = match result {
        Err(interrupted) => {
            return Err(anyhow::Error::new(interrupted).context(
                "build interrupted; its containers were removed, and wheels already built are \
                 kept for the next run",
            ));
        }
        Ok(Ok(report)) => report,
        Ok(Err(err)) => {
            let hint = err.hint();
            let rejection = err.is_rejection();
            let err = anyhow::Error::new(Hinted::new(err, hint));
            return Err(if rejection { rejected(err) } else { err });
        }
    };
    if args.json {
        let json = serde_json::to_string_pretty(&report)?;
        let mut stdout = std::io::stdout().lock();
        std::io::Write::write_all(&mut stdout, json.as_bytes())?;
        std::io::Write::write_all(&mut stdout, b"\n")?;
    }
    print_summary(&report, &args, printer, started.elapsed());
    let degraded = report.degraded().count();
    if degraded > 0 && args.strict {
        printer.warn(format!(
            "--strict: {degraded} degraded wheel(s); add the system libraries they need to the \
             builder image (`offline-build image create --with PACKAGE`) and build again"
        ));
        return Ok(Exit::Failure);
    }
    Ok(if report.succeeded() {
        Exit::Success
    } else {
        Exit::Failure
    })
}

/// Reads and validates the lock, printing the warnings PEP 751 asks readers to give. Exit 1 when
/// the lock is at fault (its message ends with a hint), else 2.
fn read_lock(path: &std::path::Path, printer: &Printer) -> anyhow::Result<Lock> {
    match Lock::read_with_warnings(path) {
        Ok((lock, warnings)) => {
            for warning in warnings {
                printer.warn(warning.to_string());
            }
            Ok(lock)
        }
        Err(err) if err.is_input_error() => Err(rejected(err)),
        Err(err) => Err(err.into()),
    }
}

fn print_summary(report: &BuildReport, args: &BuildArgs, printer: &Printer, elapsed: Duration) {
    let count = |status| {
        report
            .packages
            .iter()
            .filter(|package| package.status == status)
            .count()
    };
    printer.info(format!(
        "{} built, {} from the wheel cache, {} up to date, {} failed, {} skipped in {:.1}s; wheels in {}",
        count(PackageStatus::Built),
        count(PackageStatus::Cached),
        count(PackageStatus::UpToDate),
        count(PackageStatus::Failed) + count(PackageStatus::TimedOut),
        count(PackageStatus::Skipped),
        elapsed.as_secs_f64(),
        args.out.display()
    ));
    // Loud on every build, not only when the lock was made: these were not built from source.
    for package in &report.packages {
        if package.status == PackageStatus::Prebuilt {
            printer.warn(format!(
                "{} {} is the upstream wheel `{}`, not built from source: the lock's \
                 `allow-binary` names it",
                package.name,
                package.version,
                package.wheel.as_deref().unwrap_or_default()
            ));
        }
    }
    for package in report.degraded() {
        printer.warn(format!(
            "{} {} is degraded: {}",
            package.name,
            package.version,
            package.degraded.as_deref().unwrap_or_default()
        ));
    }
    let skipped: Vec<String> = report
        .packages
        .iter()
        .filter(|package| package.status == PackageStatus::Skipped)
        .map(|package| format!("{} {}", package.name, package.version))
        .collect();
    if !skipped.is_empty() {
        printer.warn(format!(
            "skipped because a build requirement failed: {}",
            skipped.join(", ")
        ));
    }
    for package in &report.packages {
        if let Some(check) = &package.reproducible
            && !check.identical
        {
            printer.warn(format!(
                "{} {} is not reproducible: {} (log: {})",
                package.name,
                package.version,
                check.differences.join("; "),
                args.out.join(&check.log).display()
            ));
        }
    }
    if args.check_reproducible && report.unsuccessful().next().is_none() {
        let identical = report
            .packages
            .iter()
            .filter(|package| package.reproducible.as_ref().is_some_and(|r| r.identical))
            .count();
        printer.info(format!(
            "reproducible: {identical} of {} wheels identical on a second build",
            report.packages.len()
        ));
    }
    if let Some(check) = &report.verify_install {
        let log = args.out.join(&check.log);
        if check.ok {
            printer.info(format!(
                "verified: installed {} package(s) offline and imported {}",
                check.requirements.len(),
                check.modules.join(", ")
            ));
        } else {
            printer.warn(format!(
                "the install check failed: pip could not install the runtime set offline or a module did not import (log: {})",
                log.display()
            ));
        }
    }
}

/// An overall bar, and a line per finished package.
struct BarReporter {
    bar: ProgressBar,
    printer: Printer,
    /// The output directory, to print logs' full paths.
    out: std::path::PathBuf,
}

impl BarReporter {
    fn new(printer: &Printer, out: &std::path::Path) -> BarReporter {
        let bar = if printer.shows_progress() {
            let bar = printer.multi_progress().add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} building [{bar:30}] {pos}/{len} {wide_msg}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        } else {
            ProgressBar::hidden()
        };
        BarReporter {
            bar,
            printer: printer.clone(),
            out: out.to_path_buf(),
        }
    }

    fn line(&self, text: String) {
        if self.printer.is_quiet() {
            return;
        }
        if self.bar.is_hidden() {
            self.printer.info(text);
        } else {
            self.bar.println(escape_controls(&text));
        }
    }
}

impl Reporter for BarReporter {
    fn on_start(&self, total: usize) {
        self.bar.set_length(total as u64);
    }

    fn on_package_start(&self, name: &str, version: &str) {
        self.bar.set_message(format!("{name} {version}"));
    }

    fn on_package_done(&self, package: &PackageReport, log_tail: &[String]) {
        self.bar.inc(1);
        let what = format!("{} {}", package.name, package.version);
        match package.status {
            PackageStatus::Built => self.line(format!(
                "  built      {what} in {:.1}s",
                package.duration_seconds
            )),
            PackageStatus::UpToDate => self.line(format!("  up to date {what}")),
            PackageStatus::Cached => self.line(format!("  cached     {what}")),
            PackageStatus::Skipped => self.line(format!("  skipped    {what}")),
            PackageStatus::Prebuilt => self.line(format!("  prebuilt   {what} (upstream wheel)")),
            PackageStatus::Failed | PackageStatus::TimedOut => {
                let mut text = package
                    .error
                    .as_deref()
                    .unwrap_or("the build failed")
                    .to_owned();
                if !log_tail.is_empty() {
                    text.push_str(&format!("\n  last {} lines of its log:", log_tail.len()));
                    for line in log_tail {
                        text.push_str(&format!("\n  | {line}"));
                    }
                }
                if let Some(log) = &package.log {
                    text.push_str(&format!("\n  full log: {}", self.out.join(log).display()));
                }
                // Failures show even with --quiet. Only our own label may carry escapes.
                let text = format!(
                    "{} {}",
                    console::style("error:").red().bold(),
                    escape_controls(&text)
                );
                if self.bar.is_hidden() {
                    eprintln!("{text}");
                } else {
                    self.bar.println(text);
                }
            }
        }
    }

    fn on_dropped(&self, name: &str, version: &str, file: &str, reason: &str) {
        let text = format!(
            "the build of {name} {version} left `{file}` in its output ({reason}); dropped"
        );
        if self.bar.is_hidden() {
            self.printer.warn(text);
        } else {
            self.bar
                .println(format!("warning: {}", escape_controls(&text)));
        }
    }

    fn on_phase(&self, phase: &str) {
        self.line(format!("{phase}..."));
    }

    fn on_warning(&self, message: &str) {
        if self.bar.is_hidden() {
            self.printer.warn(message);
        } else {
            self.bar
                .println(format!("warning: {}", escape_controls(message)));
        }
    }
}

/// An error followed by a `hint:` line on what to do next; causes stay in the chain.
#[derive(Debug)]
struct Hinted<E> {
    error: E,
    hint: Option<String>,
}

impl<E> Hinted<E> {
    fn new(error: E, hint: Option<String>) -> Hinted<E> {
        Hinted { error, hint }
    }
}

impl<E: fmt::Display> fmt::Display for Hinted<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error + 'static> std::error::Error for Hinted<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}
