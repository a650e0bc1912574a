//! The connection to Docker, the labels that mark our containers and networks, internal networks
//! for the resolve stage, and the sweep that removes what a killed process left behind.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use bollard::Docker;
use bollard::models::{Ipam, NetworkCreateRequest};
use bollard::query_parameters::{
    InspectNetworkOptions, ListContainersOptions, ListNetworksOptions, RemoveContainerOptions,
};

use crate::error::{SandboxError, is_conflict, is_not_found};

/// Label on every container and network we create: the pid of the process that owns it.
pub const LABEL_OWNER_PID: &str = "org.offline-build.owner-pid";
/// Label with the host's boot id, so a pid is only judged alive or dead on the machine (and boot)
/// that created the object.
pub const LABEL_OWNER_BOOT: &str = "org.offline-build.owner-boot";
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
    /// SIGKILL, or a crash), on this machine and boot. Returns how many objects were removed.
    /// Objects of live processes, including this one, are left alone.
    pub async fn remove_leftovers(&self) -> Result<usize, SandboxError> {
        let this_boot = boot_id();
        let is_orphan = |labels: &HashMap<String, String>| {
            let owner_alive = labels
                .get(LABEL_OWNER_PID)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(process_alive);
            labels.get(LABEL_OWNER_BOOT).map(String::as_str) == Some(this_boot.as_str())
                && !owner_alive
        };
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
    Network(String),
}

/// Cleanups started from `Drop`, so tests (and careful callers) can wait for them.
static PENDING_CLEANUPS: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Removes `leftover` without blocking the caller. Runs on the runtime's blocking pool, because
/// tokio waits for blocking tasks when the runtime shuts down (the binary's `main` does so with a
/// timeout) but would silently cancel an ordinary task. The cleanup uses its own connection: the
/// caller's may belong to a runtime that is going away.
pub(crate) fn cleanup_in_background(sandbox: &Sandbox, leftover: Leftover) {
    let host = sandbox.host.clone();
    let work = move || remove_blocking(&host, &leftover);
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            let task = handle.spawn_blocking(work);
            if let Ok(mut pending) = PENDING_CLEANUPS.lock() {
                pending.retain(|task| !task.is_finished());
                pending.push(task);
            }
        }
        // Not inside a runtime: nothing async is running, so blocking here is harmless.
        Err(_) => {
            let _ = std::thread::spawn(work).join();
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

/// Waits until every removal started by dropping a run or network has finished.
pub async fn settle_cleanups() {
    loop {
        let task = match PENDING_CLEANUPS.lock() {
            Ok(mut pending) => pending.pop(),
            Err(_) => None,
        };
        match task {
            Some(task) => {
                let _ = task.await;
            }
            None => return,
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
    HashMap::from([
        (LABEL_OWNER_PID.to_string(), std::process::id().to_string()),
        (LABEL_OWNER_BOOT.to_string(), boot_id()),
    ])
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
