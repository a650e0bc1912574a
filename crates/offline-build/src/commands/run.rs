//! `offline-build run`, `offline-build snapshots` and `offline-build image assemble`: thin
//! wrappers around `ob_run`. The program's output is passed through unprefixed; its exit code
//! becomes ours once it has started (see docs/run.md).

use std::io::Write;
use std::time::Duration;

use ob_run::{AssembleOptions, RunError, RunOptions, Snapshots};
use ob_sandbox::{OutputLine, Sandbox};

use crate::cli::{RunArgs, SnapshotsCommand};
use crate::exit::{Exit, rejected};
use crate::printer::Printer;

pub async fn exec_run(args: RunArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let mut options = RunOptions::new(args.command);
    options.lock = args.lock.lock;
    options.out = args.out;
    options.network = args.network;
    options.runtime = args.runtime.runtime;
    options.keep = args.keep;
    options.timeout = Duration::from_secs(args.timeout.max(1));
    for spec in &args.data {
        options
            .data
            .push(ob_run::parse_mount(spec, false).map_err(classify)?);
    }
    if let Some(spec) = &args.results {
        options.results = Some(ob_run::parse_mount(spec, true).map_err(classify)?);
    }

    let sandbox = Sandbox::connect().await?;
    sandbox.remove_leftovers().await?;
    let reporter = StepPrinter(printer);
    // Lines go straight to our stdout and stderr, unprefixed, as they arrive.
    let on_line = |line: OutputLine| match line {
        OutputLine::Stdout(line) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{line}");
            let _ = stdout.flush();
        }
        OutputLine::Stderr(line) => {
            let _ = writeln!(std::io::stderr(), "{line}");
        }
    };
    let result =
        ob_sandbox::until_interrupted(ob_run::run(&sandbox, &options, &reporter, on_line)).await;
    let report = match result {
        Err(interrupted) => {
            return Err(anyhow::Error::new(interrupted)
                .context("run interrupted; its container was removed"));
        }
        Ok(result) => result.map_err(classify)?,
    };
    for dropped in &report.dropped {
        printer.info(format!("Dropped the oldest snapshot `{}`", dropped.id));
    }
    let outcome = &report.outcome;
    if outcome.timed_out {
        printer.warn(format!(
            "the program was killed after its time limit of {} s",
            options.timeout.as_secs()
        ));
    }
    if outcome.oom_killed {
        printer.warn("the program was killed for exceeding its memory limit");
    }
    if let Some(snapshot) = &report.snapshot
        && outcome.exit_code != 0
    {
        printer.info(format!(
            "To undo what it did to its results: offline-build snapshots restore --results {} {}",
            args.results
                .as_deref()
                .and_then(|spec| spec.rsplit_once(':'))
                .map_or("<DIR>", |(host, _)| host),
            snapshot.id
        ));
    }
    if outcome.exit_code == 0 {
        return Ok(Exit::Success);
    }
    // The program's exit code is ours. `Exit` only knows 0/1/2, so leave directly: the
    // container is already removed and nothing else is pending.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let code = i32::try_from(outcome.exit_code).unwrap_or(1);
    std::process::exit(if (1..=255).contains(&code) { code } else { 1 })
}

pub async fn exec_snapshots(command: SnapshotsCommand, printer: &Printer) -> anyhow::Result<Exit> {
    match command {
        SnapshotsCommand::List { results, json } => {
            let snapshots = Snapshots::for_results(&results).map_err(classify)?;
            let list = snapshots.list().map_err(classify)?;
            let mut stdout = std::io::stdout().lock();
            if json {
                serde_json::to_writer_pretty(&mut stdout, &list)?;
                writeln!(stdout)?;
            } else if list.is_empty() {
                printer.info(format!(
                    "No snapshots of `{}` (they are kept in `{}`)",
                    snapshots.results().display(),
                    snapshots.store().display()
                ));
            } else {
                for snapshot in &list {
                    writeln!(
                        stdout,
                        "{}  {:<5} {:>6} files {:>12} bytes",
                        snapshot.id,
                        match snapshot.kind {
                            ob_run::SnapshotKind::Btrfs => "btrfs",
                            ob_run::SnapshotKind::Copy => "copy",
                        },
                        snapshot.files,
                        snapshot.bytes
                    )?;
                }
            }
            Ok(Exit::Success)
        }
        SnapshotsCommand::Restore { results, id } => {
            let snapshots = Snapshots::for_results(&results).map_err(classify)?;
            let restored = snapshots.restore(id.as_deref()).map_err(classify)?;
            printer.info(format!(
                "Restored `{}` from snapshot `{}`",
                snapshots.results().display(),
                restored.id
            ));
            Ok(Exit::Success)
        }
    }
}

/// `offline-build image assemble`.
pub async fn exec_assemble(
    options: AssembleOptions,
    json: bool,
    printer: &Printer,
) -> anyhow::Result<Exit> {
    let sandbox = Sandbox::connect().await?;
    sandbox.remove_leftovers().await?;
    let image = ob_sandbox::until_interrupted(ob_run::assemble(&sandbox, &options))
        .await?
        .map_err(classify)?;
    if json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &image)?;
        writeln!(stdout)?;
    } else {
        printer.info(format!(
            "{} `{}` ({} packages, inputs {})",
            if image.reused {
                "Up to date:"
            } else {
                "Assembled"
            },
            image.reference,
            image.packages.len(),
            &image.inputs_digest[..12]
        ));
        if !image.evicted.is_empty() {
            printer.info(ob_run::assemble::evicted_message(&image.evicted));
        }
        writeln!(std::io::stdout(), "{}", image.reference)?;
    }
    Ok(Exit::Success)
}

/// Exit 1 for what the user can fix, else 2.
fn classify(err: RunError) -> anyhow::Error {
    if err.is_input_error() {
        rejected(err)
    } else {
        err.into()
    }
}

struct StepPrinter<'a>(&'a Printer);

impl ob_run::Reporter for StepPrinter<'_> {
    fn on_step(&self, message: &str) {
        self.0.info(message);
    }
}
