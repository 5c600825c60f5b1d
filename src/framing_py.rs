//! Framing's Python face, shared by the blocking path (`framing_io`) and the asyncio one
//! (`aio::stream`): `ferrosock.framing`'s exceptions, and whole frames out of a read buffer as
//! `bytes`. Depends on `framing` only, so both users point here and never at each other.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyType};

use crate::framing::{Frame, Header, ReadBuffer};

/// One of `ferrosock.framing`'s exceptions, built with `(a, b)`: (length, limit) for
/// FrameTooLarge, (expected, received) for IncompleteFrame.
pub(crate) fn framing_error(py: Python<'_>, name: &str, args: (u64, u64)) -> PyErr {
    static MODULE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let class = MODULE
        .get_or_try_init(py, || {
            py.import("ferrosock.framing")
                .map(|m| m.into_any().unbind())
        })
        .and_then(|m| m.bind(py).getattr(name))
        .and_then(|c| Ok(c.cast_into::<PyType>()?));
    match class {
        Ok(class) => match class.call1(args) {
            Ok(exc) => PyErr::from_value(exc),
            Err(err) => err,
        },
        Err(err) => err,
    }
}

/// The next frame out of `buf`: Some(body), None when more data is needed or at a clean end,
/// or the framing error the buffer shows.
pub(crate) fn take_frame<'py>(
    py: Python<'py>,
    buf: &mut ReadBuffer,
    header: Header,
    max_size: u64,
) -> PyResult<Option<Bound<'py, PyBytes>>> {
    match buf.frame(header, max_size) {
        Frame::Ready { body, used } => {
            let out = PyBytes::new(py, &buf.available()[body]);
            buf.consume(used);
            Ok(Some(out))
        }
        Frame::Incomplete | Frame::End => Ok(None),
        Frame::TooLarge(len) => Err(framing_error(py, "FrameTooLarge", (len, max_size))),
        Frame::Truncated(expected, got) => {
            Err(framing_error(py, "IncompleteFrame", (expected, got)))
        }
    }
}
