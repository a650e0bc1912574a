//! What an sdist ships as native sources, read as data from its member names: C, C++, Cython,
//! Fortran and Rust files outside test, documentation and example directories. A wheel built
//! from such an sdist that holds no extension module was built without its native part (a
//! missing header made setup.py fall back to pure Python): reported as degraded. Sources the
//! wheel itself carries as files are its data, not its native part (scikit-build-core ships
//! project templates with `_core.c` in them).

use std::path::Path;

/// Native source files of the sdist at `path` (`.tar.gz` or `.zip`, by `filename`), at most a
/// few, as member paths, leaving out those the wheel at `wheel` holds as files. Empty when it
/// ships none or cannot be read (the build read it already).
pub fn native_sources(path: &Path, filename: &str, wheel: &Path) -> Vec<String> {
    let names: Vec<String> = if filename.ends_with(".zip") {
        fs_err::File::open(path)
            .ok()
            .and_then(|file| zip::ZipArchive::new(file).ok())
            .map(|archive| archive.file_names().map(str::to_owned).collect())
            .unwrap_or_default()
    } else {
        let Ok(mut archive) = crate::tarball::open_tar_gz(path, 4 << 30) else {
            return Vec::new();
        };
        let Ok(entries) = archive.entries() else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|entry| {
                entry
                    .path()
                    .ok()
                    .map(|path| path.to_string_lossy().into_owned())
            })
            .collect()
    };
    let shipped = wheel_entries(wheel);
    names
        .into_iter()
        .filter(|name| is_native_source(name) && !is_shipped(name, &shipped))
        .take(5)
        .collect()
}

/// The file names inside the (validated) wheel at `path`; empty when it cannot be read.
fn wheel_entries(path: &Path) -> Vec<String> {
    fs_err::File::open(path)
        .ok()
        .and_then(|file| zip::ZipArchive::new(file).ok())
        .map(|archive| archive.file_names().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Whether the sdist member `name` (`project-1.0/src/pkg/x.c`) is a file of the wheel
/// (`pkg/x.c`): shipped as data.
fn is_shipped(name: &str, shipped: &[String]) -> bool {
    shipped.iter().any(|entry| {
        name.strip_suffix(entry.as_str())
            .is_some_and(|head| head.ends_with('/'))
    })
}

fn is_native_source(name: &str) -> bool {
    const EXTENSIONS: &[&str] = &[".c", ".cc", ".cpp", ".cxx", ".pyx", ".f", ".f90", ".rs"];
    const ASIDE: &[&str] = &[
        "test",
        "tests",
        "testing",
        "doc",
        "docs",
        "example",
        "examples",
        "benchmarks",
        "bench",
        // meson's own suites (meson's sdist, and the copy numpy vendors).
        "test cases",
        "manual tests",
    ];
    let lower = name.trim_start_matches("./").to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    // Beside pyproject.toml, a C file is no module's (setuptools' Windows `launcher.c`).
    parts.len() > 2
        && EXTENSIONS
            .iter()
            .any(|extension| lower.ends_with(extension))
        && !parts.iter().any(|part| ASIDE.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_sources_outside_tests_and_docs_count() {
        assert!(is_native_source("PyYAML-6.0.3/yaml/_yaml.pyx"));
        assert!(is_native_source(
            "markupsafe-3.0/src/markupsafe/_speedups.c"
        ));
        assert!(is_native_source("cryptography-46/src/rust/src/lib.rs"));
        assert!(!is_native_source("greet-1.0/tests/fixture.c"));
        assert!(!is_native_source("x-1.0/docs/example.cpp"));
        assert!(!is_native_source("x-1.0/x/__init__.py"));
        assert!(!is_native_source("setuptools-84.2.1/launcher.c"));
        // Regression: meson 1.12.1 was reported degraded for its test suites' C files.
        assert!(!is_native_source("meson-1.12.1/manual tests/1 wrap/main.c"));
        assert!(!is_native_source(
            "meson-1.12.1/test cases/common/1 trivial/trivial.c"
        ));
    }

    /// Regression: scikit-build-core's wheel was reported degraded for the `_core.c` of the
    /// project templates it ships as package data.
    #[test]
    fn sources_the_wheel_ships_as_files_are_data() {
        let shipped = vec![
            "scikit_build_core/resources/templates/c/src/${module}/_core.c".to_owned(),
            "scikit_build_core/__init__.py".to_owned(),
        ];
        assert!(is_shipped(
            "scikit_build_core-1.1.1/src/scikit_build_core/resources/templates/c/src/${module}/_core.c",
            &shipped
        ));
        assert!(!is_shipped("x-1.0/src/x/_speedups.c", &shipped));
        assert!(
            !is_shipped("x-1.0/mod.c", &["od.c".to_owned()]),
            "whole names only"
        );
    }
}
