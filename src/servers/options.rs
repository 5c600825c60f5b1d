//! The keyword options every server takes: limits, timeouts and TCP keepalive.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// Per-server options (the keyword arguments every server takes).
pub struct Options {
    pub max_connections: Option<usize>,
    pub idle_timeout: Option<Duration>,
    /// How long a reply may make no progress (the peer does not read) before the connection
    /// is closed; defaults to `idle_timeout`.
    pub write_timeout: Option<Duration>,
    /// SO_KEEPALIVE on every accepted connection (TCP), so a vanished peer is noticed.
    pub keepalive: Option<Keepalive>,
}

/// TCP keepalive: the type and the `keepalive=` argument the clients share.
pub use crate::keepalive::{Keepalive, KeepaliveArg};

/// The keyword options shared by every server constructor.
pub struct Config {
    pub reuse_address: bool,
    pub backlog: i32,
    pub max_connections: Option<usize>,
    pub idle_timeout: Option<Duration>,
    pub write_timeout: Option<Duration>,
    pub keepalive: Option<Keepalive>,
    pub log: Option<Py<PyAny>>,
}

pub fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    value
        .map(|v| {
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| PyValueError::new_err(format!("{what} must be a positive number")))
        })
        .transpose()
}
