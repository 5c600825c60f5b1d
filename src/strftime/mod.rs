//! `time.strftime` compatible formatting, in Rust.
//!
//! [`strftime`] produces exactly the string that CPython 3.11 on Linux/glibc
//! returns from `time.strftime(fmt, time.localtime(t))` when `LC_TIME` is the
//! C locale (the default for a Python process: CPython only calls
//! `setlocale(LC_CTYPE, "")`, never `LC_TIME`).
//!
//! How CPython gets its answer, and so what this module mirrors:
//!
//! * CPython converts the format to a `wchar_t` string (one element per code
//!   point; an embedded NUL raises `ValueError: embedded null character`) and
//!   calls glibc's `wcsftime`. Every rule of glibc 2.36's
//!   `time/strftime_l.c` is reproduced below: the flags `_ - 0 ^ #`, decimal
//!   field widths (saturating at `INT_MAX`), the `E`/`O` modifiers (which in
//!   the C locale fall back to the plain directive, or to a literal copy for the
//!   combinations glibc rejects, such as `%OY`, `%Ed`, `%Ea`, `%OD`), the GNU
//!   directives (`%k %l %s %P %C %G %g %V %u`...),
//!   and the "bad format" rule: an unknown directive, or a `%` at the end of
//!   the format, is copied literally *from its `%` up to and including the
//!   offending character* -- and that copy is itself padded to the field width
//!   and upper-cased by `^` (`%5Q` -> `"  %5Q"`, `%^q` -> `"%^Q"`).
//! * CPython's buffer loop: it calls `wcsftime` with buffers of 1024, 2048,
//!   4096, ... wide characters and gives up -- returning `""`, not an error --
//!   once the buffer is at least 256 times the format length. So an output of
//!   `L` characters is returned iff `L < cap`, where `cap` is the smallest
//!   `1024 * 2^k >= 256 * len(fmt)`; otherwise the result is the empty string
//!   (`%1000000Y` -> `""`, `%1000Y` -> 996 zeros and the year). This also
//!   bounds the work: we count characters arithmetically and never materialise
//!   a huge padding.
//! * The reply must fit in one UDP datagram, so on top of CPython's behaviour
//!   [`strftime`] refuses (with [`StrftimeError::OutputTooLong`]) a result
//!   whose UTF-8 encoding exceeds [`MAX_DATAGRAM`] bytes (or the limit given to
//!   [`strftime_with_limit`]). The output buffer never grows beyond the limit.
//!
//! # Time zone: why libc and not `chrono::Local`
//!
//! [`local_at`] / [`local_now`] obtain the broken-down local time from glibc
//! itself (`tzset()` then `localtime_r()`), which is exactly what CPython's
//! `time.localtime` does. That is the only way to be byte-identical:
//!
//! * `%Z` needs the zone *abbreviation* (`tm_zone`: `CET`, `CEST`, `EDT`,
//!   `LMT`, `+03`, ...). chrono's `Local` only yields a `FixedOffset`; it has
//!   no abbreviation at all (its `%Z` prints `+01:00`).
//! * glibc's interpretation of `TZ` has many corner cases that another parser
//!   would have to copy one by one: unset TZ -> `/etc/localtime`; `TZ=""` or
//!   `TZ=":"` -> UTC named `UTC`; an unknown name such as `TZ=Foo/Bar` -> UTC
//!   named `Foo`; `GMT+3` -> POSIX sign convention, abbreviation `GMT`;
//!   `<+03>-3` quoted names; absolute paths; `:Europe/Berlin`; Julian-day
//!   rules (`J60/2`); negative DST (`Europe/Dublin` reports `tm_isdst=1` in
//!   winter); LMT offsets with seconds (Berlin before 1893: `+0053`); years
//!   far outside chrono's +-262143 range (glibc accepts any `int` year).
//! * `tm_isdst` matters for `%z` (empty when negative) and for `%s` (glibc
//!   computes `%s` as `mktime()` of the broken-down time, which uses `tm_isdst`
//!   to pick between the two readings of an ambiguous local time).
//!
//! chrono is still used where it is exact: the current time ([`local_now`]),
//! and conversions between a chrono `DateTime` and [`LocalTime`]
//! ([`LocalTime::from_chrono`], [`LocalTime::to_chrono`]). The formatting
//! itself is pure Rust working on the `struct tm` fields with glibc's own
//! integer arithmetic (C `int` wrap-around included), so it can never panic.
//! The single exception is upper/lower-casing of *non-ASCII* characters (only
//! reachable through `%^`/`%#` on an unknown directive or a zone name), which
//! asks glibc's `towupper_l`/`towlower_l` in the C.UTF-8 locale -- CPython's
//! `LC_CTYPE` -- because that is Unicode *simple* case mapping in glibc's
//! Unicode version (`%^ᾳ` -> `%^ᾼ`, `%^ß` unchanged), which Rust's `char`
//! methods don't offer; if that locale is missing, Rust's mapping is used.
//!
//! Thread-safety note: `tzset()` reads the `TZ` environment variable; as with
//! any libc function that reads the environment, don't modify the environment
//! from another thread at the same time.
//!
//! # Layout
//!
//! This file holds the entry points ([`strftime`], [`strftime_with_limit`]) and CPython's
//! buffer rule. Beside it: `error` (the one error type), `local_time` (the broken-down time
//! from glibc), `directive` (parsing one `%...`: flags, width, modifier), `directives` (the
//! format loop and each conversion), `padding` (glibc's field padding and case flags),
//! `output` (the bounded sink), `calendar` (ISO-week arithmetic), `names` (the C locale's
//! tables) and `case` (non-ASCII case mapping). Dependencies point one way: this file uses
//! them, they use only each other.

mod calendar;
mod case;
mod directive;
mod directives;
mod error;
mod local_time;
mod names;
mod output;
mod padding;
#[cfg(test)]
mod tests;

pub use error::StrftimeError;
pub use local_time::{local_at, local_at_with, local_now, local_now_for, LocalTime};
use output::{Full, Out};

/// Largest payload of a single UDP/IPv4 datagram (65,535 - 8 - 20).
pub const MAX_DATAGRAM: usize = 65_507;

/// `time.strftime(fmt, t)`, refusing results longer than [`MAX_DATAGRAM`]
/// bytes of UTF-8.
pub fn strftime(fmt: &str, t: &LocalTime) -> Result<String, StrftimeError> {
    strftime_with_limit(fmt, t, MAX_DATAGRAM)
}

/// `time.strftime(fmt, t)`, refusing results longer than `max_bytes` bytes of
/// UTF-8 (pass `usize::MAX` for CPython's own behaviour, whose results are
/// bounded anyway: fewer than `max(1024, 512 * len(fmt))` characters).
pub fn strftime_with_limit(
    fmt: &str,
    t: &LocalTime,
    max_bytes: usize,
) -> Result<String, StrftimeError> {
    if fmt.contains('\0') {
        return Err(StrftimeError::EmbeddedNul);
    }
    // At most one char per byte: reserved at once (`collect` would grow it step by step).
    let mut chars: Vec<char> = Vec::with_capacity(fmt.len());
    chars.extend(fmt.chars());
    let cap = python_buffer_cap(chars.len());
    // Room for the usual result at once (numbers and names are a few bytes per directive);
    // a longer one grows as it goes.
    let mut out = Out::new(
        cap,
        max_bytes,
        fmt.len().saturating_mul(4).saturating_add(32).min(4096),
    );
    match directives::format_into(&chars, t, &mut out) {
        Err(Full) => Ok(String::new()),
        Ok(()) if out.truncated => Err(StrftimeError::OutputTooLong { limit: max_bytes }),
        Ok(()) => Ok(out.buf),
    }
}

/// The size of CPython's last `wcsftime` buffer (in wide characters): the
/// first of 1024, 2048, 4096, ... that is `>= 256 * fmtlen`. A result of
/// `cap` characters or more does not fit, and CPython then returns `""`.
fn python_buffer_cap(fmtlen: usize) -> u64 {
    let want = (fmtlen as u64).saturating_mul(256);
    let mut i: u64 = 1024;
    while i < want {
        i = i.saturating_mul(2);
    }
    i
}
