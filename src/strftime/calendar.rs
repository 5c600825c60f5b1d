//! Calendar arithmetic for `%V %g %G`, with glibc's integer steps (C `int` wrap-around
//! included, so it never panics).

use super::local_time::LocalTime;

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// glibc `iso_week_days`: days from the first day of the first ISO week of
/// the year to day `yday` with weekday `wday`.
fn iso_week_days(yday: i32, wday: i32) -> i32 {
    const BIG_ENOUGH_MULTIPLE_OF_7: i32 = (366 / 7 + 2) * 7;
    yday.wrapping_sub(
        yday.wrapping_sub(wday)
            .wrapping_add(4 + BIG_ENOUGH_MULTIPLE_OF_7)
            .wrapping_rem(7),
    )
    .wrapping_add(4 - 1)
}

/// The ISO 8601 week-based year and glibc's `days` for %V/%g/%G.
pub(super) fn iso_year_and_days(tp: &LocalTime) -> (i32, i32) {
    let mut year = tp.tm_year.wrapping_add(1900);
    let mut days = iso_week_days(tp.tm_yday, tp.tm_wday);
    if days < 0 {
        year = year.wrapping_sub(1);
        days = iso_week_days(
            tp.tm_yday.wrapping_add(365 + i32::from(is_leap(year))),
            tp.tm_wday,
        );
    } else {
        let d = iso_week_days(
            tp.tm_yday.wrapping_sub(365 + i32::from(is_leap(year))),
            tp.tm_wday,
        );
        if d >= 0 {
            year = year.wrapping_add(1);
            days = d;
        }
    }
    (year, days)
}
