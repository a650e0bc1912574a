//! `offline-build fetch`: reads the lock and calls `ob_fetch::fetch` (or, with `--offline`,
//! `ob_fetch::verify_wheelhouse`); owns the progress bars and the summary, nothing else.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context;
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressStyle};
use ob_fetch::{Credentials, FetchError, FetchOptions, FetchSummary, Reporter, WheelhouseCheck};
use ob_lock::Lock;
use serde::Serialize;

use crate::cli::FetchArgs;
use crate::exit::{Exit, rejected};
use crate::printer::Printer;

pub async fn exec(args: FetchArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let lock_path = args.lock.lock.clone();
    let lock = read_lock(&lock_path, printer)?;
    if args.offline {
        return check_offline(lock, args.wheelhouse, args.json, printer).await;
    }
    let lock_dir = match lock_path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    let mut options = FetchOptions::new(&args.wheelhouse);
    options.jobs = args.jobs.unwrap_or(ob_fetch::DEFAULT_JOBS).max(1);
    options.timeout = Duration::from_secs(args.timeout.max(1));
    options.credentials = Credentials::from_environment();
    let reporter = BarReporter::new(printer);
    let summary = tokio::select! {
        result = ob_fetch::fetch(&lock, &lock_dir, &options, &reporter) => result,
        _ = tokio::signal::ctrl_c() => {
            reporter.clear();
            anyhow::bail!(
                "interrupted; files already verified are kept, and partial downloads resume on \
                 the next run"
            );
        }
    };
    reporter.clear();
    let summary = summary.map_err(explain)?;
    report_summary(&summary, &args.wheelhouse, args.json, printer)?;
    Ok(Exit::Success)
}

/// Reads and validates the lock, printing the warnings PEP 751 asks readers to give. Exit 1 when
/// the lock is at fault (missing, malformed, invalid; its message ends with a hint), else 2.
fn read_lock(path: &Path, printer: &Printer) -> anyhow::Result<Lock> {
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

/// Turns a fetch error into the message the user sees: the error, its causes, then the hint.
/// Exit 1 when the input or a verification is at fault, 2 for the environment.
fn explain(err: FetchError) -> anyhow::Error {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(&err);
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    if let Some(hint) = err.hint() {
        text.push_str(&format!("\n\nhint: {hint}"));
    }
    let error = anyhow::Error::msg(text);
    if err.is_rejection() {
        rejected(error)
    } else {
        error
    }
}

/// `--json` output of a fetch (documented in docs/fetch.md).
#[derive(Serialize)]
struct FetchJson<'a> {
    downloaded: &'a [String],
    downloaded_bytes: u64,
    already_present: usize,
    replaced: &'a [String],
    extra: &'a [String],
    elapsed_seconds: f64,
}

fn report_summary(
    summary: &FetchSummary,
    wheelhouse: &Path,
    json: bool,
    printer: &Printer,
) -> anyhow::Result<()> {
    if !summary.extra.is_empty() {
        printer.warn(format!(
            "{} file(s) in {} are not in the lock and were left alone: {}",
            summary.extra.len(),
            wheelhouse.display(),
            summary.extra.join(", ")
        ));
    }
    printer.info(format!(
        "Downloaded {} file(s) ({}) in {:.2}s, {} already present",
        summary.downloaded.len(),
        HumanBytes(summary.downloaded_bytes),
        summary.elapsed.as_secs_f64(),
        summary.already_present
    ));
    if json {
        let output = FetchJson {
            downloaded: &summary.downloaded,
            downloaded_bytes: summary.downloaded_bytes,
            already_present: summary.already_present,
            replaced: &summary.replaced,
            extra: &summary.extra,
            elapsed_seconds: summary.elapsed.as_secs_f64(),
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    }
    Ok(())
}

/// `--json` output of `--offline` (documented in docs/fetch.md).
#[derive(Serialize)]
struct CheckJson<'a> {
    complete: bool,
    verified: &'a [String],
    missing: &'a [String],
    wrong: Vec<WrongJson<'a>>,
    extra: &'a [String],
}

#[derive(Serialize)]
struct WrongJson<'a> {
    filename: &'a str,
    reason: String,
}

async fn check_offline(
    lock: Lock,
    wheelhouse: PathBuf,
    json: bool,
    printer: &Printer,
) -> anyhow::Result<Exit> {
    let checked_dir = wheelhouse.clone();
    let check: WheelhouseCheck =
        tokio::task::spawn_blocking(move || ob_fetch::verify_wheelhouse(&lock, &checked_dir))
            .await
            .context("the wheelhouse check stopped unexpectedly")?
            .map_err(explain)?;
    for filename in &check.missing {
        printer.info(format!("missing: {filename}"));
    }
    for wrong in &check.wrong {
        printer.info(format!("wrong:   {} ({})", wrong.filename, wrong.reason()));
    }
    for filename in &check.extra {
        printer.info(format!("extra:   {filename} (not in the lock)"));
    }
    if json {
        let output = CheckJson {
            complete: check.is_complete(),
            verified: &check.verified,
            missing: &check.missing,
            wrong: check
                .wrong
                .iter()
                .map(|wrong| WrongJson {
                    filename: &wrong.filename,
                    reason: wrong.reason(),
                })
                .collect(),
            extra: &check.extra,
        };
        println!("{}", serde_json::to_string_pretty(&output)?);
    }
    if check.is_complete() {
        printer.info(format!(
            "All {} file(s) of the lock are present in {} and verified",
            check.verified.len(),
            wheelhouse.display()
        ));
        return Ok(Exit::Success);
    }
    Err(rejected(anyhow::anyhow!(
        "the wheelhouse `{}` does not match the lock: {} missing, {} wrong\n\nhint: run \
         `offline-build fetch` with network to download and replace them",
        wheelhouse.display(),
        check.missing.len(),
        check.wrong.len()
    )))
}

/// Progress bars: one for the whole fetch (bytes and files), one per active download. Hidden
/// when the printer hides progress.
struct BarReporter {
    printer: Printer,
    multi: MultiProgress,
    state: Mutex<BarState>,
}

#[derive(Default)]
struct BarState {
    total: Option<ProgressBar>,
    files: usize,
    done: usize,
    bars: HashMap<String, ProgressBar>,
    positions: HashMap<String, u64>,
}

impl BarReporter {
    fn new(printer: &Printer) -> BarReporter {
        BarReporter {
            printer: printer.clone(),
            multi: printer.multi_progress(),
            state: Mutex::new(BarState::default()),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BarState> {
        // A panic while holding this lock only ever left progress bars half-updated.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Prints a warning without tearing the bars.
    fn warn(&self, message: String) {
        self.multi.suspend(|| self.printer.warn(message));
    }

    fn clear(&self) {
        let mut state = self.state();
        for (_, bar) in state.bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(total) = state.total.take() {
            total.finish_and_clear();
        }
        let _ = self.multi.clear();
    }
}

fn style(template: &str) -> ProgressStyle {
    // The templates are constants of this file; a bad one would be a bug caught by any run
    // with bars, so falling back to the default style is enough.
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Reporter for BarReporter {
    fn on_fetch_start(&self, files: usize, bytes: u64) {
        let total = self.multi.add(ProgressBar::new(bytes));
        total.set_style(style(
            "Fetching [{bar:30}] {bytes}/{total_bytes} {msg} ({bytes_per_sec}, {eta})",
        ));
        let mut state = self.state();
        state.files = files;
        total.set_message(format!("0/{files} files"));
        state.total = Some(total);
    }

    fn on_download_start(&self, filename: &str, size: u64) {
        let bar = self.multi.add(ProgressBar::new(size));
        bar.set_style(style("  {msg:40!} [{bar:20}] {bytes}/{total_bytes}"));
        bar.set_message(filename.to_owned());
        let mut state = self.state();
        if let Some(old) = state.bars.insert(filename.to_owned(), bar) {
            old.finish_and_clear();
        }
    }

    fn on_download_progress(&self, filename: &str, position: u64) {
        let mut state = self.state();
        let previous = state
            .positions
            .insert(filename.to_owned(), position)
            .unwrap_or(0);
        if let Some(total) = &state.total {
            if position >= previous {
                total.inc(position - previous);
            } else {
                total.set_position(total.position().saturating_sub(previous - position));
            }
        }
        if let Some(bar) = state.bars.get(filename) {
            bar.set_position(position);
        }
    }

    fn on_download_retry(&self, filename: &str, attempt: u32, reason: &str) {
        self.warn(format!(
            "retrying `{filename}` (attempt {attempt}): {reason}"
        ));
    }

    fn on_download_complete(&self, filename: &str) {
        let mut state = self.state();
        if let Some(bar) = state.bars.remove(filename) {
            bar.finish_and_clear();
        }
        state.done += 1;
        let message = format!("{}/{} files", state.done, state.files);
        if let Some(total) = &state.total {
            total.set_message(message);
        }
    }

    fn on_replace(&self, filename: &str, reason: &str) {
        self.warn(format!(
            "`{filename}` in the wheelhouse does not match the lock ({reason}); replacing it"
        ));
    }

    fn on_wait_for_lock(&self, lock_file: &Path) {
        self.multi.suspend(|| {
            self.printer.info(format!(
                "Waiting for another fetch to release {}",
                lock_file.display()
            ));
        });
    }
}
