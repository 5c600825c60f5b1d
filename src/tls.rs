//! The I/O under `ferrosock.ssl`: TLS records between a socket and the stdlib's memory BIOs.
//!
//! `ferrosock.ssl.SSLSocket` drives the stdlib's OpenSSL through `SSLContext._wrap_bio()`; a
//! [`TlsChannel`] moves the ciphertext. Reads stop at record boundaries as OpenSSL's own do (a
//! 5-byte header, then that record's body), so nothing is read ahead of what the engine asked
//! for and `select()` plus `pending()` stay exact. The blocking and timed operation loop runs
//! here ([`TlsChannel::run`]); the non-blocking one, which must raise the engine's own
//! `SSLWantReadError`, runs in Python on [`TlsChannel::fill`] and [`TlsChannel::flush`].

use std::os::fd::RawFd;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyTuple, PyType};

use crate::blocking::{sock_call, Failure, Timeout};
use crate::fd::{self, as_uninit, Interest};
use crate::socket::{bytes_filled_by, Socket};

/// A TLS record header: content type, legacy version, length.
const HEADER: usize = 5;
/// The longest record body OpenSSL accepts (2**14 + 2048); a header announcing more makes it
/// fail on the header alone, so such a header is handed over without waiting for a body.
const MAX_RECORD: usize = 18432;

/// Where the byte stream stands relative to record boundaries.
#[derive(Default)]
struct Records {
    /// Bytes of the current record's body still in the socket.
    left: usize,
    /// A record header read in part.
    header: [u8; HEADER],
    have: usize,
    /// Ciphertext a socket did not take yet (non-blocking and full, or failed).
    unsent: Vec<u8>,
}

/// Whether OpenSSL goes on to read the body of a record with this header.
fn plausible(header: &[u8; HEADER]) -> Option<usize> {
    let len = usize::from(header[3]) << 8 | usize::from(header[4]);
    ((20..=24).contains(&header[0]) && header[1] == 3 && len <= MAX_RECORD).then_some(len)
}

/// One operation's time limit, as `_ssl` keeps it: a deadline for the whole operation.
#[derive(Clone, Copy)]
enum Limit {
    Blocking,
    NonBlocking,
    Until(Instant),
}

impl Limit {
    fn starting_now(timeout: Timeout) -> Limit {
        match timeout.0 {
            t if t < 0 => Limit::Blocking,
            0 => Limit::NonBlocking,
            t => Limit::Until(Instant::now() + Duration::from_nanos(t as u64)),
        }
    }

    fn from_ns(ns: i64) -> Limit {
        Limit::starting_now(Timeout(ns))
    }

    /// The timeout for the next system call; None once the deadline has passed.
    fn next(self) -> Option<Timeout> {
        match self {
            Limit::Blocking => Some(Timeout::BLOCKING),
            Limit::NonBlocking => Some(Timeout(0)),
            Limit::Until(deadline) => {
                let left = deadline.checked_duration_since(Instant::now())?;
                let ns = left.as_nanos().min(i64::MAX as u128) as i64;
                (ns > 0).then_some(Timeout(ns))
            }
        }
    }
}

/// A socket call under `limit`: `Ok(None)` when a non-blocking socket would block.
fn io<T: Send>(
    py: Python<'_>,
    fd: RawFd,
    limit: Limit,
    interest: Interest,
    op: impl FnMut(RawFd) -> std::io::Result<T> + Send,
) -> Result<Option<T>, Failure> {
    let Some(timeout) = limit.next() else {
        return Err(Failure::TimedOut);
    };
    match sock_call(py, fd, timeout, interest, false, op) {
        Ok(value) => Ok(Some(value)),
        Err(Failure::Os(errno)) if timeout.0 == 0 && errno == libc::EAGAIN => Ok(None),
        Err(failure) => Err(failure),
    }
}

fn recv_into(py: Python<'_>, fd: RawFd, limit: Limit, buf: &mut [u8]) -> PyResult<Option<usize>> {
    Ok(io(py, fd, limit, Interest::Read, |fd| {
        fd::borrow(fd)?.recv(as_uninit(buf))
    })?)
}

/// `ssl.SSLWantReadError`, the one engine error the loop answers by reading.
fn want_read(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    static CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    CLASS.import(py, "ssl", "SSLWantReadError")
}

/// The ciphertext pump of one `ferrosock.ssl.SSLSocket`: its two memory BIOs and where the
/// byte stream stands.
#[pyclass(module = "ferrosock._native", frozen)]
pub struct TlsChannel {
    incoming: Py<PyAny>,
    outgoing: Py<PyAny>,
    records: Mutex<Records>,
}

impl TlsChannel {
    fn records(&self) -> std::sync::MutexGuard<'_, Records> {
        // A panic while the lock was held cannot leave the plain data inconsistent.
        self.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn feed(&self, py: Python<'_>, data: &[u8]) -> PyResult<()> {
        let bytes = PyBytes::new(py, data);
        self.feed_bytes(py, &bytes)
    }

    fn feed_bytes(&self, py: Python<'_>, bytes: &Bound<'_, PyBytes>) -> PyResult<()> {
        self.incoming
            .bind(py)
            .call_method1(intern!(py, "write"), (bytes,))?;
        Ok(())
    }

    fn feed_eof(&self, py: Python<'_>) -> PyResult<bool> {
        self.incoming
            .bind(py)
            .call_method0(intern!(py, "write_eof"))?;
        Ok(true)
    }

    /// The next piece of the current record into the engine. False: nothing to read yet.
    fn fill_within(&self, py: Python<'_>, fd: RawFd, limit: Limit) -> PyResult<bool> {
        let (left, mut header, have) = {
            let r = self.records();
            (r.left, r.header, r.have)
        };
        if left > 0 {
            let mut got = 0;
            let mut would_block = false;
            let data = bytes_filled_by(py, left as isize, |buf| {
                match recv_into(py, fd, limit, buf)? {
                    Some(n) => got = n,
                    None => would_block = true,
                }
                Ok(got)
            })?;
            if would_block {
                return Ok(false);
            }
            if got == 0 {
                return self.feed_eof(py);
            }
            self.records().left = left - got;
            self.feed_bytes(py, &data)?;
            return Ok(true);
        }
        let Some(got) = recv_into(py, fd, limit, &mut header[have..])? else {
            return Ok(false);
        };
        if got == 0 {
            return self.feed_eof(py);
        }
        let have_now = have + got;
        if have_now < HEADER {
            {
                let mut r = self.records();
                r.header = header;
                r.have = have_now;
            }
            self.feed(py, &header[have..have_now])?;
            return Ok(true);
        }
        let new_bytes = &header[have..];
        let Some(body) = plausible(&header) else {
            // Not TLS, or a record OpenSSL refuses on sight: let it say so from the header.
            let announced = usize::from(header[3]) << 8 | usize::from(header[4]);
            {
                let mut r = self.records();
                r.have = 0;
                r.left = announced;
            }
            self.feed(py, new_bytes)?;
            return Ok(true);
        };
        // The body almost always came with its header: read it in the same step, into the
        // same bytes object, so the engine gets header and body in one write.
        let keep = new_bytes.len();
        let mut body_got = 0;
        let mut body_state = Ok(());
        let data = bytes_filled_by(py, (keep + body) as isize, |buf| {
            buf[..keep].copy_from_slice(new_bytes);
            if body > 0 {
                match recv_into(py, fd, limit, &mut buf[keep..]) {
                    Ok(Some(n)) => body_got = n,
                    Ok(None) => {}
                    // Keep the header whatever happens (a timeout, Ctrl-C): the stream stays
                    // whole, and the error is raised once the header is with the engine.
                    Err(err) => body_state = Err(err),
                }
            }
            Ok(keep + body_got)
        })?;
        {
            let mut r = self.records();
            r.have = 0;
            r.left = body - body_got;
        }
        self.feed_bytes(py, &data)?;
        body_state?;
        Ok(true)
    }

    /// Sends what the engine wrote (after anything left over). False: a non-blocking socket
    /// is full; the rest is kept for the next flush.
    fn flush_within(&self, py: Python<'_>, fd: RawFd, limit: Limit) -> PyResult<bool> {
        let outgoing = self.outgoing.bind(py);
        let pending: usize = outgoing.getattr(intern!(py, "pending"))?.extract()?;
        let fresh = if pending > 0 {
            Some(
                outgoing
                    .call_method0(intern!(py, "read"))?
                    .cast_into::<PyBytes>()?,
            )
        } else {
            None
        };
        let mut queue = std::mem::take(&mut self.records().unsent);
        let data: &[u8] = match &fresh {
            None if queue.is_empty() => return Ok(true),
            None => &queue,
            Some(fresh) if queue.is_empty() => fresh.as_bytes(),
            Some(fresh) => {
                queue.extend_from_slice(fresh.as_bytes());
                &queue
            }
        };
        let mut sent = 0;
        while sent < data.len() {
            let rest = &data[sent..];
            match io(py, fd, limit, Interest::Write, |fd| {
                fd::borrow(fd)?.send(rest)
            }) {
                Ok(Some(n)) => sent += n,
                Ok(None) => {
                    self.records().unsent = data[sent..].to_vec();
                    return Ok(false);
                }
                Err(failure) => {
                    if matches!(failure, Failure::Os(_)) {
                        // What the socket refused stays for a retry, as OpenSSL keeps a refused
                        // record (not after a timeout or Ctrl-C, when part of it may be gone).
                        self.records().unsent = data[sent..].to_vec();
                    }
                    return Err(failure.into());
                }
            }
        }
        Ok(true)
    }
}

#[pymethods]
impl TlsChannel {
    #[new]
    fn new(incoming: Py<PyAny>, outgoing: Py<PyAny>) -> Self {
        TlsChannel {
            incoming,
            outgoing,
            records: Mutex::new(Records::default()),
        }
    }

    /// Reads the next piece of the current TLS record from `sock` into the incoming BIO,
    /// within `timeout_ns` (negative: blocking, 0: non-blocking). False: nothing to read.
    fn fill(&self, py: Python<'_>, sock: &Bound<'_, Socket>, timeout_ns: i64) -> PyResult<bool> {
        self.fill_within(py, sock.get().fd(), Limit::from_ns(timeout_ns))
    }

    /// Sends the outgoing BIO's ciphertext on `sock`. False: a non-blocking socket is full.
    fn flush(&self, py: Python<'_>, sock: &Bound<'_, Socket>, timeout_ns: i64) -> PyResult<bool> {
        self.flush_within(py, sock.get().fd(), Limit::from_ns(timeout_ns))
    }

    /// How many bytes of ciphertext are waiting for the socket.
    #[getter]
    fn unsent(&self) -> usize {
        self.records().unsent.len()
    }

    /// Drops ciphertext a departed peer will never read.
    fn discard_unsent(&self) {
        self.records().unsent.clear();
    }

    /// Runs one TLS operation (`op(*args)`, a method of the `_ssl` object) to completion on a
    /// blocking or timed socket, with one deadline for the whole operation, as `_ssl` does.
    ///
    /// `prefill`: the connection is in its steady state and the caller wants data, so when
    /// nothing is buffered the next record is read before asking the engine (which would only
    /// ask for it). `keep_going`: when sending what the engine wrote finds the peer gone
    /// (EPIPE, ECONNRESET), go on: what a read or a server's handshake writes on its own
    /// (session tickets) is dropped, as OpenSSL drops it.
    #[pyo3(signature = (sock, op, args, prefill=false, keep_going=false))]
    fn run<'py>(
        &self,
        py: Python<'py>,
        sock: &Bound<'py, Socket>,
        op: &Bound<'py, PyAny>,
        args: &Bound<'py, PyTuple>,
        prefill: bool,
        keep_going: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let socket = sock.get();
        let fd = socket.fd();
        let limit = Limit::starting_now(socket.timeout());
        let incoming = self.incoming.bind(py);
        if !self.records().unsent.is_empty() {
            self.flush_within(py, fd, limit)?;
        }
        if prefill {
            let sslobj = op.getattr(intern!(py, "__self__"))?;
            let buffered: usize = incoming.getattr(intern!(py, "pending"))?.extract()?;
            let decrypted: usize = sslobj.call_method0(intern!(py, "pending"))?.extract()?;
            let eof: bool = incoming.getattr(intern!(py, "eof"))?.extract()?;
            if buffered == 0 && decrypted == 0 && !eof {
                self.fill_within(py, fd, limit)?;
            }
        }
        loop {
            match op.call1(args) {
                Ok(result) => {
                    match self.flush_within(py, fd, limit) {
                        Ok(_) => {}
                        Err(err) if keep_going && peer_gone(py, &err) => {
                            self.discard_unsent();
                        }
                        Err(err) => return Err(err),
                    }
                    return Ok(result);
                }
                Err(err) if err.is_instance(py, want_read(py)?) => {
                    match self.flush_within(py, fd, limit) {
                        Ok(_) => {}
                        Err(gone) if keep_going && peer_gone(py, &gone) => self.discard_unsent(),
                        Err(gone) => return Err(gone),
                    }
                    let eof: bool = incoming.getattr(intern!(py, "eof"))?.extract()?;
                    // (Nothing to read only on a socket made non-blocking meanwhile: the
                    // engine's error is then the answer, as in the non-blocking loop.)
                    if eof || !self.fill_within(py, fd, limit)? {
                        return Err(err);
                    }
                }
                Err(err) => {
                    // An alert OpenSSL queued before failing goes to the peer, as the stdlib's
                    // OpenSSL would have sent it; the engine's error is what the caller sees,
                    // and an alert the socket refuses is dropped, not sent before what follows.
                    if self.flush_within(py, fd, limit).is_err() {
                        self.discard_unsent();
                    }
                    return Err(err);
                }
            }
        }
    }
}

fn peer_gone(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<pyo3::exceptions::PyOSError>(py)
        && err
            .value(py)
            .getattr("errno")
            .and_then(|e| e.extract::<i32>())
            .is_ok_and(|e| e == libc::EPIPE || e == libc::ECONNRESET)
}

/// `TlsChannel.unsent` etc. need nothing of Python; the record logic is tested from Python.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plausible_headers_are_tls_records_openssl_reads_on() {
        assert_eq!(plausible(&[23, 3, 3, 0, 30]), Some(30));
        assert_eq!(plausible(&[22, 3, 1, 0x48, 0]), Some(18432));
        assert_eq!(
            plausible(&[22, 3, 1, 0x48, 1]),
            None,
            "longer than OpenSSL accepts"
        );
        assert_eq!(plausible(b"GET /"), None, "plain text");
        assert_eq!(plausible(&[25, 3, 3, 0, 1]), None, "unknown content type");
    }

    #[test]
    fn a_passed_deadline_gives_no_timeout() {
        let past = Limit::Until(Instant::now() - Duration::from_millis(1));
        assert!(past.next().is_none());
        assert_eq!(Limit::from_ns(-1).next(), Some(Timeout::BLOCKING));
        assert_eq!(Limit::from_ns(0).next(), Some(Timeout(0)));
        assert!(Limit::from_ns(1_000_000_000).next().unwrap().0 > 0);
    }
}
