//! The byte layouts of Linux's socket addresses beyond INET/INET6/UNIX (`<linux/netlink.h>`,
//! `<linux/if_packet.h>`, `<linux/vm_sockets.h>`, `<linux/can.h>`, `<linux/tipc.h>`,
//! `<linux/if_alg.h>`, `<linux/qrtr.h>`), written and read field by field: no Python here.

use std::os::raw::c_int;

pub const AF_NETLINK: c_int = 16;
pub const AF_PACKET: c_int = 17;
pub const AF_RDS: c_int = 21;
pub const AF_CAN: c_int = 29;
pub const AF_TIPC: c_int = 30;
pub const AF_ALG: c_int = 38;
pub const AF_VSOCK: c_int = 40;
pub const AF_QIPCRTR: c_int = 42;

pub const CAN_RAW: c_int = 1;
pub const CAN_BCM: c_int = 2;
pub const CAN_ISOTP: c_int = 6;
pub const CAN_J1939: c_int = 7;

pub const TIPC_ADDR_NAMESEQ: u32 = 1;
pub const TIPC_ADDR_NAME: u32 = 2;
pub const TIPC_ADDR_ID: u32 = 3;
pub const TIPC_CLUSTER_SCOPE: u32 = 2;

/// `PACKET_HOST`, the default packet type of an AF_PACKET address.
pub const PACKET_HOST: c_int = 0;

/// `sizeof` of each address struct: what CPython's `getsockaddrlen` gives.
pub const NL_LEN: usize = 12;
pub const LL_LEN: usize = 20;
pub const VM_LEN: usize = 16;
pub const CAN_LEN: usize = 24;
pub const TIPC_LEN: usize = 16;
pub const ALG_LEN: usize = 88;
pub const QRTR_LEN: usize = 12;

/// `IFNAMSIZ`: interface names are at most 15 bytes and a NUL.
pub const IFNAMSIZ: usize = 16;
/// `sizeof(sll_addr)`.
pub const LL_ADDR_MAX: usize = 8;
pub const ALG_TYPE_SIZE: usize = 14;
pub const ALG_NAME_SIZE: usize = 64;

fn put16(buf: &mut [u8], at: usize, v: u16) {
    buf[at..at + 2].copy_from_slice(&v.to_ne_bytes());
}

fn put32(buf: &mut [u8], at: usize, v: u32) {
    buf[at..at + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put64(buf: &mut [u8], at: usize, v: u64) {
    buf[at..at + 8].copy_from_slice(&v.to_ne_bytes());
}

fn get16(buf: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes(buf[at..at + 2].try_into().expect("2 bytes"))
}

fn get32(buf: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes(buf[at..at + 4].try_into().expect("4 bytes"))
}

fn get64(buf: &[u8], at: usize) -> u64 {
    u64::from_ne_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// A zeroed address of `len` bytes with its family set.
fn header(family: c_int, len: usize) -> Vec<u8> {
    let mut buf = vec![0u8; len];
    put16(&mut buf, 0, family as u16);
    buf
}

/// `sockaddr_nl`: family, pad, pid, groups.
pub fn netlink(pid: u32, groups: u32) -> Vec<u8> {
    let mut buf = header(AF_NETLINK, NL_LEN);
    put32(&mut buf, 4, pid);
    put32(&mut buf, 8, groups);
    buf
}

pub fn read_netlink(buf: &[u8]) -> (u32, u32) {
    (get32(buf, 4), get32(buf, 8))
}

/// `sockaddr_qrtr`: family, node, port.
pub fn qipcrtr(node: u32, port: u32) -> Vec<u8> {
    let mut buf = header(AF_QIPCRTR, QRTR_LEN);
    put32(&mut buf, 4, node);
    put32(&mut buf, 8, port);
    buf
}

pub fn read_qipcrtr(buf: &[u8]) -> (u32, u32) {
    (get32(buf, 4), get32(buf, 8))
}

/// `sockaddr_vm`: family, reserved, port, cid, flags, zero.
pub fn vsock(cid: u32, port: u32) -> Vec<u8> {
    let mut buf = header(AF_VSOCK, VM_LEN);
    put32(&mut buf, 4, port);
    put32(&mut buf, 8, cid);
    buf
}

/// `(cid, port)`.
pub fn read_vsock(buf: &[u8]) -> (u32, u32) {
    (get32(buf, 8), get32(buf, 4))
}

/// The fields of a `sockaddr_ll` (protocol in host order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub ifindex: i32,
    pub protocol: u16,
    pub pkttype: u8,
    pub hatype: u16,
    pub addr: Vec<u8>,
}

/// `sockaddr_ll`: family, protocol (network order), ifindex, hatype, pkttype, halen, addr[8].
pub fn packet(p: &Packet) -> Vec<u8> {
    let mut buf = header(AF_PACKET, LL_LEN);
    put16(&mut buf, 2, p.protocol.to_be());
    put32(&mut buf, 4, p.ifindex as u32);
    put16(&mut buf, 8, p.hatype);
    buf[10] = p.pkttype;
    let addr = &p.addr[..p.addr.len().min(LL_ADDR_MAX)];
    buf[11] = addr.len() as u8;
    buf[12..12 + addr.len()].copy_from_slice(addr);
    buf
}

pub fn read_packet(buf: &[u8]) -> Packet {
    let halen = usize::from(buf[11]).min(LL_ADDR_MAX);
    Packet {
        ifindex: get32(buf, 4) as i32,
        protocol: u16::from_be(get16(buf, 2)),
        pkttype: buf[10],
        hatype: get16(buf, 8),
        addr: buf[12..12 + halen].to_vec(),
    }
}

/// `sockaddr_tipc` from CPython's `(addr_type, v1, v2, v3, scope)`; None for an unknown type.
pub fn tipc(atype: u32, v1: u32, v2: u32, v3: u32, scope: u32) -> Option<Vec<u8>> {
    let mut buf = header(AF_TIPC, TIPC_LEN);
    buf[2] = atype as u8;
    buf[3] = scope as u8;
    match atype {
        // tipc_name_seq {type, lower, upper}
        TIPC_ADDR_NAMESEQ => {
            put32(&mut buf, 4, v1);
            put32(&mut buf, 8, v2);
            put32(&mut buf, 12, v3);
        }
        // {tipc_name {type, instance}, domain}
        TIPC_ADDR_NAME => {
            put32(&mut buf, 4, v1);
            put32(&mut buf, 8, v2);
        }
        // tipc_portid {ref, node}: v1 is the node, v2 the ref
        TIPC_ADDR_ID => {
            put32(&mut buf, 4, v2);
            put32(&mut buf, 8, v1);
        }
        _ => return None,
    }
    Some(buf)
}

/// The 5-tuple CPython's `makesockaddr` gives; None for an unknown address type.
pub fn read_tipc(buf: &[u8]) -> Option<[u32; 5]> {
    let atype = u32::from(buf[2]);
    // The signed char scope goes through a C int to "I", as in CPython.
    let scope = buf[3] as i8 as i32 as u32;
    match atype {
        TIPC_ADDR_NAMESEQ => Some([atype, get32(buf, 4), get32(buf, 8), get32(buf, 12), scope]),
        TIPC_ADDR_NAME => Some([atype, get32(buf, 4), get32(buf, 8), get32(buf, 8), scope]),
        TIPC_ADDR_ID => Some([atype, get32(buf, 8), get32(buf, 4), 0, scope]),
        _ => None,
    }
}

/// What follows the interface index in a `sockaddr_can`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CanExtra {
    None,
    Isotp { rx_id: u32, tx_id: u32 },
    J1939 { name: u64, pgn: u32, addr: u8 },
}

/// `sockaddr_can`: family, ifindex, then the ISO-TP ids or the J1939 name, pgn and address.
pub fn can(ifindex: i32, extra: CanExtra) -> Vec<u8> {
    let mut buf = header(AF_CAN, CAN_LEN);
    put32(&mut buf, 4, ifindex as u32);
    match extra {
        CanExtra::None => {}
        CanExtra::Isotp { rx_id, tx_id } => {
            put32(&mut buf, 8, rx_id);
            put32(&mut buf, 12, tx_id);
        }
        CanExtra::J1939 { name, pgn, addr } => {
            put64(&mut buf, 8, name);
            put32(&mut buf, 16, pgn);
            buf[20] = addr;
        }
    }
    buf
}

/// The interface index and the fields `proto` gives meaning to.
pub fn read_can(buf: &[u8], proto: c_int) -> (i32, CanExtra) {
    let extra = match proto {
        CAN_ISOTP => CanExtra::Isotp {
            rx_id: get32(buf, 8),
            tx_id: get32(buf, 12),
        },
        CAN_J1939 => CanExtra::J1939 {
            name: get64(buf, 8),
            pgn: get32(buf, 16),
            addr: buf[20],
        },
        _ => CanExtra::None,
    };
    (get32(buf, 4) as i32, extra)
}

/// `sockaddr_alg`: family, type[14], feat, mask, name[64]. The caller checks the lengths
/// (each NUL-terminated inside its array).
pub fn alg(kind: &[u8], name: &[u8], feat: u32, mask: u32) -> Vec<u8> {
    assert!(kind.len() < ALG_TYPE_SIZE && name.len() < ALG_NAME_SIZE);
    let mut buf = header(AF_ALG, ALG_LEN);
    buf[2..2 + kind.len()].copy_from_slice(kind);
    put32(&mut buf, 16, feat);
    put32(&mut buf, 20, mask);
    buf[24..24 + name.len()].copy_from_slice(name);
    buf
}

fn until_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// `(type, name, feat, mask)`, the strings cut at their NUL (`strnlen`).
pub fn read_alg(buf: &[u8]) -> (&[u8], &[u8], u32, u32) {
    (
        until_nul(&buf[2..2 + ALG_TYPE_SIZE]),
        until_nul(&buf[24..24 + ALG_NAME_SIZE]),
        get32(buf, 16),
        get32(buf, 20),
    )
}

/// An interface name as CPython's `strncpy` into `ifr_name` leaves it: at most 15 bytes,
/// cut at a NUL.
pub fn ifr_name(name: &[u8]) -> [u8; IFNAMSIZ] {
    let mut out = [0u8; IFNAMSIZ];
    for (dst, &src) in out[..IFNAMSIZ - 1].iter_mut().zip(until_nul(name)) {
        *dst = src;
    }
    out
}

/// `struct ifreq` as the SIOCGIFINDEX / SIOCGIFNAME ioctls use it.
#[repr(C)]
struct IfReq {
    name: [u8; IFNAMSIZ],
    ifindex: c_int,
    _rest: [u8; 20],
}

/// SIOCGIFINDEX on `fd`: the index of interface `name` (already cut by `ifr_name`).
pub fn if_index(fd: c_int, name: &[u8; IFNAMSIZ]) -> std::io::Result<c_int> {
    let mut req = IfReq {
        name: *name,
        ifindex: 0,
        _rest: [0; 20],
    };
    // SAFETY: req is a valid, writable ifreq for the duration of the call.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFINDEX, &mut req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(req.ifindex)
}

/// SIOCGIFNAME on `fd`: the name of interface `index`, if there is one.
pub fn if_name(fd: c_int, index: c_int) -> Option<Vec<u8>> {
    let mut req = IfReq {
        name: [0; IFNAMSIZ],
        ifindex: index,
        _rest: [0; 20],
    };
    // SAFETY: req is a valid, writable ifreq for the duration of the call.
    if unsafe { libc::ioctl(fd, libc::SIOCGIFNAME, &mut req) } != 0 {
        return None;
    }
    Some(until_nul(&req.name).to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_sizes_match_the_kernel_headers() {
        assert_eq!(std::mem::size_of::<IfReq>(), 40);
        assert_eq!(
            std::mem::size_of::<IfReq>(),
            std::mem::size_of::<libc::ifreq>()
        );
        assert_eq!(LL_LEN, std::mem::size_of::<libc::sockaddr_ll>());
        assert_eq!(VM_LEN, std::mem::size_of::<libc::sockaddr_vm>());
        assert_eq!(ALG_LEN, std::mem::size_of::<libc::sockaddr_alg>());
    }

    /// A layout read back through the libc crate's struct, where it has one.
    fn as_struct<T>(buf: &[u8]) -> T {
        assert_eq!(buf.len(), std::mem::size_of::<T>());
        // SAFETY: buf holds exactly size_of::<T>() bytes of a plain-data C struct.
        unsafe { std::ptr::read_unaligned(buf.as_ptr().cast()) }
    }

    #[test]
    fn layouts_agree_with_libc_structs() {
        let ll: libc::sockaddr_ll = as_struct(&packet(&Packet {
            ifindex: 7,
            protocol: 0x0806,
            pkttype: 4,
            hatype: 1,
            addr: vec![1, 2, 3, 4, 5, 6],
        }));
        assert_eq!(c_int::from(ll.sll_family), AF_PACKET);
        assert_eq!(u16::from_be(ll.sll_protocol), 0x0806);
        assert_eq!(ll.sll_ifindex, 7);
        assert_eq!((ll.sll_hatype, ll.sll_pkttype, ll.sll_halen), (1, 4, 6));
        assert_eq!(&ll.sll_addr[..6], &[1, 2, 3, 4, 5, 6]);

        let vm: libc::sockaddr_vm = as_struct(&vsock(3, 1234));
        assert_eq!(c_int::from(vm.svm_family), AF_VSOCK);
        assert_eq!((vm.svm_cid, vm.svm_port), (3, 1234));

        let sa: libc::sockaddr_alg = as_struct(&alg(b"skcipher", b"cbc(aes)", 5, 6));
        assert_eq!(c_int::from(sa.salg_family), AF_ALG);
        assert_eq!(&sa.salg_type[..9], b"skcipher\0");
        assert_eq!(&sa.salg_name[..9], b"cbc(aes)\0");
        assert_eq!((sa.salg_feat, sa.salg_mask), (5, 6));
    }

    #[test]
    fn netlink_layout() {
        let buf = netlink(0x01020304, 5);
        assert_eq!(get16(&buf, 0), AF_NETLINK as u16);
        assert_eq!(read_netlink(&buf), (0x01020304, 5));
        assert_eq!(&buf[2..4], &[0, 0]);
    }

    #[test]
    fn vsock_and_qipcrtr_layouts() {
        let buf = vsock(3, 1234);
        assert_eq!(get16(&buf, 0), AF_VSOCK as u16);
        assert_eq!(get32(&buf, 4), 1234);
        assert_eq!(get32(&buf, 8), 3);
        assert_eq!(read_vsock(&buf), (3, 1234));
        let buf = qipcrtr(7, 8);
        assert_eq!(get16(&buf, 0), AF_QIPCRTR as u16);
        assert_eq!(read_qipcrtr(&buf), (7, 8));
    }

    #[test]
    fn packet_layout_and_round_trip() {
        let p = Packet {
            ifindex: 1,
            protocol: 0x88b5,
            pkttype: 3,
            hatype: 772,
            addr: vec![1, 2, 3],
        };
        let buf = packet(&p);
        assert_eq!(&buf[2..4], &[0x88, 0xb5]); // network order
        assert_eq!(buf[11], 3);
        assert_eq!(read_packet(&buf), p);
        let full = Packet {
            addr: vec![9; 8],
            ..p
        };
        assert_eq!(read_packet(&packet(&full)), full);
    }

    #[test]
    fn packet_halen_is_clamped_when_read() {
        let mut buf = packet(&Packet {
            ifindex: 0,
            protocol: 0,
            pkttype: 0,
            hatype: 0,
            addr: vec![],
        });
        buf[11] = 200;
        assert_eq!(read_packet(&buf).addr.len(), LL_ADDR_MAX);
    }

    #[test]
    fn tipc_round_trips_as_cpython_reports_it() {
        let seq = tipc(TIPC_ADDR_NAMESEQ, 1, 2, 3, 2).unwrap();
        assert_eq!(read_tipc(&seq), Some([1, 1, 2, 3, 2]));
        let name = tipc(TIPC_ADDR_NAME, 4, 5, 6, 3).unwrap();
        assert_eq!(read_tipc(&name), Some([2, 4, 5, 5, 3]));
        let id = tipc(TIPC_ADDR_ID, 7, 8, 9, 1).unwrap();
        assert_eq!(get32(&id, 4), 8); // ref first in tipc_portid
        assert_eq!(read_tipc(&id), Some([3, 7, 8, 0, 1]));
        assert_eq!(tipc(0, 1, 2, 3, 2), None);
        assert_eq!(tipc(TIPC_ADDR_ID + 256, 1, 2, 3, 2), None);
        let negative_scope = tipc(TIPC_ADDR_ID, 1, 2, 3, 0xff).unwrap();
        assert_eq!(read_tipc(&negative_scope).unwrap()[4], u32::MAX);
        let mut unknown = seq.clone();
        unknown[2] = 9;
        assert_eq!(read_tipc(&unknown), None);
    }

    #[test]
    fn can_layouts() {
        let raw = can(4, CanExtra::None);
        assert_eq!(raw.len(), CAN_LEN);
        assert_eq!(read_can(&raw, CAN_RAW), (4, CanExtra::None));
        let tp = CanExtra::Isotp {
            rx_id: 0x123,
            tx_id: 0x456,
        };
        assert_eq!(read_can(&can(2, tp), CAN_ISOTP), (2, tp));
        let j = CanExtra::J1939 {
            name: u64::MAX - 1,
            pgn: 0x12345,
            addr: 0x80,
        };
        let buf = can(3, j);
        assert_eq!(get64(&buf, 8), u64::MAX - 1);
        assert_eq!(get32(&buf, 16), 0x12345);
        assert_eq!(buf[20], 0x80);
        assert_eq!(read_can(&buf, CAN_J1939), (3, j));
    }

    #[test]
    fn alg_layout() {
        let buf = alg(b"hash", b"sha256", 1, 0xffff);
        assert_eq!(&buf[2..7], b"hash\0");
        assert_eq!(&buf[24..31], b"sha256\0");
        assert_eq!(read_alg(&buf), (&b"hash"[..], &b"sha256"[..], 1, 0xffff));
        let longest = alg(&[b't'; 13], &[b'n'; 63], 0, 0);
        assert_eq!(read_alg(&longest).0.len(), 13);
        assert_eq!(read_alg(&longest).1.len(), 63);
    }

    #[test]
    fn interface_names_are_cut_like_strncpy() {
        assert_eq!(&ifr_name(b"lo")[..3], b"lo\0");
        let long = ifr_name(&[b'x'; 40]);
        assert_eq!(&long[..15], &[b'x'; 15]);
        assert_eq!(long[15], 0);
        assert_eq!(&ifr_name(b"a\0b")[..2], b"a\0");
    }

    #[test]
    fn loopback_index_and_name_round_trip() {
        // SAFETY: a plain socket() call; the descriptor is closed below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0);
        let index = if_index(fd, &ifr_name(b"lo")).unwrap();
        assert!(index > 0);
        assert_eq!(if_name(fd, index).as_deref(), Some(&b"lo"[..]));
        assert_eq!(
            if_index(fd, &ifr_name(b"nonexistent-if"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ENODEV)
        );
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }
}
