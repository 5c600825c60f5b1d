//! ferrosock's native core: the drop-in socket, and the tokio servers and clients.

pub mod addr;
pub mod aio;
pub mod args;
pub mod bench;
pub mod blocking;
pub mod clients;
pub mod errors;
pub mod fd;
pub mod framing;
pub mod framing_io;
pub mod framing_py;
pub mod keepalive;
pub mod runtime;
pub mod servers;
pub mod socket;
pub mod strftime;
pub mod tls;

use pyo3::prelude::*;

/// The extension module `ferrosock._native`: one export list.
#[pymodule]
mod _native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::socket::{dup, getdefaulttimeout, setdefaulttimeout, socketpair_fds, Socket};

    #[pymodule_export]
    use crate::runtime::{
        _panic_probe, _runtime_panic_probe, runtime_configure, runtime_running, runtime_shutdown,
        runtime_workers,
    };

    #[pymodule_export]
    use crate::servers::{behaviour::strftime_py, Server};

    #[pymodule_export]
    use crate::clients::{echo, time_query, ChatClient, ChatError};

    #[pymodule_export]
    use crate::bench::binding::load_test;

    #[pymodule_export]
    use crate::keepalive::set_keepalive;

    #[pymodule_export]
    use crate::framing_io::{recv_exactly, recv_msg, send_msg, FrameReader};

    #[pymodule_export]
    use crate::tls::TlsChannel;

    #[pymodule_export]
    use crate::aio::stream::{accept_ready, StreamCore};

    #[pymodule_export]
    use crate::aio::clients::{aio_echo, aio_time_query, AsyncChatClient};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        super::constants::add(m)
    }
}

mod constants;
