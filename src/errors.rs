//! The one place where OS and argument errors become Python exceptions.
//!
//! `io::Error` converted with `?` would lose the errno (PyO3 builds `OSError(msg)`), so every
//! OS failure is raised as `OSError(errno, strerror)`: CPython then picks the subclass
//! (`ConnectionRefusedError`, `BlockingIOError`, ...) and prints `[Errno 111] Connection refused`
//! exactly as the stdlib does.

use std::ffi::CStr;
use std::io;

use pyo3::exceptions::socket::{gaierror, timeout as socket_timeout};
use pyo3::exceptions::PyOSError;
use pyo3::PyErr;

/// The C library's message for `errno`, as CPython's `strerror()` shows it.
pub fn strerror(errno: i32) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: the XSI strerror_r writes a NUL-terminated string into buf (truncating if needed).
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    // SAFETY: strerror_r succeeded, so buf holds a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

/// `OSError(errno, strerror)`, which CPython narrows to the matching subclass.
pub fn os_error(errno: i32) -> PyErr {
    PyOSError::new_err((errno, strerror(errno)))
}

/// An `io::Error` from a system call, keeping its errno.
pub fn from_io(err: io::Error) -> PyErr {
    match err.raw_os_error() {
        Some(errno) => os_error(errno),
        None => PyOSError::new_err(err.to_string()),
    }
}

/// The stdlib's `socket.timeout` with its message: `TimeoutError` since 3.10, a class of its
/// own (a subclass of `OSError`) on 3.9, so PyO3 looks it up rather than assuming either.
pub fn timed_out() -> PyErr {
    socket_timeout::new_err("timed out")
}

/// `socket.gaierror(code, gai_strerror(code))`, as CPython's `set_gaierror` builds it.
pub fn gai_error(code: i32) -> PyErr {
    if code == libc::EAI_SYSTEM {
        return os_error(
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        );
    }
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string.
    let msg = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
        .to_string_lossy()
        .into_owned();
    gaierror::new_err((code, msg))
}

/// The errno of the last failed system call on this thread.
pub fn last_errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strerror_matches_libc_messages() {
        assert_eq!(strerror(libc::ECONNREFUSED), "Connection refused");
        assert_eq!(strerror(libc::EADDRINUSE), "Address already in use");
        assert_eq!(strerror(libc::EBADF), "Bad file descriptor");
        assert_eq!(strerror(libc::EAGAIN), "Resource temporarily unavailable");
    }

    #[test]
    fn strerror_of_unknown_errno_is_not_empty() {
        assert!(strerror(99_999).starts_with("Unknown error"));
    }
}
