//! `offline-build image`: make the default builder image, or describe an image. The work is in
//! `ob_sandbox::image`; this module only prints.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use ob_sandbox::image::{self, CreateOptions, CreateReporter, ImageInfo};
use ob_sandbox::{Sandbox, SandboxError};

use crate::cli::{ImageCommand, ImageCreateArgs, ImageShowArgs};
use crate::exit::{Exit, rejected};
use crate::printer::Printer;

pub async fn exec(command: ImageCommand, printer: &Printer) -> anyhow::Result<Exit> {
    match command {
        ImageCommand::Create(args) => create(args, printer).await,
        ImageCommand::Show(args) => show(args, printer).await,
        ImageCommand::Assemble {
            lock,
            out,
            tag,
            json,
        } => {
            let options = ob_run::AssembleOptions {
                lock: lock.lock,
                out,
                tag,
            };
            super::run::exec_assemble(options, json, printer).await
        }
    }
}

async fn create(args: ImageCreateArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let sandbox = Sandbox::connect().await?;
    let reporter = StepReporter::new(printer);
    if let Some(bad) = args
        .with
        .iter()
        .find(|name| !image::is_debian_package_name(name))
    {
        return Err(rejected(SandboxError::BadPackageName { name: bad.clone() }));
    }
    if !image::is_image_reference(&args.image) {
        return Err(rejected(SandboxError::ImageUnusable {
            reference: args.image,
            detail: "it is no image reference (a lowercase `repository[:tag]`)".to_owned(),
        }));
    }
    let options = CreateOptions {
        mirror: args.mirror,
        force: args.force,
        extra_packages: args.with,
        reference: Some(args.image),
        // The file list that lets a failed build's hint name the Debian package it lacks.
        contents_cache: ob_sandbox::debian_contents::default_cache_dir(),
    };
    let outcome = image::create(&sandbox, &options, &reporter).await;
    reporter.finish();
    let outcome = outcome.context("could not create the builder image")?;
    if outcome.created {
        print_info(printer, &outcome.info);
    }
    Ok(Exit::Success)
}

async fn show(args: ImageShowArgs, printer: &Printer) -> anyhow::Result<Exit> {
    let sandbox = Sandbox::connect().await?;
    let info = match image::require(&sandbox, args.image.image.as_deref()).await {
        Ok(info) => info,
        // An image given with --image that cannot build is the user's to fix.
        Err(err @ SandboxError::ImageUnusable { .. }) => return Err(rejected(err)),
        Err(err) => return Err(err.into()),
    };
    if args.json {
        let mut stdout = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut stdout, &info)?;
        writeln!(stdout)?;
    } else {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "reference: {}", info.reference)?;
        writeln!(stdout, "digest:    {}", info.digest)?;
        writeln!(stdout, "python:    {}", info.python_version)?;
        writeln!(stdout, "platform:  {}", info.platform)?;
        writeln!(stdout, "id:        {}", info.id)?;
        if !info.debian_packages.is_empty() {
            writeln!(
                stdout,
                "packages:  {} Debian packages{} (`--json` lists them with versions)",
                info.debian_packages.len(),
                if info.extra_packages.is_empty() {
                    String::new()
                } else {
                    format!(", with {}", info.extra_packages.join(", "))
                }
            )?;
        }
    }
    let _ = printer;
    Ok(Exit::Success)
}

fn print_info(printer: &Printer, info: &ImageInfo) {
    printer.info(format!(
        "`{}`: Python {} ({}), layer {}",
        info.reference, info.python_version, info.platform, info.digest
    ));
}

/// Prints each step as a line, and debootstrap's chatter on a spinner when bars are allowed.
struct StepReporter<'a> {
    printer: &'a Printer,
    spinner: Option<ProgressBar>,
}

impl<'a> StepReporter<'a> {
    fn new(printer: &'a Printer) -> StepReporter<'a> {
        let spinner = printer.shows_progress().then(|| {
            let spinner = printer.multi_progress().add(ProgressBar::new_spinner());
            spinner.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            spinner.enable_steady_tick(Duration::from_millis(120));
            spinner
        });
        StepReporter { printer, spinner }
    }

    fn finish(&self) {
        if let Some(spinner) = &self.spinner {
            spinner.finish_and_clear();
        }
    }
}

impl CreateReporter for StepReporter<'_> {
    fn on_step(&self, message: &str) {
        match &self.spinner {
            Some(spinner) => spinner.suspend(|| self.printer.info(message)),
            None => self.printer.info(message),
        }
    }

    fn on_detail(&self, line: &str) {
        if let Some(spinner) = &self.spinner {
            spinner.set_message(line.to_string());
        }
    }
}
