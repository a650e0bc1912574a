//! Fuzzing the wheel validator (`ob_build::wheel::check_wheel`): generated wheels with escaping
//! names, symlinks, directories, duplicate and unlisted entries and RECORDs that lie, then
//! byte-level damage on top. Property: it never panics or hangs, and every wheel it accepts is
//! sound by an independent check written here (paths stay inside, no links, RECORD hashes and
//! sizes hold for every file). On top of that, layout tricks that make one file two archives
//! to two readers (bytes before it, a second archive after it, a comment, a name twice, a local
//! header naming another file): every wheel accepted is read by Python's `zipfile`, which pip
//! installs with, with the same names and the same bytes as by the zip crate.

mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use base64::Engine;
use ob_build::wheel::check_wheel;
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use sha2::{Digest, Sha256};
use support::fuzz::{Tally, bounded, config};

const RECORD: &str = "greet-1.0.dist-info/RECORD";
/// Renamed `greet/core.py` in the raw bytes by the `Alias` splices.
const ALIAS: &str = "greet/core.pX";

#[derive(Debug, Clone)]
struct Entry {
    name: String,
    data: Vec<u8>,
    symlink: bool,
    directory: bool,
    deflate: bool,
}

#[derive(Debug, Clone)]
enum RecordLie {
    Honest,
    WrongHash(usize),
    WrongSize(usize),
    Drop(usize),
    Phantom(String),
    NotSha256(usize),
    Duplicate(usize),
    Raw(String),
}

#[derive(Debug, Clone)]
struct Wheel {
    filename: String,
    entries: Vec<Entry>,
    lie: RecordLie,
    /// (offset, xor) byte flips applied to the finished zip.
    flips: Vec<(usize, u8)>,
    truncate: Option<usize>,
    splice: Splice,
}

/// A layout trick applied to the finished zip.
#[derive(Debug, Clone)]
enum Splice {
    None,
    /// Bytes before the first local header (Python shifts its offsets by them).
    Prepend(Vec<u8>),
    /// A second archive, holding a `.pth`, after the first.
    AppendArchive,
    /// A comment on the end record, holding these bytes (perhaps a second end record).
    Comment(Vec<u8>),
    /// Every `greet/core.pX` renamed `greet/core.py`: a name twice if both are there.
    Alias,
    /// Only the first `greet/core.pX` (its local header) renamed.
    LocalAlias,
}

fn entry_name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("greet/__init__.py".to_owned()),
        4 => Just("greet/core.py".to_owned()),
        2 => Just("greet-1.0.dist-info/METADATA".to_owned()),
        1 => Just("greet-1.0.dist-info/RECORD.jws".to_owned()),
        2 => Just(ALIAS.to_owned()),
        1 => Just("greet-1.0.data/scripts/run".to_owned()),
        1 => Just("../evil.py".to_owned()),
        1 => Just("greet/../../evil.py".to_owned()),
        1 => Just("/etc/evil.py".to_owned()),
        1 => Just("C:/evil.py".to_owned()),
        1 => Just("greet\\..\\evil.py".to_owned()),
        1 => Just("greet/./x.py".to_owned()),
        1 => Just("greet//x.py".to_owned()),
        1 => Just("greet/a,b\"c.py".to_owned()),
        1 => Just("greet/..".to_owned()),
        1 => Just(String::new()),
        2 => "[a-z./]{1,16}",
        1 => "\\PC{1,8}",
    ]
}

fn entry() -> impl Strategy<Value = Entry> {
    (
        entry_name(),
        prop_oneof![
            Just(Vec::new()),
            prop::collection::vec(any::<u8>(), 0..64),
            Just(b"x = 1\n".to_vec())
        ],
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.1),
        any::<bool>(),
    )
        .prop_map(|(name, data, symlink, directory, deflate)| Entry {
            name,
            data,
            symlink,
            directory,
            deflate,
        })
}

fn lie() -> impl Strategy<Value = RecordLie> {
    prop_oneof![
        6 => Just(RecordLie::Honest),
        1 => any::<usize>().prop_map(RecordLie::WrongHash),
        1 => any::<usize>().prop_map(RecordLie::WrongSize),
        1 => any::<usize>().prop_map(RecordLie::Drop),
        1 => entry_name().prop_map(RecordLie::Phantom),
        1 => any::<usize>().prop_map(RecordLie::NotSha256),
        1 => any::<usize>().prop_map(RecordLie::Duplicate),
        1 => "[ -~\n]{0,80}".prop_map(RecordLie::Raw),
    ]
}

fn wheel() -> impl Strategy<Value = Wheel> {
    (
        prop_oneof![
            8 => Just("greet-1.0-py3-none-any.whl".to_owned()),
            1 => Just("greet-2.0-py3-none-any.whl".to_owned()),
            1 => Just("Greet-1.0-1-cp313-cp313-linux_x86_64.whl".to_owned()),
            1 => Just("other-1.0-py3-none-any.whl".to_owned()),
            1 => Just("greet-1.0.tar.gz".to_owned()),
            1 => "[a-z0-9.-]{1,30}",
        ],
        prop::collection::vec(entry(), 0..6),
        lie(),
        prop_oneof![
            4 => Just(Vec::new()),
            1 => prop::collection::vec((any::<usize>(), 1..=255u8), 1..4),
        ],
        prop_oneof![6 => Just(None), 1 => any::<usize>().prop_map(Some)],
        // Most wheels carry a METADATA that names them, as a real one must; the rest test the
        // refusal of one that is missing or names another package.
        prop::bool::weighted(0.8),
        prop_oneof![
            6 => Just(Splice::None),
            1 => prop::collection::vec(any::<u8>(), 1..40).prop_map(Splice::Prepend),
            1 => Just(Splice::AppendArchive),
            1 => prop_oneof![
                Just(b"PK\x05\x06".to_vec()),
                prop::collection::vec(any::<u8>(), 0..30),
            ]
            .prop_map(Splice::Comment),
            1 => Just(Splice::Alias),
            1 => Just(Splice::LocalAlias),
        ],
    )
        .prop_map(
            |(filename, mut entries, lie, flips, truncate, metadata, splice)| {
                if metadata {
                    entries.insert(
                        0,
                        Entry {
                            name: "greet-1.0.dist-info/METADATA".to_owned(),
                            data: b"Metadata-Version: 2.1\nName: greet\nVersion: 1.0\n".to_vec(),
                            symlink: false,
                            directory: false,
                            deflate: true,
                        },
                    );
                }
                Wheel {
                    filename,
                    entries,
                    lie,
                    flips,
                    truncate,
                    splice,
                }
            },
        )
}

fn digest(data: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(data))
}

fn csv(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

fn record_text(wheel: &Wheel) -> String {
    let files: Vec<&Entry> = wheel
        .entries
        .iter()
        .filter(|entry| !entry.directory)
        .collect();
    let mut lines: Vec<String> = files
        .iter()
        .map(|entry| {
            format!(
                "{},sha256={},{}",
                csv(&entry.name),
                digest(&entry.data),
                entry.data.len()
            )
        })
        .collect();
    let pick = |index: &usize| (!lines.is_empty()).then(|| index % lines.len());
    match &wheel.lie {
        RecordLie::Honest => {}
        RecordLie::WrongHash(index) => {
            if let Some(at) = pick(index) {
                lines[at] = format!(
                    "{},sha256={},{}",
                    csv(&files[at].name),
                    digest(b"lie"),
                    files[at].data.len()
                );
            }
        }
        RecordLie::WrongSize(index) => {
            if let Some(at) = pick(index) {
                lines[at] = format!(
                    "{},sha256={},{}",
                    csv(&files[at].name),
                    digest(&files[at].data),
                    files[at].data.len() + 1
                );
            }
        }
        RecordLie::Drop(index) => {
            if let Some(at) = pick(index) {
                lines.remove(at);
            }
        }
        RecordLie::Phantom(name) => lines.push(format!("{},sha256={},0", csv(name), digest(b""))),
        RecordLie::NotSha256(index) => {
            if let Some(at) = pick(index) {
                lines[at] = format!("{},md5=abc,{}", csv(&files[at].name), files[at].data.len());
            }
        }
        RecordLie::Duplicate(index) => {
            if let Some(at) = pick(index) {
                lines.push(lines[at].clone());
            }
        }
        RecordLie::Raw(text) => lines.push(text.clone()),
    }
    lines.push(format!("{RECORD},,"));
    lines.join("\n")
}

/// Writes the wheel; `None` when the zip writer itself refuses the shape (e.g. a duplicate).
fn write_wheel(dir: &Path, wheel: &Wheel) -> Option<std::path::PathBuf> {
    let mut buffer = std::io::Cursor::new(Vec::new());
    {
        let mut writer = zip::ZipWriter::new(&mut buffer);
        for entry in &wheel.entries {
            let method = if entry.deflate {
                zip::CompressionMethod::Deflated
            } else {
                zip::CompressionMethod::Stored
            };
            let options = zip::write::SimpleFileOptions::default().compression_method(method);
            if entry.symlink {
                writer
                    .add_symlink(&entry.name, "/etc/passwd", options)
                    .ok()?;
            } else if entry.directory {
                writer.add_directory(&entry.name, options).ok()?;
            } else {
                writer.start_file(&entry.name, options).ok()?;
                writer.write_all(&entry.data).ok()?;
            }
        }
        writer
            .start_file(RECORD, zip::write::SimpleFileOptions::default())
            .ok()?;
        writer.write_all(record_text(wheel).as_bytes()).ok()?;
        writer.finish().ok()?;
    }
    let mut bytes = buffer.into_inner();
    splice(&mut bytes, &wheel.splice);
    for (offset, xor) in &wheel.flips {
        let len = bytes.len();
        bytes[offset % len] ^= xor;
    }
    if let Some(keep) = wheel.truncate {
        bytes.truncate(keep % (bytes.len() + 1));
    }
    let path = dir.join(&wheel.filename);
    std::fs::write(&path, bytes).ok()?;
    Some(path)
}

fn splice(bytes: &mut Vec<u8>, splice: &Splice) {
    let rename = |bytes: &mut Vec<u8>, all: bool| {
        let (from, to) = (ALIAS.as_bytes(), b"greet/core.py");
        let mut at = 0;
        while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
            let start = at + found;
            bytes[start..start + from.len()].copy_from_slice(to);
            at = start + from.len();
            if !all {
                break;
            }
        }
    };
    match splice {
        Splice::None => {}
        Splice::Prepend(junk) => {
            bytes.splice(0..0, junk.iter().copied());
        }
        Splice::AppendArchive => {
            let mut second = std::io::Cursor::new(Vec::new());
            let mut writer = zip::ZipWriter::new(&mut second);
            writer
                .start_file("evil.pth", zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(b"import os; os.system('id')\n").unwrap();
            writer.finish().unwrap();
            bytes.extend_from_slice(&second.into_inner());
        }
        Splice::Comment(comment) => {
            let len = bytes.len();
            if len >= 22 {
                bytes[len - 2..].copy_from_slice(&(comment.len() as u16).to_le_bytes());
                bytes.extend_from_slice(comment);
            }
        }
        Splice::Alias => rename(bytes, true),
        Splice::LocalAlias => rename(bytes, false),
    }
}

/// Every entry of the wheel at `path` as the zip crate reads it: (name, sha256 of its bytes),
/// sorted.
fn zip_crate_view(path: &Path) -> Vec<(String, String)> {
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut view = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        view.push((entry.name().to_owned(), hex::encode(Sha256::digest(&data))));
    }
    view.sort();
    view
}

/// Python's `zipfile`, the reader pip installs with, in one process for the whole run: a path
/// per line in, a JSON line out (its entries as `[name, sha256]`, or the error it raised).
struct PythonZipfile {
    child: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

const PYTHON_READER: &str = r#"
import hashlib, json, sys, zipfile
for line in sys.stdin:
    try:
        with zipfile.ZipFile(line.rstrip("\n")) as archive:
            view = sorted([info.filename, hashlib.sha256(archive.read(info)).hexdigest()]
                          for info in archive.infolist())
        print(json.dumps({"entries": view}), flush=True)
    except Exception as error:
        print(json.dumps({"error": repr(error)}), flush=True)
"#;

impl PythonZipfile {
    fn start() -> PythonZipfile {
        let mut child = std::process::Command::new("python3")
            .args(["-I", "-c", PYTHON_READER])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the host's python3 reads the wheels the validator accepts");
        let stdout = child.stdout.take().unwrap();
        PythonZipfile {
            child,
            lines: std::io::BufRead::lines(std::io::BufReader::new(stdout)),
        }
    }

    fn view(&mut self, path: &Path) -> Result<Vec<(String, String)>, String> {
        let stdin = self.child.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", path.display()).unwrap();
        let line = self.lines.next().unwrap().unwrap();
        let answer: serde_json::Value = serde_json::from_str(&line).unwrap();
        if let Some(error) = answer.get("error") {
            return Err(error.to_string());
        }
        Ok(answer["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| {
                (
                    pair[0].as_str().unwrap().to_owned(),
                    pair[1].as_str().unwrap().to_owned(),
                )
            })
            .collect())
    }
}

impl Drop for PythonZipfile {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The independent soundness check for an accepted wheel: what an installer would need to
/// trust it. Written without looking at the validator's code paths.
fn assert_sound(path: &Path, wheel: &Wheel) {
    let filename = path.file_name().unwrap().to_str().unwrap();
    assert!(
        filename.starts_with("greet-1.0-") || filename.starts_with("Greet-1.0-"),
        "accepted a wheel named {filename}: {wheel:?}"
    );
    let mut archive = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut contents: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap();
        let name = entry.name().to_owned();
        assert!(
            !entry.is_symlink(),
            "accepted a symlink `{name}`: {wheel:?}"
        );
        let raw = entry.name_raw().to_vec();
        assert!(!raw.contains(&0), "NUL in `{name}`");
        assert!(
            !name.starts_with('/') && !name.contains('\\'),
            "accepted `{name}`: {wheel:?}"
        );
        assert!(
            !name.split('/').any(|part| part == ".."),
            "accepted `{name}`: {wheel:?}"
        );
        // The name as a path stays below the install directory.
        let mut depth = 0i32;
        for component in Path::new(&name).components() {
            match component {
                std::path::Component::Normal(_) => depth += 1,
                std::path::Component::CurDir => {}
                other => panic!("accepted `{name}` with {other:?}: {wheel:?}"),
            }
        }
        assert!(depth >= 0);
        if entry.is_dir() {
            continue;
        }
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        assert!(
            contents.insert(name.clone(), data).is_none(),
            "twice: {name}"
        );
    }
    let record = String::from_utf8(contents[RECORD].clone()).unwrap();
    let mut listed = BTreeMap::new();
    for line in record.lines().filter(|line| !line.trim().is_empty()) {
        // Names with commas or quotes are quoted; the two last fields never are.
        let (rest, size) = line.rsplit_once(',').unwrap();
        let (name, hash) = rest.rsplit_once(',').unwrap();
        let name = if let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) {
            inner.replace("\"\"", "\"")
        } else {
            name.to_owned()
        };
        listed.insert(name, (hash.to_owned(), size.to_owned()));
    }
    for (name, data) in &contents {
        let (hash, size) = listed
            .get(name)
            .unwrap_or_else(|| panic!("accepted with `{name}` not in RECORD: {wheel:?}"));
        if name == RECORD || name.ends_with("/RECORD.jws") || name.ends_with("/RECORD.p7s") {
            continue;
        }
        assert_eq!(
            hash,
            &format!("sha256={}", digest(data)),
            "{name}: {wheel:?}"
        );
        assert!(
            size.is_empty() || size == &data.len().to_string(),
            "{name}: {wheel:?}"
        );
    }
}

static TALLY: Tally = Tally::new("wheel");

#[test]
fn generated_and_damaged_wheels_never_panic_and_what_is_accepted_is_sound() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_owned();
    let mut runner = TestRunner::new(config(400));
    let counter = std::sync::atomic::AtomicU64::new(0);
    let python = std::sync::Mutex::new(PythonZipfile::start());
    let spliced = std::sync::atomic::AtomicU64::new(0);
    runner
        .run(&wheel(), |wheel| {
            let case = counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let case_dir = root.join(case.to_string());
            std::fs::create_dir(&case_dir).unwrap();
            let Some(path) = write_wheel(&case_dir, &wheel) else {
                std::fs::remove_dir_all(&case_dir).unwrap();
                return Ok(());
            };
            let checked_path = path.clone();
            let result = bounded("check_wheel", move || {
                check_wheel(&checked_path, "greet", "1.0")
            });
            if result.is_ok() {
                assert_sound(&path, &wheel);
                // The reader pip installs with sees exactly what the validator saw.
                let python = python.lock().unwrap().view(&path);
                assert_eq!(
                    python.as_ref(),
                    Ok(&zip_crate_view(&path)),
                    "Python's zipfile reads another archive: {wheel:?}"
                );
            }
            if !matches!(wheel.splice, Splice::None) {
                spliced.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            TALLY.record(result.is_ok());
            std::fs::remove_dir_all(&case_dir).unwrap();
            Ok(())
        })
        .unwrap();
    let (executions, accepted) = TALLY.report();
    // Both sides must be reached, or the generator has drifted and proves nothing.
    assert!(
        accepted > 0 && accepted < executions,
        "{accepted} of {executions}"
    );
    assert!(
        spliced.into_inner() > 0,
        "no case tried a layout trick: the generator has drifted"
    );
}

/// A 64 MiB entry of zeros (64 KiB deflated) with an honest RECORD: the validator reads it
/// through and accepts it; the ratio alone is no reason to refuse.
#[test]
fn a_highly_compressed_entry_within_limits_is_read_through() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("greet-1.0-py3-none-any.whl");
    let zeros = vec![0u8; 64 << 20];
    let mut writer = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    writer.start_file("greet/zeros.bin", options).unwrap();
    writer.write_all(&zeros).unwrap();
    let metadata = b"Name: greet\nVersion: 1.0\n";
    writer
        .start_file("greet-1.0.dist-info/METADATA", options)
        .unwrap();
    writer.write_all(metadata).unwrap();
    writer.start_file(RECORD, options).unwrap();
    write!(
        writer,
        "greet/zeros.bin,sha256={},{}\ngreet-1.0.dist-info/METADATA,sha256={},{}\n{RECORD},,\n",
        digest(&zeros),
        zeros.len(),
        digest(metadata),
        metadata.len()
    )
    .unwrap();
    writer.finish().unwrap();
    assert!(std::fs::metadata(&path).unwrap().len() < 1 << 20);
    check_wheel(&path, "greet", "1.0").unwrap();
}
