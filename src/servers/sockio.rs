//! Reading and writing a TCP connection's socket outside tokio's own I/O methods: raw
//! `recvfrom`/`sendto` through tokio's readiness, and a flush that closes on a stalled peer.
//! The TCP and framed loops both use it.

use std::future::poll_fn;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use rustix::net::{RecvFlags, SendFlags};
use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::runtime::with_timers;

/// `stream.try_read(buf)`, by a raw `recvfrom` system call.
///
/// glibc's `recv` is a thread-cancellation point: in a process with more than one thread (a
/// Python extension always is one) every call brackets the system call with
/// `__pthread_enable_asynccancel`/`disable`, about 30 instructions that only matter to
/// `pthread_cancel`, which nothing here uses. rustix makes the system call itself (inline, on
/// Linux), and its error comes back in the return value rather than through `errno`. Same
/// system call, same errors.
pub(super) fn recv_now(stream: &TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    stream.try_io(Interest::READABLE, || {
        match rustix::net::recv(stream, &mut *buf, RecvFlags::empty()) {
            Ok((n, _)) => Ok(n),
            Err(errno) => Err(errno.into()),
        }
    })
}

/// `stream.try_write(data)`, by a raw `sendto` system call (see `recv_now`), with
/// `MSG_NOSIGNAL` as std's own writes: a closed peer is EPIPE, not SIGPIPE.
pub(super) fn send_now(stream: &TcpStream, data: &[u8]) -> io::Result<usize> {
    stream.try_io(Interest::WRITABLE, || {
        rustix::net::send(stream, data, SendFlags::NOSIGNAL).map_err(io::Error::from)
    })
}

/// Writes all of `data` as the peer takes it, closing on one that stops reading: no progress
/// for `stalled` (see `writable_within`), while a large reply to a slow but reading peer
/// still completes.
pub async fn flush(
    stream: &TcpStream,
    mut data: &[u8],
    stalled: Option<Duration>,
) -> io::Result<()> {
    while !data.is_empty() {
        writable_within(stream, stalled).await?;
        match send_now(stream, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}

/// Until `stream` has room to write; with a limit, an error once the peer has taken nothing
/// for that long.
///
/// Writability alone cannot tell: Linux reports a full socket writable only after a good part
/// of its send buffer (which autotuning grows to megabytes) has drained, and a peer reading
/// steadily but slowly may take longer than the limit to drain that much. So when the limit
/// passes, the send queue (`SIOCOUTQ`: bytes sent but not acknowledged, or not sent yet) is
/// compared with the last look: shorter means the peer read some, and the wait goes on.
async fn writable_within(stream: &TcpStream, stalled: Option<Duration>) -> io::Result<()> {
    let ready = || poll_fn(|cx| stream.poll_write_ready(cx));
    let Some(stalled) = stalled else {
        return ready().await;
    };
    let mut queued = send_queue(stream);
    loop {
        if let Ok(ready) = with_timers(|| tokio::time::timeout(stalled, ready())).await {
            return ready;
        }
        match (queued, send_queue(stream)) {
            (Some(before), Some(now)) if now < before => queued = Some(now),
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the peer stopped reading",
                ))
            }
        }
    }
}

/// Bytes in `stream`'s send queue, not yet acknowledged by the peer (None if unknown).
fn send_queue(stream: &TcpStream) -> Option<usize> {
    let mut queued: libc::c_int = 0;
    // SAFETY: SIOCOUTQ (TIOCOUTQ) writes one int through the pointer, to a live local.
    match unsafe { libc::ioctl(stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) } {
        -1 => None,
        _ => usize::try_from(queued).ok(),
    }
}
