//! A framed connection: whole length-prefixed messages to a Python handler, replies framed.
//!
//! Rarer and bigger than a plain connection's loop, so the TCP loop boxes this future: an
//! idle echo connection does not pay for the framed state's size.

use std::net::SocketAddr;
use std::time::Duration;

use pyo3::prelude::*;
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use crate::runtime::with_timers;

use super::behaviour::data_repr;
use super::shared::Shared;

/// A framed connection: read whole messages (header, then body), answer each one framed.
pub async fn serve_frames(
    mut stream: TcpStream,
    peer: SocketAddr,
    shared: &Shared,
    header: crate::framing::Header,
    max_size: u64,
    peer_py: Option<Py<PyAny>>,
) {
    let write_timeout = shared.options.write_timeout;
    let mut head = [0u8; 8];
    loop {
        let head = &mut head[..header.size()];
        let read = async {
            let first = stream.read(&mut head[..1]).await?;
            if first == 0 {
                return Ok(false);
            }
            stream.read_exact(&mut head[1..]).await?;
            Ok::<_, std::io::Error>(true)
        };
        let read = async {
            match shared.options.idle_timeout {
                Some(idle) => with_timers(|| tokio::time::timeout(idle, read)).await.ok(),
                None => Some(read.await),
            }
        };
        match read.await {
            Some(Ok(true)) => {}
            Some(Ok(false)) | None => return,
            Some(Err(_)) => {
                shared.stats.error();
                return;
            }
        }
        let len = header.decode(head);
        if len > max_size {
            // The stream is out of step after this: say why, then close.
            shared.stats.error();
            let why = format!("error: frame of {len} bytes is over the limit of {max_size}");
            let _ = write_frame(&mut stream, header, why.as_bytes(), write_timeout).await;
            return;
        }
        // max_size is the caller's choice: a length the allocator cannot give is an error for
        // this connection, never an abort of the process.
        let mut body = Vec::new();
        let reserved = usize::try_from(len)
            .ok()
            .filter(|&len| body.try_reserve_exact(len).is_ok());
        let Some(len) = reserved else {
            shared.stats.error();
            let why = format!("error: cannot allocate a frame of {len} bytes");
            let _ = write_frame(&mut stream, header, why.as_bytes(), write_timeout).await;
            return;
        };
        // Read into the reserved capacity: memory is touched only as the body arrives. A peer
        // that goes silent mid-body is closed like an idle one: idle_timeout bounds each read.
        while body.len() < len {
            let left = (len - body.len()) as u64;
            let mut limited = (&mut stream).take(left);
            let read = limited.read_buf(&mut body);
            let read = match shared.options.idle_timeout {
                Some(idle) => with_timers(|| tokio::time::timeout(idle, read)).await.ok(),
                None => Some(read.await),
            };
            match read {
                Some(Ok(n)) if n > 0 => {}
                Some(Ok(_)) | Some(Err(_)) => {
                    shared.stats.error();
                    return;
                }
                None => return,
            }
        }
        shared.stats.received(body.len() + head.len());
        shared.log(|| format!("{peer}: {}", data_repr(&body)));
        let replies = match shared
            .behaviour
            .respond(&body, peer, peer_py.as_ref())
            .await
        {
            Ok(replies) => replies,
            Err(_) => {
                shared.stats.error();
                return;
            }
        };
        for (_, reply) in replies {
            // Counted before it is written (a peer that read it may ask `stats()` at once).
            let framed = reply.len() + header.size();
            shared.stats.sent(framed);
            if write_frame(&mut stream, header, &reply, write_timeout)
                .await
                .is_err()
            {
                shared.stats.unsent(framed);
                shared.stats.error();
                return;
            }
        }
    }
}

async fn write_frame(
    stream: &mut TcpStream,
    header: crate::framing::Header,
    body: &[u8],
    stalled: Option<Duration>,
) -> std::io::Result<usize> {
    let (head, head_len) = header.encode(body.len()).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "reply too large for the header",
        )
    })?;
    let mut frame = Vec::with_capacity(head_len + body.len());
    frame.extend_from_slice(&head[..head_len]);
    frame.extend_from_slice(body);
    super::sockio::flush(stream, &frame, stalled).await?;
    Ok(frame.len())
}
