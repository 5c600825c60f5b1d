//! Every blocking socket call goes through `sock_call`: CPython's `sock_call_ex` in Rust.
//!
//! The GIL is released around each system call. EINTR re-attaches, runs the Python signal
//! handlers (`check_signals`, which only acts on the main thread: so Ctrl-C raises
//! KeyboardInterrupt in a blocked `accept`/`recv`), and retries with what is left of the
//! deadline (PEP 475). With a timeout the descriptor is non-blocking and readiness is awaited
//! with `poll` first; a spurious wake-up (EAGAIN after readiness) polls again.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use pyo3::prelude::*;

use crate::errors;
use crate::fd::{self, Interest};

/// Why a socket call failed, before it becomes a Python exception (`connect_ex` wants the errno).
pub enum Failure {
    Os(i32),
    TimedOut,
    Python(PyErr),
}

impl From<Failure> for PyErr {
    fn from(failure: Failure) -> PyErr {
        match failure {
            Failure::Os(errno) => errors::os_error(errno),
            Failure::TimedOut => errors::timed_out(),
            Failure::Python(err) => err,
        }
    }
}

impl From<PyErr> for Failure {
    fn from(err: PyErr) -> Self {
        Failure::Python(err)
    }
}

fn errno_of(err: &io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

/// A socket's timeout as CPython keeps it: negative is None (blocking), zero non-blocking.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout(pub i64);

impl Timeout {
    pub const BLOCKING: Timeout = Timeout(-1);

    pub fn duration(self) -> Option<Duration> {
        (self.0 > 0).then(|| Duration::from_nanos(self.0 as u64))
    }
}

/// Runs `op` on `fd` the way CPython's `sock_call_ex` does. `connect` selects the variant used
/// after an interrupted or in-progress connect: poll first even without a timeout.
pub fn sock_call<T, F>(
    py: Python<'_>,
    fd: RawFd,
    timeout: Timeout,
    interest: Interest,
    connect: bool,
    mut op: F,
) -> Result<T, Failure>
where
    F: FnMut(RawFd) -> io::Result<T> + Send,
    T: Send,
{
    let limit = timeout.duration();
    let mut deadline = None;
    loop {
        if limit.is_some() || connect {
            // As CPython: the first wait is the whole timeout (poll rounds it up to a
            // millisecond, so even 1 ns gives the call its chance); later ones what is left,
            // and a deadline already past is a timeout without another poll.
            let wait = match (limit, deadline) {
                (None, _) => None,
                (Some(limit), None) => {
                    deadline = Some(Instant::now() + limit);
                    Some(limit)
                }
                (Some(_), Some(deadline)) => {
                    let now = Instant::now();
                    if now > deadline {
                        return Err(Failure::TimedOut);
                    }
                    Some(deadline - now)
                }
            };
            // A closed socket skips the wait, so the call itself reports EBADF.
            if fd >= 0 {
                match py.detach(|| fd::poll(fd, interest, wait)) {
                    Ok(true) => {}
                    Ok(false) => return Err(Failure::TimedOut),
                    Err(err) if errno_of(&err) == libc::EINTR => {
                        py.check_signals()?;
                        continue;
                    }
                    Err(err) => return Err(Failure::Os(errno_of(&err))),
                }
            }
        }
        let err = loop {
            match py.detach(|| op(fd)) {
                Ok(value) => return Ok(value),
                Err(err) if errno_of(&err) == libc::EINTR => py.check_signals()?,
                Err(err) => break errno_of(&err),
            }
        };
        if limit.is_some() && (err == libc::EAGAIN || err == libc::EWOULDBLOCK) {
            continue;
        }
        return Err(Failure::Os(err));
    }
}

/// The deadline arithmetic `sendall` needs: how much of `timeout` is left since `start`.
pub fn remaining(timeout: Timeout, start: Instant) -> Option<Timeout> {
    timeout.duration().map(|t| {
        let left = t.saturating_sub(start.elapsed());
        Timeout(left.as_nanos().min(i64::MAX as u128) as i64)
    })
}
