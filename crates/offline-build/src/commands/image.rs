//! `offline-build image`.

use crate::cli::ImageCommand;
use crate::exit::Exit;
use crate::printer::Printer;

pub async fn exec(command: ImageCommand, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = command;
    super::not_built_yet("image", "the builder image", printer)
}
