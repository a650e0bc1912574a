//! What a hostile build hook can ask of the index proxy during resolve, sent as raw HTTP over
//! TCP so nothing cleans the request up first: absolute-form URLs naming other hosts, CONNECT,
//! path traversal (plain and percent-encoded), files not listed, a wheel. The proxy must answer
//! only project pages and listed sdists, and never open a connection anywhere but the index.
//! "Another host" is a listener this test starts on loopback, so a connection to it is seen.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ob_index::{IndexClient, IndexProxy, IndexSource, IndexUrl, Listen, ProxyConfig};
use ob_testkit::index::{IndexEntry, TestIndex};

fn entries() -> Vec<IndexEntry> {
    ["demo-1.0.tar.gz", "demo-1.0-py3-none-any.whl"]
        .into_iter()
        .map(|filename| IndexEntry {
            project: "demo".to_owned(),
            filename: filename.to_owned(),
            bytes: filename.as_bytes().to_vec(),
            upload_time: Some("2024-01-01T00:00:00Z".to_owned()),
            requires_python: None,
        })
        .collect()
}

/// A listener standing in for every host the proxy must never reach; counts connections.
fn other_host() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let seen = connections.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            seen.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });
    (address, connections)
}

/// Sends `request` as is and returns the status code of the answer.
fn raw(proxy: SocketAddr, request: &str) -> u16 {
    let mut stream = TcpStream::connect(proxy).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn get(proxy: SocketAddr, target: &str) -> u16 {
    raw(
        proxy,
        &format!("GET {target} HTTP/1.1\r\nhost: {proxy}\r\nconnection: close\r\n\r\n"),
    )
}

struct Setup {
    index: TestIndex,
    proxy: IndexProxy,
    /// The proxy's sdist store; bound by every test so that it outlives the proxy.
    _store: tempfile::TempDir,
    other: SocketAddr,
    other_connections: Arc<AtomicUsize>,
}

async fn setup() -> Setup {
    let index = TestIndex::serve(entries());
    let client =
        IndexClient::new(IndexUrl::parse(&index.url(), IndexSource::CommandLine).unwrap()).unwrap();
    let store = tempfile::tempdir().unwrap();
    let proxy = IndexProxy::start(
        client,
        Listen::Tcp("127.0.0.1:0".parse().unwrap()),
        ProxyConfig {
            serve_archives: true,
            ..ProxyConfig::new(store.path())
        },
    )
    .await
    .unwrap();
    let (other, other_connections) = other_host();
    Setup {
        index,
        proxy,
        _store: store,
        other,
        other_connections,
    }
}

/// Everything the index saw must be a project page or a file under `/files/`.
fn assert_index_saw_only_pages_and_files(index: &TestIndex) {
    for path in index.requests() {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let fine = matches!(segments.as_slice(), ["simple", name] if !name.is_empty() && !name.contains('%') && *name != ".." && *name != ".")
            || path.starts_with("/files/");
        assert!(fine, "the index was asked for `{path}`");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_answers_only_pages_and_listed_sdists_and_reaches_no_other_host() {
    let Setup {
        index,
        proxy,
        _store,
        other,
        other_connections,
    } = setup().await;
    let address = proxy.address().unwrap();
    let answers = tokio::task::spawn_blocking(move || {
        let absolute = format!("http://{other}/simple/demo/");
        vec![
            // Positive control: the real thing works.
            ("page", get(address, "/simple/demo/")),
            ("listed sdist", get(address, "/files/demo/demo-1.0.tar.gz")),
            // Refused.
            (
                "absolute-form URL",
                get(address, &format!("http://{other}/x")),
            ),
            (
                "CONNECT",
                raw(
                    address,
                    &format!(
                        "CONNECT {other} HTTP/1.1\r\nhost: {other}\r\nconnection: close\r\n\r\n"
                    ),
                ),
            ),
            (
                "POST",
                raw(
                    address,
                    "POST /simple/demo/ HTTP/1.1\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                ),
            ),
            ("traversal", get(address, "/simple/../../etc/passwd")),
            (
                "encoded traversal in a file",
                get(address, "/files/demo/..%2f..%2fetc%2fpasswd"),
            ),
            ("unlisted file", get(address, "/files/demo/demo-9.9.tar.gz")),
            (
                "listed wheel",
                get(address, "/files/demo/demo-1.0-py3-none-any.whl"),
            ),
            ("other path", get(address, "/pypi/demo/json")),
            ("root", get(address, "/")),
            // Absolute-form naming another host for a real path: served from the index, if at all.
            ("absolute-form page", get(address, &absolute)),
        ]
    })
    .await
    .unwrap();
    let by_name: std::collections::BTreeMap<_, _> = answers.into_iter().collect();
    assert_eq!(by_name["page"], 200, "{by_name:?}");
    assert_eq!(by_name["listed sdist"], 200, "{by_name:?}");
    for refused in [
        "absolute-form URL",
        "CONNECT",
        "POST",
        "traversal",
        "encoded traversal in a file",
        "unlisted file",
        "listed wheel",
        "other path",
        "root",
    ] {
        assert!(
            (400..500).contains(&by_name[refused]),
            "{refused} answered {}: {by_name:?}",
            by_name[refused]
        );
    }
    assert_eq!(
        other_connections.load(Ordering::SeqCst),
        0,
        "the proxy connected to another host"
    );
    assert_index_saw_only_pages_and_files(&index);
    // The wheel and the unlisted file are recorded as refusals; only the sdist was served.
    assert_eq!(
        proxy.served().keys().cloned().collect::<Vec<_>>(),
        vec!["demo-1.0.tar.gz".to_owned()]
    );
    proxy.stop().await;
}

/// Regression, found by this suite: `IndexUrl::project_url` joins the requested name onto the index URL
/// with `Url::join`, which reads `%2e%2e` as `..`; so `/simple/%2e%2e` makes the proxy fetch the
/// index's root page (and with a scheme, see below, any URL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encoded_dot_dot_project_name_stays_a_project_name() {
    let Setup {
        index,
        proxy,
        _store,
        ..
    } = setup().await;
    let address = proxy.address().unwrap();
    let status = tokio::task::spawn_blocking(move || get(address, "/simple/%2e%2e/"))
        .await
        .unwrap();
    assert!((400..500).contains(&status), "answered {status}");
    assert_index_saw_only_pages_and_files(&index);
    proxy.stop().await;
}

/// Regression, found by this suite: a project name such as `https:2130706433:<port>` (a decimal IPv4
/// address, since dots are normalised away) is an absolute URL to `Url::join`, so a build hook in
/// the resolve container can make the proxy, which runs on the host, connect to any address
/// and port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_name_that_reads_as_a_url_reaches_no_other_host() {
    let Setup {
        proxy,
        _store,
        other,
        other_connections,
        ..
    } = setup().await;
    let address = proxy.address().unwrap();
    let decimal = u32::from(match other.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(_) => unreachable!("bound to 127.0.0.1"),
    });
    let target = format!("/simple/https:{decimal}:{}/", other.port());
    let status = tokio::task::spawn_blocking(move || get(address, &target))
        .await
        .unwrap();
    assert_eq!(
        other_connections.load(Ordering::SeqCst),
        0,
        "the proxy connected to {other} (answer {status})"
    );
    proxy.stop().await;
}
