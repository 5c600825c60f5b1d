//! Native tokio servers with one lifecycle, driven from Python.
//!
//! The constructor binds (so `Address already in use` raises at once, as a stdlib `bind` does);
//! `start()` hands the socket to the shared runtime and returns; `stop(timeout)` stops
//! accepting, lets replies already being written finish, then closes every connection;
//! `serve_forever()` waits with the GIL released, in short slices so Ctrl-C is seen.
//! What a server does with each message is its `Behaviour`; the TCP and UDP loops are shared.

pub mod behaviour;

pub mod chat_protocol;
mod python_calls;
mod stats;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

use behaviour::{data_repr, Behaviour};
use chat_protocol::{ChatLimits, ChatRooms};
use python_calls::PythonCalls;
use stats::{OpenConnection, Stats};

use crate::{addr, errors, runtime};

/// Largest UDP payload (IPv4): what one datagram read must have room for.
const MAX_DATAGRAM: usize = 65_507;
/// How often `serve_forever` wakes to let Python run its signal handlers.
const SIGNAL_SLICE: Duration = Duration::from_millis(50);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
}

/// Per-server options (the keyword arguments every server takes).
struct Options {
    max_connections: Option<usize>,
    idle_timeout: Option<Duration>,
    /// How long a reply may make no progress (the peer does not read) before the connection
    /// is closed; defaults to `idle_timeout`.
    write_timeout: Option<Duration>,
    /// SO_KEEPALIVE on every accepted connection (TCP), so a vanished peer is noticed.
    keepalive: Option<Keepalive>,
}

/// TCP keepalive: first probe after `idle` of silence, then every `interval`, `retries` in all.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Keepalive {
    idle: Duration,
    interval: Duration,
    retries: u32,
}

impl Keepalive {
    /// `keepalive=True`: probes after 60 s of silence, every 10 s, 5 of them, so a vanished
    /// peer is noticed within about 2 minutes instead of never (Linux's own defaults, 7200 s
    /// then 9 x 75 s, would take over 2 hours). An idle live peer costs one tiny packet a
    /// minute, answered by its kernel.
    const DEFAULT: Keepalive = Keepalive {
        idle: Duration::from_secs(60),
        interval: Duration::from_secs(10),
        retries: 5,
    };

    fn apply(&self, stream: &TcpStream) -> std::io::Result<()> {
        let params = socket2::TcpKeepalive::new()
            .with_time(self.idle)
            .with_interval(self.interval)
            .with_retries(self.retries);
        socket2::SockRef::from(stream).set_tcp_keepalive(&params)
    }
}

/// What `keepalive=` accepts: True/False, idle seconds, or (idle, interval, count).
#[derive(FromPyObject)]
enum KeepaliveArg {
    Flag(bool),
    Seconds(f64),
    Full((f64, f64, u32)),
}

impl KeepaliveArg {
    /// Whole seconds (what TCP_KEEPIDLE/TCP_KEEPINTVL take), at least 1.
    fn whole_seconds(value: f64, what: &str) -> PyResult<Duration> {
        if !(value.is_finite() && value >= 1.0 && value <= f64::from(i32::MAX)) {
            return Err(PyValueError::new_err(format!(
                "keepalive {what} must be a number of seconds from 1 up"
            )));
        }
        Ok(Duration::from_secs(value.round() as u64))
    }

    fn resolve(arg: Option<KeepaliveArg>) -> PyResult<Option<Keepalive>> {
        Ok(match arg {
            None | Some(KeepaliveArg::Flag(false)) => None,
            Some(KeepaliveArg::Flag(true)) => Some(Keepalive::DEFAULT),
            Some(KeepaliveArg::Seconds(idle)) => {
                let idle = Self::whole_seconds(idle, "idle time")?;
                Some(Keepalive {
                    idle,
                    interval: idle.min(Keepalive::DEFAULT.interval),
                    retries: Keepalive::DEFAULT.retries,
                })
            }
            Some(KeepaliveArg::Full((idle, interval, retries))) => {
                if !(1..=127).contains(&retries) {
                    return Err(PyValueError::new_err(
                        "keepalive count must be from 1 to 127",
                    ));
                }
                Some(Keepalive {
                    idle: Self::whole_seconds(idle, "idle time")?,
                    interval: Self::whole_seconds(interval, "interval")?,
                    retries,
                })
            }
        })
    }
}

enum Phase {
    /// Bound, not serving yet: the socket waits here.
    Bound(Socket),
    Running {
        shutdown: watch::Sender<bool>,
        task: tokio::task::JoinHandle<()>,
    },
    Stopped,
}

struct Shared {
    behaviour: Behaviour,
    stats: Stats,
    options: Options,
    log: Option<Arc<Py<PyAny>>>,
    python: Option<PythonCalls>,
    open: Mutex<OpenSockets>,
}

/// The descriptors of the open connections, so `stop()` can end their reads.
///
/// Stopping shuts each connection's read side: a task waiting in `read` sees end-of-stream
/// and closes, while a reply being written still completes. This costs nothing per message,
/// where a per-read wait on a stop signal would.
#[derive(Default)]
struct OpenSockets {
    fds: HashMap<u64, RawFd>,
    next: u64,
    closing: bool,
}

/// Keeps a connection in `OpenSockets` for its lifetime (dropped before its stream).
struct Registered<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.open_sockets().fds.remove(&self.id);
    }
}

impl Shared {
    fn open_sockets(&self) -> std::sync::MutexGuard<'_, OpenSockets> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn register(&self, fd: RawFd) -> Registered<'_> {
        let mut open = self.open_sockets();
        let id = open.next;
        open.next += 1;
        open.fds.insert(id, fd);
        if open.closing {
            let _ = crate::fd::shutdown(fd, libc::SHUT_RD);
        }
        Registered { shared: self, id }
    }

    /// Ends every connection's reads (see `OpenSockets`).
    fn close_connections(&self) {
        let mut open = self.open_sockets();
        open.closing = true;
        for &fd in open.fds.values() {
            let _ = crate::fd::shutdown(fd, libc::SHUT_RD);
        }
    }

    fn log(&self, line: impl FnOnce() -> String) {
        if let (Some(log), Some(python)) = (&self.log, &self.python) {
            python.log(log, line());
        }
    }
}

#[pyclass(frozen, module = "ferrosock._native", name = "Server")]
pub struct Server {
    kind: Kind,
    local: SocketAddr,
    shared: Arc<Shared>,
    phase: Mutex<Phase>,
    finished: Arc<(Mutex<bool>, Condvar)>,
}

fn bind(
    py: Python<'_>,
    address: &Bound<'_, PyAny>,
    kind: Kind,
    reuse_address: bool,
    backlog: i32,
) -> PyResult<(Socket, SocketAddr)> {
    let family = address_family(address)?;
    let target = addr::to_sockaddr(family, address, "bind")?;
    let (ty, protocol) = match kind {
        Kind::Tcp => (Type::STREAM, Protocol::TCP),
        Kind::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let socket = py
        .detach(|| -> std::io::Result<Socket> {
            let socket = Socket::new(Domain::from(family), ty, Some(protocol))?;
            socket.set_reuse_address(reuse_address)?;
            socket.bind(&target)?;
            if kind == Kind::Tcp {
                socket.listen(backlog)?;
            }
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .map_err(errors::from_io)?;
    let local = socket
        .local_addr()
        .map_err(errors::from_io)?
        .as_socket()
        .ok_or_else(|| PyValueError::new_err("servers listen on IPv4 or IPv6 addresses"))?;
    Ok((socket, local))
}

/// AF_INET6 when the host is an IPv6 literal, AF_INET otherwise.
fn address_family(address: &Bound<'_, PyAny>) -> PyResult<i32> {
    let host = address
        .cast::<PyTuple>()
        .ok()
        .and_then(|t| t.get_item(0).ok())
        .and_then(|h| h.extract::<String>().ok());
    let Some(host) = host else {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "address must be a (host, port) tuple",
        ));
    };
    Ok(if host.contains(':') {
        libc::AF_INET6
    } else {
        libc::AF_INET
    })
}

fn peer_tuple(py: Python<'_>, peer: SocketAddr) -> Py<PyAny> {
    let converted = addr::from_sockaddr(py, &socket2::SockAddr::from(peer));
    converted.unwrap_or_else(|_| py.None())
}

impl Server {
    fn new(
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        kind: Kind,
        behaviour: Behaviour,
        config: &Config,
    ) -> PyResult<Self> {
        let (socket, local) = bind(py, address, kind, config.reuse_address, config.backlog)?;
        let python = config
            .log
            .is_some()
            .then(|| PythonCalls::start(behaviour.name()))
            .transpose()
            .map_err(errors::from_io)?;
        Ok(Server {
            kind,
            local,
            shared: Arc::new(Shared {
                behaviour,
                stats: Stats::default(),
                options: Options {
                    max_connections: config.max_connections,
                    idle_timeout: config.idle_timeout,
                    write_timeout: config.write_timeout.or(config.idle_timeout),
                    keepalive: config.keepalive,
                },
                log: config.log.as_ref().map(|l| Arc::new(l.clone_ref(py))),
                python,
                open: Mutex::new(OpenSockets::default()),
            }),
            phase: Mutex::new(Phase::Bound(socket)),
            finished: Arc::new((Mutex::new(false), Condvar::new())),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_finished(finished: &(Mutex<bool>, Condvar)) {
        *finished.0.lock().unwrap_or_else(|p| p.into_inner()) = true;
        finished.1.notify_all();
    }

    fn is_finished(&self) -> bool {
        *self.finished.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The keyword options shared by every server constructor.
struct Config {
    reuse_address: bool,
    backlog: i32,
    max_connections: Option<usize>,
    idle_timeout: Option<Duration>,
    write_timeout: Option<Duration>,
    keepalive: Option<Keepalive>,
    log: Option<Py<PyAny>>,
}

fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    value
        .map(|v| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| PyValueError::new_err(format!("{what} must be a positive number")))
        })
        .transpose()
}

fn callable_handler(py: Python<'_>, handler: Option<Py<PyAny>>) -> PyResult<Py<PyAny>> {
    let handler = handler.ok_or_else(|| PyValueError::new_err("this server needs a handler"))?;
    if !handler.bind(py).is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(
            "handler must be callable: handler(data: bytes, peer) -> bytes | None",
        ));
    }
    Ok(handler)
}

fn parse_kind(kind: &str) -> PyResult<Kind> {
    match kind {
        "tcp" => Ok(Kind::Tcp),
        "udp" => Ok(Kind::Udp),
        other => Err(PyValueError::new_err(format!(
            "kind must be 'tcp' or 'udp', not {other:?}"
        ))),
    }
}

#[pymethods]
impl Server {
    /// A native server: `behaviour` is one of "echo", "reply", "time", "chat", "handler".
    #[new]
    #[pyo3(signature = (
        address, behaviour, *, kind="tcp", reply=None, handler=None, log=None,
        reuse_address=None, backlog=128, max_connections=None, idle_timeout=None,
        write_timeout=None, keepalive=Some(KeepaliveArg::Flag(true)),
        max_users=1024, max_name=32, header="!I", max_size=67_108_864, blocking=false,
    ))]
    #[allow(clippy::too_many_arguments)]
    fn py_new(
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        behaviour: &str,
        kind: &str,
        reply: Option<Vec<u8>>,
        handler: Option<Py<PyAny>>,
        log: Option<Py<PyAny>>,
        reuse_address: Option<bool>,
        backlog: i32,
        max_connections: Option<usize>,
        idle_timeout: Option<f64>,
        write_timeout: Option<f64>,
        keepalive: Option<KeepaliveArg>,
        max_users: usize,
        max_name: usize,
        header: &str,
        max_size: u64,
        blocking: bool,
    ) -> PyResult<Self> {
        let idle = seconds(idle_timeout, "idle_timeout")?;
        let write_timeout = seconds(write_timeout, "write_timeout")?;
        let keepalive = KeepaliveArg::resolve(keepalive)?;
        if max_connections == Some(0) {
            return Err(PyValueError::new_err("max_connections must be at least 1"));
        }
        let kind = parse_kind(kind)?;
        let (kind, behaviour) = match behaviour {
            "echo" => (kind, Behaviour::Echo),
            "reply" => (
                kind,
                Behaviour::Reply(reply.unwrap_or_else(|| b"hi".to_vec())),
            ),
            "time" => (Kind::Udp, Behaviour::Time),
            "chat" => {
                let limits = ChatLimits {
                    max_users,
                    max_name_chars: max_name,
                    idle_timeout: idle.unwrap_or(Duration::from_secs(300)),
                };
                (
                    Kind::Udp,
                    Behaviour::Chat(Mutex::new(ChatRooms::new(limits))),
                )
            }
            "handler" => {
                let handler = callable_handler(py, handler)?;
                (kind, Behaviour::Python { handler, blocking })
            }
            "framed" => {
                let header = crate::framing::Header::parse(header).ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "header must be '!I', '<I', '!H' or '!Q', not {header:?}"
                    ))
                })?;
                let handler = callable_handler(py, handler)?;
                (
                    Kind::Tcp,
                    Behaviour::Framed {
                        handler,
                        blocking,
                        header,
                        max_size,
                    },
                )
            }
            other => {
                return Err(PyValueError::new_err(format!(
                    "unknown server behaviour {other:?}"
                )))
            }
        };
        let config = Config {
            // TCP: a restarted server must not trip over TIME_WAIT. UDP gains nothing from it
            // and would let a second server bind the same port silently.
            reuse_address: reuse_address.unwrap_or(kind == Kind::Tcp),
            backlog,
            max_connections,
            idle_timeout: if matches!(behaviour, Behaviour::Chat(_)) {
                None
            } else {
                idle
            },
            write_timeout,
            keepalive: if kind == Kind::Tcp { keepalive } else { None },
            log,
        };
        Server::new(py, address, kind, behaviour, &config)
    }

    /// The bound address, as Python's `getsockname()` gives it.
    #[getter]
    fn address(&self, py: Python<'_>) -> Py<PyAny> {
        peer_tuple(py, self.local)
    }

    #[getter]
    fn kind(&self) -> &'static str {
        match self.kind {
            Kind::Tcp => "tcp",
            Kind::Udp => "udp",
        }
    }

    #[getter]
    fn running(&self) -> bool {
        matches!(*self.phase(), Phase::Running { .. }) && !self.is_finished()
    }

    /// Serve in the background; returns at once.
    fn start(&self, py: Python<'_>) -> PyResult<()> {
        let rt = runtime::get()?;
        let mut phase = self.phase();
        let socket = match std::mem::replace(&mut *phase, Phase::Stopped) {
            Phase::Bound(socket) => socket,
            other => {
                let state = if matches!(other, Phase::Running { .. }) {
                    "already running"
                } else {
                    "stopped (create a new server to serve again)"
                };
                *phase = other;
                return Err(PyRuntimeError::new_err(format!("the server is {state}")));
            }
        };
        let (shutdown, stop_rx) = watch::channel(false);
        let shared = self.shared.clone();
        let finished = self.finished.clone();
        let _enter = rt.enter();
        let task = match self.kind {
            Kind::Tcp => {
                let listener = TcpListener::from_std(socket.into()).map_err(errors::from_io)?;
                rt.spawn(async move {
                    serve_tcp(listener, shared, stop_rx).await;
                    Server::mark_finished(&finished);
                })
            }
            Kind::Udp => {
                let udp = UdpSocket::from_std(socket.into()).map_err(errors::from_io)?;
                rt.spawn(async move {
                    serve_udp(udp, shared, stop_rx).await;
                    Server::mark_finished(&finished);
                })
            }
        };
        self.shared.stats.started();
        *phase = Phase::Running { shutdown, task };
        let _ = py;
        Ok(())
    }

    /// Stop accepting, let in-flight replies finish for up to `timeout` seconds, close all.
    #[pyo3(signature = (timeout=5.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let grace = Duration::try_from_secs_f64(timeout.max(0.0))
            .map_err(|_| PyValueError::new_err("timeout must be a number of seconds"))?;
        let previous = std::mem::replace(&mut *self.phase(), Phase::Stopped);
        let Phase::Running { shutdown, task } = previous else {
            // Never started: closing the bound socket is all there is to do.
            Server::mark_finished(&self.finished);
            return Ok(());
        };
        let _ = shutdown.send(true);
        let rt = runtime::get()?;
        let began = std::time::Instant::now();
        let shared = &self.shared;
        py.detach(|| {
            rt.block_on(async {
                let abort = task.abort_handle();
                if tokio::time::timeout(grace + Duration::from_millis(100), task)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            });
            // Every connection is done, so no more lines come: let the log thread write the
            // ones queued (each answered request's line was queued before its reply was sent).
            if let Some(python) = &shared.python {
                let left = (grace + Duration::from_millis(100)).saturating_sub(began.elapsed());
                python.drain(left.max(Duration::from_millis(100)));
            }
        });
        Server::mark_finished(&self.finished);
        Ok(())
    }

    /// Block until the server stops; Ctrl-C stops it and raises KeyboardInterrupt.
    fn serve_forever(&self, py: Python<'_>) -> PyResult<()> {
        if matches!(*self.phase(), Phase::Bound(_)) {
            self.start(py)?;
        }
        loop {
            let finished = self.finished.clone();
            let done = py.detach(move || {
                let guard = finished.0.lock().unwrap_or_else(|p| p.into_inner());
                let (guard, _) = finished
                    .1
                    .wait_timeout_while(guard, SIGNAL_SLICE, |done| !*done)
                    .unwrap_or_else(|p| p.into_inner());
                *guard
            });
            if done {
                return Ok(());
            }
            if let Err(err) = py.check_signals() {
                self.stop(py, 5.0)?;
                return Err(err);
            }
        }
    }

    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        self.shared.stats.to_dict(py)
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let limit = shared
        .options
        .max_connections
        .map(|n| Arc::new(Semaphore::new(n)));
    let mut connections = JoinSet::new();
    loop {
        let permit = match &limit {
            Some(limit) => tokio::select! {
                permit = limit.clone().acquire_owned() => permit.ok(),
                _ = stop.changed() => break,
            },
            None => None,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => break,
            // Reap finished connection tasks so the set does not grow without bound.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((stream, peer)) => {
                let shared = shared.clone();
                connections.spawn(async move {
                    let _permit = permit;
                    serve_connection(stream, peer, shared).await;
                });
            }
            Err(_) => {
                shared.stats.error();
                // EMFILE and friends: back off briefly instead of spinning.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    drop(listener);
    // In-flight replies finish; connections waiting in a read see end-of-stream and close.
    shared.close_connections();
    while connections.join_next().await.is_some() {}
}

async fn serve_connection(mut stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) {
    let _open = OpenConnection::new(&shared.stats);
    let _registered = shared.register(stream.as_raw_fd());
    let _ = stream.set_nodelay(true);
    if let Some(keepalive) = &shared.options.keepalive {
        let _ = keepalive.apply(&stream);
    }
    let write_timeout = shared.options.write_timeout;
    if let Some(stalled) = write_timeout {
        // Replies already in the kernel's send buffer count too: a peer that stops reading
        // (zero window) or vanishes leaves them unacknowledged, and the kernel then ends the
        // connection after `stalled`, waking the task wherever it waits.
        let _ = socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(stalled));
    }
    let peer_py = matches!(
        shared.behaviour,
        Behaviour::Python { .. } | Behaviour::Framed { .. }
    )
    .then(|| Python::attach(|py| peer_tuple(py, peer)));
    if let Behaviour::Framed {
        header, max_size, ..
    } = shared.behaviour
    {
        return serve_frames(stream, peer, &shared, header, max_size, peer_py).await;
    }
    // An idle connection holds no read buffer: it is allocated when the peer first sends, so
    // thousands of idle clients cost a few KiB each.
    let first_data = async {
        match shared.options.idle_timeout {
            Some(idle) => tokio::time::timeout(idle, stream.readable()).await.ok(),
            None => Some(stream.readable().await),
        }
    };
    if !matches!(first_data.await, Some(Ok(()))) {
        return;
    }
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match read_within(&mut stream, &mut buf, shared.options.idle_timeout).await {
            Some(Ok(0)) | None => return,
            Some(Ok(n)) => n,
            Some(Err(_)) => {
                shared.stats.error();
                return;
            }
        };
        let data = &buf[..n];
        shared.stats.received(n);
        shared.log(|| format!("{peer}: {}", data_repr(data)));
        // Echo and reply answer from what they have; only a Python handler builds a reply.
        let written = match &shared.behaviour {
            Behaviour::Echo => write_all(&mut stream, data, write_timeout).await.map(|_| n),
            Behaviour::Reply(reply) => write_all(&mut stream, reply, write_timeout)
                .await
                .map(|_| reply.len()),
            behaviour => {
                let replies = match behaviour.respond(data, peer, peer_py.as_ref()).await {
                    Ok(replies) => replies,
                    Err(_) => {
                        shared.stats.error();
                        return;
                    }
                };
                let mut total = Ok(0);
                for (_, reply) in replies {
                    total = write_all(&mut stream, &reply, write_timeout)
                        .await
                        .map(|_| reply.len());
                    if total.is_err() {
                        break;
                    }
                }
                total
            }
        };
        match written {
            Ok(sent) => shared.stats.sent(sent),
            Err(_) => {
                shared.stats.error();
                return;
            }
        }
    }
}

/// `write_all`, closing on a peer that stops reading: each `write` returns as soon as the
/// kernel takes some bytes, so bounding each one by `stalled` means "no progress for that
/// long", and a large reply to a slow but reading peer still completes.
async fn write_all(
    stream: &mut TcpStream,
    mut data: &[u8],
    stalled: Option<Duration>,
) -> std::io::Result<()> {
    let Some(stalled) = stalled else {
        return stream.write_all(data).await;
    };
    while !data.is_empty() {
        match tokio::time::timeout(stalled, stream.write(data)).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(n)) => data = &data[n..],
            Ok(Err(err)) => return Err(err),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the peer stopped reading",
                ))
            }
        }
    }
    Ok(())
}

/// One read, bounded by the idle timeout if there is one (None: it passed).
async fn read_within(
    stream: &mut TcpStream,
    buf: &mut [u8],
    idle: Option<Duration>,
) -> Option<std::io::Result<usize>> {
    match idle {
        Some(idle) => tokio::time::timeout(idle, stream.read(buf)).await.ok(),
        None => Some(stream.read(buf).await),
    }
}

async fn serve_udp(socket: UdpSocket, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
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
            match socket.send_to(&reply, to).await {
                Ok(_) => shared.stats.sent(reply.len()),
                Err(_) => shared.stats.error(),
            }
        }
    }
}

/// A framed connection: read whole messages (header, then body), answer each one framed.
async fn serve_frames(
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
                Some(idle) => tokio::time::timeout(idle, read).await.ok(),
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
                Some(idle) => tokio::time::timeout(idle, read).await.ok(),
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
            match write_frame(&mut stream, header, &reply, write_timeout).await {
                Ok(n) => shared.stats.sent(n),
                Err(_) => {
                    shared.stats.error();
                    return;
                }
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
    write_all(stream, &frame, stalled).await?;
    Ok(frame.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_arguments_resolve_to_the_documented_values() {
        assert_eq!(KeepaliveArg::resolve(None).ok(), Some(None));
        assert_eq!(
            KeepaliveArg::resolve(Some(KeepaliveArg::Flag(false))).ok(),
            Some(None)
        );
        assert_eq!(
            KeepaliveArg::resolve(Some(KeepaliveArg::Flag(true))).ok(),
            Some(Some(Keepalive::DEFAULT))
        );
        let short = KeepaliveArg::resolve(Some(KeepaliveArg::Seconds(3.0))).ok();
        assert_eq!(
            short,
            Some(Some(Keepalive {
                idle: Duration::from_secs(3),
                interval: Duration::from_secs(3),
                retries: 5,
            }))
        );
        let full = KeepaliveArg::resolve(Some(KeepaliveArg::Full((1.0, 2.0, 3)))).ok();
        assert_eq!(
            full,
            Some(Some(Keepalive {
                idle: Duration::from_secs(1),
                interval: Duration::from_secs(2),
                retries: 3,
            }))
        );
    }
}
