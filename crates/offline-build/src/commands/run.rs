//! `offline-build run` and `offline-build snapshots`.

use crate::cli::{RunArgs, SnapshotsCommand};
use crate::exit::Exit;
use crate::printer::Printer;

pub async fn exec_run(args: RunArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = args;
    super::not_built_yet("run", "the run stage", printer)
}

pub async fn exec_snapshots(command: SnapshotsCommand, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = command;
    super::not_built_yet("snapshots", "the run stage", printer)
}
