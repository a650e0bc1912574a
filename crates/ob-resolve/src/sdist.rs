//! What resolve reads from an sdist on the host, as data (nothing of it runs): its `PKG-INFO`
//! (the metadata pip's resolver is told until a build says otherwise) and its pyproject.toml's
//! `[build-system]` (the static build requirements). Archives are hostile: only the two files
//! at the top level are read, each up to a bound, a decompression bomb stops at a budget, and an
//! archive with an oversized long-name or PAX header is refused before it is read
//! (`ob_build::tarball`).

use std::io::Read;
use std::path::Path;

use ob_build::metadata::CoreMetadata;

/// PEP 517/518: what a project without `[build-system].requires` is built with.
pub const DEFAULT_REQUIRES: &[&str] = &["setuptools>=40.8.0"];
/// Most of either file that is read.
const MAX_FILE_BYTES: u64 = 4 << 20;
/// Most bytes decompressed while looking for them: far above any real sdist's size before its
/// PKG-INFO, and a bound on what a bomb can cost.
const MAX_SCANNED_BYTES: u64 = 4 << 30;

/// Most Cargo.lock files read from one sdist.
const MAX_CARGO_LOCKS: usize = 32;
/// Most bytes of one Cargo.lock (the parser refuses more).
const MAX_CARGO_LOCK_BYTES: u64 = 16 << 20;
/// Directories whose Cargo.lock files belong to tests, examples or documentation, not to the
/// build: their crates are not pinned.
const ASIDE: &[&str] = &[
    "test",
    "tests",
    "testing",
    "test-crates",
    // meson's own test suite, which numpy and others vendor: Cargo.lock files there pin
    // crates that exist on no registry (`bar 0.1`).
    "test cases",
    "doc",
    "docs",
    "example",
    "examples",
    "bench",
    "benches",
    "benchmarks",
    "fuzz",
];

/// What an sdist says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SdistFacts {
    /// Its `PKG-INFO`, if it has one.
    pub pkg_info: Option<CoreMetadata>,
    /// `[build-system].requires`, or [`DEFAULT_REQUIRES`] when absent.
    pub build_requires: Vec<String>,
    /// Every registry crate its Cargo.lock files pin (outside test and example directories),
    /// deduplicated and sorted.
    pub crates: Vec<ob_cargo::lockfile::LockedCrate>,
}

/// The Rust parts found in an sdist's member list, before its Cargo.lock files are parsed.
#[derive(Debug, Default)]
struct RustParts {
    /// `(member path, text)` of each Cargo.lock that counts.
    cargo_locks: Vec<(String, Vec<u8>)>,
    /// A `Cargo.toml` that counts (outside test and example directories).
    cargo_toml: Option<String>,
}

/// Reads the facts of the sdist at `path` (`.tar.gz` or `.zip`, by `filename`).
pub fn read(path: &Path, filename: &str) -> Result<SdistFacts, String> {
    let ((pkg_info, pyproject), rust) = if filename.ends_with(".zip") {
        read_zip(path)?
    } else {
        read_tar(path)?
    };
    let build_requires = match pyproject {
        None => default_requires(),
        Some(text) => {
            let document: toml::Table = String::from_utf8_lossy(&text)
                .parse()
                .map_err(|err| format!("pyproject.toml is not TOML: {err}"))?;
            match document
                .get("build-system")
                .and_then(|system| system.get("requires"))
            {
                None => default_requires(),
                Some(toml::Value::Array(items)) => items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(text) => Ok(text.clone()),
                        other => Err(format!(
                            "[build-system].requires holds {}, not a string",
                            other.type_str()
                        )),
                    })
                    .collect::<Result<Vec<_>, _>>()?,
                Some(other) => {
                    return Err(format!(
                        "[build-system].requires is {}, not a list of strings",
                        other.type_str()
                    ));
                }
            }
        }
    };
    if let Some((text, why)) = crate::requirement::first_refused(&build_requires) {
        return Err(format!(
            "its [build-system].requires holds `{}`, which {why}",
            crate::requirement::shown(text)
        ));
    }
    let uses_rust = build_requires.iter().any(|requirement| {
        let name = crate::input::requirement_name(requirement);
        name == "maturin" || name == "setuptools-rust"
    });
    let crates = pinned_crates(rust, uses_rust)?;
    Ok(SdistFacts {
        pkg_info: pkg_info.map(|text| CoreMetadata::parse(&String::from_utf8_lossy(&text))),
        build_requires,
        crates,
    })
}

/// The crates of every Cargo.lock that counts. An sdist that builds Rust (a Rust backend, or a
/// Cargo.toml) but ships no Cargo.lock is refused: its crates could not be pinned, and cargo
/// would want the network to choose them.
fn pinned_crates(
    rust: RustParts,
    uses_rust: bool,
) -> Result<Vec<ob_cargo::lockfile::LockedCrate>, String> {
    if rust.cargo_locks.is_empty() {
        if let Some(manifest) = rust.cargo_toml {
            return Err(format!(
                "it builds Rust (`{manifest}`) but ships no Cargo.lock, so its crates cannot be pinned"
            ));
        }
        if uses_rust {
            return Err(
                "its build backend compiles Rust, but it ships no Cargo.lock, so its crates cannot be pinned"
                    .to_owned(),
            );
        }
        return Ok(Vec::new());
    }
    let mut crates = Vec::new();
    for (member, text) in rust.cargo_locks {
        let text = String::from_utf8(text).map_err(|_| format!("`{member}` is not UTF-8"))?;
        let parsed = ob_cargo::lockfile::parse_cargo_lock(&text)
            .map_err(|err| format!("`{member}`: {err}"))?;
        crates.extend(parsed);
    }
    crates.sort_by(|a, b| (&a.name, &a.version, &a.source).cmp(&(&b.name, &b.version, &b.source)));
    crates.dedup();
    for pair in crates.windows(2) {
        if pair[0].name == pair[1].name && pair[0].version == pair[1].version {
            return Err(format!(
                "its Cargo.lock files pin the crate `{}` {} twice, from `{}` and from `{}`",
                pair[0].name, pair[0].version, pair[0].source, pair[1].source
            ));
        }
    }
    Ok(crates)
}

/// Whether `path` (a member path) is a Cargo.lock or Cargo.toml that counts: outside test,
/// example and documentation directories, and not cargo's own vendored copies.
fn rust_file(path: &str) -> Option<&'static str> {
    let path = path.trim_start_matches("./");
    let (directories, file) = path.rsplit_once('/')?;
    let kind = match file {
        "Cargo.lock" => "Cargo.lock",
        "Cargo.toml" => "Cargo.toml",
        _ => return None,
    };
    // The first component is the sdist's top directory.
    let aside = directories
        .split('/')
        .skip(1)
        .any(|part| ASIDE.contains(&part.to_ascii_lowercase().as_str()) || part == "vendor");
    (!aside).then_some(kind)
}

impl RustParts {
    /// Notes the member `name`; returns whether its contents are wanted (a Cargo.lock).
    fn wants(&mut self, name: &str) -> bool {
        match rust_file(name) {
            Some("Cargo.lock") => self.cargo_locks.len() < MAX_CARGO_LOCKS,
            Some(_) => {
                self.cargo_toml.get_or_insert_with(|| name.to_owned());
                false
            }
            None => false,
        }
    }
}

fn default_requires() -> Vec<String> {
    DEFAULT_REQUIRES.iter().map(|r| (*r).to_owned()).collect()
}

/// `top/PKG-INFO` or `top/pyproject.toml`: which one a member path names, if either.
fn wanted(path: &str) -> Option<usize> {
    let path = path.trim_start_matches("./");
    let (top, file) = path.split_once('/')?;
    if top.is_empty() || file.contains('/') {
        return None;
    }
    match file {
        "PKG-INFO" => Some(0),
        "pyproject.toml" => Some(1),
        _ => None,
    }
}

type Found = (Option<Vec<u8>>, Option<Vec<u8>>);

fn read_tar(path: &Path) -> Result<(Found, RustParts), String> {
    let mut archive = ob_build::tarball::open_tar_gz(path, MAX_SCANNED_BYTES)?;
    let mut found: [Option<Vec<u8>>; 2] = [None, None];
    let mut rust = RustParts::default();
    let entries = archive
        .entries()
        .map_err(|err| format!("not a tar.gz: {err}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|err| format!("not a readable tar.gz: {err}"))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|err| err.to_string())?
            .to_string_lossy()
            .into_owned();
        if rust.wants(&name) {
            let bytes = read_bounded(&mut entry, MAX_CARGO_LOCK_BYTES, &name)?;
            rust.cargo_locks.push((name, bytes));
            continue;
        }
        let Some(slot) = wanted(&name) else { continue };
        // The first one counts, as when an archive is extracted member by member.
        if found[slot].is_none() {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_FILE_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|err| format!("{name}: {err}"))?;
            found[slot] = Some(bytes);
        }
    }
    let [pkg_info, pyproject] = found;
    Ok(((pkg_info, pyproject), rust))
}

/// The member's bytes, refused above `limit`.
fn read_bounded(member: &mut impl Read, limit: u64, name: &str) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    member
        .take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("{name}: {err}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("`{name}` is larger than {limit} bytes"));
    }
    Ok(bytes)
}

fn read_zip(path: &Path) -> Result<(Found, RustParts), String> {
    let file = fs_err::File::open(path).map_err(|err| err.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|err| format!("not a zip: {err}"))?;
    let mut found: [Option<Vec<u8>>; 2] = [None, None];
    let mut rust = RustParts::default();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(|err| err.to_string())?;
        let name = entry.name().to_owned();
        if entry.is_file() && rust.wants(&name) {
            let bytes = read_bounded(&mut entry, MAX_CARGO_LOCK_BYTES, &name)?;
            rust.cargo_locks.push((name, bytes));
            continue;
        }
        let Some(slot) = wanted(entry.name()) else {
            continue;
        };
        if found[slot].is_none() && entry.is_file() {
            let mut bytes = Vec::new();
            (&mut entry)
                .take(MAX_FILE_BYTES)
                .read_to_end(&mut bytes)
                .map_err(|err| err.to_string())?;
            found[slot] = Some(bytes);
        }
    }
    let [pkg_info, pyproject] = found;
    Ok(((pkg_info, pyproject), rust))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tar_gz(dir: &Path, members: &[(&str, &str)]) -> std::path::PathBuf {
        let path = dir.join("demo-1.0.tar.gz");
        let encoder = flate2::write::GzEncoder::new(
            fs_err::File::create(&path).unwrap(),
            flate2::Compression::fast(),
        );
        let mut builder = tar::Builder::new(encoder);
        for (name, text) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(text.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, name, text.as_bytes())
                .unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap();
        path
    }

    /// numpy 2.5.4's sdist vendors meson, whose `test cases/rust/*` hold Cargo.lock files for
    /// crates no registry has: resolve failed on a 404 for the crate `bar` 0.1.
    #[test]
    fn cargo_files_of_vendored_test_suites_do_not_count() {
        for aside in [
            "numpy-2.5.4/vendored-meson/meson/test cases/rust/25 cargo lock/Cargo.lock",
            "numpy-2.5.4/vendored-meson/meson/test cases/rust/34 rust.workspace workspace/Cargo.toml",
            "demo-1.0/tests/crate/Cargo.lock",
            "demo-1.0/vendor/x/Cargo.toml",
        ] {
            assert_eq!(rust_file(aside), None, "{aside}");
        }
        assert_eq!(rust_file("demo-1.0/rust/Cargo.lock"), Some("Cargo.lock"));
        assert_eq!(rust_file("demo-1.0/Cargo.toml"), Some("Cargo.toml"));
    }

    #[test]
    fn top_level_files_only_and_the_default_backend() {
        let dir = tempfile::tempdir().unwrap();
        let path = tar_gz(
            dir.path(),
            &[
                ("demo-1.0/sub/PKG-INFO", "Name: decoy\n"),
                (
                    "demo-1.0/PKG-INFO",
                    "Metadata-Version: 2.2\nName: demo\nVersion: 1.0\nRequires-Dist: idna\n",
                ),
                ("demo-1.0/PKG-INFO", "Name: second\n"),
            ],
        );
        let facts = read(&path, "demo-1.0.tar.gz").unwrap();
        assert_eq!(facts.pkg_info.unwrap().name, "demo");
        assert_eq!(facts.build_requires, DEFAULT_REQUIRES);
    }

    #[test]
    fn build_system_requires_are_read_and_bad_ones_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = tar_gz(
            dir.path(),
            &[(
                "demo-1.0/pyproject.toml",
                "[build-system]\nrequires = [\"flit_core>=3.2,<4\"]\n",
            )],
        );
        assert_eq!(
            read(&path, "demo-1.0.tar.gz").unwrap().build_requires,
            ["flit_core>=3.2,<4"]
        );
        let path = tar_gz(
            dir.path(),
            &[(
                "demo-1.0/pyproject.toml",
                "[build-system]\nrequires = [1]\n",
            )],
        );
        assert!(
            read(&path, "demo-1.0.tar.gz")
                .unwrap_err()
                .contains("not a string")
        );
        let path = tar_gz(
            dir.path(),
            &[("demo-1.0/pyproject.toml", "[project]\nname = 'demo'\n")],
        );
        assert_eq!(
            read(&path, "demo-1.0.tar.gz").unwrap().build_requires,
            DEFAULT_REQUIRES
        );
    }
}
