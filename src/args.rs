//! Argument conversions that raise exactly what CPython's `PyArg_Parse` formats raise.
//!
//! PyO3's own extraction prefixes errors with the argument name; the stdlib's socket methods
//! don't, and ferrosock's errors must read the same, so the socket methods take `&Bound<PyAny>`
//! and convert through these.

use std::os::raw::{c_int, c_long};
use std::sync::OnceLock;

use pyo3::exceptions::{PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple};

/// The running interpreter's minor version (3.X): the one place the Rust side asks for it,
/// for the few conversions whose errors changed between 3.9 and 3.13. On 3.9 `PyArg_Parse`'s
/// integer formats reject a float with their own message (3.10 dropped the check:
/// `__index__` decides); up to 3.10 the socket constructor parses its ints with the `i`
/// format (Argument Clinic's `int` from 3.11), and a float timeout too large for `_PyTime_t`
/// says so (3.11 says `time_t`); 3.12 made `setblocking` a truth test; 3.13 renamed
/// `_PyTime_t` to `PyTime_t` in its overflow message and reworded an unknown keyword.
pub fn python_minor(py: Python<'_>) -> u8 {
    static MINOR: OnceLock<u8> = OnceLock::new();
    *MINOR.get_or_init(|| py.version_info().minor)
}

/// 3.9's `float_argument_error`, which its `PyArg_Parse` integer formats call first (and 3.9's
/// `sock_initobj` before it reads `fileno`).
pub fn reject_float_on_3_9(obj: &Bound<'_, PyAny>) -> PyResult<()> {
    if obj.is_instance_of::<pyo3::types::PyFloat>() && python_minor(obj.py()) < 10 {
        return Err(PyTypeError::new_err("integer argument expected, got float"));
    }
    Ok(())
}

/// The `i` format: a C int, through `__index__`.
pub fn c_int(obj: &Bound<'_, PyAny>) -> PyResult<c_int> {
    reject_float_on_3_9(obj)?;
    let value = c_long(obj)?;
    if value > c_long::from(c_int::MAX) {
        return Err(PyOverflowError::new_err(
            "signed integer is greater than maximum",
        ));
    }
    if value < c_long::from(c_int::MIN) {
        return Err(PyOverflowError::new_err(
            "signed integer is less than minimum",
        ));
    }
    Ok(value as c_int)
}

/// The `K` format: an int (no `__index__`), its low 64 bits, with no overflow check.
pub fn ulonglong_mask(obj: &Bound<'_, PyAny>, func: &str, position: usize) -> PyResult<u64> {
    if !obj.is_instance_of::<pyo3::types::PyInt>() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{func}() argument {position} must be int, not {}",
            arg_type_name(obj)
        )));
    }
    // SAFETY: obj is an int and we hold the GIL; the mask conversion cannot overflow.
    let value = unsafe { ffi::PyLong_AsUnsignedLongLongMask(obj.as_ptr()) };
    if value == u64::MAX {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(value)
}

/// The socket constructor's family, type and proto: Argument Clinic's `int` from 3.11, the `i`
/// format before.
pub fn constructor_int(obj: &Bound<'_, PyAny>) -> PyResult<c_int> {
    if python_minor(obj.py()) < 11 {
        return c_int(obj);
    }
    clinic_int(obj)
}

/// Argument Clinic's `int` (CPython's `_PyLong_AsInt`): one message for any overflow.
pub fn clinic_int(obj: &Bound<'_, PyAny>) -> PyResult<c_int> {
    let mut overflow: c_int = 0;
    // SAFETY: obj is a valid object and we hold the GIL.
    let value = unsafe { ffi::PyLong_AsLongAndOverflow(obj.as_ptr(), &mut overflow) };
    if value == -1 {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    match c_int::try_from(value) {
        Ok(value) if overflow == 0 => Ok(value),
        _ => Err(PyOverflowError::new_err(
            "Python int too large to convert to C int",
        )),
    }
}

/// `setblocking`'s flag: up to 3.11 a C long (`PyLong_AsLong`, so `setblocking(2**100)`
/// overflows), from 3.12 a truth test (`PyObject_IsTrue`: any object, as `bool()` takes it).
pub fn blocking_flag(obj: &Bound<'_, PyAny>) -> PyResult<bool> {
    if python_minor(obj.py()) >= 12 {
        obj.is_truthy()
    } else {
        Ok(c_long(obj)? != 0)
    }
}

/// `PyLong_AsLong`: a C long, through `__index__`.
pub fn c_long(obj: &Bound<'_, PyAny>) -> PyResult<c_long> {
    // SAFETY: obj is a valid object and we hold the GIL.
    let value = unsafe { ffi::PyLong_AsLong(obj.as_ptr()) };
    if value == -1 {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(value)
}

/// The `n` format: a `Py_ssize_t`, through `__index__`.
pub fn ssize(obj: &Bound<'_, PyAny>) -> PyResult<isize> {
    reject_float_on_3_9(obj)?;
    // SAFETY: obj is a valid object and we hold the GIL; PyNumber_Index returns a new reference.
    let index = unsafe { ffi::PyNumber_Index(obj.as_ptr()) };
    if index.is_null() {
        return Err(PyErr::fetch(obj.py()));
    }
    // SAFETY: index is a valid int object owned by us until the DECREF below.
    let value = unsafe { ffi::PyLong_AsSsize_t(index) };
    unsafe { ffi::Py_DECREF(index) };
    if value == -1 {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(value)
}

/// An `int` flag argument that may be omitted.
pub fn flags(obj: Option<&Bound<'_, PyAny>>) -> PyResult<c_int> {
    obj.map_or(Ok(0), c_int)
}

/// A contiguous buffer held for the duration of a call (the `y*` and `w*` formats).
///
/// The memory stays valid (and a bytearray cannot be resized) until the view is released,
/// which happens on drop, with the GIL held. `bytes`, the common case, skips the buffer
/// protocol: it is immutable and kept alive by the reference held here.
pub enum HeldBuffer<'py> {
    Bytes(Bound<'py, PyBytes>),
    View(Box<ffi::Py_buffer>),
}

impl<'py> HeldBuffer<'py> {
    /// `y*`: any object supporting the buffer protocol.
    pub fn readable(obj: &Bound<'py, PyAny>) -> PyResult<Self> {
        if let Ok(bytes) = obj.cast::<PyBytes>() {
            return Ok(HeldBuffer::Bytes(bytes.clone()));
        }
        Self::get(obj, ffi::PyBUF_SIMPLE)
    }

    /// `w*`: a writable buffer; `func` names the method in CPython's error message.
    pub fn writable(obj: &Bound<'py, PyAny>, func: &str) -> PyResult<Self> {
        Self::get(obj, ffi::PyBUF_WRITABLE).map_err(|_| {
            PyTypeError::new_err(format!(
                "{func}() argument 1 must be read-write bytes-like object, not {}",
                arg_type_name(obj)
            ))
        })
    }

    fn get(obj: &Bound<'py, PyAny>, flags: c_int) -> PyResult<Self> {
        // SAFETY: an all-zero Py_buffer is a valid "empty" value for GetBuffer to fill.
        let mut view: Box<ffi::Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: view points to writable memory; we hold the GIL.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) } != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(HeldBuffer::View(view))
    }

    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            HeldBuffer::Bytes(bytes) => bytes.as_bytes(),
            HeldBuffer::View(view) if view.len == 0 => &[],
            // SAFETY: the exporter guarantees `len` readable bytes at `buf` while held.
            HeldBuffer::View(view) => unsafe {
                std::slice::from_raw_parts(view.buf as *const u8, view.len as usize)
            },
        }
    }

    /// The writable bytes of a `w*` view (empty for anything else).
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            HeldBuffer::View(view) if view.len > 0 && view.readonly == 0 => {
                // SAFETY: a writable view of `len` bytes, held until drop.
                unsafe { std::slice::from_raw_parts_mut(view.buf as *mut u8, view.len as usize) }
            }
            _ => &mut [],
        }
    }
}

impl Drop for HeldBuffer<'_> {
    fn drop(&mut self) {
        if let HeldBuffer::View(view) = self {
            // SAFETY: the view was filled by PyObject_GetBuffer, and HeldBuffer<'py> can only
            // exist while the GIL is held.
            unsafe { ffi::PyBuffer_Release(&mut **view) };
        }
    }
}

/// The type's `tp_name`, as CPython's `%.200s` messages print it: `decimal.Decimal` and
/// `array.array` for C types, the bare name for classes written in Python.
pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    // SAFETY: every type has a NUL-terminated tp_name that lives as long as the type, which
    // `obj` keeps alive while we copy it.
    unsafe {
        let tp = ffi::Py_TYPE(obj.as_ptr());
        std::ffi::CStr::from_ptr((*tp).tp_name)
            .to_string_lossy()
            .into_owned()
    }
}

/// The type as `PyArg_Parse`'s "must be X, not Y" messages name it: `None` for None.
pub fn arg_type_name(obj: &Bound<'_, PyAny>) -> String {
    if obj.is_none() {
        "None".to_owned()
    } else {
        type_name(obj)
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// `PyArg_ParseTupleAndKeywords` for a method whose parameters are all positional-or-keyword:
/// `names` in order, the first `required` of them required. `convert(i, value)` is called for
/// each given argument in order, as CPython converts them, so the first bad argument's error
/// wins; then unknown or duplicated keywords are reported with CPython's messages.
pub fn keywords<'py>(
    method: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    names: &[&str],
    required: usize,
    mut convert: impl FnMut(usize, &Bound<'py, PyAny>) -> PyResult<()>,
) -> PyResult<()> {
    let nargs = args.len();
    let mut nkwargs = kwargs.map_or(0, |kw| kw.len());
    if nargs + nkwargs > names.len() {
        return Err(PyTypeError::new_err(format!(
            "{method}() takes at most {} {}argument{} ({} given)",
            names.len(),
            if nargs == 0 { "keyword " } else { "" },
            plural(names.len()),
            nargs + nkwargs
        )));
    }
    for (i, name) in names.iter().enumerate() {
        let value = if i < nargs {
            Some(args.get_item(i)?)
        } else if nkwargs > 0 {
            let found = kwargs.map(|kw| kw.get_item(name)).transpose()?.flatten();
            if found.is_some() {
                nkwargs -= 1;
            }
            found
        } else {
            None
        };
        match value {
            Some(value) => convert(i, &value)?,
            None if i < required => {
                return Err(PyTypeError::new_err(format!(
                    "{method}() missing required argument '{name}' (pos {})",
                    i + 1
                )))
            }
            None if nkwargs == 0 => return Ok(()),
            None => {}
        }
    }
    let Some(kw) = kwargs.filter(|_| nkwargs > 0) else {
        return Ok(());
    };
    for (i, name) in names.iter().enumerate().take(nargs) {
        if kw.get_item(name)?.is_some() {
            return Err(PyTypeError::new_err(format!(
                "argument for {method}() given by name ('{name}') and position ({})",
                i + 1
            )));
        }
    }
    for key in kw.keys() {
        let Ok(key) = key.cast::<pyo3::types::PyString>() else {
            return Err(PyTypeError::new_err("keywords must be strings"));
        };
        let key = key.to_string_lossy();
        if !names.contains(&key.as_ref()) {
            // 3.13's getargs.c took the wording of Python functions
            return Err(PyTypeError::new_err(if python_minor(kw.py()) >= 13 {
                format!("{method}() got an unexpected keyword argument '{key}'")
            } else {
                format!("'{key}' is an invalid keyword argument for {method}()")
            }));
        }
    }
    Ok(())
}

fn reject_keywords(method: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    reject_keywords_of(&format!("socket.{method}"), kwargs)
}

/// `qualname() takes no keyword arguments`, CPython's words for a function without keywords.
pub fn reject_keywords_of(qualname: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<()> {
    match kwargs {
        Some(kw) if !kw.is_empty() => Err(PyTypeError::new_err(format!(
            "{qualname}() takes no keyword arguments"
        ))),
        _ => Ok(()),
    }
}

/// A module function taking exactly one object (`METH_O`), named `_socket.name` as there.
pub fn single_of<'py>(
    qualname: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    reject_keywords_of(qualname, kwargs)?;
    if args.len() != 1 {
        return Err(PyTypeError::new_err(format!(
            "{qualname}() takes exactly one argument ({} given)",
            args.len()
        )));
    }
    args.get_item(0)
}

/// A positional-only method's arguments, checked as `PyArg_ParseTuple` reports arity errors.
pub fn positional<'a, 'py>(
    method: &str,
    args: &'a Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
    min: usize,
    max: usize,
) -> PyResult<&'a Bound<'py, PyTuple>> {
    reject_keywords(method, kwargs)?;
    let given = args.len();
    if (min..=max).contains(&given) {
        return Ok(args);
    }
    let (bound, count) = match (min == max, given < min) {
        (true, _) => ("exactly", min),
        (false, true) => ("at least", min),
        (false, false) => ("at most", max),
    };
    Err(PyTypeError::new_err(format!(
        "{method}() takes {bound} {count} argument{} ({given} given)",
        plural(count)
    )))
}

/// A method taking exactly one object (CPython's `METH_O`).
pub fn single<'py>(
    method: &str,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    reject_keywords(method, kwargs)?;
    if args.len() != 1 {
        return Err(PyTypeError::new_err(format!(
            "socket.{method}() takes exactly one argument ({} given)",
            args.len()
        )));
    }
    args.get_item(0)
}

/// Item `i` of a checked argument tuple, if given.
pub fn opt<'py>(args: &Bound<'py, PyTuple>, i: usize) -> Option<Bound<'py, PyAny>> {
    // Checked first: an out-of-range get_item would build (and drop) an IndexError.
    (i < args.len()).then(|| args.get_item(i).ok()).flatten()
}

/// The `I` format: an unsigned C int (CPython's `I` wraps rather than checking overflow).
pub fn unsigned_int(obj: &Bound<'_, PyAny>) -> PyResult<u32> {
    reject_float_on_3_9(obj)?;
    if obj.is_instance_of::<pyo3::types::PyFloat>() {
        return Err(PyTypeError::new_err(
            "'float' object cannot be interpreted as an integer",
        ));
    }
    // SAFETY: obj is valid and the GIL is held.
    let value = unsafe { pyo3::ffi::PyLong_AsUnsignedLongMask(obj.as_ptr()) };
    if value == std::os::raw::c_ulong::MAX {
        if let Some(err) = PyErr::take(obj.py()) {
            return Err(err);
        }
    }
    Ok(value as u32)
}
