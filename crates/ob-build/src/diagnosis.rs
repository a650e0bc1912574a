//! What a failed build's log says that the user can act on, beyond "read the log": causes
//! recognised by the exact words the tools print, each with what to do. Only what the tools
//! print is trusted here, and only to choose advice; nothing of it is shown unescaped.

use std::path::Path;

/// Most of a log read for a diagnosis: step logs are capped far below this anyway.
const MAX_LOG_BYTES: u64 = 16 << 20;

/// Advice for the failure whose log is at `log`, when it shows a cause we recognise.
pub fn diagnose_log(log: &Path) -> Option<String> {
    use std::io::Read as _;
    let mut text = Vec::new();
    fs_err::File::open(log)
        .ok()?
        .take(MAX_LOG_BYTES)
        .read_to_end(&mut text)
        .ok()?;
    diagnose(&String::from_utf8_lossy(&text))
}

/// Advice for a failure whose log is `text`, when it shows a cause we recognise.
pub fn diagnose(text: &str) -> Option<String> {
    rustc_too_old(text)
}

/// cargo's "rustc 1.85.1 is not supported by the following packages: ... requires rustc 1.89".
fn rustc_too_old(text: &str) -> Option<String> {
    let mut lines = text.lines().map(str::trim);
    let image_rustc = lines.find_map(|line| {
        line.strip_prefix("error: rustc ")?
            .strip_suffix(" is not supported by the following packages:")
            .map(str::to_owned)
    })?;
    let mut needed: Option<(Vec<u64>, String, String)> = None;
    for line in lines {
        let Some((who, version)) = line.split_once(" requires rustc ") else {
            continue;
        };
        let parsed: Vec<u64> = version
            .split('.')
            .map_while(|part| part.parse().ok())
            .collect();
        if parsed.is_empty() {
            continue;
        }
        if needed.as_ref().is_none_or(|(most, _, _)| parsed > *most) {
            needed = Some((parsed, version.to_owned(), who.to_owned()));
        }
    }
    let (_, version, who) = needed?;
    let shown = |text: &str| -> String {
        text.chars()
            .filter(|c| c.is_ascii_alphanumeric() || "._-@+".contains(*c))
            .take(80)
            .collect()
    };
    Some(format!(
        "cargo refused the image's rustc {}: the crates need up to rustc {} ({} does); build \
         with an image that has a newer Rust (`--image`), or pin an older version of the \
         package that needs it",
        shown(&image_rustc),
        shown(&version),
        shown(&who)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rustc_too_old_for_the_crates_is_named_with_the_newest_need() {
        let log = "   Compiling x\n\
                   error: rustc 1.85.1 is not supported by the following packages:\n  \
                   cargo-platform@0.3.2 requires rustc 1.88\n  \
                   maturin@1.16.0 requires rustc 1.89\n  \
                   time@0.3.47 requires rustc 1.88.0\n\
                   Either upgrade rustc or select compatible dependency versions\n";
        let advice = diagnose(log).unwrap();
        assert!(advice.contains("rustc 1.85.1"), "{advice}");
        assert!(
            advice.contains("up to rustc 1.89 (maturin@1.16.0 does)"),
            "{advice}"
        );
        assert_eq!(diagnose("error: something else\n"), None);
        // Versions compare as numbers, not text.
        let log = "error: rustc 1.9.0 is not supported by the following packages:\n\
                   a@1 requires rustc 1.10\nb@1 requires rustc 1.9.5\n";
        assert!(diagnose(log).unwrap().contains("up to rustc 1.10 (a@1"));
    }

    #[test]
    fn what_the_log_says_is_shown_only_as_plain_words() {
        let log = "error: rustc 1.85 is not supported by the following packages:\n\
                   \x1b]0;owned\x07evil@1 requires rustc 9.9\n";
        let advice = diagnose(log).unwrap();
        assert!(
            !advice.contains('\x1b') && !advice.contains('\x07'),
            "{advice:?}"
        );
    }
}
