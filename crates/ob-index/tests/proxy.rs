//! The index client and the recording proxy against a real HTTP index served on loopback by the
//! test itself (ob_testkit::index): what the proxy lets through, what it records, what it refuses.

use std::net::SocketAddr;

use ob_index::{IndexClient, IndexError, IndexProxy, IndexSource, IndexUrl, ProxyConfig};
use ob_testkit::index::{IndexEntry, Misbehaviour, TestIndex};

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

async fn start_proxy(index: &TestIndex, config: ProxyConfig) -> IndexProxy {
    let loopback: SocketAddr = "127.0.0.1:0".parse().unwrap();
    IndexProxy::start(client_for(index), loopback, config)
        .await
        .unwrap()
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

#[tokio::test]
async fn proxy_serves_only_sdists_uploaded_before_the_cutoff_and_records_them() {
    let index = TestIndex::serve(demo_entries());
    let proxy = start_proxy(
        &index,
        ProxyConfig {
            exclude_newer: Some("2024-12-31T00:00:00Z".parse().unwrap()),
            cache_dir: None,
        },
    )
    .await;
    let base = format!("http://{}", proxy.address());
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
    let proxy = start_proxy(&index, ProxyConfig::default()).await;
    let (status, _, body) = get(
        &format!("http://{}/files/demo/demo-1.0.tar.gz", proxy.address()),
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
async fn warm_cache_serves_without_downloading_again() {
    let cache = tempfile::tempdir().unwrap();
    let index = TestIndex::serve(demo_entries());
    let config = ProxyConfig {
        exclude_newer: None,
        cache_dir: Some(cache.path().to_path_buf()),
    };
    for _ in 0..2 {
        let proxy = start_proxy(&index, config.clone()).await;
        let url = format!("http://{}/files/demo/demo-2.0.tar.gz", proxy.address());
        let (status, _, bytes) = get(&url, false).await;
        assert_eq!((status, bytes.as_slice()), (200, b"sdist two".as_slice()));
        assert_eq!(proxy.served()["demo-2.0.tar.gz"].size, 9);
        proxy.stop().await;
    }
    let downloads = index
        .requests()
        .iter()
        .filter(|path| path.starts_with("/files/"))
        .count();
    assert_eq!(downloads, 1, "{:?}", index.requests());
    assert!(cache.path().join(demo_entries()[2].sha256()).is_file());
}

#[tokio::test]
async fn stopped_proxy_no_longer_answers() {
    let index = TestIndex::serve(demo_entries());
    let proxy = start_proxy(&index, ProxyConfig::default()).await;
    let url = format!("http://{}/simple/demo/", proxy.address());
    assert_eq!(get(&url, true).await.0, 200);
    proxy.stop().await;
    assert!(reqwest::Client::new().get(&url).send().await.is_err());
}
