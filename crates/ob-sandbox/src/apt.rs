//! Finding a Debian mirror in the host's apt sources, so no mirror is ever written into this
//! project: one-line `*.list` files and deb822 `*.sources` files are both read.

use std::path::{Path, PathBuf};

use crate::error::SandboxError;

/// Suites of the Debian archive (codenames and aliases), used to tell Debian entries from
/// third-party repositories that also have a `main` component.
const DEBIAN_SUITES: &[&str] = &[
    "buster",
    "bullseye",
    "bookworm",
    "trixie",
    "forky",
    "duke",
    "sid",
    "oldoldstable",
    "oldstable",
    "stable",
    "testing",
    "unstable",
];

/// One `deb` source: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Source {
    uri: String,
    suite: String,
    components: Vec<String>,
}

impl Source {
    /// A Debian archive entry with `main` that is not the security archive.
    fn is_debian_main(&self) -> bool {
        let base_suite = self.suite.split('-').next().unwrap_or_default();
        DEBIAN_SUITES.contains(&base_suite)
            && !self.suite.ends_with("-security")
            && !self.uri.contains("security")
            && self.components.iter().any(|component| component == "main")
    }
}

/// The first Debian `main` mirror (not a security one) in the apt sources under `root`
/// (`/` on a real host): `etc/apt/sources.list`, then `etc/apt/sources.list.d/*.list` and
/// `*.sources` in name order.
pub fn debian_mirror(root: &Path) -> Result<String, SandboxError> {
    let mut files = vec![root.join("etc/apt/sources.list")];
    let dir = root.join("etc/apt/sources.list.d");
    if let Ok(entries) = fs_err::read_dir(&dir) {
        let mut listed: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.extension()
                    .is_some_and(|extension| extension == "list" || extension == "sources")
            })
            .collect();
        listed.sort();
        files.extend(listed);
    }
    for file in &files {
        let Ok(text) = fs_err::read_to_string(file) else {
            continue;
        };
        let sources = if file
            .extension()
            .is_some_and(|extension| extension == "sources")
        {
            parse_deb822(&text)
        } else {
            parse_one_line(&text)
        };
        if let Some(source) = sources.into_iter().find(Source::is_debian_main) {
            return Ok(source.uri.trim_end_matches('/').to_string());
        }
    }
    Err(SandboxError::NoMirror {
        searched: files
            .iter()
            .map(|file| file.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// `deb [options] uri suite component...` lines.
fn parse_one_line(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace();
        if words.next() != Some("deb") {
            continue;
        }
        let mut rest: Vec<&str> = words.collect();
        // Options are `[key=value ...]`, possibly spread over several words.
        if rest.first().is_some_and(|word| word.starts_with('[')) {
            let Some(end) = rest.iter().position(|word| word.ends_with(']')) else {
                continue;
            };
            rest.drain(..=end);
        }
        if let [uri, suite, components @ ..] = rest.as_slice() {
            sources.push(Source {
                uri: (*uri).to_string(),
                suite: (*suite).to_string(),
                components: components
                    .iter()
                    .map(|component| (*component).to_string())
                    .collect(),
            });
        }
    }
    sources
}

/// deb822 stanzas: `Types:`, `URIs:`, `Suites:`, `Components:`, `Enabled:`.
fn parse_deb822(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            stanza
                .lines()
                .filter(|line| !line.trim_start().starts_with('#'))
                .find_map(|line| {
                    let (key, value) = line.split_once(':')?;
                    key.trim()
                        .eq_ignore_ascii_case(name)
                        .then(|| value.split_whitespace().map(str::to_string).collect())
                })
                .unwrap_or_default()
        };
        if !field("Types").iter().any(|kind| kind == "deb") {
            continue;
        }
        if field("Enabled").iter().any(|enabled| enabled == "no") {
            continue;
        }
        let components = field("Components");
        for uri in field("URIs") {
            for suite in field("Suites") {
                sources.push(Source {
                    uri: uri.clone(),
                    suite,
                    components: components.clone(),
                });
            }
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    // Example hosts are reserved names (RFC 2606), not real mirrors.
    #[test]
    fn deb822_skips_security_and_third_party_entries() {
        let text = "Types: deb\nURIs: http://vendor.example/repo\nSuites: nodistro\nComponents: main\n\n\
                    Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\nComponents: main\n\n\
                    Types: deb\n# a comment: with a colon\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main contrib\n";
        let sources: Vec<Source> = parse_deb822(text)
            .into_iter()
            .filter(Source::is_debian_main)
            .collect();
        assert_eq!(sources[0].uri, "http://mirror.example/debian");
        assert_eq!(sources.len(), 2);
    }

    #[test]
    fn one_line_format_with_options() {
        let text = "# deb http://old.example/debian buster main\n\
                    deb-src http://src.example/debian bookworm main\n\
                    deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ trixie main\n";
        let sources = parse_one_line(text);
        assert_eq!(sources.len(), 1);
        assert!(sources[0].is_debian_main());
        assert_eq!(sources[0].uri, "http://mirror.example/debian/");
    }

    #[test]
    fn no_sources_names_the_files_read() {
        let empty = tempfile::tempdir().unwrap();
        let err = debian_mirror(empty.path()).unwrap_err().to_string();
        assert!(
            err.contains("sources.list") && err.contains("--mirror"),
            "{err}"
        );
    }

    #[test]
    fn a_sources_file_is_found_in_the_directory() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("etc/apt/sources.list.d");
        fs_err::create_dir_all(&dir).unwrap();
        fs_err::write(
            dir.join("debian.sources"),
            "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\nComponents: main\n",
        )
        .unwrap();
        fs_err::write(
            dir.join("off.list.disabled"),
            "deb http://other.example/debian bookworm main\n",
        )
        .unwrap();
        assert_eq!(
            debian_mirror(root.path()).unwrap(),
            "http://mirror.example/debian"
        );
    }
}
