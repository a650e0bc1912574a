//! The resolver session: one scratch container (network none) that runs pip's resolver and our
//! session driver from `stages/resolve/`, and nothing else. It reaches the index proxy through
//! one bind-mounted unix socket; the proxy gives it pages and PEP 658 metadata, never an sdist,
//! so pip can neither fetch nor run third-party code. Resolutions are asked for by request
//! files and answered by result files (stages/protocol/README.md).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ob_sandbox::{Mount, OutputDir, OutputLine, RunSpec, Sandbox};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use crate::ResolveError;

/// The session driver's files, by path under the stage directory. A test checks that this list
/// is exactly the `.py` files of `stages/resolve/` (tests aside).
pub const STAGE_FILES: &[(&str, &str)] = &[
    (
        "resolve/__init__.py",
        include_str!("../../../stages/resolve/__init__.py"),
    ),
    (
        "resolve/forkserver.py",
        include_str!("../../../stages/resolve/forkserver.py"),
    ),
    (
        "resolve/inbox.py",
        include_str!("../../../stages/resolve/inbox.py"),
    ),
    (
        "resolve/pip_command.py",
        include_str!("../../../stages/resolve/pip_command.py"),
    ),
    (
        "resolve/pip_output.py",
        include_str!("../../../stages/resolve/pip_output.py"),
    ),
    (
        "resolve/pip_patch.py",
        include_str!("../../../stages/resolve/pip_patch.py"),
    ),
    (
        "resolve/protocol.py",
        include_str!("../../../stages/resolve/protocol.py"),
    ),
    (
        "resolve/relay.py",
        include_str!("../../../stages/resolve/relay.py"),
    ),
    (
        "resolve/report.py",
        include_str!("../../../stages/resolve/report.py"),
    ),
    (
        "resolve/requirements.py",
        include_str!("../../../stages/resolve/requirements.py"),
    ),
    (
        "resolve/session.py",
        include_str!("../../../stages/resolve/session.py"),
    ),
];

const STAGE_MOUNT: &str = "/ob/stage";
const SOCKET_MOUNT: &str = "/ob/index.sock";
const REQUESTS_MOUNT: &str = "/ob/requests";
const OUT_MOUNT: &str = "/out";
const EVENT_PREFIX: &str = "offline-build-event ";
/// How long a session that was told to stop may take to finish what it is doing.
/// A result lists pins and problems; a real one is kilobytes, this bounds a hostile one.
const MAX_RESULT_BYTES: u64 = 64 << 20;
const STOP_GRACE: Duration = Duration::from_secs(30);

/// The session job (the driver's argument).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionJob {
    /// The index proxy's socket inside the container.
    pub socket: String,
    /// The request directory inside the container (read-only).
    pub requests: String,
    /// Where `results/` and `logs/` go.
    pub out: String,
    /// Resolutions at once.
    pub jobs: usize,
    /// Normalized names pip takes only as wheels: the releases `allow-binary` names (the
    /// proxy lists nothing else for them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub only_binary: Vec<String>,
}

/// One request file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// Decimal id, also the file's name.
    pub id: String,
    /// PEP 508 strings.
    pub requirements: Vec<String>,
    /// Constraint strings.
    pub constraints: Vec<String>,
}

/// A pinned package of a resolution.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ResolvedPin {
    /// Normalized name.
    pub name: String,
    /// Version.
    pub version: String,
    /// The sdist's file name.
    pub filename: String,
    /// The URL pip used (through the session's relay; only its file name counts).
    pub url: String,
    /// The file's `Requires-Python`.
    pub requires_python: Option<String>,
}

/// A resolution pip found.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Resolution {
    /// Every package it installs, sorted by name.
    pub pins: Vec<ResolvedPin>,
    /// The names of the requirements asked for whose markers hold.
    pub roots: Vec<String>,
    /// Name -> the names it depends on in this resolution.
    pub dependencies: BTreeMap<String, Vec<String>>,
}

/// Why a resolution failed, as the session explained it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SessionError {
    /// `no-sdist`, `conflict`, `archive-refused`, `bad-requirement` or `internal`.
    pub kind: String,
    /// The package it is about (may be empty).
    #[serde(default)]
    pub package: String,
    /// What happened.
    pub message: String,
    /// The resolution's log, inside the container.
    pub log: String,
    /// For `no-sdist` and `bad-requirement`: the requirement.
    #[serde(default)]
    pub requirement: Option<String>,
    /// For `no-sdist`: versions that do have an sdist, oldest first.
    #[serde(default)]
    pub sdist_versions: Option<Vec<String>>,
}

/// A result file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
struct ResultFile {
    id: String,
    #[serde(default)]
    error: Option<SessionError>,
    #[serde(default)]
    pins: Option<Vec<ResolvedPin>>,
    #[serde(default)]
    roots: Option<Vec<String>>,
    #[serde(default)]
    dependencies: Option<BTreeMap<String, Vec<String>>>,
}

impl ResultFile {
    fn into_result(self) -> Result<Result<Resolution, SessionError>, String> {
        match (self.error, self.pins, self.roots, self.dependencies) {
            (Some(error), None, None, None) => Ok(Err(error)),
            (None, Some(pins), Some(roots), Some(dependencies)) => Ok(Ok(Resolution {
                pins,
                roots,
                dependencies,
            })),
            _ => Err(format!(
                "result `{}` is neither a resolution nor an error",
                self.id
            )),
        }
    }
}

/// What a resolution request gives back.
pub type Answer = Result<Resolution, SessionError>;

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Result<Answer, String>>>>>;

/// A running session. Dropping it stops the container (removed in the background).
pub struct Session {
    requests: PathBuf,
    out: PathBuf,
    next_id: Mutex<u64>,
    waiters: Waiters,
    task: Option<tokio::task::JoinHandle<Result<ob_sandbox::RunOutcome, ob_sandbox::SandboxError>>>,
    _stage: tempfile::TempDir,
}

impl Session {
    /// Starts the session container: `socket` is the index proxy's unix socket on the host,
    /// `work` a private directory for the request and result files.
    pub fn start(
        sandbox: &Sandbox,
        image: &str,
        socket: &Path,
        work: &Path,
        jobs: usize,
        timeout: Duration,
        only_binary: Vec<String>,
    ) -> Result<Session, ResolveError> {
        use std::os::unix::fs::PermissionsExt as _;
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ResolveError::Io { path, source }
        };
        let stage =
            ob_build::driver::write_stage(STAGE_FILES).map_err(|err| ResolveError::Driver {
                message: format!("could not write the resolver session's files: {err}"),
                log: None,
            })?;
        let requests = work.join("requests");
        let out = work.join("session");
        for directory in [&requests, &out] {
            fs_err::create_dir_all(directory).map_err(io(directory))?;
        }
        fs_err::set_permissions(&requests, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&requests))?;
        let job = SessionJob {
            socket: SOCKET_MOUNT.to_owned(),
            requests: REQUESTS_MOUNT.to_owned(),
            out: OUT_MOUNT.to_owned(),
            jobs: jobs.max(1),
            only_binary,
        };
        let mut spec = RunSpec::new(
            image,
            vec![
                "python3".to_owned(),
                "-I".to_owned(),
                format!("{STAGE_MOUNT}/resolve/session.py"),
                // Serialising strings and a number cannot fail.
                serde_json::to_string(&job).unwrap_or_default(),
            ],
            "resolve:session",
        );
        spec.inputs = vec![
            Mount::new(stage.path(), STAGE_MOUNT),
            Mount::new(socket, SOCKET_MOUNT),
            Mount::new(&requests, REQUESTS_MOUNT),
        ];
        spec.output = Some(Mount::new(&out, OUT_MOUNT));
        spec.timeout = timeout;
        let waiters: Waiters = Arc::default();
        // Made here and held open: the session may be hostile, and it writes while we read.
        let results = out.join("results");
        fs_err::create_dir_all(&results).map_err(io(&results))?;
        fs_err::set_permissions(&results, std::fs::Permissions::from_mode(0o777))
            .map_err(io(&results))?;
        let results = OutputDir::open(&results).map_err(io(&results))?;
        let task = {
            let waiters = waiters.clone();
            let sandbox = sandbox.clone();
            tokio::spawn(async move {
                let mut last_lines: Vec<String> = Vec::new();
                let outcome = sandbox
                    .run(&spec, |line| {
                        let text = match line {
                            OutputLine::Stdout(text) | OutputLine::Stderr(text) => text,
                        };
                        match resolved_id(&text) {
                            Some(id) => deliver(&waiters, &results, &id),
                            None => {
                                last_lines.push(text);
                                if last_lines.len() > 20 {
                                    last_lines.remove(0);
                                }
                            }
                        }
                    })
                    .await;
                // Whoever still waits will get no answer: say why.
                let why = match &outcome {
                    Ok(outcome) if outcome.timed_out => {
                        "the resolver session ran out of time".to_owned()
                    }
                    Ok(outcome) if outcome.oom_killed => {
                        "the resolver session ran out of memory".to_owned()
                    }
                    Ok(outcome) => format!(
                        "the resolver session exited with code {}:\n{}",
                        outcome.exit_code,
                        last_lines.join("\n")
                    ),
                    Err(err) => format!("the resolver session failed: {err}"),
                };
                for (_, waiter) in lock(&waiters).drain() {
                    let _ = waiter.send(Err(why.clone()));
                }
                outcome
            })
        };
        Ok(Session {
            requests,
            out,
            next_id: Mutex::new(0),
            waiters,
            task: Some(task),
            _stage: stage,
        })
    }

    /// Resolves `requirements` under `constraints`. `Err` when the session itself is gone.
    pub async fn resolve(
        &self,
        requirements: &[String],
        constraints: &[String],
    ) -> Result<Answer, ResolveError> {
        let id = {
            let mut next = self.next_id.lock().unwrap_or_else(PoisonError::into_inner);
            *next += 1;
            next.to_string()
        };
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiters).insert(id.clone(), sender);
        let request = Request {
            id: id.clone(),
            requirements: requirements.to_vec(),
            constraints: constraints.to_vec(),
        };
        // Serialising strings cannot fail.
        let text = serde_json::to_string_pretty(&request).unwrap_or_default();
        let partial = self.requests.join(format!("{id}.json.tmp"));
        let path = self.requests.join(format!("{id}.json"));
        let written = fs_err::write(&partial, text).and_then(|()| {
            use std::os::unix::fs::PermissionsExt as _;
            fs_err::set_permissions(&partial, std::fs::Permissions::from_mode(0o644))?;
            fs_err::rename(&partial, &path)
        });
        if let Err(source) = written {
            lock(&self.waiters).remove(&id);
            return Err(ResolveError::Io { path, source });
        }
        match receiver.await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(why)) => Err(ResolveError::Driver {
                message: why,
                log: Some(self.out.join("logs")),
            }),
            Err(_) => Err(ResolveError::Driver {
                message: "the resolver session stopped before answering".to_owned(),
                log: Some(self.out.join("logs")),
            }),
        }
    }

    /// Maps a log path inside the container to the host.
    pub fn host_log(&self, log: &str) -> PathBuf {
        match log.strip_prefix(&format!("{OUT_MOUNT}/")) {
            Some(relative) if !relative.split('/').any(|part| part == "..") => {
                self.out.join(relative)
            }
            _ => self.out.join("logs"),
        }
    }

    /// Tells the session to stop and waits for the container to be gone.
    pub async fn stop(mut self) {
        let _ = fs_err::write(self.requests.join("stop"), b"");
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(STOP_GRACE, task).await.is_err() {
                abort.abort();
            }
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Aborting drops the run, whose guard removes the container.
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain data: a panic while holding it leaves it usable.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The id of a `resolved` event line.
fn resolved_id(line: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Event {
        event: String,
        id: String,
    }
    let event: Event = serde_json::from_str(line.strip_prefix(EVENT_PREFIX)?).ok()?;
    let plain = !event.id.is_empty() && event.id.bytes().all(|b| b.is_ascii_digit());
    (event.event == "resolved" && plain).then_some(event.id)
}

/// Reads result `id` and hands it to whoever waits for it.
fn deliver(waiters: &Waiters, results: &OutputDir, id: &str) {
    let Some(waiter) = lock(waiters).remove(id) else {
        return;
    };
    let name = format!("{id}.json");
    let shown = results.path().join(&name);
    let answer = results
        .read(&name, MAX_RESULT_BYTES)
        .and_then(|bytes| {
            serde_json::from_slice::<ResultFile>(&bytes)
                .map_err(|err| format!("{}: {err}", shown.display()))
        })
        .and_then(|file| {
            if file.id != id {
                return Err(format!("{} answers request `{}`", shown.display(), file.id));
            }
            file.into_result()
        });
    let _ = waiter.send(answer);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn protocol(file: &str) -> String {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../stages/protocol")
            .join(file);
        fs_err::read_to_string(path).unwrap()
    }

    /// The Python side's tests read the same files: a field renamed on one side fails here.
    #[test]
    fn the_shared_fixtures_are_what_this_side_reads_and_writes() {
        let job: SessionJob = serde_json::from_str(&protocol("resolve-session.json")).unwrap();
        assert_eq!(job.socket, SOCKET_MOUNT);
        assert_eq!(
            (job.requests.as_str(), job.out.as_str()),
            (REQUESTS_MOUNT, OUT_MOUNT)
        );
        let request: Request = serde_json::from_str(&protocol("resolve-request.json")).unwrap();
        assert_eq!(request.id, "7");
        let ok: ResultFile = serde_json::from_str(&protocol("resolve-result-ok.json")).unwrap();
        let resolution = ok.into_result().unwrap().unwrap();
        assert_eq!(resolution.roots, ["hatch-vcs", "hatchling"]);
        assert!(
            resolution
                .pins
                .iter()
                .any(|pin| pin.name == "setuptools-scm" && pin.requires_python.is_some())
        );
        assert_eq!(
            resolution.dependencies["hatch-vcs"],
            ["hatchling", "setuptools-scm"]
        );
        let error: ResultFile =
            serde_json::from_str(&protocol("resolve-result-error.json")).unwrap();
        let error = error.into_result().unwrap().unwrap_err();
        assert_eq!(error.kind, "no-sdist");
        assert_eq!(
            error.sdist_versions.as_deref(),
            Some(&["0.12.1".to_owned()][..])
        );
        assert!(resolved_id(r#"offline-build-event {"event": "resolved", "id": "7"}"#).is_some());
        assert!(
            resolved_id(r#"offline-build-event {"event": "resolved", "id": "../7"}"#).is_none()
        );
    }

    #[test]
    fn the_stage_list_is_the_directory() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stages/resolve");
        let mut found: Vec<String> = fs_err::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".py"))
            .map(|name| format!("resolve/{name}"))
            .collect();
        found.sort();
        let listed: Vec<&str> = STAGE_FILES.iter().map(|(path, _)| *path).collect();
        assert_eq!(found, listed, "add the file to STAGE_FILES (sorted)");
    }
}
