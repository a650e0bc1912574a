//! Human output on stderr. Results that scripts parse go to stdout (`--json`); everything here
//! may change between versions.

use std::borrow::Cow;
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
            let _ = writeln!(std::io::stderr(), "{}", escape_controls(message.as_ref()));
        }
    }

    /// A warning, shown even with `--quiet`.
    pub fn warn(&self, message: impl AsRef<str>) {
        let _ = writeln!(
            std::io::stderr(),
            "{} {}",
            console::style("warning:").yellow().bold(),
            escape_controls(message.as_ref())
        );
    }

    /// The final error: the message, then each cause on its own line, then what to do. Errors
    /// of the library crates end their message with a `hint:` paragraph; it is moved after the
    /// causes, so that the advice comes once the whole story is told.
    pub fn error(&self, err: &anyhow::Error) {
        let mut stderr = std::io::stderr().lock();
        let _ = stderr.write_all(
            render_error(err, &console::style("error:").red().bold().to_string()).as_bytes(),
        );
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

/// `error: <message>`, `  caused by: <cause>` per cause, then the hints of the chain, each once.
pub fn render_error(err: &anyhow::Error, label: &str) -> String {
    let mut hints: Vec<String> = Vec::new();
    let mut split = |text: String| -> String {
        match text.split_once("\n\nhint: ") {
            Some((message, hint)) => {
                let hint = hint.trim_end().to_owned();
                if !hints.contains(&hint) {
                    hints.push(hint);
                }
                message.to_owned()
            }
            None => text,
        }
    };
    let mut out = format!("{label} {}\n", escape_controls(&split(err.to_string())));
    for cause in err.chain().skip(1) {
        out.push_str(&format!(
            "  caused by: {}\n",
            escape_controls(&split(cause.to_string()))
        ));
    }
    for hint in hints {
        out.push_str(&format!("\nhint: {}\n", escape_controls(&hint)));
    }
    out
}

/// Text for a terminal with every control character but newline and tab shown as an escape
/// (`\x1b`), and the bidirectional overrides too. Messages carry text a package wrote (its
/// log's tail, the names in its wheel and its output directory, its requirement strings); raw,
/// an escape sequence could set the window title, write the clipboard, move the cursor, or
/// print a fake "built" line over a failure.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    let dangerous = |c: char| {
        (c.is_control() && c != '\n' && c != '\t')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}')
    };
    if !text.chars().any(dangerous) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !dangerous(c) {
            out.push(c);
        } else if (c as u32) < 0x100 {
            out.push_str(&format!("\\x{:02x}", c as u32));
        } else {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Hinted;
    impl std::fmt::Display for Hinted {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "failed to read lock file `x`\n\nhint: create it")
        }
    }
    impl std::error::Error for Hinted {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&CAUSE)
        }
    }
    #[derive(Debug)]
    struct Cause;
    static CAUSE: Cause = Cause;
    impl std::fmt::Display for Cause {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "No such file")
        }
    }
    impl std::error::Error for Cause {}

    #[test]
    fn control_characters_are_shown_not_sent() {
        assert_eq!(escape_controls("plain\n\tindented"), "plain\n\tindented");
        assert_eq!(
            escape_controls("\u{1b}]0;pwned\u{7}ok\r\u{9b}2J\u{202e}txt"),
            "\\x1b]0;pwned\\x07ok\\x0d\\x9b2J\\u{202e}txt"
        );
    }

    /// Regression: `fetch --lock missing.toml` printed its hint before its cause.
    #[test]
    fn the_hint_comes_after_every_cause() {
        let text = render_error(&anyhow::Error::new(Hinted), "error:");
        assert_eq!(
            text,
            "error: failed to read lock file `x`\n  caused by: No such file\n\nhint: create it\n"
        );
    }
}
