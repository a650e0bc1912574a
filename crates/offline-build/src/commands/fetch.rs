//! `offline-build fetch`.

use crate::cli::FetchArgs;
use crate::exit::Exit;
use crate::printer::Printer;

pub async fn exec(args: FetchArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = args;
    super::not_built_yet("fetch", "the fetch stage", printer)
}
