//! The HTTP server under the tests' package index and crate registry: one handler served on
//! 127.0.0.1 from a thread of its own (so plain tests, tokio tests and tests that start the
//! binary can all use it), stopped when dropped.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

/// What answers each request.
pub(crate) type Handler =
    Arc<dyn Fn(&Request<hyper::body::Incoming>) -> Response<Full<Bytes>> + Send + Sync>;

/// A running server; dropping it stops the thread.
pub(crate) struct LoopbackServer {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LoopbackServer {
    /// Serves `handler` at a free port of 127.0.0.1.
    pub fn start(handler: Handler) -> LoopbackServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap_or_else(|err| panic!("cannot listen on loopback: {err}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|err| panic!("{err}"));
        let address = listener.local_addr().unwrap_or_else(|err| panic!("{err}"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap_or_else(|err| panic!("{err}"));
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener)
                    .unwrap_or_else(|err| panic!("{err}"));
                let accept_loop = async {
                    loop {
                        let Ok((stream, _)) = listener.accept().await else {
                            continue;
                        };
                        let handler = handler.clone();
                        tokio::spawn(async move {
                            let service = hyper::service::service_fn(move |request| {
                                let response = handler(&request);
                                async move { Ok::<_, std::convert::Infallible>(response) }
                            });
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(TokioIo::new(stream), service)
                                .await;
                        });
                    }
                };
                tokio::select! {
                    _ = accept_loop => {}
                    _ = stopped => {}
                }
            });
        });
        LoopbackServer {
            address,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A response with `status`, `content_type` and `body`.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(body.into()))
        .unwrap_or_else(|err| panic!("{err}"))
}
