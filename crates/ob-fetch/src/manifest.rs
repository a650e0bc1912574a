//! The wheelhouse manifest (`offline-build-manifest.json`): which files fetch verified, with
//! name, version, size, sha256 and source (URL without credentials, or the lock's path). Written
//! atomically and only when its content changes; `build` reads it.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FetchError;
use crate::plan::Planned;
use crate::wheelhouse::MANIFEST_FILE;

/// The version of the manifest's format this crate writes and reads.
pub const MANIFEST_VERSION: u32 = 1;

/// The wheelhouse manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Manifest {
    /// Format version, [`MANIFEST_VERSION`].
    pub manifest_version: u32,
    /// One entry per sdist, sorted by file name.
    pub files: Vec<ManifestEntry>,
}

/// One verified sdist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ManifestEntry {
    /// Normalized package name.
    pub name: String,
    /// Exact version.
    pub version: String,
    /// File name inside the wheelhouse.
    pub filename: String,
    /// Lowercase hex sha256.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
    /// The URL it was downloaded from, without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Or the lock's path it was copied from (relative to the lock's directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl Manifest {
    /// Reads `<wheelhouse>/offline-build-manifest.json`.
    pub fn read(wheelhouse: &Path) -> Result<Manifest, FetchError> {
        let path = wheelhouse.join(MANIFEST_FILE);
        let text = fs_err::read_to_string(&path).map_err(|source| FetchError::Io {
            action: "read the wheelhouse manifest",
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| FetchError::Manifest { path, source })
    }

    pub(crate) fn from_planned(planned: &[Planned]) -> Manifest {
        let mut files: Vec<ManifestEntry> = planned
            .iter()
            .map(|entry| {
                let (url, path) = entry.manifest_source();
                ManifestEntry {
                    name: entry.name.clone(),
                    version: entry.version.clone(),
                    filename: entry.filename.clone(),
                    sha256: entry.sha256.clone(),
                    size: entry.size,
                    url,
                    path,
                }
            })
            .collect();
        files.sort_by(|left, right| left.filename.cmp(&right.filename));
        Manifest {
            manifest_version: MANIFEST_VERSION,
            files,
        }
    }

    /// Writes the manifest atomically (temporary file in the wheelhouse, then rename), and not at
    /// all when the file already holds exactly this content.
    pub(crate) fn write(&self, wheelhouse: &Path) -> Result<(), FetchError> {
        let path = wheelhouse.join(MANIFEST_FILE);
        let mut text =
            serde_json::to_string_pretty(self).map_err(|source| FetchError::Manifest {
                path: path.clone(),
                source,
            })?;
        text.push('\n');
        if fs_err::read(&path).is_ok_and(|existing| existing == text.as_bytes()) {
            return Ok(());
        }
        let temporary = wheelhouse.join(format!(".{MANIFEST_FILE}.{}.tmp", std::process::id()));
        let io = |action: &'static str, path: &Path| {
            let path = path.to_owned();
            move |source| FetchError::Io {
                action,
                path,
                source,
            }
        };
        let result = (|| {
            let mut file =
                fs_err::File::create(&temporary).map_err(io("create the manifest", &temporary))?;
            file.write_all(text.as_bytes())
                .map_err(io("write the manifest", &temporary))?;
            file.sync_all()
                .map_err(io("write the manifest", &temporary))?;
            fs_err::rename(&temporary, &path).map_err(io("replace the manifest", &path))
        })();
        if result.is_err() {
            let _ = fs_err::remove_file(&temporary);
        }
        result
    }
}
