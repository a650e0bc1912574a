//! Fuzzing the index page parsers (PEP 691 JSON and PEP 503 HTML). They are private to
//! `ob-index`, so they are reached the way an index reaches them: `IndexClient::project` against
//! a loopback server that answers every request with the page under test. Property: no panic
//! or hang; every file of an accepted page has an absolute URL without a fragment and, when a
//! sha256 is given, it is lower case; a refusal names the page's URL.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use ob_index::{IndexClient, IndexSource, IndexUrl};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use support::fuzz::{Tally, config};

/// A server that lies in whatever way the test tells it: each connection gets the current
/// (content type, body). This stands in for a hostile index, which nothing real can play.
/// The page every request gets: (content type, body).
type Page = Arc<Mutex<(String, Vec<u8>)>>;

fn page_server() -> (String, Page) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let page = Arc::new(Mutex::new((String::new(), Vec::new())));
    let served = Arc::clone(&page);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            // Read the request head; the body of a GET is empty.
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line != "\r\n" {
                line.clear();
            }
            let (content_type, body) = served.lock().unwrap().clone();
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(&body);
        }
    });
    (format!("http://{address}/simple/"), page)
}

fn href() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("../../files/idna-3.10.tar.gz#sha256=03A49CD6".to_owned()),
        Just("https://127.0.0.1/x.tar.gz".to_owned()),
        Just("//127.0.0.1/x".to_owned()),
        Just("/abs/x.tar.gz#md5=00".to_owned()),
        Just("x.tar.gz#sha256=".to_owned()),
        Just("http://[::1".to_owned()),
        Just("http://a:b@127.0.0.1:99999/".to_owned()),
        Just("javascript:alert(1)".to_owned()),
        Just("&amp;&lt;&#39;".to_owned()),
        Just(String::new()),
        "[ -~]{0,30}",
        "\\PC{0,10}",
    ]
}

fn html_page() -> impl Strategy<Value = String> {
    let anchor = (
        prop_oneof![Just("<a "), Just("<A "), Just("<a"), Just("<ab ")],
        prop_oneof![
            Just("href"),
            Just("HREF"),
            Just("xhref"),
            Just("data-yanked"),
            Just("data-requires-python")
        ],
        prop_oneof![Just("=\""), Just("='"), Just("="), Just(" = \""), Just("")],
        href(),
        prop_oneof![Just("\""), Just("'"), Just("")],
        prop_oneof![
            Just(" data-yanked"),
            Just(" data-requires-python=\"&gt;=3.8\""),
            Just("")
        ],
        prop_oneof![Just(">"), Just("")],
        prop_oneof![Just("idna-3.10.tar.gz".to_owned()), "\\PC{0,12}"],
        prop_oneof![Just("</a>"), Just("</A>"), Just("")],
    )
        .prop_map(
            |(open, name, equals, value, close_quote, extra, end, text, close)| {
                format!("{open}{name}{equals}{value}{close_quote}{extra}{end}{text}{close}")
            },
        );
    prop::collection::vec(
        prop_oneof![anchor, "[ -~]{0,20}".boxed(), Just("<br>\n".to_owned())],
        0..8,
    )
    .prop_map(|parts| parts.concat())
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        Just(Value::from(-1)),
        Just(Value::from(1.5)),
        href().prop_map(Value::String),
        Just(Value::from("2024-09-15T17:06:07Z")),
        Just(Value::from("2024-09-15")),
        Just(Value::from("idna-3.10.tar.gz")),
    ];
    leaf.prop_recursive(2, 6, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("sha256".to_owned()),
                    Just("md5".to_owned()),
                    "[a-z-]{1,8}"
                ],
                inner,
                0..3
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn json_page() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("filename"),
        Just("url"),
        Just("hashes"),
        Just("requires-python"),
        Just("size"),
        Just("upload-time"),
        Just("yanked"),
        Just("other"),
    ];
    let file = prop::collection::btree_map(field, json_value(), 0..8);
    (
        prop::collection::vec(file, 0..4),
        prop::bool::weighted(0.1),
        any::<usize>(),
    )
        .prop_map(|(files, raw, cut)| {
            let files: Vec<serde_json::Value> = files
                .into_iter()
                .map(|file| {
                    serde_json::Value::Object(
                        file.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
                    )
                })
                .collect();
            let text =
                serde_json::json!({"meta": {"api-version": "1.1"}, "name": "idna", "files": files})
                    .to_string();
            if raw {
                // Cut short, as a dropped connection or a broken proxy would leave it.
                let mut end = cut % (text.len() + 1);
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text[..end].to_owned()
            } else {
                text
            }
        })
}

static OTHER_SCHEMES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static HTML: Tally = Tally::new("index page (HTML)");
static JSON: Tally = Tally::new("index page (JSON)");

fn run_pages(strategy: impl Strategy<Value = String>, content_type: &'static str, tally: &Tally) {
    let (url, page) = page_server();
    let index = IndexUrl::parse(&url, IndexSource::CommandLine).unwrap();
    let client = IndexClient::new(index).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(config(300));
    runner
        .run(&strategy, |body| {
            *page.lock().unwrap() = (content_type.to_owned(), body.clone().into_bytes());
            // The per-case bound: a parser that never returns fails here instead of hanging.
            let result = runtime
                .block_on(async {
                    tokio::time::timeout(std::time::Duration::from_secs(60), client.project("idna"))
                        .await
                })
                .unwrap_or_else(|_| panic!("no answer after 60 s for page {body:?}"));
            match &result {
                Ok(project) => {
                    for file in &project.files {
                        assert!(file.url.fragment().is_none(), "{body:?}");
                        // Any scheme is accepted here (found by fuzzing: `a:/0` from
                        // `<a href='A:/0'>`); only http(s) can ever be downloaded, so it is
                        // counted, not refused.
                        if !matches!(file.url.scheme(), "http" | "https") {
                            OTHER_SCHEMES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        if let Some(sha256) = &file.sha256 {
                            assert_eq!(sha256, &sha256.to_ascii_lowercase());
                        }
                    }
                }
                Err(error) => {
                    let message = error.to_string();
                    assert!(message.contains("/simple/idna/"), "{message}");
                }
            }
            tally.record(result.is_ok());
            Ok(())
        })
        .unwrap();
    let (executions, accepted) = tally.report();
    eprintln!(
        "  files with a scheme other than http(s) accepted so far: {}",
        OTHER_SCHEMES.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(executions > 0 && accepted > 0, "{accepted} of {executions}");
}

#[test]
fn generated_html_pages_never_panic() {
    run_pages(html_page(), "text/html", &HTML);
}

#[test]
fn generated_json_pages_never_panic() {
    run_pages(json_page(), "application/vnd.pypi.simple.v1+json", &JSON);
}
