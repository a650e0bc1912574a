//! Shared by the container tests: a bridge network and a DNS responder on the Docker bridge's
//! gateway (on this machine: the only addresses a probe may target), and container lookups by
//! label.

#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use ob_sandbox::bollard::models::NetworkCreateRequest;
use ob_sandbox::bollard::query_parameters::{InspectNetworkOptions, ListContainersOptions};
use ob_sandbox::{LABEL_OWNER_BOOT, LABEL_OWNER_PID, LABEL_RUN, Sandbox};

/// The address the DNS responder answers with: TEST-NET-1, documentation only, never contacted.
pub const DNS_ANSWER: &str = "192.0.2.7";

/// A normal (not internal) bridge network made for one test, labelled like ours so that
/// `remove_leftovers` collects it if the test dies before [`BridgeNetwork::remove`]. Dropping
/// it without `remove` (a failed assertion) removes it too, as best it can.
pub struct BridgeNetwork {
    pub name: String,
    pub gateway: IpAddr,
    removed: bool,
}

impl BridgeNetwork {
    pub async fn create(sandbox: &Sandbox, name: &str) -> BridgeNetwork {
        let labels = HashMap::from([
            (LABEL_OWNER_PID.to_string(), std::process::id().to_string()),
            (
                LABEL_OWNER_BOOT.to_string(),
                std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                    .unwrap()
                    .trim()
                    .to_string(),
            ),
        ]);
        sandbox
            .docker()
            .create_network(NetworkCreateRequest {
                name: name.to_string(),
                driver: Some("bridge".to_string()),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .expect("create a bridge network");
        // From here on the guard owns the network, also if the inspection below fails.
        let mut bridge = BridgeNetwork {
            name: name.to_string(),
            gateway: IpAddr::from([0, 0, 0, 0]),
            removed: false,
        };
        let network = sandbox
            .docker()
            .inspect_network(name, None::<InspectNetworkOptions>)
            .await
            .expect("inspect the bridge network");
        bridge.gateway = network
            .ipam
            .and_then(|ipam| ipam.config)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|config| config.gateway)
            .filter_map(|gateway| gateway.parse::<IpAddr>().ok())
            .find(IpAddr::is_ipv4)
            .expect("the bridge network has an IPv4 gateway");
        bridge
    }

    pub async fn remove(mut self, sandbox: &Sandbox) {
        self.removed = true;
        sandbox
            .docker()
            .remove_network(&self.name)
            .await
            .expect("remove the bridge network");
    }
}

impl Drop for BridgeNetwork {
    fn drop(&mut self) {
        if self.removed {
            return;
        }
        let name = self.name.clone();
        // A thread and runtime of its own: this runs inside the test's runtime, while unwinding.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async {
                if let Ok(sandbox) = Sandbox::connect().await {
                    let _ = sandbox.docker().remove_network(&name).await;
                }
            });
        })
        .join();
    }
}

/// A DNS server on `ip:53` that answers every A query with [`DNS_ANSWER`] and records the names.
pub struct DnsResponder {
    pub queries: Arc<Mutex<Vec<String>>>,
}

impl DnsResponder {
    pub async fn start(ip: IpAddr) -> DnsResponder {
        let socket = tokio::net::UdpSocket::bind((ip, 53))
            .await
            .expect("bind UDP port 53 on the gateway (tests run as root)");
        let queries = Arc::new(Mutex::new(Vec::new()));
        let seen = queries.clone();
        tokio::spawn(async move {
            let mut buffer = [0u8; 1500];
            while let Ok((length, peer)) = socket.recv_from(&mut buffer).await {
                if let Some((name, reply)) = dns_reply(&buffer[..length]) {
                    seen.lock().unwrap().push(name);
                    let _ = socket.send_to(&reply, peer).await;
                }
            }
        });
        DnsResponder { queries }
    }

    pub fn queries(&self) -> Vec<String> {
        self.queries.lock().unwrap().clone()
    }
}

/// The answer to one DNS query: the question echoed, and one A record for A queries.
fn dns_reply(query: &[u8]) -> Option<(String, Vec<u8>)> {
    let mut position = 12;
    let mut labels = Vec::new();
    loop {
        let length = usize::from(*query.get(position)?);
        position += 1;
        if length == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(position..position + length)?).into_owned());
        position += length;
    }
    let question = query.get(12..position + 4)?;
    let kind = u16::from_be_bytes([query[position], query[position + 1]]);
    let is_a = kind == 1;
    let mut reply = Vec::new();
    reply.extend_from_slice(&query[..2]);
    reply.extend_from_slice(&[0x81, 0x80, 0, 1, 0, u8::from(is_a), 0, 0, 0, 0]);
    reply.extend_from_slice(question);
    if is_a {
        let answer: std::net::Ipv4Addr = DNS_ANSWER.parse().ok()?;
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&answer.octets());
    }
    Some((labels.join("."), reply))
}

/// IDs of the containers (running or not) whose run label is `label`.
pub async fn containers_labelled(sandbox: &Sandbox, label: &str) -> Vec<String> {
    let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_RUN}={label}")])]);
    sandbox
        .docker()
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|container| container.id)
        .collect()
}

/// A Docker object name (network, container) no other test run uses.
pub fn unique_name(what: &str) -> String {
    format!("ob-test-{what}-{}", unique_suffix())
}

/// A label no other test run uses.
pub fn unique_label(what: &str) -> String {
    format!("test:{what}-{}", unique_suffix())
}

/// This process's id and the clock's nanoseconds: unique across runs and across the tests
/// of one run.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("{}-{nanos}", std::process::id())
}
