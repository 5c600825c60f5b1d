//! `send_msg` / `recv_msg`: framed messages over any socket object with a `fileno()` (a
//! ferrosock socket or a stdlib one), with the GIL released and the socket's own timeout.

use std::io::IoSlice;
use std::os::fd::RawFd;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::args::HeldBuffer;
use crate::blocking::{sock_call, Timeout};
use crate::fd::{self, as_uninit, Interest};
use crate::framing::Header;
use crate::framing_py::{framing_error, take_frame};
use crate::socket::{bytes_filled_by, timeout as socket_timeout, Socket};

/// 64 MiB: the default largest body `recv_msg` accepts.
pub const DEFAULT_MAX_SIZE: u64 = 64 * 1024 * 1024;

/// The descriptor and timeout to use for `sock`, as the socket itself would.
fn endpoint(sock: &Bound<'_, PyAny>) -> PyResult<(RawFd, Timeout)> {
    let (fd, timeout) = match sock.cast::<Socket>() {
        Ok(native) => (native.get().fd(), native.get().timeout()),
        Err(_) => {
            let fd: RawFd = sock.call_method0("fileno")?.extract()?;
            let timeout = socket_timeout::parse(&sock.call_method0("gettimeout")?)?;
            (fd, timeout)
        }
    };
    if timeout.0 == 0 {
        return Err(PyValueError::new_err(
            "framing needs a blocking socket or one with a timeout (a non-blocking socket \
             could stop inside a frame)",
        ));
    }
    Ok((fd, timeout))
}

fn parse_header(spec: &str) -> PyResult<Header> {
    Header::parse(spec).ok_or_else(|| {
        PyValueError::new_err(format!(
            "header must be '!I', '<I', '!H' or '!Q', not {spec:?}"
        ))
    })
}

/// Reads exactly `buf.len()` bytes; returns how many arrived before EOF.
fn recv_exact(py: Python<'_>, fd: RawFd, timeout: Timeout, buf: &mut [u8]) -> PyResult<usize> {
    let mut got = 0;
    while got < buf.len() {
        let rest = &mut buf[got..];
        let n = sock_call(py, fd, timeout, Interest::Read, false, |fd| {
            fd::borrow(fd)?.recv(as_uninit(rest))
        })?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got)
}

/// Send `data` as one frame: the header, then the body, in as few system calls as possible.
#[pyfunction]
#[pyo3(signature = (sock, data, header="!I"))]
pub fn send_msg(
    py: Python<'_>,
    sock: &Bound<'_, PyAny>,
    data: &Bound<'_, PyAny>,
    header: &str,
) -> PyResult<()> {
    let kind = parse_header(header)?;
    let body = HeldBuffer::readable(data)?;
    let body = body.as_slice();
    let (head, head_len) = kind
        .encode(body.len())
        .ok_or_else(|| framing_error(py, "FrameTooLarge", (body.len() as u64, kind.max_body())))?;
    let (fd, timeout) = endpoint(sock)?;
    let (mut head, mut body) = (&head[..head_len], body);
    while !head.is_empty() || !body.is_empty() {
        let sent = sock_call(py, fd, timeout, Interest::Write, false, |fd| {
            fd::borrow(fd)?.send_vectored(&[IoSlice::new(head), IoSlice::new(body)])
        })?;
        let from_head = sent.min(head.len());
        head = &head[from_head..];
        body = &body[sent - from_head..];
        py.check_signals()?;
    }
    Ok(())
}

/// Receive one frame. A clean end of stream before a header returns None; an end inside a
/// frame raises IncompleteFrame; a length over `max_size` raises FrameTooLarge before anything
/// is allocated (the connection is then out of step: close it).
#[pyfunction]
#[pyo3(signature = (sock, header="!I", max_size=67_108_864))]
pub fn recv_msg<'py>(
    py: Python<'py>,
    sock: &Bound<'py, PyAny>,
    header: &str,
    max_size: u64,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    let kind = parse_header(header)?;
    let (fd, timeout) = endpoint(sock)?;
    let mut head = [0u8; 8];
    let head = &mut head[..kind.size()];
    let got = recv_exact(py, fd, timeout, head)?;
    if got == 0 {
        return Ok(None);
    }
    if got < head.len() {
        return Err(framing_error(
            py,
            "IncompleteFrame",
            (head.len() as u64, got as u64),
        ));
    }
    let len = kind.decode(head);
    if len > max_size {
        return Err(framing_error(py, "FrameTooLarge", (len, max_size)));
    }
    let len = isize::try_from(len)
        .map_err(|_| framing_error(py, "FrameTooLarge", (len, isize::MAX as u64)))?;
    recv_bytes(py, fd, timeout, len).map(Some)
}

/// Exactly `len` bytes as a bytes object, read straight into it; IncompleteFrame if the
/// stream ends first.
fn recv_bytes(
    py: Python<'_>,
    fd: RawFd,
    timeout: Timeout,
    len: isize,
) -> PyResult<Bound<'_, PyBytes>> {
    let mut short = None;
    let data = bytes_filled_by(py, len, |buf| {
        let got = recv_exact(py, fd, timeout, buf)?;
        if got < buf.len() {
            short = Some(got);
        }
        Ok(got)
    })?;
    match short {
        Some(got) => Err(framing_error(
            py,
            "IncompleteFrame",
            (len as u64, got as u64),
        )),
        None => Ok(data),
    }
}

/// Exactly `n` bytes from the socket, or IncompleteFrame if it ends first.
#[pyfunction]
pub fn recv_exactly<'py>(
    py: Python<'py>,
    sock: &Bound<'py, PyAny>,
    n: usize,
) -> PyResult<Bound<'py, PyBytes>> {
    let (fd, timeout) = endpoint(sock)?;
    let len = isize::try_from(n).map_err(|_| PyValueError::new_err("n is too large"))?;
    recv_bytes(py, fd, timeout, len)
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_defaults_spell_the_default_max_size() {
        // PyO3 signatures need a literal (so stubtest sees the value); keep it in step.
        assert_eq!(67_108_864, super::DEFAULT_MAX_SIZE);
    }
}

/// Reads frames from a socket through a buffer: each system call takes whatever has arrived
/// (up to 64 KiB), so a stream of small messages costs one call per many messages instead of
/// two per message. The buffer belongs to the reader: read the socket only through it.
#[pyclass(frozen, module = "ferrosock._native", name = "FrameReader")]
pub struct FrameReader {
    sock: Py<PyAny>,
    header: Header,
    max_size: u64,
    buffer: std::sync::Mutex<crate::framing::ReadBuffer>,
}

const READ_AHEAD: usize = 64 * 1024;

#[pymethods]
impl FrameReader {
    #[new]
    #[pyo3(signature = (sock, header="!I", max_size=67_108_864))]
    fn new(sock: Py<PyAny>, header: &str, max_size: u64) -> PyResult<Self> {
        Ok(FrameReader {
            sock,
            header: parse_header(header)?,
            max_size,
            buffer: std::sync::Mutex::new(crate::framing::ReadBuffer::default()),
        })
    }

    /// The next message; None at a clean end of stream (errors as `recv_msg`).
    fn recv_msg<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        // Never wait for this lock with the GIL held: a second reader is a usage error.
        let mut buf = self.buffer.try_lock().map_err(|_| {
            pyo3::exceptions::PyRuntimeError::new_err("another thread is reading this FrameReader")
        })?;
        loop {
            if let Some(message) = take_frame(py, &mut buf, self.header, self.max_size)? {
                return Ok(Some(message));
            }
            if buf.eof {
                return Ok(None);
            }
            let (fd, timeout) = endpoint(self.sock.bind(py))?;
            let spare = buf.spare(READ_AHEAD);
            let n = sock_call(py, fd, timeout, Interest::Read, false, |fd| {
                fd::borrow(fd)?.recv(&mut *spare)
            })?;
            if n == 0 {
                buf.eof = true;
            } else {
                // SAFETY: recv initialised the first n spare bytes.
                unsafe { buf.commit(n) };
            }
        }
    }

    /// Bytes received and not yet returned.
    #[getter]
    fn buffered(&self) -> usize {
        self.buffer
            .try_lock()
            .map_or(0, |buf| buf.available().len())
    }

    #[getter]
    fn socket(&self, py: Python<'_>) -> Py<PyAny> {
        self.sock.clone_ref(py)
    }
}
