//! What an sdist ships as native sources, read as data from its member names: C, C++, Cython,
//! Fortran and Rust files outside test, documentation and example directories. A wheel built
//! from such an sdist that holds no extension module was built without its native part (a
//! missing header made setup.py fall back to pure Python): reported as degraded.

use std::path::Path;

/// Native source files of the sdist at `path` (`.tar.gz` or `.zip`, by `filename`), at most a
/// few, as member paths. Empty when it ships none or cannot be read (the build read it already).
pub fn native_sources(path: &Path, filename: &str) -> Vec<String> {
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
    names
        .into_iter()
        .filter(|name| is_native_source(name))
        .take(5)
        .collect()
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
    }
}
