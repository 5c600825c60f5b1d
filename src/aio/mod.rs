//! asyncio support.
//!
//! Two mechanisms, each where it is cheap:
//! * Streams and datagram sockets (`stream.rs`) are driven by the asyncio loop's own readiness
//!   callbacks: when the descriptor is readable, one Rust call reads everything available into
//!   a buffer kept in Rust; `await recv()` / `recv_msg()` take from that buffer without leaving
//!   the event loop thread. No thread hop per call, which a per-call tokio future would cost.
//! * One-shot requests (`time_query`, `echo`, the chat client) are tokio futures bridged with
//!   pyo3-async-runtimes: one hop per request is nothing next to a network round trip.
//!
//! pyo3-async-runtimes is used through its generic API with `SharedRuntime`, so its futures
//! run on ferrosock's one runtime (fork-aware, sized by `runtime.configure`).

pub mod clients;
pub mod stream;

use std::future::Future;
use std::pin::Pin;

use pyo3_async_runtimes::generic::{ContextExt, Runtime};
use pyo3_async_runtimes::TaskLocals;
use std::cell::OnceCell;

/// ferrosock's shared runtime, as pyo3-async-runtimes sees it.
pub struct SharedRuntime;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

fn runtime() -> std::sync::Arc<tokio::runtime::Runtime> {
    // Building the runtime only fails when threads cannot be spawned at all.
    crate::runtime::get().expect("ferrosock could not start its tokio runtime")
}

impl Runtime for SharedRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        runtime().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        runtime().spawn_blocking(f)
    }
}

impl ContextExt for SharedRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS
            .try_with(|c| c.get().cloned())
            .unwrap_or_default()
    }
}
