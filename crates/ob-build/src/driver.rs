//! What runs inside the build containers (the Python scripts of `stages/build/`, embedded) and
//! the fixed layout they see: where the sdist, the build-requirement wheels and the output
//! directory are mounted, and the job description the driver reads.

use serde::Serialize;
use sha2::{Digest, Sha256};

/// The per-package build driver: makes a venv from our wheels, extracts the sdist, runs the
/// PEP 517 hooks.
pub const DRIVER: &str = include_str!("../../../stages/build/driver.py");
/// The install check: pip installs the runtime set offline, then every module is imported.
pub const VERIFY_INSTALL: &str = include_str!("../../../stages/build/verify_install.py");

/// Where the one sdist is mounted (read-only).
pub const SDIST_DIR: &str = "/in/sdist";
/// Where the build-requirement wheels are mounted (read-only), each file on its own.
pub const WHEELS_DIR: &str = "/in/wheels";
/// The one writable mount: a fresh, empty directory for each build.
pub const OUT_DIR: &str = "/out";
/// Where the output directory is mounted for the install check (read-only).
pub const DIST_DIR: &str = "/in/dist";

/// `SOURCE_DATE_EPOCH` when the lock records none: 1980-01-01, the earliest time a zip holds.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 315_532_800;

/// What the driver reads from its argument (JSON). Field names are the driver's contract.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// Package name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Path of the sdist inside the container.
    pub sdist: String,
    /// Paths of the build-requirement wheels inside the container.
    pub wheels: Vec<String>,
    /// [`WHEELS_DIR`]: the driver refuses wheels from anywhere else.
    pub wheels_dir: String,
    /// [`OUT_DIR`].
    pub out: String,
    /// The fixed path the sdist is extracted to (`/tmp/src/<name>-<version>`; `/tmp` is the
    /// container's only writable place besides the output).
    pub source_dir: String,
    /// What `-ffile-prefix-map` rewrites the source path to: `/usr/src/<name>-<version>`.
    pub prefix_map_to: String,
    /// `SOURCE_DATE_EPOCH`.
    pub source_date_epoch: u64,
}

impl Job {
    /// The job for `name` `version` from `sdist_filename`, with these wheel file names.
    pub fn new(
        name: &str,
        version: &str,
        sdist_filename: &str,
        wheel_filenames: &[String],
        source_date_epoch: u64,
    ) -> Job {
        Job {
            name: name.to_owned(),
            version: version.to_owned(),
            sdist: format!("{SDIST_DIR}/{sdist_filename}"),
            wheels: wheel_filenames
                .iter()
                .map(|wheel| format!("{WHEELS_DIR}/{wheel}"))
                .collect(),
            wheels_dir: WHEELS_DIR.to_owned(),
            out: OUT_DIR.to_owned(),
            source_dir: format!("/tmp/src/{name}-{version}"),
            prefix_map_to: format!("/usr/src/{name}-{version}"),
            source_date_epoch,
        }
    }

    /// The container's command line.
    pub fn command(&self) -> Vec<String> {
        // Serialising a struct of strings and integers cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        vec![
            "python3".to_owned(),
            "-I".to_owned(),
            "-c".to_owned(),
            DRIVER.to_owned(),
            json,
        ]
    }
}

/// sha256 of everything about how we build that is not a package input: the driver, the
/// container layout and `SOURCE_DATE_EPOCH`. Part of every package's inputs digest.
pub fn settings_digest(source_date_epoch: u64) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-build settings 1\0");
    hasher.update(DRIVER.as_bytes());
    hasher
        .update(format!("\0{SDIST_DIR}\0{WHEELS_DIR}\0{OUT_DIR}\0{source_date_epoch}").as_bytes());
    hex::encode(hasher.finalize())
}
