//! What each server does with a message: the only part that differs between servers.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Instant;

use pyo3::prelude::*;

use super::chat_protocol::ChatRooms;
use super::python_calls;
use crate::{errors, strftime};

/// The lesson time server's default format.
pub const DEFAULT_TIME_FORMAT: &str = "%Y-%m-%d %X";

pub enum Behaviour {
    Echo,
    Reply(Vec<u8>),
    Time,
    Chat(Mutex<ChatRooms<SocketAddr>>),
    /// A Python handler per chunk or datagram; `blocking`: it may block (see `respond`).
    Python {
        handler: Py<PyAny>,
        blocking: bool,
    },
    /// A Python handler given whole length-prefixed messages (TCP only).
    Framed {
        handler: Py<PyAny>,
        blocking: bool,
        header: crate::framing::Header,
        max_size: u64,
    },
}

/// The replies one message produces: (to whom, what). Stream servers only use the first.
pub type Replies = Vec<(SocketAddr, Vec<u8>)>;

pub use super::python_calls::HandlerFailed;

impl Behaviour {
    pub fn name(&self) -> &'static str {
        match self {
            Behaviour::Echo => "echo",
            Behaviour::Reply(_) => "reply",
            Behaviour::Time => "time",
            Behaviour::Chat(_) => "chat",
            Behaviour::Python { .. } => "handler",
            Behaviour::Framed { .. } => "framed",
        }
    }

    /// The replies to `data` from `peer` (`peer_py` is the address as Python sees it).
    pub async fn respond(
        &self,
        data: &[u8],
        peer: SocketAddr,
        peer_py: Option<&Py<PyAny>>,
    ) -> Result<Replies, HandlerFailed> {
        Ok(match self {
            Behaviour::Echo => vec![(peer, data.to_vec())],
            Behaviour::Reply(reply) => vec![(peer, reply.clone())],
            Behaviour::Time => vec![(peer, time_reply(data))],
            Behaviour::Chat(rooms) => {
                let mut rooms = rooms.lock().unwrap_or_else(|p| p.into_inner());
                rooms
                    .handle(peer, data, Instant::now())
                    .into_iter()
                    .collect()
            }
            Behaviour::Python { handler, blocking }
            | Behaviour::Framed {
                handler, blocking, ..
            } => {
                let Some(peer_py) = peer_py else {
                    return Err(HandlerFailed);
                };
                let reply = if *blocking {
                    // A handler that may block (sleep, file or network I/O) runs on the
                    // runtime's blocking threads, so this worker's other connections go on;
                    // the hand-over costs a copy and two wake-ups per message, hence opt-in.
                    let (handler, peer_py) =
                        Python::attach(|py| (handler.clone_ref(py), peer_py.clone_ref(py)));
                    let data = data.to_vec();
                    tokio::task::spawn_blocking(move || {
                        python_calls::call_handler(&handler, &data, &peer_py)
                    })
                    .await
                    .map_err(|_| HandlerFailed)?
                } else {
                    // The fast path: on the worker that read the message.
                    python_calls::call_handler(handler, data, peer_py)
                };
                match reply? {
                    Some(reply) => vec![(peer, reply)],
                    None => Vec::new(),
                }
            }
        })
    }
}

/// The time server's answer: the local time in the datagram's format, or `error: ...`.
pub fn time_reply(datagram: &[u8]) -> Vec<u8> {
    let Ok(format) = std::str::from_utf8(datagram) else {
        return b"error: the format is not UTF-8".to_vec();
    };
    let format = if format.is_empty() {
        DEFAULT_TIME_FORMAT
    } else {
        format
    };
    match strftime::local_now_for(format).and_then(|now| strftime::strftime(format, &now)) {
        Ok(text) => text.into_bytes(),
        Err(err) => format!("error: {err}").into_bytes(),
    }
}

/// Text as Python's `repr(str)` shows it, for log lines (lossy for invalid UTF-8).
pub fn str_repr(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let quote = if text.contains('\'') && !text.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// What a log line shows of received bytes: text (`'你好'`, as `repr(str)`) when they are UTF-8
/// with something beyond ASCII, where the bytes' repr would be a wall of `\x..` escapes;
/// otherwise the bytes' repr (`b'hello!'`, `b'\xff'`), as the lesson's servers print them.
pub fn data_repr(data: &[u8]) -> String {
    match std::str::from_utf8(data) {
        Ok(text) if !text.is_ascii() => str_repr(data),
        _ => bytes_repr(data),
    }
}

/// Bytes as Python's `repr(bytes)` shows them, for log lines.
pub fn bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(data.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in data {
        match byte {
            b'\\' => out.push_str("\\\\"),
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b if b as char == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(byte as char),
            _ => out.push_str(&format!("\\x{byte:02x}")),
        }
    }
    out.push(quote);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_repr_matches_python() {
        assert_eq!(bytes_repr(b"hello!"), "b'hello!'");
        assert_eq!(bytes_repr(b"it's"), "b\"it's\"");
        assert_eq!(bytes_repr(b"'\""), "b'\\'\"'");
        assert_eq!(bytes_repr(b"\x00\xff\n\\"), "b'\\x00\\xff\\n\\\\'");
    }

    #[test]
    fn data_repr_shows_utf8_text_as_text() {
        assert_eq!(data_repr(b"hello!"), "b'hello!'");
        assert_eq!(data_repr("你好，服务器".as_bytes()), "'你好，服务器'");
        assert_eq!(data_repr(b"\xe4\xbd"), "b'\\xe4\\xbd'"); // half a character: bytes
    }

    #[test]
    fn str_repr_matches_python() {
        assert_eq!(str_repr(b"%Y-%m-%d %X"), "'%Y-%m-%d %X'");
        assert_eq!(str_repr(b"it's"), "\"it's\"");
        assert_eq!(str_repr(b"a\0b\n"), "'a\\x00b\\n'");
        assert_eq!(str_repr("时间".as_bytes()), "'时间'");
    }

    #[test]
    fn time_reply_rejects_bad_input_with_error_replies() {
        assert!(time_reply(b"\xff\xfe").starts_with(b"error:"));
        assert!(time_reply(b"a\0b").starts_with(b"error:"));
        let long = "%Y".repeat(40_000);
        let reply = time_reply(long.as_bytes());
        assert!(reply.len() <= strftime::MAX_DATAGRAM);
    }

    #[test]
    fn empty_format_means_the_lessons_default() {
        let reply = String::from_utf8(time_reply(b"")).unwrap();
        assert_eq!(reply.len(), "2026-11-25 06:23:25".len(), "{reply}");
    }
}

/// `time.strftime(fmt, time.localtime(timestamp))` as the TimeServer computes it (exposed so
/// tests can compare it with Python's at a fixed instant).
#[pyfunction(name = "strftime")]
#[pyo3(signature = (fmt, timestamp=None))]
pub fn strftime_py(fmt: &str, timestamp: Option<i64>) -> PyResult<String> {
    use pyo3::exceptions::{PyOSError, PyOverflowError, PyValueError};
    let local = match timestamp {
        Some(t) => strftime::local_at(t),
        None => strftime::local_now(),
    };
    local
        .and_then(|t| strftime::strftime_with_limit(fmt, &t, usize::MAX))
        .map_err(|err| match err {
            strftime::StrftimeError::EmbeddedNul => {
                PyValueError::new_err("embedded null character")
            }
            strftime::StrftimeError::YearOutOfRange(_) => {
                PyOverflowError::new_err("signed integer is greater than maximum")
            }
            strftime::StrftimeError::TimestampOutOfRange(_) => {
                PyOSError::new_err((libc::EOVERFLOW, errors::strerror(libc::EOVERFLOW)))
            }
            other => PyValueError::new_err(other.to_string()),
        })
}
