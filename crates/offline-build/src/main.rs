//! `offline-build`: resolve, fetch and build Python dependencies from source, offline, in
//! locked-down containers. This binary is thin: each command parses its flags and calls one
//! operation in a library crate.

#![forbid(unsafe_code)]

mod cli;
mod commands;
mod exit;
mod printer;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let printer = printer::Printer::new(cli.global.quiet, cli.global.no_progress);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            printer.error(&anyhow::Error::new(err).context("could not start the async runtime"));
            return exit::Exit::Internal.into();
        }
    };
    let result = runtime.block_on(commands::dispatch(cli.command, &printer));
    // Containers are removed by the commands themselves; give any detached cleanup a moment.
    runtime.shutdown_timeout(std::time::Duration::from_secs(10));
    match result {
        Ok(exit) => exit.into(),
        Err(err) => {
            if exit::is_broken_pipe(&err) {
                return exit::Exit::Success.into();
            }
            printer.error(&err);
            exit::classify(&err).into()
        }
    }
}
