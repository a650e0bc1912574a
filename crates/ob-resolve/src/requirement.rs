//! Requirement strings that come out of packages (Requires-Dist, `[build-system].requires`, what
//! `get_requires_for_build_wheel` returns) are hostile input. Before any of them reaches pip they
//! must be what a real package writes: short PEP 508 requirements on the index.

/// Longer than any requirement a real package writes (the longest marker expressions seen on
/// the index are a few hundred characters).
pub const MAX_LENGTH: usize = 1000;

/// Why `text` may not reach pip, if it may not:
/// - a direct reference (`name @ url`, or anything with an `@`: PEP 508 uses it for URLs only)
///   would make pip fetch and prepare whatever the URL names, a `file://` path in the
///   session's own container, say;
/// - `===` (arbitrary equality) takes any text as a version, enough to smuggle an archive
///   through a requirements file;
/// - a string our parser does not read as PEP 508 is one pip might read otherwise.
pub fn refusal(text: &str) -> Option<String> {
    if text.len() > MAX_LENGTH {
        return Some(format!(
            "is {} characters long, longer than any real requirement ({MAX_LENGTH})",
            text.len()
        ));
    }
    if text.contains('@') {
        return Some("is a direct reference (`name @ url`), not a requirement on the index".into());
    }
    if text.contains("===") {
        return Some("uses `===` (arbitrary equality: any text as a version)".into());
    }
    match ob_build::metadata::parse_requirement(text) {
        Ok(requirement) => match requirement.version_or_url {
            Some(pep508_rs::VersionOrUrl::Url(_)) => {
                Some("is a direct reference, not a requirement on the index".into())
            }
            _ => None,
        },
        Err(_) => Some("is not a PEP 508 requirement".into()),
    }
}

/// The first of `texts` that may not reach pip, with why.
pub fn first_refused<'a>(
    texts: impl IntoIterator<Item = &'a String>,
) -> Option<(&'a String, String)> {
    texts
        .into_iter()
        .find_map(|text| refusal(text).map(|why| (text, why)))
}

/// `text` shortened for a message: a refused string may be kilobytes of anything.
pub fn shown(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(120).collect();
    if chars.next().is_some() {
        format!("{head}...")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (found by review): a PKG-INFO requiring `x @ file:///proc/self/cwd/...` made
    /// pip unpack and run a file of the session's own container; a `===` build requirement
    /// carried the archive into the requirements file.
    #[test]
    fn only_short_pep508_requirements_on_the_index_pass() {
        for bad in [
            "x @ file:///proc/self/cwd/requirements.txt",
            "x@https://example.invalid/x.whl",
            "x; extra == 'a@b'",
            "0===ustar\u{0}\u{0}; python_version == '3'",
            "x >= 1 ; python_version >",
        ] {
            assert!(refusal(bad).is_some(), "{bad}");
        }
        assert!(refusal(&format!("x; python_version == '{}'", "3".repeat(2000))).is_some());
        assert_eq!(refusal("idna>=3; python_version >= '3.8'"), None);
        assert_eq!(refusal("requests[socks]>=2,<3"), None);
        assert_eq!(shown(&"a".repeat(200)).len(), 123);
    }
}
