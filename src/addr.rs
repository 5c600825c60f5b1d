//! Socket addresses between Python's tuple/str/bytes forms and `socket2::SockAddr`,
//! following CPython's `getsockaddrarg` (Python to C) and `makesockaddr` (C to Python).

mod getargs;
mod layout;
mod linux;

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{FromRawFd, RawFd};
use std::os::raw::c_int;

use pyo3::exceptions::{PyOSError, PyOverflowError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyString, PyTuple};
use pyo3::IntoPyObjectExt;
use socket2::{SockAddr, SockAddrStorage};

use crate::args::{self, type_name};
use crate::errors;

extern "C" {
    // glibc's numeric address conversions (not bound by the libc crate).
    fn inet_pton(af: c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> c_int;
    fn inet_ntop(
        af: c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

/// Where `sun_path` starts inside `sockaddr_un`, and its size.
const SUN_PATH_OFFSET: usize = std::mem::offset_of!(libc::sockaddr_un, sun_path);
const SUN_PATH_LEN: usize = 108;

/// A host name as the C layer sees it: bytes with no interior NUL (CPython's `idna_converter`).
fn host_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let bytes = if let Ok(b) = obj.cast::<PyBytes>() {
        b.as_bytes().to_vec()
    } else if let Ok(b) = obj.cast::<PyByteArray>() {
        b.to_vec()
    } else if let Ok(s) = obj.cast::<PyString>() {
        // CPython passes a plain ASCII str through and runs everything else (a str
        // subclass, non-ASCII text, lone surrogates) through the idna codec.
        match s.to_str() {
            Ok(text) if s.is_exact_instance_of::<PyString>() && text.is_ascii() => {
                text.as_bytes().to_vec()
            }
            _ => idna_encode(s)?,
        }
    } else {
        return Err(PyTypeError::new_err(format!(
            "str, bytes or bytearray expected, not {}",
            type_name(obj)
        )));
    };
    if bytes.contains(&0) {
        return Err(PyTypeError::new_err(
            "host name must not contain null character",
        ));
    }
    Ok(bytes)
}

/// `PyUnicode_AsEncodedString(s, "idna", NULL)`; any failure reads as CPython words it.
fn idna_encode(s: &Bound<'_, PyString>) -> PyResult<Vec<u8>> {
    let failed = || PyTypeError::new_err("encoding of hostname failed");
    // SAFETY: s is a str and the GIL is held; the result is a new reference or NULL.
    let encoded = unsafe {
        Bound::from_owned_ptr_or_err(
            s.py(),
            ffi::PyUnicode_AsEncodedString(s.as_ptr(), c"idna".as_ptr(), std::ptr::null()),
        )
    }
    .map_err(|_| failed())?;
    Ok(encoded
        .cast::<PyBytes>()
        .map_err(|_| failed())?
        .as_bytes()
        .to_vec())
}

fn family_mismatch() -> PyErr {
    PyOSError::new_err("address family mismatched")
}

/// What a host name stands for, as CPython's `setipaddr` resolves it.
enum Resolved {
    V4(Ipv4Addr),
    V6(Ipv6Addr),
}

fn resolve(py: Python<'_>, host: &[u8], family: c_int) -> PyResult<Resolved> {
    if host.is_empty() {
        // The wildcard: what getaddrinfo(NULL, "0", AI_PASSIVE) gives for the family.
        return match family {
            libc::AF_INET6 => Ok(Resolved::V6(Ipv6Addr::UNSPECIFIED)),
            _ => Ok(Resolved::V4(Ipv4Addr::UNSPECIFIED)),
        };
    }
    if host == b"<broadcast>" || host == b"255.255.255.255" {
        return match family {
            libc::AF_INET => Ok(Resolved::V4(Ipv4Addr::BROADCAST)),
            _ => Err(family_mismatch()),
        };
    }
    let c_host = CString::new(host).expect("host has no NUL (checked by host_bytes)");
    if family == libc::AF_INET {
        if let Some(ip) = pton_v4(&c_host) {
            return Ok(Resolved::V4(ip));
        }
    }
    // A scope ("fe80::1%eth0") needs getaddrinfo to turn the interface name into an index.
    if family == libc::AF_INET6 && !host.contains(&b'%') {
        if let Some(ip) = pton_v6(&c_host) {
            return Ok(Resolved::V6(ip));
        }
    }
    match py.detach(|| getaddrinfo_first(&c_host, family)) {
        Ok(Some(resolved)) => Ok(resolved),
        Ok(None) => Err(family_mismatch()),
        Err(code) => Err(errors::gai_error(code)),
    }
}

fn pton_v4(host: &CStr) -> Option<Ipv4Addr> {
    let mut out = MaybeUninit::<libc::in_addr>::uninit();
    // SAFETY: host is NUL-terminated; out has room for an in_addr.
    let rc = unsafe { inet_pton(libc::AF_INET, host.as_ptr(), out.as_mut_ptr().cast()) };
    // SAFETY: inet_pton filled out when it returned 1.
    (rc == 1).then(|| Ipv4Addr::from(u32::from_be(unsafe { out.assume_init() }.s_addr)))
}

fn pton_v6(host: &CStr) -> Option<Ipv6Addr> {
    let mut out = MaybeUninit::<libc::in6_addr>::uninit();
    // SAFETY: host is NUL-terminated; out has room for an in6_addr.
    let rc = unsafe { inet_pton(libc::AF_INET6, host.as_ptr(), out.as_mut_ptr().cast()) };
    // SAFETY: inet_pton filled out when it returned 1.
    (rc == 1).then(|| Ipv6Addr::from(unsafe { out.assume_init() }.s6_addr))
}

/// The first address getaddrinfo gives for `host` in `family` (None: another family);
/// Err is the EAI_* code.
fn getaddrinfo_first(host: &CStr, family: c_int) -> Result<Option<Resolved>, c_int> {
    // SAFETY: a zeroed addrinfo is a valid "no hints" value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated host, valid hints, res receives a list we free below.
    let code = unsafe { libc::getaddrinfo(host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if code != 0 {
        return Err(code);
    }
    // SAFETY: getaddrinfo succeeded, so res is a non-empty list of valid entries, and
    // ai_addr points to an address of the family ai_family says.
    let first = unsafe { &*res };
    let resolved = match first.ai_family {
        libc::AF_INET => {
            let sin = unsafe { &*(first.ai_addr as *const libc::sockaddr_in) };
            Some(Resolved::V4(Ipv4Addr::from(u32::from_be(
                sin.sin_addr.s_addr,
            ))))
        }
        libc::AF_INET6 => {
            let sin6 = unsafe { &*(first.ai_addr as *const libc::sockaddr_in6) };
            Some(Resolved::V6(Ipv6Addr::from(sin6.sin6_addr.s6_addr)))
        }
        _ => None,
    };
    // SAFETY: res came from getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(resolved)
}

fn port_range_error(caller: &str) -> PyErr {
    PyOverflowError::new_err(format!("{caller}(): port must be 0-65535."))
}

/// The tuple an internet address must be.
fn address_tuple<'py>(
    obj: &Bound<'py, PyAny>,
    caller: &str,
    family_name: &str,
) -> PyResult<Bound<'py, PyTuple>> {
    obj.cast::<PyTuple>().cloned().map_err(|_| {
        PyTypeError::new_err(format!(
            "{caller}(): {family_name} address must be tuple, not {}",
            type_name(obj)
        ))
    })
}

/// The port item as CPython's `i` format reads it: an overflow reads as the range error,
/// which is otherwise checked only after the host resolved (CPython's order).
fn port_arg(item: &Bound<'_, PyAny>, caller: &str) -> PyResult<c_int> {
    args::c_int(item).map_err(|err| {
        if err.is_instance_of::<PyOverflowError>(item.py()) {
            port_range_error(caller)
        } else {
            err
        }
    })
}

fn checked_port(port: c_int, caller: &str) -> PyResult<u16> {
    u16::try_from(port).map_err(|_| port_range_error(caller))
}

/// The socket an address belongs to, as far as the address formats care: its family and
/// protocol pick the format, and AF_PACKET/AF_CAN look interface names up on its descriptor.
#[derive(Clone, Copy, Debug)]
pub struct Owner {
    pub fd: RawFd,
    pub family: c_int,
    pub proto: c_int,
}

impl Owner {
    /// CPython's `getsockaddrlen`, which every call that receives an address runs before the
    /// system call: the size the address is read into, or an error for an unknown family.
    pub fn addrlen(&self) -> PyResult<usize> {
        sockaddr_len(self.family).ok_or_else(|| PyOSError::new_err("getsockaddrlen: bad family"))
    }
}

/// `sizeof` the address struct of `family`, for the families CPython knows on Linux.
pub fn sockaddr_len(family: c_int) -> Option<usize> {
    Some(match family {
        libc::AF_UNIX => size_of::<libc::sockaddr_un>(),
        libc::AF_INET | layout::AF_RDS => size_of::<libc::sockaddr_in>(),
        libc::AF_INET6 => size_of::<libc::sockaddr_in6>(),
        layout::AF_NETLINK => layout::NL_LEN,
        layout::AF_PACKET => layout::LL_LEN,
        layout::AF_VSOCK => layout::VM_LEN,
        layout::AF_CAN => layout::CAN_LEN,
        layout::AF_TIPC => layout::TIPC_LEN,
        layout::AF_ALG => layout::ALG_LEN,
        layout::AF_QIPCRTR => layout::QRTR_LEN,
        _ => return None,
    })
}

/// A SockAddr holding `bytes` (an address struct, family first).
fn sockaddr_from_bytes(bytes: &[u8]) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_storage is the storage's own type.
    let raw = unsafe { storage.view_as::<libc::sockaddr_storage>() };
    let len = bytes.len().min(size_of::<libc::sockaddr_storage>());
    // SAFETY: raw is a sockaddr_storage, at least `len` writable bytes.
    unsafe {
        std::ptr::copy_nonoverlapping(
            bytes.as_ptr(),
            (raw as *mut libc::sockaddr_storage).cast(),
            len,
        )
    };
    // SAFETY: the storage is initialised (zeroed, then filled) up to len bytes.
    unsafe { SockAddr::new(storage, len as libc::socklen_t) }
}

/// All the bytes of an address's storage.
fn storage_bytes(addr: &SockAddr) -> &[u8] {
    // SAFETY: a SockAddr owns a whole sockaddr_storage.
    unsafe {
        std::slice::from_raw_parts(
            addr.as_ptr().cast::<u8>(),
            size_of::<libc::sockaddr_storage>(),
        )
    }
}

/// `addr` as CPython would have received it into a buffer of `limit` bytes: what lies past
/// the buffer is not there (zeroed), while the length stays what the kernel reported.
fn truncated(addr: &SockAddr, limit: usize) -> SockAddr {
    let mut bytes = storage_bytes(addr).to_vec();
    let end = limit.min(bytes.len());
    bytes[end..].fill(0);
    let mut copy = sockaddr_from_bytes(&bytes);
    // SAFETY: the storage is fully initialised; the length is the kernel's, at most its size.
    unsafe { copy.set_length(addr.len().min(bytes.len() as libc::socklen_t)) };
    copy
}

/// A Python address object for an AF_INET, AF_INET6 or AF_UNIX socket.
pub fn to_sockaddr(family: c_int, obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<SockAddr> {
    let owner = Owner {
        fd: -1,
        family,
        proto: 0,
    };
    encode(&owner, obj, caller)
}

/// A Python address object for `owner`'s family, as `bind`, `connect`, `connect_ex`,
/// `sendto` or `sendmsg` (named by `caller` in error messages) take it: `getsockaddrarg`.
pub fn encode(owner: &Owner, obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<SockAddr> {
    let py = obj.py();
    let raw = match owner.family {
        // AF_RDS addresses are sockaddr_in, read as AF_INET ones (messages included).
        libc::AF_INET | layout::AF_RDS => {
            let tuple = address_tuple(obj, caller, "AF_INET")?;
            if tuple.len() != 2 {
                return Err(PyTypeError::new_err(
                    "AF_INET address must be a pair (host, port)",
                ));
            }
            let host = host_bytes(&tuple.get_item(0)?)?;
            let port = port_arg(&tuple.get_item(1)?, caller)?;
            let Resolved::V4(ip) = resolve(py, &host, libc::AF_INET)? else {
                return Err(family_mismatch());
            };
            return Ok(SockAddr::from(SocketAddrV4::new(
                ip,
                checked_port(port, caller)?,
            )));
        }
        libc::AF_INET6 => {
            let tuple = address_tuple(obj, caller, "AF_INET6")?;
            if !(2..=4).contains(&tuple.len()) {
                return Err(PyTypeError::new_err(
                    "AF_INET6 address must be a tuple (host, port[, flowinfo[, scopeid]])",
                ));
            }
            let host = host_bytes(&tuple.get_item(0)?)?;
            let port = port_arg(&tuple.get_item(1)?, caller)?;
            let flowinfo = match tuple.len() > 2 {
                true => args::unsigned_int(&tuple.get_item(2)?)?,
                false => 0,
            };
            let scope_id = match tuple.len() > 3 {
                true => args::unsigned_int(&tuple.get_item(3)?)?,
                false => 0,
            };
            let Resolved::V6(ip) = resolve(py, &host, libc::AF_INET6)? else {
                return Err(family_mismatch());
            };
            let port = checked_port(port, caller)?;
            if flowinfo > 0xfffff {
                return Err(PyOverflowError::new_err(format!(
                    "{caller}(): flowinfo must be 0-1048575."
                )));
            }
            return Ok(SockAddr::from(SocketAddrV6::new(
                ip, port, flowinfo, scope_id,
            )));
        }
        libc::AF_UNIX => return unix_sockaddr(obj),
        layout::AF_NETLINK => linux::netlink(obj, caller)?,
        layout::AF_PACKET => linux::packet(owner.fd, obj, caller)?,
        layout::AF_VSOCK => linux::vsock(obj)?,
        layout::AF_QIPCRTR => linux::qipcrtr(obj)?,
        layout::AF_TIPC => linux::tipc(obj, caller)?,
        layout::AF_CAN => linux::can(owner.fd, owner.proto, obj, caller)?,
        layout::AF_ALG => linux::alg(obj, caller)?,
        _ => return Err(PyOSError::new_err(format!("{caller}(): bad family"))),
    };
    Ok(sockaddr_from_bytes(&raw))
}

/// `accept` as CPython calls it: an AF_ALG socket gets no address buffer (the kernel would
/// fail with ECONNABORTED), and its peer then reads as None.
pub fn accept(fd: RawFd, owner: &Owner) -> std::io::Result<(socket2::Socket, SockAddr)> {
    if owner.family != layout::AF_ALG {
        return crate::fd::borrow(fd)?.accept();
    }
    crate::fd::borrow(fd)?;
    // SAFETY: no address buffer is passed; the new descriptor, if any, is ours.
    let new = unsafe {
        libc::accept4(
            fd,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            libc::SOCK_CLOEXEC,
        )
    };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: accept4 returned a fresh descriptor nobody else owns.
    let sock = unsafe { socket2::Socket::from_raw_fd(new) };
    Ok((sock, sockaddr_from_bytes(&[])))
}

/// An AF_UNIX address: a str (file-system encoded) or bytes-like path; a leading NUL
/// names Linux's abstract namespace and an empty path asks for autobind.
pub fn unix_sockaddr(obj: &Bound<'_, PyAny>) -> PyResult<SockAddr> {
    let path: Vec<u8> = if obj.is_instance_of::<PyString>() {
        // SAFETY: obj is a str; the result is a new reference (or NULL with an exception).
        let encoded = unsafe {
            Bound::from_owned_ptr_or_err(obj.py(), ffi::PyUnicode_EncodeFSDefault(obj.as_ptr()))
        }?;
        encoded.cast::<PyBytes>()?.as_bytes().to_vec()
    } else {
        args::HeldBuffer::readable(obj)?.as_slice().to_vec()
    };
    unix_sockaddr_from_bytes(&path).ok_or_else(|| PyOSError::new_err("AF_UNIX path too long"))
}

/// The sockaddr_un for a path, or None when it does not fit.
pub fn unix_sockaddr_from_bytes(path: &[u8]) -> Option<SockAddr> {
    let abstract_or_autobind = path.is_empty() || path[0] == 0;
    let too_long = match abstract_or_autobind {
        true => path.len() > SUN_PATH_LEN,
        false => path.len() >= SUN_PATH_LEN,
    };
    if too_long {
        return None;
    }
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_un is one of the platform's sockaddr types and fits in the storage.
    let sun = unsafe { storage.view_as::<libc::sockaddr_un>() };
    sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
    for (dst, src) in sun.sun_path.iter_mut().zip(path) {
        *dst = *src as libc::c_char;
    }
    // A file path is passed with its terminating NUL, as CPython does.
    let len = SUN_PATH_OFFSET + path.len() + usize::from(!abstract_or_autobind);
    // SAFETY: the storage is initialised (zeroed, then filled) up to len bytes.
    Some(unsafe { SockAddr::new(storage, len as libc::socklen_t) })
}

/// A C address as Python sees it, for callers with no Python socket (servers, aio).
pub fn from_sockaddr(py: Python<'_>, addr: &SockAddr) -> PyResult<Py<PyAny>> {
    let owner = Owner {
        fd: -1,
        family: c_int::from(addr.family()),
        proto: 0,
    };
    decode(py, &owner, addr)
}

/// An address `owner` received, as Python sees it (`makesockaddr`, which goes by the
/// family in the address): None when the kernel gave no address.
pub fn decode(py: Python<'_>, owner: &Owner, addr: &SockAddr) -> PyResult<Py<PyAny>> {
    if addr.len() == 0 {
        return Ok(py.None());
    }
    let clipped;
    let addr = match sockaddr_len(owner.family) {
        Some(limit) if (addr.len() as usize) > limit => {
            clipped = truncated(addr, limit);
            &clipped
        }
        _ => addr,
    };
    let raw = storage_bytes(addr);
    match c_int::from(addr.family()) {
        libc::AF_INET => {
            let v4 = addr.as_socket_ipv4().expect("AF_INET address");
            (v4.ip().to_string(), v4.port()).into_py_any(py)
        }
        libc::AF_INET6 => {
            let v6 = addr.as_socket_ipv6().expect("AF_INET6 address");
            (ntop_v6(v6.ip()), v6.port(), v6.flowinfo(), v6.scope_id()).into_py_any(py)
        }
        libc::AF_UNIX => {
            let (path, is_abstract) = unix_path(addr);
            if is_abstract {
                return PyBytes::new(py, path).into_py_any(py);
            }
            // Decoded in C, like CPython: this also works while the interpreter shuts down
            // (a finaliser's repr), when importing `os` no longer would.
            // SAFETY: path is valid for its length; the result is a new reference or NULL.
            let text = unsafe {
                Bound::from_owned_ptr_or_err(
                    py,
                    ffi::PyUnicode_DecodeFSDefaultAndSize(
                        path.as_ptr().cast(),
                        path.len() as isize,
                    ),
                )
            }?;
            Ok(text.unbind())
        }
        layout::AF_NETLINK => linux::read_netlink(py, raw),
        layout::AF_PACKET => linux::read_packet(py, owner.fd, raw),
        layout::AF_VSOCK => linux::read_vsock(py, raw),
        layout::AF_QIPCRTR => linux::read_qipcrtr(py, raw),
        layout::AF_TIPC => linux::read_tipc(py, raw),
        layout::AF_CAN => linux::read_can(py, owner.fd, owner.proto, raw),
        layout::AF_ALG => linux::read_alg(py, raw),
        family => {
            // Unknown families come back as (family, raw sa_data), as in CPython.
            // SAFETY: every sockaddr starts with the generic header.
            let raw = unsafe { &*(addr.as_ptr() as *const libc::sockaddr) };
            let data: Vec<u8> = raw.sa_data.iter().map(|&b| b as u8).collect();
            (family, PyBytes::new(py, &data)).into_py_any(py)
        }
    }
}

/// The path bytes of an AF_UNIX address, and whether it is in the abstract namespace.
pub fn unix_path(addr: &SockAddr) -> (&[u8], bool) {
    let len = (addr.len() as usize)
        .saturating_sub(SUN_PATH_OFFSET)
        .min(SUN_PATH_LEN);
    // SAFETY: the storage holds a sockaddr_un with at least `len` path bytes.
    let sun = unsafe { &*(addr.as_ptr() as *const libc::sockaddr_un) };
    let path = unsafe { std::slice::from_raw_parts(sun.sun_path.as_ptr() as *const u8, len) };
    if len > 0 && path[0] == 0 {
        (path, true)
    } else {
        let end = path.iter().position(|&b| b == 0).unwrap_or(len);
        (&path[..end], false)
    }
}

/// An IPv6 address as glibc's inet_ntop writes it (it embeds IPv4 where Rust would not).
pub fn ntop_v6(ip: &Ipv6Addr) -> String {
    let octets = ip.octets();
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: octets is a 16-byte in6_addr, buf is larger than INET6_ADDRSTRLEN.
    let out = unsafe {
        inet_ntop(
            libc::AF_INET6,
            octets.as_ptr().cast(),
            buf.as_mut_ptr(),
            buf.len() as libc::socklen_t,
        )
    };
    if out.is_null() {
        return ip.to_string();
    }
    // SAFETY: inet_ntop wrote a NUL-terminated string.
    unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_path_round_trips() {
        let addr = unix_sockaddr_from_bytes(b"/tmp/x.sock").unwrap();
        assert_eq!(addr.len() as usize, SUN_PATH_OFFSET + 11 + 1);
        assert_eq!(unix_path(&addr), (&b"/tmp/x.sock"[..], false));
    }

    #[test]
    fn abstract_unix_path_keeps_leading_nul() {
        let addr = unix_sockaddr_from_bytes(b"\0name").unwrap();
        assert_eq!(addr.len() as usize, SUN_PATH_OFFSET + 5);
        assert_eq!(unix_path(&addr), (&b"\0name"[..], true));
    }

    #[test]
    fn unix_path_length_limits_match_cpython() {
        assert!(unix_sockaddr_from_bytes(&[b'a'; 107]).is_some());
        assert!(unix_sockaddr_from_bytes(&[b'a'; 108]).is_none());
        let mut abstract_path = vec![0u8; 108];
        abstract_path[1] = b'x';
        assert!(unix_sockaddr_from_bytes(&abstract_path).is_some());
        assert!(unix_sockaddr_from_bytes(&[0u8; 109]).is_none());
    }

    #[test]
    fn empty_unix_path_is_autobind() {
        let addr = unix_sockaddr_from_bytes(b"").unwrap();
        assert_eq!(addr.len() as usize, SUN_PATH_OFFSET);
    }

    #[test]
    fn address_sizes_follow_getsockaddrlen() {
        assert_eq!(sockaddr_len(libc::AF_UNIX), Some(110));
        assert_eq!(sockaddr_len(libc::AF_INET), Some(16));
        assert_eq!(sockaddr_len(layout::AF_RDS), Some(16));
        assert_eq!(sockaddr_len(libc::AF_INET6), Some(28));
        assert_eq!(sockaddr_len(layout::AF_NETLINK), Some(12));
        assert_eq!(sockaddr_len(layout::AF_PACKET), Some(20));
        assert_eq!(sockaddr_len(layout::AF_VSOCK), Some(16));
        assert_eq!(sockaddr_len(layout::AF_CAN), Some(24));
        assert_eq!(sockaddr_len(layout::AF_TIPC), Some(16));
        assert_eq!(sockaddr_len(layout::AF_ALG), Some(88));
        assert_eq!(sockaddr_len(layout::AF_QIPCRTR), Some(12));
        assert_eq!(sockaddr_len(libc::AF_UNSPEC), None);
        assert_eq!(sockaddr_len(99), None);
        for family in [libc::AF_UNIX, libc::AF_INET6, layout::AF_ALG] {
            let len = sockaddr_len(family).unwrap();
            assert!(len <= size_of::<libc::sockaddr_storage>());
        }
    }

    #[test]
    fn raw_addresses_keep_their_bytes_and_length() {
        let addr = sockaddr_from_bytes(&layout::netlink(5, 6));
        assert_eq!(addr.len() as usize, layout::NL_LEN);
        assert_eq!(c_int::from(addr.family()), layout::AF_NETLINK);
        assert_eq!(layout::read_netlink(storage_bytes(&addr)), (5, 6));
        assert_eq!(sockaddr_from_bytes(&[]).len(), 0);
    }

    #[test]
    fn truncation_keeps_the_length_and_drops_what_did_not_fit() {
        let addr = unix_sockaddr_from_bytes(b"/tmp/abcdefghijklmnop").unwrap();
        let cut = truncated(&addr, 16);
        assert_eq!(cut.len(), addr.len());
        assert_eq!(unix_path(&cut), (&b"/tmp/abcdefghi"[..], false));
        assert_eq!(unix_path(&truncated(&addr, 200)), unix_path(&addr));
    }

    #[test]
    fn ipv6_text_matches_glibc() {
        assert_eq!(ntop_v6(&"::1".parse().unwrap()), "::1");
        assert_eq!(
            ntop_v6(&"::ffff:1.2.3.4".parse().unwrap()),
            "::ffff:1.2.3.4"
        );
        assert_eq!(ntop_v6(&"::102:304".parse().unwrap()), "::1.2.3.4");
    }

    #[test]
    fn numeric_hosts_parse_like_inet_pton() {
        let c = |s: &str| CString::new(s).unwrap();
        assert_eq!(pton_v4(&c("127.0.0.1")), Some(Ipv4Addr::LOCALHOST));
        assert_eq!(pton_v4(&c("localhost")), None);
        assert_eq!(pton_v6(&c("::1")), Some(Ipv6Addr::LOCALHOST));
        assert_eq!(pton_v6(&c("127.0.0.1")), None);
    }
}
