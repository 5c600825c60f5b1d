//! "The server has finished": a flag the serving task sets, which `stop()` waits for on a
//! condition variable and `serve_forever()` waits for on an eventfd, in `poll`.
//!
//! `poll` is what lets `serve_forever` sleep without waking: a signal (Ctrl-C) interrupts it
//! with EINTR, as it interrupts a stdlib `accept()`, so Python's handlers run at once with no
//! timer ticking meanwhile. (A condition variable would not do: the futex wait is restarted
//! after a signal.) A long slice remains only for a signal that lands between the handlers'
//! check and the `poll`, the one window CPython's own blocking calls also leave open.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::fd::{self, Interest};

/// How long `serve_forever` sleeps at most between two looks at Python's signal handlers.
pub const SIGNAL_SLICE: Duration = Duration::from_secs(1);

pub struct Finished {
    done: Mutex<bool>,
    changed: Condvar,
    /// Readable once `done` is set. Made by the first `wait_interruptibly` (a server only
    /// started and stopped holds no descriptor for it); None inside if the system refused an
    /// eventfd: the wait then falls back to the condition variable in short slices.
    event: OnceLock<Option<OwnedFd>>,
}

/// What `wait_interruptibly` saw.
pub enum Woken {
    Finished,
    /// A signal, or the slice passed: run Python's handlers, then wait again.
    CheckSignals,
}

impl Finished {
    pub fn new() -> Self {
        Finished {
            done: Mutex::new(false),
            changed: Condvar::new(),
            event: OnceLock::new(),
        }
    }

    fn make_event() -> Option<OwnedFd> {
        // SAFETY: eventfd returns a new descriptor we then own, or -1.
        match unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) } {
            -1 => None,
            // SAFETY: a fresh descriptor, owned by nothing else.
            raw => Some(unsafe { OwnedFd::from_raw_fd(raw) }),
        }
    }

    pub fn mark(&self) {
        let mut done = self.done.lock().unwrap_or_else(|p| p.into_inner());
        if !*done {
            *done = true;
            if let Some(Some(event)) = self.event.get() {
                let one = 1u64.to_ne_bytes();
                // SAFETY: writes 8 bytes from a live buffer to our own eventfd.
                let _ = unsafe { libc::write(event.as_raw_fd(), one.as_ptr().cast(), one.len()) };
            }
        }
        self.changed.notify_all();
    }

    pub fn is_done(&self) -> bool {
        *self.done.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits up to `limit`; whether the server has finished.
    pub fn wait(&self, limit: Duration) -> bool {
        let guard = self.done.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, limit, |done| !*done)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }

    /// Sleeps until the server finishes, a signal arrives or `SIGNAL_SLICE` passes. Call it
    /// with the GIL released.
    pub fn wait_interruptibly(&self) -> io::Result<Woken> {
        let event = {
            // Under the lock `mark` takes: either it has run (done), or it will see the event.
            let done = self.done.lock().unwrap_or_else(|p| p.into_inner());
            if *done {
                return Ok(Woken::Finished);
            }
            self.event.get_or_init(Finished::make_event)
        };
        let Some(event) = event else {
            let short = Duration::from_millis(50);
            return Ok(if self.wait(short) {
                Woken::Finished
            } else {
                Woken::CheckSignals
            });
        };
        match fd::poll(event.as_raw_fd(), Interest::Read, Some(SIGNAL_SLICE)) {
            Ok(_) if self.is_done() => Ok(Woken::Finished),
            Ok(_) => Ok(Woken::CheckSignals),
            Err(err) if err.raw_os_error() == Some(libc::EINTR) => Ok(Woken::CheckSignals),
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn marked_from_another_thread_wakes_the_poll_at_once() {
        let finished = Arc::new(Finished::new());
        assert!(!finished.wait(Duration::from_millis(1)));
        let marker = finished.clone();
        let began = Instant::now();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            marker.mark();
        });
        loop {
            if let Woken::Finished = finished.wait_interruptibly().unwrap() {
                break;
            }
        }
        assert!(began.elapsed() < SIGNAL_SLICE, "{:?}", began.elapsed());
        thread.join().unwrap();
        // Marking twice is harmless, and waits after the end return at once.
        finished.mark();
        assert!(finished.wait(Duration::ZERO));
        assert!(matches!(finished.wait_interruptibly(), Ok(Woken::Finished)));
    }
}
