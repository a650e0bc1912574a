//! `offline-build doctor`.

use crate::cli::DoctorArgs;
use crate::exit::Exit;
use crate::printer::Printer;

pub async fn exec(args: DoctorArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let _ = args;
    super::not_built_yet("doctor", "doctor", printer)
}
