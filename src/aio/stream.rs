//! The Rust half of `ferrosock.aio.Stream`: a non-blocking descriptor and a read buffer.
//!
//! The asyncio loop calls `fill()` when the descriptor is readable (one `recv` of whatever is
//! there); `take*` hand out buffered data and whole frames. Nothing here blocks, so the GIL is
//! kept: each call is one system call at most.

use std::io::IoSlice;
use std::os::fd::{IntoRawFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args::HeldBuffer;
use crate::errors;
use crate::fd;
use crate::framing::{Header, ReadBuffer};
use crate::framing_py::{framing_error, take_frame};

/// How much one `fill()` reads at most.
const READ_CHUNK: usize = 64 * 1024;

#[pyclass(frozen, module = "ferrosock._native", name = "StreamCore")]
pub struct StreamCore {
    fd: AtomicI32,
    read: Mutex<ReadBuffer>,
}

fn would_block(err: &std::io::Error) -> bool {
    matches!(err.raw_os_error(), Some(libc::EAGAIN | libc::EINTR))
}

impl StreamCore {
    fn buffer(&self) -> std::sync::MutexGuard<'_, ReadBuffer> {
        self.read.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fd(&self) -> RawFd {
        self.fd.load(Ordering::Acquire)
    }
}

impl Drop for StreamCore {
    fn drop(&mut self) {
        let fd = *self.fd.get_mut();
        if fd >= 0 {
            let _ = fd::close(fd);
        }
    }
}

#[pymethods]
impl StreamCore {
    /// Takes ownership of `fd` (a connected stream socket) and makes it non-blocking.
    #[new]
    fn new(fd: RawFd) -> PyResult<Self> {
        fd::borrow(fd)
            .and_then(|s| s.set_nonblocking(true))
            .map_err(errors::from_io)?;
        Ok(StreamCore {
            fd: AtomicI32::new(fd),
            read: Mutex::new(ReadBuffer::default()),
        })
    }

    fn fileno(&self) -> RawFd {
        self.fd()
    }

    /// One non-blocking read into the buffer: bytes read, 0 at end of stream, -1 if nothing
    /// was ready.
    fn fill(&self) -> PyResult<isize> {
        let mut buf = self.buffer();
        match fd::borrow(self.fd()).and_then(|s| s.recv(buf.spare(READ_CHUNK))) {
            Ok(0) => {
                buf.eof = true;
                Ok(0)
            }
            Ok(n) => {
                // SAFETY: recv initialised the first n spare bytes.
                unsafe { buf.commit(n) };
                Ok(n as isize)
            }
            Err(err) if would_block(&err) => Ok(-1),
            Err(err) => Err(errors::from_io(err)),
        }
    }

    #[getter]
    fn buffered(&self) -> usize {
        self.buffer().available().len()
    }

    #[getter]
    fn at_eof(&self) -> bool {
        let buf = self.buffer();
        buf.eof && buf.available().is_empty()
    }

    /// Up to `n` buffered bytes (all of them for a negative `n`); b"" when none.
    fn take<'py>(&self, py: Python<'py>, n: isize) -> Bound<'py, PyBytes> {
        let mut buf = self.buffer();
        let count = match usize::try_from(n) {
            Ok(n) => n.min(buf.available().len()),
            Err(_) => buf.available().len(),
        };
        let out = PyBytes::new(py, &buf.available()[..count]);
        buf.consume(count);
        out
    }

    /// Exactly `n` bytes if that many are buffered; None otherwise (IncompleteFrame if the
    /// stream has ended short).
    fn take_exactly<'py>(
        &self,
        py: Python<'py>,
        n: usize,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let mut buf = self.buffer();
        let have = buf.available().len();
        if have < n {
            if buf.eof {
                return Err(framing_error(
                    py,
                    "IncompleteFrame",
                    (n as u64, have as u64),
                ));
            }
            return Ok(None);
        }
        let out = PyBytes::new(py, &buf.available()[..n]);
        buf.consume(n);
        Ok(Some(out))
    }

    /// The next whole frame if it is buffered; None if more data is needed or the stream
    /// ended cleanly between frames (check `at_eof`).
    #[pyo3(signature = (header="!I", max_size=67_108_864))]
    fn take_msg<'py>(
        &self,
        py: Python<'py>,
        header: &str,
        max_size: u64,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let kind = Header::parse(header)
            .ok_or_else(|| PyValueError::new_err(format!("unknown header {header:?}")))?;
        let mut buf = self.buffer();
        take_frame(py, &mut buf, kind, max_size)
    }

    /// One non-blocking send: how many bytes went out (0 if the socket buffer is full).
    fn send(&self, data: &Bound<'_, PyAny>) -> PyResult<usize> {
        let held = HeldBuffer::readable(data)?;
        match fd::borrow(self.fd()).and_then(|s| s.send(held.as_slice())) {
            Ok(n) => Ok(n),
            Err(err) if would_block(&err) => Ok(0),
            Err(err) => Err(errors::from_io(err)),
        }
    }

    /// Sends `data` as one frame without blocking: None when all of it went out, else the bytes
    /// still to send.
    #[pyo3(signature = (data, header="!I"))]
    fn send_msg<'py>(
        &self,
        py: Python<'py>,
        data: &Bound<'py, PyAny>,
        header: &str,
    ) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let kind = Header::parse(header)
            .ok_or_else(|| PyValueError::new_err(format!("unknown header {header:?}")))?;
        let held = HeldBuffer::readable(data)?;
        let body = held.as_slice();
        let (head, head_len) = kind.encode(body.len()).ok_or_else(|| {
            framing_error(py, "FrameTooLarge", (body.len() as u64, kind.max_body()))
        })?;
        let head = &head[..head_len];
        let sent = match fd::borrow(self.fd())
            .and_then(|s| s.send_vectored(&[IoSlice::new(head), IoSlice::new(body)]))
        {
            Ok(n) => n,
            Err(err) if would_block(&err) => 0,
            Err(err) => return Err(errors::from_io(err)),
        };
        if sent == head.len() + body.len() {
            return Ok(None);
        }
        let mut rest = Vec::with_capacity(head.len() + body.len() - sent);
        if sent < head.len() {
            rest.extend_from_slice(&head[sent..]);
            rest.extend_from_slice(body);
        } else {
            rest.extend_from_slice(&body[sent - head.len()..]);
        }
        Ok(Some(PyBytes::new(py, &rest)))
    }

    /// Half-close: no more data will be sent.
    fn shutdown_write(&self) -> PyResult<()> {
        fd::shutdown(self.fd(), libc::SHUT_WR).map_err(errors::from_io)
    }

    fn close(&self) -> PyResult<()> {
        let fd = self.fd.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            fd::close(fd).map_err(errors::from_io)?;
        }
        Ok(())
    }

    /// Gives the descriptor up without closing it.
    fn detach(&self) -> RawFd {
        self.fd.swap(-1, Ordering::AcqRel)
    }
}

/// Accepts every pending connection on a non-blocking listening socket: `[(fd, address)]`.
#[pyfunction]
pub fn accept_ready(py: Python<'_>, listener: RawFd) -> PyResult<Vec<(RawFd, Py<PyAny>)>> {
    let sock = fd::borrow(listener).map_err(errors::from_io)?;
    let mut out = Vec::new();
    loop {
        match sock.accept() {
            Ok((conn, peer)) => {
                let _ = conn.set_nonblocking(true);
                let _ = conn.set_tcp_nodelay(true);
                out.push((conn.into_raw_fd(), crate::addr::from_sockaddr(py, &peer)?));
                if out.len() >= 64 {
                    return Ok(out);
                }
            }
            Err(err) if would_block(&err) => return Ok(out),
            Err(err) if matches!(err.raw_os_error(), Some(libc::ECONNABORTED)) => continue,
            Err(err) if out.is_empty() => return Err(errors::from_io(err)),
            Err(_) => return Ok(out),
        }
    }
}
