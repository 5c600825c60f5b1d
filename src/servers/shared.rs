//! What a server's tasks share: its behaviour, counters, options, log queue, and the registry
//! of open connections that `stop()` shuts.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use tokio::sync::{Notify, Semaphore};

use super::behaviour::Behaviour;
use super::options::Options;
use super::python_calls::PythonCalls;
use super::stats::Stats;
use crate::addr;

pub(super) struct Shared {
    pub(super) behaviour: Behaviour,
    pub(super) stats: Stats,
    pub(super) options: Options,
    pub(super) log: Option<Arc<Py<PyAny>>>,
    pub(super) python: Option<PythonCalls>,
    pub(super) open: Mutex<OpenSockets>,
    /// Connection tasks handed to a worker and not finished yet.
    pub(super) live: AtomicUsize,
    /// Signalled when `live` drops to zero.
    pub(super) all_closed: Notify,
    /// `max_connections`: a TCP connection takes a slot before it is accepted and its `Live`
    /// gives it back when it ends.
    pub(super) slots: Option<Semaphore>,
}

/// The descriptors of the open connections, so `stop()` can end their reads.
///
/// Stopping shuts each connection's read side: a task waiting for data sees end-of-stream
/// and closes, while a reply being written still completes. This costs nothing per message,
/// where a per-read wait on a stop signal would; per connection, one entry of a set.
#[derive(Default)]
pub(super) struct OpenSockets {
    fds: HashSet<RawFd>,
    /// Set by `close_connections`: a connection registering later is shut at once.
    closing: Option<i32>,
}

/// Keeps a connection in `OpenSockets` for its lifetime (dropped before its stream).
pub(super) struct Registered<'a> {
    shared: &'a Shared,
    fd: RawFd,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.shared.open_sockets().fds.remove(&self.fd);
    }
}

/// Counts a connection task in `Shared::live` from accept to its end, and holds its slot of
/// `max_connections` (if the server has a limit) until then.
pub(super) struct Live(Arc<Shared>);

impl Live {
    pub(super) fn new(shared: &Arc<Shared>) -> Self {
        shared.live.fetch_add(1, Ordering::AcqRel);
        Live(shared.clone())
    }

    pub(super) fn shared(&self) -> &Shared {
        &self.0
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.0.release_slot();
        if self.0.live.fetch_sub(1, Ordering::AcqRel) == 1 {
            // notify_one keeps a permit, so a waiter arriving just after this still wakes.
            self.0.all_closed.notify_one();
        }
    }
}

impl Shared {
    pub(super) fn new(behaviour: Behaviour, options: Options, log: Option<Arc<Py<PyAny>>>) -> Self {
        Shared {
            behaviour,
            stats: Stats::default(),
            log,
            python: None,
            open: Mutex::new(OpenSockets::default()),
            live: AtomicUsize::new(0),
            all_closed: Notify::new(),
            slots: options.max_connections.map(Semaphore::new),
            options,
        }
    }

    #[cfg(test)]
    pub(super) fn for_tests(behaviour: Behaviour) -> Self {
        let options = Options {
            max_connections: None,
            idle_timeout: None,
            write_timeout: None,
            keepalive: None,
        };
        Shared::new(behaviour, options, None)
    }

    /// Gives a `max_connections` slot back (a connection ended, or its accept failed).
    pub(super) fn release_slot(&self) {
        if let Some(slots) = &self.slots {
            slots.add_permits(1);
        }
    }

    pub(super) fn open_sockets(&self) -> std::sync::MutexGuard<'_, OpenSockets> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn register(&self, fd: RawFd) -> Registered<'_> {
        let mut open = self.open_sockets();
        open.fds.insert(fd);
        if let Some(how) = open.closing {
            let _ = crate::fd::shutdown(fd, how);
        }
        Registered { shared: self, fd }
    }

    /// `shutdown(how)` on every connection: SHUT_RD ends their reads (see `OpenSockets`),
    /// SHUT_RDWR also fails the writes of peers that would not take them.
    pub(super) fn close_connections(&self, how: i32) {
        let mut open = self.open_sockets();
        open.closing = Some(how);
        for &fd in &open.fds {
            let _ = crate::fd::shutdown(fd, how);
        }
    }

    /// Until every connection task handed out has finished.
    pub(super) async fn wait_all_closed(&self) {
        while self.live.load(Ordering::Acquire) > 0 {
            self.all_closed.notified().await;
        }
    }

    pub(super) fn log(&self, line: impl FnOnce() -> String) {
        if let (Some(log), Some(python)) = (&self.log, &self.python) {
            python.log(log, line());
        }
    }
}

/// A peer's address as Python's `getpeername()` gives it (None if it cannot be converted).
pub(super) fn peer_tuple(py: Python<'_>, peer: SocketAddr) -> Py<PyAny> {
    let converted = addr::from_sockaddr(py, &socket2::SockAddr::from(peer));
    converted.unwrap_or_else(|_| py.None())
}
