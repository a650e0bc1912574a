//! Shared by the build tests: a project directory with a wheelhouse packed from
//! `fixtures/build/`, a lock describing it, and the builder image.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ob_build::{PackageReport, Reporter};
use ob_lock::{Lock, LockTool, Package, Pin, Sdist};

/// One fixture package in a test lock.
pub struct Fixture {
    /// Directory under `fixtures/build/`.
    pub name: &'static str,
    /// Its `build-requires`, all at version 1.0.
    pub build_requires: &'static [&'static str],
    /// Needed only to build others.
    pub build_only: bool,
    /// Runtime dependencies.
    pub dependencies: &'static [&'static str],
}

pub const fn fixture(name: &'static str, build_requires: &'static [&'static str]) -> Fixture {
    Fixture {
        name,
        build_requires,
        build_only: false,
        dependencies: &[],
    }
}

pub const MINIBACKEND: Fixture = Fixture {
    name: "minibackend",
    build_requires: &[],
    build_only: true,
    dependencies: &[],
};
pub const GREET: Fixture = fixture("greet", &["minibackend"]);
pub const CSPEED: Fixture = fixture("cspeed", &["minibackend"]);
pub const LAYERED: Fixture = Fixture {
    name: "layered",
    build_requires: &["minibackend", "greet"],
    build_only: false,
    dependencies: &["greet"],
};

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
        let dir = tempfile::tempdir().unwrap();
        let wheelhouse = dir.path().join("wheelhouse");
        let out = dir.path().join("dist");
        let mut project = Project {
            wheelhouse,
            out,
            lock: Lock {
                tool: lock_tool(),
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
        self.lock.packages.push(Package {
            name: fixture.name.to_owned(),
            version: packed.version.clone(),
            build_only: fixture.build_only,
            dependencies: fixture
                .dependencies
                .iter()
                .map(|d| (*d).to_owned())
                .collect(),
            sdist: Sdist {
                filename: packed.filename.clone(),
                path: Some(format!("wheelhouse/{}", packed.filename)),
                size: packed.size,
                sha256: packed.sha256.clone(),
                ..Sdist::default()
            },
            build_requires: fixture
                .build_requires
                .iter()
                .map(|name| Pin {
                    name: (*name).to_owned(),
                    version: "1.0".to_owned(),
                })
                .collect(),
            ..Package::default()
        });
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
        options
    }

    pub fn log(&self, package: &PackageReport) -> String {
        fs_err::read_to_string(self.out.join(package.log.as_ref().unwrap())).unwrap()
    }
}

/// A copy of `fixtures/build/<name>` that a test may change.
pub fn copy_fixture(name: &str, into: &Path) -> PathBuf {
    let target = into.join(name);
    copy_tree(&ob_testkit::sdist::fixture_dir(name), &target);
    target
}

fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `[tool.offline-build]` for the builder image, with its real digest.
pub fn lock_tool() -> LockTool {
    let (reference, digest) = image();
    LockTool {
        image: reference,
        image_digest: digest,
        python_version: "3.13".to_owned(),
        platform: "linux_x86_64".to_owned(),
        source_date_epoch: 1_577_836_800,
        // Never contacted: builds have no network. Loopback, so no real index is named.
        index_url: "http://127.0.0.1:9/simple/".to_owned(),
        ..LockTool::default()
    }
}

/// The builder image's reference and digest (made once per machine by ob-testkit).
pub fn image() -> (String, String) {
    static IMAGE: std::sync::OnceLock<(String, String)> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let reference = ob_testkit::image::builder_image();
            let digest = std::thread::spawn({
                let reference = reference.clone();
                move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    runtime.block_on(async {
                        let sandbox = ob_sandbox::Sandbox::connect().await.unwrap();
                        ob_sandbox::image::inspect(&sandbox, &reference)
                            .await
                            .unwrap()
                            .unwrap()
                            .digest
                    })
                }
            })
            .join()
            .unwrap();
            (reference, digest)
        })
        .clone()
}

/// Lowercase hex sha256 of a file.
pub fn sha256_file(path: &Path) -> String {
    ob_testkit::sdist::sha256_file(path).unwrap()
}

/// Records what the build reported, for assertions.
#[derive(Default)]
pub struct Recorder {
    pub done: Mutex<Vec<(PackageReport, Vec<String>)>>,
    pub dropped: Mutex<Vec<(String, String, String)>>,
}

impl Reporter for Recorder {
    fn on_package_done(&self, package: &PackageReport, log_tail: &[String]) {
        self.done
            .lock()
            .unwrap()
            .push((package.clone(), log_tail.to_vec()));
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
