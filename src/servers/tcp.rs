//! The TCP loops: an accept loop handing connections to the workers, and one small task per
//! connection.
//!
//! A connection waits for readiness (`readable_within`), then reads into its worker's scratch
//! buffer and answers from there with `try_write`, all without an `.await` in between; only a
//! reply the kernel did not take at once is copied into a per-connection `Vec`, freed once
//! flushed. So an idle connection holds no buffer: its task is the socket, a few counters'
//! guards and the wait itself (`idle_future_size` checks it stays small). Framed
//! connections and blocking handlers, rarer and bigger, are boxed off the idle path.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use pyo3::prelude::*;
use socket2::{SockAddr, Socket};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Sleep;

use super::behaviour::{data_repr, Behaviour};
use super::framed;
use super::python_calls::{self, HandlerFailed};
use super::shared::{peer_tuple, Live, Shared};
use super::sockio::{flush, recv_now, send_now};
use super::stats::OpenConnection;
use crate::runtime::{with_timers, ServerWorkers};

/// Each worker's read buffer: as large as uvloop's, so a 100 KiB message reaches a handler in
/// one call when the kernel has it all.
const SCRATCH: usize = 256 * 1024;

thread_local! {
    /// The worker's read buffer, lent to one connection at a time between two `.await`s.
    static SCRATCH_BUFFER: Cell<Option<Box<[u8]>>> = const { Cell::new(None) };
}

/// Connections open on this worker, and the most since memory was last handed back.
#[derive(Default)]
struct WorkerLoad {
    open: usize,
    peak: usize,
}

thread_local! {
    static WORKER_LOAD: Cell<WorkerLoad> = const { Cell::new(WorkerLoad { open: 0, peak: 0 }) };
}

/// Below this many connections at its peak, a worker does not bother returning memory.
const TRIM_AFTER_PEAK: usize = 1024;

/// Counts a connection on its worker; when most of a large crowd has gone, hands the freed
/// heap pages back to the system (glibc keeps them otherwise), so the server's resident
/// memory returns to about where it was before the crowd came.
struct OnWorker;

impl OnWorker {
    fn new() -> Self {
        let mut load = WORKER_LOAD.take();
        load.open += 1;
        load.peak = load.peak.max(load.open);
        WORKER_LOAD.set(load);
        OnWorker
    }
}

impl Drop for OnWorker {
    fn drop(&mut self) {
        let mut load = WORKER_LOAD.take();
        load.open = load.open.saturating_sub(1);
        if load.peak >= TRIM_AFTER_PEAK && load.open <= load.peak / 4 {
            load.peak = load.open;
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
            unsafe {
                libc::malloc_trim(0);
            }
        }
        WORKER_LOAD.set(load);
    }
}

/// Runs `f` with this thread's scratch buffer (a fresh one if it is already lent out, which
/// only a handler re-entering the worker could cause).
fn with_scratch<R>(f: impl FnOnce(&mut [u8]) -> R) -> R {
    let mut buf = SCRATCH_BUFFER
        .take()
        .unwrap_or_else(|| vec![0u8; SCRATCH].into_boxed_slice());
    let out = f(&mut buf);
    SCRATCH_BUFFER.set(Some(buf));
    out
}

/// Accepts until stopped, handing each connection to the next worker in turn.
pub async fn serve_tcp(
    listener: Socket,
    shared: Arc<Shared>,
    workers: Arc<ServerWorkers>,
    mut stop: watch::Receiver<bool>,
) {
    // SAFETY: the AsyncFd owns the listening socket, whose descriptor stays open and the same
    // for as long as it does.
    let listener = match unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) } {
        Ok(listener) => listener,
        Err(_) => {
            shared.stats.error();
            return;
        }
    };
    loop {
        if let Some(slots) = &shared.slots {
            // The slot goes with the connection's `Live`, which hands it back at the end.
            tokio::select! {
                permit = slots.acquire() => match permit {
                    Ok(permit) => permit.forget(),
                    Err(_) => break,
                },
                _ = stop.changed() => break,
            }
        }
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            _ = stop.changed() => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                workers.spawn(connection_task(stream, peer, Live::new(&shared)));
            }
            Err(_) => {
                shared.release_slot();
                shared.stats.error();
                // EMFILE and friends: back off briefly instead of spinning.
                with_timers(|| tokio::time::sleep(Duration::from_millis(10))).await;
            }
        }
    }
    drop(listener);
    // In-flight replies finish; connections waiting in a read see end-of-stream and close.
    shared.close_connections(libc::SHUT_RD);
    shared.wait_all_closed().await;
}

/// One `accept4` when the listener is ready: the socket comes out non-blocking and unregistered,
/// for the worker that will serve it to register.
async fn accept(listener: &AsyncFd<Socket>) -> io::Result<(std::net::TcpStream, SocketAddr)> {
    loop {
        let mut ready = listener.readable().await?;
        let accepted = ready.try_io(|listener| {
            let fd = listener.get_ref().as_raw_fd();
            // SAFETY: accept4 writes at most `len` bytes of address into socket2's storage and
            // returns a new descriptor we then own.
            unsafe {
                SockAddr::try_init(|storage, len| {
                    match libc::accept4(
                        fd,
                        storage.cast(),
                        len,
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    ) {
                        -1 => Err(io::Error::last_os_error()),
                        fd => Ok(OwnedFd::from_raw_fd(fd)),
                    }
                })
            }
        });
        match accepted {
            Ok(Ok((fd, peer))) => {
                let peer = peer
                    .as_socket()
                    .ok_or_else(|| io::Error::other("not an IP peer"))?;
                return Ok((std::net::TcpStream::from(fd), peer));
            }
            Ok(Err(err)) => return Err(err),
            Err(_would_block) => continue,
        }
    }
}

/// What one read-and-answer step left to do.
enum Step {
    /// Answered in full (or nothing to answer): wait for the next message.
    Done,
    /// The kernel did not take all of the reply: flush `pending[sent..]`, then count `total`.
    Pending { pending: Vec<u8>, total: usize },
    /// No data yet after all (spurious readiness).
    WouldBlock,
    /// The peer closed, or the connection must close (error already counted).
    Close,
}

/// One connection from accept to close: the task its worker runs.
///
/// An idle connection is this task and tokio's registration of its socket, nothing else, so
/// its size is the idle footprint: tokio allocates a task as a 128-byte-aligned cell of 96
/// bytes of its own plus this future (`idle_future_size` keeps it within three lines, 384
/// bytes). Hence references rather than copies below, and no timer held inline.
async fn connection_task(stream: std::net::TcpStream, peer: SocketAddr, live: Live) {
    let shared = live.shared();
    // Registered with this worker's reactor, where it will live.
    let Ok(stream) = TcpStream::from_std(stream) else {
        return;
    };
    let _open = OpenConnection::new(&shared.stats);
    let _on_worker = OnWorker::new();
    let _registered = shared.register(stream.as_raw_fd());
    let _ = stream.set_nodelay(true);
    if let Some(keepalive) = &shared.options.keepalive {
        let _ = keepalive.apply(&stream);
    }
    if let Some(stalled) = shared.options.write_timeout {
        // Replies already in the kernel's send buffer count too: a peer that stops reading
        // (zero window) or vanishes leaves them unacknowledged, and the kernel then ends the
        // connection after `stalled`, waking the task wherever it waits.
        let _ = socket2::SockRef::from(&stream).set_tcp_user_timeout(Some(stalled));
    }
    match &shared.behaviour {
        Behaviour::Framed {
            header, max_size, ..
        } => {
            let peer_py = Python::attach(|py| peer_tuple(py, peer));
            let (header, max_size) = (*header, *max_size);
            Box::pin(framed::serve_frames(
                stream,
                peer,
                shared,
                header,
                max_size,
                Some(peer_py),
            ))
            .await
        }
        Behaviour::Python { blocking: true, .. } => {
            Box::pin(serve_blocking_handler(stream, peer, shared)).await
        }
        _ => serve_chunks(&stream, &peer, shared).await,
    }
}

/// Echo, reply and (non-blocking) Python handlers: answer each chunk as it is read.
async fn serve_chunks(stream: &TcpStream, peer: &SocketAddr, shared: &Shared) {
    let peer_py = matches!(shared.behaviour, Behaviour::Python { .. })
        .then(|| Python::attach(|py| peer_tuple(py, *peer)));
    let mut idle = None;
    // The idle limit counts from the last message, not from a wake-up that found nothing.
    let mut rearm = true;
    loop {
        match readable_within(stream, shared.options.idle_timeout, &mut idle, rearm).await {
            Some(Ok(())) => {}
            Some(Err(_)) => {
                shared.stats.error();
                return;
            }
            None => return,
        }
        let step = with_scratch(|buf| answer_chunk(stream, buf, *peer, shared, peer_py.as_ref()));
        rearm = !matches!(step, Step::WouldBlock);
        match step {
            Step::Done | Step::WouldBlock => {}
            Step::Close => return,
            Step::Pending { pending, total } => {
                // Rare (the peer's window is full), so boxed, the rest of the reply with it:
                // the idle wait stays small.
                if !Box::pin(flush_rest(stream, pending, total, shared)).await {
                    return;
                }
            }
        }
    }
}

/// Reads one chunk into `buf` and answers it, synchronously (no `.await`: `buf` is the
/// worker's, lent for this call only).
fn answer_chunk(
    stream: &TcpStream,
    buf: &mut [u8],
    peer: SocketAddr,
    shared: &Shared,
    peer_py: Option<&Py<PyAny>>,
) -> Step {
    let n = match recv_now(stream, buf) {
        Ok(0) => return Step::Close,
        Ok(n) => n,
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Step::WouldBlock,
        Err(_) => {
            shared.stats.error();
            return Step::Close;
        }
    };
    if n < buf.len() {
        // A short read emptied the socket: forget its readiness now (as tokio's own reads do)
        // so the next wait goes to epoll instead of a read that would only say EAGAIN.
        clear_read_readiness(stream);
    }
    let data = &buf[..n];
    shared.stats.received(n);
    shared.log(|| format!("{peer}: {}", data_repr(data)));
    // A reply is counted before it is written: a peer that has read it may look at `stats()`
    // at once, and must find it there. A write that fails takes it back.
    let send = |reply: &[u8]| {
        shared.stats.sent(reply.len());
        let sent = send_or_keep(stream, reply);
        if sent.is_err() {
            shared.stats.unsent(reply.len());
        }
        sent.map(|rest| (rest, reply.len()))
    };
    let sent = match &shared.behaviour {
        Behaviour::Echo => send(data).map(Some),
        Behaviour::Reply(reply) => send(reply).map(Some),
        Behaviour::Python { handler, .. } => {
            let Some(peer_py) = peer_py else {
                return Step::Close;
            };
            // The reply is written from the handler's own bytes while the GIL is still held.
            match python_calls::call_with_reply(handler, data, peer_py, send) {
                Ok(Some(sent)) => sent.map(Some),
                Ok(None) => Ok(None),
                Err(HandlerFailed) => {
                    shared.stats.error();
                    return Step::Close;
                }
            }
        }
        // Time and chat are UDP servers; framed and blocking handlers have their own loops.
        _ => return Step::Close,
    };
    match sent {
        Ok(None) | Ok(Some((None, _))) => Step::Done,
        Ok(Some((Some(pending), total))) => Step::Pending { pending, total },
        Err(_) => {
            shared.stats.error();
            Step::Close
        }
    }
}

/// Clears `stream`'s cached read readiness without a system call (tokio keeps it if an event
/// arrived since it was last reported).
fn clear_read_readiness(stream: &TcpStream) {
    let _ = stream.try_io(Interest::READABLE, || {
        Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock))
    });
}

/// Writes what the kernel takes now; returns a copy of the rest (None: all sent).
fn send_or_keep(stream: &TcpStream, mut data: &[u8]) -> io::Result<Option<Vec<u8>>> {
    while !data.is_empty() {
        match send_now(stream, data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => data = &data[n..],
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => return Err(err),
        }
    }
    Ok((!data.is_empty()).then(|| data.to_vec()))
}

/// Flushes the part of a `total`-byte reply the kernel did not take at once; whether the
/// connection goes on (a failure is counted, and the reply taken back from the stats).
async fn flush_rest(stream: &TcpStream, rest: Vec<u8>, total: usize, shared: &Shared) -> bool {
    if flush(stream, &rest, shared.options.write_timeout)
        .await
        .is_err()
    {
        shared.stats.unsent(total);
        shared.stats.error();
        return false;
    }
    true
}

/// A connection's idle limit: when it ends (`deadline`, moved on by every message) and the
/// tokio timer that wakes the connection to look (`sleep`).
///
/// Moving a tokio timer on costs more than the rest of an echo (reading the clock, converting
/// the deadline to the timer wheel's ticks, registering the waker again: about 300
/// instructions a message, callgrind). So a message only notes the new deadline, and the
/// timer stays where it was: when it fires before the deadline, it is moved there then, at
/// most once per `limit` rather than once per message.
struct IdleTimer {
    deadline: tokio::time::Instant,
    sleep: Pin<Box<Sleep>>,
    /// Polled since it was created or moved: it holds the task's waker, and will wake it.
    armed: bool,
}

impl IdleTimer {
    /// After a message: the deadline is `limit` from now (the first time, a timer is made).
    #[inline(never)]
    fn move_on(timer: &mut Option<Box<IdleTimer>>, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        match timer {
            Some(timer) => timer.deadline = deadline,
            None => {
                *timer = Some(Box::new(IdleTimer {
                    deadline,
                    sleep: Box::pin(with_timers(|| tokio::time::sleep_until(deadline))),
                    armed: false,
                }))
            }
        }
    }

    /// Ready once the deadline has passed; otherwise the task is woken when it may have.
    /// (Out of line: only connections with a limit come here, and the echo loop stays small.)
    #[inline(never)]
    fn poll_passed(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        if self.armed && !self.sleep.is_elapsed() {
            return Poll::Pending;
        }
        loop {
            match self.sleep.as_mut().poll(cx) {
                Poll::Pending => {
                    self.armed = true;
                    return Poll::Pending;
                }
                Poll::Ready(()) if tokio::time::Instant::now() >= self.deadline => {
                    return Poll::Ready(())
                }
                // Fired for an older deadline: on to the current one.
                Poll::Ready(()) => self.sleep.as_mut().reset(self.deadline),
            }
        }
    }
}

/// Until `stream` may have data or end-of-stream (Some), or `limit` passes first (None).
///
/// The limit's timer is one per connection, allocated on the first wait (only when there is a
/// limit); each wait after a message (`rearm`) moves its deadline on (see `IdleTimer`). A
/// `tokio::time::timeout` per wait would put its `Sleep` (about 100 bytes) inline in every
/// idle connection's future. Readiness comes through the stream's own reader waker, so the
/// wait holds nothing but references: `TcpStream::readable()` would keep a waiter of its own,
/// 150 bytes in every idle connection.
///
/// Only the first poll asks tokio (`poll_read_ready`, which also registers the waker). A poll
/// after that one's `Pending` is the wake-up, and it goes straight to the read instead of
/// asking again: the read itself (`try_io`) looks at the readiness first, so a wake-up that
/// brought nothing costs one atomic load and a `WouldBlock`, after which the caller waits
/// again. That is one readiness poll a message instead of two (and a thread-local look-up
/// fewer, for tokio's task budget), as in tokio's own `read`, which polls readiness and reads
/// in one call. A wake-up once the timer has fired does ask, so data that came at the same
/// moment still wins over the limit.
fn readable_within<'a>(
    stream: &'a TcpStream,
    limit: Option<Duration>,
    timer: &'a mut Option<Box<IdleTimer>>,
    rearm: bool,
) -> impl Future<Output = Option<io::Result<()>>> + 'a {
    if let (Some(limit), true) = (limit, rearm) {
        IdleTimer::move_on(timer, limit);
    }
    let mut woken = false;
    poll_fn(move |cx| {
        let timer = timer.as_deref_mut().filter(|_| limit.is_some());
        if woken && !timer.as_ref().is_some_and(|timer| timer.sleep.is_elapsed()) {
            return Poll::Ready(Some(Ok(())));
        }
        if let Poll::Ready(ready) = stream.poll_read_ready(cx) {
            return Poll::Ready(Some(ready));
        }
        woken = true;
        match timer {
            Some(timer) => timer.poll_passed(cx).map(|()| None),
            None => Poll::Pending,
        }
    })
}

/// A handler that may block (sleep, file or network I/O) runs on the runtime's blocking
/// threads, so the worker goes on serving its other connections meanwhile. That hand-over
/// costs a copy and two thread wake-ups per message, hence opt-in (`blocking=True`).
async fn serve_blocking_handler(stream: TcpStream, peer: SocketAddr, shared: &Shared) {
    let peer_py = Python::attach(|py| peer_tuple(py, peer));
    let mut idle = None;
    let mut rearm = true;
    loop {
        match readable_within(&stream, shared.options.idle_timeout, &mut idle, rearm).await {
            Some(Ok(())) => {}
            Some(Err(_)) => {
                shared.stats.error();
                return;
            }
            None => return,
        }
        let read = with_scratch(|buf| match recv_now(&stream, buf) {
            Ok(n) => Ok(buf[..n].to_vec()),
            Err(err) => Err(err),
        });
        rearm = !matches!(&read, Err(err) if err.kind() == io::ErrorKind::WouldBlock);
        let data = match read {
            Ok(data) if data.is_empty() => return,
            Ok(data) => data,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
            Err(_) => {
                shared.stats.error();
                return;
            }
        };
        shared.stats.received(data.len());
        shared.log(|| format!("{peer}: {}", data_repr(&data)));
        let replies = match shared.behaviour.respond(&data, peer, Some(&peer_py)).await {
            Ok(replies) => replies,
            Err(HandlerFailed) => {
                shared.stats.error();
                return;
            }
        };
        for (_, reply) in replies {
            shared.stats.sent(reply.len());
            if flush(&stream, &reply, shared.options.write_timeout)
                .await
                .is_err()
            {
                shared.stats.unsent(reply.len());
                shared.stats.error();
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The future an idle connection is parked in: it must stay small, since 10,000 idle
    /// connections hold 10,000 of them.
    #[test]
    fn idle_future_size() {
        fn size_of_future<F: std::future::Future>(_: &F) -> usize {
            std::mem::size_of::<F>()
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let _enter = runtime.enter();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let shared = Arc::new(Shared::for_tests(Behaviour::Echo));
        let connection = connection_task(server, peer, Live::new(&shared));
        // tokio adds 96 bytes and rounds up to 128: at most 288 keeps the task in 384 bytes.
        let size = size_of_future(&connection);
        assert!(
            size <= 288,
            "an idle connection's task future is {size} bytes"
        );
        drop(connection);
        drop(client);
    }
}
