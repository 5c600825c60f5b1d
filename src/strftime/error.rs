//! Why `strftime` or `local_at` produced no string.

use std::fmt;

/// Why no string could be produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrftimeError {
    /// The format contains U+0000. CPython: `ValueError: embedded null character`.
    EmbeddedNul,
    /// The result would be longer than the byte limit (UTF-8 length).
    OutputTooLong { limit: usize },
    /// `localtime_r` failed (the year does not fit a C `int`).
    /// CPython: `OSError: [Errno 75] Value too large for defined data type`.
    TimestampOutOfRange(i64),
    /// The year is larger than `INT_MAX`; CPython's `time.strftime` rejects the
    /// `struct_time` with `OverflowError: signed integer is greater than maximum`.
    YearOutOfRange(i64),
}

impl fmt::Display for StrftimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StrftimeError::EmbeddedNul => f.write_str("embedded null character"),
            StrftimeError::OutputTooLong { limit } => {
                write!(f, "strftime result longer than {limit} bytes")
            }
            StrftimeError::TimestampOutOfRange(t) => {
                write!(f, "timestamp {t} out of range for localtime")
            }
            StrftimeError::YearOutOfRange(y) => {
                write!(
                    f,
                    "year {y} out of range (signed integer is greater than maximum)"
                )
            }
        }
    }
}

impl std::error::Error for StrftimeError {}
