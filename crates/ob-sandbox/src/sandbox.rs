//! The connection to Docker, the labels that mark our containers and networks, internal networks
//! for the resolve stage, and the sweep that removes what a killed process left behind.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{Ipam, NetworkCreateRequest};
use bollard::query_parameters::{
    InspectNetworkOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};
use tokio::sync::Notify;

use crate::error::{SandboxError, is_conflict, is_not_found};

/// Label on every container and network we create: the pid of the process that owns it.
pub const LABEL_OWNER_PID: &str = "org.offline-build.owner-pid";
/// Label with the host's boot id, so a pid is only judged alive or dead on the machine (and boot)
/// that created the object.
pub const LABEL_OWNER_BOOT: &str = "org.offline-build.owner-boot";
/// Label with the owner's PID namespace (`pid:[inode]`, as `/proc/self/ns/pid` names it): a pid
/// is only judged from a process in the same namespace. Two jobs in different namespaces (two
/// CI containers sharing one daemon) see different pids, and must not take each other's for dead.
pub const LABEL_OWNER_PIDNS: &str = "org.offline-build.owner-pidns";
/// Label with the Unix time after which no owner still wants the container: its creation plus
/// its timeout plus [`EXPIRY_GRACE`]. Past it, anyone's sweep removes it, whatever namespace or
/// boot it came from.
pub const LABEL_EXPIRES: &str = "org.offline-build.expires";
/// What a container's expiry adds to its timeout: its owner stops it at the timeout and then
/// takes a few seconds to remove it.
pub const EXPIRY_GRACE: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// Label naming what a container is for, e.g. `build:idna-3.10` (from [`crate::RunSpec::label`]).
pub const LABEL_RUN: &str = "org.offline-build.run";

/// A connection to the Docker daemon. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub(crate) docker: Docker,
    /// Where the daemon is (DOCKER_HOST or the default), to reconnect from a cleanup thread.
    pub(crate) host: Arc<str>,
}

impl Sandbox {
    /// Connects to the daemon named by `DOCKER_HOST` (else the default local socket) and negotiates
    /// the API version, so Docker Engine 20.10 (API 1.41) and newer all work.
    pub async fn connect() -> Result<Sandbox, SandboxError> {
        let host = docker_host();
        let unreachable = |source| SandboxError::Unreachable {
            host: host.clone(),
            source,
        };
        let docker = Docker::connect_with_defaults().map_err(unreachable)?;
        // Negotiation also proves the daemon answers: it is the first request we make.
        let docker = docker.negotiate_version().await.map_err(unreachable)?;
        docker.ping().await.map_err(unreachable)?;
        Ok(Sandbox {
            docker,
            host: Arc::from(host.as_str()),
        })
    }

    /// The OCI runtimes the daemon knows (`runc`, and `runsc` once gVisor is registered).
    pub async fn runtimes(&self) -> Result<Vec<String>, SandboxError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|source| SandboxError::docker("read the daemon's info", source))?;
        let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        names.sort();
        Ok(names)
    }

    /// Fails, saying how to register it, unless the daemon knows the runtime `name`.
    pub async fn check_runtime(&self, name: &str) -> Result<(), SandboxError> {
        let known = self.runtimes().await?;
        if known.iter().any(|known| known == name) {
            return Ok(());
        }
        Err(SandboxError::UnknownRuntime {
            name: name.to_owned(),
            known: known.join(", "),
        })
    }

    /// The underlying client, for what this crate does not wrap.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Creates a bridge network with `internal: true` (no route out of the host) named `name`,
    /// labelled as ours. Containers on it reach the host at [`InternalNetwork::gateway`], which is
    /// where the resolve stage's index proxy listens.
    ///
    /// Remove it with [`InternalNetwork::remove`]; dropping it removes it in the background, and
    /// [`Sandbox::remove_leftovers`] catches it if the process was killed.
    pub async fn create_internal_network(
        &self,
        name: &str,
    ) -> Result<InternalNetwork, SandboxError> {
        let request = NetworkCreateRequest {
            name: name.to_string(),
            driver: Some("bridge".to_string()),
            internal: Some(true),
            labels: Some(owner_labels()),
            ipam: Some(Ipam {
                driver: Some("default".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let created = self
            .docker
            .create_network(request)
            .await
            .map_err(|source| {
                SandboxError::docker(format!("create the network `{name}`"), source)
            })?;
        let id = created.id;
        // From here on the network exists; the guard removes it if anything below fails.
        let mut network = InternalNetwork {
            sandbox: self.clone(),
            name: name.to_string(),
            id: id.clone(),
            gateway: IpAddr::from([0, 0, 0, 0]),
            removed: false,
        };
        let inspected = self
            .docker
            .inspect_network(&id, None::<InspectNetworkOptions>)
            .await
            .map_err(|source| {
                SandboxError::docker(format!("inspect the network `{name}`"), source)
            })?;
        let gateway = inspected
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|config| config.gateway)
            .filter_map(|gateway| gateway.parse::<IpAddr>().ok())
            .find(IpAddr::is_ipv4);
        match gateway {
            Some(gateway) => {
                network.gateway = gateway;
                Ok(network)
            }
            None => {
                network.remove().await?;
                Err(SandboxError::Unexpected {
                    action: format!("create the network `{name}`"),
                    detail: "Docker assigned it no IPv4 gateway".to_string(),
                })
            }
        }
    }

    /// Removes containers and networks labelled as ours whose owner process is dead (killed with
    /// SIGKILL, or a crash), on this machine and boot and in this PID namespace, and containers
    /// past their expiry wherever they came from. Returns how many objects were removed.
    /// Objects of live processes, including this one, are left alone.
    pub async fn remove_leftovers(&self) -> Result<usize, SandboxError> {
        let this_boot = boot_id();
        let this_namespace = pid_namespace();
        let now = unix_now();
        let is_orphan =
            |labels: &HashMap<String, String>| is_orphan(labels, &this_boot, &this_namespace, now);
        let filters = HashMap::from([("label".to_string(), vec![LABEL_OWNER_PID.to_string()])]);
        let mut removed = 0;

        let containers = self
            .docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters.clone()),
                ..Default::default()
            }))
            .await
            .map_err(|source| SandboxError::docker("list containers", source))?;
        for container in containers {
            let (Some(id), Some(labels)) = (container.id, container.labels) else {
                continue;
            };
            if !is_orphan(&labels) {
                continue;
            }
            match self
                .docker
                .remove_container(&id, Some(force_remove()))
                .await
            {
                Ok(()) => removed += 1,
                // Someone else removed it meanwhile, or is removing it: what we wanted.
                Err(err) if is_not_found(&err) || is_conflict(&err) => {}
                Err(source) => {
                    return Err(SandboxError::docker(
                        format!("remove the leftover container `{id}`"),
                        source,
                    ));
                }
            }
        }

        let networks = self
            .docker
            .list_networks(Some(ListNetworksOptions {
                filters: Some(filters),
            }))
            .await
            .map_err(|source| SandboxError::docker("list networks", source))?;
        for network in networks {
            let (Some(id), Some(labels)) = (network.id, network.labels) else {
                continue;
            };
            if !is_orphan(&labels) {
                continue;
            }
            match self.docker.remove_network(&id).await {
                Ok(()) => removed += 1,
                // Still in use by a container of someone alive (403 "active endpoints"): keep.
                Err(err) if is_not_found(&err) || is_conflict(&err) => {}
                Err(source) => {
                    return Err(SandboxError::docker(
                        format!("remove the leftover network `{id}`"),
                        source,
                    ));
                }
            }
        }
        Ok(removed)
    }
}

/// A Docker network with no route out; see [`Sandbox::create_internal_network`].
#[derive(Debug)]
pub struct InternalNetwork {
    sandbox: Sandbox,
    name: String,
    id: String,
    gateway: IpAddr,
    removed: bool,
}

impl InternalNetwork {
    /// The network's name, for [`crate::Network::Named`].
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's address on this network: bind the index proxy here.
    pub fn gateway(&self) -> IpAddr {
        self.gateway
    }

    /// Removes the network. Containers on it must have been removed first (`run` does that).
    pub async fn remove(mut self) -> Result<(), SandboxError> {
        self.removed = true;
        match self.sandbox.docker.remove_network(&self.id).await {
            Ok(()) => Ok(()),
            Err(err) if is_not_found(&err) => Ok(()),
            Err(source) => Err(SandboxError::docker(
                format!("remove the network `{}`", self.name),
                source,
            )),
        }
    }
}

impl Drop for InternalNetwork {
    fn drop(&mut self) {
        if !self.removed {
            cleanup_in_background(&self.sandbox, Leftover::Network(self.id.clone()));
        }
    }
}

/// What a drop-time cleanup removes.
#[derive(Debug, Clone)]
pub(crate) enum Leftover {
    Container(String),
    /// A container by the name we asked for, whose create call may still be in flight.
    ContainerBeingCreated(String),
    Network(String),
}

/// How long "no such container" is not believed for a container whose create call was
/// interrupted: the daemon may still be creating it. A create takes well under a second; this
/// leaves room for a loaded machine.
const CREATE_IN_FLIGHT: Duration = Duration::from_secs(5);

/// Drop-time cleanups that have not finished, by the order they started in, so that
/// `settle_cleanups` can wait for exactly those that started before it was called, whoever
/// else is waiting too.
struct CleanupsInFlight {
    next: u64,
    running: BTreeSet<u64>,
}

static CLEANUPS_IN_FLIGHT: Mutex<CleanupsInFlight> = Mutex::new(CleanupsInFlight {
    next: 0,
    running: BTreeSet::new(),
});
/// Woken whenever a cleanup finishes.
static CLEANUP_FINISHED: Notify = Notify::const_new();

fn cleanups_in_flight() -> MutexGuard<'static, CleanupsInFlight> {
    // The lock is never held across anything that can panic, so a poisoned one is still sound.
    CLEANUPS_IN_FLIGHT
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// One running cleanup's place in [`CLEANUPS_IN_FLIGHT`]. Dropping it, however the cleanup
/// ends (done, panicked, or never run because the runtime shut down), marks it finished.
struct CleanupTicket(u64);

impl CleanupTicket {
    fn take() -> CleanupTicket {
        let mut in_flight = cleanups_in_flight();
        let number = in_flight.next;
        in_flight.next += 1;
        in_flight.running.insert(number);
        CleanupTicket(number)
    }
}

impl Drop for CleanupTicket {
    fn drop(&mut self) {
        cleanups_in_flight().running.remove(&self.0);
        CLEANUP_FINISHED.notify_waiters();
    }
}

/// Removes `leftover` without blocking the caller. Runs on the runtime's blocking pool, because
/// tokio waits for blocking tasks when the runtime shuts down (the binary's `main` does so with a
/// timeout) but would silently cancel an ordinary task. The cleanup uses its own connection: the
/// caller's may belong to a runtime that is going away.
pub(crate) fn cleanup_in_background(sandbox: &Sandbox, leftover: Leftover) {
    let host = sandbox.host.clone();
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let ticket = CleanupTicket::take();
            // Awaited through the ticket, not the handle.
            drop(handle.spawn_blocking(move || {
                let _ticket = ticket;
                remove_blocking(&host, &leftover);
            }));
        }
        // Not inside a runtime: nothing async is running, so blocking here is harmless.
        Err(_) => {
            let _ = std::thread::spawn(move || remove_blocking(&host, &leftover)).join();
        }
    }
}

/// Runs `work` until it finishes or the process gets SIGINT (Ctrl-C) or SIGTERM, whichever
/// comes first. On a signal, `work` is dropped, the removal of its containers and networks is
/// awaited, and [`SandboxError::Interrupted`] is returned. Commands wrap their whole operation in
/// this: without it, Ctrl-C kills the process at once and only the next
/// [`Sandbox::remove_leftovers`] cleans up.
pub async fn until_interrupted<T>(
    work: impl std::future::Future<Output = T>,
) -> Result<T, SandboxError> {
    use tokio::signal::unix::{SignalKind, signal};
    // Failing to install a handler (no signal driver) must not stop the work: wait forever.
    let mut terminate = signal(SignalKind::terminate()).ok();
    let terminated = async {
        match terminate.as_mut() {
            Some(terminate) => {
                terminate.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let mut work = Box::pin(work);
    let signal = tokio::select! {
        output = &mut work => return Ok(output),
        Ok(()) = tokio::signal::ctrl_c() => "SIGINT",
        () = terminated => "SIGTERM",
    };
    // Dropping the work starts the removals; wait for them so nothing outlives the process.
    drop(work);
    settle_cleanups().await;
    Err(SandboxError::Interrupted { signal })
}

/// Waits until every removal started (by dropping a run or network) before this call has
/// finished, including those another caller is waiting for at the same time.
pub async fn settle_cleanups() {
    let started_before = cleanups_in_flight().next;
    loop {
        // Registered before looking, so a cleanup finishing in between still wakes us.
        let finished = CLEANUP_FINISHED.notified();
        tokio::pin!(finished);
        finished.as_mut().enable();
        let oldest = cleanups_in_flight().running.first().copied();
        match oldest {
            Some(oldest) if oldest < started_before => finished.await,
            _ => return,
        }
    }
}

fn remove_blocking(host: &str, leftover: &Leftover) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    runtime.block_on(async {
        // A fresh client: DOCKER_HOST is what `connect` used, recorded in `host`.
        let Ok(docker) = Docker::connect_with_host(host) else {
            return;
        };
        let Ok(docker) = docker.negotiate_version().await else {
            return;
        };
        // Best effort by design: `remove_leftovers` is the backstop.
        match leftover {
            Leftover::Container(id) => {
                let _ = docker.remove_container(id, Some(force_remove())).await;
            }
            Leftover::ContainerBeingCreated(name) => {
                // The create call may still be on its way through the daemon: "no such
                // container" is believed only once it has held for a while.
                let deadline = Instant::now() + CREATE_IN_FLIGHT;
                let mut pause = Duration::from_millis(50);
                loop {
                    match docker.remove_container(name, Some(force_remove())).await {
                        Err(err) if is_not_found(&err) && Instant::now() < deadline => {
                            tokio::time::sleep(pause).await;
                            pause = (pause * 2).min(Duration::from_millis(500));
                        }
                        _ => break,
                    }
                }
            }
            Leftover::Network(id) => {
                let _ = docker.remove_network(id).await;
            }
        }
    });
}

pub(crate) fn force_remove() -> RemoveContainerOptions {
    RemoveContainerOptions {
        force: true,
        v: true,
        ..Default::default()
    }
}

/// The labels that mark an object as ours and name its owner.
pub(crate) fn owner_labels() -> HashMap<String, String> {
    let mut labels = HashMap::from([
        (LABEL_OWNER_PID.to_string(), std::process::id().to_string()),
        (LABEL_OWNER_BOOT.to_string(), boot_id()),
    ]);
    if let Some(namespace) = pid_namespace() {
        labels.insert(LABEL_OWNER_PIDNS.to_string(), namespace);
    }
    labels
}

/// Whether an object with `labels` is nobody's any more: past its expiry, or (from our boot and
/// PID namespace) owned by a process that is dead. An object without a namespace label (made
/// before there was one) is judged by its pid, as it always was.
fn is_orphan(
    labels: &HashMap<String, String>,
    this_boot: &str,
    this_namespace: &Option<String>,
    now: u64,
) -> bool {
    let expired = labels
        .get(LABEL_EXPIRES)
        .and_then(|time| time.parse::<u64>().ok())
        .is_some_and(|expires| expires < now);
    if expired {
        return true;
    }
    let same_namespace = match (labels.get(LABEL_OWNER_PIDNS), this_namespace) {
        (None, _) => true,
        (Some(theirs), Some(ours)) => theirs == ours,
        (Some(_), None) => false,
    };
    let owner_alive = labels
        .get(LABEL_OWNER_PID)
        .and_then(|pid| pid.parse::<u32>().ok())
        .is_some_and(process_alive);
    labels.get(LABEL_OWNER_BOOT).map(String::as_str) == Some(this_boot)
        && same_namespace
        && !owner_alive
}

/// This process's PID namespace, as `/proc/self/ns/pid` names it (`pid:[4026531836]`).
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|target| target.to_string_lossy().into_owned())
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".to_string())
}

/// The kernel's boot id; stable for one boot, different after a reboot.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_string())
        .unwrap_or_default()
}

fn process_alive(pid: u32) -> bool {
    // A zombie still has a /proc entry but is dead for our purposes.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}
