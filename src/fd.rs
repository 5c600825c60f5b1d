//! System calls on a raw socket descriptor that may be closed (-1) at any moment.
//!
//! The Python object keeps its descriptor in an atomic so that `close()` from one thread never
//! fails because another thread is inside `recv()`. Each call borrows the descriptor as a
//! `socket2::Socket` for its duration; a closed socket (-1) fails with EBADF, exactly as the
//! stdlib's calls on descriptor -1 do.

use std::io;
use std::mem::{ManuallyDrop, MaybeUninit};
use std::os::fd::{FromRawFd, RawFd};
use std::os::raw::c_int;
use std::time::Duration;

use socket2::Socket;

/// A socket2 view of `fd` that never closes it.
pub fn borrow(fd: RawFd) -> io::Result<ManuallyDrop<Socket>> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: fd is a descriptor owned by the Python socket object; ManuallyDrop keeps this
    // view from closing it.
    Ok(ManuallyDrop::new(unsafe { Socket::from_raw_fd(fd) }))
}

/// Lets a syscall write into initialised bytes through socket2's `MaybeUninit` API.
pub fn as_uninit(buf: &mut [u8]) -> &mut [MaybeUninit<u8>] {
    // SAFETY: u8 and MaybeUninit<u8> share layout, and callers only ever write initialised bytes.
    unsafe { &mut *(buf as *mut [u8] as *mut [MaybeUninit<u8>]) }
}

fn check(rc: c_int) -> io::Result<()> {
    match rc {
        -1 => Err(io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// `close(fd)`, reporting errors (socket2 only closes on drop, where errors vanish).
pub fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: closing a descriptor we own; the caller already dropped it from the object.
    check(unsafe { libc::close(fd) })
}

/// `shutdown(fd, how)` with any integer `how`, as the stdlib passes it through.
pub fn shutdown(fd: RawFd, how: c_int) -> io::Result<()> {
    borrow(fd)?;
    // SAFETY: plain system call on an integer descriptor.
    check(unsafe { libc::shutdown(fd, how) })
}

/// `setsockopt` with a raw value (socket2 covers named options only; Python passes any level
/// and option number). `None` value means a NULL pointer with the given length.
pub fn setsockopt(
    fd: RawFd,
    level: c_int,
    name: c_int,
    value: Option<&[u8]>,
    len: u32,
) -> io::Result<()> {
    borrow(fd)?;
    let ptr = value.map_or(std::ptr::null(), |v| v.as_ptr().cast());
    // SAFETY: ptr is NULL or points to len readable bytes.
    check(unsafe { libc::setsockopt(fd, level, name, ptr, len as libc::socklen_t) })
}

/// `getsockopt` into a buffer; returns the length the kernel wrote.
pub fn getsockopt(fd: RawFd, level: c_int, name: c_int, out: &mut [u8]) -> io::Result<usize> {
    borrow(fd)?;
    let mut len = out.len() as libc::socklen_t;
    // SAFETY: out is writable for len bytes, len is updated by the kernel.
    check(unsafe { libc::getsockopt(fd, level, name, out.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// An integer option (SO_TYPE, SO_PROTOCOL, SO_ERROR, ...).
pub fn getsockopt_int(fd: RawFd, level: c_int, name: c_int) -> io::Result<c_int> {
    let mut out = [0u8; 4];
    getsockopt(fd, level, name, &mut out)?;
    Ok(c_int::from_ne_bytes(out))
}

/// What `poll` waits for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Interest {
    Read,
    Write,
    /// A pending non-blocking connect: writable, or an error.
    Connect,
}

/// Waits until `fd` is ready for `interest` or `timeout` passes (None waits for ever).
/// Returns Ok(false) on timeout.
pub fn poll(fd: RawFd, interest: Interest, timeout: Option<Duration>) -> io::Result<bool> {
    let events = match interest {
        Interest::Read => libc::POLLIN,
        Interest::Write => libc::POLLOUT,
        Interest::Connect => libc::POLLOUT | libc::POLLERR,
    };
    let mut pfd = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // CPython rounds the remaining time up to whole milliseconds.
    let ms = match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            ms.min(c_int::MAX as u128) as c_int
        }
    };
    // SAFETY: one valid pollfd.
    let rc = unsafe { libc::poll(&mut pfd, 1, ms) };
    match rc {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(false),
        _ => Ok(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn closed_descriptor_is_ebadf() {
        let err = borrow(-1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        assert_eq!(
            shutdown(-1, libc::SHUT_RDWR).unwrap_err().raw_os_error(),
            Some(libc::EBADF)
        );
    }

    #[test]
    fn poll_times_out_on_idle_socket_and_sees_data() {
        let (a, b) = Socket::pair(socket2::Domain::UNIX, socket2::Type::STREAM, None).unwrap();
        let short = Some(Duration::from_millis(1));
        assert!(!poll(a.as_raw_fd(), Interest::Read, short).unwrap());
        assert!(poll(a.as_raw_fd(), Interest::Write, short).unwrap());
        b.send(b"x").unwrap();
        assert!(poll(a.as_raw_fd(), Interest::Read, short).unwrap());
    }

    #[test]
    fn int_options_read_back() {
        let s = Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
        let fd = s.as_raw_fd();
        assert_eq!(
            getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE).unwrap(),
            libc::SOCK_DGRAM
        );
        setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_REUSEADDR,
            Some(&1i32.to_ne_bytes()),
            4,
        )
        .unwrap();
        assert_eq!(
            getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_REUSEADDR).unwrap(),
            1
        );
    }
}
