//! The format loop and each conversion, as glibc's `__strftime_internal` renders them in the C
//! locale: names, composite formats, numbers, the zone, and the "bad format" literal copy.

use super::calendar::iso_year_and_days;
use super::case;
use super::directive::{Directive, Spec};
use super::local_time::LocalTime;
use super::names::{ABDAY, ABMON, DAY, D_FMT, D_T_FMT, MON, T_FMT, T_FMT_AMPM};
use super::output::{Full, Out};
use super::padding::{add_str, cpy, do_number, number_tail, Decimal};

/// What a conversion did with its directive.
enum Converted {
    Written,
    /// glibc's "bad format": an unknown conversion or a modifier it refuses; the directive is
    /// then copied literally.
    Bad,
}
use Converted::{Bad, Written};

pub(super) fn format_into(fmt: &[char], tp: &LocalTime, out: &mut Out) -> Result<(), Full> {
    let mut f = 0usize;
    while f < fmt.len() {
        let c = fmt[f];
        if c != '%' {
            out.push(c)?;
            f += 1;
            continue;
        }
        let mut d = Directive::parse(fmt, f);
        let converted = match d.conversion {
            Some(conversion) => convert(conversion, &mut d, tp, out)?,
            None => Bad, // the format ends inside a directive
        };
        if let Bad = converted {
            copy_literally(fmt, &d, out)?;
        }
        f = d.end();
    }
    Ok(())
}

fn convert(c: char, d: &mut Directive, tp: &LocalTime, out: &mut Out) -> Result<Converted, Full> {
    match c {
        '%' if d.modifier != '\0' => Ok(Bad),
        '%' => add_str(out, &d.spec, "%").map(|_| Written),
        'n' => add_str(out, &d.spec, "\n").map(|_| Written),
        't' => add_str(out, &d.spec, "\t").map(|_| Written),
        'a' | 'A' | 'b' | 'h' | 'B' | 'p' | 'P' | 'Z' => name(c, d, tp, out),
        'c' | 'x' | 'X' | 'D' | 'F' | 'R' | 'r' | 'T' => composite(c, d, tp, out),
        's' => {
            let t = tp.timestamp;
            let s = Decimal::new(t < 0, t.unsigned_abs());
            number_tail(out, &mut d.spec, 1, s.as_str(), t < 0).map(|_| Written)
        }
        'z' => offset(&mut d.spec, tp, out).map(|_| Written),
        _ => number(c, d, tp, out),
    }
}

/// Day and month names, AM/PM and the zone: text from the C locale's tables, case flags apply.
fn name(c: char, d: &mut Directive, tp: &LocalTime, out: &mut Out) -> Result<Converted, Full> {
    let table = |names: &'static [&'static str], i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| names.get(i))
            .copied()
            .unwrap_or("?")
    };
    let text: &str = match c {
        'a' | 'A' => {
            if d.modifier != '\0' {
                return Ok(Bad);
            }
            d.case_swap_to_upper();
            table(if c == 'a' { &ABDAY } else { &DAY }, tp.tm_wday)
        }
        'b' | 'h' => {
            // glibc applies `#` before it refuses `%Eb`, so the literal copy is upper-cased.
            d.case_swap_to_upper();
            if d.modifier == 'E' {
                return Ok(Bad);
            }
            // %Ob: ABALTMON, identical to ABMON in the C locale.
            table(&ABMON, tp.tm_mon)
        }
        'B' => {
            if d.modifier == 'E' {
                return Ok(Bad);
            }
            d.case_swap_to_upper();
            table(&MON, tp.tm_mon)
        }
        'p' | 'P' => {
            if c == 'P' {
                d.spec.to_low = true;
            }
            d.case_swap_to_lower();
            if tp.tm_hour > 11 {
                "PM"
            } else {
                "AM"
            }
        }
        _ => {
            // 'Z'
            d.case_swap_to_lower();
            &tp.tm_zone
        }
    };
    cpy(out, &d.spec, text).map(|_| Written)
}

/// Directives that stand for a fixed sub-format (`%c` is `%a %b %e %H:%M:%S %Y` in C).
fn composite(c: char, d: &mut Directive, tp: &LocalTime, out: &mut Out) -> Result<Converted, Full> {
    let sub = match c {
        'c' | 'x' | 'X' if d.modifier == 'O' => return Ok(Bad),
        'c' => D_T_FMT,
        'x' => D_FMT,
        'X' => T_FMT,
        'D' | 'F' if d.modifier != '\0' => return Ok(Bad),
        'D' => "%m/%d/%y",
        'F' => "%Y-%m-%d",
        'R' => "%H:%M",
        'r' => T_FMT_AMPM,
        _ => "%H:%M:%S", // 'T'
    };
    subformat(out, &d.spec, sub, tp).map(|_| Written)
}

/// The longest sub-format `subformat` takes (the C locale's are 8 to 20 characters).
const SUBFORMAT_MAX: usize = 32;
const _: () = assert!(
    D_T_FMT.len() <= SUBFORMAT_MAX
        && D_FMT.len() <= SUBFORMAT_MAX
        && T_FMT.len() <= SUBFORMAT_MAX
        && T_FMT_AMPM.len() <= SUBFORMAT_MAX
);

/// glibc `subformat:` -- format a fixed sub-format without flags, then add
/// the result padded to the width, upper-casing everything for `^` (`#` and
/// lower-casing don't apply here).
fn subformat(out: &mut Out, spec: &Spec, sub: &str, tp: &LocalTime) -> Result<(), Full> {
    // The sub-formats are short ASCII constants: their characters fit on the stack.
    let mut chars = ['\0'; SUBFORMAT_MAX];
    let mut len = 0;
    for (slot, c) in chars.iter_mut().zip(sub.chars()) {
        *slot = c;
        len += 1;
    }
    debug_assert_eq!(
        len,
        sub.chars().count(),
        "a sub-format longer than SUBFORMAT_MAX characters"
    );
    let mut inner = Out::new(u64::MAX, usize::MAX, 64);
    format_into(&chars[..len], tp, &mut inner)?;
    let n = inner.chars as i64;
    let delta = i64::from(spec.width) - n;
    let padc = if spec.pad == '0' { '0' } else { ' ' };
    if delta > 0 {
        out.repeat(padc, delta as u64)?;
    }
    for c in inner.buf.chars() {
        out.push(if spec.to_upp { case::to_upper(c) } else { c })?;
    }
    Ok(())
}

/// Numeric fields: `(minimum digits, value, space-padded)` per conversion, then glibc's
/// `DO_NUMBER`. Anything else is an unknown conversion.
fn number(c: char, d: &mut Directive, tp: &LocalTime, out: &mut Out) -> Result<Converted, Full> {
    let hour12 = if tp.tm_hour > 12 {
        tp.tm_hour - 12
    } else if tp.tm_hour == 0 {
        12
    } else {
        tp.tm_hour
    };
    let (digits, value, spacepad) = match c {
        // %EC: no era in the C locale, so the plain century.
        'C' => {
            let year = tp.tm_year.wrapping_add(1900);
            (1, year / 100 - i32::from(year % 100 < 0), false)
        }
        'u' => (1, tp.tm_wday.wrapping_sub(1).wrapping_add(7) % 7 + 1, false),
        'Y' if d.modifier == 'O' => return Ok(Bad),
        'Y' => (1, tp.tm_year.wrapping_add(1900), false),
        'y' => (2, (tp.tm_year % 100 + 100) % 100, false),
        'd' | 'e' | 'H' | 'I' | 'k' | 'l' | 'j' | 'M' | 'm' | 'S' | 'U' | 'W' | 'w' | 'V' | 'g'
        | 'G'
            if d.modifier == 'E' =>
        {
            return Ok(Bad)
        }
        // %O: no alternative digits in the C locale.
        'd' => (2, tp.tm_mday, false),
        'e' => (2, tp.tm_mday, true),
        'H' => (2, tp.tm_hour, false),
        'I' => (2, hour12, false),
        'k' => (2, tp.tm_hour, true),
        'l' => (2, hour12, true),
        'j' => (3, tp.tm_yday.wrapping_add(1), false),
        'M' => (2, tp.tm_min, false),
        'm' => (2, tp.tm_mon.wrapping_add(1), false),
        'S' => (2, tp.tm_sec, false),
        'U' => (
            2,
            tp.tm_yday.wrapping_sub(tp.tm_wday).wrapping_add(7) / 7,
            false,
        ),
        'W' => (
            2,
            tp.tm_yday
                .wrapping_sub(tp.tm_wday.wrapping_sub(1).wrapping_add(7) % 7)
                .wrapping_add(7)
                / 7,
            false,
        ),
        'w' => (1, tp.tm_wday, false),
        'V' | 'g' | 'G' => {
            let (year, days) = iso_year_and_days(tp);
            match c {
                'g' => (2, (year % 100 + 100) % 100, false),
                'G' => (1, year, false),
                _ => (2, days / 7 + 1, false),
            }
        }
        _ => return Ok(Bad),
    };
    do_number(out, &mut d.spec, digits, value, spacepad).map(|_| Written)
}

/// `%z`: `+hhmm`/`-hhmm` from `tm_gmtoff` (a C `int`), nothing when `tm_isdst` is negative.
fn offset(spec: &mut Spec, tp: &LocalTime, out: &mut Out) -> Result<(), Full> {
    if tp.tm_isdst < 0 {
        return Ok(());
    }
    let mut diff = tp.tm_gmtoff as i32; // C: int diff = tm_gmtoff
    if diff < 0 {
        add_str(out, spec, "-")?;
        diff = diff.wrapping_neg();
    } else {
        add_str(out, spec, "+")?;
    }
    diff /= 60;
    let v = (diff / 60).wrapping_mul(100).wrapping_add(diff % 60);
    do_number(out, spec, 4, v, false)
}

/// glibc's bad format: copy from the nearest '%' at or before the offending character (for
/// '%E%' that is the final '%' itself) through that character, padded and case-mapped.
fn copy_literally(fmt: &[char], d: &Directive, out: &mut Out) -> Result<(), Full> {
    let last = if d.conversion.is_some() {
        d.at
    } else {
        d.at - 1
    };
    let mut s = last;
    while fmt[s] != '%' {
        s -= 1; // terminates: fmt[d.start] == '%'
    }
    debug_assert!(s >= d.start);
    let text: String = fmt[s..=last].iter().collect();
    cpy(out, &d.spec, &text)
}
