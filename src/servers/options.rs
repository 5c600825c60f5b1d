//! The keyword options every server takes: limits, timeouts and TCP keepalive.

use std::time::Duration;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use tokio::net::TcpStream;

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

/// TCP keepalive: first probe after `idle` of silence, then every `interval`, `retries` in all.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Keepalive {
    idle: Duration,
    interval: Duration,
    retries: u32,
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

    pub fn apply(&self, stream: &TcpStream) -> std::io::Result<()> {
        let params = socket2::TcpKeepalive::new()
            .with_time(self.idle)
            .with_interval(self.interval)
            .with_retries(self.retries);
        socket2::SockRef::from(stream).set_tcp_keepalive(&params)
    }
}

/// What `keepalive=` accepts: True/False, idle seconds, or (idle, interval, count).
#[derive(FromPyObject)]
pub enum KeepaliveArg {
    Flag(bool),
    Seconds(f64),
    Full((f64, f64, u32)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_arguments_resolve_to_the_documented_values() {
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
}
