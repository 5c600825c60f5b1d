//! The platform's socket constants as the Rust side sees them (from libc). The Python package
//! re-exports the stdlib's enum members of the same names; a test checks both agree.

use pyo3::prelude::*;
use pyo3::types::PyDict;

macro_rules! constants {
    ($($name:ident),* $(,)?) => {
        &[$((stringify!($name), libc::$name as i64)),*]
    };
}

/// Name and value of each constant the native code relies on.
pub const CONSTANTS: &[(&str, i64)] = constants![
    AF_UNSPEC,
    AF_INET,
    AF_INET6,
    AF_UNIX,
    AF_PACKET,
    AF_NETLINK,
    SOCK_STREAM,
    SOCK_DGRAM,
    SOCK_RAW,
    SOCK_SEQPACKET,
    SOCK_RDM,
    SOCK_NONBLOCK,
    SOCK_CLOEXEC,
    SOL_SOCKET,
    SOMAXCONN,
    SO_REUSEADDR,
    SO_REUSEPORT,
    SO_KEEPALIVE,
    SO_BROADCAST,
    SO_RCVBUF,
    SO_SNDBUF,
    SO_ERROR,
    SO_TYPE,
    SO_PROTOCOL,
    SO_DOMAIN,
    SO_LINGER,
    SO_RCVTIMEO,
    SO_SNDTIMEO,
    SO_ACCEPTCONN,
    SO_OOBINLINE,
    SO_RCVLOWAT,
    SO_SNDLOWAT,
    SO_BINDTODEVICE,
    SO_PRIORITY,
    SO_MARK,
    IPPROTO_IP,
    IPPROTO_IPV6,
    IPPROTO_TCP,
    IPPROTO_UDP,
    IPPROTO_ICMP,
    IPPROTO_RAW,
    IPV6_V6ONLY,
    IP_TTL,
    IP_TOS,
    IP_MULTICAST_TTL,
    IP_MULTICAST_LOOP,
    TCP_NODELAY,
    TCP_MAXSEG,
    TCP_KEEPIDLE,
    TCP_KEEPINTVL,
    TCP_KEEPCNT,
    TCP_QUICKACK,
    TCP_USER_TIMEOUT,
    TCP_FASTOPEN,
    TCP_CONGESTION,
    SHUT_RD,
    SHUT_WR,
    SHUT_RDWR,
    MSG_PEEK,
    MSG_WAITALL,
    MSG_DONTWAIT,
    MSG_NOSIGNAL,
    MSG_TRUNC,
    MSG_OOB,
    MSG_DONTROUTE,
    MSG_CTRUNC,
    MSG_EOR,
    MSG_MORE,
    MSG_CMSG_CLOEXEC,
    MSG_ERRQUEUE,
    MSG_CONFIRM,
];

/// Adds `_native.constants`, a dict of name to value.
pub fn add(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let dict = PyDict::new(m.py());
    for (name, value) in CONSTANTS {
        dict.set_item(name, value)?;
    }
    m.add("constants", dict)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = CONSTANTS.iter().map(|(n, _)| n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CONSTANTS.len());
    }
}
