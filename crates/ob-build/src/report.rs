//! `build-report.json`: what was built from what, for people, scripts and the next incremental
//! build. Its format is documented in docs/build.md and only ever gains fields.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::BuildError;

/// File name of the report inside the output directory.
pub const REPORT_FILE: &str = "build-report.json";
/// Current `report-version`.
pub const REPORT_VERSION: u32 = 1;

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct BuildReport {
    /// Format version, [`REPORT_VERSION`].
    pub report_version: u32,
    /// Image reference the builds ran in.
    pub image: String,
    /// Its layer digest (`sha256:...`), checked against the lock.
    pub image_digest: String,
    /// `SOURCE_DATE_EPOCH` of every build.
    pub source_date_epoch: u64,
    /// sha256 of the build settings and the driver script: a change rebuilds everything.
    pub settings_digest: String,
    /// One entry per package of the lock, sorted by name.
    pub packages: Vec<PackageReport>,
    /// The install check, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify_install: Option<InstallCheck>,
}

/// How one package's build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PackageStatus {
    /// Built in this run; the wheel passed every check.
    Built,
    /// Its wheel in the output directory was built from exactly these inputs before.
    UpToDate,
    /// Its wheel came from the wheel cache (built from exactly these inputs earlier, by this
    /// or another project's `build` or `resolve`).
    Cached,
    /// The build failed or its wheel was refused.
    Failed,
    /// The wall-clock limit stopped the build.
    TimedOut,
    /// Not attempted, because a package it needs to build failed.
    Skipped,
    /// Not built: a release `allow-binary` names, taken as its upstream wheel from the
    /// wheelhouse, which passed the same checks as a built one.
    Prebuilt,
}

impl PackageStatus {
    /// Built now or before: its wheel is in the output directory.
    pub fn has_wheel(self) -> bool {
        matches!(
            self,
            PackageStatus::Built
                | PackageStatus::UpToDate
                | PackageStatus::Cached
                | PackageStatus::Prebuilt
        )
    }
}

/// One package.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PackageReport {
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
    /// sha256 of the sdist it was built from (verified before the build); empty for a
    /// [`PackageStatus::Prebuilt`] package, which has no sdist.
    pub sdist_sha256: String,
    /// The wheel's file name in the output directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wheel: Option<String>,
    /// The wheel's sha256.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wheel_sha256: Option<String>,
    /// Importable top-level modules of the wheel (what `--verify-install` imports).
    #[serde(default)]
    pub top_level: Vec<String>,
    /// Compiled extension modules of the wheel.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extension_modules: Vec<String>,
    /// Set when the sdist ships native sources (named here) but the wheel holds no extension
    /// module: it was built without its native part, usually for a missing header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<String>,
    /// The wheels installed in its build environment.
    pub build_requires: Vec<UsedWheel>,
    /// Layer digest of the image it was built in.
    pub image_digest: String,
    /// sha256 over everything the wheel was built from (sdist, build environment, image,
    /// settings): its wheel cache key. Equal inputs mean the wheel is not built again.
    pub inputs_digest: String,
    /// Wall-clock seconds of the build (of the original build, when up to date).
    pub duration_seconds: f64,
    /// How it ended.
    pub status: PackageStatus,
    /// Its log, relative to the output directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
    /// Why it failed or was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Files the build left beside its wheel, which were dropped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<DroppedFile>,
    /// With `--check-reproducible`: whether a second build gave the same wheel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reproducible: Option<Reproducibility>,
}

/// A wheel of the build environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UsedWheel {
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
    /// File name.
    pub wheel: String,
    /// sha256 of the wheel.
    pub sha256: String,
}

/// A file dropped from a build's output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DroppedFile {
    /// Its name in the output directory.
    pub file: String,
    /// Why it was dropped.
    pub reason: String,
}

/// Result of the second build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Reproducibility {
    /// Bit-identical wheels.
    pub identical: bool,
    /// sha256 of the second wheel (absent when the second build failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub second_sha256: Option<String>,
    /// How the wheels differ: `added <entry>`, `removed <entry>`, `changed <entry>`, or a note.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub differences: Vec<String>,
    /// The second build's log, relative to the output directory.
    pub log: String,
}

/// Result of `--verify-install`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstallCheck {
    /// pip installed the runtime set offline and every module imported.
    pub ok: bool,
    /// The pins installed.
    pub requirements: Vec<String>,
    /// The modules imported.
    pub modules: Vec<String>,
    /// Its log, relative to the output directory.
    pub log: String,
}

impl BuildReport {
    /// Packages that failed, timed out or were skipped.
    pub fn unsuccessful(&self) -> impl Iterator<Item = &PackageReport> {
        self.packages
            .iter()
            .filter(|package| !package.status.has_wheel())
    }

    /// Packages whose wheel lacks the native part their sdist ships.
    pub fn degraded(&self) -> impl Iterator<Item = &PackageReport> {
        self.packages
            .iter()
            .filter(|package| package.degraded.is_some())
    }

    /// Every package has its wheel, no second build differed, and the install check (if any)
    /// passed.
    pub fn succeeded(&self) -> bool {
        self.unsuccessful().next().is_none()
            && self
                .packages
                .iter()
                .all(|package| package.reproducible.as_ref().is_none_or(|r| r.identical))
            && self.verify_install.as_ref().is_none_or(|check| check.ok)
    }

    /// Reads a report; `None` when absent or unreadable (an incremental build then builds
    /// everything, which is always safe).
    pub fn read(out: &Path) -> Option<BuildReport> {
        let bytes = fs_err::read(out.join(REPORT_FILE)).ok()?;
        serde_json::from_slice::<BuildReport>(&bytes)
            .ok()
            .filter(|report| report.report_version == REPORT_VERSION)
    }

    /// Writes the report atomically (temp file in the same directory, then rename).
    pub fn write(&self, out: &Path) -> Result<(), BuildError> {
        let path = out.join(REPORT_FILE);
        let mut json = serde_json::to_vec_pretty(self)
            .map_err(|err| BuildError::io("serialise", &path)(std::io::Error::other(err)))?;
        json.push(b'\n');
        write_atomically(&path, &json)
    }
}

/// Writes `bytes` to `path` through a temp file in the same directory and a rename, so a
/// reader never sees half a file.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), BuildError> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut temp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(BuildError::io("create a temp file in", dir))?;
    temp.write_all(bytes)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(BuildError::io("write", temp.path()))?;
    temp.persist(path)
        .map_err(|err| BuildError::io("write", path)(err.error))?;
    Ok(())
}
