//! END-TO-END, NEEDS THE NETWORK: pip's own readers (and uv's) accept the locks we write, and a
//! plain install selects the runtime packages and none of the build-only ones.
//!
//! A venv made with the host's python3 gets a current pip and packaging from the real index
//! (taken from pip's own configuration, never written here; `ob_testkit::python`). The lock's sdists are real, built in
//! this test with an in-tree PEP 517 backend that needs nothing, so pip can read them offline.
//! The test skips, saying why, only when the index cannot be reached at all.

mod common;

use std::io::Write as _;
use std::path::{Path, PathBuf};

use common::pin;
use ob_lock::{Lock, LockTool, Package, Sdist};
use sha2::{Digest as _, Sha256};

use ob_testkit::python::{clean_command, run};

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
    version: &str,
    build_only: bool,
    requires: &[&str],
    build_requires: &[ob_lock::Pin],
) -> Package {
    let (filename, bytes) = make_sdist(sdists, name, version, requires);
    Package {
        wheel: None,
        name: name.to_owned(),
        version: version.to_owned(),
        requires_python: Some(">=3.8".to_owned()),
        build_only,
        // `name==version` where the lock holds the name at several versions.
        dependencies: requires
            .iter()
            .map(|r| match r.split_once("==") {
                Some((name, version)) => ob_lock::Dependency {
                    name: name.to_owned(),
                    version: Some(version.to_owned()),
                },
                None => ob_lock::Dependency::named(*r),
            })
            .collect(),
        sdist: Sdist {
            path: Some(format!("sdists/{filename}")),
            filename,
            url: None,
            upload_time: Some("2026-01-02T03:04:05Z".to_owned()),
            size: bytes.len() as u64,
            sha256: hex::encode(Sha256::digest(&bytes)),
        },
        build_requires: build_requires.to_vec(),
        crates: Vec::new(),
        settings: Default::default(),
        image_tool: None,
        foreign: Default::default(),
    }
}

/// demo-app needs demo-helper at run time; both are built with demo-buildtool, which is
/// build-only; demo-shared is needed at run time by demo-app and also to build demo-helper.
/// Per-package build environments put two names at two versions: demo-buildtool 1.0 and 2.0
/// (both build-only), and demo-shared 1.0 (runtime) beside 2.0 (build-only, for demo-shared
/// 1.0's own build).
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
                "1.0",
                false,
                &["demo-helper", "demo-shared==1.0"],
                &[buildtool()],
            ),
            locked(
                &sdists,
                "demo-helper",
                "1.0",
                false,
                &[],
                &[buildtool(), shared()],
            ),
            locked(
                &sdists,
                "demo-shared",
                "1.0",
                false,
                &[],
                &[pin("demo-buildtool", "2.0"), pin("demo-shared", "2.0")],
            ),
            locked(&sdists, "demo-shared", "2.0", true, &[], &[]),
            locked(&sdists, "demo-buildtool", "1.0", true, &[], &[]),
            locked(&sdists, "demo-buildtool", "2.0", true, &[], &[]),
        ],
        tool: LockTool {
            allow_binary: Vec::new(),
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
            cargo_default_registry: None,
            // A Rust crate that demo-helper's build vendors: pip must pass over our tables.
            crates: vec![ob_lock::Crate {
                name: "obadd".to_owned(),
                version: "0.1.0".to_owned(),
                source: "sparse+http://127.0.0.1:1/index/".to_owned(),
                url: "http://127.0.0.1:1/api/v1/crates/obadd/0.1.0/download".to_owned(),
                size: 1234,
                sha256: common::digest("obadd"),
            }],
        },
        foreign: Default::default(),
    };
    lock.packages[1].crates = vec![ob_lock::CrateKey {
        name: "obadd".to_owned(),
        version: "0.1.0".to_owned(),
    }];
    lock.tool.build_order = lock.canonical_build_order().unwrap();
    let path = directory.join("pylock.toml");
    lock.write(&path).unwrap();
    path
}

const RUNTIME: &[&str] = &["demo-app==1.0", "demo-helper==1.0", "demo-shared==1.0"];

#[test]
fn pip_and_packaging_read_our_lock_and_skip_build_only_packages() {
    let work = tempfile::tempdir().unwrap();
    // packaging.pylock exists since 26.0 and Pylock.select since 26.1; pip reads
    // `-r pylock.toml` since 26.1. Exact versions (the newest on 2026-11-27), so a new release
    // cannot turn CI red overnight; moving to a newer reader is a deliberate change here.
    let python = match ob_testkit::python::tools_venv(
        "pylock-readers",
        &["pip==26.3", "packaging==26.4", "uv==0.13.9"],
    ) {
        Ok(python) => python,
        Err(reason) => {
            println!("SKIPPED pip_reader_e2e: {reason}");
            eprintln!("SKIPPED pip_reader_e2e: {reason}");
            return;
        }
    };

    let lock_path = write_lock(work.path());

    // packaging's reader: validates the whole file, then selects with the default groups.
    let select = r#"
import json, sys, tomllib
from packaging.pylock import Pylock
with open(sys.argv[1], "rb") as f:
    lock = Pylock.from_dict(tomllib.load(f))
try:
    build = sorted(f"{package.name}=={package.version}" for package, _ in lock.select(dependency_groups=["build"]))
except Exception as error:
    build = f"refused: {error}"
print(json.dumps({
    "default": sorted(f"{package.name}=={package.version}" for package, _ in lock.select()),
    "kinds": sorted({type(source).__name__ for _, source in lock.select()}),
    "build": build,
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
    // The build group is not one installable set once a name has several versions in it:
    // readers refuse to pick one (docs/lockfile.md). Only `build` installs build environments.
    assert!(
        selected["build"]
            .as_str()
            .is_some_and(|refusal| refusal.contains("demo-buildtool")),
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
            .map(|item| {
                format!(
                    "{}=={}",
                    ob_lock::normalize_name(item["metadata"]["name"].as_str().unwrap()),
                    item["metadata"]["version"].as_str().unwrap()
                )
            })
            .collect();
        names.sort();
        names
    };
    assert_eq!(pip_report(&[], "default.json"), RUNTIME);

    // uv (its pylock support is a preview feature in 0.13), offline, into an empty venv: the
    // same runtime set.
    let uv = python.with_file_name("uv");
    let target = work.path().join("uv-target");
    run(
        clean_command(&uv)
            .args(["venv", "--quiet", "--offline"])
            .arg(&target),
        "uv venv",
    );
    let output = run(
        clean_command(&uv)
            .args([
                "pip",
                "install",
                "--dry-run",
                "--offline",
                "--preview-features",
                "pylock",
            ])
            .arg("--python")
            .arg(target.join("bin/python"))
            .arg("-r")
            .arg(&lock_path)
            .current_dir(work.path()),
        "uv pip install --dry-run -r pylock.toml",
    );
    let text = String::from_utf8_lossy(&output.stderr);
    let mut installed: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("+ "))
        .map(|pin| {
            let (name, version) = pin.split_once("==").unwrap_or((pin, ""));
            format!("{}=={version}", ob_lock::normalize_name(name))
        })
        .collect();
    installed.sort();
    assert_eq!(installed, RUNTIME, "uv said:\n{text}");
}
