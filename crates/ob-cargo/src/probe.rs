//! Asks the host's cargo which Cargo.lock source is its built-in default registry, the way
//! ob-index asks the host's pip for its default index: so that no registry is written into this
//! project. The one place here that runs cargo, and only on a manifest this module writes
//! itself into a fresh directory (never an sdist's), offline, with an empty `CARGO_HOME`.

use std::path::PathBuf;
use std::process::Command;

use crate::CargoError;

/// The `source` cargo writes in a Cargo.lock for a crate of its default registry
/// (`registry+URL`), read from `cargo metadata` of a tiny generated project whose one
/// dependency is a default-registry dependency patched to a local path (so nothing is
/// downloaded). The cargo is `$CARGO` when set, else `cargo` on `PATH`.
pub fn default_registry_source() -> Result<String, CargoError> {
    let cargo = std::env::var_os("CARGO")
        .filter(|cargo| !cargo.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let failed = |why: String| CargoError::Probe { why };
    let work =
        tempfile::tempdir().map_err(|err| failed(format!("no temporary directory: {err}")))?;
    let root = work.path();
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent)?;
        }
        fs_err::write(path, text)
    };
    (|| -> std::io::Result<()> {
        write(
            "Cargo.toml",
            "[package]\nname = \"ob-probe\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nob-probe-dep = \"1\"\n\n\
             [patch.crates-io]\nob-probe-dep = { path = \"dep\" }\n\n[workspace]\n",
        )?;
        write("src/lib.rs", "")?;
        write(
            "dep/Cargo.toml",
            "[package]\nname = \"ob-probe-dep\"\nversion = \"1.0.0\"\nedition = \"2021\"\n",
        )?;
        write("dep/src/lib.rs", "")?;
        fs_err::create_dir_all(root.join("home"))
    })()
    .map_err(|err| failed(format!("could not write the probe project: {err}")))?;
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
