//! One connection's request loop: dial, stamp a request, send it, check what comes back, and
//! count the outcome in the connection's `Tally` (TCP streams and connected UDP sockets).

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{sleep_until, timeout_at, Instant};

use super::window::{Outcome, Tally, Window};

/// Largest UDP payload that fits one IPv4 datagram.
pub const MAX_DATAGRAM: usize = 65_507;

/// The sequence number stamped at the front of each request, so a late UDP reply is told apart
/// from a corrupted one.
const SEQ_BYTES: usize = 8;
/// Pause before dialling again after a failed reconnect, so a refusing server is not spun on.
const REDIAL_PAUSE: Duration = Duration::from_millis(10);

/// Connection `index`'s request body: a sequence number, then bytes cycling with a prime period
/// (so a shifted or reordered chunk never matches) and offset per connection (so a reply meant
/// for another connection does not either).
pub(super) fn pattern(index: usize, size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| ((i % 251) as u8).wrapping_add(index as u8))
        .collect()
}

/// Stamps `seq` on the front of `payload` (truncated when the payload is shorter than 8 bytes).
fn stamp(payload: &mut [u8], seq: u64) {
    let n = payload.len().min(SEQ_BYTES);
    payload[..n].copy_from_slice(&seq.to_le_bytes()[..n]);
}

fn stamped(payload: &[u8]) -> u64 {
    let mut bytes = [0u8; SEQ_BYTES];
    let n = payload.len().min(SEQ_BYTES);
    bytes[..n].copy_from_slice(&payload[..n]);
    u64::from_le_bytes(bytes)
}

pub(super) async fn dial_tcp(addr: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
    let stream = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

pub(super) async fn dial_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

pub(super) async fn tcp_worker(
    stream: TcpStream,
    addr: SocketAddr,
    mut payload: Vec<u8>,
    window: Window,
) -> Tally {
    let mut tally = Tally::new();
    let mut reply = vec![0u8; payload.len()];
    let mut stream = Some(stream);
    let mut seq = 0u64;
    while Instant::now() < window.end {
        let Some(conn) = stream.as_mut() else {
            let started = Instant::now();
            let (limit, _) = window.limit(started);
            match dial_tcp(addr, limit).await {
                Ok(fresh) => stream = Some(fresh),
                Err(_) => {
                    window.count(&mut tally, started, &Outcome::Failed);
                    sleep_until((Instant::now() + REDIAL_PAUSE).min(window.end)).await;
                }
            }
            continue;
        };
        seq += 1;
        stamp(&mut payload, seq);
        let started = Instant::now();
        let (limit, is_timeout) = window.limit(started);
        let outcome = match timeout_at(limit, exchange(conn, &payload, &mut reply)).await {
            Ok(Ok(())) if reply == payload => Outcome::Answered,
            Ok(_) => Outcome::Failed,
            Err(_) if is_timeout => Outcome::TimedOut,
            Err(_) => Outcome::Deadline,
        };
        window.count(&mut tally, started, &outcome);
        match outcome {
            Outcome::Answered => {}
            Outcome::Deadline => break,
            Outcome::Failed | Outcome::TimedOut => stream = None,
        }
    }
    tally
}

/// Writes the request while reading the reply, so a request larger than the socket buffers
/// cannot deadlock against a server that echoes as it reads.
async fn exchange(stream: &mut TcpStream, request: &[u8], reply: &mut [u8]) -> io::Result<()> {
    let (mut reader, mut writer) = stream.split();
    tokio::try_join!(writer.write_all(request), reader.read_exact(reply))?;
    Ok(())
}

/// One UDP socket's request loop. Without `request` it sends `payload`, stamped with a
/// sequence number, and verifies the echo; with one it sends those bytes every time and takes
/// any datagram back as the answer (a server that answers rather than echoes, such as a time
/// server: nothing to verify but that something came back in time).
pub(super) async fn udp_worker(
    socket: UdpSocket,
    mut payload: Vec<u8>,
    request: Option<Vec<u8>>,
    window: Window,
) -> Tally {
    let mut tally = Tally::new();
    // An echo gets one byte spare, so a reply longer than the request shows up as a wrong
    // length; any other answer may be a whole datagram.
    let mut reply = vec![
        0u8;
        if request.is_some() {
            MAX_DATAGRAM + 1
        } else {
            payload.len() + 1
        }
    ];
    let mut seq = 0u64;
    while Instant::now() < window.end {
        seq += 1;
        if request.is_none() {
            stamp(&mut payload, seq);
        }
        let started = Instant::now();
        let (limit, is_timeout) = window.limit(started);
        let exchange = async {
            match &request {
                Some(request) => {
                    socket.send(request).await?;
                    socket.recv(&mut reply).await.map(|_| ())
                }
                None => udp_exchange(&socket, &payload, &mut reply).await,
            }
        };
        let outcome = match timeout_at(limit, exchange).await {
            Ok(Ok(())) => Outcome::Answered,
            Ok(Err(_)) => Outcome::Failed,
            Err(_) if is_timeout => Outcome::TimedOut,
            Err(_) => Outcome::Deadline,
        };
        window.count(&mut tally, started, &outcome);
        if let Outcome::Deadline = outcome {
            break;
        }
    }
    tally
}

/// Sends one datagram and waits for its echo, skipping late echoes of earlier requests.
async fn udp_exchange(socket: &UdpSocket, request: &[u8], reply: &mut [u8]) -> io::Result<()> {
    socket.send(request).await?;
    let seq = stamped(request);
    loop {
        let n = socket.recv(reply).await?;
        let got = &reply[..n];
        if got == request {
            return Ok(());
        }
        let body = SEQ_BYTES.min(request.len());
        let late = n == request.len() && got[body..] == request[body..] && stamped(got) < seq;
        if !late {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "reply differs from request",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips_and_truncates() {
        let mut long = pattern(3, 20);
        stamp(&mut long, 0x0102_0304_0506_0708);
        assert_eq!(stamped(&long), 0x0102_0304_0506_0708);
        assert_eq!(long[8..], pattern(3, 20)[8..]);
        let mut short = vec![0u8; 3];
        stamp(&mut short, 0x0102_0304);
        assert_eq!(stamped(&short), 0x02_0304);
    }
}
