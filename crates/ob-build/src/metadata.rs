//! Core metadata (a wheel's `METADATA`, an sdist's `PKG-INFO`): the fields resolution depends on,
//! parsed from untrusted text, compared the way pip would read them, and rendered back as the
//! minimal METADATA that pip's resolver is given.

use std::collections::BTreeSet;
use std::str::FromStr;

/// The fields of core metadata that resolution depends on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CoreMetadata {
    /// `Metadata-Version`, `1.0` when absent.
    pub metadata_version: String,
    /// `Name` as written.
    pub name: String,
    /// `Version` as written.
    pub version: String,
    /// `Requires-Dist`, in order.
    pub requires_dist: Vec<String>,
    /// `Requires-Python`.
    pub requires_python: Option<String>,
    /// `Provides-Extra`.
    pub provides_extra: Vec<String>,
    /// `Dynamic` (PEP 643), lowercased.
    pub dynamic: Vec<String>,
}

/// Most header text read from one metadata file: far above any real one's headers (the body,
/// the long description, is not read at all).
const MAX_HEADER_BYTES: usize = 1 << 20;

impl CoreMetadata {
    /// Parses the header block (up to the first empty line; continuation lines start with
    /// whitespace). Unknown headers are ignored; nothing here fails, since the text comes from
    /// a package and a missing field is simply absent.
    pub fn parse(text: &str) -> CoreMetadata {
        let mut metadata = CoreMetadata {
            metadata_version: "1.0".to_owned(),
            ..CoreMetadata::default()
        };
        let mut headers: Vec<(String, String)> = Vec::new();
        let mut read = 0;
        for line in text.lines() {
            read += line.len() + 1;
            if line.trim().is_empty() || read > MAX_HEADER_BYTES {
                break;
            }
            if line.starts_with([' ', '\t']) {
                if let Some((_, value)) = headers.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
                continue;
            }
            if let Some((key, value)) = line.split_once(':') {
                headers.push((key.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        for (key, value) in headers {
            match key.as_str() {
                "metadata-version" => metadata.metadata_version = value,
                "name" => metadata.name = value,
                "version" => metadata.version = value,
                "requires-dist" => metadata.requires_dist.push(value),
                "requires-python" if !value.is_empty() => metadata.requires_python = Some(value),
                "provides-extra" => metadata.provides_extra.push(value),
                "dynamic" => metadata.dynamic.push(value.to_ascii_lowercase()),
                _ => {}
            }
        }
        metadata
    }

    /// PEP 643: from Metadata-Version 2.2 on, a field an sdist's PKG-INFO does not mark
    /// `Dynamic` is what every wheel built from it says. True when that holds for everything
    /// resolution reads: dependencies, Python range and extras.
    pub fn states_dependencies(&self) -> bool {
        let new_enough = pep440_rs::Version::from_str(&self.metadata_version)
            .is_ok_and(|version| version >= pep440_rs::Version::new([2, 2]));
        new_enough
            && !self.dynamic.iter().any(|field| {
                matches!(
                    field.as_str(),
                    "requires-dist" | "requires-python" | "provides-extra"
                )
            })
    }

    /// Whether two metadata say the same about dependencies, Python range and extras, compared
    /// as parsed requirements (`foo >=1` and `foo>=1` agree), not as text.
    pub fn same_dependencies(&self, other: &CoreMetadata) -> bool {
        self.dependency_key() == other.dependency_key()
    }

    fn dependency_key(&self) -> (BTreeSet<String>, String, BTreeSet<String>) {
        let requirements = self
            .requires_dist
            .iter()
            .map(|text| canonical_requirement(text))
            .collect();
        let requires_python = self
            .requires_python
            .as_deref()
            .map(|text| {
                pep440_rs::VersionSpecifiers::from_str(text)
                    .map(|specifiers| specifiers.to_string())
                    .unwrap_or_else(|_| text.split_whitespace().collect())
            })
            .unwrap_or_default();
        let extras = self
            .provides_extra
            .iter()
            .map(|extra| ob_lock::normalize_name(extra))
            .collect();
        (requirements, requires_python, extras)
    }

    /// The minimal METADATA that pip's resolver needs, with `name` and `version` as given
    /// (the sdist's, which the index listed): nothing else of the package's text reaches pip.
    pub fn render_for_resolver(&self, name: &str, version: &str) -> String {
        let mut lines = vec![
            "Metadata-Version: 2.1".to_owned(),
            format!("Name: {name}"),
            format!("Version: {version}"),
        ];
        if let Some(requires_python) = &self.requires_python {
            lines.push(format!("Requires-Python: {}", one_line(requires_python)));
        }
        for extra in &self.provides_extra {
            lines.push(format!("Provides-Extra: {}", one_line(extra)));
        }
        for requirement in &self.requires_dist {
            lines.push(format!("Requires-Dist: {}", one_line(requirement)));
        }
        let mut text = lines.join("\n");
        text.push('\n');
        text
    }
}

/// A header value on one line: a value that smuggled a line break must not become a header.
fn one_line(text: &str) -> String {
    text.split(['\r', '\n']).collect::<Vec<_>>().join(" ")
}

/// A PEP 508 requirement parsed from text that may be hostile; the error says what is wrong,
/// with a caret under the fault.
///
/// pep508_rs 0.9 panics on a name that ends in `.`, `-` or `_` before anything else (`Rq. ;`),
/// and in its error's `Display` when a multi-byte character comes before the fault: the first
/// is refused before it is parsed, the second laid out here, and any other panic of the parser
/// is caught, so that no text a package writes can stop the process.
pub fn parse_requirement(
    text: &str,
) -> Result<pep508_rs::Requirement<pep508_rs::VerbatimUrl>, String> {
    let trimmed = text.trim_start();
    let name_end = trimmed
        .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
        .unwrap_or(trimmed.len());
    if let Some(last) = trimmed[..name_end].chars().last()
        && "._-".contains(last)
    {
        return Err(format!(
            "the name `{}` must end with a letter or digit, not `{last}`",
            &trimmed[..name_end]
        ));
    }
    let parsed = std::panic::catch_unwind(|| {
        pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(text)
    })
    .map_err(|_| "the PEP 508 parser could not read it".to_owned())?;
    parsed.map_err(|err| {
        let chars = err.input.chars().count();
        let before = err
            .input
            .get(..err.start)
            .map_or(err.start.min(chars), |head| head.chars().count());
        let under = err
            .input
            .get(err.start..err.start.saturating_add(err.len))
            .map_or(1, |span| span.chars().count())
            .max(1);
        format!(
            "{}\n{}\n{}{}",
            err.message,
            err.input,
            " ".repeat(before),
            "^".repeat(under)
        )
    })
}

/// A requirement in the canonical form pep508_rs writes; text that does not parse is compared
/// with its whitespace removed (it will fail in pip either way).
fn canonical_requirement(text: &str) -> String {
    match parse_requirement(text) {
        Ok(requirement) => requirement.to_string(),
        Err(_) => text.split_whitespace().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regressions (found by the requirements fuzzer): both panicked inside pep508_rs.
    #[test]
    fn requirements_that_panicked_the_parser_are_refused() {
        let err = parse_requirement("Rq. ; python_version > '3'").unwrap_err();
        assert!(err.contains("must end with a letter or digit"), "{err}");
        let err = parse_requirement("requests >= 2.0 \u{feff}\u{e9}").unwrap_err();
        assert!(err.ends_with('^'), "{err}");
        assert!(parse_requirement("requests[socks]>=2; python_version >= '3.8'").is_ok());
    }

    #[test]
    fn headers_are_read_up_to_the_body_with_continuations() {
        let metadata = CoreMetadata::parse(
            "Metadata-Version: 2.4\nName: Demo\nVersion: 1.0\nRequires-Dist: idna>=3\nRequires-Dist: socks;\n  extra == 'socks'\nProvides-Extra: socks\nDynamic: License\n\nRequires-Dist: not-a-header\n",
        );
        assert_eq!(metadata.name, "Demo");
        assert_eq!(
            metadata.requires_dist,
            ["idna>=3", "socks; extra == 'socks'"]
        );
        assert_eq!(metadata.provides_extra, ["socks"]);
        assert!(metadata.states_dependencies());
    }

    #[test]
    fn dynamic_dependencies_or_old_metadata_state_nothing() {
        let dynamic =
            CoreMetadata::parse("Metadata-Version: 2.2\nName: a\nDynamic: Requires-Dist\n");
        assert!(!dynamic.states_dependencies());
        let old = CoreMetadata::parse("Metadata-Version: 2.1\nName: a\n");
        assert!(!old.states_dependencies());
        let newer = CoreMetadata::parse("Metadata-Version: 2.10\nName: a\n");
        assert!(newer.states_dependencies(), "2.10 is newer than 2.2");
    }

    #[test]
    fn dependencies_compare_as_requirements_not_text() {
        let a = CoreMetadata::parse(
            "Name: a\nRequires-Dist: foo >=1.0 ; python_version >= '3.8'\nRequires-Python: >= 3.8\n",
        );
        let b = CoreMetadata::parse(
            "Name: a\nRequires-Dist: foo>=1.0; python_version>='3.8'\nRequires-Python: >=3.8\n",
        );
        assert!(a.same_dependencies(&b));
        let c = CoreMetadata::parse("Name: a\nRequires-Dist: foo>=2.0\n");
        assert!(!a.same_dependencies(&c));
    }

    #[test]
    fn the_resolver_gets_no_smuggled_headers() {
        let metadata = CoreMetadata {
            requires_dist: vec!["foo\nRequires-Dist: evil".to_owned()],
            ..CoreMetadata::default()
        };
        let text = metadata.render_for_resolver("a", "1.0");
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("Requires-Dist"))
                .count(),
            1
        );
        assert!(text.starts_with("Metadata-Version: 2.1\nName: a\nVersion: 1.0\n"));
    }
}
