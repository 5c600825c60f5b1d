//! TCP keepalive, as the `keepalive=` option of the native servers, clients and `ferrosock.aio`
//! takes it: `None`/`False` (off), `True` (the documented default probes), a number (seconds of
//! silence before the first probe) or `(idle, interval, count)`. Validation happens once, here,
//! so every front gives the same messages.

use std::os::fd::{AsFd, RawFd};
use std::time::Duration;

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyInt, PyTuple};

use crate::{errors, fd};

/// TCP keepalive: first probe after `idle` of silence, then every `interval`, `retries` in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Keepalive {
    pub idle: Duration,
    pub interval: Duration,
    pub retries: u32,
}

impl Keepalive {
    /// `keepalive=True`: probes after 60 s of silence, every 10 s, 5 of them, so a vanished
    /// peer is noticed within about 2 minutes instead of never (Linux's own defaults, 7200 s
    /// then 9 x 75 s, would take over 2 hours). An idle live peer costs one tiny packet a
    /// minute, answered by its kernel.
    pub const DEFAULT: Keepalive = Keepalive {
        idle: Duration::from_secs(60),
        interval: Duration::from_secs(10),
        retries: 5,
    };

    /// SO_KEEPALIVE with TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT on `socket`.
    pub fn apply(&self, socket: &impl AsFd) -> std::io::Result<()> {
        let params = socket2::TcpKeepalive::new()
            .with_time(self.idle)
            .with_interval(self.interval)
            .with_retries(self.retries);
        socket2::SockRef::from(socket).set_tcp_keepalive(&params)
    }
}

/// What `keepalive=` accepts: True/False, idle seconds, or (idle, interval, count).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeepaliveArg {
    Flag(bool),
    Seconds(f64),
    Full((f64, f64, u32)),
}

const WHAT_IT_TAKES: &str =
    "keepalive must be True, False, None, a number of seconds or an (idle, interval, count) tuple";

fn seconds(item: &Bound<'_, PyAny>, what: &str) -> PyResult<f64> {
    if item.is_instance_of::<PyBool>() {
        return Err(PyTypeError::new_err(format!(
            "keepalive {what} must be a number of seconds, not bool"
        )));
    }
    match item.extract::<f64>() {
        Ok(value) => Ok(value),
        // An int too large for a float: a number, just out of range.
        Err(_) if item.is_instance_of::<PyInt>() => Ok(f64::INFINITY),
        Err(_) => Err(PyTypeError::new_err(format!(
            "keepalive {what} must be a number of seconds, not {}",
            type_name(item)
        ))),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map_or_else(|_| "?".to_owned(), |n| n.to_string())
}

impl<'a, 'py> FromPyObject<'a, 'py> for KeepaliveArg {
    type Error = PyErr;

    fn extract(obj: Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        if let Ok(flag) = obj.cast::<PyBool>() {
            return Ok(KeepaliveArg::Flag(flag.is_true()));
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            if tuple.len() != 3 {
                return Err(PyTypeError::new_err(format!(
                    "{WHAT_IT_TAKES}, not a tuple of {}",
                    tuple.len()
                )));
            }
            let idle = seconds(&tuple.get_item(0)?, "idle time")?;
            let interval = seconds(&tuple.get_item(1)?, "interval")?;
            let count = tuple.get_item(2)?;
            if count.is_instance_of::<PyBool>() {
                return Err(PyTypeError::new_err("keepalive count must be an integer"));
            }
            let count = match count.extract::<i64>() {
                // Out of range (0 is refused by `resolve`, with the range in the message).
                Ok(n) => u32::try_from(n).unwrap_or(0),
                Err(_) if count.is_instance_of::<PyInt>() => 0,
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "keepalive count must be an integer, not {}",
                        type_name(&count)
                    )))
                }
            };
            return Ok(KeepaliveArg::Full((idle, interval, count)));
        }
        match obj.extract::<f64>() {
            Ok(idle) => Ok(KeepaliveArg::Seconds(idle)),
            Err(_) if obj.is_instance_of::<PyInt>() => Ok(KeepaliveArg::Seconds(f64::INFINITY)),
            Err(_) => Err(PyTypeError::new_err(format!(
                "{WHAT_IT_TAKES}, not {}",
                type_name(&obj)
            ))),
        }
    }
}

impl KeepaliveArg {
    /// Whole seconds (what TCP_KEEPIDLE/TCP_KEEPINTVL take), at least 1.
    fn whole_seconds(value: f64, what: &str) -> PyResult<Duration> {
        if !(value.is_finite() && value >= 1.0 && value <= f64::from(i32::MAX)) {
            return Err(PyValueError::new_err(format!(
                "keepalive {what} must be a number of seconds from 1 up"
            )));
        }
        Ok(Duration::from_secs(value.round() as u64))
    }

    /// The probes `arg` asks for; None when keepalive is off. Seconds alone keep the default
    /// count and probe every `min(idle, 10 s)`.
    pub fn resolve(arg: Option<KeepaliveArg>) -> PyResult<Option<Keepalive>> {
        Ok(match arg {
            None | Some(KeepaliveArg::Flag(false)) => None,
            Some(KeepaliveArg::Flag(true)) => Some(Keepalive::DEFAULT),
            Some(KeepaliveArg::Seconds(idle)) => {
                let idle = Self::whole_seconds(idle, "idle time")?;
                Some(Keepalive {
                    idle,
                    interval: idle.min(Keepalive::DEFAULT.interval),
                    retries: Keepalive::DEFAULT.retries,
                })
            }
            Some(KeepaliveArg::Full((idle, interval, retries))) => {
                if !(1..=127).contains(&retries) {
                    return Err(PyValueError::new_err(
                        "keepalive count must be from 1 to 127",
                    ));
                }
                Some(Keepalive {
                    idle: Self::whole_seconds(idle, "idle time")?,
                    interval: Self::whole_seconds(interval, "interval")?,
                    retries,
                })
            }
        })
    }
}

/// Sets (or, for None/False, clears) TCP keepalive on the socket `fd`, validated as every
/// `keepalive=` option is. Used by `ferrosock.aio.connect`, and by `aio.start_server` on its
/// listening socket, whose settings Linux copies to every connection it accepts.
#[pyfunction]
pub fn set_keepalive(fd: RawFd, keepalive: Option<KeepaliveArg>) -> PyResult<()> {
    let resolved = KeepaliveArg::resolve(keepalive)?;
    let socket = fd::borrow(fd).map_err(errors::from_io)?;
    match resolved {
        Some(keepalive) => keepalive.apply(&*socket),
        None => socket.set_keepalive(false),
    }
    .map_err(errors::from_io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_resolve_to_the_documented_values() {
        assert_eq!(KeepaliveArg::resolve(None).ok(), Some(None));
        assert_eq!(
            KeepaliveArg::resolve(Some(KeepaliveArg::Flag(false))).ok(),
            Some(None)
        );
        assert_eq!(
            KeepaliveArg::resolve(Some(KeepaliveArg::Flag(true))).ok(),
            Some(Some(Keepalive::DEFAULT))
        );
        let short = KeepaliveArg::resolve(Some(KeepaliveArg::Seconds(3.0))).ok();
        assert_eq!(
            short,
            Some(Some(Keepalive {
                idle: Duration::from_secs(3),
                interval: Duration::from_secs(3),
                retries: 5,
            }))
        );
        let long = KeepaliveArg::resolve(Some(KeepaliveArg::Seconds(300.4))).ok();
        assert_eq!(
            long,
            Some(Some(Keepalive {
                idle: Duration::from_secs(300),
                interval: Duration::from_secs(10),
                retries: 5,
            }))
        );
        let full = KeepaliveArg::resolve(Some(KeepaliveArg::Full((1.0, 2.0, 3)))).ok();
        assert_eq!(
            full,
            Some(Some(Keepalive {
                idle: Duration::from_secs(1),
                interval: Duration::from_secs(2),
                retries: 3,
            }))
        );
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for bad in [
            KeepaliveArg::Seconds(0.5),
            KeepaliveArg::Seconds(-3.0),
            KeepaliveArg::Seconds(f64::NAN),
            KeepaliveArg::Seconds(f64::INFINITY),
            KeepaliveArg::Full((1.0, 1.0, 0)),
            KeepaliveArg::Full((1.0, 0.0, 3)),
            KeepaliveArg::Full((1.0, 1.0, 128)),
        ] {
            assert!(KeepaliveArg::resolve(Some(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn apply_sets_the_four_options() {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("a TCP socket");
        let keepalive = Keepalive {
            idle: Duration::from_secs(7),
            interval: Duration::from_secs(3),
            retries: 4,
        };
        keepalive.apply(&socket).expect("setsockopt");
        assert!(socket.keepalive().expect("SO_KEEPALIVE"));
        assert_eq!(socket.tcp_keepalive_time().ok(), Some(keepalive.idle));
        assert_eq!(
            socket.tcp_keepalive_interval().ok(),
            Some(keepalive.interval)
        );
        assert_eq!(socket.tcp_keepalive_retries().ok(), Some(4));
    }
}
