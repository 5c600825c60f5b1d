//! Just enough of CPython's `PyArg_ParseTuple` to read address tuples with the errors it
//! raises: arity errors, per-item conversion errors and the `;message` / `:name` variants.

use std::os::raw::{c_int, c_ulong};

use pyo3::exceptions::{PySystemError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};

use crate::args::{self, type_name};

/// How a format string names itself in errors: `"...;message"` replaces every message
/// (arity and conversion), `"...:name"` prefixes `name()`, and plain formats say "function".
#[derive(Clone, Copy)]
pub enum Label<'a> {
    Message(&'a str),
    Function(&'a str),
    Anonymous,
}

/// Why one item did not convert: an exception the converter raised (kept as is), or
/// getargs' own "must be X" (`converterr`), worded by the tuple's label.
pub enum Fail {
    Py(PyErr),
    Expected(&'static str),
}

impl From<PyErr> for Fail {
    fn from(err: PyErr) -> Self {
        Fail::Py(err)
    }
}

/// The arity error `PyArg_ParseTuple` raises for `given` items against `min..=max`.
pub fn arity_message(label: Label<'_>, min: usize, max: usize, given: usize) -> String {
    if let Label::Message(message) = label {
        return message.to_owned();
    }
    let name = match label {
        Label::Function(name) => format!("{name}()"),
        _ => "function".to_owned(),
    };
    let (how, count) = match (min == max, given < min) {
        (true, _) => ("exactly", min),
        (false, true) => ("at least", min),
        (false, false) => ("at most", max),
    };
    let plural = if count == 1 { "" } else { "s" };
    format!("{name} takes {how} {count} argument{plural} ({given} given)")
}

/// A conversion failure's message for item `index` (0-based) of type `got`.
pub fn item_message(label: Label<'_>, index: usize, expected: &str, got: &str) -> String {
    match label {
        Label::Message(message) => message.to_owned(),
        Label::Function(name) => {
            format!(
                "{name}() argument {} must be {expected}, not {got}",
                index + 1
            )
        }
        Label::Anonymous => format!("argument {} must be {expected}, not {got}", index + 1),
    }
}

/// An argument tuple whose length has been checked.
pub struct Items<'py, 'a> {
    tuple: Bound<'py, PyTuple>,
    label: Label<'a>,
}

/// `PyArg_ParseTuple`'s checks before any item converts: a tuple, of `min..=max` items.
pub fn parse<'py, 'a>(
    obj: &Bound<'py, PyAny>,
    min: usize,
    max: usize,
    label: Label<'a>,
) -> PyResult<Items<'py, 'a>> {
    let tuple = obj.cast::<PyTuple>().map_err(|_| {
        PySystemError::new_err("new style getargs format but argument is not a tuple")
    })?;
    let given = tuple.len();
    if given < min || given > max {
        return Err(PyTypeError::new_err(arity_message(label, min, max, given)));
    }
    Ok(Items {
        tuple: tuple.clone(),
        label,
    })
}

impl<'py> Items<'py, '_> {
    /// Item `index` through `convert`, or None when the (optional) item is not there.
    pub fn get<T>(
        &self,
        index: usize,
        convert: impl FnOnce(&Bound<'py, PyAny>) -> Result<T, Fail>,
    ) -> PyResult<Option<T>> {
        if index >= self.tuple.len() {
            return Ok(None);
        }
        let item = self.tuple.get_item(index)?;
        match convert(&item) {
            Ok(value) => Ok(Some(value)),
            Err(Fail::Py(err)) => Err(err),
            Err(Fail::Expected(expected)) => {
                let got = if item.is_none() {
                    "None".to_owned()
                } else {
                    type_name(&item)
                };
                Err(PyTypeError::new_err(item_message(
                    self.label, index, expected, &got,
                )))
            }
        }
    }

    /// A required item (its presence was checked by `parse`).
    pub fn req<T>(
        &self,
        index: usize,
        convert: impl FnOnce(&Bound<'py, PyAny>) -> Result<T, Fail>,
    ) -> PyResult<T> {
        self.get(index, convert)
            .map(|v| v.expect("parse checked the item count"))
    }
}

// ------------------------------------------------------------------------- item formats

/// `i`: a C int.
pub fn int(obj: &Bound<'_, PyAny>) -> Result<c_int, Fail> {
    Ok(args::c_int(obj)?)
}

/// `I`: an unsigned int, wrapping (no overflow check).
pub fn uint(obj: &Bound<'_, PyAny>) -> Result<u32, Fail> {
    Ok(args::unsigned_int(obj)?)
}

/// `H`: an unsigned short, wrapping.
pub fn ushort(obj: &Bound<'_, PyAny>) -> Result<u16, Fail> {
    Ok(args::unsigned_int(obj)? as u16)
}

/// `B`: an unsigned char, wrapping.
pub fn uchar(obj: &Bound<'_, PyAny>) -> Result<u8, Fail> {
    Ok(args::unsigned_int(obj)? as u8)
}

/// `k`: an unsigned long, wrapping; only an `int` (no `__index__`).
pub fn ulong(obj: &Bound<'_, PyAny>) -> Result<c_ulong, Fail> {
    // SAFETY: obj is a valid object and the GIL is held.
    if unsafe { ffi::PyLong_Check(obj.as_ptr()) } == 0 {
        return Err(Fail::Expected("int"));
    }
    // SAFETY: as above; obj is an int, so the mask conversion cannot fail.
    Ok(unsafe { ffi::PyLong_AsUnsignedLongMask(obj.as_ptr()) })
}

/// `K`: an unsigned long long, wrapping; only an `int`.
pub fn ulonglong(obj: &Bound<'_, PyAny>) -> Result<u64, Fail> {
    // SAFETY: obj is a valid object and the GIL is held.
    if unsafe { ffi::PyLong_Check(obj.as_ptr()) } == 0 {
        return Err(Fail::Expected("int"));
    }
    // SAFETY: as above; obj is an int, so the mask conversion cannot fail.
    Ok(unsafe { ffi::PyLong_AsUnsignedLongLongMask(obj.as_ptr()) })
}

/// `s`: a str as UTF-8 without NUL.
pub fn utf8(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, Fail> {
    let text = obj.cast::<PyString>().map_err(|_| Fail::Expected("str"))?;
    let mut len: ffi::Py_ssize_t = 0;
    // SAFETY: text is a str and the GIL is held; the buffer lives as long as text.
    let data = unsafe { ffi::PyUnicode_AsUTF8AndSize(text.as_ptr(), &mut len) };
    if data.is_null() {
        return Err(PyErr::fetch(obj.py()).into());
    }
    // SAFETY: CPython returned `len` valid bytes at data.
    let bytes = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len as usize) };
    if bytes.contains(&0) {
        return Err(PyValueError::new_err("embedded null character").into());
    }
    Ok(bytes.to_vec())
}

/// `y*`: any bytes-like object, copied.
pub fn buffer(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, Fail> {
    Ok(args::HeldBuffer::readable(obj)?.as_slice().to_vec())
}

/// `O&` with `PyUnicode_FSConverter`: str (file-system encoded), bytes or os.PathLike.
pub fn fs_path(obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, Fail> {
    let mut out: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: obj is valid, the GIL is held; on success `out` is a new reference to bytes.
    let ok = unsafe {
        ffi::PyUnicode_FSConverter(obj.as_ptr(), (&mut out as *mut *mut ffi::PyObject).cast())
    };
    if ok == 0 {
        return Err(PyErr::fetch(obj.py()).into());
    }
    // SAFETY: out is an owned reference to a bytes object.
    let bytes = unsafe { Bound::from_owned_ptr(obj.py(), out) };
    Ok(bytes
        .cast::<PyBytes>()
        .map_err(PyErr::from)?
        .as_bytes()
        .to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_messages_match_getargs() {
        assert_eq!(
            arity_message(Label::Anonymous, 3, 3, 1),
            "function takes exactly 3 arguments (1 given)"
        );
        assert_eq!(
            arity_message(Label::Function("getsockaddrarg"), 2, 2, 3),
            "getsockaddrarg() takes exactly 2 arguments (3 given)"
        );
        assert_eq!(
            arity_message(Label::Anonymous, 2, 5, 1),
            "function takes at least 2 arguments (1 given)"
        );
        assert_eq!(
            arity_message(Label::Anonymous, 1, 1, 0),
            "function takes exactly 1 argument (0 given)"
        );
        assert_eq!(
            arity_message(Label::Anonymous, 2, 5, 6),
            "function takes at most 5 arguments (6 given)"
        );
        assert_eq!(arity_message(Label::Message("m"), 2, 5, 6), "m");
    }

    #[test]
    fn item_messages_match_getargs() {
        assert_eq!(
            item_message(Label::Anonymous, 1, "int", "float"),
            "argument 2 must be int, not float"
        );
        assert_eq!(
            item_message(Label::Function("f"), 0, "str", "None"),
            "f() argument 1 must be str, not None"
        );
        assert_eq!(item_message(Label::Message("m"), 0, "str", "int"), "m");
    }
}
