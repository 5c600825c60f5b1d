//! Calling Python from the servers' tokio tasks.
//!
//! A handler runs right on the worker thread that read the message: one GIL acquisition per
//! message and no thread hand-off (measured: a hand-off to a dedicated Python thread, even
//! batching the waiting messages under one acquisition, halved the requests/s of a trivial
//! handler, because every batch costs two cross-thread wake-ups). While Python runs, that
//! worker serves nothing else; the main thread waits in `serve_forever` with the GIL released.
//!
//! Log lines are different: nobody waits for them, so they go to one background thread,
//! which writes every line queued so far under one GIL acquisition. `stop()` waits (bounded
//! by its timeout) until that thread has caught up, so no line of an answered request is lost.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};

/// The most lines written under one GIL acquisition, so the main thread still gets its turn.
const BATCH: usize = 64;

/// A Python handler failed: the connection is closed (the error is already logged).
pub struct HandlerFailed;

/// A log line for the `log` callable.
pub struct Job {
    log: Arc<Py<PyAny>>,
    line: String,
}

/// The queue of log lines; its thread ends when every handle is dropped.
#[derive(Clone)]
pub struct PythonCalls {
    queue: mpsc::Sender<Job>,
    progress: Arc<Progress>,
}

/// Lines queued and lines written, so `drain` can wait for the thread to catch up.
#[derive(Default)]
struct Progress {
    counts: Mutex<(u64, u64)>,
    caught_up: Condvar,
}

impl Progress {
    fn counts(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PythonCalls {
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>();
        let progress = Arc::new(Progress::default());
        let written = progress.clone();
        thread::Builder::new()
            .name(format!("ferrosock-{name}-log"))
            .spawn(move || run(jobs, &written))?;
        Ok(PythonCalls { queue, progress })
    }

    pub fn log(&self, log: &Arc<Py<PyAny>>, line: String) {
        self.progress.counts().0 += 1;
        let job = Job {
            log: log.clone(),
            line,
        };
        if self.queue.send(job).is_err() {
            // The thread is gone (it cannot be while a handle lives): nothing to wait for.
            self.progress.counts().1 += 1;
        }
    }

    /// Wait (the caller has released the GIL) until every line queued so far has been given
    /// to the `log` callable, for at most `limit`; false if time ran out first.
    pub fn drain(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut counts = self.progress.counts();
        let target = counts.0;
        while counts.1 < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            counts = self
                .progress
                .caught_up
                .wait_timeout(counts, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }
}

/// `handler(data, peer)` on this thread: Ok(Some(reply)), Ok(None) for no reply, or Err
/// when the handler raised or returned something else (logged on `ferrosock.servers`).
pub fn call_handler(
    handler: &Py<PyAny>,
    data: &[u8],
    peer: &Py<PyAny>,
) -> Result<Option<Vec<u8>>, HandlerFailed> {
    call_with_reply(handler, data, peer, <[u8]>::to_vec)
}

/// `handler(data, peer)`, then `on_reply(reply)` on the returned bytes while the GIL is still
/// held, so the reply can be written from the handler's own object without a copy. Ok(None):
/// the handler returned None; Err: it raised or returned something else (logged).
pub fn call_with_reply<R>(
    handler: &Py<PyAny>,
    data: &[u8],
    peer: &Py<PyAny>,
    on_reply: impl FnOnce(&[u8]) -> R,
) -> Result<Option<R>, HandlerFailed> {
    Python::attach(|py| {
        // One copy in: the bytes object the handler receives (it may keep it).
        let out = match handler.call1(py, (PyBytes::new(py, data), peer.clone_ref(py))) {
            Ok(out) => out,
            Err(err) => {
                describe(py, err, handler);
                return Err(HandlerFailed);
            }
        };
        let out = out.bind(py);
        if out.is_none() {
            return Ok(None);
        }
        if let Ok(bytes) = out.cast::<PyBytes>() {
            return Ok(Some(on_reply(bytes.as_bytes())));
        }
        if !out.is_instance_of::<PyString>() {
            if let Ok(held) = crate::args::HeldBuffer::readable(out) {
                return Ok(Some(on_reply(held.as_slice())));
            }
        }
        log_error(
            py,
            &format!(
                "{} returned {}, expected bytes or None",
                handler_name(py, handler),
                crate::args::type_name(out)
            ),
        );
        Err(HandlerFailed)
    })
}

fn run(jobs: mpsc::Receiver<Job>, progress: &Progress) {
    crate::runtime::block_python_signals();
    // Wait for lines without the GIL, then write what has queued up under one acquisition.
    while let Ok(first) = jobs.recv() {
        let written = Python::attach(|py| {
            let mut written = 0;
            for job in std::iter::once(first).chain(jobs.try_iter().take(BATCH - 1)) {
                if let Err(err) = job.log.call1(py, (job.line,)) {
                    // Reported like a failing handler: on the logger, with the traceback.
                    describe(py, err, &job.log);
                }
                // The line's String and callable reference are dropped here, under the GIL.
                written += 1;
            }
            written
        });
        progress.counts().1 += written;
        progress.caught_up.notify_all();
    }
}

fn handler_name(py: Python<'_>, handler: &Py<PyAny>) -> String {
    handler
        .bind(py)
        .repr()
        .map_or_else(|_| "handler".to_owned(), |r| r.to_string())
}

fn describe(py: Python<'_>, err: PyErr, handler: &Py<PyAny>) {
    let text = format!("{} raised {}", handler_name(py, handler), err);
    // Keep the traceback in the log record: it is the handler author's main clue.
    let _ = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("ferrosock.servers",)))
        .and_then(|logger| {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("exc_info", err.value(py))?;
            logger.call_method("error", ("%s", text), Some(&kwargs))
        });
}

fn log_error(py: Python<'_>, message: &str) {
    let _ = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("ferrosock.servers",)))
        .and_then(|logger| logger.call_method1("error", ("%s", message)));
}
