//! A field's text padded to the width and case-mapped, as glibc's `add`, `cpy` and
//! `DO_NUMBER` do it.

use super::case;
use super::directive::Spec;
use super::output::{Full, Out};

/// glibc `add(n, ...)` for text that needs no case mapping.
pub(super) fn add_str(out: &mut Out, spec: &Spec, s: &str) -> Result<(), Full> {
    let n = s.chars().count() as i64;
    pad_to_width(out, spec, n)?;
    for c in s.chars() {
        out.push(c)?;
    }
    Ok(())
}

/// glibc `cpy(n, s)`: pad to the width, then copy with case mapping.
pub(super) fn cpy(out: &mut Out, spec: &Spec, s: &str) -> Result<(), Full> {
    if s.is_ascii() && !spec.to_low && !spec.to_upp {
        pad_to_width(out, spec, s.len() as i64)?;
        return out.push_ascii(s);
    }
    let n = s.chars().count() as i64;
    pad_to_width(out, spec, n)?;
    for c in s.chars() {
        let c = if spec.to_low {
            case::to_lower(c)
        } else if spec.to_upp {
            case::to_upper(c)
        } else {
            c
        };
        out.push(c)?;
    }
    Ok(())
}

pub(super) fn pad_to_width(out: &mut Out, spec: &Spec, n: i64) -> Result<(), Full> {
    let delta = i64::from(spec.width) - n;
    if delta > 0 {
        out.repeat(if spec.pad == '0' { '0' } else { ' ' }, delta as u64)?;
    }
    Ok(())
}

/// A decimal number with its sign, formatted on the stack (no allocation per field).
pub(super) struct Decimal {
    buf: [u8; 21],
    start: usize,
}

impl Decimal {
    pub(super) fn new(negative: bool, mut magnitude: u64) -> Decimal {
        let mut buf = [0u8; 21];
        let mut start = buf.len();
        loop {
            start -= 1;
            buf[start] = b'0' + (magnitude % 10) as u8;
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        if negative {
            start -= 1;
            buf[start] = b'-';
        }
        Decimal { buf, start }
    }

    pub(super) fn as_str(&self) -> &str {
        // Only ASCII digits and '-' were written.
        std::str::from_utf8(&self.buf[self.start..]).unwrap_or("")
    }
}

/// glibc `DO_NUMBER(d, v)` / `DO_NUMBER_SPACEPAD(d, v)` and `do_number:`.
pub(super) fn do_number(
    out: &mut Out,
    spec: &mut Spec,
    d: i32,
    v: i32,
    spacepad: bool,
) -> Result<(), Full> {
    let digits = d.max(spec.width);
    if spacepad && spec.pad != '0' && spec.pad != '-' {
        spec.pad = '_';
    }
    let number = Decimal::new(v < 0, u64::from(v.unsigned_abs()));
    number_tail(out, spec, digits, number.as_str(), v < 0)
}

/// glibc `do_number_sign_and_padding:`. `s` includes the sign.
pub(super) fn number_tail(
    out: &mut Out,
    spec: &mut Spec,
    digits: i32,
    mut s: &str,
    negative: bool,
) -> Result<(), Full> {
    if spec.pad != '-' {
        let padding = i64::from(digits) - s.len() as i64;
        if padding > 0 {
            if spec.pad == '_' {
                out.repeat(' ', padding as u64)?;
                spec.width = if i64::from(spec.width) > padding {
                    (i64::from(spec.width) - padding) as i32
                } else {
                    0
                };
            } else {
                if negative {
                    s = &s[1..];
                    out.push('-')?;
                }
                out.repeat('0', padding as u64)?;
                spec.width = 0;
            }
        }
    }
    cpy(out, spec, s)
}
