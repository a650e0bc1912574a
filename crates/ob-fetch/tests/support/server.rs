//! A small HTTP/1.1 file server on loopback for fetch tests. It serves real bytes over real
//! sockets and, when told, misbehaves the ways servers do and nothing real can be made to on
//! demand: dropping a connection halfway, stalling, lying about a file, ignoring `Range`,
//! failing with 5xx, redirecting. Shared by ob-fetch's and the CLI's tests.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the server answers one request for a path.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Serve the file, honouring `Range: bytes=N-`.
    Serve,
    /// Always answer 200 with the whole file, whatever the `Range`.
    IgnoreRange,
    /// Answer with this status and a short body.
    Status(u16),
    /// Announce the whole (remaining) length, send this many body bytes, then close.
    DropAfter(usize),
    /// Announce the whole length, send this many body bytes, then send nothing for this long.
    StallAfter(usize, Duration),
    /// Answer 200 with these bytes instead of the file (a server that lies).
    Body(Vec<u8>),
    /// Answer 302 to this path on the same server.
    Redirect(String),
}

/// One request the server saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Default)]
struct State {
    files: HashMap<String, Vec<u8>>,
    /// One-shot behaviours, used before `defaults`.
    queued: HashMap<String, VecDeque<Behaviour>>,
    defaults: HashMap<String, Behaviour>,
    seen: Vec<Seen>,
}

/// The server; it runs until the test process ends.
#[derive(Clone)]
pub struct TestServer {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl TestServer {
    pub fn start() -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let address = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&shared);
                std::thread::spawn(move || {
                    let _ = handle(stream, &state);
                });
            }
        });
        TestServer { address, state }
    }

    /// Serves `body` at `/files/<name>`; returns its URL.
    pub fn add(&self, name: &str, body: &[u8]) -> String {
        let path = format!("/files/{name}");
        self.state
            .lock()
            .unwrap()
            .files
            .insert(path.clone(), body.to_vec());
        self.url(&path)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.address)
    }

    /// The next request for `/files/<name>` gets `behaviour` (queued in order).
    pub fn push(&self, name: &str, behaviour: Behaviour) {
        self.state
            .lock()
            .unwrap()
            .queued
            .entry(format!("/files/{name}"))
            .or_default()
            .push_back(behaviour);
    }

    /// Every request for `/files/<name>` without a queued behaviour gets `behaviour`.
    pub fn always(&self, name: &str, behaviour: Behaviour) {
        self.state
            .lock()
            .unwrap()
            .defaults
            .insert(format!("/files/{name}"), behaviour);
    }

    /// The request targets seen, in order (`/files/<name>`, or `host:port` for a `CONNECT`).
    pub fn targets(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state.seen.iter().map(|seen| seen.path.clone()).collect()
    }

    /// The requests seen for `/files/<name>`.
    pub fn seen(&self, name: &str) -> Vec<Seen> {
        let path = format!("/files/{name}");
        self.state
            .lock()
            .unwrap()
            .seen
            .iter()
            .filter(|seen| seen.path == path)
            .cloned()
            .collect()
    }
}

fn handle(stream: TcpStream, state: &Mutex<State>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .to_owned();
    let mut range = None;
    let mut authorization = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            match name.trim().to_ascii_lowercase().as_str() {
                "range" => range = Some(value.trim().to_owned()),
                "authorization" => authorization = Some(value.trim().to_owned()),
                _ => {}
            }
        }
    }
    let (body, behaviour) = {
        let mut state = state.lock().unwrap();
        state.seen.push(Seen {
            path: path.clone(),
            range: range.clone(),
            authorization,
        });
        let queued = state.queued.get_mut(&path).and_then(VecDeque::pop_front);
        let behaviour = queued
            .or_else(|| state.defaults.get(&path).cloned())
            .unwrap_or(Behaviour::Serve);
        (state.files.get(&path).cloned(), behaviour)
    };
    let mut stream = stream;
    let Some(body) = body else {
        return respond(&mut stream, 404, &[], b"not found");
    };
    let start = range
        .as_deref()
        .and_then(|range| range.strip_prefix("bytes="))
        .and_then(|range| range.strip_suffix('-'))
        .and_then(|start| start.parse::<usize>().ok());
    match behaviour {
        Behaviour::Serve | Behaviour::DropAfter(_) | Behaviour::StallAfter(..) => {
            let (status, headers, slice) = match start {
                Some(start) if start < body.len() => (
                    206,
                    vec![format!(
                        "Content-Range: bytes {start}-{}/{}",
                        body.len() - 1,
                        body.len()
                    )],
                    &body[start..],
                ),
                Some(_) => (
                    416,
                    vec![format!("Content-Range: bytes */{}", body.len())],
                    &[][..],
                ),
                None => (200, Vec::new(), &body[..]),
            };
            match behaviour {
                Behaviour::DropAfter(bytes) => {
                    write_head(&mut stream, status, &headers, slice.len())?;
                    stream.write_all(&slice[..bytes.min(slice.len())])?;
                    stream.flush()?;
                    stream.shutdown(std::net::Shutdown::Both)
                }
                Behaviour::StallAfter(bytes, pause) => {
                    write_head(&mut stream, status, &headers, slice.len())?;
                    stream.write_all(&slice[..bytes.min(slice.len())])?;
                    stream.flush()?;
                    std::thread::sleep(pause);
                    Ok(())
                }
                _ => respond(&mut stream, status, &headers, slice),
            }
        }
        Behaviour::IgnoreRange => respond(&mut stream, 200, &[], &body),
        Behaviour::Status(status) => respond(&mut stream, status, &[], b"failure"),
        Behaviour::Body(bytes) => respond(&mut stream, 200, &[], &bytes),
        Behaviour::Redirect(target) => {
            let location = format!("Location: {target}");
            respond(&mut stream, 302, &[location], b"")
        }
    }
}

fn write_head(
    stream: &mut TcpStream,
    status: u16,
    headers: &[String],
    length: usize,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} Test\r\nContent-Length: {length}\r\nConnection: close\r\nAccept-Ranges: bytes\r\n"
    );
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    headers: &[String],
    body: &[u8],
) -> std::io::Result<()> {
    write_head(stream, status, headers, body.len())?;
    stream.write_all(body)?;
    stream.flush()
}
