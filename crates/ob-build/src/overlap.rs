//! Two wheels of the runtime set that install the same file: pip installs them into one
//! environment, one after the other, and the later one silently overwrites the earlier one's
//! file, so a package could replace another's module (`requests/__init__.py`) without any
//! wheel lying about itself. Wheels of one set are compared after the build, from their
//! RECORDs (each already checked against its archive): a path two wheels install with
//! different contents fails both packages, naming the path and the other package. The same
//! bytes under one path (an empty `tests/__init__.py`, a namespace package's shared
//! `__init__.py`) are no overwrite and pass.
//!
//! Build environments are not compared: a build requirement's code runs in the builds that
//! need it anyway.

use std::collections::BTreeMap;
use std::io::Read as _;
use std::path::Path;

use crate::install_policy::{Place, place};
use crate::wheel::{MAX_RECORD_BYTES, WheelName, parse_record};

/// One wheel of the set: its package's name and the wheel's path.
pub struct SetWheel<'a> {
    /// The package's normalized name.
    pub name: &'a str,
    /// The wheel.
    pub path: &'a Path,
}

/// A path two packages install with different contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// Where it is installed, relative to the environment (`site-packages/…`, `bin/…`, `data/…`,
    /// `headers/…`).
    pub path: String,
    /// The two packages, in name order.
    pub packages: [String; 2],
}

/// The paths that two wheels of `set` install with different contents, each once, in path
/// order. A wheel that cannot be read again is an error naming it.
pub fn overlaps(set: &[SetWheel<'_>]) -> Result<Vec<Overlap>, String> {
    let mut installed: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for wheel in set {
        for (path, hash) in installed_files(wheel.path)? {
            installed
                .entry(path)
                .or_default()
                .push((wheel.name.to_owned(), hash));
        }
    }
    let mut found = Vec::new();
    for (path, owners) in installed {
        let Some((first, first_hash)) = owners.first() else {
            continue;
        };
        if let Some((other, _)) = owners.iter().find(|(_, hash)| hash != first_hash) {
            let mut packages = [first.clone(), other.clone()];
            packages.sort();
            found.push(Overlap { path, packages });
        }
    }
    Ok(found)
}

/// Every file the wheel at `path` installs, where it lands and its RECORD hash.
fn installed_files(path: &Path) -> Result<Vec<(String, String)>, String> {
    let shown = path.display();
    let file_name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let parsed =
        WheelName::parse(&file_name).ok_or_else(|| format!("`{shown}` is not a wheel's name"))?;
    let dist_info = format!("{}-{}.dist-info", parsed.distribution, parsed.version);
    let data = format!("{}-{}.data", parsed.distribution, parsed.version);
    let file = fs_err::File::open(path).map_err(|err| err.to_string())?;
    let mut archive = zip::ZipArchive::new(file).map_err(|err| format!("`{shown}`: {err}"))?;
    let mut record = String::new();
    archive
        .by_name(&format!("{dist_info}/RECORD"))
        .map_err(|err| format!("`{shown}`: {err}"))?
        .take(MAX_RECORD_BYTES)
        .read_to_string(&mut record)
        .map_err(|err| format!("`{shown}`: {err}"))?;
    let rows = parse_record(&record).map_err(|err| format!("`{shown}`: {err}"))?;
    let mut files = Vec::new();
    for [entry, hash, _size] in rows {
        if entry.starts_with(&format!("{dist_info}/")) {
            continue;
        }
        let installed = match place(&entry, &data) {
            Place::Site(path) => format!("site-packages/{path}"),
            Place::Scripts(path) => format!("bin/{path}"),
            Place::Headers(path) => format!("headers/{path}"),
            Place::Data(path) => format!("data/{path}"),
            Place::Unknown(_) => continue,
        };
        files.push((installed, hash));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    fn wheel(dir: &Path, name: &str, files: &[(&str, &[u8])]) -> std::path::PathBuf {
        use base64::Engine as _;
        use sha2::Digest as _;
        let path = dir.join(format!("{name}-1.0-py3-none-any.whl"));
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        let mut record = Vec::new();
        for (entry, data) in files {
            writer.start_file(*entry, options).unwrap();
            writer.write_all(data).unwrap();
            let digest =
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data));
            record.push(format!("{entry},sha256={digest},{}", data.len()));
        }
        record.push(format!("{name}-1.0.dist-info/RECORD,,"));
        writer
            .start_file(format!("{name}-1.0.dist-info/RECORD"), options)
            .unwrap();
        writer.write_all(record.join("\n").as_bytes()).unwrap();
        writer.finish().unwrap();
        path
    }

    #[test]
    fn a_file_two_wheels_install_differently_is_found_and_the_same_bytes_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let requests = wheel(
            dir.path(),
            "requests",
            &[
                ("requests/__init__.py", b"real\n"),
                ("tests/__init__.py", b""),
            ],
        );
        let evil = wheel(
            dir.path(),
            "evil",
            &[
                ("evil/__init__.py", b""),
                ("evil-1.0.data/purelib/requests/__init__.py", b"hijacked\n"),
                ("tests/__init__.py", b""),
            ],
        );
        let set = [
            SetWheel {
                name: "requests",
                path: &requests,
            },
            SetWheel {
                name: "evil",
                path: &evil,
            },
        ];
        assert_eq!(
            overlaps(&set).unwrap(),
            vec![Overlap {
                path: "site-packages/requests/__init__.py".into(),
                packages: ["evil".into(), "requests".into()],
            }]
        );
        assert_eq!(overlaps(&set[..1]).unwrap(), vec![]);
    }
}
