//! What runs inside the build containers: the Python program of `stages/build/` (embedded, written
//! into a read-only stage directory for each run), the fixed layout it sees, the job it reads and
//! the typed events it prints. Resolve's hook runs and verification builds use exactly this.
//!
//! Protocol: stages/protocol/README.md; its fixtures (`build-job.json`, `build-events.jsonl`)
//! are read by this module's tests and by the Python tests, so both sides agree.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::BuildError;

/// The build driver's files, by path under the stage directory. A test checks that this list
/// is exactly the `.py` files of `stages/build/` (tests aside).
pub const STAGE_FILES: &[(&str, &str)] = &[
    (
        "build/__init__.py",
        include_str!("../../../stages/build/__init__.py"),
    ),
    (
        "build/archives.py",
        include_str!("../../../stages/build/archives.py"),
    ),
    (
        "build/driver.py",
        include_str!("../../../stages/build/driver.py"),
    ),
    (
        "build/environment.py",
        include_str!("../../../stages/build/environment.py"),
    ),
    (
        "build/events.py",
        include_str!("../../../stages/build/events.py"),
    ),
    (
        "build/hook_runner.py",
        include_str!("../../../stages/build/hook_runner.py"),
    ),
    ("build/job.py", include_str!("../../../stages/build/job.py")),
    (
        "build/patches.py",
        include_str!("../../../stages/build/patches.py"),
    ),
    (
        "build/sdist.py",
        include_str!("../../../stages/build/sdist.py"),
    ),
    (
        "build/verify_install.py",
        include_str!("../../../stages/build/verify_install.py"),
    ),
    (
        "build/wheels.py",
        include_str!("../../../stages/build/wheels.py"),
    ),
];

/// Where the stage directory is mounted (read-only) in every build container.
pub const STAGE_MOUNT: &str = "/ob/stage";
/// The driver's path inside the container.
pub const DRIVER_PATH: &str = "/ob/stage/build/driver.py";
/// The install check's path inside the container.
pub const VERIFY_INSTALL_PATH: &str = "/ob/stage/build/verify_install.py";
/// Where the one sdist is mounted (read-only).
pub const SDIST_DIR: &str = "/in/sdist";
/// Where the build-requirement wheels are mounted (read-only), each file on its own.
pub const WHEELS_DIR: &str = "/in/wheels";
/// Where a Rust package's vendored crates and cargo configuration are mounted (read-only).
pub const CARGO_DIR: &str = "/in/cargo";
/// Where a package's patch files are mounted (read-only); the driver refuses patches elsewhere.
pub const PATCHES_DIR: &str = "/in/patches";
/// The one writable mount: a fresh, empty directory for each build.
pub const OUT_DIR: &str = "/out";
/// Where the output directory is mounted for the install check (read-only).
pub const DIST_DIR: &str = "/in/dist";

/// `SOURCE_DATE_EPOCH` when the lock records none: 1980-01-01, the earliest time a zip holds.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 315_532_800;

/// Exit code of the driver when the hooks asked for a build requirement the venv lacks.
pub const EXIT_MISSING_REQUIREMENTS: i64 = 3;

/// Prefix of the lines that carry an event.
pub const EVENT_PREFIX: &str = "offline-build-event ";

/// What the driver does with a package, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Report what `get_requires_for_build_wheel` names, then stop.
    Requires,
    /// Also prepare the metadata (`prepare_metadata_for_build_wheel`, or a wheel when the
    /// backend has no such hook).
    Metadata,
    /// Build the wheel.
    Build,
}

/// What the driver reads from its argument (JSON). Field names are the driver's contract.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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
    /// What to do.
    pub mode: Mode,
    /// PEP 517 `config_settings` for every hook (none yet: a per-package setting to come).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_settings: Option<serde_json::Map<String, serde_json::Value>>,
    /// [`CARGO_DIR`] when the package vendors Rust crates: its `config.toml` becomes cargo's
    /// configuration, its `vendor/` the only source of crates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cargo: Option<String>,
    /// Variables the user configured for this package's build, applied after the driver's own:
    /// `CFLAGS`, `CXXFLAGS`, `CPPFLAGS`, `LDFLAGS` and `RUSTFLAGS` are appended to the driver's
    /// value (so the path-rewriting flags stay), anything else is set as given. The driver
    /// refuses names that are not `[A-Za-z_][A-Za-z0-9_]*`, the names the build's isolation
    /// depends on (`PATH`, `HOME`, `LD_PRELOAD`, ...: stages/protocol/README.md lists them) and
    /// values holding NUL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Patch files, each under [`PATCHES_DIR`], applied in order with `patch -p1` to the
    /// extracted source before any hook runs, in every mode. One that does not apply fails the
    /// build (a `failed` event in phase `patch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patches: Option<Vec<String>>,
}

impl Job {
    /// The job for `name` `version` from `sdist_filename`, with these wheel file names.
    pub fn new(
        name: &str,
        version: &str,
        sdist_filename: &str,
        wheel_filenames: &[String],
        source_date_epoch: u64,
        mode: Mode,
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
            mode,
            config_settings: None,
            cargo: None,
            env: None,
            patches: None,
        }
    }

    /// The container's command line.
    pub fn command(&self) -> Vec<String> {
        // Serialising a struct of strings, integers and JSON values cannot fail.
        let json = serde_json::to_string(self).unwrap_or_default();
        vec![
            "python3".to_owned(),
            "-I".to_owned(),
            DRIVER_PATH.to_owned(),
            json,
        ]
    }
}

/// One fact the driver reports. Printed by code that runs beside the package's own: the
/// orchestrator uses events to explain and to plan, never to decide what to trust (the wheel is
/// validated on its own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum DriverEvent {
    /// What `get_requires_for_build_wheel` returned.
    BuildRequirements {
        /// PEP 508 strings, as returned.
        requirements: Vec<String>,
    },
    /// Those of them the venv does not hold; the driver then exits with
    /// [`EXIT_MISSING_REQUIREMENTS`].
    MissingBuildRequirements {
        /// PEP 508 strings.
        requirements: Vec<String>,
    },
    /// Something in the build tried to reach the network (the container has none).
    NetworkAttempt {
        /// The audit event, e.g. `socket.connect`.
        operation: String,
        /// The address or host, as the audit hook saw it.
        address: String,
    },
    /// `prepare_metadata_for_build_wheel` wrote this `.dist-info` directory.
    Metadata {
        /// Its name inside the output directory.
        directory: String,
    },
    /// The backend built this wheel.
    Built {
        /// Its file name inside the output directory.
        wheel: String,
    },
    /// The driver itself saw a failure.
    Failed {
        /// `venv`, `install`, `extract`, `patch` or `hooks`.
        phase: String,
        /// What happened.
        message: String,
    },
}

impl DriverEvent {
    /// The event a line carries, if it is one.
    pub fn parse_line(line: &str) -> Option<DriverEvent> {
        serde_json::from_str(line.strip_prefix(EVENT_PREFIX)?).ok()
    }
}

/// A directory holding the driver's files, mounted read-only at [`STAGE_MOUNT`]. Written once
/// per run; removed when dropped.
#[derive(Debug)]
pub struct StageDir {
    dir: tempfile::TempDir,
}

impl StageDir {
    /// Writes [`STAGE_FILES`] into a fresh directory: directories 0755 and files 0644, so that
    /// the container's unprivileged user can read them.
    pub fn write() -> Result<StageDir, BuildError> {
        write_stage(STAGE_FILES).map(|dir| StageDir { dir })
    }

    /// The directory on the host.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Writes `files` (path under the directory, contents) into a fresh temporary directory that an
/// unprivileged container user can read. Resolve's session stage is written the same way.
pub fn write_stage(files: &[(&str, &str)]) -> Result<tempfile::TempDir, BuildError> {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::Builder::new()
        .prefix("offline-build-stage-")
        .tempdir()
        .map_err(BuildError::io(
            "create a stage directory in",
            std::env::temp_dir(),
        ))?;
    let readable = |path: &Path, mode| {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(BuildError::io("set the mode of", path))
    };
    readable(dir.path(), 0o755)?;
    for (relative, contents) in files {
        let path: PathBuf = dir.path().join(relative);
        if let Some(parent) = path.parent()
            && !parent.exists()
        {
            fs_err::create_dir_all(parent).map_err(BuildError::io("create", parent))?;
            readable(parent, 0o755)?;
        }
        fs_err::write(&path, contents).map_err(BuildError::io("write", &path))?;
        readable(&path, 0o644)?;
    }
    Ok(dir)
}

/// sha256 of everything about how we build that is not a package input: the driver's files,
/// the container layout and `SOURCE_DATE_EPOCH`. Part of every wheel's cache key.
pub fn settings_digest(
    source_date_epoch: u64,
    policy: &crate::install_policy::InstallPolicy,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"offline-build settings 2\0");
    for (path, contents) in STAGE_FILES {
        hasher.update(path.as_bytes());
        hasher.update(b"\0");
        hasher.update(contents.as_bytes());
        hasher.update(b"\0");
    }
    hasher.update(
        format!(
            "{STAGE_MOUNT}\0{SDIST_DIR}\0{WHEELS_DIR}\0{CARGO_DIR}\0{PATCHES_DIR}\0{OUT_DIR}\0{source_date_epoch}"
        )
        .as_bytes(),
    );
    hasher.update(b"\0");
    hasher.update(policy.digest_input().as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol(file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../stages/protocol")
            .join(file);
        fs_err::read_to_string(path).unwrap()
    }

    /// The Python side's tests read the same file: a field renamed on one side only fails here.
    #[test]
    fn the_shared_job_fixture_is_a_job() {
        let job: Job = serde_json::from_str(&protocol("build-job.json")).unwrap();
        assert_eq!(job.mode, Mode::Build);
        let again: Job = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(again, job);
        let made = Job::new(
            "greet",
            "1.0",
            "greet-1.0.tar.gz",
            &["minibackend-1.0-py3-none-any.whl".into()],
            315_532_800,
            Mode::Build,
        );
        assert_eq!(
            Job {
                config_settings: job.config_settings.clone(),
                cargo: Some(CARGO_DIR.to_owned()),
                env: Some(BTreeMap::from([
                    ("CFLAGS".to_owned(), "-DNDEBUG".to_owned()),
                    ("GREET_NO_SPEEDUPS".to_owned(), "1".to_owned()),
                ])),
                patches: Some(vec![
                    format!("{PATCHES_DIR}/0-fix.patch"),
                    format!("{PATCHES_DIR}/1-no-werror.patch"),
                ]),
                ..made
            },
            job,
            "Job::new lays the container out as the fixture does"
        );
    }

    /// The lock's reader and the driver refuse the same variables: a name added on one side
    /// only fails here.
    #[test]
    fn the_driver_reserves_the_variables_the_lock_reserves() {
        let job_py = include_str!("../../../stages/build/job.py");
        let start = job_py.find("RESERVED_ENV = (").unwrap();
        let end = start + job_py[start..].find(')').unwrap();
        let mut driver: Vec<&str> = job_py[start..end].split('"').skip(1).step_by(2).collect();
        let mut lock: Vec<&str> = ob_lock::RESERVED_BUILD_ENV.to_vec();
        driver.sort_unstable();
        lock.sort_unstable();
        assert_eq!(driver, lock);
        let tuple = |name: &str| -> Vec<&str> {
            let start = job_py.find(&format!("{name} = (")).unwrap();
            let end = start + job_py[start..].find(')').unwrap();
            job_py[start..end].split('"').skip(1).step_by(2).collect()
        };
        assert_eq!(
            tuple("RESERVED_ENV_PREFIXES"),
            ob_lock::RESERVED_BUILD_ENV_PREFIXES
        );
        assert_eq!(
            tuple("ALLOWED_ENV_PREFIXES"),
            ob_lock::ALLOWED_BUILD_ENV_PREFIXES
        );
    }

    #[test]
    fn every_event_of_the_shared_fixture_parses_and_round_trips() {
        let text = protocol("build-events.jsonl");
        let mut kinds = std::collections::BTreeSet::new();
        for line in text.lines().filter(|line| !line.trim().is_empty()) {
            let event = DriverEvent::parse_line(&format!("{EVENT_PREFIX}{line}"))
                .unwrap_or_else(|| panic!("not an event: {line}"));
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(serde_json::to_value(&event).unwrap(), value);
            kinds.insert(value["event"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            kinds.into_iter().collect::<Vec<_>>(),
            [
                "build-requirements",
                "built",
                "failed",
                "metadata",
                "missing-build-requirements",
                "network-attempt"
            ]
        );
        assert_eq!(DriverEvent::parse_line("offline-build: built x"), None);
    }

    #[test]
    fn the_stage_list_is_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stages/build");
        let mut found: Vec<String> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".py"))
            .map(|name| format!("build/{name}"))
            .collect();
        found.sort();
        let listed: Vec<&str> = STAGE_FILES.iter().map(|(path, _)| *path).collect();
        assert_eq!(found, listed, "add the file to STAGE_FILES (sorted)");
    }
}
