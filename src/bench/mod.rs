//! What serves the benchmarks (`python -m ferrosock.bench`), not the library: the native load
//! generator (`loadgen`, `round_trip`, `window`, `histogram`) and its Python face (`binding`:
//! `_native.load_test`).

pub mod binding;
pub mod histogram;
pub mod loadgen;
mod round_trip;
mod window;
