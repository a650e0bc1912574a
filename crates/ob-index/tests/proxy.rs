//! The index client and the recording proxy against a real HTTP index served on loopback by the
//! test itself (ob_testkit::index): what the proxy lets through (over TCP and a unix socket),
//! what it records, what it refuses, and the sdist store behind it.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ob_index::{
    IndexClient, IndexError, IndexProxy, IndexSource, IndexUrl, Listen, MetadataSource,
    ProxyConfig, ServedFile,
};
use ob_testkit::index::{IndexEntry, Misbehaviour, TestIndex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn entry(project: &str, filename: &str, content: &str, uploaded: &str) -> IndexEntry {
    IndexEntry {
        project: project.to_string(),
        filename: filename.to_string(),
        bytes: content.as_bytes().to_vec(),
        upload_time: Some(uploaded.to_string()),
        requires_python: None,
    }
}

fn demo_entries() -> Vec<IndexEntry> {
    vec![
        entry(
            "Demo",
            "demo-1.0.tar.gz",
            "sdist one",
            "2024-01-01T00:00:00Z",
        ),
        entry(
            "Demo",
            "demo-1.0-py3-none-any.whl",
            "a wheel",
            "2024-01-01T00:00:00Z",
        ),
        entry(
            "Demo",
            "demo-2.0.tar.gz",
            "sdist two",
            "2025-06-01T00:00:00Z",
        ),
    ]
}

fn client_for(index: &TestIndex) -> IndexClient {
    IndexClient::new(IndexUrl::parse(&index.url(), IndexSource::CommandLine).unwrap()).unwrap()
}

/// Today's behaviour: archives served to whoever asks, no metadata.
fn archive_config(store: &Path) -> ProxyConfig {
    ProxyConfig {
        serve_archives: true,
        ..ProxyConfig::new(store)
    }
}

async fn start_proxy(index: &TestIndex, config: ProxyConfig) -> IndexProxy {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    IndexProxy::start(client_for(index), Listen::Tcp(loopback), config)
        .await
        .unwrap()
}

fn base(proxy: &IndexProxy) -> String {
    format!("http://{}", proxy.address().unwrap())
}

/// How many times the upstream index was asked for a file (not a page).
fn downloads(index: &TestIndex) -> usize {
    index
        .requests()
        .iter()
        .filter(|path| path.starts_with("/files/"))
        .count()
}

async fn get(url: &str, json: bool) -> (u16, String, Vec<u8>) {
    let request = reqwest::Client::new().get(url);
    let request = if json {
        request.header("accept", "application/vnd.pypi.simple.v1+json")
    } else {
        request.header("accept", "text/html")
    };
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        content_type,
        response.bytes().await.unwrap().to_vec(),
    )
}

#[tokio::test]
async fn client_reads_json_and_html_pages_alike() {
    for html_only in [false, true] {
        let index = TestIndex::serve_with(
            demo_entries(),
            Misbehaviour {
                html_only,
                ..Misbehaviour::default()
            },
        );
        let page = client_for(&index).project("DEMO").await.unwrap();
        assert_eq!(page.name, "demo");
        let names: Vec<&str> = page
            .files
            .iter()
            .map(|file| file.filename.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "demo-1.0.tar.gz",
                "demo-1.0-py3-none-any.whl",
                "demo-2.0.tar.gz"
            ]
        );
        let first = &page.files[0];
        assert_eq!(
            first.sha256.as_deref(),
            Some(demo_entries()[0].sha256().as_str())
        );
        assert!(
            first.url.as_str().ends_with("/files/demo-1.0.tar.gz"),
            "{}",
            first.url
        );
        // HTML (PEP 503) has no upload time or size; JSON (PEP 691/700) has both.
        assert_eq!(first.upload_time.is_some(), !html_only);
        let (bytes, sha256) = client_for(&index).download(first).await.unwrap();
        assert_eq!(bytes.as_ref(), b"sdist one");
        assert_eq!(sha256, demo_entries()[0].sha256());
    }
}

#[tokio::test]
async fn client_names_a_missing_project() {
    let index = TestIndex::serve(demo_entries());
    let err = client_for(&index)
        .project("nothing-here")
        .await
        .unwrap_err();
    assert!(
        matches!(err, IndexError::ProjectNotFound { ref project, .. } if project == "nothing-here"),
        "{err}"
    );
}

/// `allow-binary`: the page of a named release lists its wheels and nothing else (not its
/// sdist, not another version's wheel), and other projects' pages still list no wheel.
#[tokio::test]
async fn an_allowed_release_is_listed_by_its_wheels_alone() {
    let mut entries = demo_entries();
    entries.push(entry(
        "Demo",
        "demo-2.0-py3-none-any.whl",
        "another wheel",
        "2024-01-01T00:00:00Z",
    ));
    entries.push(entry(
        "other",
        "other-1.0-py3-none-any.whl",
        "not allowed",
        "2024-01-01T00:00:00Z",
    ));
    entries.push(entry(
        "other",
        "other-1.0.tar.gz",
        "its sdist",
        "2024-01-01T00:00:00Z",
    ));
    // Another project's wheel of the same version, listed on demo's page by a lying index.
    entries.push(entry(
        "Demo",
        "evil-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",
        "not demo",
        "2024-01-01T00:00:00Z",
    ));
    let index = TestIndex::serve(entries);
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(
        &index,
        ProxyConfig {
            allow_binary: [("demo".to_owned(), "1.0".to_owned())].into(),
            ..archive_config(store.path())
        },
    )
    .await;
    let base = base(&proxy);
    let listed = |page: serde_json::Value| -> Vec<String> {
        page["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|file| file["filename"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, _, body) = get(&format!("{base}/simple/demo/"), true).await;
    assert_eq!(
        listed(serde_json::from_slice(&body).unwrap()),
        ["demo-1.0-py3-none-any.whl"]
    );
    let (_, _, body) = get(&format!("{base}/simple/other/"), true).await;
    assert_eq!(
        listed(serde_json::from_slice(&body).unwrap()),
        ["other-1.0.tar.gz"]
    );
    let (status, _, bytes) = get(
        &format!("{base}/files/demo/demo-1.0-py3-none-any.whl"),
        false,
    )
    .await;
    assert_eq!((status, bytes.as_slice()), (200, b"a wheel".as_slice()));
    for refused in [
        "/files/demo/demo-1.0.tar.gz",
        "/files/demo/demo-2.0-py3-none-any.whl",
        "/files/other/other-1.0-py3-none-any.whl",
        "/files/demo/evil-1.0-cp313-cp313-manylinux_2_17_x86_64.whl",
    ] {
        let (status, _, _) = get(&format!("{base}{refused}"), false).await;
        assert_ne!(status, 200, "{refused}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn proxy_serves_only_sdists_uploaded_before_the_cutoff_and_records_them() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(
        &index,
        ProxyConfig {
            exclude_newer: Some("2024-12-31T00:00:00Z".parse().unwrap()),
            ..archive_config(store.path())
        },
    )
    .await;
    let base = base(&proxy);
    assert_eq!(proxy.simple_url(), format!("{base}/simple/"));

    let (status, content_type, body) = get(&format!("{base}/simple/Demo/"), true).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/vnd.pypi.simple.v1+json");
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 1, "{page}");
    assert_eq!(files[0]["filename"], "demo-1.0.tar.gz");
    assert_eq!(files[0]["url"], "/files/demo/demo-1.0.tar.gz");
    assert_eq!(files[0]["upload-time"], "2024-01-01T00:00:00Z");

    let (status, _, html) = get(&format!("{base}/simple/demo/"), false).await;
    assert_eq!(status, 200);
    let html = String::from_utf8(html).unwrap();
    assert!(
        html.contains("href=\"/files/demo/demo-1.0.tar.gz#sha256="),
        "{html}"
    );
    assert!(
        !html.contains("whl") && !html.contains("demo-2.0"),
        "{html}"
    );

    assert!(proxy.served().is_empty(), "a page is not a served file");
    let (status, _, bytes) = get(&format!("{base}/files/demo/demo-1.0.tar.gz"), false).await;
    assert_eq!((status, bytes.as_slice()), (200, b"sdist one".as_slice()));

    let served = proxy.served();
    let record = &served["demo-1.0.tar.gz"];
    assert_eq!(record.project, "demo");
    assert_eq!(record.sha256, demo_entries()[0].sha256());
    assert_eq!(record.size, 9);
    assert_eq!(
        record.upload_time.unwrap().to_string(),
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(
        record.url,
        format!(
            "{}files/demo-1.0.tar.gz",
            index.url().trim_end_matches("simple/")
        )
    );

    // A wheel, a file newer than the cutoff and anything but the Simple API are refused.
    for path in [
        "/files/demo/demo-1.0-py3-none-any.whl",
        "/files/demo/demo-2.0.tar.gz",
        "/pypi/demo/json",
        "/simple/",
    ] {
        let (status, _, _) = get(&format!("{base}{path}"), false).await;
        assert_eq!(status, 404, "{path}");
    }
    let refused: Vec<String> = proxy
        .refused()
        .into_iter()
        .map(|refusal| refusal.path)
        .collect();
    assert_eq!(
        refused,
        [
            "/files/demo/demo-1.0-py3-none-any.whl",
            "/files/demo/demo-2.0.tar.gz",
            "/pypi/demo/json",
            "/simple/"
        ]
    );
    assert_eq!(proxy.served().len(), 1);
    // The upstream index saw only one page request although the page was asked for twice.
    let page_requests = index
        .requests()
        .iter()
        .filter(|path| path.starts_with("/simple/"))
        .count();
    assert_eq!(page_requests, 1);
    proxy.stop().await;
}

#[tokio::test]
async fn proxy_refuses_a_file_whose_bytes_do_not_match_the_published_hash() {
    let index = TestIndex::serve_with(
        demo_entries(),
        Misbehaviour {
            corrupt: vec!["demo-1.0.tar.gz".into()],
            ..Misbehaviour::default()
        },
    );
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&index, archive_config(store.path())).await;
    let (status, _, body) = get(
        &format!("{}/files/demo/demo-1.0.tar.gz", base(&proxy)),
        false,
    )
    .await;
    assert_eq!(status, 502);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("hash mismatch for `demo-1.0.tar.gz`"),
        "{body}"
    );
    assert!(proxy.served().is_empty());
    let refused = proxy.refused();
    assert!(
        refused[0].reason.contains(&demo_entries()[0].sha256()),
        "{refused:?}"
    );
}

#[tokio::test]
async fn warm_store_serves_without_downloading_again() {
    let cache = tempfile::tempdir().unwrap();
    let index = TestIndex::serve(demo_entries());
    let config = archive_config(cache.path());
    for _ in 0..2 {
        let proxy = start_proxy(&index, config.clone()).await;
        let url = format!("{}/files/demo/demo-2.0.tar.gz", base(&proxy));
        let (status, _, bytes) = get(&url, false).await;
        assert_eq!((status, bytes.as_slice()), (200, b"sdist two".as_slice()));
        assert_eq!(proxy.served()["demo-2.0.tar.gz"].size, 9);
        proxy.stop().await;
    }
    assert_eq!(downloads(&index), 1, "{:?}", index.requests());
    assert!(cache.path().join(demo_entries()[2].sha256()).is_file());
}

#[tokio::test]
async fn stopped_proxy_no_longer_answers() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&index, archive_config(store.path())).await;
    let url = format!("{}/simple/demo/", base(&proxy));
    assert_eq!(get(&url, true).await.0, 200);
    proxy.stop().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}

/// A metadata source that answers from the sdist it is given (so a test sees that it got the
/// verified file), fails for the files it is told to, and records every call.
#[derive(Default)]
struct FakeMetadata {
    fail: Vec<String>,
    calls: Mutex<Vec<String>>,
}

impl MetadataSource for FakeMetadata {
    fn metadata(&self, file: &ServedFile, sdist: &Path) -> Result<Vec<u8>, String> {
        self.calls.lock().unwrap().push(file.filename.clone());
        if self.fail.contains(&file.filename) {
            return Err(format!("`{}` has no metadata we can read", file.filename));
        }
        let content = String::from_utf8(fs_err::read(sdist).unwrap()).unwrap();
        Ok(expected_metadata(&file.project, &content).into_bytes())
    }
}

fn expected_metadata(project: &str, sdist_content: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {project}\nX-Sdist: {sdist_content}\n")
}

fn metadata_config(store: &Path, source: &Arc<FakeMetadata>) -> ProxyConfig {
    ProxyConfig {
        metadata: Some(source.clone() as Arc<dyn MetadataSource>),
        ..ProxyConfig::new(store)
    }
}

/// A GET written by hand over the unix socket: status, content type and body.
async fn get_unix(socket: &Path, target: &str, json: bool) -> (u16, String, Vec<u8>) {
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    let accept = if json {
        "application/vnd.pypi.simple.v1+json"
    } else {
        "text/html"
    };
    let request = format!(
        "GET {target} HTTP/1.1\r\nhost: localhost\r\naccept: {accept}\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8(answer[..split].to_vec()).unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let content_type = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-type")
                .then(|| value.trim().to_string())
        })
        .unwrap_or_default();
    (status, content_type, answer[split + 4..].to_vec())
}

#[tokio::test]
async fn proxy_on_a_unix_socket_answers_and_removes_its_socket_on_stop() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("index.sock");
    // A stale socket from a proxy that is gone: nobody listens, so it is replaced.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists() || fs_err::symlink_metadata(&socket).is_ok());

    let proxy = IndexProxy::start(
        client_for(&index),
        Listen::Unix(socket.clone()),
        archive_config(store.path()),
    )
    .await
    .unwrap();
    assert_eq!(proxy.local(), &Listen::Unix(socket.clone()));
    assert_eq!(proxy.address(), None);
    assert_eq!(proxy.simple_url(), "http://localhost/simple/");
    let metadata = fs_err::symlink_metadata(&socket).unwrap();
    assert!(metadata.file_type().is_socket());
    // The container's user (uid 65534) is not ours, so the socket itself must let anyone in.
    assert_eq!(metadata.permissions().mode() & 0o777, 0o666);

    let (status, content_type, body) = get_unix(&socket, "/simple/demo/", true).await;
    assert_eq!(status, 200);
    assert_eq!(content_type, "application/vnd.pypi.simple.v1+json");
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        page["files"][0]["url"], "/files/demo/demo-1.0.tar.gz",
        "{page}"
    );
    let (status, _, body) = get_unix(&socket, "/files/demo/demo-1.0.tar.gz", false).await;
    assert_eq!((status, body.as_slice()), (200, b"sdist one".as_slice()));
    assert_eq!(
        proxy.served()["demo-1.0.tar.gz"].sha256,
        demo_entries()[0].sha256()
    );

    proxy.stop().await;
    assert!(
        fs_err::symlink_metadata(&socket).is_err(),
        "the socket is still there after stop"
    );
}

#[tokio::test]
async fn a_unix_socket_path_is_never_taken_from_a_file_or_a_live_listener() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let sockets = tempfile::tempdir().unwrap();

    let file = sockets.path().join("not-a-socket");
    fs_err::write(&file, "someone's data").unwrap();
    let err = IndexProxy::start(
        client_for(&index),
        Listen::Unix(file.clone()),
        archive_config(store.path()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, IndexError::NotASocket { ref path } if *path == file),
        "{err}"
    );
    assert_eq!(fs_err::read_to_string(&file).unwrap(), "someone's data");

    let socket = sockets.path().join("index.sock");
    let first = IndexProxy::start(
        client_for(&index),
        Listen::Unix(socket.clone()),
        archive_config(store.path()),
    )
    .await
    .unwrap();
    let err = IndexProxy::start(
        client_for(&index),
        Listen::Unix(socket.clone()),
        archive_config(store.path()),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, IndexError::SocketInUse { .. }), "{err}");
    // The first proxy still answers on its socket.
    assert_eq!(get_unix(&socket, "/simple/demo/", true).await.0, 200);
    first.stop().await;
}

#[tokio::test]
async fn without_archives_an_sdist_is_refused_while_its_page_and_metadata_are_served() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let source = Arc::new(FakeMetadata::default());
    let config = metadata_config(store.path(), &source);
    assert!(
        !config.serve_archives,
        "the constructor's default is no archives"
    );
    let proxy = start_proxy(&index, config).await;
    let base = base(&proxy);

    let (status, _, _) = get(&format!("{base}/simple/demo/"), true).await;
    assert_eq!(status, 200);
    let (status, _, body) = get(&format!("{base}/files/demo/demo-1.0.tar.gz"), false).await;
    assert_eq!(status, 403);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("given metadata only, never an sdist"),
        "{body}"
    );
    let refused = proxy.refused();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].path, "/files/demo/demo-1.0.tar.gz");
    assert!(refused[0].reason.contains("metadata only"), "{refused:?}");
    assert_eq!(
        downloads(&index),
        0,
        "a refused archive is not even fetched"
    );

    let (status, _, body) = get(
        &format!("{base}/files/demo/demo-1.0.tar.gz.metadata"),
        false,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8(body).unwrap(),
        expected_metadata("demo", "sdist one")
    );
    // The host fetched the sdist to compute the metadata; that is recorded as served.
    assert_eq!(downloads(&index), 1);
    assert!(proxy.served().contains_key("demo-1.0.tar.gz"));
    assert_eq!(proxy.refused().len(), 1);
}

#[tokio::test]
async fn metadata_is_advertised_and_served_for_listed_sdists_only() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let source = Arc::new(FakeMetadata {
        fail: vec!["demo-2.0.tar.gz".into()],
        ..FakeMetadata::default()
    });
    let proxy = start_proxy(&index, metadata_config(store.path(), &source)).await;
    let base = base(&proxy);

    let (_, _, body) = get(&format!("{base}/simple/demo/"), true).await;
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let files = page["files"].as_array().unwrap();
    assert_eq!(files.len(), 2, "{page}");
    for file in files {
        assert_eq!(file["core-metadata"], true, "{page}");
        assert_eq!(file["data-dist-info-metadata"], true, "{page}");
    }
    let (_, _, html) = get(&format!("{base}/simple/demo/"), false).await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(
        html.matches(r#"data-core-metadata="true" data-dist-info-metadata="true""#)
            .count(),
        2,
        "{html}"
    );

    let (status, content_type, body) = get(
        &format!("{base}/files/demo/demo-1.0.tar.gz.metadata"),
        false,
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (200, "application/octet-stream")
    );
    assert_eq!(body, expected_metadata("demo", "sdist one").into_bytes());
    // The suffix is read from the decoded name, so an encoded dot means the same file. The
    // source is asked each time: resolve replaces a guess from PKG-INFO with what a build said.
    let (status, _, again) = get(
        &format!("{base}/files/demo/demo-1.0.tar.gz%2emetadata"),
        false,
    )
    .await;
    assert_eq!((status, again), (200, body));
    assert_eq!(
        *source.calls.lock().unwrap(),
        ["demo-1.0.tar.gz", "demo-1.0.tar.gz"]
    );

    // A source that fails is a 502 carrying its text.
    let (status, _, body) = get(
        &format!("{base}/files/demo/demo-2.0.tar.gz.metadata"),
        false,
    )
    .await;
    assert_eq!(status, 502);
    let body = String::from_utf8(body).unwrap();
    assert!(
        body.contains("`demo-2.0.tar.gz` has no metadata we can read"),
        "{body}"
    );

    // Names the page does not list get nothing, and the source is never asked about them.
    for unlisted in [
        "/files/demo/demo-1.0-py3-none-any.whl.metadata",
        "/files/demo/demo-9.9.tar.gz.metadata",
        "/files/demo/.metadata",
        "/files/demo/demo-1.0.tar.gz.metadata.metadata",
    ] {
        let (status, _, _) = get(&format!("{base}{unlisted}"), false).await;
        assert_eq!(status, 404, "{unlisted}");
    }
    assert_eq!(
        *source.calls.lock().unwrap(),
        ["demo-1.0.tar.gz", "demo-1.0.tar.gz", "demo-2.0.tar.gz"]
    );
    let refused: Vec<String> = proxy
        .refused()
        .into_iter()
        .map(|refusal| refusal.path)
        .collect();
    assert_eq!(
        refused,
        [
            "/files/demo/demo-2.0.tar.gz.metadata",
            "/files/demo/demo-1.0-py3-none-any.whl.metadata",
            "/files/demo/demo-9.9.tar.gz.metadata",
            "/files/demo/.metadata",
            "/files/demo/demo-1.0.tar.gz.metadata.metadata",
        ]
    );
}

#[tokio::test]
async fn without_a_metadata_source_pages_promise_no_metadata_and_none_is_served() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&index, archive_config(store.path())).await;
    let base = base(&proxy);
    let (_, _, body) = get(&format!("{base}/simple/demo/"), true).await;
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let first = &page["files"][0];
    assert_eq!(first["filename"], "demo-1.0.tar.gz", "{page}");
    assert!(first.get("core-metadata").is_none(), "{page}");
    assert!(first.get("data-dist-info-metadata").is_none(), "{page}");
    let (_, _, html) = get(&format!("{base}/simple/demo/"), false).await;
    assert!(
        !String::from_utf8(html).unwrap().contains("metadata"),
        "the HTML page promises metadata"
    );
    let (status, _, _) = get(
        &format!("{base}/files/demo/demo-1.0.tar.gz.metadata"),
        false,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(downloads(&index), 0);
}

#[tokio::test]
async fn sdist_gives_the_host_a_verified_file_in_the_store_and_records_it() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&index, ProxyConfig::new(store.path())).await;
    let sha256 = demo_entries()[0].sha256();

    let (path, served) = proxy.sdist("Demo", "demo-1.0.tar.gz").await.unwrap();
    assert_eq!(path, store.path().join(&sha256));
    assert_eq!(fs_err::read(&path).unwrap(), b"sdist one");
    assert_eq!(
        served,
        ServedFile {
            project: "demo".into(),
            filename: "demo-1.0.tar.gz".into(),
            url: format!(
                "{}files/demo-1.0.tar.gz",
                index.url().trim_end_matches("simple/")
            ),
            sha256: sha256.clone(),
            size: 9,
            upload_time: Some("2024-01-01T00:00:00Z".parse().unwrap()),
        }
    );
    assert_eq!(proxy.served()["demo-1.0.tar.gz"], served);
    // Public files, readable by a container's other uid through a read-only mount.
    assert_eq!(
        fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(downloads(&index), 1);

    // A copy in the store is used only while it still has its hash: a damaged one is replaced.
    let (again, _) = proxy.sdist("demo", "demo-1.0.tar.gz").await.unwrap();
    assert_eq!(again, path);
    assert_eq!(downloads(&index), 1, "a good copy in the store is used");
    fs_err::write(&path, "damaged").unwrap();
    let (again, _) = proxy.sdist("demo", "demo-1.0.tar.gz").await.unwrap();
    assert_eq!(fs_err::read(&again).unwrap(), b"sdist one");
    assert_eq!(downloads(&index), 2, "a damaged copy is downloaded again");

    // The host gets what pip would see, and nothing else.
    let err = proxy
        .sdist("demo", "demo-1.0-py3-none-any.whl")
        .await
        .unwrap_err();
    assert!(
        matches!(err, IndexError::NotListed { ref filename, .. } if filename == "demo-1.0-py3-none-any.whl"),
        "{err}"
    );
    assert_eq!(proxy.served().len(), 1);
}

#[tokio::test]
async fn sdist_from_a_corrupt_upstream_fails_and_leaves_nothing_in_the_store() {
    let index = TestIndex::serve_with(
        demo_entries(),
        Misbehaviour {
            corrupt: vec!["demo-1.0.tar.gz".into()],
            ..Misbehaviour::default()
        },
    );
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&index, ProxyConfig::new(store.path())).await;
    let sha256 = demo_entries()[0].sha256();
    let err = proxy.sdist("demo", "demo-1.0.tar.gz").await.unwrap_err();
    assert!(
        matches!(err, IndexError::HashMismatch { ref filename, ref expected, .. } if filename == "demo-1.0.tar.gz" && *expected == sha256),
        "{err}"
    );
    assert!(!store.path().join(&sha256).exists());
    let left: Vec<PathBuf> = fs_err::read_dir(store.path())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert!(left.is_empty(), "the store holds {left:?}");
    assert!(proxy.served().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_one_sdist_download_it_once() {
    let index = TestIndex::serve(demo_entries());
    let store = tempfile::tempdir().unwrap();
    let proxy = start_proxy(&index, archive_config(store.path())).await;
    let url = format!("{}/files/demo/demo-2.0.tar.gz", base(&proxy));
    let (first, second, over_http) = tokio::join!(
        proxy.sdist("demo", "demo-2.0.tar.gz"),
        proxy.sdist("demo", "demo-2.0.tar.gz"),
        get(&url, false),
    );
    let (first, _) = first.unwrap();
    let (second, _) = second.unwrap();
    assert_eq!(first, second);
    assert_eq!(over_http.0, 200);
    assert_eq!(over_http.2, b"sdist two");
    assert_eq!(downloads(&index), 1, "{:?}", index.requests());
}
