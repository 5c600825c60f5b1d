//! `sendmsg` / `recvmsg`: scatter/gather I/O with ancillary data (file descriptors over AF_UNIX,
//! packet info, ...), as CPython's `sock_sendmsg` and `sock_recvmsg_guts` do it.
//!
//! socket2's `MsgHdr` hides the raw `msg_flags` and the address length the kernel returns,
//! both of which Python's `recvmsg` reports, so these build the `msghdr` with libc directly.

use std::mem::size_of;
use std::os::fd::RawFd;
use std::os::raw::c_int;

use pyo3::exceptions::{PyMemoryError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PySequence};
use socket2::{SockAddr, SockAddrStorage};

use crate::args::{self, HeldBuffer};

/// `(level, type, data)` items of an ancillary data argument.
pub struct Ancillary<'py> {
    items: Vec<(c_int, c_int, HeldBuffer<'py>)>,
}

impl<'py> Ancillary<'py> {
    pub fn parse(obj: Option<&Bound<'py, PyAny>>) -> PyResult<Self> {
        let mut items = Vec::new();
        let Some(obj) = obj else {
            return Ok(Ancillary { items });
        };
        let iter = obj
            .try_iter()
            .map_err(|_| PyTypeError::new_err("sendmsg() argument 2 must be an iterable"))?;
        for item in iter {
            // CPython's "(iiy*)" format: any sequence of three but bytes.
            let item = item?;
            let prefix = "[sendmsg() ancillary data items]() argument must be";
            // SAFETY: PySequence_Check only reads the type's slots (it is what CPython asks).
            let is_sequence = unsafe { pyo3::ffi::PySequence_Check(item.as_ptr()) } == 1;
            if !is_sequence || item.is_instance_of::<PyBytes>() {
                return Err(PyTypeError::new_err(format!(
                    "{prefix} 3-item sequence, not {}",
                    args::arg_type_name(&item)
                )));
            }
            // SAFETY: checked just above, as PySequence_Check defines a sequence.
            let sequence = unsafe { item.cast_unchecked::<PySequence>() };
            let len = sequence.len()?;
            if len != 3 {
                return Err(PyTypeError::new_err(format!(
                    "{prefix} sequence of length 3, not {len}"
                )));
            }
            let level = args::c_int(&sequence.get_item(0)?)?;
            let kind = args::c_int(&sequence.get_item(1)?)?;
            let data = HeldBuffer::readable(&sequence.get_item(2)?)?;
            items.push((level, kind, data));
        }
        Ok(Ancillary { items })
    }

    /// The control buffer: each item in a `cmsghdr`, aligned as CMSG_SPACE requires.
    pub fn encode(&self) -> PyResult<Vec<u8>> {
        let mut space = 0usize;
        for (_, _, data) in &self.items {
            let len = u32::try_from(data.len())
                .map_err(|_| PyOSError::new_err("ancillary data item too large"))?;
            // SAFETY: CMSG_SPACE is pure arithmetic.
            space += unsafe { libc::CMSG_SPACE(len) } as usize;
            if space > c_int::MAX as usize {
                return Err(PyOSError::new_err("too much ancillary data"));
            }
        }
        // u64 words keep the buffer aligned for cmsghdr.
        let mut words = vec![0u64; space.div_ceil(8)];
        if space == 0 {
            return Ok(Vec::new());
        }
        // SAFETY: a msghdr pointing at our zeroed, aligned buffer of `space` bytes; the CMSG
        // macros walk it within those bounds, one header per item (space was sized for them).
        unsafe {
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_control = words.as_mut_ptr().cast();
            msg.msg_controllen = space;
            let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
            for (level, kind, data) in &self.items {
                let bytes = data.as_slice();
                (*cmsg).cmsg_level = *level;
                (*cmsg).cmsg_type = *kind;
                (*cmsg).cmsg_len = libc::CMSG_LEN(bytes.len() as u32) as usize;
                std::ptr::copy_nonoverlapping(bytes.as_ptr(), libc::CMSG_DATA(cmsg), bytes.len());
                cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
            }
            let bytes = std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), space);
            Ok(bytes.to_vec())
        }
    }
}

/// The data buffers of `sendmsg`.
pub fn send_buffers<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<HeldBuffer<'py>>> {
    let iter = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err("sendmsg() argument 1 must be an iterable"))?;
    iter.map(|item| HeldBuffer::readable(&item?)).collect()
}

/// The writable buffers of `recvmsg_into`.
pub fn recv_buffers<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Vec<HeldBuffer<'py>>> {
    let iter = obj
        .try_iter()
        .map_err(|_| PyTypeError::new_err("recvmsg_into() argument 1 must be an iterable"))?;
    iter.map(|item| {
        HeldBuffer::writable(&item?, "recvmsg_into").map_err(|_| {
            PyTypeError::new_err(
                "recvmsg_into() argument 1 must be an iterable of single-segment read-write buffers",
            )
        })
    })
    .collect()
}

/// One `sendmsg` system call.
pub fn sendmsg(
    fd: RawFd,
    buffers: &[&[u8]],
    control: &[u8],
    flags: c_int,
    address: Option<&SockAddr>,
) -> std::io::Result<usize> {
    crate::fd::borrow(fd)?;
    let mut iov: Vec<libc::iovec> = buffers
        .iter()
        .map(|b| libc::iovec {
            iov_base: b.as_ptr() as *mut _,
            iov_len: b.len(),
        })
        .collect();
    // SAFETY: every pointer in the msghdr refers to memory borrowed for this call.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        if let Some(addr) = address {
            msg.msg_name = addr.as_ptr() as *mut _;
            msg.msg_namelen = addr.len();
        }
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        if !control.is_empty() {
            msg.msg_control = control.as_ptr() as *mut _;
            msg.msg_controllen = control.len();
        }
        match libc::sendmsg(fd, &msg, flags) {
            -1 => Err(std::io::Error::last_os_error()),
            n => Ok(n as usize),
        }
    }
}

/// What one `recvmsg` call received besides the data.
pub struct Received {
    pub len: usize,
    pub control: Vec<u8>,
    pub msg_flags: c_int,
    pub address: SockAddr,
}

/// Room for `len` bytes of control data, aligned for `cmsghdr`.
pub struct ControlBuffer {
    words: Vec<u64>,
    len: usize,
}

/// A control buffer of `len` bytes (the caller chooses it): MemoryError if it cannot be had.
pub fn control_buffer(len: usize) -> PyResult<ControlBuffer> {
    let mut words = Vec::new();
    words
        .try_reserve_exact(len.div_ceil(8))
        .map_err(|_| PyMemoryError::new_err(()))?;
    // Left uninitialised, as CPython's PyMem_Malloc: the kernel writes what we read back.
    Ok(ControlBuffer { words, len })
}

/// One `recvmsg` system call into `buffers`, with `control` for the control data.
pub fn recvmsg(
    fd: RawFd,
    buffers: &mut [&mut [u8]],
    control: &mut ControlBuffer,
    flags: c_int,
) -> std::io::Result<Received> {
    crate::fd::borrow(fd)?;
    let ancbufsize = control.len;
    let mut iov: Vec<libc::iovec> = buffers
        .iter_mut()
        .map(|b| libc::iovec {
            iov_base: b.as_mut_ptr().cast(),
            iov_len: b.len(),
        })
        .collect();
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: every pointer in the msghdr refers to memory owned or borrowed for this call.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_name = (&mut storage as *mut SockAddrStorage).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        msg.msg_iov = iov.as_mut_ptr();
        msg.msg_iovlen = iov.len();
        if ancbufsize > 0 {
            msg.msg_control = control.words.spare_capacity_mut().as_mut_ptr().cast();
            msg.msg_controllen = ancbufsize;
        }
        let n = libc::recvmsg(fd, &mut msg, flags);
        if n == -1 {
            return Err(std::io::Error::last_os_error());
        }
        let control_len = msg.msg_controllen.min(ancbufsize);
        let control_bytes =
            std::slice::from_raw_parts(control.words.as_ptr().cast::<u8>(), control_len).to_vec();
        Ok(Received {
            len: n as usize,
            control: control_bytes,
            msg_flags: msg.msg_flags,
            address: SockAddr::new(storage, msg.msg_namelen),
        })
    }
}

/// The `(level, type, data)` list Python sees for a received control buffer.
pub fn decode_ancillary<'py>(py: Python<'py>, control: &[u8]) -> PyResult<Bound<'py, PyList>> {
    let list = PyList::empty(py);
    if control.is_empty() {
        return Ok(list);
    }
    let mut words = vec![0u64; control.len().div_ceil(8)];
    // SAFETY: copying into an aligned buffer at least as large as control.
    unsafe {
        std::ptr::copy_nonoverlapping(control.as_ptr(), words.as_mut_ptr().cast(), control.len())
    };
    // SAFETY: the CMSG macros walk the aligned copy within msg_controllen; each item's data is
    // clamped to what lies inside the buffer (a truncated last item, MSG_CTRUNC).
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_control = words.as_mut_ptr().cast();
        msg.msg_controllen = control.len();
        let base = words.as_ptr() as usize;
        let end = base + control.len();
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            let data = libc::CMSG_DATA(cmsg) as usize;
            if data > end {
                break;
            }
            let header_len = libc::CMSG_LEN(0) as usize;
            let claimed = (*cmsg).cmsg_len.saturating_sub(header_len);
            let available = end - data;
            let len = claimed.min(available);
            let bytes = std::slice::from_raw_parts(data as *const u8, len);
            list.append((
                (*cmsg).cmsg_level,
                (*cmsg).cmsg_type,
                PyBytes::new(py, bytes),
            ))?;
            if (*cmsg).cmsg_len < header_len {
                break;
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok(list)
}

pub fn negative_size(method: &str) -> PyErr {
    PyValueError::new_err(format!("negative buffer size in {method}()"))
}
