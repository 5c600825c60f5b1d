//! The one tokio runtime the native servers and clients share.
//!
//! Started lazily on first use, sized by `configure(workers=...)` before that (default: one
//! worker per core). Its threads block SIGINT and SIGTERM so that signals land on Python's main
//! thread, where the interpreter's handlers run. After `os.fork()` the child cannot use the
//! parent's runtime (its threads do not exist there), so the first use in a child builds a fresh
//! one and leaks the parent's copy rather than joining threads that are gone.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::runtime::{Builder, Runtime};

use crate::errors;

struct Shared {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Shared>> = Mutex::new(None);
/// Worker threads for the next runtime built; 0 means one per core.
static WORKERS: AtomicUsize = AtomicUsize::new(0);

fn lock() -> std::sync::MutexGuard<'static, Option<Shared>> {
    // A panic while holding the lock cannot leave the Option half-written, so poisoning is moot.
    RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Blocks the signals Python handles, so the kernel delivers them to the main thread.
pub fn block_python_signals() {
    // SAFETY: building a signal set on the stack and changing this thread's own mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Gives this thread a Python thread state for its whole life, then releases the GIL.
///
/// A handler server calls Python from the workers for every message. Without a lasting thread
/// state, each `Python::attach` on a foreign thread creates and destroys one (an allocation and
/// interpreter-wide locking every time, measured at several µs per message); with it, taking
/// the GIL is just taking the GIL.
fn keep_python_thread_state() {
    // SAFETY: the interpreter is initialised (this is an extension module). Ensure creates the
    // thread state and takes the GIL; SaveThread releases the GIL but keeps the state, so later
    // Ensure/Release pairs (Python::attach) reuse it. It is cleared at interpreter shutdown.
    unsafe {
        if pyo3::ffi::Py_IsInitialized() != 0 {
            let _ = pyo3::ffi::PyGILState_Ensure();
            let _ = pyo3::ffi::PyEval_SaveThread();
        }
    }
}

fn on_worker_start() {
    block_python_signals();
    keep_python_thread_state();
}

fn build(workers: usize) -> std::io::Result<Runtime> {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("ferrosock-worker")
        .on_thread_start(on_worker_start)
        .enable_all()
        .build()
}

/// The shared runtime, started if needed (and rebuilt in a forked child).
pub fn get() -> PyResult<Arc<Runtime>> {
    let mut guard = lock();
    let pid = std::process::id();
    if let Some(shared) = guard.as_ref() {
        if shared.pid == pid {
            return Ok(shared.runtime.clone());
        }
        // Forked: the parent's worker threads do not exist here; never touch that runtime again.
        if let Some(stale) = guard.take() {
            std::mem::forget(stale.runtime);
        }
    }
    let workers = match WORKERS.load(Ordering::Relaxed) {
        0 => default_workers(),
        n => n,
    };
    let runtime = Arc::new(build(workers).map_err(errors::from_io)?);
    *guard = Some(Shared {
        pid,
        runtime: runtime.clone(),
    });
    Ok(runtime)
}

/// `ferrosock.runtime.configure(workers=None)`: size the runtime before it starts.
#[pyfunction]
#[pyo3(signature = (workers=None))]
pub fn runtime_configure(workers: Option<usize>) -> PyResult<()> {
    if workers == Some(0) {
        return Err(PyValueError::new_err("workers must be at least 1"));
    }
    let guard = lock();
    if guard.as_ref().is_some_and(|s| s.pid == std::process::id()) {
        return Err(PyRuntimeError::new_err(
            "the ferrosock runtime is already running: call configure() before starting \
             any server or client (or after runtime.shutdown())",
        ));
    }
    WORKERS.store(workers.unwrap_or(0), Ordering::Relaxed);
    Ok(())
}

/// Worker threads of the running runtime, or of the next one to start.
#[pyfunction]
pub fn runtime_workers() -> usize {
    match WORKERS.load(Ordering::Relaxed) {
        0 => default_workers(),
        n => n,
    }
}

/// Whether the runtime is running in this process.
#[pyfunction]
pub fn runtime_running() -> bool {
    lock().as_ref().is_some_and(|s| s.pid == std::process::id())
}

/// Stops the runtime: tasks still running get `timeout` seconds, then are dropped.
#[pyfunction]
#[pyo3(signature = (timeout=1.0))]
pub fn runtime_shutdown(py: Python<'_>, timeout: f64) {
    let taken = lock().take();
    if let Some(shared) = taken {
        if shared.pid != std::process::id() {
            std::mem::forget(shared.runtime);
            return;
        }
        // Servers hold clones; the last owner to let go shuts the runtime down.
        if let Ok(runtime) = Arc::try_unwrap(shared.runtime) {
            py.detach(|| runtime.shutdown_timeout(Duration::from_secs_f64(timeout.max(0.0))));
        }
    }
}

/// Test hook: a task that panics ends alone; the runtime keeps serving.
#[pyfunction]
pub fn _runtime_panic_probe(py: Python<'_>) -> PyResult<String> {
    let runtime = get()?;
    py.detach(|| {
        let panicked = runtime
            .block_on(runtime.spawn(async { panic!("probe panic in a tokio task") }))
            .is_err_and(|e| e.is_panic());
        let still_works = runtime.block_on(runtime.spawn(async { 42 })).ok() == Some(42);
        Ok(format!("panicked={panicked} still_works={still_works}"))
    })
}

/// Test hook: a panic in a native call surfaces as `pyo3_runtime.PanicException`.
#[pyfunction]
pub fn _panic_probe() {
    panic!("probe panic in a native call");
}
