//! Counters every server keeps, read by `stats()`.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::PyDict;

#[derive(Default)]
pub struct Stats {
    pub connections_open: AtomicI64,
    pub connections_total: AtomicU64,
    pub messages_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub errors: AtomicU64,
    started: Mutex<Option<Instant>>,
}

impl Stats {
    pub fn started(&self) {
        *self.started.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
    }

    pub fn received(&self, bytes: usize) {
        self.messages_in.fetch_add(1, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    pub fn sent(&self, bytes: usize) {
        self.messages_out.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Takes back a reply counted by `sent` whose write then failed.
    pub fn unsent(&self, bytes: usize) {
        self.messages_out.fetch_sub(1, Ordering::Relaxed);
        self.bytes_out.fetch_sub(bytes as u64, Ordering::Relaxed);
    }

    pub fn error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn to_dict<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        dict.set_item(
            "connections_open",
            self.connections_open.load(Ordering::Relaxed).max(0),
        )?;
        dict.set_item("connections_total", load(&self.connections_total))?;
        dict.set_item("messages_in", load(&self.messages_in))?;
        dict.set_item("messages_out", load(&self.messages_out))?;
        dict.set_item("bytes_in", load(&self.bytes_in))?;
        dict.set_item("bytes_out", load(&self.bytes_out))?;
        dict.set_item("errors", load(&self.errors))?;
        let uptime = self
            .started
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .map_or(0.0, |t| t.elapsed().as_secs_f64());
        dict.set_item("uptime", uptime)?;
        Ok(dict)
    }
}

/// Counts an open connection for as long as it lives.
pub struct OpenConnection<'a>(&'a Stats);

impl<'a> OpenConnection<'a> {
    pub fn new(stats: &'a Stats) -> Self {
        stats.connections_open.fetch_add(1, Ordering::Relaxed);
        stats.connections_total.fetch_add(1, Ordering::Relaxed);
        OpenConnection(stats)
    }
}

impl Drop for OpenConnection<'_> {
    fn drop(&mut self) {
        self.0.connections_open.fetch_sub(1, Ordering::Relaxed);
    }
}
