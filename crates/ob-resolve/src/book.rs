//! What pip's resolver is told about each sdist (PEP 658 metadata through the index proxy): its
//! PKG-INFO until a build or metadata hook of it says otherwise, then what that said. Only the
//! dependency fields reach pip, under the name and version the index lists the file with, so a
//! PKG-INFO cannot steer pip to another project.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use ob_build::metadata::CoreMetadata;
use ob_index::{MetadataSource, ServedFile};

use crate::sdist::{self, SdistFacts};

/// The metadata book of one resolve.
#[derive(Debug, Default)]
pub struct MetadataBook {
    inner: Mutex<Inner>,
    /// What a wheel may install, for the wheels of `allow-binary` releases.
    policy: ob_build::install_policy::InstallPolicy,
}

#[derive(Debug, Default)]
struct Inner {
    /// By sdist file name: what it says about itself.
    facts: HashMap<String, Arc<SdistFacts>>,
    /// By sdist file name: what a build or hook of it said, replacing its PKG-INFO.
    corrected: HashMap<String, CoreMetadata>,
    /// By sdist file name: the verified crates its steps vendor.
    crates: HashMap<String, Vec<ob_build::CrateInput>>,
}

impl MetadataBook {
    /// A book whose wheels are checked under `policy`.
    pub fn new(policy: ob_build::install_policy::InstallPolicy) -> MetadataBook {
        MetadataBook {
            inner: Mutex::default(),
            policy,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Plain maps: a panic while holding the lock leaves them usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The facts of the sdist `filename` at `path` (read once per resolve).
    pub fn facts(&self, filename: &str, path: &Path) -> Result<Arc<SdistFacts>, String> {
        if let Some(facts) = self.inner().facts.get(filename) {
            return Ok(facts.clone());
        }
        let facts = Arc::new(if filename.ends_with(".whl") {
            self.wheel_facts(filename, path)?
        } else {
            sdist::read(path, filename)?
        });
        Ok(self
            .inner()
            .facts
            .entry(filename.to_owned())
            .or_insert(facts)
            .clone())
    }

    /// What pip is told about a wheel (only a release `allow-binary` names is listed as one):
    /// its METADATA, once the whole wheel passed the checks a built one must pass. It has no
    /// build requirements; it is never built.
    fn wheel_facts(&self, filename: &str, path: &Path) -> Result<SdistFacts, String> {
        let parsed = ob_build::wheel::WheelName::parse(filename)
            .ok_or_else(|| format!("`{filename}` is not a wheel's file name"))?;
        let checked = ob_build::wheel::check_wheel_named(
            path,
            filename,
            &parsed.distribution,
            &parsed.version,
            &self.policy,
        )
        .map_err(|problem| problem.to_string())?;
        Ok(SdistFacts {
            pkg_info: Some(checked.metadata),
            build_requires: Vec::new(),
            crates: Vec::new(),
        })
    }

    /// Records the verified crates that the steps of `filename` vendor.
    pub fn set_crates(&self, filename: &str, crates: Vec<ob_build::CrateInput>) {
        self.inner().crates.insert(filename.to_owned(), crates);
    }

    /// The verified crates that the steps of `filename` vendor (none for most sdists).
    pub fn crates(&self, filename: &str) -> Vec<ob_build::CrateInput> {
        self.inner()
            .crates
            .get(filename)
            .cloned()
            .unwrap_or_default()
    }

    /// What pip is told about `filename` now: the correction if any, else its PKG-INFO, else
    /// nothing (no dependencies until a hook says). `None` before its facts were read.
    pub fn told(&self, filename: &str) -> Option<CoreMetadata> {
        let inner = self.inner();
        if let Some(corrected) = inner.corrected.get(filename) {
            return Some(corrected.clone());
        }
        let facts = inner.facts.get(filename)?;
        Some(facts.pkg_info.clone().unwrap_or_default())
    }

    /// Whether pip's resolver may take what `filename`'s PKG-INFO says (PEP 643) without a hook
    /// or build confirming it.
    pub fn trusted(&self, filename: &str) -> bool {
        self.inner()
            .facts
            .get(filename)
            .and_then(|facts| facts.pkg_info.as_ref())
            .is_some_and(CoreMetadata::states_dependencies)
    }

    /// Records what a build or hook of `filename` said. Returns true when that differs from what
    /// pip was told, so that every resolution that used it must be done again.
    pub fn correct(&self, filename: &str, metadata: &CoreMetadata) -> bool {
        let told = self.told(filename).unwrap_or_default();
        if told.same_dependencies(metadata) {
            return false;
        }
        self.inner()
            .corrected
            .insert(filename.to_owned(), metadata.clone());
        true
    }
}

/// In every refusal of metadata (the proxy records it), so that resolve can name the package
/// instead of showing pip's failure; the package's name comes first, in backquotes.
pub const REFUSED_TO_PIP: &str = "was refused to pip";

impl MetadataSource for MetadataBook {
    fn metadata(&self, file: &ServedFile, sdist: &Path) -> Result<Vec<u8>, String> {
        self.facts(&file.filename, sdist).map_err(|err| {
            format!(
                "`{}`'s sdist `{}` {REFUSED_TO_PIP}: {err}",
                file.project, file.filename
            )
        })?;
        let told = self.told(&file.filename).unwrap_or_default();
        if let Some((text, why)) = told
            .requires_dist
            .iter()
            .find_map(|text| crate::requirement::refusal(text).map(|why| (text, why)))
        {
            return Err(format!(
                "`{}`'s metadata {REFUSED_TO_PIP}: it requires `{}`, which {why}",
                file.project,
                crate::requirement::shown(text)
            ));
        }
        let version = version_of(&file.filename)
            .ok_or_else(|| format!("`{}` names no version", file.filename))?;
        Ok(told
            .render_for_resolver(&file.project, version)
            .into_bytes())
    }
}

/// The version part of an sdist file name (`name-version.tar.gz`; the name may hold `-`, the
/// version may not).
pub fn version_of(filename: &str) -> Option<&str> {
    if filename.ends_with(".whl") {
        return ob_lock::wheel_release(filename).map(|(_, version)| version);
    }
    let stem = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))?;
    stem.rsplit_once('-')
        .map(|(_, version)| version)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_come_from_the_file_name() {
        assert_eq!(
            version_of("python-dateutil-2.9.0.post0.tar.gz"),
            Some("2.9.0.post0")
        );
        assert_eq!(version_of("PyYAML-6.0.2.zip"), Some("6.0.2"));
        assert_eq!(version_of("nodash.tar.gz"), None);
    }

    #[test]
    fn a_correction_counts_only_when_it_changes_the_dependencies() {
        let book = MetadataBook::default();
        book.inner().facts.insert(
            "demo-1.0.tar.gz".into(),
            Arc::new(SdistFacts {
                pkg_info: Some(CoreMetadata::parse(
                    "Metadata-Version: 2.1\nName: demo\nVersion: 1.0\nRequires-Dist: idna>=3\n",
                )),
                build_requires: Vec::new(),
                crates: Vec::new(),
            }),
        );
        assert!(!book.trusted("demo-1.0.tar.gz"), "2.1 promises nothing");
        let same = CoreMetadata::parse("Name: demo\nVersion: 1.0\nRequires-Dist: idna >=3\n");
        assert!(!book.correct("demo-1.0.tar.gz", &same));
        let more = CoreMetadata::parse(
            "Name: demo\nVersion: 1.0\nRequires-Dist: idna>=3\nRequires-Dist: greet\n",
        );
        assert!(book.correct("demo-1.0.tar.gz", &more));
        assert_eq!(book.told("demo-1.0.tar.gz").unwrap().requires_dist.len(), 2);
        assert!(!book.correct("demo-1.0.tar.gz", &more));
    }
}
