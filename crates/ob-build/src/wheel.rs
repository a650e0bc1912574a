//! Checking a wheel before it joins the output directory: its file name against the lock, the
//! zip's integrity, that RECORD lists every file with the right sha256, and that no entry can
//! escape the directory it is installed into. Also lists a wheel's top-level modules.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::Path;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::install_policy::{self, InstallPolicy};
use crate::metadata::CoreMetadata;

/// The parts of a wheel file name (PEP 427).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelName {
    /// The distribution part, as written (`_` for separators).
    pub distribution: String,
    /// The version part.
    pub version: String,
    /// `python-abi-platform`.
    pub tag: String,
}

impl WheelName {
    /// Parses `{distribution}-{version}(-{build})?-{python}-{abi}-{platform}.whl`.
    pub fn parse(filename: &str) -> Option<WheelName> {
        let stem = filename.strip_suffix(".whl")?;
        let parts: Vec<&str> = stem.split('-').collect();
        if !(parts.len() == 5 || parts.len() == 6) || parts.iter().any(|part| part.is_empty()) {
            return None;
        }
        let count = parts.len();
        Some(WheelName {
            distribution: parts[0].to_owned(),
            version: parts[1].to_owned(),
            tag: parts[count - 3..].join("-"),
        })
    }

    /// Whether this wheel is `name` at `version` (names normalized, versions compared as
    /// wheel file names spell them).
    pub fn is(&self, name: &str, version: &str) -> bool {
        ob_lock::normalize_name(&self.distribution) == ob_lock::normalize_name(name)
            && same_version(&self.version, version)
    }
}

/// Versions as they appear in file names: case-insensitive, `_` for `-`.
fn same_version(a: &str, b: &str) -> bool {
    let canonical = |v: &str| v.to_ascii_lowercase().replace('_', "-");
    canonical(a) == canonical(b)
}

/// What a sound wheel holds, for the report, the install check and resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedWheel {
    /// Lowercase hex sha256 of the whole file.
    pub sha256: String,
    /// Importable top-level modules and packages.
    pub top_level: Vec<String>,
    /// Its compiled extension modules (`.so`, `.pyd`), as entry paths.
    pub extension_modules: Vec<String>,
    /// Its `.dist-info/METADATA`.
    pub metadata: CoreMetadata,
}

/// Most of a METADATA file that is kept (the headers come first; a long description after them
/// is not needed).
const MAX_METADATA_BYTES: u64 = 1 << 20;

/// Most a RECORD may hold: a row for each of a million files fits, and it is all held in memory.
pub(crate) const MAX_RECORD_BYTES: u64 = 64 << 20;

/// Why a wheel was refused. Each message names the entry at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WheelProblem {
    /// The file name is not a wheel name, or names another package or version.
    #[error("the file name does not name {expected}")]
    WrongName {
        /// `name version` from the lock.
        expected: String,
    },
    /// The zip cannot be read, or an entry fails its CRC.
    #[error("the zip is damaged: {detail}")]
    Damaged {
        /// What the zip reader said.
        detail: String,
    },
    /// An entry's path is absolute, has `..`, a backslash, or is a symlink.
    #[error("the entry `{entry}` could escape the install directory ({why})")]
    Escapes {
        /// The entry.
        entry: String,
        /// Which rule it breaks.
        why: &'static str,
    },
    /// Not laid out as one plain zip archive (see `zip_layout`): readers could disagree on it.
    #[error("it is not one plain zip archive, which every reader reads alike: {detail}")]
    NotOneArchive {
        /// What is wrong with its layout.
        detail: String,
    },
    /// An entry the install policy refuses (`install_policy`).
    #[error("the entry `{entry}` may not be installed: {why}")]
    NotAllowed {
        /// The entry.
        entry: String,
        /// Why, and what the user can do.
        why: String,
    },
    /// An entry appears twice.
    #[error("the entry `{entry}` appears twice")]
    Duplicate {
        /// The entry.
        entry: String,
    },
    /// No `{name}-{version}.dist-info/RECORD`, or it cannot be parsed.
    #[error("RECORD is missing or unreadable: {detail}")]
    BadRecord {
        /// What is wrong.
        detail: String,
    },
    /// A file is not listed in RECORD.
    #[error("the entry `{entry}` is not listed in RECORD")]
    Unlisted {
        /// The entry.
        entry: String,
    },
    /// RECORD lists a file the zip does not hold.
    #[error("RECORD lists `{entry}`, which the wheel does not hold")]
    Phantom {
        /// The entry.
        entry: String,
    },
    /// No METADATA, or one naming another package or version.
    #[error("METADATA is missing or names another package: {detail}")]
    BadMetadata {
        /// What is wrong.
        detail: String,
    },
    /// A file's sha256 or size differs from RECORD.
    #[error("the entry `{entry}` does not match RECORD ({detail})")]
    Mismatch {
        /// The entry.
        entry: String,
        /// Which value differs.
        detail: String,
    },
}

/// Most a wheel file may be. The largest wheels on the index are about 2 GiB.
pub const MAX_WHEEL_BYTES: u64 = 8 << 30;

/// Most a wheel may unpack to. Far above any real wheel (the largest on the index are a few
/// GiB unpacked); it bounds the time a decompression bomb can cost.
pub const MAX_UNPACKED_BYTES: u64 = 16 << 30;

/// Checks the wheel at `path` for package `name` at `version` under the default install
/// policy (see [`check_wheel_with`]).
pub fn check_wheel(path: &Path, name: &str, version: &str) -> Result<CheckedWheel, WheelProblem> {
    check_wheel_with(path, name, version, &InstallPolicy::default())
}

/// Checks the wheel at `path` for package `name` at `version`: one sound archive, RECORD true,
/// METADATA naming it, and nothing installed that `policy` refuses. Reads the file once for its
/// sha256 and once through the zip reader.
pub fn check_wheel_with(
    path: &Path,
    name: &str,
    version: &str,
    policy: &InstallPolicy,
) -> Result<CheckedWheel, WheelProblem> {
    let filename = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    check_wheel_named(path, &filename, name, version, policy)
}

/// [`check_wheel_with`] for a wheel kept under another name (a content-addressed store keeps
/// files by their sha256): `filename` is the wheel's own name, which must be `name`'s at
/// `version`.
pub fn check_wheel_named(
    path: &Path,
    filename: &str,
    name: &str,
    version: &str,
    policy: &InstallPolicy,
) -> Result<CheckedWheel, WheelProblem> {
    let filename = filename.to_owned();
    let wrong_name = || WheelProblem::WrongName {
        expected: format!("{name} {version}"),
    };
    let parsed = WheelName::parse(&filename).ok_or_else(wrong_name)?;
    if !parsed.is(name, version) {
        return Err(wrong_name());
    }
    let damaged = |detail: String| WheelProblem::Damaged { detail };
    // One handle for both reads, streamed: a wheel may be far larger than memory allows.
    let mut file = fs_err::File::open(path).map_err(|err| damaged(err.to_string()))?;
    // Refused by its size before a byte is read or copied: a sparse "wheel" of many GiB costs
    // no disk until someone copies it.
    let declared = file
        .metadata()
        .map_err(|err| damaged(err.to_string()))?
        .len();
    if declared > MAX_WHEEL_BYTES {
        return Err(damaged(format!(
            "it is {declared} bytes, more than the {} GiB a wheel may be",
            MAX_WHEEL_BYTES >> 30
        )));
    }
    let mut whole = Sha256::new();
    let len = std::io::copy(&mut file, &mut whole).map_err(|err| damaged(err.to_string()))?;
    let sha256 = hex::encode(whole.finalize());
    // One archive, laid out so that the zip crate and pip's zipfile read the same entries.
    let placed = crate::zip_layout::check_layout(&mut file, len)
        .map_err(|detail| WheelProblem::NotOneArchive { detail })?;
    std::io::Seek::rewind(&mut file).map_err(|err| damaged(err.to_string()))?;
    let mut archive = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|err| damaged(err.to_string()))?;

    let dist_info = format!("{}-{}.dist-info", parsed.distribution, parsed.version);
    let metadata_name = format!("{dist_info}/METADATA");
    let record_name = format!("{dist_info}/RECORD");
    let entry_points_name = format!("{dist_info}/entry_points.txt");
    let mut metadata_text: Option<String> = None;
    let mut record_text: Option<String> = None;
    let mut entry_points_text: Option<String> = None;

    // Every file's digest and size, read through the CRC-checking reader.
    let mut files: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut unpacked = 0u64;
    let archive_len = archive.len();
    if archive_len != placed.len() {
        return Err(WheelProblem::NotOneArchive {
            detail: format!(
                "the zip reader finds {archive_len} entries where the layout has {}",
                placed.len()
            ),
        });
    }
    for index in 0..archive_len {
        let mut entry = archive
            .by_index(index)
            .map_err(|err| damaged(err.to_string()))?;
        let entry_name = entry.name().to_owned();
        // The zip crate must read the very entries the layout found, at the same places: no
        // fallback to another directory, no name taken from an extra field.
        let agrees = placed.get(index).is_some_and(|place| {
            place.name == entry.name_raw() && place.offset == entry.header_start()
        });
        if !agrees {
            return Err(WheelProblem::NotOneArchive {
                detail: format!(
                    "the zip reader finds `{entry_name}` where the layout has another entry"
                ),
            });
        }
        check_entry_path(&entry_name)?;
        if entry.is_symlink() {
            return Err(WheelProblem::Escapes {
                entry: entry_name,
                why: "a symlink",
            });
        }
        if entry.is_dir() {
            continue;
        }
        // Hash while streaming: the size the zip declares is the wheel's claim, not a fact, so
        // nothing is allocated by it, and a decompression bomb stops at the budget.
        let mut hasher = Sha256::new();
        let budget = MAX_UNPACKED_BYTES.saturating_sub(unpacked);
        let mut limited = (&mut entry).take(budget + 1);
        let kept = if entry_name == metadata_name || entry_name == entry_points_name {
            Some(MAX_METADATA_BYTES)
        } else if entry_name == record_name {
            Some(MAX_RECORD_BYTES + 1)
        } else {
            None
        };
        let size = if let Some(cap) = kept {
            // Kept (its head) while hashed, so it is read once like every other entry.
            let mut head = Vec::new();
            let mut size = (&mut limited)
                .take(cap)
                .read_to_end(&mut head)
                .map_err(|err| damaged(format!("`{entry_name}`: {err}")))?
                as u64;
            hasher.update(&head);
            size += std::io::copy(&mut limited, &mut hasher)
                .map_err(|err| damaged(format!("`{entry_name}`: {err}")))?;
            let text = String::from_utf8_lossy(&head).into_owned();
            if entry_name == metadata_name {
                metadata_text = Some(text);
            } else if entry_name == entry_points_name {
                entry_points_text = Some(text);
            } else {
                record_text = Some(text);
            }
            size
        } else {
            std::io::copy(&mut limited, &mut hasher)
                .map_err(|err| damaged(format!("`{entry_name}`: {err}")))?
        };
        if size > budget {
            return Err(damaged(format!(
                "it unpacks to more than {} GiB (at `{entry_name}`)",
                MAX_UNPACKED_BYTES >> 30
            )));
        }
        if size != entry.size() {
            return Err(damaged(format!(
                "`{entry_name}` declares {} bytes but holds {size}",
                entry.size()
            )));
        }
        if entry_name == record_name && size > MAX_RECORD_BYTES {
            return Err(WheelProblem::BadRecord {
                detail: format!("it is larger than {} MiB", MAX_RECORD_BYTES >> 20),
            });
        }
        unpacked += size;
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hasher.finalize());
        if files.insert(entry_name.clone(), (digest, size)).is_some() {
            return Err(WheelProblem::Duplicate { entry: entry_name });
        }
    }

    let record = record_text.ok_or_else(|| WheelProblem::BadRecord {
        detail: format!("no `{record_name}`"),
    })?;
    let mut listed = BTreeSet::new();
    for row in parse_record(&record)? {
        let [entry, hash, size] = row;
        if !listed.insert(entry.clone()) {
            return Err(WheelProblem::Duplicate { entry });
        }
        let Some((digest, actual_size)) = files.get(&entry) else {
            return Err(WheelProblem::Phantom { entry });
        };
        if entry == record_name || is_signature(&entry, &dist_info) {
            continue;
        }
        let Some(expected) = hash.strip_prefix("sha256=") else {
            return Err(WheelProblem::Mismatch {
                entry,
                detail: format!("hash `{hash}` is not a sha256"),
            });
        };
        if expected != digest {
            return Err(WheelProblem::Mismatch {
                entry,
                detail: format!("sha256 {digest}, RECORD says {expected}"),
            });
        }
        if !size.is_empty() && size != actual_size.to_string() {
            return Err(WheelProblem::Mismatch {
                entry,
                detail: format!("size {actual_size}, RECORD says {size}"),
            });
        }
    }
    if let Some(entry) = files.keys().find(|entry| !listed.contains(*entry)) {
        return Err(WheelProblem::Unlisted {
            entry: entry.clone(),
        });
    }
    let metadata =
        CoreMetadata::parse(&metadata_text.ok_or_else(|| WheelProblem::BadMetadata {
            detail: format!("no `{metadata_name}`"),
        })?);
    if ob_lock::normalize_name(&metadata.name) != ob_lock::normalize_name(name)
        || !same_version(&metadata.version, version)
    {
        return Err(WheelProblem::BadMetadata {
            detail: format!(
                "it says `{}` {}, the wheel is `{name}` {version}",
                metadata.name, metadata.version
            ),
        });
    }
    let data = format!("{}-{}.data", parsed.distribution, parsed.version);
    install_policy::check(
        &ob_lock::normalize_name(name),
        &dist_info,
        &data,
        files.keys().map(String::as_str),
        entry_points_text.as_deref(),
        policy,
    )
    .map_err(|refusal| WheelProblem::NotAllowed {
        entry: refusal.entry,
        why: refusal.why,
    })?;
    let extension_modules = files
        .keys()
        .filter(|entry| {
            let first = entry.split('/').next().unwrap_or_default();
            !first.ends_with(".dist-info")
                && !first.ends_with(".data")
                && (entry.ends_with(".so") || entry.ends_with(".pyd") || entry.contains(".so."))
        })
        .cloned()
        .collect();
    Ok(CheckedWheel {
        sha256,
        top_level: top_level_modules(files.keys().map(String::as_str)),
        extension_modules,
        metadata,
    })
}

fn is_signature(entry: &str, dist_info: &str) -> bool {
    entry == format!("{dist_info}/RECORD.jws") || entry == format!("{dist_info}/RECORD.p7s")
}

/// Rejects names that an installer could write outside its target directory.
fn check_entry_path(name: &str) -> Result<(), WheelProblem> {
    let escapes = |why| {
        Err(WheelProblem::Escapes {
            entry: name.to_owned(),
            why,
        })
    };
    if name.starts_with('/') {
        return escapes("an absolute path");
    }
    if name.contains('\\') {
        return escapes("a backslash");
    }
    if name.contains('\0') {
        return escapes("a NUL byte");
    }
    if name.split('/').any(|part| part == "..") {
        return escapes("a `..` component");
    }
    if name
        .split('/')
        .next()
        .is_some_and(|first| first.len() == 2 && first.ends_with(':'))
    {
        return escapes("a drive letter");
    }
    // One spelling per path: `a/./b` and `a//b` are installed as `a/b`, and would slip past
    // the comparison of what two wheels install (`overlap`). A directory's own trailing `/`
    // is its only empty component.
    if name
        .trim_end_matches('/')
        .split('/')
        .any(|part| part.is_empty() || part == ".")
    {
        return escapes("an empty or `.` component");
    }
    Ok(())
}

/// RECORD is CSV: `path,hash,size`, with quotes around fields that hold commas or quotes.
pub(crate) fn parse_record(text: &str) -> Result<Vec<[String; 3]>, WheelProblem> {
    let mut rows = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv_line(line).ok_or_else(|| WheelProblem::BadRecord {
            detail: format!("line {} is not valid CSV", number + 1),
        })?;
        let [path, hash, size]: [String; 3] =
            fields
                .try_into()
                .map_err(|fields: Vec<String>| WheelProblem::BadRecord {
                    detail: format!("line {} has {} fields, not 3", number + 1, fields.len()),
                })?;
        rows.push([path, hash, size]);
    }
    Ok(rows)
}

fn split_csv_line(line: &str) -> Option<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (false, '"') if field.is_empty() => quoted = true,
            (true, '"') => {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    quoted = false;
                }
            }
            (false, ',') => fields.push(std::mem::take(&mut field)),
            (_, c) => field.push(c),
        }
    }
    if quoted {
        return None;
    }
    fields.push(field);
    Some(fields)
}

/// Importable top-level names: packages (directories with Python files) and modules (`.py`,
/// extension modules), leaving out metadata and `.data` directories.
fn top_level_modules<'a>(entries: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut names = BTreeSet::new();
    for entry in entries {
        let mut parts = entry.splitn(2, '/');
        let first = parts.next().unwrap_or_default();
        let rest = parts.next();
        if first.ends_with(".dist-info") || first.ends_with(".data") {
            continue;
        }
        let candidate = match rest {
            Some(rest) if rest.ends_with(".py") || rest.ends_with(".so") => first,
            Some(_) => continue,
            None => match first.split_once('.') {
                Some((stem, extension)) if extension == "py" || extension.ends_with("so") => stem,
                _ => continue,
            },
        };
        let identifier = candidate
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && candidate
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if identifier {
            names.insert(candidate.to_owned());
        }
    }
    names.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn record_line(name: &str, data: &[u8]) -> String {
        let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data));
        format!("{name},sha256={digest},{}", data.len())
    }

    /// Writes a wheel holding `files`; RECORD is generated unless `record` is given.
    fn wheel(
        dir: &Path,
        filename: &str,
        files: &[(&str, &[u8])],
        record: Option<String>,
    ) -> std::path::PathBuf {
        let path = dir.join(filename);
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default();
        let mut lines = Vec::new();
        for (name, data) in files {
            writer.start_file(*name, options).unwrap();
            writer.write_all(data).unwrap();
            lines.push(record_line(name, data));
        }
        lines.push("greet-1.0.dist-info/RECORD,,".to_owned());
        writer
            .start_file("greet-1.0.dist-info/RECORD", options)
            .unwrap();
        writer
            .write_all(record.unwrap_or_else(|| lines.join("\n")).as_bytes())
            .unwrap();
        writer.finish().unwrap();
        path
    }

    const GOOD: &[(&str, &[u8])] = &[
        ("greet/__init__.py", b"x = 1\n"),
        (
            "greet-1.0.dist-info/METADATA",
            b"Name: greet\nVersion: 1.0\n",
        ),
    ];

    #[test]
    fn a_sound_wheel_passes_and_lists_its_modules() {
        let dir = tempfile::tempdir().unwrap();
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", GOOD, None);
        let checked = check_wheel(&path, "greet", "1.0").unwrap();
        assert_eq!(checked.top_level, vec!["greet".to_owned()]);
        assert_eq!(checked.sha256.len(), 64);
    }

    #[test]
    fn a_wheel_for_another_package_or_version_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", GOOD, None);
        assert!(matches!(
            check_wheel(&path, "greet", "2.0"),
            Err(WheelProblem::WrongName { .. })
        ));
        assert!(matches!(
            check_wheel(&path, "other", "1.0"),
            Err(WheelProblem::WrongName { .. })
        ));
    }

    #[test]
    fn a_file_missing_from_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let record = [
            record_line(
                "greet-1.0.dist-info/METADATA",
                b"Name: greet\nVersion: 1.0\n",
            ),
            "greet-1.0.dist-info/RECORD,,".to_owned(),
        ]
        .join("\n");
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", GOOD, Some(record));
        assert_eq!(
            check_wheel(&path, "greet", "1.0"),
            Err(WheelProblem::Unlisted {
                entry: "greet/__init__.py".to_owned()
            })
        );
    }

    #[test]
    fn a_wrong_hash_in_record_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let record = [
            record_line("greet/__init__.py", b"x = 2\n"),
            record_line(
                "greet-1.0.dist-info/METADATA",
                b"Name: greet\nVersion: 1.0\n",
            ),
            "greet-1.0.dist-info/RECORD,,".to_owned(),
        ]
        .join("\n");
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", GOOD, Some(record));
        assert!(
            matches!(check_wheel(&path, "greet", "1.0"), Err(WheelProblem::Mismatch { entry, .. }) if entry == "greet/__init__.py")
        );
    }

    #[test]
    fn a_sparse_wheel_of_20_gib_is_refused_by_its_size_before_it_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", GOOD, None);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(20 << 30).unwrap();
        match check_wheel(&path, "greet", "1.0") {
            Err(WheelProblem::Damaged { detail }) => {
                assert!(detail.contains("more than the 8 GiB"), "{detail}");
            }
            other => panic!("expected Damaged, got {other:?}"),
        }
    }

    #[test]
    fn a_record_past_its_cap_is_refused_not_held() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("greet-1.0-py3-none-any.whl");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        writer
            .start_file("greet-1.0.dist-info/METADATA", stored)
            .unwrap();
        writer.write_all(GOOD[1].1).unwrap();
        writer
            .start_file("greet-1.0.dist-info/RECORD", stored)
            .unwrap();
        let row = "greet/x.py,sha256=AAAA,1\n".repeat(1 << 12);
        // 700 blocks of 100 KiB: past the 64 MiB cap.
        for _ in 0..700 {
            writer.write_all(row.as_bytes()).unwrap();
        }
        writer.finish().unwrap();
        assert!(
            matches!(
                check_wheel(&path, "greet", "1.0"),
                Err(WheelProblem::BadRecord { ref detail }) if detail.contains("larger than 64 MiB")
            ),
            "{:?}",
            check_wheel(&path, "greet", "1.0")
        );
    }

    #[test]
    fn entries_that_escape_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for evil in [
            "../evil.py",
            "/etc/evil.py",
            "greet/../../evil.py",
            "greet/./__init__.py",
            "greet//__init__.py",
            "./evil.pth",
        ] {
            let files: Vec<(&str, &[u8])> = vec![(evil, b"x"), GOOD[1]];
            let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", &files, None);
            assert!(
                matches!(
                    check_wheel(&path, "greet", "1.0"),
                    Err(WheelProblem::Escapes { .. })
                ),
                "{evil} was accepted"
            );
        }
    }

    #[test]
    fn a_symlink_entry_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("greet-1.0-py3-none-any.whl");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        writer
            .add_symlink(
                "greet/link.py",
                "/etc/passwd",
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
        writer.finish().unwrap();
        assert!(matches!(
            check_wheel(&path, "greet", "1.0"),
            Err(WheelProblem::Escapes {
                why: "a symlink",
                ..
            })
        ));
    }

    #[test]
    fn a_truncated_zip_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", GOOD, None);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        assert!(matches!(
            check_wheel(&path, "greet", "1.0"),
            Err(WheelProblem::NotOneArchive { .. })
        ));
    }

    /// The ways a file can be two archives to two readers (issue 12's review): each is refused
    /// by the layout check, before the zip crate reads it.
    #[test]
    fn a_file_that_is_not_exactly_one_archive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let files: &[(&str, &[u8])] = &[
            ("greet/a.py", b"a = 1\n"),
            ("greet/b.py", b"b = 2\n"),
            GOOD[1],
        ];
        let path = wheel(dir.path(), "greet-1.0-py3-none-any.whl", files, None);
        let good = std::fs::read(&path).unwrap();
        check_wheel(&path, "greet", "1.0").unwrap();
        let replace_all = |from: &[u8], to: &[u8]| {
            let mut bytes = good.clone();
            let mut at = 0;
            while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
                bytes[at + found..at + found + from.len()].copy_from_slice(to);
                at += found + from.len();
            }
            bytes
        };
        let first_only = |from: &[u8], to: &[u8]| {
            let mut bytes = good.clone();
            let found = bytes.windows(from.len()).position(|w| w == from).unwrap();
            bytes[found..found + from.len()].copy_from_slice(to);
            bytes
        };
        let mut prepended = b"PK junk before the archive".to_vec();
        prepended.extend_from_slice(&good);
        let mut twice = good.clone();
        twice.extend_from_slice(&good);
        let mut commented = good.clone();
        let comment_at = commented.len() - 2;
        commented[comment_at..].copy_from_slice(&4u16.to_le_bytes());
        commented.extend_from_slice(b"hide");
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "bytes before the first entry",
                prepended,
                "but what follows it starts at",
            ),
            (
                "a second archive after the first",
                twice,
                "but what follows it starts at",
            ),
            ("an end record with a comment", commented, "comment"),
            // Both the local header and the directory record of b.py now name a.py.
            (
                "one name twice",
                replace_all(b"greet/b.py", b"greet/a.py"),
                "appears twice",
            ),
            // Only the local header of a.py names another file.
            (
                "a local header naming another file",
                first_only(b"greet/a.py", b"greet/c.py"),
                "local header",
            ),
        ];
        for (what, bytes, expected) in cases {
            std::fs::write(&path, &bytes).unwrap();
            match check_wheel(&path, "greet", "1.0") {
                Err(WheelProblem::NotOneArchive { detail }) => {
                    assert!(detail.contains(expected), "{what}: {detail}");
                }
                other => panic!("{what}: expected NotOneArchive, got {other:?}"),
            }
        }
    }

    /// The zip crate renames an entry after an Info-ZIP Unicode Path field; Python's zipfile, which
    /// pip installs with, does not: one name to the validator, another to pip.
    #[test]
    fn an_entry_that_renames_itself_in_an_extra_field_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("greet-1.0-py3-none-any.whl");
        let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        let mut options = zip::write::FullFileOptions::default();
        let mut unicode_path = vec![1u8, 0, 0, 0, 0];
        unicode_path.extend_from_slice(b"evil.pth");
        options
            .add_extra_data(0x7075, unicode_path.into_boxed_slice(), false)
            .unwrap();
        writer.start_file("greet/__init__.py", options).unwrap();
        writer.write_all(b"import os\n").unwrap();
        writer.finish().unwrap();
        match check_wheel(&path, "greet", "1.0") {
            Err(WheelProblem::NotOneArchive { detail }) => {
                assert!(detail.contains("Unicode Path"), "{detail}");
            }
            other => panic!("expected NotOneArchive, got {other:?}"),
        }
    }

    #[test]
    fn wheel_names_parse_with_and_without_a_build_tag() {
        let name = WheelName::parse("charset_normalizer-3.4.0-1-py3-none-any.whl").unwrap();
        assert!(name.is("charset-normalizer", "3.4.0"));
        assert_eq!(name.tag, "py3-none-any");
        assert!(WheelName::parse("greet-1.0.tar.gz").is_none());
        assert!(WheelName::parse("greet-1.0-py3-any.whl").is_none());
    }
}
