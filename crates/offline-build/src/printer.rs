//! Human output on stderr. Results that scripts parse go to stdout (`--json`); everything here
//! may change between versions.

use std::io::{IsTerminal, Write};

use indicatif::{MultiProgress, ProgressDrawTarget};

/// Where messages, warnings and progress bars go.
#[derive(Debug, Clone)]
pub struct Printer {
    quiet: bool,
    progress: bool,
}

impl Printer {
    pub fn new(quiet: bool, no_progress: bool) -> Printer {
        let progress = !quiet && !no_progress && std::io::stderr().is_terminal();
        Printer { quiet, progress }
    }

    /// A line of normal output (hidden by `--quiet`).
    pub fn info(&self, message: impl AsRef<str>) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{}", message.as_ref());
        }
    }

    /// A warning, shown even with `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        let _ = writeln!(
            std::io::stderr(),
            "{} {}",
            console::style("warning:").yellow().bold(),
            message.as_ref()
        );
    }

    /// The final error: the message, then each cause on its own line.
    pub fn error(&self, err: &anyhow::Error) {
        let mut stderr = std::io::stderr().lock();
        let _ = writeln!(stderr, "{} {}", console::style("error:").red().bold(), err);
        for cause in err.chain().skip(1) {
            let _ = writeln!(stderr, "  caused by: {cause}");
        }
    }

    /// Whether progress bars may be drawn.
    pub fn shows_progress(&self) -> bool {
        self.progress
    }

    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A container for progress bars, hidden when bars are off.
    pub fn multi_progress(&self) -> MultiProgress {
        if self.progress {
            MultiProgress::with_draw_target(ProgressDrawTarget::stderr())
        } else {
            MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
        }
    }
}
