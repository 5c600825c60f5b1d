//! Native blocking clients for the servers: the GIL is released while waiting, Ctrl-C
//! interrupts, and every call has a timeout. They use the same `sock_call` path as the drop-in
//! socket, so EINTR, deadlines and errors behave exactly as a stdlib socket's would.

use std::collections::VecDeque;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::create_exception;
use pyo3::exceptions::{PyConnectionRefusedError, PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use crate::blocking::{sock_call, Failure, Timeout};
use crate::fd::{as_uninit, Interest};
use crate::keepalive::{Keepalive, KeepaliveArg};
use crate::servers::chat_protocol::{self, ChatReply, Expect};
use crate::{addr, errors};

create_exception!(
    ferrosock,
    ChatError,
    PyException,
    "The chat server answered a command with an error."
);

/// An absolute deadline, handed to each blocking step as what is left of it.
#[derive(Clone, Copy)]
struct Deadline(Option<Instant>);

impl Deadline {
    fn after(timeout: Option<f64>) -> PyResult<Self> {
        match timeout {
            None => Ok(Deadline(None)),
            Some(t) => {
                let d = Duration::try_from_secs_f64(t)
                    .map_err(|_| PyValueError::new_err("timeout must be a non-negative number"))?;
                Ok(Deadline(Some(Instant::now() + d)))
            }
        }
    }

    /// The remaining time as a socket timeout (at least 1 ns, so an expired deadline still
    /// polls once and then reports `timed out`); no deadline waits for ever.
    fn left(self) -> Timeout {
        match self.0 {
            None => Timeout(i64::MAX),
            Some(at) => {
                let left = at.saturating_duration_since(Instant::now());
                Timeout((left.as_nanos() as i64).max(1))
            }
        }
    }
}

fn step<T: Send>(
    py: Python<'_>,
    socket: &Socket,
    deadline: Deadline,
    interest: Interest,
    op: impl FnMut(i32) -> std::io::Result<T> + Send,
) -> PyResult<T> {
    sock_call(py, socket.as_raw_fd(), deadline.left(), interest, false, op).map_err(PyErr::from)
}

fn target(address: &Bound<'_, PyAny>) -> PyResult<(Domain, SockAddr)> {
    let host_is_v6 = address
        .cast::<PyTuple>()
        .ok()
        .and_then(|t| t.get_item(0).ok())
        .and_then(|h| h.extract::<String>().ok())
        .is_some_and(|h| h.contains(':'));
    let family = if host_is_v6 {
        libc::AF_INET6
    } else {
        libc::AF_INET
    };
    Ok((
        Domain::from(family),
        addr::to_sockaddr(family, address, "connect")?,
    ))
}

/// A non-blocking UDP socket connected to `address` (so only its replies are received).
fn udp_to(py: Python<'_>, address: &Bound<'_, PyAny>) -> PyResult<Socket> {
    let (domain, to) = target(address)?;
    py.detach(|| -> std::io::Result<Socket> {
        let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        socket.set_nonblocking(true)?;
        socket.connect(&to)?;
        Ok(socket)
    })
    .map_err(errors::from_io)
}

/// A non-blocking TCP socket connected to `address` within the deadline, with `keepalive`'s
/// probes (if any) set before the connection is made.
fn tcp_to(
    py: Python<'_>,
    address: &Bound<'_, PyAny>,
    deadline: Deadline,
    keepalive: Option<Keepalive>,
) -> PyResult<Socket> {
    let (domain, to) = target(address)?;
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP)).map_err(errors::from_io)?;
    socket.set_nonblocking(true).map_err(errors::from_io)?;
    let _ = socket.set_tcp_nodelay(true);
    if let Some(keepalive) = keepalive {
        keepalive.apply(&socket).map_err(errors::from_io)?;
    }
    match socket.connect(&to) {
        Ok(()) => return Ok(socket),
        Err(err) if err.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(err) => return Err(errors::from_io(err)),
    }
    let waited = sock_call(
        py,
        socket.as_raw_fd(),
        deadline.left(),
        Interest::Connect,
        true,
        |fd| match crate::fd::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
            0 => Ok(()),
            pending => Err(std::io::Error::from_raw_os_error(pending)),
        },
    );
    match waited {
        Ok(()) => Ok(socket),
        Err(Failure::Os(errno)) => Err(errors::os_error(errno)),
        Err(other) => Err(other.into()),
    }
}

fn send_all(py: Python<'_>, socket: &Socket, mut data: &[u8], deadline: Deadline) -> PyResult<()> {
    while !data.is_empty() {
        let sent = step(py, socket, deadline, Interest::Write, |_| socket.send(data))?;
        data = &data[sent..];
    }
    Ok(())
}

fn recv_datagram(py: Python<'_>, socket: &Socket, deadline: Deadline) -> PyResult<Vec<u8>> {
    let mut buf = vec![0u8; 65_536];
    let n = step(py, socket, deadline, Interest::Read, |_| {
        socket.recv(as_uninit(&mut buf))
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// Ask a time server for the local time in `fmt` (empty: the server's default format).
#[pyfunction]
#[pyo3(
    signature = (address, fmt="", *, timeout=Some(5.0)),
    text_signature = "(address, fmt='', *, timeout=5.0)"
)]
pub fn time_query(
    py: Python<'_>,
    address: &Bound<'_, PyAny>,
    fmt: &str,
    timeout: Option<f64>,
) -> PyResult<String> {
    let deadline = Deadline::after(timeout)?;
    let socket = udp_to(py, address)?;
    step(py, &socket, deadline, Interest::Write, |_| {
        socket.send(fmt.as_bytes())
    })?;
    time_reply_text(recv_datagram(py, &socket, deadline)?)
}

/// A time server's reply as text; its `error: ...` replies raise ValueError.
pub fn time_reply_text(reply: Vec<u8>) -> PyResult<String> {
    let text = String::from_utf8(reply)
        .map_err(|_| PyValueError::new_err("the time server's reply is not UTF-8"))?;
    match text.strip_prefix("error: ") {
        Some(message) => Err(PyValueError::new_err(message.to_owned())),
        None => Ok(text),
    }
}

/// Send `data` to an echo server and return what comes back (all of it, for TCP).
///
/// `keepalive` (TCP; as the servers take it) is off by default: one request is bounded by
/// `timeout`, far sooner than a first probe would go out. With `timeout=None`, pass
/// `keepalive=True` so a server that vanishes mid-request is noticed (in about 2 minutes).
#[pyfunction]
#[pyo3(
    signature = (address, data, *, kind="tcp", timeout=Some(5.0), keepalive=Some(KeepaliveArg::Flag(false))),
    text_signature = "(address, data, *, kind='tcp', timeout=5.0, keepalive=False)"
)]
pub fn echo<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
    data: &[u8],
    kind: &str,
    timeout: Option<f64>,
    keepalive: Option<KeepaliveArg>,
) -> PyResult<Bound<'py, PyBytes>> {
    let deadline = Deadline::after(timeout)?;
    let keepalive = KeepaliveArg::resolve(keepalive)?;
    match kind {
        "udp" => {
            let socket = udp_to(py, address)?;
            step(py, &socket, deadline, Interest::Write, |_| {
                socket.send(data)
            })?;
            Ok(PyBytes::new(py, &recv_datagram(py, &socket, deadline)?))
        }
        "tcp" => {
            let socket = tcp_to(py, address, deadline, keepalive)?;
            send_all(py, &socket, data, deadline)?;
            let mut back = vec![0u8; data.len()];
            let mut got = 0;
            while got < back.len() {
                let rest = &mut back[got..];
                let n = step(py, &socket, deadline, Interest::Read, |_| {
                    socket.recv(as_uninit(rest))
                })?;
                if n == 0 {
                    return Err(errors::os_error(libc::ECONNRESET));
                }
                got += n;
            }
            Ok(PyBytes::new(py, &back))
        }
        other => Err(PyValueError::new_err(format!(
            "kind must be 'tcp' or 'udp', not {other:?}"
        ))),
    }
}

/// A user of a `ChatServer`: joins on creation, then sends, receives and lists users.
///
/// Several threads may use one client (a reader thread in `recv` while the main thread
/// sends): whoever reads a datagram files it in the inbox, answers apart from deliveries, and
/// every wait looks at the inbox between short reads. No lock is held while waiting, so the
/// GIL and the socket can never deadlock each other.
///
/// UDP loses datagrams, so a command without an answer is sent again, on the same socket
/// (the server takes a second `/join` from the same address as a rename to the same name),
/// until an answer comes or the timeout passes. A registration the server has forgotten (the
/// user was idle past its `idle_timeout`, or the server restarted) is renewed by joining again,
/// and `recv` keeps it from expiring by asking `/who` after `keepalive` seconds of silence.
#[pyclass(frozen, module = "ferrosock._native", name = "ChatClient")]
pub struct ChatClient {
    socket: Mutex<Option<Arc<Socket>>>,
    name: String,
    timeout: Option<f64>,
    keepalive: Option<Duration>,
    inbox: Mutex<Inbox>,
}

#[derive(Default)]
struct Inbox {
    deliveries: VecDeque<(String, String)>,
    /// Answers with the time they arrived: a command takes only one that came after it was
    /// first sent, and only of the kind it expects.
    answers: VecDeque<(Instant, ChatReply)>,
    /// When we last sent the server anything (the server's idle clock restarts then).
    last_sent: Option<Instant>,
    rejoins: u64,
}

/// How long one read waits before the inbox is looked at again.
const INBOX_SLICE: Duration = Duration::from_millis(50);
/// The first resend of an unanswered command, then 1.5 times longer each time, up to
/// `RESEND_MAX`: over a link that loses 30 % of datagrams, 5 s give 11 tries.
pub(crate) const RESEND_FIRST: Duration = Duration::from_millis(100);
pub(crate) const RESEND_MAX: Duration = Duration::from_millis(500);
/// An answer nobody has taken for this long belongs to a command that gave up.
const STALE_ANSWER: Duration = Duration::from_secs(60);
/// What the server says to an address it has no registration for.
const JOIN_FIRST: &str = "join first with /join NAME";

impl ChatClient {
    fn socket(&self) -> PyResult<Arc<Socket>> {
        self.socket
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| errors::os_error(libc::EBADF))
    }

    fn inbox(&self) -> std::sync::MutexGuard<'_, Inbox> {
        self.inbox.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads at most one datagram (waiting one slice at most) and files it.
    fn pump(&self, py: Python<'_>, socket: &Socket, deadline: Deadline) -> PyResult<()> {
        let slice = Deadline(Some(Instant::now() + INBOX_SLICE));
        let wait = match deadline.0 {
            Some(at) if at < slice.0.expect("set") => deadline,
            _ => slice,
        };
        let datagram = match recv_datagram(py, socket, wait) {
            Ok(datagram) => datagram,
            Err(err) if err.is_instance_of::<pyo3::exceptions::socket::timeout>(py) => {
                return Ok(())
            }
            Err(err) => return Err(err),
        };
        let now = Instant::now();
        match chat_protocol::parse_reply(&datagram) {
            Some(ChatReply::Delivery { from, text }) => {
                self.inbox().deliveries.push_back((from, text))
            }
            Some(answer) => {
                let mut inbox = self.inbox();
                while inbox
                    .answers
                    .front()
                    .is_some_and(|(at, _)| now.duration_since(*at) > STALE_ANSWER)
                {
                    inbox.answers.pop_front();
                }
                inbox.answers.push_back((now, answer));
            }
            None => {}
        }
        Ok(())
    }

    fn expired(deadline: Deadline) -> bool {
        deadline.0.is_some_and(|at| Instant::now() >= at)
    }

    fn transmit(
        &self,
        py: Python<'_>,
        socket: &Socket,
        datagram: &[u8],
        deadline: Deadline,
    ) -> PyResult<()> {
        step(py, socket, deadline, Interest::Write, |_| {
            socket.send(datagram)
        })?;
        self.inbox().last_sent = Some(Instant::now());
        Ok(())
    }

    /// Sends a command and waits for its answer, sending it again while none comes.
    fn command(&self, py: Python<'_>, datagram: &[u8], expect: Expect<'_>) -> PyResult<ChatReply> {
        let deadline = Deadline::after(self.timeout)?;
        let socket = self.socket()?;
        let since = Instant::now();
        self.transmit(py, &socket, datagram, deadline)?;
        let mut resend = RESEND_FIRST;
        let mut next_send = Instant::now() + resend;
        // A refusal (ICMP port unreachable) may only mean the server is restarting: keep trying
        // until the deadline, and report the refusal if nothing better came.
        let mut refused: Option<PyErr> = None;
        loop {
            let answer = {
                let mut inbox = self.inbox();
                let found = inbox
                    .answers
                    .iter()
                    .position(|(at, reply)| *at >= since && expect.accepts(reply));
                found
                    .and_then(|i| inbox.answers.remove(i))
                    .map(|(_, reply)| reply)
            };
            match answer {
                Some(ChatReply::Error(message)) => return Err(ChatError::new_err(message)),
                Some(answer) => return Ok(answer),
                None if Self::expired(deadline) => {
                    return Err(refused.unwrap_or_else(errors::timed_out))
                }
                None if Instant::now() >= next_send => {
                    self.transmit(py, &socket, datagram, deadline)?;
                    resend = (resend * 3 / 2).min(RESEND_MAX);
                    next_send = Instant::now() + resend;
                }
                None => {
                    let until = match deadline.0 {
                        Some(at) if at < next_send => deadline,
                        _ => Deadline(Some(next_send)),
                    };
                    match self.pump(py, &socket, until) {
                        Err(err) if err.is_instance_of::<PyConnectionRefusedError>(py) => {
                            refused = Some(err);
                            // Nothing to read until the next resend; do not spin.
                            let pause = next_send.saturating_duration_since(Instant::now());
                            py.detach(|| std::thread::sleep(pause.min(INBOX_SLICE)));
                        }
                        other => other?,
                    }
                }
            }
        }
    }

    fn join(&self, py: Python<'_>) -> PyResult<()> {
        let join = chat_protocol::join_command(&self.name).map_err(invalid)?;
        self.command(py, &join, Expect::Joined).map(|_| ())
    }

    /// A command that needs our registration: if the server has forgotten it, join again
    /// (counted in `rejoins`) and repeat the command once.
    fn registered_command(
        &self,
        py: Python<'_>,
        datagram: &[u8],
        expect: Expect<'_>,
    ) -> PyResult<ChatReply> {
        match self.command(py, datagram, expect) {
            Err(err)
                if err.is_instance_of::<ChatError>(py)
                    && err.value(py).to_string() == JOIN_FIRST =>
            {
                self.join(py)?;
                self.inbox().rejoins += 1;
                self.command(py, datagram, expect)
            }
            other => other,
        }
    }

    fn who_list(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        match self.registered_command(py, &chat_protocol::who_command(), Expect::Users)? {
            ChatReply::Users(users) => Ok(users),
            other => Err(ChatError::new_err(format!(
                "unexpected answer to /who: {other:?}"
            ))),
        }
    }

    /// After `keepalive` without sending anything, remind the server we are here.
    fn keep_alive(&self, py: Python<'_>) -> PyResult<()> {
        let Some(every) = self.keepalive else {
            return Ok(());
        };
        let due = self
            .inbox()
            .last_sent
            .is_none_or(|at| at.elapsed() >= every);
        if due {
            match self.who_list(py) {
                // No answer this time (a lossy link, a server restarting): try again at the
                // next call. A ChatError (our name taken while we were away) is for the caller.
                Err(err) if err.is_instance_of::<pyo3::exceptions::PyOSError>(py) => {}
                other => other.map(|_| ())?,
            }
        }
        Ok(())
    }
}

fn invalid(message: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(message.to_string())
}

#[pymethods]
impl ChatClient {
    #[new]
    #[pyo3(
        signature = (address, name, *, timeout=Some(5.0), keepalive=Some(60.0)),
        text_signature = "(address, name, *, timeout=5.0, keepalive=60.0)"
    )]
    fn new(
        py: Python<'_>,
        address: &Bound<'_, PyAny>,
        name: &str,
        timeout: Option<f64>,
        keepalive: Option<f64>,
    ) -> PyResult<Self> {
        chat_protocol::join_command(name).map_err(invalid)?;
        let keepalive = keepalive
            .map(|t| {
                Duration::try_from_secs_f64(t)
                    .ok()
                    .filter(|d| !d.is_zero())
                    .ok_or_else(|| PyValueError::new_err("keepalive must be a positive number"))
            })
            .transpose()?;
        let client = ChatClient {
            socket: Mutex::new(Some(Arc::new(udp_to(py, address)?))),
            name: name.to_owned(),
            timeout,
            keepalive,
            inbox: Mutex::new(Inbox::default()),
        };
        client.join(py)?;
        Ok(client)
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// How many times the server had forgotten us and the client joined again by itself.
    #[getter]
    fn rejoins(&self) -> u64 {
        self.inbox().rejoins
    }

    /// Send `text` to user `to`; raises ChatError if the server refuses. Sent again while no
    /// answer comes, so over a lossy link a lost answer can deliver the text twice.
    fn send(&self, py: Python<'_>, to: &str, text: &str) -> PyResult<()> {
        let datagram = chat_protocol::send_command(to, text).map_err(invalid)?;
        self.registered_command(py, &datagram, Expect::Delivered(to))
            .map(|_| ())
    }

    /// The names of the users online.
    fn who(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.who_list(py)
    }

    /// The next message for us, `(sender, text)`; waits up to `timeout` (None: for ever).
    /// While it waits it keeps the registration alive (see the class).
    #[pyo3(signature = (timeout=None))]
    fn recv(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<(String, String)> {
        let deadline = Deadline::after(timeout)?;
        let socket = self.socket()?;
        loop {
            let delivery = self.inbox().deliveries.pop_front();
            match delivery {
                Some(message) => return Ok(message),
                None if Self::expired(deadline) => return Err(errors::timed_out()),
                None => {
                    self.keep_alive(py)?;
                    self.pump(py, &socket, deadline)?
                }
            }
        }
    }

    /// Leave the chat and close the socket (idempotent).
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let leave = self.command(py, &chat_protocol::leave_command(), Expect::Bye);
        self.socket.lock().unwrap_or_else(|p| p.into_inner()).take();
        match leave {
            Err(err) if err.is_instance_of::<ChatError>(py) => Ok(()),
            Err(err) if err.is_instance_of::<pyo3::exceptions::PyOSError>(py) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: &Bound<'_, PyAny>,
        _exc: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }
}
