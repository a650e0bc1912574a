//! Packs a source tree under `fixtures/` into a deterministic sdist (owned by the build work):
//! entries sorted, one fixed mtime, numeric owners 0:0, normalised modes, a `PKG-INFO` made from
//! `[project]` the way current backends write it (Metadata-Version 2.2 with `Requires-Dist` and
//! `Requires-Python`, or `Dynamic:` for what `[project].dynamic` lists), and a gzip header without
//! time or name, so the same tree always gives the same sha256.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The mtime of every member: 2020-01-01T00:00:00Z.
pub const SDIST_MTIME: u64 = 1_577_836_800;

/// Why packing failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SdistError {
    /// Reading the tree or writing the archive failed.
    #[error("could not pack the sdist of `{}`", path.display())]
    Io {
        /// The fixture tree or the archive being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// `pyproject.toml` is missing, not TOML, or has no `[project]` name and version.
    #[error("`{}` has no usable [project] name and version: {problem}", path.display())]
    Project {
        /// The pyproject.toml.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
}

/// A packed sdist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackedSdist {
    /// `[project].name` as written.
    pub name: String,
    /// `[project].version`.
    pub version: String,
    /// `{name_with_underscores}-{version}.tar.gz` (PEP 625).
    pub filename: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Lowercase hex sha256 of the file.
    pub sha256: String,
    /// Size in bytes.
    pub size: u64,
}

/// The tree of the build fixture `name`: `fixtures/build/<name>`.
pub fn fixture_dir(name: &str) -> PathBuf {
    crate::repo_root().join("fixtures/build").join(name)
}

/// Packs `fixtures/build/<name>` into `out_dir`.
pub fn pack_fixture(name: &str, out_dir: &Path) -> Result<PackedSdist, SdistError> {
    pack(&fixture_dir(name), out_dir)
}

/// Packs the source tree `source` (which holds a `pyproject.toml` with `[project]` name and
/// version) into `out_dir/{name}-{version}.tar.gz`. `__pycache__` directories and `*.pyc` files
/// are left out.
pub fn pack(source: &Path, out_dir: &Path) -> Result<PackedSdist, SdistError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source: std::io::Error| SdistError::Io { path, source }
    };
    let pyproject_path = source.join("pyproject.toml");
    let project = read_project(&pyproject_path)?;
    let (name, version) = (project.name.clone(), project.version.clone());
    let stem = format!("{}-{version}", name.replace(['-', '.'], "_").to_lowercase());
    let filename = format!("{stem}.tar.gz");

    let mut files = Vec::new();
    collect(source, source, &mut files).map_err(io(source))?;
    files.sort();

    let mut archive_bytes = Vec::new();
    {
        let encoder = flate2::GzBuilder::new()
            .mtime(0)
            .write(&mut archive_bytes, flate2::Compression::default());
        let mut builder = tar::Builder::new(encoder);
        builder.mode(tar::HeaderMode::Deterministic);
        let pkg_info = project.pkg_info();
        let mut entries: Vec<(String, Vec<u8>, u32)> =
            vec![(format!("{stem}/PKG-INFO"), pkg_info.into_bytes(), 0o644)];
        for relative in &files {
            let path = source.join(relative);
            let data = fs_err::read(&path).map_err(io(&path))?;
            entries.push((format!("{stem}/{relative}"), data, 0o644));
        }
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (member, data, mode) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(data.len() as u64);
            header.set_mode(mode);
            header.set_mtime(SDIST_MTIME);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            builder
                .append_data(&mut header, &member, data.as_slice())
                .map_err(io(source))?;
        }
        builder
            .into_inner()
            .and_then(|encoder| encoder.finish())
            .map_err(io(source))?;
    }

    fs_err::create_dir_all(out_dir).map_err(io(out_dir))?;
    let path = out_dir.join(&filename);
    let mut file = fs_err::File::create(&path).map_err(io(&path))?;
    file.write_all(&archive_bytes).map_err(io(&path))?;
    Ok(PackedSdist {
        name,
        version,
        filename,
        sha256: hex::encode(Sha256::digest(&archive_bytes)),
        size: archive_bytes.len() as u64,
        path,
    })
}

/// Lowercase hex sha256 of a file, for tests that compare sdists and wheels before and after.
pub fn sha256_file(path: &Path) -> Result<String, SdistError> {
    let bytes = fs_err::read(path).map_err(|source| SdistError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex::encode(Sha256::digest(bytes)))
}

/// The `[project]` fields that go into `PKG-INFO`.
struct Project {
    name: String,
    version: String,
    dependencies: Vec<String>,
    requires_python: Option<String>,
    dynamic: Vec<String>,
}

impl Project {
    /// PEP 643: a field listed in `[project].dynamic` is written as `Dynamic:` instead of its value.
    fn pkg_info(&self) -> String {
        let mut text = format!(
            "Metadata-Version: 2.2\nName: {}\nVersion: {}\n",
            self.name, self.version
        );
        let dynamic = |field: &str| self.dynamic.iter().any(|entry| entry == field);
        if dynamic("requires-python") {
            text.push_str("Dynamic: Requires-Python\n");
        } else if let Some(requires_python) = &self.requires_python {
            text.push_str(&format!("Requires-Python: {requires_python}\n"));
        }
        if dynamic("dependencies") {
            text.push_str("Dynamic: Requires-Dist\n");
        } else {
            for dependency in &self.dependencies {
                text.push_str(&format!("Requires-Dist: {dependency}\n"));
            }
        }
        text
    }
}

fn read_project(pyproject_path: &Path) -> Result<Project, SdistError> {
    let problem = |problem: String| SdistError::Project {
        path: pyproject_path.to_path_buf(),
        problem,
    };
    let text = fs_err::read_to_string(pyproject_path).map_err(|source| SdistError::Io {
        path: pyproject_path.to_path_buf(),
        source,
    })?;
    let table: toml::Table = toml::from_str(&text).map_err(|err| problem(err.to_string()))?;
    let project = table
        .get("project")
        .and_then(|project| project.as_table())
        .ok_or_else(|| problem("no [project] table".to_owned()))?;
    let field = |key: &str| {
        project
            .get(key)
            .and_then(|value| value.as_str())
            .map(str::to_owned)
            .ok_or_else(|| problem(format!("no [project].{key}")))
    };
    let strings = |key: &str| -> Vec<String> {
        project
            .get(key)
            .and_then(|value| value.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Project {
        name: field("name")?,
        version: field("version")?,
        dependencies: strings("dependencies"),
        requires_python: field("requires-python").ok(),
        dynamic: strings("dynamic"),
    })
}

/// Relative paths (with `/`) of every regular file under `dir`.
fn collect(root: &Path, dir: &Path, files: &mut Vec<String>) -> std::io::Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let file_name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if file_name != "__pycache__" && file_name != "build" {
                collect(root, &path, files)?;
            }
        } else if kind.is_file() && !file_name.ends_with(".pyc") {
            let relative = path
                .strip_prefix(root)
                .map_err(|err| std::io::Error::other(err.to_string()))?;
            let parts: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            files.push(parts.join("/"));
        }
    }
    Ok(())
}

/// One package under `fixtures/build/` as a test lock describes it.
#[derive(Debug, Clone, Copy)]
pub struct Fixture<'a> {
    /// Directory under `fixtures/build/`, and the package's name in the lock.
    pub name: &'a str,
    /// Its `build-requires`, all at version 1.0.
    pub build_requires: &'a [&'a str],
    /// Needed only to build others.
    pub build_only: bool,
    /// Runtime dependencies.
    pub dependencies: &'a [&'a str],
}

/// A fixture that is built for its own sake and needs nothing at run time.
pub const fn fixture(
    name: &'static str,
    build_requires: &'static [&'static str],
) -> Fixture<'static> {
    Fixture {
        name,
        build_requires,
        build_only: false,
        dependencies: &[],
    }
}

/// The self-bootstrapping build backend the other fixtures are built with.
pub const MINIBACKEND: Fixture<'static> = Fixture {
    name: "minibackend",
    build_requires: &[],
    build_only: true,
    dependencies: &[],
};
/// A pure-Python package built with `minibackend`.
pub const GREET: Fixture<'static> = fixture("greet", &["minibackend"]);
/// A package with compiled C code, built with `minibackend`.
pub const CSPEED: Fixture<'static> = fixture("cspeed", &["minibackend"]);
/// A package whose build runs code from `greet`, which it also needs at run time.
pub const LAYERED: Fixture<'static> = Fixture {
    name: "layered",
    build_requires: &["minibackend", "greet"],
    build_only: false,
    dependencies: &["greet"],
};

/// `[tool.offline-build]` of a fixture lock, for `image` with layer `digest`. The index URL is
/// loopback and never contacted: builds have no network, and no real index is named.
pub fn fixture_lock_tool(image: &str, digest: &str) -> ob_lock::LockTool {
    ob_lock::LockTool {
        image: image.to_owned(),
        image_digest: digest.to_owned(),
        python_version: "3.13".to_owned(),
        platform: "linux_x86_64".to_owned(),
        source_date_epoch: 1_577_836_800,
        index_url: "http://127.0.0.1:9/simple/".to_owned(),
        ..ob_lock::LockTool::default()
    }
}

/// The lock entry of `fixture`, packed as `packed` into the lock's `wheelhouse/`.
pub fn fixture_package(fixture: &Fixture<'_>, packed: &PackedSdist) -> ob_lock::Package {
    use ob_lock::{Package, Pin, Sdist};
    Package {
        name: fixture.name.to_owned(),
        version: packed.version.clone(),
        build_only: fixture.build_only,
        dependencies: fixture
            .dependencies
            .iter()
            .map(|name| ob_lock::Dependency::named(*name))
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
    }
}

/// Writes `<dir>/pylock.toml` for the smallest real project, `minibackend` (build-only) and
/// `greet` (runtime, built with minibackend), locked for the builder image.
pub fn write_greet_project_lock(dir: &Path) -> PathBuf {
    let (image, digest) = crate::image::builder_image_with_digest();
    write_fixture_lock(
        dir,
        &image,
        &digest,
        &[
            ("minibackend", true, &[]),
            ("greet", false, &["minibackend"]),
        ],
    )
}

/// Writes `<dir>/pylock.toml` for fixtures packed into `<dir>/wheelhouse/`: each entry is
/// (fixture name, build-only, names of its build requirements, all at version 1.0), locked for
/// `image` with layer `digest` (see [`fixture_lock_tool`]).
pub fn write_fixture_lock(
    dir: &Path,
    image: &str,
    digest: &str,
    fixtures: &[(&str, bool, &[&str])],
) -> PathBuf {
    let wheelhouse = dir.join("wheelhouse");
    let mut lock = ob_lock::Lock {
        tool: fixture_lock_tool(image, digest),
        ..ob_lock::Lock::default()
    };
    for &(name, build_only, build_requires) in fixtures {
        let fixture = Fixture {
            name,
            build_requires,
            build_only,
            dependencies: &[],
        };
        let packed = pack_fixture(name, &wheelhouse).expect("pack the fixture");
        lock.packages.push(fixture_package(&fixture, &packed));
    }
    lock.packages.sort_by(|a, b| a.name.cmp(&b.name));
    lock.tool.build_order = lock
        .canonical_build_order()
        .expect("fixtures form no cycle");
    let lock_path = dir.join("pylock.toml");
    lock.write(&lock_path).expect("write the fixture lock");
    lock_path
}

/// A copy of `fixtures/build/<name>` in `into`, for a test that changes it.
pub fn copy_fixture(name: &str, into: &Path) -> std::io::Result<PathBuf> {
    let target = into.join(name);
    copy_tree(&fixture_dir(name), &target)?;
    Ok(target)
}

/// Copies the tree `from` to `to`, directories and regular files.
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs_err::create_dir_all(to)?;
    for entry in fs_err::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            fs_err::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_twice_gives_the_same_bytes() {
        let first = tempfile_dir("first");
        let second = tempfile_dir("second");
        let a = pack_fixture("greet", &first).unwrap();
        let b = pack_fixture("greet", &second).unwrap();
        assert_eq!(a.sha256, b.sha256);
        assert_eq!(a.filename, "greet-1.0.tar.gz");
        assert!(a.size > 0);
        let _ = fs_err::remove_dir_all(first);
        let _ = fs_err::remove_dir_all(second);
    }

    fn tempfile_dir(tag: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("ob-testkit-sdist-{tag}-{}", std::process::id()));
        let _ = fs_err::remove_dir_all(&dir);
        dir
    }
}
