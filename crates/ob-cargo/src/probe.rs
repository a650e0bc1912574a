//! Asks the host's cargo about its built-in default registry, the way ob-index asks the host's
//! pip for its default index: so that no registry is written into this project. Two questions:
//! which Cargo.lock source it is ([`default_registry_source`], offline), and which sparse index
//! cargo reads it through when nothing replaces it ([`default_index`], one request for the
//! index's `config.json`, seen in cargo's own network log). The one place here that runs cargo,
//! and only on a manifest this module writes itself into a fresh directory (never an sdist's),
//! with a `CARGO_HOME` of its own.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::CargoError;

/// The `source` cargo writes in a Cargo.lock for a crate of its default registry
/// (`registry+URL`), read from `cargo metadata` of a tiny generated project whose one
/// dependency is a default-registry dependency patched to a local path (so nothing is
/// downloaded). The cargo is `$CARGO` when set, else `cargo` on `PATH`.
pub fn default_registry_source() -> Result<String, CargoError> {
    let cargo = host_cargo();
    let failed = |why: String| CargoError::Probe { why };
    let work = probe_project(&[
        (
            "Cargo.toml",
            "[package]\nname = \"ob-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nob-probe-dep = \"1\"\n\n\
             [patch.crates-io]\nob-probe-dep = { path = \"dep\" }\n\n[workspace]\n",
        ),
        (
            "dep/Cargo.toml",
            "[package]\nname = \"ob-probe-dep\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
        ),
        ("dep/src/lib.rs", ""),
        ("home/.keep", ""),
    ])?;
    let root = work.path();
    let output = Command::new(&cargo)
        .args(["metadata", "--offline", "--format-version", "1"])
        .current_dir(root)
        .env("CARGO_HOME", root.join("home"))
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|err| failed(format!("could not run `{}`: {err}", cargo.display())))?;
    if !output.status.success() {
        return Err(failed(format!(
            "`{} metadata` failed: {}",
            cargo.display(),
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    source_in_metadata(&output.stdout).ok_or_else(|| {
        failed("`cargo metadata` named no registry for the probe's dependency".to_owned())
    })
}

/// The sparse index cargo reads its built-in default registry through, with the user's
/// configuration file `config` (path and text; `None` without one) in force: cargo is asked to
/// lock a tiny generated project whose one dependency is a default-registry crate that need not
/// exist, and the first `config.json` it requests, as its network log (`CARGO_LOG=network`)
/// shows, is the index's (cargo logs it before it connects). Refused: an index that is
/// not https (or http to a loopback address), as everywhere ([`crate::registry`]).
pub fn default_index(config: Option<(&Path, &str)>) -> Result<url::Url, CargoError> {
    let cargo = host_cargo();
    let failed = |why: String| CargoError::Probe { why };
    // The user's file, copied, so that its `[registries.crates-io] protocol`, `[http]`
    // settings and the like apply; cargo's caches go to this scratch home, not the user's.
    let work = probe_project(&[
        (
            "Cargo.toml",
            "[package]\nname = \"ob-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nob-probe-index-only = \"1\"\n\n[workspace]\n",
        ),
        ("home/config.toml", config.map_or("", |(_, text)| text)),
    ])?;
    let root = work.path();
    // The lock fails (the crate need not exist); what counts is what cargo fetched first.
    let output = Command::new(&cargo)
        .args(["generate-lockfile", "--quiet"])
        .current_dir(root)
        .env("CARGO_HOME", root.join("home"))
        .env("CARGO_LOG", "network=debug")
        .env("CARGO_TERM_COLOR", "never")
        .env("CARGO_NET_RETRY", "1")
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .map_err(|err| failed(format!("could not run `{}`: {err}", cargo.display())))?;
    let log = String::from_utf8_lossy(&output.stderr);
    let Some(index) = index_in_log(&log) else {
        let tail: Vec<&str> = log.lines().rev().take(3).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(failed(format!(
            "`{} generate-lockfile` requested no sparse index's config.json (a git-protocol \
             default registry, or no network?); it said: {}",
            cargo.display(),
            tail.join(" / ").trim()
        )));
    };
    crate::registry::check_url("registry index", &index)?;
    Ok(index)
}

fn host_cargo() -> PathBuf {
    std::env::var_os("CARGO")
        .filter(|cargo| !cargo.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"))
}

/// A fresh directory holding `files` (path, text) and an empty `src/lib.rs`: a probe project.
fn probe_project(files: &[(&str, &str)]) -> Result<tempfile::TempDir, CargoError> {
    let failed = |why: String| CargoError::Probe { why };
    let work =
        tempfile::tempdir().map_err(|err| failed(format!("no temporary directory: {err}")))?;
    for (path, text) in files.iter().chain(&[("src/lib.rs", "")]) {
        let path = work.path().join(path);
        (|| {
            if let Some(parent) = path.parent() {
                fs_err::create_dir_all(parent)?;
            }
            fs_err::write(&path, text)
        })()
        .map_err(|err| failed(format!("could not write the probe project: {err}")))?;
    }
    Ok(work)
}

/// The index whose `config.json` the log shows cargo fetching first: the directory of the first
/// http(s) URL ending in `/config.json`.
fn index_in_log(log: &str) -> Option<url::Url> {
    log.split_whitespace()
        .filter(|word| word.starts_with("https://") || word.starts_with("http://"))
        .filter_map(|word| url::Url::parse(word).ok())
        .find(|url| url.path().ends_with("/config.json") && url.query().is_none())
        .and_then(|url| url.join("./").ok())
}

/// The declared source of the probe's dependency in `cargo metadata` JSON.
fn source_in_metadata(json: &[u8]) -> Option<String> {
    let metadata: serde_json::Value = serde_json::from_slice(json).ok()?;
    metadata["packages"]
        .as_array()?
        .iter()
        .find(|package| package["name"] == "ob-probe")?["dependencies"]
        .as_array()?
        .iter()
        .find(|dependency| dependency["name"] == "ob-probe-dep")?["source"]
        .as_str()
        .filter(|source| source.starts_with("registry+"))
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The host's cargo answers with the source this workspace's own Cargo.lock records for
    /// its registry crates (skipped without a cargo, which a cargo test always has).
    #[test]
    fn the_host_cargo_names_the_source_its_lock_files_record() {
        let source = default_registry_source().unwrap();
        assert_eq!(source, crate::registry::default_registry_source_for_tests());
    }

    /// The first `config.json` of cargo's network log is the index, whatever else it logs.
    #[test]
    fn the_index_is_the_first_config_json_cargo_fetched() {
        let log = "   0.02s DEBUG network: Version {\n}\n\
                   0.03s DEBUG network: fetch https://index.example/sub/config.json\n\
                   0.03s DEBUG network: downloading config.json as 0\n\
                   0.06s DEBUG network: fetch https://other.example/config.json\n";
        let index = index_in_log(log).unwrap();
        assert_eq!(index.as_str(), "https://index.example/sub/");
        assert_eq!(index_in_log("error: no network"), None);
        assert_eq!(
            index_in_log("fetch https://index.example/config.json.bak"),
            None
        );
    }

    /// The host's cargo names its default index (cargo logs the URL before it connects, so
    /// this needs no network), and the real default registry serves a `config.json` there
    /// that names a download location (that part skipped when the registry cannot be reached).
    #[tokio::test]
    async fn the_probed_default_index_serves_a_registry_config() {
        let index = tokio::task::spawn_blocking(|| default_index(None))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(index.scheme(), "https", "{index}");
        let client = reqwest::Client::new();
        let index = crate::config::RegistryIndex {
            url: index,
            name: None,
        };
        match crate::registry::fetch_config(&client, &index, None).await {
            Ok(config) => assert!(config.dl.starts_with("https://"), "{}", config.dl),
            Err(err @ CargoError::Http { .. }) => eprintln!("SKIPPED: unreachable: {err}"),
            Err(err) => panic!("{err}"),
        }
    }

    #[test]
    fn only_a_registry_source_counts() {
        let json = br#"{"packages":[{"name":"ob-probe","dependencies":[{"name":"ob-probe-dep","source":"git+https://x.example/r"}]}]}"#;
        assert_eq!(source_in_metadata(json), None);
        let json = br#"{"packages":[{"name":"ob-probe","dependencies":[{"name":"ob-probe-dep","source":"registry+https://x.example/i"}]}]}"#;
        assert_eq!(
            source_in_metadata(json).as_deref(),
            Some("registry+https://x.example/i")
        );
    }
}
