//! A TCP listener for network-containment tests: it counts the connections that reach it, so a
//! test can show that a locked-down container made none and a positive control made one.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A TCP listener that counts the connections it accepted. It writes each connection its
/// number (from 0, in the order accepted) and closes it: probes ignore that, markers read it.
pub struct Listener {
    pub address: SocketAddr,
    /// Marker connections made so far; they are numbered among the others.
    markers: AtomicUsize,
}

impl Listener {
    /// Listens on `ip` (a network's gateway, say), on a port the kernel picks.
    pub async fn start(ip: IpAddr) -> Listener {
        let listener = tokio::net::TcpListener::bind((ip, 0))
            .await
            .expect("bind a TCP listener");
        let address = listener.local_addr().expect("listener address");
        tokio::spawn(async move {
            let mut number = 0usize;
            while let Ok((mut stream, _peer)) = listener.accept().await {
                // Fails when the peer has gone already, which only a probe does.
                let _ = stream.write_all(format!("{number}\n").as_bytes()).await;
                number += 1;
            }
        });
        Listener {
            address,
            markers: AtomicUsize::new(0),
        }
    }

    /// How many connections (not ours) were accepted, counting every connection established
    /// before this call: the accept task may not have run yet when a container exits. A marker
    /// connection of our own queues up behind them (the kernel hands connections out in the
    /// order they were established) and reads the number it was accepted as, waiting at most
    /// 5 s. So a count that should be 0 or 1 fails when one more connection was made, however
    /// late it is seen.
    pub async fn accepted(&self) -> usize {
        let marker_number = async {
            let mut marker = tokio::net::TcpStream::connect(self.address)
                .await
                .expect("connect a marker to our own listener");
            let mut answer = String::new();
            marker
                .read_to_string(&mut answer)
                .await
                .expect("read the marker's number");
            answer
                .trim()
                .parse::<usize>()
                .expect("the listener wrote a number")
        };
        let number = tokio::time::timeout(Duration::from_secs(5), marker_number)
            .await
            .expect("the listener did not accept our marker connection within 5 s");
        // Every earlier marker was accepted before this one, so it holds a lower number.
        number - self.markers.fetch_add(1, Ordering::SeqCst)
    }
}
