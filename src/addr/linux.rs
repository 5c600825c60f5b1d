//! The Python forms of Linux's other address families, parsed and built as CPython's
//! `getsockaddrarg` and `makesockaddr` do (argument formats, error wording and order).

use std::os::fd::RawFd;
use std::os::raw::c_int;

use pyo3::exceptions::{PyOSError, PyOverflowError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple};
use pyo3::IntoPyObjectExt;

use super::getargs::{self, Label};
use super::layout::{self, CanExtra, Packet};
use crate::args::type_name;
use crate::errors;

/// `"<prefix> address must be tuple, not <type>"` unless `obj` is a tuple.
fn must_be_tuple(obj: &Bound<'_, PyAny>, prefix: &str) -> PyResult<()> {
    if obj.is_instance_of::<PyTuple>() {
        return Ok(());
    }
    Err(PyTypeError::new_err(format!(
        "{prefix} address must be tuple, not {}",
        type_name(obj)
    )))
}

/// AF_NETLINK `(pid, groups)`.
pub fn netlink(obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<Vec<u8>> {
    must_be_tuple(obj, &format!("{caller}(): AF_NETLINK"))?;
    let items = getargs::parse(
        obj,
        2,
        2,
        Label::Message("AF_NETLINK address must be a pair (pid, groups)"),
    )?;
    let pid = items.req(0, getargs::uint)?;
    let groups = items.req(1, getargs::uint)?;
    Ok(layout::netlink(pid, groups))
}

/// AF_VSOCK `(cid, port)` and AF_QIPCRTR `(node, port)`: two `I`s named "getsockaddrarg".
fn two_uints(obj: &Bound<'_, PyAny>, family_name: &str) -> PyResult<(u32, u32)> {
    must_be_tuple(obj, &format!("getsockaddrarg: {family_name}"))?;
    let items = getargs::parse(obj, 2, 2, Label::Function("getsockaddrarg"))?;
    Ok((items.req(0, getargs::uint)?, items.req(1, getargs::uint)?))
}

pub fn vsock(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let (cid, port) = two_uints(obj, "AF_VSOCK")?;
    Ok(layout::vsock(cid, port))
}

pub fn qipcrtr(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    let (node, port) = two_uints(obj, "AF_QIPCRTR")?;
    Ok(layout::qipcrtr(node, port))
}

/// AF_PACKET `(ifname, proto[, pkttype[, hatype[, addr]]])`; the name is looked up on `fd`.
pub fn packet(fd: RawFd, obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<Vec<u8>> {
    let py = obj.py();
    must_be_tuple(obj, &format!("{caller}(): AF_PACKET"))?;
    let parse = || -> PyResult<_> {
        let items = getargs::parse(
            obj,
            2,
            5,
            Label::Message("AF_PACKET address must be a tuple of two to five elements"),
        )?;
        let name = items.req(0, getargs::utf8)?;
        let proto = items.req(1, getargs::int)?;
        let pkttype = items.get(2, getargs::int)?.unwrap_or(layout::PACKET_HOST);
        let hatype = items.get(3, getargs::int)?.unwrap_or(0);
        let haddr = items.get(4, getargs::buffer)?;
        Ok((name, proto, pkttype, hatype, haddr))
    };
    let (name, proto, pkttype, hatype, haddr) = parse().map_err(|err| {
        if err.is_instance_of::<PyOverflowError>(py) {
            PyOverflowError::new_err(format!("{caller}(): address argument out of range"))
        } else {
            err
        }
    })?;
    let ifindex = layout::if_index(fd, &layout::ifr_name(&name)).map_err(errors::from_io)?;
    if haddr
        .as_ref()
        .is_some_and(|a| a.len() > layout::LL_ADDR_MAX)
    {
        return Err(PyValueError::new_err(
            "Hardware address must be 8 bytes or less",
        ));
    }
    if !(0..=0xffff).contains(&proto) {
        return Err(PyOverflowError::new_err(format!(
            "{caller}(): proto must be 0-65535."
        )));
    }
    Ok(layout::packet(&Packet {
        ifindex,
        protocol: proto as u16,
        pkttype: pkttype as u8,
        hatype: hatype as u16,
        addr: haddr.unwrap_or_default(),
    }))
}

/// AF_TIPC `(addr_type, v1, v2, v3[, scope])`.
pub fn tipc(obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<Vec<u8>> {
    must_be_tuple(obj, &format!("{caller}(): AF_TIPC"))?;
    let items = getargs::parse(
        obj,
        4,
        5,
        Label::Message("AF_TIPC address must be a tuple (addr_type, v1, v2, v3[, scope])"),
    )?;
    let atype = items.req(0, getargs::uint)?;
    let v1 = items.req(1, getargs::uint)?;
    let v2 = items.req(2, getargs::uint)?;
    let v3 = items.req(3, getargs::uint)?;
    let scope = items
        .get(4, getargs::uint)?
        .unwrap_or(layout::TIPC_CLUSTER_SCOPE);
    layout::tipc(atype, v1, v2, v3, scope)
        .ok_or_else(|| PyTypeError::new_err("Invalid address type"))
}

/// The index of a CAN interface: 0 (any) for an empty name.
fn can_ifindex(fd: RawFd, name: &[u8]) -> PyResult<i32> {
    if name.is_empty() {
        Ok(0)
    } else if name.len() < layout::IFNAMSIZ {
        layout::if_index(fd, &layout::ifr_name(name)).map_err(errors::from_io)
    } else {
        Err(PyOSError::new_err("AF_CAN interface name too long"))
    }
}

/// AF_CAN by protocol: CAN_RAW/CAN_BCM `(ifname,)`, CAN_ISOTP `(ifname, rx_id, tx_id)`,
/// CAN_J1939 `(ifname, name, pgn, addr)`.
pub fn can(fd: RawFd, proto: c_int, obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<Vec<u8>> {
    match proto {
        layout::CAN_RAW | layout::CAN_BCM => {
            must_be_tuple(obj, &format!("{caller}(): AF_CAN"))?;
            let items = getargs::parse(
                obj,
                1,
                1,
                Label::Message("AF_CAN address must be a tuple (interface, )"),
            )?;
            let name = items.req(0, getargs::fs_path)?;
            Ok(layout::can(can_ifindex(fd, &name)?, CanExtra::None))
        }
        layout::CAN_ISOTP => {
            let items = getargs::parse(obj, 3, 3, Label::Anonymous)?;
            let name = items.req(0, getargs::fs_path)?;
            let rx_id = items.req(1, getargs::ulong)?;
            let tx_id = items.req(2, getargs::ulong)?;
            let extra = CanExtra::Isotp {
                rx_id: rx_id as u32,
                tx_id: tx_id as u32,
            };
            Ok(layout::can(can_ifindex(fd, &name)?, extra))
        }
        layout::CAN_J1939 => {
            let items = getargs::parse(obj, 4, 4, Label::Anonymous)?;
            let name = items.req(0, getargs::fs_path)?;
            let j1939_name = items.req(1, getargs::ulonglong)?;
            let pgn = items.req(2, getargs::uint)?;
            let addr = items.req(3, getargs::uchar)?;
            let extra = CanExtra::J1939 {
                name: j1939_name,
                pgn,
                addr,
            };
            Ok(layout::can(can_ifindex(fd, &name)?, extra))
        }
        _ => Err(PyOSError::new_err(format!(
            "{caller}(): unsupported CAN protocol"
        ))),
    }
}

/// AF_ALG `(type, name[, feat[, mask]])`.
pub fn alg(obj: &Bound<'_, PyAny>, caller: &str) -> PyResult<Vec<u8>> {
    must_be_tuple(obj, &format!("{caller}(): AF_ALG"))?;
    let items = getargs::parse(
        obj,
        2,
        4,
        Label::Message("AF_ALG address must be a tuple (type, name[, feat[, mask]])"),
    )?;
    let kind = items.req(0, getargs::utf8)?;
    let name = items.req(1, getargs::utf8)?;
    // CPython reads "H" into the 32-bit fields: only the low 16 bits can be set.
    let feat = items.get(2, getargs::ushort)?.unwrap_or(0);
    let mask = items.get(3, getargs::ushort)?.unwrap_or(0);
    if kind.len() >= layout::ALG_TYPE_SIZE {
        return Err(PyValueError::new_err("AF_ALG type too long."));
    }
    if name.len() >= layout::ALG_NAME_SIZE {
        return Err(PyValueError::new_err("AF_ALG name too long."));
    }
    Ok(layout::alg(&kind, &name, feat.into(), mask.into()))
}

// ------------------------------------------------------------------------- C to Python

/// A str from UTF-8 bytes, strictly (Py_BuildValue's `s#`).
fn utf8_str(py: Python<'_>, bytes: &[u8]) -> PyResult<Py<PyAny>> {
    // SAFETY: bytes is valid for its length; the result is a new reference or NULL.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_FromStringAndSize(bytes.as_ptr().cast(), bytes.len() as isize),
        )
    }
    .map(Bound::unbind)
}

/// A str from file-system-encoded bytes (`PyUnicode_DecodeFSDefault`).
fn fs_str(py: Python<'_>, bytes: &[u8]) -> PyResult<Py<PyAny>> {
    // SAFETY: bytes is valid for its length; the result is a new reference or NULL.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeFSDefaultAndSize(bytes.as_ptr().cast(), bytes.len() as isize),
        )
    }
    .map(Bound::unbind)
}

/// The interface name for an index, "" when there is none (as CPython does).
fn ifname_of(fd: RawFd, index: i32) -> Vec<u8> {
    if index == 0 {
        return Vec::new();
    }
    layout::if_name(fd, index).unwrap_or_default()
}

pub fn read_netlink(py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
    layout::read_netlink(raw).into_py_any(py)
}

pub fn read_vsock(py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
    layout::read_vsock(raw).into_py_any(py)
}

pub fn read_qipcrtr(py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
    layout::read_qipcrtr(raw).into_py_any(py)
}

/// `(ifname, proto, pkttype, hatype, addr)`.
pub fn read_packet(py: Python<'_>, fd: RawFd, raw: &[u8]) -> PyResult<Py<PyAny>> {
    let p = layout::read_packet(raw);
    let name = utf8_str(py, &ifname_of(fd, p.ifindex))?;
    (
        name,
        p.protocol,
        p.pkttype,
        p.hatype,
        PyBytes::new(py, &p.addr),
    )
        .into_py_any(py)
}

pub fn read_tipc(py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
    let [a, b, c, d, e] =
        layout::read_tipc(raw).ok_or_else(|| PyValueError::new_err("Invalid address type"))?;
    (a, b, c, d, e).into_py_any(py)
}

pub fn read_can(py: Python<'_>, fd: RawFd, proto: c_int, raw: &[u8]) -> PyResult<Py<PyAny>> {
    let (ifindex, extra) = layout::read_can(raw, proto);
    let name = fs_str(py, &ifname_of(fd, ifindex))?;
    match extra {
        CanExtra::None => (name,).into_py_any(py),
        CanExtra::Isotp { rx_id, tx_id } => (name, rx_id, tx_id).into_py_any(py),
        CanExtra::J1939 { name: n, pgn, addr } => (name, n, pgn, addr).into_py_any(py),
    }
}

/// `(type, name, feat, mask)`.
pub fn read_alg(py: Python<'_>, raw: &[u8]) -> PyResult<Py<PyAny>> {
    let (kind, name, feat, mask) = layout::read_alg(raw);
    (utf8_str(py, kind)?, utf8_str(py, name)?, feat, mask).into_py_any(py)
}
