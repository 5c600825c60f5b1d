//! ferrosock's tokio runtimes: the servers' workers and the clients' pool.
//!
//! - **Server workers** (`workers()`): one thread per worker, each running its own
//!   current-thread runtime, the way actix-rt runs actix-web. A server's accept loop runs on
//!   one worker and hands each accepted connection to the next worker in turn; a connection
//!   then lives on that thread alone, so no request pays for work stealing or cross-thread
//!   wake-ups, and a worker may keep per-thread scratch memory (its read buffer).
//!   The workers' runtimes have no time driver: tokio's would read the clock and visit its
//!   timer wheel every time a worker wakes, about 290 instructions of a 1 KiB echo request's
//!   1,760 (callgrind), for timers that only idle and write limits use. Those timers live on
//!   one more thread of the pool, whose current-thread runtime has only the time driver;
//!   `with_timers` creates a worker's `Sleep`s and `Timeout`s there. Pushing a deadline later
//!   (every message, on a connection with an idle limit) is an atomic store in tokio, and a
//!   timer that fires wakes its connection's worker like any other wake-up.
//! - **Client pool** (`get()`): one multi-thread runtime for the async clients
//!   (pyo3-async-runtimes), the load generator and the other one-shot native calls.
//!
//! Both start lazily on first use, each with `configure(workers=...)` threads (default: one per
//! core). Their threads block SIGINT and SIGTERM so that signals land on Python's main thread,
//! where the interpreter's handlers run. After `os.fork()` the child cannot use the parent's
//! runtimes (their threads do not exist there), so the first use in a child builds fresh ones
//! and leaks the parent's copies rather than joining threads that are gone.

use std::cell::OnceCell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use tokio::runtime::{Builder, Handle, Runtime};
use tokio::sync::oneshot;

use crate::errors;

struct Shared {
    pid: u32,
    runtime: Arc<Runtime>,
}

static RUNTIME: Mutex<Option<Shared>> = Mutex::new(None);
static WORKERS_POOL: Mutex<Option<(u32, Arc<ServerWorkers>)>> = Mutex::new(None);
/// Worker threads for the next runtime built; 0 means one per core.
static WORKERS: AtomicUsize = AtomicUsize::new(0);

fn lock() -> std::sync::MutexGuard<'static, Option<Shared>> {
    // A panic while holding the lock cannot leave the Option half-written, so poisoning is moot.
    RUNTIME
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn lock_workers() -> std::sync::MutexGuard<'static, Option<(u32, Arc<ServerWorkers>)>> {
    WORKERS_POOL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn configured_workers() -> usize {
    match WORKERS.load(Ordering::Relaxed) {
        0 => default_workers(),
        n => n,
    }
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
    let runtime = Arc::new(build(configured_workers()).map_err(errors::from_io)?);
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
    if runtime_running() {
        return Err(PyRuntimeError::new_err(
            "the ferrosock runtime is already running: call configure() before starting \
             any server or client (or after runtime.shutdown())",
        ));
    }
    WORKERS.store(workers.unwrap_or(0), Ordering::Relaxed);
    Ok(())
}

/// Worker threads of the running runtimes, or of the next ones to start.
#[pyfunction]
pub fn runtime_workers() -> usize {
    if let Some((pid, workers)) = lock_workers().as_ref() {
        if *pid == std::process::id() {
            return workers.count();
        }
    }
    configured_workers()
}

/// Whether either runtime is running in this process.
#[pyfunction]
pub fn runtime_running() -> bool {
    let pid = std::process::id();
    lock().as_ref().is_some_and(|s| s.pid == pid)
        || lock_workers().as_ref().is_some_and(|(p, _)| *p == pid)
}

/// Stops both runtimes: tasks still running get `timeout` seconds, then are dropped.
#[pyfunction]
#[pyo3(signature = (timeout=1.0))]
pub fn runtime_shutdown(py: Python<'_>, timeout: f64) {
    let timeout = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
    let pid = std::process::id();
    let taken = lock().take();
    if let Some(shared) = taken {
        if shared.pid != pid {
            std::mem::forget(shared.runtime);
        } else if let Ok(runtime) = Arc::try_unwrap(shared.runtime) {
            // Servers and clients hold clones; the last owner to let go shuts it down.
            py.detach(|| runtime.shutdown_timeout(timeout));
        }
    }
    let taken = lock_workers().take();
    if let Some((owner, workers)) = taken {
        if owner != pid {
            std::mem::forget(workers);
        } else if let Ok(workers) = Arc::try_unwrap(workers) {
            py.detach(|| workers.shutdown(timeout));
        }
    }
}

/// The servers' worker threads, started if needed (and rebuilt in a forked child).
pub fn server_workers() -> PyResult<Arc<ServerWorkers>> {
    let mut guard = lock_workers();
    let pid = std::process::id();
    if let Some((owner, workers)) = guard.as_ref() {
        if *owner == pid {
            return Ok(workers.clone());
        }
        if let Some((_, stale)) = guard.take() {
            std::mem::forget(stale);
        }
    }
    let workers = Arc::new(ServerWorkers::start(configured_workers()).map_err(errors::from_io)?);
    *guard = Some((pid, workers.clone()));
    Ok(workers)
}

thread_local! {
    /// On a server worker's thread: the runtime that keeps its timers (see the module docs).
    static TIMERS: OnceCell<Handle> = const { OnceCell::new() };
}

/// Runs `make` (which creates tokio timers: `sleep`, `sleep_until`, `timeout`) so that the
/// timers it creates belong to the server workers' timer runtime when called on a worker, and
/// to the current runtime anywhere else. Timers keep the runtime they were created on, so only
/// their creation needs this; resetting and polling them works from anywhere.
pub fn with_timers<R>(make: impl FnOnce() -> R) -> R {
    TIMERS.with(|timers| match timers.get() {
        Some(handle) => {
            let _entered = handle.enter();
            make()
        }
        None => make(),
    })
}

/// Starts the workers' timer thread: a current-thread runtime with only the time driver, which
/// runs until every `Sender` clone of the returned one is gone (each worker thread holds one
/// until its runtime has shut down, so timers outlive every task that may poll one).
fn start_timers() -> std::io::Result<(Handle, tokio::sync::mpsc::Sender<()>)> {
    let (ready_tx, ready_rx) = mpsc::channel();
    let (alive_tx, mut alive_rx) = tokio::sync::mpsc::channel::<()>(1);
    std::thread::Builder::new()
        .name("ferrosock-server-timers".into())
        .spawn(move || {
            block_python_signals();
            let runtime = match Builder::new_current_thread().enable_time().build() {
                Ok(runtime) => runtime,
                Err(err) => {
                    let _ = ready_tx.send(Err(err));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(runtime.handle().clone()));
            // Nothing is ever sent: recv() ends when the last worker drops its sender.
            runtime.block_on(async { while alive_rx.recv().await.is_some() {} });
        })?;
    let handle = ready_rx
        .recv()
        .map_err(|_| std::io::Error::other("the server timer thread failed to start"))??;
    Ok((handle, alive_tx))
}

/// One worker: a thread blocked in its current-thread runtime until told to stop.
struct Worker {
    handle: Handle,
    /// Sends the shutdown grace period; the thread then drops its runtime and exits.
    stop: Mutex<Option<oneshot::Sender<Duration>>>,
    exited: Mutex<mpsc::Receiver<()>>,
}

/// The servers' workers: one current-thread runtime per thread (see the module docs).
///
/// Dropping the last handle tells every worker to stop (without waiting, so it may happen on
/// any thread); `runtime.shutdown()` also waits for them.
pub struct ServerWorkers {
    workers: Vec<Worker>,
    next: AtomicUsize,
}

impl ServerWorkers {
    fn start(count: usize) -> std::io::Result<Self> {
        let (timers, timers_alive) = start_timers()?;
        let mut workers = Vec::with_capacity(count);
        for index in 0..count {
            let (ready_tx, ready_rx) = mpsc::channel();
            let (stop_tx, stop_rx) = oneshot::channel::<Duration>();
            let (exited_tx, exited_rx) = mpsc::channel();
            let (timers, timers_alive) = (timers.clone(), timers_alive.clone());
            std::thread::Builder::new()
                .name(format!("ferrosock-server-{index}"))
                .spawn(move || {
                    block_python_signals();
                    let _ = TIMERS.with(|cell| cell.set(timers));
                    // I/O only: the timers are on the timer thread (see the module docs).
                    let runtime = Builder::new_current_thread()
                        .thread_name("ferrosock-server-blocking")
                        .on_thread_start(on_worker_start)
                        .enable_io()
                        .build();
                    let runtime = match runtime {
                        Ok(runtime) => runtime,
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(runtime.handle().clone()));
                    // Only now: the thread that starts the pool may hold the GIL until then.
                    keep_python_thread_state();
                    // Serve whatever is spawned here until told to stop (or every handle of
                    // the pool is gone, which drops the sender).
                    let grace = runtime.block_on(stop_rx).unwrap_or(Duration::ZERO);
                    runtime.shutdown_timeout(grace);
                    drop(timers_alive);
                    let _ = exited_tx.send(());
                })?;
            let handle = ready_rx
                .recv()
                .map_err(|_| std::io::Error::other("a server worker thread failed to start"))??;
            workers.push(Worker {
                handle,
                stop: Mutex::new(Some(stop_tx)),
                exited: Mutex::new(exited_rx),
            });
        }
        Ok(ServerWorkers {
            workers,
            next: AtomicUsize::new(0),
        })
    }

    pub fn count(&self) -> usize {
        self.workers.len()
    }

    /// The next worker in turn (round robin).
    pub fn next_worker(&self) -> &Handle {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        &self.workers[index].handle
    }

    /// Runs `future` on the next worker in turn.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.next_worker().spawn(future)
    }

    fn signal_stop(&self, grace: Duration) {
        for worker in &self.workers {
            let stop = worker.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(stop) = stop {
                let _ = stop.send(grace);
            }
        }
    }

    /// Stops every worker, giving their tasks `grace`, and waits (a little longer) for them.
    fn shutdown(self, grace: Duration) {
        self.signal_stop(grace);
        let deadline = Instant::now() + grace.saturating_add(Duration::from_millis(500));
        for worker in &self.workers {
            let left = deadline.saturating_duration_since(Instant::now());
            let exited = worker.exited.lock().unwrap_or_else(|p| p.into_inner());
            let _ = exited.recv_timeout(left);
        }
    }
}

impl Drop for ServerWorkers {
    fn drop(&mut self) {
        self.signal_stop(Duration::ZERO);
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
