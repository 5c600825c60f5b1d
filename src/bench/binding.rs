//! `_native.load_test`: the load generator's Python face (`python -m ferrosock.bench` drives
//! servers with it).

use std::net::ToSocketAddrs;
use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::loadgen::{self, ConnectError, LoadConfig, Mode};
use crate::{errors, runtime};

fn seconds(value: f64, what: &str) -> PyResult<Duration> {
    Duration::try_from_secs_f64(value)
        .map_err(|_| PyValueError::new_err(format!("{what} must be a non-negative number")))
}

/// Drive `host:port` with `connections` clients doing `size`-byte request/response for
/// `duration` seconds (after `warmup`); returns counts and latency percentiles. UDP with
/// `request`: that datagram every time, any reply accepted (for servers that do not echo).
#[pyfunction]
#[pyo3(signature = (
    host, port, *, mode="tcp", connections=16, size=1024, duration=3.0, warmup=0.5, timeout=1.0,
    request=None
))]
#[allow(clippy::too_many_arguments)]
pub fn load_test<'py>(
    py: Python<'py>,
    host: &str,
    port: u16,
    mode: &str,
    connections: usize,
    size: usize,
    duration: f64,
    warmup: f64,
    timeout: f64,
    request: Option<Vec<u8>>,
) -> PyResult<Bound<'py, PyDict>> {
    let mode = match mode {
        "tcp" => Mode::Tcp,
        "udp" => Mode::Udp,
        other => {
            return Err(PyValueError::new_err(format!(
                "mode must be 'tcp' or 'udp', not {other:?}"
            )))
        }
    };
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(errors::from_io)?
        .next()
        .ok_or_else(|| PyValueError::new_err(format!("{host} has no address")))?;
    let config = LoadConfig {
        addr,
        mode,
        connections,
        size,
        duration: seconds(duration, "duration")?,
        warmup: seconds(warmup, "warmup")?,
        timeout: seconds(timeout, "timeout")?,
        request,
    };
    let rt = runtime::get()?;
    let report = py.detach(|| rt.block_on(loadgen::run(config)));
    let report = report.map_err(|err| {
        // Keep the errno of a refused connect, as OSError(errno, strerror).
        let errno = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<ConnectError>())
            .and_then(|c| c.source.raw_os_error());
        match errno {
            Some(errno) => errors::os_error(errno),
            None if err.kind() == std::io::ErrorKind::InvalidInput => {
                PyValueError::new_err(err.to_string())
            }
            None => errors::from_io(err),
        }
    })?;
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let out = PyDict::new(py);
    out.set_item("requests", report.requests)?;
    out.set_item("errors", report.errors)?;
    out.set_item("timeouts", report.timeouts)?;
    out.set_item("bytes", report.bytes)?;
    out.set_item("elapsed", report.elapsed.as_secs_f64())?;
    out.set_item("requests_per_sec", report.requests_per_sec())?;
    out.set_item("mean_us", micros(report.mean))?;
    out.set_item("p50_us", micros(report.p50))?;
    out.set_item("p90_us", micros(report.p90))?;
    out.set_item("p99_us", micros(report.p99))?;
    out.set_item("max_us", micros(report.max))?;
    Ok(out)
}
