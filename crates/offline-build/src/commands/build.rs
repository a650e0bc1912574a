//! `offline-build build`.

use crate::cli::BuildArgs;
use crate::exit::Exit;
use crate::printer::Printer;

pub async fn exec(args: BuildArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = args;
    super::not_built_yet("build", "the build stage", printer)
}
