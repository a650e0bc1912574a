//! `offline-build resolve`.

use crate::cli::ResolveArgs;
use crate::exit::Exit;
use crate::printer::Printer;

pub async fn exec(args: ResolveArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = args;
    super::not_built_yet("resolve", "the resolve stage", printer)
}
