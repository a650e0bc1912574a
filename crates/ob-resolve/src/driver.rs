//! What runs inside the resolve container (the Python scripts of `stages/resolve/`, embedded),
//! the job the driver reads, and the result it writes. The build stage's driver is embedded too:
//! verification builds run the very same script the build stage runs.

use serde::{Deserialize, Serialize};

/// The resolve driver.
pub const DRIVER: &str = include_str!("../../../stages/resolve/driver.py");
/// The network audit hook, loaded into every Python process of the container.
pub const AUDIT: &str = include_str!("../../../stages/resolve/audit.py");
/// The build stage's per-package driver, used unchanged for verification builds.
pub const BUILD_DRIVER: &str = include_str!("../../../stages/build/driver.py");

/// Where the stage directory (scripts and job) is mounted, read-only.
pub const STAGE_DIR: &str = "/ob/stage";
/// The one writable mount: result.json and logs/.
pub const OUT_DIR: &str = "/out";
/// Where the `.pth` file that loads the audit hook is mounted. Debian's system site directory:
/// with another image the hook is simply not loaded (the network is still only the proxy).
pub const AUDIT_PTH: &str = "/usr/lib/python3/dist-packages/zz-offline-build-audit.pth";

/// The `.pth` line: Python runs `import` lines of .pth files at start-up. The hook gets a
/// namespace of its own: `site` would otherwise run it in a function's locals.
pub fn audit_pth() -> String {
    format!(
        "import os; exec(compile(open('{STAGE_DIR}/audit.py').read(), '{STAGE_DIR}/audit.py', 'exec'), {{'__name__': 'offline_build_audit'}}) if os.path.exists('{STAGE_DIR}/audit.py') else None\n"
    )
}

/// The driver's job, written as JSON into the stage directory.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    /// The proxy's Simple API URL as the container sees it.
    pub index_url: String,
    /// The proxy's host (the network gateway): the only non-loopback host the audit hook allows.
    pub allow_host: String,
    /// Top-level requirement strings.
    pub requirements: Vec<String>,
    /// Constraint strings.
    pub constraints: Vec<String>,
    /// Parallel hook runs and builds.
    pub jobs: usize,
    /// Whether to build every package in order.
    pub verify: bool,
    /// Path of the build stage's driver inside the container.
    pub build_driver: String,
    /// Path of the audit hook inside the container.
    pub audit: String,
    /// `SOURCE_DATE_EPOCH` for hooks and builds.
    pub source_date_epoch: u64,
    /// Seconds one package's hooks or build may take.
    pub build_timeout: u64,
    /// [`OUT_DIR`].
    pub out: String,
}

/// `result.json`: either the resolution or an error.
#[derive(Debug, Clone, Deserialize)]
pub struct DriverResult {
    /// Set when the driver failed.
    pub error: Option<DriverError>,
    /// Python version of the image, e.g. `3.13.5`.
    #[serde(default)]
    pub python_version: String,
    /// Platform, e.g. `linux_x86_64`.
    #[serde(default)]
    pub platform: String,
    /// Build order.
    #[serde(default)]
    pub build_order: Vec<String>,
    /// Every package.
    #[serde(default)]
    pub packages: Vec<DriverPackage>,
    /// Whether verification builds ran and passed.
    #[serde(default)]
    pub verified: bool,
    /// Packages whose sdist pip downloaded to prepare its metadata itself.
    #[serde(default)]
    pub pip_prepared: Vec<String>,
}

/// One package of the resolution.
#[derive(Debug, Clone, Deserialize)]
pub struct DriverPackage {
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The sdist's file name.
    pub filename: String,
    /// `Requires-Python`, if any.
    pub requires_python: Option<String>,
    /// Part of the runtime closure of the top-level requirements.
    pub runtime: bool,
    /// Direct dependencies (normalized names).
    pub dependencies: Vec<String>,
    /// The complete pinned build environment.
    pub build_requires: Vec<DriverPin>,
}

/// `name==version`.
#[derive(Debug, Clone, Deserialize)]
pub struct DriverPin {
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
}

/// A failure the driver explained.
#[derive(Debug, Clone, Deserialize)]
pub struct DriverError {
    /// `no-sdist`, `network`, `cycle`, `conflict`, `hook-failed`, `build-failed`, `internal`, ...
    pub kind: String,
    /// The package it is about (may be empty).
    #[serde(default)]
    pub package: String,
    /// What happened.
    #[serde(default)]
    pub message: String,
    /// Log path inside the container.
    pub log: Option<String>,
    /// Last lines of the log.
    pub tail: Option<String>,
    /// For `network`: the host.
    pub host: Option<String>,
    /// For failures of one package: how the requirements lead to it.
    pub via: Option<String>,
    /// For `cycle`: the cycle.
    pub cycle: Option<Vec<String>>,
    /// For `no-sdist`: the requirement.
    pub requirement: Option<String>,
    /// For `no-sdist`: versions that do have an sdist, oldest first.
    pub sdist_versions: Option<Vec<String>>,
}
