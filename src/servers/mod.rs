//! Native tokio servers with one lifecycle, driven from Python.
//!
//! The constructor binds (so `Address already in use` raises at once, as a stdlib `bind` does);
//! `start()` hands the socket to the shared runtime and returns; `stop(timeout)` stops
//! accepting, lets replies already being written finish, then closes every connection;
//! `serve_forever()` waits with the GIL released, in a `poll` that Ctrl-C interrupts.
//! What a server does with each message is its `Behaviour`; the TCP and UDP loops are shared.

pub mod behaviour;

pub mod chat_protocol;
mod finished;
mod framed;
mod options;
mod python_calls;
mod shared;
mod sockio;
mod stats;
mod tcp;
mod udp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::sync::watch;

use behaviour::Behaviour;
use chat_protocol::{ChatLimits, ChatRooms};
use finished::{Finished, Woken};
use options::{seconds, Config, KeepaliveArg, Options};
use python_calls::PythonCalls;
use shared::{peer_tuple, Shared};

use crate::runtime::ServerWorkers;
use crate::{addr, errors, runtime};

/// How long `stop()` waits, after its grace period and closing every connection outright, for
/// the tasks to notice before it returns anyway.
const FORCED_CLOSE_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Tcp,
    Udp,
}

enum Phase {
    /// Bound, not serving yet: the socket waits here.
    Bound(Socket),
    Running {
        shutdown: watch::Sender<bool>,
        /// Keeps the workers running while this server is.
        _workers: Arc<ServerWorkers>,
    },
    Stopped,
}

#[pyclass(frozen, module = "ferrosock._native", name = "Server")]
pub struct Server {
    kind: Kind,
    local: SocketAddr,
    shared: Arc<Shared>,
    phase: Mutex<Phase>,
    finished: Arc<Finished>,
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
        let options = Options {
            max_connections: config.max_connections,
            idle_timeout: config.idle_timeout,
            write_timeout: config.write_timeout.or(config.idle_timeout),
            keepalive: config.keepalive,
        };
        let log = config.log.as_ref().map(|l| Arc::new(l.clone_ref(py)));
        Ok(Server {
            kind,
            local,
            shared: Arc::new(Shared {
                python,
                ..Shared::new(behaviour, options, log)
            }),
            phase: Mutex::new(Phase::Bound(socket)),
            finished: Arc::new(Finished::new()),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_finished(&self) -> bool {
        self.finished.is_done()
    }
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
        let workers = runtime::server_workers()?;
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
        // The accept loop (or the UDP loop) runs on the next worker in turn.
        match self.kind {
            Kind::Tcp => {
                let handed_out = workers.clone();
                workers.spawn(async move {
                    tcp::serve_tcp(socket, shared, handed_out, stop_rx).await;
                    finished.mark();
                });
            }
            Kind::Udp => {
                let std_socket: std::net::UdpSocket = socket.into();
                workers.spawn(async move {
                    if let Ok(udp) = UdpSocket::from_std(std_socket) {
                        udp::serve_udp(udp, shared, stop_rx).await;
                    }
                    finished.mark();
                });
            }
        }
        self.shared.stats.started();
        *phase = Phase::Running {
            shutdown,
            _workers: workers,
        };
        let _ = py;
        Ok(())
    }

    /// Stop accepting, let in-flight replies finish for up to `timeout` seconds, close all.
    #[pyo3(signature = (timeout=5.0))]
    fn stop(&self, py: Python<'_>, timeout: f64) -> PyResult<()> {
        let grace = Duration::try_from_secs_f64(timeout.max(0.0))
            .map_err(|_| PyValueError::new_err("timeout must be a number of seconds"))?;
        let previous = std::mem::replace(&mut *self.phase(), Phase::Stopped);
        let Phase::Running { shutdown, _workers } = previous else {
            // Never started: closing the bound socket is all there is to do.
            self.finished.mark();
            return Ok(());
        };
        let _ = shutdown.send(true);
        let began = Instant::now();
        let shared = &self.shared;
        let finished = &self.finished;
        py.detach(|| {
            if !finished.wait(grace + Duration::from_millis(100)) {
                // Grace is over: close every connection outright, so a reply the peer will
                // not read fails now instead of holding the server.
                shared.close_connections(libc::SHUT_RDWR);
                finished.wait(FORCED_CLOSE_WAIT);
            }
            // Every connection is done, so no more lines come: let the log thread write the
            // ones queued (each answered request's line was queued before its reply was sent).
            if let Some(python) = &shared.python {
                let left = (grace + Duration::from_millis(100)).saturating_sub(began.elapsed());
                python.drain(left.max(Duration::from_millis(100)));
            }
        });
        self.finished.mark();
        drop(_workers);
        Ok(())
    }

    /// Block until the server stops; Ctrl-C stops it and raises KeyboardInterrupt.
    fn serve_forever(&self, py: Python<'_>) -> PyResult<()> {
        if matches!(*self.phase(), Phase::Bound(_)) {
            self.start(py)?;
        }
        loop {
            let finished = &self.finished;
            match py.detach(|| finished.wait_interruptibly()) {
                Ok(Woken::Finished) => return Ok(()),
                Ok(Woken::CheckSignals) => {}
                Err(err) => return Err(err.into()),
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
