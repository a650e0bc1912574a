//! Running one program in one locked-down container: the profile (no network, read-only rootfs,
//! non-root, no capabilities, limits, no host environment), output streamed line by line, the
//! wall-clock timeout, and the guard that removes the container however the run ends.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::container::LogOutput;
use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount as DockerMount, MountType,
};
use bollard::query_parameters::{
    AttachContainerOptions, CreateContainerOptions, InspectContainerOptions, KillContainerOptions,
    StartContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use crate::error::{SandboxError, is_not_found};
use crate::sandbox::{
    LABEL_RUN, Leftover, Sandbox, cleanup_in_background, force_remove, owner_labels,
};

/// The user every container runs as: `nobody:nogroup` on Debian. Numeric, so it works in any
/// image whether or not its `/etc/passwd` names it. Output directories must be writable for it
/// ([`Sandbox::run`] makes the output mount's directory so).
pub const SANDBOX_USER: &str = "65534:65534";

/// `PATH` inside every container unless [`RunSpec::env`] sets another.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A host directory bind-mounted into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Absolute path of an existing directory (or file, for inputs) on the host.
    pub source: PathBuf,
    /// Absolute path inside the container.
    pub target: String,
}

impl Mount {
    /// Mounts `source` at `target`.
    pub fn new(source: impl Into<PathBuf>, target: impl Into<String>) -> Mount {
        Mount {
            source: source.into(),
            target: target.into(),
        }
    }
}

/// Which network the container joins.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Network {
    /// No network at all: only a loopback interface (`network_mode: none`). The default.
    #[default]
    None,
    /// An existing Docker network by name, e.g. one from [`Sandbox::create_internal_network`].
    Named(String),
}

/// Resource limits of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Memory (and memory plus swap: no swap beyond it), in bytes. `/tmp` counts against it.
    pub memory_bytes: i64,
    /// Processes and threads.
    pub pids: i64,
    /// CPU, in billionths of a CPU (`2_000_000_000` = two cores).
    pub nano_cpus: i64,
    /// Size of the `/tmp` tmpfs, in bytes.
    pub tmp_bytes: i64,
}

impl Default for Limits {
    /// 4 GiB memory, 1024 pids, all of this machine's cores (at most 8), 2 GiB of `/tmp`.
    fn default() -> Limits {
        let cores = std::thread::available_parallelism()
            .map(|cores| cores.get())
            .unwrap_or(1)
            .min(8);
        Limits {
            memory_bytes: 4 << 30,
            pids: 1024,
            nano_cpus: i64::try_from(cores).unwrap_or(1) * 1_000_000_000,
            tmp_bytes: 2 << 30,
        }
    }
}

/// What to run and with what. Everything not named here is denied.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Image reference or ID.
    pub image: String,
    /// Program and arguments (no shell involved).
    pub command: Vec<String>,
    /// The only environment the container gets (besides what the image itself sets).
    /// `PATH` defaults to [`DEFAULT_PATH`], `LANG` to `C.UTF-8`, `HOME` to `/tmp`; set them here
    /// to override. Nothing is taken from this process's environment.
    pub env: BTreeMap<String, String>,
    /// Read-only bind mounts.
    pub inputs: Vec<Mount>,
    /// The one writable bind mount, if any. Its host directory is made writable for
    /// [`SANDBOX_USER`].
    pub output: Option<Mount>,
    /// Network; [`Network::None`] unless the caller says otherwise.
    pub network: Network,
    /// Working directory inside the container (default: the image's, usually `/`).
    pub workdir: Option<String>,
    /// Resource limits.
    pub limits: Limits,
    /// Wall-clock limit; the container is killed when it is reached.
    pub timeout: Duration,
    /// `/etc/hosts` entries, `"name:ip"`, e.g. the index proxy's name at the gateway.
    pub extra_hosts: Vec<String>,
    /// Nameservers for the container's `/etc/resolv.conf`; empty leaves Docker's default.
    pub dns: Vec<String>,
    /// What this run is for, e.g. `build:idna-3.10`; stored as a label, shown in errors.
    pub label: String,
    /// The OCI runtime the daemon runs it under (`runsc` for gVisor); `None`: the daemon's
    /// default (runc). Check a name first with [`crate::Sandbox::check_runtime`].
    pub runtime: Option<String>,
    /// Most bytes the output directory may hold on disk (its files' allocated blocks, so a
    /// sparse file counts what it really takes): past it, the container is killed
    /// ([`RunOutcome::output_exceeded`]). Checked every [`OUTPUT_POLL`], so a fast writer may
    /// overshoot by what it writes in that time. `None`: no limit.
    pub output_limit: Option<u64>,
}

/// How often a run's output directory is measured against [`RunSpec::output_limit`].
pub const OUTPUT_POLL: Duration = Duration::from_millis(500);

impl RunSpec {
    /// A spec with the locked-down defaults: no network, no mounts, default limits, one hour.
    pub fn new(
        image: impl Into<String>,
        command: Vec<String>,
        label: impl Into<String>,
    ) -> RunSpec {
        RunSpec {
            image: image.into(),
            command,
            env: BTreeMap::new(),
            inputs: Vec::new(),
            output: None,
            network: Network::None,
            workdir: None,
            limits: Limits::default(),
            timeout: Duration::from_secs(3600),
            extra_hosts: Vec::new(),
            dns: Vec::new(),
            label: label.into(),
            runtime: None,
            output_limit: None,
        }
    }
}

/// One line the program printed, without its line ending. Invalid UTF-8 is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputLine {
    /// A line on standard output.
    Stdout(String),
    /// A line on standard error.
    Stderr(String),
}

/// How a run ended. The container is gone by the time you see this.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    /// The program's exit code (137 when it was killed).
    pub exit_code: i64,
    /// Whether the wall-clock timeout killed it.
    pub timed_out: bool,
    /// Whether the kernel killed it for exceeding the memory limit.
    pub oom_killed: bool,
    /// Whether it was killed for writing more than [`RunSpec::output_limit`] into its output.
    pub output_exceeded: bool,
    /// From start to exit.
    pub duration: Duration,
}

impl RunOutcome {
    /// Exited 0 within its time and its output budget.
    pub fn success(&self) -> bool {
        self.exit_code == 0 && !self.timed_out && !self.output_exceeded
    }
}

/// Bytes the files under `path` take on disk (allocated blocks), links not followed; stops
/// counting past `limit` (more entries than a real output holds count as past it too).
fn disk_usage(path: &std::path::Path, limit: u64) -> u64 {
    use std::os::unix::fs::MetadataExt as _;
    const MAX_ENTRIES: usize = 1_000_000;
    let mut total = 0u64;
    let mut entries = 0usize;
    let mut pending = vec![path.to_path_buf()];
    while let Some(directory) = pending.pop() {
        let Ok(listing) = std::fs::read_dir(&directory) else {
            continue;
        };
        for entry in listing.flatten() {
            entries += 1;
            if entries > MAX_ENTRIES {
                return u64::MAX;
            }
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            total = total.saturating_add(metadata.blocks().saturating_mul(512));
            if total > limit {
                return total;
            }
            if metadata.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    total
}

/// Lines longer than this are cut into pieces, so a program printing without newlines cannot
/// make us buffer without bound.
const MAX_LINE: usize = 64 * 1024;

/// How long an exit by SIGKILL that we did not send waits for Docker to report an OOM kill.
const OOM_REPORT_DELAY: Duration = Duration::from_secs(2);

impl Sandbox {
    /// Runs `spec.command` in a fresh locked-down container and removes it afterwards.
    ///
    /// The profile is fixed: network as `spec.network` (none by default), read-only rootfs,
    /// tmpfs `/tmp` (exec, size-limited), user [`SANDBOX_USER`], every capability dropped,
    /// `no-new-privileges`, memory/pids/CPU limits, inputs read-only, one writable output, and no
    /// environment but `spec.env`. Each line of output is passed to `on_line` as it arrives.
    ///
    /// The container is removed on success, failure and timeout, and also when this future is
    /// dropped (e.g. on Ctrl-C): removal then happens in the background (see
    /// [`crate::settle_cleanups`]). If the whole process is killed, [`Sandbox::remove_leftovers`]
    /// removes it later.
    pub async fn run(
        &self,
        spec: &RunSpec,
        mut on_line: impl FnMut(OutputLine),
    ) -> Result<RunOutcome, SandboxError> {
        let body = container_body(spec)?;
        let name = container_name(&spec.label);
        // Armed before Docker is asked: if this future is dropped while the create call is in
        // flight, the daemon may still create the container, and only the name chosen here can
        // find it then.
        let mut guard = ContainerGuard {
            sandbox: self.clone(),
            name: name.clone(),
            id: None,
            armed: true,
        };
        let options = CreateContainerOptions {
            name: Some(name),
            ..Default::default()
        };
        let created = match self.docker.create_container(Some(options), body).await {
            Ok(created) => created,
            Err(source) => {
                // The daemon answered, so it created nothing. Any other failure (connection
                // lost, client timeout) leaves the guard armed: the container may exist after all.
                if matches!(
                    source,
                    bollard::errors::Error::DockerResponseServerError { .. }
                ) {
                    guard.armed = false;
                }
                return Err(if is_not_found(&source) {
                    SandboxError::ImageMissing {
                        reference: spec.image.clone(),
                        hint: crate::image::missing_hint(&spec.image),
                    }
                } else {
                    SandboxError::docker(
                        format!(
                            "create a container for `{}` from `{}`",
                            spec.label, spec.image
                        ),
                        source,
                    )
                });
            }
        };
        guard.id = Some(created.id.clone());
        let result = self.run_created(&created.id, spec, &mut on_line).await;
        let removed = guard.remove().await;
        let outcome = result?;
        removed?;
        Ok(outcome)
    }

    async fn run_created(
        &self,
        id: &str,
        spec: &RunSpec,
        on_line: &mut impl FnMut(OutputLine),
    ) -> Result<RunOutcome, SandboxError> {
        let what = &spec.label;
        // Attach before starting so not a byte of output is missed, to the stream alone: the
        // container has printed nothing yet, and asking for its logs too made the daemon
        // replay, under load, lines the stream also delivered (a line seen twice).
        let mut attached = self
            .docker
            .attach_container(
                id,
                Some(AttachContainerOptions {
                    stdout: true,
                    stderr: true,
                    stream: true,
                    logs: false,
                    ..Default::default()
                }),
            )
            .await
            .map_err(|source| {
                SandboxError::docker(format!("attach to the container of `{what}`"), source)
            })?;
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(|source| {
                SandboxError::docker(format!("start the container of `{what}`"), source)
            })?;
        let started = Instant::now();

        let to_completion = async {
            let mut stdout = LineSplitter::default();
            let mut stderr = LineSplitter::default();
            while let Some(chunk) = attached.output.next().await {
                match chunk {
                    Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                        stdout.push(&message, &mut |line| on_line(OutputLine::Stdout(line)));
                    }
                    Ok(LogOutput::StdErr { message }) => {
                        stderr.push(&message, &mut |line| on_line(OutputLine::Stderr(line)));
                    }
                    Ok(LogOutput::StdIn { .. }) => {}
                    Err(source) => {
                        return Err(SandboxError::docker(
                            format!("read the output of `{what}`"),
                            source,
                        ));
                    }
                }
            }
            stdout.finish(&mut |line| on_line(OutputLine::Stdout(line)));
            stderr.finish(&mut |line| on_line(OutputLine::Stderr(line)));
            self.wait_exit(id, what).await
        };
        // The output budget: measured on the host while the container runs.
        let output_full = async {
            match (spec.output_limit, &spec.output) {
                (Some(limit), Some(output)) => loop {
                    tokio::time::sleep(OUTPUT_POLL).await;
                    let directory = output.source.clone();
                    let used = tokio::task::spawn_blocking(move || disk_usage(&directory, limit))
                        .await
                        .unwrap_or(0);
                    if used > limit {
                        break;
                    }
                },
                _ => std::future::pending().await,
            }
        };
        let stopped = tokio::select! {
            exit_code = to_completion => Ok(exit_code),
            () = tokio::time::sleep(spec.timeout) => Err(false),
            () = output_full => Err(true),
        };
        let mut output_exceeded = false;
        let (exit_code, timed_out) = match stopped {
            Ok(exit_code) => (exit_code?, false),
            Err(full) => {
                output_exceeded = full;
                let killed = self
                    .docker
                    .kill_container(
                        id,
                        Some(KillContainerOptions {
                            signal: "KILL".to_string(),
                        }),
                    )
                    .await;
                match killed {
                    // 409: it exited just now on its own, which is as good.
                    Ok(())
                    | Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 409,
                        ..
                    }) => {}
                    Err(source) => {
                        return Err(SandboxError::docker(
                            format!("kill `{what}` past its time or output budget"),
                            source,
                        ));
                    }
                }
                (self.wait_exit(id, what).await?, !output_exceeded)
            }
        };
        let duration = started.elapsed();
        // Only a SIGKILL we did not send can be an OOM kill that Docker has not heard of yet.
        let oom_killed = self
            .oom_killed(id, exit_code == 137 && !timed_out && !output_exceeded)
            .await;
        Ok(RunOutcome {
            exit_code,
            timed_out,
            oom_killed,
            output_exceeded,
            duration,
        })
    }

    /// Whether the kernel killed the container for exceeding its memory limit. containerd
    /// reports the OOM kill and the exit as separate events, and Docker may hear of the OOM kill
    /// only after we saw the exit; with `may_be_late`, a "no" is asked again for up to
    /// [`OOM_REPORT_DELAY`] before it is believed.
    async fn oom_killed(&self, id: &str, may_be_late: bool) -> bool {
        let deadline = Instant::now() + OOM_REPORT_DELAY;
        loop {
            let flagged = self
                .docker
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
                .ok()
                .and_then(|inspected| inspected.state)
                .and_then(|state| state.oom_killed)
                .unwrap_or(false);
            if flagged || !may_be_late || Instant::now() >= deadline {
                return flagged;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for the container to stop and returns its exit code.
    async fn wait_exit(&self, id: &str, what: &str) -> Result<i64, SandboxError> {
        let mut waiting = self.docker.wait_container(
            id,
            Some(WaitContainerOptions {
                condition: "not-running".to_string(),
            }),
        );
        match waiting.next().await {
            Some(Ok(response)) => Ok(response.status_code),
            // bollard turns every non-zero exit into this error; it is an answer, not a failure.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(source)) => Err(SandboxError::docker(
                format!("wait for `{what}` to exit"),
                source,
            )),
            None => Err(SandboxError::Unexpected {
                action: format!("wait for `{what}` to exit"),
                detail: "Docker ended the wait without an exit code".to_string(),
            }),
        }
    }
}

/// Removes its container when dropped, unless `remove` already did or it was never created.
struct ContainerGuard {
    sandbox: Sandbox,
    /// The name we gave the container; known before Docker is asked to create it.
    name: String,
    /// Docker's ID, once the create call has returned it.
    id: Option<String>,
    armed: bool,
}

impl ContainerGuard {
    async fn remove(mut self) -> Result<(), SandboxError> {
        self.armed = false;
        let target = self.id.clone().unwrap_or_else(|| self.name.clone());
        match self
            .sandbox
            .docker
            .remove_container(&target, Some(force_remove()))
            .await
        {
            Ok(()) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(source) => {
                // Leave it to the background remover rather than leak it.
                cleanup_in_background(&self.sandbox, Leftover::Container(target.clone()));
                Err(SandboxError::docker(
                    format!("remove the container `{target}`"),
                    source,
                ))
            }
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        if self.armed {
            let leftover = match &self.id {
                Some(id) => Leftover::Container(id.clone()),
                None => Leftover::ContainerBeingCreated(self.name.clone()),
            };
            cleanup_in_background(&self.sandbox, leftover);
        }
    }
}

/// A name no other container has: ours (pid, then a counter, then the time, so not even a
/// leftover of an earlier process with the same pid has it), and readable in `docker ps`.
fn container_name(label: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let sequence = NEXT.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|since| since.subsec_nanos())
        .unwrap_or(0);
    // Docker allows `[a-zA-Z0-9][a-zA-Z0-9_.-]*` in names; the label may hold anything.
    let readable: String = label
        .chars()
        .take(48)
        .map(|char| {
            if char.is_ascii_alphanumeric() || matches!(char, '_' | '.' | '-') {
                char
            } else {
                '-'
            }
        })
        .collect();
    format!(
        "ob-{readable}-{}-{sequence}-{nanos:08x}",
        std::process::id()
    )
}

/// The container's full configuration: the locked-down profile plus what `spec` asks for.
fn container_body(spec: &RunSpec) -> Result<ContainerCreateBody, SandboxError> {
    let mut mounts = Vec::new();
    for input in &spec.inputs {
        check_mount(input, false)?;
        mounts.push(bind(input, true));
    }
    if let Some(output) = &spec.output {
        check_mount(output, true)?;
        make_writable_for_sandbox(&output.source)?;
        mounts.push(bind(output, false));
    }

    let mut env = BTreeMap::from([
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("LANG".to_string(), "C.UTF-8".to_string()),
        ("HOME".to_string(), "/tmp".to_string()),
    ]);
    env.extend(spec.env.clone());

    let network_mode = match &spec.network {
        Network::None => "none".to_string(),
        Network::Named(name) => name.clone(),
    };
    let mut labels = owner_labels();
    labels.insert(LABEL_RUN.to_string(), spec.label.clone());
    if let Some(expires) = crate::sandbox::unix_now()
        .checked_add(spec.timeout.as_secs())
        .and_then(|time| time.checked_add(crate::sandbox::EXPIRY_GRACE.as_secs()))
    {
        labels.insert(
            crate::sandbox::LABEL_EXPIRES.to_string(),
            expires.to_string(),
        );
    }

    let host_config = HostConfig {
        network_mode: Some(network_mode),
        readonly_rootfs: Some(true),
        tmpfs: Some(HashMap::from([(
            "/tmp".to_string(),
            format!("rw,exec,nosuid,nodev,size={}", spec.limits.tmp_bytes),
        )])),
        cap_drop: Some(vec!["ALL".to_string()]),
        security_opt: Some(vec!["no-new-privileges".to_string()]),
        privileged: Some(false),
        memory: Some(spec.limits.memory_bytes),
        memory_swap: Some(spec.limits.memory_bytes),
        pids_limit: Some(spec.limits.pids),
        nano_cpus: Some(spec.limits.nano_cpus),
        ipc_mode: Some("private".to_string()),
        mounts: Some(mounts),
        extra_hosts: (!spec.extra_hosts.is_empty()).then(|| spec.extra_hosts.clone()),
        dns: (!spec.dns.is_empty()).then(|| spec.dns.clone()),
        runtime: spec.runtime.clone(),
        // Output is read through the attach stream. The daemon's own copy is bounded whatever
        // its defaults, so a build that prints without end fills no disk of the daemon's (the
        // `none` driver would keep nothing, but Docker 20.10 then attaches no output either).
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".to_string()),
            config: Some(HashMap::from([
                ("max-size".to_string(), "1m".to_string()),
                ("max-file".to_string(), "1".to_string()),
            ])),
        }),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        cmd: Some(spec.command.clone()),
        // The image's entrypoint would wrap our command in whatever it likes.
        entrypoint: Some(vec![]),
        user: Some(SANDBOX_USER.to_string()),
        env: Some(
            env.into_iter()
                .map(|(key, value)| format!("{key}={value}"))
                .collect(),
        ),
        working_dir: spec.workdir.clone(),
        labels: Some(labels),
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        tty: Some(false),
        open_stdin: Some(false),
        network_disabled: Some(matches!(spec.network, Network::None)),
        host_config: Some(host_config),
        ..Default::default()
    })
}

fn bind(mount: &Mount, read_only: bool) -> DockerMount {
    DockerMount {
        source: Some(mount.source.display().to_string()),
        target: Some(mount.target.clone()),
        typ: Some(MountType::BIND),
        read_only: Some(read_only),
        ..Default::default()
    }
}

fn check_mount(mount: &Mount, must_be_dir: bool) -> Result<(), SandboxError> {
    let problem = |problem: &str| SandboxError::Mount {
        source_path: mount.source.clone(),
        target: mount.target.clone(),
        problem: problem.to_string(),
    };
    if !mount.source.is_absolute() {
        return Err(problem("the host path must be absolute"));
    }
    if !mount.target.starts_with('/') {
        return Err(problem("the container path must be absolute"));
    }
    match std::fs::metadata(&mount.source) {
        Ok(meta) if must_be_dir && !meta.is_dir() => Err(problem("it is not a directory")),
        Ok(_) => Ok(()),
        Err(_) => Err(problem("it does not exist")),
    }
}

/// The sandbox user is not the directory's owner, so it needs write permission for everyone;
/// the directory is the caller's fresh, per-run output directory, not shared with anything.
fn make_writable_for_sandbox(dir: &Path) -> Result<(), SandboxError> {
    use std::os::unix::fs::PermissionsExt;
    fs_err::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).map_err(|source| {
        SandboxError::io(
            format!(
                "could not make the output directory `{}` writable for the container",
                dir.display()
            ),
            source,
        )
    })
}

/// Cuts a byte stream into lines.
#[derive(Default)]
struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    fn push(&mut self, bytes: &[u8], emit: &mut impl FnMut(String)) {
        for &byte in bytes {
            if byte == b'\n' {
                self.flush(emit);
            } else {
                self.pending.push(byte);
                if self.pending.len() >= MAX_LINE {
                    self.flush(emit);
                }
            }
        }
    }

    fn finish(&mut self, emit: &mut impl FnMut(String)) {
        if !self.pending.is_empty() {
            self.flush(emit);
        }
    }

    fn flush(&mut self, emit: &mut impl FnMut(String)) {
        if self.pending.last() == Some(&b'\r') {
            self.pending.pop();
        }
        emit(String::from_utf8_lossy(&self.pending).into_owned());
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_splitter_joins_chunks_and_keeps_the_unterminated_tail() {
        let mut splitter = LineSplitter::default();
        let mut lines = Vec::new();
        splitter.push(b"one\ntw", &mut |line| lines.push(line));
        splitter.push(b"o\r\nthree", &mut |line| lines.push(line));
        splitter.finish(&mut |line| lines.push(line));
        assert_eq!(lines, ["one", "two", "three"]);
    }

    #[test]
    fn a_relative_mount_is_refused_with_its_path() {
        let mut spec = RunSpec::new("image", vec!["true".into()], "test");
        spec.inputs.push(Mount::new("relative/dir", "/in"));
        let err = container_body(&spec).unwrap_err().to_string();
        assert!(
            err.contains("relative/dir") && err.contains("absolute"),
            "{err}"
        );
    }

    /// Docker refuses a create whose name breaks its pattern, and the label may hold anything.
    #[test]
    fn container_names_are_valid_for_docker_and_unique() {
        let first = container_name("build:idna-3.10 (sdist)/ü");
        let second = container_name("build:idna-3.10 (sdist)/ü");
        assert_ne!(first, second);
        assert!(first.starts_with("ob-build-idna-3.10--sdist---"), "{first}");
        assert!(
            first
                .chars()
                .all(|char| char.is_ascii_alphanumeric() || matches!(char, '_' | '.' | '-')),
            "{first}"
        );
    }

    #[test]
    fn the_profile_is_locked_down_whatever_the_spec() {
        let spec = RunSpec::new("image", vec!["true".into()], "test");
        let body = container_body(&spec).unwrap();
        let host = body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.cap_drop, Some(vec!["ALL".to_string()]));
        assert_eq!(body.user.as_deref(), Some(SANDBOX_USER));
        // The daemon's copy of the output is bounded, whatever its own defaults.
        let logs = host.log_config.unwrap();
        assert_eq!(logs.typ.as_deref(), Some("json-file"));
        assert_eq!(logs.config.unwrap()["max-size"], "1m");
        assert_eq!(host.runtime, None);
        let env = body.env.unwrap();
        assert_eq!(
            env,
            ["HOME=/tmp", "LANG=C.UTF-8", &format!("PATH={DEFAULT_PATH}")]
        );
    }
}
