//! The drop-in socket: a Rust object with the methods of CPython's `_socket.socket`.
//!
//! `python/ferrosock/_socket.py` subclasses it, as the stdlib's `socket.socket` subclasses
//! `_socket.socket`, to add the parts the stdlib writes in Python (enum-typed properties,
//! `accept` building a socket, `makefile`, `__repr__`, the unclosed-socket ResourceWarning).

mod msg;
pub mod timeout;

use std::os::fd::{IntoRawFd, RawFd};
use std::os::raw::c_int;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::time::Instant;

use pyo3::exceptions::{PyAttributeError, PyOSError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use socket2::{Domain, Protocol, SockAddr, Type};

use crate::addr;
use crate::args::{self, HeldBuffer};
use crate::blocking::{self, sock_call, Failure, Timeout};
use crate::errors;
use crate::fd::{self, as_uninit, Interest};

extern "C" {
    // Not in pyo3-ffi's public API; CPython's own recv() shrinks its result the same way.
    fn _PyBytes_Resize(bytes: *mut *mut ffi::PyObject, newsize: ffi::Py_ssize_t) -> c_int;
}

/// Flags Linux lets `socket()` take in its type argument; the stdlib strips them from `.type`.
const TYPE_FLAGS: c_int = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;

#[pyclass(
    frozen,
    subclass,
    weakref,
    module = "ferrosock._native",
    name = "socket"
)]
pub struct Socket {
    fd: AtomicI32,
    family: AtomicI32,
    kind: AtomicI32,
    proto: AtomicI32,
    timeout_ns: AtomicI64,
}

impl Drop for Socket {
    fn drop(&mut self) {
        let fd = *self.fd.get_mut();
        if fd >= 0 {
            let _ = fd::close(fd);
        }
    }
}

impl Socket {
    pub(crate) fn fd(&self) -> RawFd {
        self.fd.load(Ordering::Acquire)
    }

    fn family(&self) -> c_int {
        self.family.load(Ordering::Relaxed)
    }

    pub(crate) fn timeout(&self) -> Timeout {
        Timeout(self.timeout_ns.load(Ordering::Relaxed))
    }

    /// CPython's `internal_setblocking` (ioctl FIONBIO through socket2).
    fn set_fd_blocking(&self, blocking: bool) -> PyResult<()> {
        fd::borrow(self.fd())
            .and_then(|s| s.set_nonblocking(!blocking))
            .map_err(errors::from_io)
    }

    /// One blocking call with this socket's timeout.
    fn call<T: Send>(
        &self,
        py: Python<'_>,
        interest: Interest,
        op: impl FnMut(RawFd) -> std::io::Result<T> + Send,
    ) -> PyResult<T> {
        sock_call(py, self.fd(), self.timeout(), interest, false, op).map_err(PyErr::from)
    }

    fn adopt(&self, fd: RawFd, family: c_int, kind: c_int, proto: c_int) -> PyResult<()> {
        self.fd.store(fd, Ordering::Release);
        self.family.store(family, Ordering::Relaxed);
        self.kind.store(kind & !TYPE_FLAGS, Ordering::Relaxed);
        self.proto.store(proto, Ordering::Relaxed);
        if kind & libc::SOCK_NONBLOCK != 0 {
            self.timeout_ns.store(0, Ordering::Relaxed);
            return Ok(());
        }
        let default = timeout::default_timeout();
        self.timeout_ns.store(default.0, Ordering::Relaxed);
        if default.0 >= 0 {
            self.set_fd_blocking(false)?;
        }
        Ok(())
    }

    /// `sock_initobj`: create a socket, or adopt `fileno` (None: create) and read what it is.
    fn open(
        &self,
        py: Python<'_>,
        mut family: c_int,
        mut kind: c_int,
        mut proto: c_int,
        fileno: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let fileno = fileno.filter(|f| !f.is_none());
        let fd = match fileno {
            Some(obj) => {
                // CPython's PyLong_AsSocket_t: a C long cast to int, so 2**31 wraps negative
                // and 2**32 is descriptor 0, as there. 3.9 refuses a float first.
                args::reject_float_on_3_9(obj)?;
                let fd = args::c_long(obj)? as RawFd;
                if fd < 0 {
                    return Err(PyValueError::new_err("negative file descriptor"));
                }
                // Validates that fd is a socket, and reads what it is (CPython does the same).
                let sock = fd::borrow(fd).map_err(errors::from_io)?;
                match sock.local_addr() {
                    Ok(local) if family == -1 => family = c_int::from(local.family()),
                    Ok(_) => {}
                    Err(err)
                        if matches!(err.raw_os_error(), Some(libc::EBADF | libc::ENOTSOCK)) =>
                    {
                        return Err(errors::from_io(err))
                    }
                    Err(_) => {}
                }
                if kind == -1 {
                    kind = fd::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_TYPE)
                        .map_err(errors::from_io)?;
                }
                if proto == -1 {
                    proto = fd::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_PROTOCOL)
                        .map_err(errors::from_io)?;
                }
                fd
            }
            None => {
                if family == -1 {
                    family = libc::AF_INET;
                }
                if kind == -1 {
                    kind = libc::SOCK_STREAM;
                }
                if proto == -1 {
                    proto = 0;
                }
                let protocol = (proto != 0).then(|| Protocol::from(proto));
                // socket2 adds SOCK_CLOEXEC, as CPython does: sockets are not inheritable.
                py.detach(|| socket2::Socket::new(Domain::from(family), Type::from(kind), protocol))
                    .map_err(errors::from_io)?
                    .into_raw_fd()
            }
        };
        self.adopt(fd, family, kind, proto)
    }

    /// CPython's `internal_connect`: Ok(errno), where 0 means connected.
    fn connect_errno(&self, py: Python<'_>, target: &SockAddr) -> PyResult<i32> {
        let fd = self.fd();
        let first = py.detach(|| fd::borrow(fd).and_then(|s| s.connect(target)));
        let err = match first {
            Ok(()) => return Ok(0),
            Err(err) => err.raw_os_error().unwrap_or(libc::EIO),
        };
        let timeout = self.timeout();
        let wait = if err == libc::EINTR {
            py.check_signals()?;
            timeout.0 != 0
        } else {
            timeout.0 > 0 && err == libc::EINPROGRESS
        };
        if !wait {
            return Ok(err);
        }
        let outcome =
            sock_call(
                py,
                fd,
                timeout,
                Interest::Connect,
                true,
                |fd| match fd::getsockopt_int(fd, libc::SOL_SOCKET, libc::SO_ERROR)? {
                    0 | libc::EISCONN => Ok(()),
                    pending => Err(std::io::Error::from_raw_os_error(pending)),
                },
            );
        match outcome {
            Ok(()) => Ok(0),
            Err(Failure::Os(errno)) => Ok(errno),
            Err(Failure::TimedOut) => Ok(libc::EWOULDBLOCK),
            Err(Failure::Python(err)) => Err(err),
        }
    }

    /// CPython's `sock_recv_guts`: a zero-length read returns at once, without a system call.
    fn recv_guts(&self, py: Python<'_>, buf: &mut [u8], flags: c_int) -> PyResult<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.call(py, Interest::Read, |fd| {
            fd::borrow(fd)?.recv_with_flags(as_uninit(buf), flags)
        })
    }

    fn target(&self, address: &Bound<'_, PyAny>, caller: &str) -> PyResult<SockAddr> {
        addr::encode(&self.addr_owner(), address, caller)
    }

    /// What the address formats need to know about this socket.
    fn addr_owner(&self) -> addr::Owner {
        addr::Owner {
            fd: self.fd(),
            family: self.family(),
            proto: self.proto.load(Ordering::Relaxed),
        }
    }

    /// The owner for a call that receives an address, checked first as CPython does.
    fn receiving(&self) -> PyResult<addr::Owner> {
        let owner = self.addr_owner();
        owner.addrlen()?;
        Ok(owner)
    }
}

/// CPython's check: 0 to SOCKLEN_T_LIMIT (INT_MAX) bytes of control buffer.
fn msg_ancbufsize(size: isize) -> PyResult<usize> {
    match usize::try_from(size) {
        Ok(size) if size <= c_int::MAX as usize => Ok(size),
        _ => Err(PyValueError::new_err(
            "invalid ancillary data buffer length",
        )),
    }
}

fn readonly() -> PyErr {
    PyAttributeError::new_err("readonly attribute")
}

fn timeout_not_writable() -> PyErr {
    PyAttributeError::new_err("attribute 'timeout' of '_socket.socket' objects is not writable")
}

fn negative(what: &str) -> PyErr {
    PyValueError::new_err(format!("negative buffersize in {what}"))
}

/// A new bytes object of `len` bytes filled by `fill` (with the GIL released), shrunk to what
/// `fill` reports: CPython's recv() allocation pattern, without a copy.
pub(crate) fn bytes_filled_by<'py>(
    py: Python<'py>,
    len: isize,
    fill: impl FnOnce(&mut [u8]) -> PyResult<usize>,
) -> PyResult<Bound<'py, PyBytes>> {
    // SAFETY: a NULL source asks CPython for an uninitialised bytes object we fill in.
    let mut raw = unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), len) };
    if raw.is_null() {
        return Err(PyErr::fetch(py));
    }
    // SAFETY: raw is a fresh bytes object of `len` bytes that nobody else can see yet.
    let buf =
        unsafe { std::slice::from_raw_parts_mut(ffi::PyBytes_AsString(raw).cast(), len as usize) };
    let got = match fill(buf) {
        Ok(got) => got,
        Err(err) => {
            // SAFETY: we own the only reference.
            unsafe { ffi::Py_DECREF(raw) };
            return Err(err);
        }
    };
    if got as isize != len {
        // SAFETY: raw has refcount 1, as _PyBytes_Resize requires; on failure it frees it.
        if unsafe { _PyBytes_Resize(&mut raw, got as ffi::Py_ssize_t) } < 0 {
            return Err(PyErr::fetch(py));
        }
    }
    // SAFETY: raw is a valid owned bytes object.
    Ok(unsafe { Bound::from_owned_ptr(py, raw).cast_into_unchecked() })
}

#[pymethods]
impl Socket {
    /// Creates an unopened socket; `_init` opens or adopts the descriptor, as CPython splits
    /// `tp_new` and `tp_init` (so Python subclasses may have their own `__init__` signature).
    ///
    /// The base class itself (`ferrosock.SocketType`, the stdlib's `_socket.socket`) has no
    /// Python `__init__`, so constructing it directly opens the socket here, with the C
    /// signature `(family=-1, type=-1, proto=-1, fileno=None)`.
    #[new]
    #[classmethod]
    #[pyo3(signature = (*args, **kwargs))]
    fn new(
        cls: &Bound<'_, PyType>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let sock = Socket {
            fd: AtomicI32::new(-1),
            family: AtomicI32::new(libc::AF_INET),
            kind: AtomicI32::new(libc::SOCK_STREAM),
            proto: AtomicI32::new(0),
            timeout_ns: AtomicI64::new(-1),
        };
        let py = cls.py();
        if cls.is(py.get_type::<Socket>()) {
            let (mut family, mut kind, mut proto, mut fileno) = (-1, -1, -1, None);
            args::keywords(
                "socket",
                args,
                kwargs,
                &["family", "type", "proto", "fileno"],
                0,
                |i, value| {
                    match i {
                        0 => family = args::constructor_int(value)?,
                        1 => kind = args::constructor_int(value)?,
                        2 => proto = args::constructor_int(value)?,
                        _ => fileno = Some(value.clone()),
                    }
                    Ok(())
                },
            )?;
            sock.open(py, family, kind, proto, fileno.as_ref())?;
        }
        Ok(sock)
    }

    /// `_socket.socket.__init__`: create a socket, or adopt `fileno` and read what it is.
    ///
    /// The arguments are Argument Clinic `int`s, so None is a TypeError; `fileno` None means
    /// "create one".
    #[pyo3(signature = (family, r#type, proto, fileno))]
    fn _init(
        &self,
        py: Python<'_>,
        family: &Bound<'_, PyAny>,
        r#type: &Bound<'_, PyAny>,
        proto: &Bound<'_, PyAny>,
        fileno: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let family = args::constructor_int(family)?;
        let kind = args::constructor_int(r#type)?;
        let proto = args::constructor_int(proto)?;
        self.open(py, family, kind, proto, Some(fileno))
    }

    #[getter]
    fn get_family(&self) -> c_int {
        self.family()
    }

    #[getter(r#type)]
    fn get_type(&self) -> c_int {
        self.kind.load(Ordering::Relaxed)
    }

    #[getter]
    fn get_proto(&self) -> c_int {
        self.proto.load(Ordering::Relaxed)
    }

    #[getter(timeout)]
    fn get_timeout(&self, py: Python<'_>) -> Py<PyAny> {
        timeout::to_python(py, self.timeout())
    }

    // Read-only, with the stdlib's messages: `family`, `type` and `proto` are member
    // descriptors there, `timeout` a getset of `_socket.socket`.
    #[setter(timeout)]
    fn set_timeout(&self, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(timeout_not_writable())
    }

    #[deleter(timeout)]
    fn del_timeout(&self) -> PyResult<()> {
        Err(timeout_not_writable())
    }

    #[setter(family)]
    fn set_family(&self, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(readonly())
    }

    #[deleter(family)]
    fn del_family(&self) -> PyResult<()> {
        Err(readonly())
    }

    #[setter(r#type)]
    fn set_type(&self, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(readonly())
    }

    #[deleter(r#type)]
    fn del_type(&self) -> PyResult<()> {
        Err(readonly())
    }

    #[setter(proto)]
    fn set_proto(&self, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(readonly())
    }

    #[deleter(proto)]
    fn del_proto(&self) -> PyResult<()> {
        Err(readonly())
    }

    fn gettimeout(&self, py: Python<'_>) -> Py<PyAny> {
        timeout::to_python(py, self.timeout())
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn settimeout(
        &self,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let timeout = timeout::parse(&args::single("settimeout", args, kwargs)?)?;
        self.timeout_ns.store(timeout.0, Ordering::Relaxed);
        self.set_fd_blocking(timeout.0 < 0)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn setblocking(
        &self,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let blocking = args::blocking_flag(&args::single("setblocking", args, kwargs)?)?;
        let timeout = if blocking { -1 } else { 0 };
        self.timeout_ns.store(timeout, Ordering::Relaxed);
        self.set_fd_blocking(blocking)
    }

    fn getblocking(&self) -> bool {
        self.timeout().0 != 0
    }

    fn fileno(&self) -> RawFd {
        self.fd()
    }

    /// Closes the descriptor; closing twice is fine, and ECONNRESET is ignored as in CPython.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let fd = self.fd.swap(-1, Ordering::AcqRel);
        if fd >= 0 {
            match py.detach(|| fd::close(fd)) {
                Err(err) if err.raw_os_error() != Some(libc::ECONNRESET) => {
                    return Err(errors::from_io(err))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Gives the descriptor up without closing it.
    fn detach(&self) -> RawFd {
        self.fd.swap(-1, Ordering::AcqRel)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn bind(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let target = self.target(&args::single("bind", args, kwargs)?, "bind")?;
        let fd = self.fd();
        py.detach(|| fd::borrow(fd).and_then(|s| s.bind(&target)))
            .map_err(errors::from_io)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn listen(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let args = args::positional("listen", args, kwargs, 0, 1)?;
        let backlog = match args::opt(args, 0) {
            Some(b) => args::c_int(&b)?.max(0),
            None => libc::SOMAXCONN.min(128),
        };
        let fd = self.fd();
        py.detach(|| fd::borrow(fd).and_then(|s| s.listen(backlog)))
            .map_err(errors::from_io)
    }

    /// `(fd, address)` of a new connection; `socket.accept()` wraps the descriptor.
    fn _accept(&self, py: Python<'_>) -> PyResult<(RawFd, Py<PyAny>)> {
        let owner = self.receiving()?;
        let (sock, peer) = self.call(py, Interest::Read, |fd| addr::accept(fd, &owner))?;
        let peer = addr::decode(py, &owner, &peer)?;
        Ok((sock.into_raw_fd(), peer))
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn connect(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let target = self.target(&args::single("connect", args, kwargs)?, "connect")?;
        match self.connect_errno(py, &target)? {
            0 => Ok(()),
            libc::EWOULDBLOCK if self.timeout().0 > 0 => Err(errors::timed_out()),
            errno => Err(errors::os_error(errno)),
        }
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn connect_ex(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<i32> {
        let address = args::single("connect_ex", args, kwargs)?;
        let target = self.target(&address, "connect_ex")?;
        self.connect_errno(py, &target)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn recv<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let args = args::positional("recv", args, kwargs, 1, 2)?;
        let len = args::ssize(&args.get_item(0)?)?;
        let flags = args::flags(args::opt(args, 1).as_ref())?;
        if len < 0 {
            return Err(negative("recv"));
        }
        bytes_filled_by(py, len, |buf| self.recv_guts(py, buf, flags))
    }

    /// `recv_into(buffer, nbytes=0, flags=0)`, parsed as CPython's `"w*|ni:recv_into"`.
    #[pyo3(signature = (*args, **kwargs))]
    fn recv_into(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let (mut held, mut nbytes, mut flags) = (None, 0, 0);
        args::keywords(
            "recv_into",
            args,
            kwargs,
            &["buffer", "nbytes", "flags"],
            1,
            |i, value| {
                match i {
                    0 => held = Some(HeldBuffer::writable(value, "recv_into")?),
                    1 => nbytes = args::ssize(value)?,
                    _ => flags = args::c_int(value)?,
                }
                Ok(())
            },
        )?;
        let mut held = held.expect("buffer is required");
        if nbytes < 0 {
            return Err(negative("recv_into"));
        }
        let len = match nbytes as usize {
            0 => held.len(),
            n if n > held.len() => {
                return Err(PyValueError::new_err(
                    "buffer too small for requested bytes",
                ))
            }
            n => n,
        };
        self.recv_guts(py, &mut held.as_mut_slice()[..len], flags)
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn recvfrom<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<(Bound<'py, PyBytes>, Py<PyAny>)> {
        let args = args::positional("recvfrom", args, kwargs, 1, 2)?;
        let len = args::ssize(&args.get_item(0)?)?;
        let flags = args::flags(args::opt(args, 1).as_ref())?;
        if len < 0 {
            return Err(negative("recvfrom"));
        }
        let owner = self.receiving()?;
        let mut sender = None;
        let data = bytes_filled_by(py, len, |buf| {
            let (got, from) = self.call(py, Interest::Read, |fd| {
                fd::borrow(fd)?.recv_from_with_flags(as_uninit(buf), flags)
            })?;
            sender = Some(from);
            Ok(got)
        })?;
        let sender = addr::decode(py, &owner, &sender.expect("set on success"))?;
        Ok((data, sender))
    }

    /// `recvfrom_into(buffer, nbytes=0, flags=0)`, parsed as CPython's `"w*|ni:recvfrom_into"`.
    #[pyo3(signature = (*args, **kwargs))]
    fn recvfrom_into(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<(usize, Py<PyAny>)> {
        let (mut held, mut nbytes, mut flags) = (None, 0, 0);
        args::keywords(
            "recvfrom_into",
            args,
            kwargs,
            &["buffer", "nbytes", "flags"],
            1,
            |i, value| {
                match i {
                    0 => held = Some(HeldBuffer::writable(value, "recvfrom_into")?),
                    1 => nbytes = args::ssize(value)?,
                    _ => flags = args::c_int(value)?,
                }
                Ok(())
            },
        )?;
        let mut held = held.expect("buffer is required");
        if nbytes < 0 {
            return Err(negative("recvfrom_into"));
        }
        let len = match nbytes as usize {
            0 => held.len(),
            n if n > held.len() => {
                return Err(PyValueError::new_err(
                    "nbytes is greater than the length of the buffer",
                ))
            }
            n => n,
        };
        let owner = self.receiving()?;
        let buf = &mut held.as_mut_slice()[..len];
        let (got, from) = self.call(py, Interest::Read, |fd| {
            fd::borrow(fd)?.recv_from_with_flags(as_uninit(buf), flags)
        })?;
        Ok((got, addr::decode(py, &owner, &from)?))
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn send(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let args = args::positional("send", args, kwargs, 1, 2)?;
        let held = HeldBuffer::readable(&args.get_item(0)?)?;
        let flags = args::flags(args::opt(args, 1).as_ref())?;
        let buf = held.as_slice();
        self.call(py, Interest::Write, |fd| {
            fd::borrow(fd)?.send_with_flags(buf, flags)
        })
    }

    /// Sends everything, with one deadline for the whole call (as CPython since 3.5).
    #[pyo3(signature = (*args, **kwargs))]
    fn sendall(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let args = args::positional("sendall", args, kwargs, 1, 2)?;
        let held = HeldBuffer::readable(&args.get_item(0)?)?;
        let flags = args::flags(args::opt(args, 1).as_ref())?;
        let mut rest = held.as_slice();
        let timeout = self.timeout();
        // One deadline for the whole call; no clock reads at all without a timeout.
        let start = (timeout.0 > 0).then(Instant::now);
        let fd = self.fd();
        let mut first = true;
        loop {
            // As CPython: the first send gets the whole timeout, later ones what is left.
            let left = match start.and_then(|start| blocking::remaining(timeout, start)) {
                _ if first => timeout,
                Some(Timeout(0)) => return Err(errors::timed_out()),
                Some(left) => left,
                None => timeout,
            };
            first = false;
            let sent = sock_call(py, fd, left, Interest::Write, false, |fd| {
                fd::borrow(fd)?.send_with_flags(rest, flags)
            })?;
            rest = &rest[sent..];
            // A partial send may mean a signal arrived: run the handlers before going on.
            py.check_signals()?;
            if rest.is_empty() {
                return Ok(());
            }
        }
    }

    /// `sendto(data[, flags], address)`.
    #[pyo3(signature = (*args, **kwargs))]
    fn sendto(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        args::positional("sendto", args, kwargs, 0, usize::MAX)?;
        let (data, flags, address) = match args.len() {
            2 => (args.get_item(0)?, None, args.get_item(1)?),
            3 => (
                args.get_item(0)?,
                Some(args.get_item(1)?),
                args.get_item(2)?,
            ),
            n => {
                return Err(PyTypeError::new_err(format!(
                    "sendto() takes 2 or 3 arguments ({n} given)"
                )))
            }
        };
        let held = HeldBuffer::readable(&data)?;
        let flags = args::flags(flags.as_ref())?;
        let target = self.target(&address, "sendto")?;
        let buf = held.as_slice();
        self.call(py, Interest::Write, |fd| {
            fd::borrow(fd)?.send_to_with_flags(buf, &target, flags)
        })
    }

    #[pyo3(signature = (*args, **kwargs))]
    fn shutdown(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let how = args::clinic_int(&args::single("shutdown", args, kwargs)?)?;
        let fd = self.fd();
        py.detach(|| fd::shutdown(fd, how)).map_err(errors::from_io)
    }

    fn getsockname(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let owner = self.receiving()?;
        let fd = self.fd();
        let local = py
            .detach(|| fd::borrow(fd)?.local_addr())
            .map_err(errors::from_io)?;
        addr::decode(py, &owner, &local)
    }

    fn getpeername(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let owner = self.receiving()?;
        let fd = self.fd();
        let peer = py
            .detach(|| fd::borrow(fd)?.peer_addr())
            .map_err(errors::from_io)?;
        addr::decode(py, &owner, &peer)
    }

    /// `sendmsg(buffers[, ancdata[, flags[, address]]])`: scatter/gather send with
    /// ancillary data.
    #[pyo3(signature = (*args, **kwargs))]
    fn sendmsg(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<usize> {
        let args = args::positional("sendmsg", args, kwargs, 1, 4)?;
        // In CPython's order: "O|OiO" parses flags, then the address, buffers and ancdata.
        let flags = args::flags(args::opt(args, 2).as_ref())?;
        let address = args::opt(args, 3).filter(|a| !a.is_none());
        let target = address.map(|a| self.target(&a, "sendmsg")).transpose()?;
        let held = msg::send_buffers(&args.get_item(0)?)?;
        let ancillary = msg::Ancillary::parse(args::opt(args, 1).as_ref())?;
        let control = ancillary.encode()?;
        let buffers: Vec<&[u8]> = held.iter().map(|b| b.as_slice()).collect();
        self.call(py, Interest::Write, |fd| {
            msg::sendmsg(fd, &buffers, &control, flags, target.as_ref())
        })
    }

    /// `recvmsg(bufsize[, ancbufsize[, flags]])` -> `(data, ancdata, msg_flags, address)`.
    #[pyo3(signature = (*args, **kwargs))]
    fn recvmsg<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let args = args::positional("recvmsg", args, kwargs, 1, 3)?;
        let len = args::ssize(&args.get_item(0)?)?;
        let ancbufsize = args::opt(args, 1).map_or(Ok(0), |a| args::ssize(&a))?;
        let flags = args::flags(args::opt(args, 2).as_ref())?;
        if len < 0 {
            return Err(msg::negative_size("recvmsg"));
        }
        let mut received = None;
        let mut owner = None;
        // Allocated as CPython does (MemoryError, not an abort, for a size too large); then,
        // as in its sock_recvmsg_guts, the address family and ancbufsize are checked.
        let data = bytes_filled_by(py, len, |buf| {
            let receiver = self.receiving()?;
            let mut control = msg::control_buffer(msg_ancbufsize(ancbufsize)?)?;
            let got = self.call(py, Interest::Read, |fd| {
                msg::recvmsg(fd, &mut [&mut *buf], &mut control, flags)
            })?;
            let len = got.len;
            received = Some(got);
            owner = Some(receiver);
            Ok(len)
        })?;
        let received = received.expect("set on success");
        let owner = owner.expect("set on success");
        let ancdata = msg::decode_ancillary(py, &received.control)?;
        let address = addr::decode(py, &owner, &received.address)?;
        PyTuple::new(
            py,
            [
                data.into_any(),
                ancdata.into_any(),
                received.msg_flags.into_pyobject(py)?.into_any(),
                address.into_bound(py),
            ],
        )
    }

    /// `recvmsg_into(buffers[, ancbufsize[, flags]])` -> `(nbytes, ancdata, msg_flags, address)`.
    #[pyo3(signature = (*args, **kwargs))]
    fn recvmsg_into<'py>(
        &self,
        py: Python<'py>,
        args: &Bound<'py, PyTuple>,
        kwargs: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let args = args::positional("recvmsg_into", args, kwargs, 1, 3)?;
        let ancbufsize = args::opt(args, 1).map_or(Ok(0), |a| args::ssize(&a))?;
        let flags = args::flags(args::opt(args, 2).as_ref())?;
        let mut held = msg::recv_buffers(&args.get_item(0)?)?;
        let owner = self.receiving()?;
        let ancbufsize = msg_ancbufsize(ancbufsize)?;
        let mut control = msg::control_buffer(ancbufsize)?;
        let mut buffers: Vec<&mut [u8]> = held.iter_mut().map(|b| b.as_mut_slice()).collect();
        let received = self.call(py, Interest::Read, |fd| {
            msg::recvmsg(fd, &mut buffers, &mut control, flags)
        })?;
        let ancdata = msg::decode_ancillary(py, &received.control)?;
        let address = addr::decode(py, &owner, &received.address)?;
        PyTuple::new(
            py,
            [
                received.len.into_pyobject(py)?.into_any(),
                ancdata.into_any(),
                received.msg_flags.into_pyobject(py)?.into_any(),
                address.into_bound(py),
            ],
        )
    }

    /// `setsockopt(level, option, value: int | buffer)` or `(level, option, None, optlen)`,
    /// tried in that order as CPython does.
    #[pyo3(signature = (*args, **kwargs))]
    fn setsockopt(
        &self,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<()> {
        let fd = self.fd();
        let level_option = |args: &Bound<'_, PyTuple>| -> PyResult<(c_int, c_int)> {
            Ok((
                args::c_int(&args.get_item(0)?)?,
                args::c_int(&args.get_item(1)?)?,
            ))
        };
        if self.family() == libc::AF_VSOCK {
            // CPython's "iiK" and nothing else: VSOCK options are 64-bit, and only an int is
            // taken (no buffer, no `None, optlen` form).
            let args = args::positional("setsockopt", args, kwargs, 3, 3)?;
            let (level, option) = level_option(args)?;
            let flag = args::ulonglong_mask(&args.get_item(2)?, "setsockopt", 3)?;
            return fd::setsockopt(fd, level, option, Some(&flag.to_ne_bytes()), 8)
                .map_err(errors::from_io);
        }
        if kwargs.is_none_or(|kw| kw.is_empty()) && args.len() == 4 && args.get_item(2)?.is_none() {
            // Any failure here falls through to the "iiy*" parse, whose error CPython raises.
            if let (Ok((level, option)), Ok(optlen)) =
                (level_option(args), args::unsigned_int(&args.get_item(3)?))
            {
                return fd::setsockopt(fd, level, option, None, optlen).map_err(errors::from_io);
            }
        }
        let args = args::positional("setsockopt", args, kwargs, 3, 3)?;
        let (level, option) = level_option(args)?;
        let value = args.get_item(2)?;
        let result = match args::c_int(&value) {
            Ok(flag) => fd::setsockopt(fd, level, option, Some(&flag.to_ne_bytes()), 4),
            Err(_) => {
                let held = HeldBuffer::readable(&value)?;
                let bytes = held.as_slice();
                fd::setsockopt(fd, level, option, Some(bytes), bytes.len() as u32)
            }
        };
        result.map_err(errors::from_io)
    }

    /// `getsockopt(level, option)` gives an int; with `buflen`, the raw bytes.
    #[pyo3(signature = (*args, **kwargs))]
    fn getsockopt(
        &self,
        py: Python<'_>,
        args: &Bound<'_, PyTuple>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let args = args::positional("getsockopt", args, kwargs, 2, 3)?;
        let level = args::c_int(&args.get_item(0)?)?;
        let option = args::c_int(&args.get_item(1)?)?;
        let buflen = args::opt(args, 2).map_or(Ok(0), |b| args::c_int(&b))?;
        let fd = self.fd();
        if buflen == 0 {
            if self.family() == libc::AF_VSOCK {
                // VSOCK options are 64-bit unsigned (SO_VM_SOCKETS_BUFFER_SIZE...).
                let mut out = [0u8; 8];
                fd::getsockopt(fd, level, option, &mut out).map_err(errors::from_io)?;
                return u64::from_ne_bytes(out).into_py_any(py);
            }
            let value = fd::getsockopt_int(fd, level, option).map_err(errors::from_io)?;
            return value.into_py_any(py);
        }
        if !(1..=1024).contains(&buflen) {
            return Err(PyOSError::new_err("getsockopt buflen out of range"));
        }
        let mut out = vec![0u8; buflen as usize];
        let len = fd::getsockopt(fd, level, option, &mut out).map_err(errors::from_io)?;
        PyBytes::new(py, &out[..len]).into_py_any(py)
    }
}

/// `_socket.dup`: a non-inheritable duplicate of a descriptor.
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
pub fn dup(args: &Bound<'_, PyTuple>, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<RawFd> {
    let fd = args::single_of("_socket.dup", args, kwargs)?;
    let fd = RawFd::try_from(args::c_long(&fd)?).map_err(|_| errors::os_error(libc::EBADF))?;
    let copy = fd::borrow(fd)
        .and_then(|s| s.try_clone())
        .map_err(errors::from_io)?;
    Ok(copy.into_raw_fd())
}

/// Two connected descriptors (`socket.socketpair` wraps them); the arguments are parsed as
/// `_socket.socketpair`'s `"|iii"`.
#[pyfunction]
pub fn socketpair_fds(
    family: &Bound<'_, PyAny>,
    r#type: &Bound<'_, PyAny>,
    proto: &Bound<'_, PyAny>,
) -> PyResult<(RawFd, RawFd)> {
    let (family, r#type, proto) = (
        args::c_int(family)?,
        args::c_int(r#type)?,
        args::c_int(proto)?,
    );
    let protocol = (proto != 0).then(|| Protocol::from(proto));
    let (a, b) = socket2::Socket::pair(Domain::from(family), Type::from(r#type), protocol)
        .map_err(errors::from_io)?;
    Ok((a.into_raw_fd(), b.into_raw_fd()))
}

/// `METH_NOARGS` and `METH_O` as `_socket`'s, so wrong calls read the same.
#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
pub fn getdefaulttimeout(
    py: Python<'_>,
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<Py<PyAny>> {
    args::reject_keywords_of("_socket.getdefaulttimeout", kwargs)?;
    if !args.is_empty() {
        return Err(PyTypeError::new_err(format!(
            "_socket.getdefaulttimeout() takes no arguments ({} given)",
            args.len()
        )));
    }
    Ok(timeout::to_python(py, timeout::default_timeout()))
}

#[pyfunction]
#[pyo3(signature = (*args, **kwargs))]
pub fn setdefaulttimeout(
    args: &Bound<'_, PyTuple>,
    kwargs: Option<&Bound<'_, PyDict>>,
) -> PyResult<()> {
    let value = args::single_of("_socket.setdefaulttimeout", args, kwargs)?;
    timeout::set_default_timeout(timeout::parse(&value)?);
    Ok(())
}
