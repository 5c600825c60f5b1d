//! The native load generator behind the `echo` benchmark suite: what a run is asked
//! (`LoadConfig`), what it found (`LoadReport`), and `run`, which opens the connections and
//! merges what each one counted. The request loops are in `round_trip`, the latency
//! histogram in `histogram`.
//!
//! N connections (TCP streams or connected UDP sockets) each send S bytes, wait for the same S
//! bytes back, check them, and record the round trip in a latency histogram, for a warm-up
//! period (not counted) and then a measured period. Plain Rust and tokio: the Python binding
//! only converts a `LoadConfig` in and a `LoadReport` out.
//!
//! Counting rules. A request counts when it starts inside the measured window and completes
//! before that window ends; the one in flight at the deadline is abandoned, not counted. Every
//! wait is bounded by the per-request timeout and by the deadline, so a silent server costs at
//! most `warmup + duration` plus one connect timeout. After a TCP error, mismatch or timeout the
//! stream's position is unknown, so the connection is closed and dialled again; a UDP socket
//! just sends the next request, and a late reply to an earlier one is recognised and dropped.

use std::error::Error;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::round_trip::{dial_tcp, dial_udp, pattern, tcp_worker, udp_worker};
use super::window::{Tally, Window};

pub use super::round_trip::MAX_DATAGRAM;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Tcp,
    Udp,
}

#[derive(Clone, Debug)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    pub mode: Mode,
    /// Concurrent connections (UDP: sockets), each with one request in flight.
    pub connections: usize,
    /// Request and reply size in bytes (UDP: at most `MAX_DATAGRAM`).
    pub size: usize,
    /// The measured period, after the warm-up.
    pub duration: Duration,
    /// Requests made before the measured period starts; not counted.
    pub warmup: Duration,
    /// Longest wait for one connect or one request/reply; a UDP loss costs this much.
    pub timeout: Duration,
    /// UDP only: send these bytes as every request and take any datagram as the reply (for
    /// servers that answer rather than echo, such as a time server). None: echo, verified.
    pub request: Option<Vec<u8>>,
}

impl LoadConfig {
    /// TCP, one connection, 1 KiB, 5 s measured after 1 s of warm-up, 1 s per request.
    pub fn new(addr: SocketAddr) -> Self {
        LoadConfig {
            addr,
            mode: Mode::Tcp,
            connections: 1,
            size: 1024,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            request: None,
        }
    }

    fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.connections == 0 {
            return invalid("connections must be at least 1".into());
        }
        if self.size == 0 {
            return invalid("size must be at least 1 byte".into());
        }
        if self.mode == Mode::Udp && self.size > MAX_DATAGRAM {
            return invalid(format!(
                "size {} exceeds the largest UDP datagram ({MAX_DATAGRAM} bytes)",
                self.size
            ));
        }
        if self.duration.is_zero() {
            return invalid("duration must be positive".into());
        }
        if self.timeout.is_zero() {
            return invalid("timeout must be positive".into());
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoadReport {
    /// Requests answered with the exact bytes sent, inside the measured period.
    pub requests: u64,
    /// Failed requests: I/O errors, wrong replies, closed connections, failed reconnects.
    pub errors: u64,
    /// Requests with no reply within `timeout` (UDP: datagrams taken as lost).
    pub timeouts: u64,
    /// Payload bytes echoed back by the counted requests (`requests * size`).
    pub bytes: u64,
    /// The measured period.
    pub elapsed: Duration,
    pub mean: Duration,
    pub p50: Duration,
    pub p90: Duration,
    pub p99: Duration,
    /// Exact, not bucketed.
    pub max: Duration,
}

impl LoadReport {
    pub fn requests_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.requests as f64 / secs
        } else {
            0.0
        }
    }
}

/// A connection that could not be opened before the run: the `io::Error` that `run` returns
/// wraps one of these (same `ErrorKind`), and `source` keeps the errno for the Python side.
#[derive(Debug)]
pub struct ConnectError {
    pub addr: SocketAddr,
    pub mode: Mode,
    /// Which of the configured connections failed (0-based).
    pub connection: usize,
    pub source: io::Error,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.mode {
            Mode::Tcp => "TCP",
            Mode::Udp => "UDP",
        };
        write!(
            f,
            "load generator: {proto} connection {} to {} failed: {}",
            self.connection, self.addr, self.source
        )
    }
}

impl Error for ConnectError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.source)
    }
}

/// Opens every connection, runs the warm-up and the measured period, and merges the counts.
/// Spawns one task per connection on the current tokio runtime.
pub async fn run(config: LoadConfig) -> io::Result<LoadReport> {
    config.validate()?;
    let mut dials = JoinSet::new();
    for index in 0..config.connections {
        let (addr, mode, limit) = (config.addr, config.mode, config.timeout);
        dials.spawn(async move {
            let deadline = Instant::now() + limit;
            let opened = match mode {
                Mode::Tcp => dial_tcp(addr, deadline).await.map(Link::Tcp),
                Mode::Udp => dial_udp(addr).await.map(Link::Udp),
            };
            opened.map(|link| (index, link)).map_err(|source| {
                let kind = source.kind();
                let err = ConnectError {
                    addr,
                    mode,
                    connection: index,
                    source,
                };
                io::Error::new(kind, err)
            })
        });
    }
    let mut links = Vec::with_capacity(config.connections);
    while let Some(joined) = dials.join_next().await {
        // The first failure drops `dials`, which aborts the connects still pending.
        links.push(joined.map_err(io::Error::other)??);
    }

    let start = Instant::now();
    let window = Window {
        counted_from: start + config.warmup,
        end: start + config.warmup + config.duration,
        timeout: config.timeout,
    };
    let mut workers = JoinSet::new();
    for (index, link) in links {
        let payload = pattern(index, config.size);
        match link {
            Link::Tcp(stream) => workers.spawn(tcp_worker(stream, config.addr, payload, window)),
            Link::Udp(socket) => {
                workers.spawn(udp_worker(socket, payload, config.request.clone(), window))
            }
        };
    }
    let mut total = Tally::new();
    while let Some(joined) = workers.join_next().await {
        total.merge(&joined.map_err(io::Error::other)?);
    }
    Ok(report(&total, config.size, config.duration))
}

/// The report of the whole run, from every connection's tally.
fn report(tally: &Tally, size: usize, elapsed: Duration) -> LoadReport {
    LoadReport {
        requests: tally.requests,
        errors: tally.errors,
        timeouts: tally.timeouts,
        bytes: tally.requests * size as u64,
        elapsed,
        mean: tally.latency.mean(),
        p50: tally.latency.percentile(50.0),
        p90: tally.latency.percentile(90.0),
        p99: tally.latency.percentile(99.0),
        max: tally.latency.max(),
    }
}

enum Link {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const LOCAL: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 0);

    fn config(addr: SocketAddr, mode: Mode) -> LoadConfig {
        LoadConfig {
            addr,
            mode,
            connections: 4,
            size: 1024,
            duration: Duration::from_millis(300),
            warmup: Duration::from_millis(50),
            timeout: Duration::from_millis(500),
            request: None,
        }
    }

    /// A TCP server that echoes each chunk after passing it through `alter`.
    async fn tcp_server(alter: fn(&mut [u8])) -> SocketAddr {
        let listener = TcpListener::bind(LOCAL).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 16 * 1024];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        alter(&mut buf[..n]);
                        if stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    /// A UDP server that answers each datagram `copies` times (0: never answers).
    async fn udp_server(copies: usize) -> SocketAddr {
        let socket = UdpSocket::bind(LOCAL).await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            while let Ok((n, peer)) = socket.recv_from(&mut buf).await {
                for _ in 0..copies {
                    let _ = socket.send_to(&buf[..n], peer).await;
                }
            }
        });
        addr
    }

    fn assert_clean(report: &LoadReport, size: usize) {
        assert!(report.requests > 0, "{report:?}");
        assert_eq!((report.errors, report.timeouts), (0, 0), "{report:?}");
        assert_eq!(report.bytes, report.requests * size as u64);
        assert!(Duration::ZERO < report.p50, "{report:?}");
        assert!(
            report.p50 <= report.p90 && report.p90 <= report.p99,
            "{report:?}"
        );
        assert!(report.p99 <= report.max, "{report:?}");
        assert!(report.mean <= report.max, "{report:?}");
        assert!(report.requests_per_sec() > 0.0);
    }

    #[tokio::test]
    async fn tcp_echo_counts_and_orders_percentiles() {
        let addr = tcp_server(|_| {}).await;
        let report = run(config(addr, Mode::Tcp)).await.unwrap();
        assert_clean(&report, 1024);
        assert_eq!(report.elapsed, Duration::from_millis(300));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn tcp_large_requests_do_not_deadlock() {
        let addr = tcp_server(|_| {}).await;
        let cfg = LoadConfig {
            size: 1 << 20,
            connections: 2,
            ..config(addr, Mode::Tcp)
        };
        assert_clean(&run(cfg).await.unwrap(), 1 << 20);
    }

    #[tokio::test]
    async fn tcp_corrupted_reply_is_an_error() {
        let addr = tcp_server(|chunk| chunk[chunk.len() / 2] ^= 0x20).await;
        let report = run(config(addr, Mode::Tcp)).await.unwrap();
        assert_eq!(report.requests, 0, "{report:?}");
        assert!(report.errors > 0, "{report:?}");
        assert_eq!(report.p99, Duration::ZERO);
    }

    #[tokio::test]
    async fn tcp_silent_server_times_out_and_run_still_ends() {
        let listener = TcpListener::bind(LOCAL).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        let cfg = LoadConfig {
            connections: 2,
            warmup: Duration::ZERO,
            timeout: Duration::from_millis(50),
            ..config(addr, Mode::Tcp)
        };
        let began = std::time::Instant::now();
        let report = run(cfg).await.unwrap();
        assert!(began.elapsed() < Duration::from_secs(2));
        assert_eq!((report.requests, report.errors), (0, 0), "{report:?}");
        assert!(report.timeouts >= 4, "{report:?}");
    }

    #[tokio::test]
    async fn tcp_refused_connect_is_a_clear_error() {
        let listener = std::net::TcpListener::bind(LOCAL).unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let err = run(config(addr, Mode::Tcp)).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        let inner = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<ConnectError>())
            .unwrap();
        assert!(
            inner.source.raw_os_error().is_some(),
            "errno kept for OSError"
        );
    }

    #[tokio::test]
    async fn udp_request_mode_accepts_any_reply() {
        // A server that answers with something else than the request (like a time server).
        let socket = tokio::net::UdpSocket::bind(LOCAL).await.unwrap();
        let addr = socket.local_addr().unwrap();
        tokio::spawn(async move {
            let mut buf = [0u8; 64];
            while let Ok((_, from)) = socket.recv_from(&mut buf).await {
                let _ = socket.send_to(b"2026-11-25 08:00:00", from).await;
            }
        });
        let report = run(LoadConfig {
            request: Some(b"%Y-%m-%d %X".to_vec()),
            size: 11,
            ..config(addr, Mode::Udp)
        })
        .await
        .unwrap();
        assert!(report.requests > 0);
        assert_eq!(report.errors, 0);
    }

    #[tokio::test]
    async fn udp_echo_counts_and_orders_percentiles() {
        let addr = udp_server(1).await;
        assert_clean(&run(config(addr, Mode::Udp)).await.unwrap(), 1024);
    }

    #[tokio::test]
    async fn udp_largest_datagram() {
        let addr = udp_server(1).await;
        let cfg = LoadConfig {
            size: MAX_DATAGRAM,
            connections: 1,
            ..config(addr, Mode::Udp)
        };
        assert_clean(&run(cfg).await.unwrap(), MAX_DATAGRAM);
    }

    #[tokio::test]
    async fn udp_duplicate_replies_are_skipped_not_errors() {
        let addr = udp_server(2).await;
        assert_clean(&run(config(addr, Mode::Udp)).await.unwrap(), 1024);
    }

    #[tokio::test]
    async fn udp_losses_count_as_timeouts() {
        let addr = udp_server(0).await;
        let cfg = LoadConfig {
            connections: 2,
            warmup: Duration::ZERO,
            timeout: Duration::from_millis(50),
            ..config(addr, Mode::Udp)
        };
        let report = run(cfg).await.unwrap();
        assert_eq!((report.requests, report.errors), (0, 0), "{report:?}");
        // 300 ms / 50 ms per loss, on each of two sockets, less the one cut by the deadline;
        // fewer when timers fire late on a busy machine.
        assert!((4..=12).contains(&report.timeouts), "{report:?}");
    }

    #[tokio::test]
    async fn invalid_configs_are_rejected() {
        let addr: SocketAddr = (Ipv4Addr::LOCALHOST, 9).into();
        for cfg in [
            LoadConfig {
                size: 0,
                ..config(addr, Mode::Tcp)
            },
            LoadConfig {
                connections: 0,
                ..config(addr, Mode::Tcp)
            },
            LoadConfig {
                size: MAX_DATAGRAM + 1,
                ..config(addr, Mode::Udp)
            },
            LoadConfig {
                timeout: Duration::ZERO,
                ..config(addr, Mode::Tcp)
            },
        ] {
            assert_eq!(
                run(cfg).await.unwrap_err().kind(),
                io::ErrorKind::InvalidInput
            );
        }
    }
}
