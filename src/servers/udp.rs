//! The UDP loop: one socket, one task on one worker, each datagram answered in turn.

use std::sync::Arc;

use pyo3::prelude::*;
use tokio::net::UdpSocket;
use tokio::sync::watch;

use super::behaviour::{self, data_repr, Behaviour};
use super::shared::{peer_tuple, Shared};

/// Largest UDP payload (IPv4): what one datagram read must have room for.
const MAX_DATAGRAM: usize = 65_507;

pub async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    // One stop future for the whole loop: it registers its waker once, not per datagram.
    let stopped = stop.changed();
    tokio::pin!(stopped);
    loop {
        // Datagram first: under load it is ready and the stop future is not polled at all.
        let received = tokio::select! {
            biased;
            received = socket.recv_from(&mut buf) => received,
            _ = &mut stopped => return,
        };
        let (n, peer) = match received {
            Ok(received) => received,
            Err(_) => {
                // ICMP errors from earlier sends (ECONNREFUSED) land here: not fatal.
                shared.stats.error();
                continue;
            }
        };
        let data = &buf[..n];
        shared.stats.received(n);
        shared.log(|| match shared.behaviour {
            Behaviour::Time => format!(
                "{peer} asks for {}",
                behaviour::str_repr(if data.is_empty() {
                    behaviour::DEFAULT_TIME_FORMAT.as_bytes()
                } else {
                    data
                })
            ),
            Behaviour::Chat(_) => format!("{peer}: {}", behaviour::str_repr(data)),
            _ => format!("{peer}: {}", data_repr(data)),
        });
        let peer_py = matches!(shared.behaviour, Behaviour::Python { .. })
            .then(|| Python::attach(|py| peer_tuple(py, peer)));
        let Ok(replies) = shared.behaviour.respond(data, peer, peer_py.as_ref()).await else {
            shared.stats.error();
            continue;
        };
        for (to, reply) in replies {
            // Counted before it is sent (a peer that got it may ask `stats()` at once).
            shared.stats.sent(reply.len());
            if socket.send_to(&reply, to).await.is_err() {
                shared.stats.unsent(reply.len());
                shared.stats.error();
            }
        }
    }
}
