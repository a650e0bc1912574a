//! Host-side Python tools for tests: a venv made with the host's python3 holding exactly the
//! pinned packages a test needs (pytest for the stages' own tests, current pip and packaging as
//! lock readers), installed from the package index pip would use and kept under the target
//! directory between runs. A test skips only when that index cannot be reached at all.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Host pip settings a venv's pip may honour to reach the index (trust store, proxy, the index
/// itself); everything else the host sets for its own pip (e.g. `PIP_FIND_LINKS`) is cleared.
const PIP_VARIABLES_KEPT: &[&str] = &["PIP_INDEX_URL", "PIP_CERT", "PIP_CLIENT_CERT", "PIP_PROXY"];

/// A command with the host's pip environment removed, except what reaching the index needs.
pub fn clean_command(program: &Path) -> Command {
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
pub fn run(command: &mut Command, what: &str) -> Output {
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

/// `Err(reason)` when the index the host's pip would use cannot be reached at all.
fn index_reachable(python: &Path) -> Result<(), String> {
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
    pass  # a server answered: the index is reachable
except Exception as error:
    print(f"{type(error).__name__}: {error}")
    sys.exit(3)
"#;
    let output = clean_command(python)
        .args(["-c", probe])
        .output()
        .map_err(|error| format!("cannot run {}: {error}", python.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    match output.status.code() {
        Some(0) => Ok(()),
        Some(3) => Err(format!(
            "the index is unreachable: {}",
            stdout.replace('\n', " ")
        )),
        _ => panic!(
            "index probe failed: {stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// The python of a venv named `name` holding exactly `pins` (`name==version`), made once and
/// kept under the target directory (`test-tools/`); `Err(reason)` when the index is out of
/// reach. Test binaries run in parallel processes: a file lock makes one of them install.
pub fn tools_venv(name: &str, pins: &[&str]) -> Result<PathBuf, String> {
    use sha2::{Digest, Sha256};
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::repo_root().join("target"));
    let tools = target.join("test-tools");
    fs_err::create_dir_all(&tools).map_err(|err| err.to_string())?;
    let tag = hex::encode(&Sha256::digest(pins.join("\n").as_bytes())[..6]);
    let venv = tools.join(format!("{name}-{tag}"));
    let python = venv.join("bin/python");
    let ready = venv.join("ready");
    let lock =
        fs_err::File::create(tools.join(format!("{name}.lock"))).map_err(|err| err.to_string())?;
    lock.file().lock().map_err(|err| err.to_string())?;
    if ready.is_file() {
        return Ok(python);
    }
    let _ = fs_err::remove_dir_all(&venv);
    run(
        clean_command(Path::new("python3"))
            .args(["-m", "venv"])
            .arg(&venv),
        "creating a venv with the host's python3",
    );
    index_reachable(&python)?;
    run(
        clean_command(&python)
            .args(["-m", "pip", "install", "--quiet", "--no-cache-dir"])
            .args(pins),
        &format!("installing {} from the index", pins.join(" ")),
    );
    fs_err::write(&ready, pins.join("\n")).map_err(|err| err.to_string())?;
    Ok(python)
}
