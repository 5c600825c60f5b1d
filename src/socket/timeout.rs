//! Timeout values: parsing as `socket.settimeout` does, and the module's default timeout.

use std::sync::atomic::{AtomicI64, Ordering};

use pyo3::exceptions::{PyOverflowError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyFloat, PyInt};

use crate::blocking::Timeout;

/// `setdefaulttimeout`'s value, in nanoseconds; negative is None.
static DEFAULT_TIMEOUT_NS: AtomicI64 = AtomicI64::new(-1);

pub fn default_timeout() -> Timeout {
    Timeout(DEFAULT_TIMEOUT_NS.load(Ordering::Relaxed))
}

pub fn set_default_timeout(timeout: Timeout) {
    DEFAULT_TIMEOUT_NS.store(timeout.0, Ordering::Relaxed);
}

/// `_PyTime_t` overflow; 3.13 made the type public as `PyTime_t` and its message followed.
fn too_large(py: Python<'_>) -> PyErr {
    if crate::args::python_minor(py) >= 13 {
        PyOverflowError::new_err("timestamp too large to convert to C PyTime_t")
    } else {
        PyOverflowError::new_err("timestamp too large to convert to C _PyTime_t")
    }
}

/// Seconds as a float to nanoseconds, rounded away from zero (CPython's `_PyTime_ROUND_TIMEOUT`).
pub fn seconds_to_ns(seconds: f64) -> Result<i64, &'static str> {
    if seconds.is_nan() {
        return Err("nan");
    }
    let ns = seconds * 1e9;
    let rounded = if ns >= 0.0 { ns.ceil() } else { ns.floor() };
    if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&rounded) {
        return Err("overflow");
    }
    Ok(rounded as i64)
}

/// `socket_parse_timeout`: None, or a non-negative int or float of seconds.
pub fn parse(obj: &Bound<'_, PyAny>) -> PyResult<Timeout> {
    if obj.is_none() {
        return Ok(Timeout::BLOCKING);
    }
    let ns = if let Ok(f) = obj.cast::<PyFloat>() {
        match seconds_to_ns(f.value()) {
            Ok(ns) => ns,
            Err("nan") => return Err(PyValueError::new_err("Invalid value NaN (not a number)")),
            // up to 3.10, _PyTime_FromDouble said the _PyTime_t one; 3.11 the time_t one
            Err(_) if crate::args::python_minor(obj.py()) < 11 => return Err(too_large(obj.py())),
            Err(_) => {
                return Err(PyOverflowError::new_err(
                    "timestamp out of range for platform time_t",
                ))
            }
        }
    } else {
        let secs: i64 = match obj.cast::<PyInt>() {
            Ok(i) => i.extract().map_err(|_| too_large(obj.py()))?,
            Err(_) => {
                // CPython's own PyLong_AsLongLong, as _PyLong_AsTime_t calls it: `__index__`,
                // and on 3.9 also `__int__` (with its DeprecationWarning) and 3.9's messages.
                // SAFETY: obj is a valid object and we hold the GIL.
                let value = unsafe { pyo3::ffi::PyLong_AsLongLong(obj.as_ptr()) };
                match PyErr::take(obj.py()) {
                    Some(err) if err.is_instance_of::<PyOverflowError>(obj.py()) => {
                        return Err(too_large(obj.py()))
                    }
                    Some(err) => return Err(err),
                    None => value,
                }
            }
        };
        secs.checked_mul(1_000_000_000)
            .ok_or_else(|| too_large(obj.py()))?
    };
    if ns < 0 {
        return Err(PyValueError::new_err("Timeout value out of range"));
    }
    Ok(Timeout(ns))
}

/// A timeout as `gettimeout()` returns it.
pub fn to_python(py: Python<'_>, timeout: Timeout) -> Py<PyAny> {
    if timeout.0 < 0 {
        return py.None();
    }
    let ns = timeout.0;
    // CPython's _PyTime_AsSecondsDouble: exact division when whole seconds.
    let secs = if ns % 1_000_000_000 == 0 {
        (ns / 1_000_000_000) as f64
    } else {
        ns as f64 / 1e9
    };
    PyFloat::new(py, secs).into_any().unbind()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_up_to_the_next_nanosecond() {
        assert_eq!(seconds_to_ns(0.1), Ok(100_000_000));
        assert_eq!(seconds_to_ns(1e-10), Ok(1));
        assert_eq!(seconds_to_ns(0.0), Ok(0));
        assert_eq!(seconds_to_ns(-1e-10), Ok(-1));
    }

    #[test]
    fn rejects_nan_and_huge_values() {
        assert_eq!(seconds_to_ns(f64::NAN), Err("nan"));
        assert_eq!(seconds_to_ns(1e300), Err("overflow"));
    }
}
