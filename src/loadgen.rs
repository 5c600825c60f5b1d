//! The native load generator behind the `echo` benchmark suite.
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
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::task::JoinSet;
use tokio::time::{sleep_until, timeout_at, Instant};

/// Largest UDP payload that fits one IPv4 datagram.
pub const MAX_DATAGRAM: usize = 65_507;
/// The sequence number stamped at the front of each request, so a late UDP reply is told apart
/// from a corrupted one.
const SEQ_BYTES: usize = 8;
/// Pause before dialling again after a failed reconnect, so a refusing server is not spun on.
const REDIAL_PAUSE: Duration = Duration::from_millis(10);

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
    Ok(total.report(config.size, config.duration))
}

enum Link {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

#[derive(Clone, Copy)]
struct Window {
    counted_from: Instant,
    end: Instant,
    timeout: Duration,
}

/// What one connection counted in the measured period.
struct Tally {
    requests: u64,
    errors: u64,
    timeouts: u64,
    latency: Histogram,
}

impl Tally {
    fn new() -> Self {
        Tally {
            requests: 0,
            errors: 0,
            timeouts: 0,
            latency: Histogram::new(),
        }
    }

    fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.latency.merge(&other.latency);
    }

    fn report(&self, size: usize, elapsed: Duration) -> LoadReport {
        LoadReport {
            requests: self.requests,
            errors: self.errors,
            timeouts: self.timeouts,
            bytes: self.requests * size as u64,
            elapsed,
            mean: self.latency.mean(),
            p50: self.latency.percentile(50.0),
            p90: self.latency.percentile(90.0),
            p99: self.latency.percentile(99.0),
            max: self.latency.max(),
        }
    }
}

/// How one request ended.
enum Outcome {
    Answered,
    Failed,
    TimedOut,
    /// The measured period ended first: stop without counting anything.
    Deadline,
}

impl Window {
    /// When a request started now must be answered by, and whether hitting that is a timeout
    /// (rather than the end of the run).
    fn limit(&self, started: Instant) -> (Instant, bool) {
        let own = started + self.timeout;
        if own < self.end {
            (own, true)
        } else {
            (self.end, false)
        }
    }

    /// Counts one finished request if it belongs to the measured period.
    fn count(&self, tally: &mut Tally, started: Instant, outcome: &Outcome) {
        let finished = Instant::now();
        if started < self.counted_from || finished > self.end {
            return;
        }
        match outcome {
            Outcome::Answered => {
                tally.requests += 1;
                tally.latency.record(finished - started);
            }
            Outcome::Failed => tally.errors += 1,
            Outcome::TimedOut => tally.timeouts += 1,
            Outcome::Deadline => {}
        }
    }
}

/// Connection `index`'s request body: a sequence number, then bytes cycling with a prime period
/// (so a shifted or reordered chunk never matches) and offset per connection (so a reply meant
/// for another connection does not either).
fn pattern(index: usize, size: usize) -> Vec<u8> {
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

async fn dial_tcp(addr: SocketAddr, deadline: Instant) -> io::Result<TcpStream> {
    let stream = timeout_at(deadline, TcpStream::connect(addr))
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn dial_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let local: SocketAddr = match addr {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

async fn tcp_worker(
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
async fn udp_worker(
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

/// Latency histogram with log-linear buckets over nanoseconds: exact below 64 ns, then 64
/// buckets per power of two, so any value is known to within 1/64 (1.6 %). A fixed array,
/// filled without allocating; values past ~18 minutes land in the last bucket (the exact
/// maximum is kept on the side).
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    sum_nanos: u128,
    max_nanos: u64,
}

const SUB_BITS: u32 = 6;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Values from 2^MAX_BITS ns up share the last bucket.
const MAX_BITS: u32 = 40;
const BUCKETS: usize = ((MAX_BITS - SUB_BITS + 1) as usize) << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            sum_nanos: 0,
            max_nanos: 0,
        }
    }

    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.sum_nanos += u128::from(nanos);
        self.max_nanos = self.max_nanos.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum_nanos += other.sum_nanos;
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_nanos)
    }

    pub fn mean(&self) -> Duration {
        match self.total {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.sum_nanos / u128::from(n)) as u64),
        }
    }

    /// The smallest recorded value with at least `pct` percent of the samples at or below it,
    /// read as its bucket's upper edge (never above the true maximum). Zero when empty.
    pub fn percentile(&self, pct: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((pct / 100.0) * self.total as f64)
            .ceil()
            .clamp(1.0, self.total as f64) as u64;
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(bucket_high(index).min(self.max_nanos));
            }
        }
        self.max()
    }
}

fn bucket_of(nanos: u64) -> usize {
    let nanos = nanos.min((1 << MAX_BITS) - 1);
    if nanos < SUB_COUNT {
        return nanos as usize;
    }
    let top = 63 - nanos.leading_zeros(); // >= SUB_BITS
    let shift = top - SUB_BITS;
    let sub = (nanos >> shift) - SUB_COUNT;
    (((shift + 1) as usize) << SUB_BITS) + sub as usize
}

fn bucket_low(index: usize) -> u64 {
    let group = (index >> SUB_BITS) as u32;
    let sub = index as u64 & (SUB_COUNT - 1);
    match group {
        0 => sub,
        g => (SUB_COUNT + sub) << (g - 1),
    }
}

fn bucket_high(index: usize) -> u64 {
    if index + 1 == BUCKETS {
        u64::MAX
    } else {
        bucket_low(index + 1) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
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

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(bucket_of(0), 0);
        for index in 1..BUCKETS {
            assert_eq!(
                bucket_low(index),
                bucket_high(index - 1) + 1,
                "bucket {index}"
            );
        }
        let mut value = 1u64;
        while value < 1 << MAX_BITS {
            for v in [value - 1, value, value + 1, value + value / 3] {
                let index = bucket_of(v);
                assert!(
                    bucket_low(index) <= v && v <= bucket_high(index),
                    "{v} in {index}"
                );
                let width = bucket_high(index) - bucket_low(index) + 1;
                assert!(width == 1 || width * SUB_COUNT <= v, "{v}: width {width}");
            }
            value *= 2;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut hist = Histogram::new();
        for micros in 1..=1000 {
            hist.record(Duration::from_micros(micros));
        }
        let near = |got: Duration, want_us: u64| {
            let want = Duration::from_micros(want_us).as_nanos() as f64;
            let got = got.as_nanos() as f64;
            assert!(
                got >= want && got <= want * (1.0 + 1.0 / 64.0),
                "{got} vs {want}"
            );
        };
        near(hist.percentile(50.0), 500);
        near(hist.percentile(90.0), 900);
        near(hist.percentile(99.0), 990);
        assert_eq!(hist.percentile(100.0), Duration::from_micros(1000));
        assert_eq!(hist.max(), Duration::from_micros(1000));
        assert_eq!(hist.mean(), Duration::from_nanos(500_500));
        assert_eq!(hist.count(), 1000);
    }

    #[test]
    fn merge_adds_and_empty_reads_zero() {
        let empty = Histogram::new();
        let zero = Duration::ZERO;
        assert_eq!(
            (empty.percentile(99.0), empty.mean(), empty.max()),
            (zero, zero, zero)
        );
        let mut fast = Histogram::new();
        let mut slow = Histogram::new();
        for _ in 0..99 {
            fast.record(Duration::from_micros(10));
        }
        slow.record(Duration::from_secs(2));
        fast.merge(&slow);
        assert_eq!(fast.count(), 100);
        assert!(fast.percentile(99.0) <= Duration::from_nanos(10_200));
        assert_eq!(fast.percentile(99.5), Duration::from_secs(2));
        assert_eq!(fast.max(), Duration::from_secs(2));
    }
}
