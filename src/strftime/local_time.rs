//! The broken-down local time, from glibc itself (`tzset()` then `localtime_r()`), as
//! CPython's `time.localtime` gets it; see the module's notes on why not `chrono::Local`.

use std::ffi::CStr;

use super::error::StrftimeError;

/// A broken-down local time, field for field glibc's `struct tm` (plus the
/// value `%s` prints).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalTime {
    /// Seconds, 0..=60.
    pub tm_sec: i32,
    /// Minutes, 0..=59.
    pub tm_min: i32,
    /// Hours, 0..=23.
    pub tm_hour: i32,
    /// Day of month, 1..=31.
    pub tm_mday: i32,
    /// Month, 0..=11.
    pub tm_mon: i32,
    /// Year - 1900.
    pub tm_year: i32,
    /// Day of week, 0 = Sunday.
    pub tm_wday: i32,
    /// Day of year, 0..=365.
    pub tm_yday: i32,
    /// Daylight saving flag: >0 in DST, 0 not, <0 unknown (then `%z` is empty).
    pub tm_isdst: i32,
    /// Offset east of UTC in seconds.
    pub tm_gmtoff: i64,
    /// Zone abbreviation printed by `%Z`.
    pub tm_zone: String,
    /// What `%s` prints (glibc: `mktime()` of these fields).
    pub timestamp: i64,
}

extern "C" {
    fn tzset();
    static tzname: [*mut libc::c_char; 2];
}

/// Broken-down local time of `unix_seconds`, as `time.localtime(t)` sees it:
/// calls `tzset()` (so the current `TZ` environment variable is honoured --
/// POSIX strings like `EST5EDT,M3.2.0,M11.1.0` as well as zoneinfo names such
/// as `Europe/Berlin` or `:Europe/Berlin`) and `localtime_r()`.
pub fn local_at(unix_seconds: i64) -> Result<LocalTime, StrftimeError> {
    local_at_with(unix_seconds, true)
}

/// `local_at`, computing `timestamp` (what `%s` prints: glibc's `mktime` of the fields, the
/// dearest step by far) only when `with_timestamp`; otherwise it is `unix_seconds`.
pub fn local_at_with(unix_seconds: i64, with_timestamp: bool) -> Result<LocalTime, StrftimeError> {
    let t: libc::time_t = match libc::time_t::try_from(unix_seconds) {
        Ok(t) => t,
        Err(_) => return Err(StrftimeError::TimestampOutOfRange(unix_seconds)),
    };
    // SAFETY: an all-zero `struct tm` is valid (tm_zone = NULL).
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: plain libc calls with valid pointers; tzset/localtime_r are
    // internally locked by glibc.
    let ok = unsafe {
        tzset();
        !libc::localtime_r(&t, &mut tm).is_null()
    };
    if !ok {
        return Err(StrftimeError::TimestampOutOfRange(unix_seconds));
    }
    let year = i64::from(tm.tm_year) + 1900;
    if year > i64::from(i32::MAX) {
        return Err(StrftimeError::YearOutOfRange(year));
    }
    let mut zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: glibc's tm_zone points to a NUL-terminated string that
        // lives as long as the loaded zone data.
        unsafe { CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    if zone.is_empty() && tm.tm_isdst >= 0 {
        // glibc's strftime falls back to tzname[isdst] (after tzset).
        let idx = if tm.tm_isdst <= 1 {
            tm.tm_isdst as usize
        } else {
            2
        };
        zone = if idx == 2 {
            "?".to_string()
        } else {
            // SAFETY: tzname is a static array of two C strings (or NULL).
            let p = unsafe { tzname[idx] };
            if p.is_null() {
                String::new()
            } else {
                unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
            }
        };
    }
    // glibc's %s is mktime() of a copy of the fields (it honours tm_isdst for
    // ambiguous local times); compute it the same way, once, here.
    let timestamp = if with_timestamp {
        let mut copy = tm;
        // SAFETY: valid pointer to a local struct tm.
        unsafe { libc::mktime(&mut copy) as i64 }
    } else {
        unix_seconds
    };
    Ok(LocalTime {
        tm_sec: tm.tm_sec,
        tm_min: tm.tm_min,
        tm_hour: tm.tm_hour,
        tm_mday: tm.tm_mday,
        tm_mon: tm.tm_mon,
        tm_year: tm.tm_year,
        tm_wday: tm.tm_wday,
        tm_yday: tm.tm_yday,
        tm_isdst: tm.tm_isdst,
        tm_gmtoff: tm.tm_gmtoff as i64,
        tm_zone: zone,
        timestamp,
    })
}

/// The current local time, like the implicit `time.localtime()` of
/// `time.strftime(fmt)` (whole seconds, rounded down).
pub fn local_now() -> Result<LocalTime, StrftimeError> {
    local_at(chrono::Utc::now().timestamp())
}

/// `local_now` for formatting `fmt`: `%s`'s `mktime` is only paid when `fmt` may use it.
pub fn local_now_for(fmt: &str) -> Result<LocalTime, StrftimeError> {
    local_at_with(chrono::Utc::now().timestamp(), fmt.contains('s'))
}

impl LocalTime {
    /// Build the broken-down time from a chrono `DateTime` (any time zone).
    /// `zone` is the abbreviation for `%Z`, `isdst` the `tm_isdst` value.
    pub fn from_chrono<Tz: chrono::TimeZone>(
        dt: &chrono::DateTime<Tz>,
        zone: &str,
        isdst: i32,
    ) -> LocalTime {
        use chrono::{Datelike, Offset, Timelike};
        let local = dt.naive_local();
        let leap = local.nanosecond() >= 1_000_000_000;
        LocalTime {
            tm_sec: local.second() as i32 + i32::from(leap),
            tm_min: local.minute() as i32,
            tm_hour: local.hour() as i32,
            tm_mday: local.day() as i32,
            tm_mon: local.month0() as i32,
            tm_year: local.year() - 1900,
            tm_wday: local.weekday().num_days_from_sunday() as i32,
            tm_yday: local.ordinal0() as i32,
            tm_isdst: isdst,
            tm_gmtoff: i64::from(dt.offset().fix().local_minus_utc()),
            tm_zone: zone.to_string(),
            timestamp: dt.timestamp(),
        }
    }

    /// The same instant as a chrono `DateTime<FixedOffset>`, when the fields
    /// are in chrono's range.
    pub fn to_chrono(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        use chrono::TimeZone;
        let off = chrono::FixedOffset::east_opt(i32::try_from(self.tm_gmtoff).ok()?)?;
        let date = chrono::NaiveDate::from_ymd_opt(
            self.tm_year.checked_add(1900)?,
            u32::try_from(self.tm_mon.checked_add(1)?).ok()?,
            u32::try_from(self.tm_mday).ok()?,
        )?;
        let sec = u32::try_from(self.tm_sec).ok()?;
        let (sec, nano) = if sec == 60 {
            (59, 1_000_000_000)
        } else {
            (sec, 0)
        };
        let time = chrono::NaiveTime::from_hms_nano_opt(
            u32::try_from(self.tm_hour).ok()?,
            u32::try_from(self.tm_min).ok()?,
            sec,
            nano,
        )?;
        off.from_local_datetime(&date.and_time(time)).single()
    }
}
