//! Calling Python from the servers' tokio tasks, with as few GIL acquisitions as possible.
//!
//! Tasks never take the GIL themselves (a worker blocked on the GIL stalls every connection it
//! drives). They queue a job for one dedicated thread, which takes the GIL once and then runs
//! every job already waiting (up to a batch) before releasing it: under load, many messages
//! share one acquisition. Replies go back through a oneshot channel.

use std::sync::mpsc;
use std::thread;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString};
use tokio::sync::oneshot;

/// The most jobs run under one GIL acquisition, so the main thread still gets its turn.
const BATCH: usize = 64;

pub enum Job {
    /// `handler(data, peer)`; the reply is `Ok(Some(bytes))`, `Ok(None)` or an error message.
    Handle {
        handler: Py<PyAny>,
        data: Vec<u8>,
        peer: Py<PyAny>,
        reply: oneshot::Sender<Result<Option<Vec<u8>>, String>>,
    },
    /// `log(line)`, fire and forget.
    Log { log: Py<PyAny>, line: String },
}

/// The handle tasks use to queue jobs; the thread ends when every handle is dropped.
#[derive(Clone)]
pub struct PythonCalls {
    queue: mpsc::Sender<Job>,
}

impl PythonCalls {
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name(format!("ferrosock-{name}-py"))
            .spawn(move || run(jobs))?;
        Ok(PythonCalls { queue })
    }

    /// Runs `handler(data, peer)` on the Python thread.
    pub async fn call(
        &self,
        handler: &Py<PyAny>,
        data: Vec<u8>,
        peer: &Py<PyAny>,
    ) -> Result<Option<Vec<u8>>, String> {
        let (reply, answer) = oneshot::channel();
        let job = Python::attach(|py| Job::Handle {
            handler: handler.clone_ref(py),
            data,
            peer: peer.clone_ref(py),
            reply,
        });
        self.queue
            .send(job)
            .map_err(|_| "the Python handler thread has stopped".to_owned())?;
        answer
            .await
            .unwrap_or_else(|_| Err("the Python handler thread has stopped".to_owned()))
    }

    pub fn log(&self, log: &Py<PyAny>, line: String) {
        let log = Python::attach(|py| log.clone_ref(py));
        let _ = self.queue.send(Job::Log { log, line });
    }
}

fn run(jobs: mpsc::Receiver<Job>) {
    crate::runtime::block_python_signals();
    // Wait for work without the GIL, then drain what has queued up under one acquisition.
    while let Ok(first) = jobs.recv() {
        Python::attach(|py| {
            run_job(py, first);
            for job in jobs.try_iter().take(BATCH - 1) {
                run_job(py, job);
            }
        });
    }
}

fn run_job(py: Python<'_>, job: Job) {
    match job {
        Job::Handle {
            handler,
            data,
            peer,
            reply,
        } => {
            let result = handler
                .call1(py, (PyBytes::new(py, &data), peer))
                .map_err(|err| describe(py, err, &handler))
                .and_then(|out| reply_bytes(py, out.bind(py), &handler));
            if let Err(message) = &result {
                log_error(py, message);
            }
            let _ = reply.send(result);
        }
        Job::Log { log, line } => {
            if let Err(err) = log.call1(py, (line,)) {
                err.write_unraisable(py, Some(log.bind(py)));
            }
        }
    }
}

fn handler_name(py: Python<'_>, handler: &Py<PyAny>) -> String {
    handler
        .bind(py)
        .repr()
        .map_or_else(|_| "handler".to_owned(), |r| r.to_string())
}

/// What the handler returned, as bytes to send: None sends nothing; anything but bytes-like is
/// the handler's bug, reported and the connection closed.
fn reply_bytes(
    py: Python<'_>,
    out: &Bound<'_, PyAny>,
    handler: &Py<PyAny>,
) -> Result<Option<Vec<u8>>, String> {
    if out.is_none() {
        return Ok(None);
    }
    if let Ok(bytes) = out.cast::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    if !out.is_instance_of::<PyString>() {
        if let Ok(held) = crate::args::HeldBuffer::readable(out) {
            return Ok(Some(held.as_slice().to_vec()));
        }
    }
    Err(format!(
        "{} returned {}, expected bytes or None",
        handler_name(py, handler),
        crate::args::type_name(out)
    ))
}

fn describe(py: Python<'_>, err: PyErr, handler: &Py<PyAny>) -> String {
    let text = format!("{} raised {}", handler_name(py, handler), err);
    // Keep the traceback in the log record: it is the handler author's main clue.
    let _ = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("ferrosock.servers",)))
        .and_then(|logger| {
            let kwargs = pyo3::types::PyDict::new(py);
            kwargs.set_item("exc_info", err.value(py))?;
            logger.call_method("error", ("%s", text.clone()), Some(&kwargs))
        });
    format!("logged: {text}")
}

fn log_error(py: Python<'_>, message: &str) {
    if message.starts_with("logged: ") {
        return;
    }
    let _ = py
        .import("logging")
        .and_then(|logging| logging.call_method1("getLogger", ("ferrosock.servers",)))
        .and_then(|logger| logger.call_method1("error", ("%s", message)));
}
