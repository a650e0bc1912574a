//! One module per subcommand; each calls one operation in a library crate.

mod build;
mod doctor;
mod fetch;
mod image;
mod resolve;
mod run;

use crate::cli::Command;
use crate::exit::Exit;
use crate::printer::Printer;

/// Runs the chosen subcommand.
pub async fn dispatch(command: Command, printer: &Printer) -> anyhow::Result<Exit> {
    match command {
        Command::Resolve(args) => resolve::exec(args, printer).await,
        Command::Fetch(args) => fetch::exec(args, printer).await,
        Command::Build(args) => build::exec(args, printer).await,
        Command::Run(args) => run::exec_run(args, printer).await,
        Command::Snapshots(command) => run::exec_snapshots(command, printer).await,
        Command::Image(command) => image::exec(command, printer).await,
        Command::Doctor(args) => doctor::exec(args, printer).await,
    }
}
