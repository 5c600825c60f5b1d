//! Case mapping as glibc's `towupper_l`/`towlower_l` do it in CPython's
//! `LC_CTYPE` (C.UTF-8, which CPython selects or coerces to at start-up):
//! Unicode *simple* case mapping. It only matters for non-ASCII text after
//! `%^`/`%#` (an unknown directive copied literally, or a zone name).

use std::sync::OnceLock;

// glibc: wint_t is `unsigned int`.
extern "C" {
    fn towupper_l(wc: u32, loc: libc::locale_t) -> u32;
    fn towlower_l(wc: u32, loc: libc::locale_t) -> u32;
}

struct Loc(libc::locale_t);
// SAFETY: a locale_t from newlocale() is immutable and never freed here;
// glibc's *_l functions may use it from any thread.
unsafe impl Send for Loc {}
unsafe impl Sync for Loc {}

fn c_utf8() -> Option<&'static Loc> {
    static LOC: OnceLock<Option<Loc>> = OnceLock::new();
    LOC.get_or_init(|| {
        // SAFETY: valid NUL-terminated name, null base.
        let l = unsafe {
            libc::newlocale(
                libc::LC_CTYPE_MASK,
                c"C.UTF-8".as_ptr(),
                std::ptr::null_mut(),
            )
        };
        if l.is_null() {
            None
        } else {
            Some(Loc(l))
        }
    })
    .as_ref()
}

fn via_libc(c: char, upper: bool) -> Option<char> {
    let loc = c_utf8()?;
    // SAFETY: loc is a valid locale object.
    let r = unsafe {
        if upper {
            towupper_l(c as u32, loc.0)
        } else {
            towlower_l(c as u32, loc.0)
        }
    };
    char::from_u32(r)
}

/// Pure-Rust fallback: Rust's full mapping when it is a single char.
fn via_rust(c: char, upper: bool) -> char {
    let mut it: Box<dyn Iterator<Item = char>> = if upper {
        Box::new(c.to_uppercase())
    } else {
        Box::new(c.to_lowercase())
    };
    match (it.next(), it.next()) {
        (Some(m), None) => m,
        _ => c,
    }
}

pub fn to_upper(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_uppercase()
    } else {
        via_libc(c, true).unwrap_or_else(|| via_rust(c, true))
    }
}

pub fn to_lower(c: char) -> char {
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        via_libc(c, false).unwrap_or_else(|| via_rust(c, false))
    }
}
