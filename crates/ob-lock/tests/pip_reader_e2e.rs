//! END-TO-END, NEEDS THE NETWORK: pip's own readers accept the locks we write, and a plain
//! install selects the runtime packages and none of the build-only ones.
//!
//! A venv made with the host's python3 gets a current pip and packaging from the real index
//! (taken from pip's own configuration, never written here). The lock's sdists are real, built in
//! this test with an in-tree PEP 517 backend that needs nothing, so pip can read them offline.
//! The test skips, saying why, only when the index cannot be reached at all.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::pin;
use ob_lock::{Lock, LockTool, Package, Sdist};
use sha2::{Digest as _, Sha256};

/// Host pip settings a venv's pip may honour to reach the index (trust store, proxy, the
/// index itself); everything else the host sets for its own pip (e.g. `PIP_FIND_LINKS`) is
/// cleared.
const PIP_VARIABLES_KEPT: &[&str] = &["PIP_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY"];

/// A command with the host's pip environment removed, except what reaching the index needs.
fn clean_command(program: &Path) -> Command {
    let mut command = Command::new(program);
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy().into_owned();
        if name.starts_with("PIP_") && !PIP_VARIABLES_KEPT.contains(&name.as_str()) {
            command.env_remove(&name);
        }
    }
    command.env("PIP_DISABLE_PIP_VERSION_CHECK", "1");
    command
}

/// Runs `command`, failing the test with its output when it fails.
fn run(command: &mut Command, what: &str) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("{what}: cannot start {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// The index pip would use, found the way pip finds it, and whether it answers. `Err` carries
/// why it cannot be reached (the only reason to skip).
fn index_reachable(python: &Path) -> Result<String, String> {
    let probe = r#"
import os, subprocess, sys, urllib.error, urllib.request
url = os.environ.get("PIP_INDEX_URL")
if not url:
    for key in ("install.index-url", "global.index-url"):
        found = subprocess.run([sys.executable, "-m", "pip", "config", "get", key],
                               capture_output=True, text=True)
        if found.returncode == 0 and found.stdout.strip():
            url = found.stdout.strip()
            break
if not url:
    from pip._internal.models.index import PyPI
    url = PyPI.simple_url
print(url)
try:
    urllib.request.urlopen(url, timeout=20).close()
except urllib.error.HTTPError:
    pass  # a server answered (e.g. with a redirect): the index is reachable
except Exception as error:
    print(f"{type(error).__name__}: {error}")
    sys.exit(3)
"#;
    let output = clean_command(python)
        .args(["-c", probe])
        .output()
        .map_err(|error| format!("cannot run {}: {error}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let mut lines = stdout.lines();
    let url = lines.next().unwrap_or("<unknown>").to_owned();
    match output.status.code() {
        Some(0) => Ok(url),
        Some(3) => Err(format!(
            "index {url} unreachable: {}",
            lines.collect::<Vec<_>>().join(" ")
        )),
        _ => panic!(
            "index probe failed: {}\n{}",
            stdout,
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// A PEP 517 backend that needs nothing installed: writes METADATA from the sdist's PKG-INFO
/// and a wheel holding one module.
const BACKEND: &str = r#"
import base64, hashlib, os, zipfile

def _metadata():
    with open("PKG-INFO", encoding="utf-8") as f:
        return f.read()

def _field(name):
    for line in _metadata().splitlines():
        if line.startswith(name + ": "):
            return line[len(name) + 2:]

def _dist_info():
    return "%s-%s.dist-info" % (_field("Name").replace("-", "_"), _field("Version"))

WHEEL = "Wheel-Version: 1.0\nGenerator: test-backend\nRoot-Is-Purelib: true\nTag: py3-none-any\n"

def get_requires_for_build_wheel(config_settings=None):
    return []

def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    target = os.path.join(metadata_directory, _dist_info())
    os.makedirs(target)
    with open(os.path.join(target, "METADATA"), "w", encoding="utf-8") as f:
        f.write(_metadata())
    with open(os.path.join(target, "WHEEL"), "w", encoding="utf-8") as f:
        f.write(WHEEL)
    return _dist_info()

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    module = _field("Name").replace("-", "_")
    name = "%s-%s-py3-none-any.whl" % (module, _field("Version"))
    files = {module + ".py": b"VALUE = 1\n",
             _dist_info() + "/METADATA": _metadata().encode(),
             _dist_info() + "/WHEEL": WHEEL.encode()}
    record = []
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            record.append("%s,sha256=%s,%d" % (path, digest.decode(), len(data)))
        record.append(_dist_info() + "/RECORD,,")
        wheel.writestr(_dist_info() + "/RECORD", "\n".join(record) + "\n")
    return name
"#;

/// Writes a real sdist of `name` `version` into `directory`; returns (file name, bytes).
fn make_sdist(directory: &Path, name: &str, version: &str, requires: &[&str]) -> (String, Vec<u8>) {
    let filename = Sdist::pep625_filename(name, version);
    let root = filename.trim_end_matches(".tar.gz").to_owned();
    let mut pkg_info = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for requirement in requires {
        pkg_info.push_str(&format!("Requires-Dist: {requirement}\n"));
    }
    let pyproject =
        "[build-system]\nrequires = []\nbuild-backend = \"backend\"\nbackend-path = [\".\"]\n";
    let mut archive = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::default(),
    ));
    for (path, content) in [
        ("PKG-INFO", pkg_info.as_str()),
        ("pyproject.toml", pyproject),
        ("backend.py", BACKEND),
    ] {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(315532800);
        header.set_cksum();
        archive
            .append_data(&mut header, format!("{root}/{path}"), content.as_bytes())
            .unwrap();
    }
    let bytes = archive.into_inner().unwrap().finish().unwrap();
    let mut file = std::fs::File::create(directory.join(&filename)).unwrap();
    file.write_all(&bytes).unwrap();
    (filename, bytes)
}

fn locked(
    sdists: &Path,
    name: &str,
    build_only: bool,
    requires: &[&str],
    build_requires: &[ob_lock::Pin],
) -> Package {
    let (filename, bytes) = make_sdist(sdists, name, "1.0", requires);
    Package {
        name: name.to_owned(),
        version: "1.0".to_owned(),
        requires_python: Some(">=3.8".to_owned()),
        build_only,
        dependencies: requires.iter().map(|r| (*r).to_owned()).collect(),
        sdist: Sdist {
            path: Some(format!("sdists/{filename}")),
            filename,
            url: None,
            upload_time: Some("2026-01-02T03:04:05Z".to_owned()),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        },
        build_requires: build_requires.to_vec(),
        foreign: Default::default(),
    }
}

/// demo-app needs demo-helper at run time; both are built with demo-buildtool, which is
/// build-only; demo-shared is needed at run time by demo-app and also to build demo-helper.
fn write_lock(directory: &Path) -> PathBuf {
    let sdists = directory.join("sdists");
    std::fs::create_dir_all(&sdists).unwrap();
    let buildtool = || pin("demo-buildtool", "1.0");
    let shared = || pin("demo-shared", "1.0");
    let mut lock = Lock {
        requires_python: Some(">=3.8".to_owned()),
        packages: vec![
            locked(
                &sdists,
                "demo-app",
                false,
                &["demo-helper", "demo-shared"],
                &[buildtool()],
            ),
            locked(&sdists, "demo-helper", false, &[], &[buildtool(), shared()]),
            locked(&sdists, "demo-shared", false, &[], &[]),
            locked(&sdists, "demo-buildtool", true, &[], &[]),
        ],
        tool: LockTool {
            image: "offline-build/builder:trixie".to_owned(),
            image_digest: format!("sha256:{}", common::digest("image")),
            python_version: "3.13.5".to_owned(),
            platform: "linux_x86_64".to_owned(),
            index_url: "http://127.0.0.1:1/simple/".to_owned(),
            exclude_newer: None,
            build_verified: true,
            source_date_epoch: 315532800,
            requirements: vec!["demo-app".to_owned()],
            build_order: Vec::new(),
        },
        foreign: Default::default(),
    };
    lock.tool.build_order = lock.canonical_build_order().unwrap();
    let path = directory.join("pylock.toml");
    lock.write(&path).unwrap();
    path
}

const RUNTIME: &[&str] = &["demo-app", "demo-helper", "demo-shared"];
const EVERYTHING: &[&str] = &["demo-app", "demo-buildtool", "demo-helper", "demo-shared"];

#[test]
fn pip_and_packaging_read_our_lock_and_skip_build_only_packages() {
    let work = tempfile::tempdir().unwrap();
    let venv = work.path().join("venv");
    run(
        clean_command(Path::new("python3"))
            .args(["-m", "venv"])
            .arg(&venv),
        "creating a venv with the host's python3",
    );
    let python = venv.join("bin/python");
    if let Err(reason) = index_reachable(&python) {
        println!("SKIPPED pip_reader_e2e: {reason}");
        eprintln!("SKIPPED pip_reader_e2e: {reason}");
        return;
    }
    // packaging.pylock exists since 26.0 and Pylock.select since 26.1; pip reads
    // `-r pylock.toml` since 26.1. Exact versions (the newest on 2026-11-27), so a new release
    // cannot turn CI red overnight; moving to a newer reader is a deliberate change here.
    run(
        clean_command(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--upgrade",
            "pip==26.3",
            "packaging==26.4",
        ]),
        "installing a current pip and packaging from the index",
    );

    let lock_path = write_lock(work.path());

    // packaging's reader: validates the whole file, then selects with the default groups.
    let select = r#"
import json, sys, tomllib
from packaging.pylock import Pylock
with open(sys.argv[1], "rb") as f:
    lock = Pylock.from_dict(tomllib.load(f))
print(json.dumps({
    "default": sorted(package.name for package, _ in lock.select()),
    "build": sorted(package.name for package, _ in lock.select(dependency_groups=["build"])),
    "kinds": sorted({type(source).__name__ for _, source in lock.select(dependency_groups=["build"])}),
}))
"#;
    let output = run(
        clean_command(&python).args(["-c", select]).arg(&lock_path),
        "packaging.pylock reading the lock",
    );
    let selected: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        selected["default"],
        serde_json::json!(RUNTIME),
        "{selected}"
    );
    assert_eq!(
        selected["build"],
        serde_json::json!(EVERYTHING),
        "{selected}"
    );
    assert_eq!(
        selected["kinds"],
        serde_json::json!(["PackageSdist"]),
        "{selected}"
    );

    // pip itself, offline: nothing but the lock's own sdists, each hash-checked by pip.
    let pip_report = |extra: &[&str], report: &str| -> Vec<String> {
        let report_path = work.path().join(report);
        let mut command = clean_command(&python);
        command
            .env("PIP_CONFIG_FILE", "/dev/null")
            .args([
                "-m",
                "pip",
                "install",
                "--dry-run",
                "--no-index",
                "--no-cache-dir",
            ])
            .arg("--report")
            .arg(&report_path)
            .arg("-r")
            .arg(&lock_path)
            .args(extra)
            .current_dir(work.path());
        run(&mut command, "pip install --dry-run -r pylock.toml");
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&report_path).unwrap()).unwrap();
        let mut names: Vec<String> = report["install"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| ob_lock::normalize_name(item["metadata"]["name"].as_str().unwrap()))
            .collect();
        names.sort();
        names
    };
    assert_eq!(pip_report(&[], "default.json"), RUNTIME);
    let group = format!("{}:build", lock_path.display());
    assert_eq!(pip_report(&["--group", &group], "build.json"), EVERYTHING);
}
