//! Shared by the build tests: a project directory with a wheelhouse packed from
//! `fixtures/build/`, a lock describing it, and the builder image.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ob_build::{PackageReport, Reporter};
use ob_lock::Lock;

// The fixtures, for the tests that include this module (here, in ob-adversarial and in
// offline-build); not every one of them uses every fixture.
#[allow(unused_imports)]
pub use ob_testkit::sdist::{CSPEED, Fixture, GREET, LAYERED, MINIBACKEND, fixture};

/// A temporary project: `wheelhouse/`, `dist/` and the lock in memory.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub wheelhouse: PathBuf,
    pub out: PathBuf,
    pub lock: Lock,
}

impl Project {
    /// Packs each fixture (from `fixtures/build/<name>`, or from `sources` when given there)
    /// into the wheelhouse and describes them in a lock pinned to the builder image.
    pub fn new(fixtures: &[Fixture]) -> Project {
        Project::with_sources(fixtures, &[])
    }

    /// Like [`Project::new`], packing `(name, tree)` pairs from `sources` instead of the
    /// committed fixture trees.
    pub fn with_sources(fixtures: &[Fixture], sources: &[(&str, &Path)]) -> Project {
        let (image, digest) = ob_testkit::image::builder_image_with_digest();
        let dir = tempfile::tempdir().unwrap();
        let wheelhouse = dir.path().join("wheelhouse");
        let out = dir.path().join("dist");
        let mut project = Project {
            wheelhouse,
            out,
            lock: Lock {
                tool: ob_testkit::sdist::fixture_lock_tool(&image, &digest),
                ..Lock::default()
            },
            dir,
        };
        for fixture in fixtures {
            let source = sources
                .iter()
                .find(|(name, _)| *name == fixture.name)
                .map(|(_, path)| path.to_path_buf());
            project.add(fixture, source.as_deref());
        }
        project
    }

    /// Packs one more fixture and adds it to the lock.
    pub fn add(&mut self, fixture: &Fixture, source: Option<&Path>) {
        let packed = match source {
            Some(tree) => ob_testkit::sdist::pack(tree, &self.wheelhouse).unwrap(),
            None => ob_testkit::sdist::pack_fixture(fixture.name, &self.wheelhouse).unwrap(),
        };
        self.lock
            .packages
            .retain(|package| package.name != fixture.name);
        self.lock
            .packages
            .push(ob_testkit::sdist::fixture_package(fixture, &packed));
        self.lock.packages.sort_by(|a, b| a.name.cmp(&b.name));
        // Fixtures are added in build order, so a build requirement may come later.
        if let Ok(order) = self.lock.canonical_build_order() {
            self.lock.tool.build_order = order;
        }
    }

    pub fn options(&self) -> ob_build::BuildOptions {
        let mut options = ob_build::BuildOptions::new(&self.wheelhouse, &self.out);
        options.jobs = 2;
        options.timeout = std::time::Duration::from_secs(300);
        // On in every test: whatever a test builds must also install and import offline.
        options.verify_install = true;
        options.runtime = ob_testkit::image::runtime();
        options
    }

    pub fn log(&self, package: &PackageReport) -> String {
        fs_err::read_to_string(self.out.join(package.log.as_ref().unwrap())).unwrap()
    }
}

/// A copy of `fixtures/build/<name>` that a test may change.
pub fn copy_fixture(name: &str, into: &Path) -> PathBuf {
    ob_testkit::sdist::copy_fixture(name, into).unwrap()
}

/// Records what the build reported, for assertions.
#[derive(Default)]
pub struct Recorder {
    pub done: Mutex<Vec<(PackageReport, Vec<String>)>>,
    pub dropped: Mutex<Vec<(String, String, String)>>,
    pub warnings: Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn on_package_done(&self, package: &PackageReport, log_tail: &[String]) {
        self.done
            .lock()
            .unwrap()
            .push((package.clone(), log_tail.to_vec()));
    }

    fn on_warning(&self, message: &str) {
        self.warnings.lock().unwrap().push(message.to_owned());
    }

    fn on_dropped(&self, name: &str, _version: &str, file: &str, reason: &str) {
        self.dropped
            .lock()
            .unwrap()
            .push((name.to_owned(), file.to_owned(), reason.to_owned()));
    }
}

impl Recorder {
    pub fn tail_of(&self, name: &str) -> Vec<String> {
        self.done
            .lock()
            .unwrap()
            .iter()
            .find(|(package, _)| package.name == name)
            .map(|(_, tail)| tail.clone())
            .unwrap_or_default()
    }
}

/// The package `name` in `report`.
pub fn entry<'a>(report: &'a ob_build::BuildReport, name: &str) -> &'a PackageReport {
    report
        .packages
        .iter()
        .find(|package| package.name == name)
        .unwrap_or_else(|| panic!("no `{name}` in the report"))
}
