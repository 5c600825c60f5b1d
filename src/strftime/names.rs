//! The C locale's `LC_TIME` tables (glibc `locale/C-time.c`): day and month names and the
//! `%c %x %X %r` formats.

pub(super) const ABDAY: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
pub(super) const DAY: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
pub(super) const ABMON: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
pub(super) const MON: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
// C locale LC_TIME strings (glibc locale/C-time.c). ERA_* are empty and
// there are no alternative digits; ALTMON_* equal MON_*.
pub(super) const D_T_FMT: &str = "%a %b %e %H:%M:%S %Y";
pub(super) const D_FMT: &str = "%m/%d/%y";
pub(super) const T_FMT: &str = "%H:%M:%S";
pub(super) const T_FMT_AMPM: &str = "%I:%M:%S %p";
