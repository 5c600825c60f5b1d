//! Async versions of the native clients: tokio futures awaited from asyncio.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use pyo3::exceptions::{PyTimeoutError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use pyo3_async_runtimes::generic::future_into_py;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, UdpSocket};
use tokio::sync::Mutex;

use super::SharedRuntime;
use crate::clients::{ChatError, RESEND_FIRST, RESEND_MAX};
use crate::errors;
use crate::keepalive::KeepaliveArg;
use crate::servers::chat_protocol::{self, ChatReply, Expect};

fn host_port(address: &Bound<'_, PyAny>) -> PyResult<(String, u16)> {
    address
        .extract::<(String, u16)>()
        .map_err(|_| PyValueError::new_err("address must be a (host, port) tuple"))
}

fn limit(timeout: Option<f64>) -> PyResult<Option<Duration>> {
    timeout
        .map(|t| {
            Duration::try_from_secs_f64(t)
                .map_err(|_| PyValueError::new_err("timeout must be a non-negative number"))
        })
        .transpose()
}

/// Runs `fut` with the timeout (None: none), mapping errors as the blocking clients do.
async fn within<T>(
    timeout: Option<Duration>,
    fut: impl std::future::Future<Output = std::io::Result<T>>,
) -> PyResult<T> {
    let result = match timeout {
        Some(t) => tokio::time::timeout(t, fut)
            .await
            .map_err(|_| PyTimeoutError::new_err("timed out"))?,
        None => fut.await,
    };
    result.map_err(errors::from_io)
}

async fn resolve(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    tokio::net::lookup_host((host, port))
        .await?
        .next()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no address"))
}

async fn udp_to(host: &str, port: u16) -> std::io::Result<UdpSocket> {
    let to = resolve(host, port).await?;
    let local: SocketAddr = if to.is_ipv6() {
        "[::]:0".parse().expect("literal")
    } else {
        "0.0.0.0:0".parse().expect("literal")
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(to).await?;
    Ok(socket)
}

/// `await aio.time_query(address, fmt="")`.
#[pyfunction]
#[pyo3(
    signature = (address, fmt=String::new(), *, timeout=Some(5.0)),
    text_signature = "(address, fmt='', *, timeout=5.0)"
)]
pub fn aio_time_query<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
    fmt: String,
    timeout: Option<f64>,
) -> PyResult<Bound<'py, PyAny>> {
    let (host, port) = host_port(address)?;
    let timeout = limit(timeout)?;
    future_into_py::<SharedRuntime, _, _>(py, async move {
        let reply = within(timeout, async {
            let socket = udp_to(&host, port).await?;
            socket.send(fmt.as_bytes()).await?;
            let mut buf = vec![0u8; 65_536];
            let n = socket.recv(&mut buf).await?;
            buf.truncate(n);
            Ok(buf)
        })
        .await?;
        crate::clients::time_reply_text(reply)
    })
}

/// `await aio.echo(address, data, kind="tcp")`; `keepalive` as the blocking `echo` takes it.
#[pyfunction]
#[pyo3(
    signature = (address, data, *, kind="tcp".to_owned(), timeout=Some(5.0), keepalive=Some(KeepaliveArg::Flag(false))),
    text_signature = "(address, data, *, kind='tcp', timeout=5.0, keepalive=False)"
)]
pub fn aio_echo<'py>(
    py: Python<'py>,
    address: &Bound<'py, PyAny>,
    data: Vec<u8>,
    kind: String,
    timeout: Option<f64>,
    keepalive: Option<KeepaliveArg>,
) -> PyResult<Bound<'py, PyAny>> {
    let (host, port) = host_port(address)?;
    let timeout = limit(timeout)?;
    let keepalive = KeepaliveArg::resolve(keepalive)?;
    if kind != "tcp" && kind != "udp" {
        return Err(PyValueError::new_err(format!(
            "kind must be 'tcp' or 'udp', not {kind:?}"
        )));
    }
    future_into_py::<SharedRuntime, _, _>(py, async move {
        let back = within(timeout, async {
            if kind == "udp" {
                let socket = udp_to(&host, port).await?;
                socket.send(&data).await?;
                let mut buf = vec![0u8; 65_536];
                let n = socket.recv(&mut buf).await?;
                buf.truncate(n);
                return Ok(buf);
            }
            let to = resolve(&host, port).await?;
            let socket = if to.is_ipv6() {
                TcpSocket::new_v6()?
            } else {
                TcpSocket::new_v4()?
            };
            socket.set_nodelay(true)?;
            // Before the connection exists, so no segment leaves without the probes set.
            if let Some(keepalive) = keepalive {
                keepalive.apply(&socket)?;
            }
            let mut stream = socket.connect(to).await?;
            let mut back = vec![0u8; data.len()];
            let (mut reader, mut writer) = stream.split();
            tokio::try_join!(writer.write_all(&data), reader.read_exact(&mut back))?;
            Ok(back)
        })
        .await?;
        Ok(Python::attach(|py| PyBytes::new(py, &back).unbind()))
    })
}

struct ChatState {
    socket: UdpSocket,
    pending: VecDeque<(String, String)>,
}

/// An async chat user: `await AsyncChatClient.connect(address, name)`.
#[pyclass(frozen, module = "ferrosock._native", name = "AsyncChatClient")]
pub struct AsyncChatClient {
    state: Arc<Mutex<Option<ChatState>>>,
    name: String,
    timeout: Option<Duration>,
}

/// Sends a command and waits for its answer, sending it again while none comes (UDP loses
/// datagrams; see the blocking `ChatClient`). Only an answer of the kind `expect` accepts
/// counts, so a late answer to an earlier try of another command is passed over.
async fn command(
    state: &Mutex<Option<ChatState>>,
    datagram: Vec<u8>,
    expect: Expect<'_>,
    timeout: Option<Duration>,
) -> PyResult<ChatReply> {
    let mut guard = state.lock().await;
    let chat = guard
        .as_mut()
        .ok_or_else(|| errors::os_error(libc::EBADF))?;
    let answer = within(timeout, async {
        chat.socket.send(&datagram).await?;
        let mut buf = vec![0u8; 65_536];
        let mut resend = RESEND_FIRST;
        let mut next = tokio::time::Instant::now() + resend;
        loop {
            tokio::select! {
                received = chat.socket.recv(&mut buf) => {
                    let n = match received {
                        Ok(n) => n,
                        // the server may be restarting: go on trying until the timeout
                        Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                        Err(err) => return Err(err),
                    };
                    match chat_protocol::parse_reply(&buf[..n]) {
                        Some(ChatReply::Delivery { from, text }) => {
                            chat.pending.push_back((from, text))
                        }
                        Some(answer) if expect.accepts(&answer) => return Ok(answer),
                        _ => {}
                    }
                }
                _ = tokio::time::sleep_until(next) => {
                    match chat.socket.send(&datagram).await {
                        Err(err) if err.kind() != std::io::ErrorKind::ConnectionRefused => {
                            return Err(err)
                        }
                        _ => {}
                    }
                    resend = (resend * 3 / 2).min(RESEND_MAX);
                    next = tokio::time::Instant::now() + resend;
                }
            }
        }
    })
    .await?;
    match answer {
        ChatReply::Error(message) => Err(ChatError::new_err(message)),
        other => Ok(other),
    }
}

#[pymethods]
impl AsyncChatClient {
    /// Joins the chat as `name`; resolves to the client.
    #[staticmethod]
    #[pyo3(
        signature = (address, name, *, timeout=Some(5.0)),
        text_signature = "(address, name, *, timeout=5.0)"
    )]
    fn connect<'py>(
        py: Python<'py>,
        address: &Bound<'py, PyAny>,
        name: String,
        timeout: Option<f64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (host, port) = host_port(address)?;
        let timeout = limit(timeout)?;
        let join = chat_protocol::join_command(&name).map_err(PyValueError::new_err)?;
        future_into_py::<SharedRuntime, _, _>(py, async move {
            let socket = within(timeout, udp_to(&host, port)).await?;
            let state = Arc::new(Mutex::new(Some(ChatState {
                socket,
                pending: VecDeque::new(),
            })));
            command(&state, join, Expect::Joined, timeout).await?;
            Ok(AsyncChatClient {
                state,
                name,
                timeout,
            })
        })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    fn send<'py>(&self, py: Python<'py>, to: &str, text: &str) -> PyResult<Bound<'py, PyAny>> {
        let datagram = chat_protocol::send_command(to, text).map_err(PyValueError::new_err)?;
        let (state, timeout) = (self.state.clone(), self.timeout);
        let to = to.to_owned();
        future_into_py::<SharedRuntime, _, _>(py, async move {
            command(&state, datagram, Expect::Delivered(&to), timeout)
                .await
                .map(|_| ())
        })
    }

    fn who<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (state, timeout) = (self.state.clone(), self.timeout);
        future_into_py::<SharedRuntime, _, _>(py, async move {
            match command(&state, chat_protocol::who_command(), Expect::Users, timeout).await? {
                ChatReply::Users(users) => Ok(users),
                other => Err(ChatError::new_err(format!(
                    "unexpected answer to /who: {other:?}"
                ))),
            }
        })
    }

    /// The next `(sender, text)` for us; waits up to `timeout` (None: for ever).
    #[pyo3(signature = (timeout=None))]
    fn recv<'py>(&self, py: Python<'py>, timeout: Option<f64>) -> PyResult<Bound<'py, PyAny>> {
        let state = self.state.clone();
        let timeout = limit(timeout)?;
        future_into_py::<SharedRuntime, _, _>(py, async move {
            let mut guard = state.lock().await;
            let chat = guard
                .as_mut()
                .ok_or_else(|| errors::os_error(libc::EBADF))?;
            if let Some(message) = chat.pending.pop_front() {
                return Ok(message);
            }
            within(timeout, async {
                let mut buf = vec![0u8; 65_536];
                loop {
                    let n = chat.socket.recv(&mut buf).await?;
                    if let Some(ChatReply::Delivery { from, text }) =
                        chat_protocol::parse_reply(&buf[..n])
                    {
                        return Ok((from, text));
                    }
                }
            })
            .await
        })
    }

    /// Leaves the chat and closes the socket.
    fn close<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let (state, timeout) = (self.state.clone(), self.timeout);
        future_into_py::<SharedRuntime, _, _>(py, async move {
            let _ = command(&state, chat_protocol::leave_command(), Expect::Bye, timeout).await;
            state.lock().await.take();
            Ok(())
        })
    }
}
