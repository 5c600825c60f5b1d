//! ferrosock's native core: the drop-in socket class and what it needs.

pub mod addr;
pub mod args;
pub mod blocking;
pub mod errors;
pub mod fd;
pub mod socket;
pub mod strftime;

use pyo3::prelude::*;

/// The extension module `ferrosock._native`: one export list.
#[pymodule]
mod _native {
    use pyo3::prelude::*;

    #[pymodule_export]
    use crate::socket::{dup, getdefaulttimeout, setdefaulttimeout, socketpair_fds, Socket};

    #[pymodule_init]
    fn init(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        super::constants::add(m)
    }
}

mod constants;
