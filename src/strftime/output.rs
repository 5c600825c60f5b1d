//! The output sink: counts every character glibc would write (for CPython's `""` rule) and
//! keeps at most the byte limit.

/// Signal: glibc's `strftime` would return 0 (output does not fit CPython's
/// final buffer), so CPython returns `""`.
#[derive(Debug)]
pub(super) struct Full;

/// Output sink. `chars` counts every wide character glibc would write, even
/// past the byte limit, so the `""` rule can still be decided exactly; `buf`
/// stops growing at the byte limit.
pub(super) struct Out {
    pub(super) buf: String,
    pub(super) chars: u64,
    cap: u64,
    limit: usize,
    pub(super) truncated: bool,
}

impl Out {
    /// `capacity`: the bytes reserved at once (the output usually fits, so it is not grown
    /// piece by piece); never more than `limit`.
    pub(super) fn new(cap: u64, limit: usize, capacity: usize) -> Out {
        Out {
            buf: String::with_capacity(capacity.min(limit)),
            chars: 0,
            cap,
            limit,
            truncated: false,
        }
    }

    fn count(&mut self, n: u64) -> Result<(), Full> {
        self.chars = self.chars.saturating_add(n);
        if self.chars >= self.cap {
            Err(Full)
        } else {
            Ok(())
        }
    }

    pub(super) fn push(&mut self, c: char) -> Result<(), Full> {
        self.count(1)?;
        if !self.truncated {
            if self.buf.len().saturating_add(c.len_utf8()) > self.limit {
                self.truncated = true;
            } else {
                self.buf.push(c);
            }
        }
        Ok(())
    }

    /// An ASCII string, as `push` of each of its characters would add it.
    pub(super) fn push_ascii(&mut self, s: &str) -> Result<(), Full> {
        debug_assert!(s.is_ascii());
        if s.is_empty() {
            return Ok(());
        }
        self.count(s.len() as u64)?;
        if !self.truncated {
            let room = self.limit - self.buf.len().min(self.limit);
            if s.len() > room {
                // `push` would have kept the characters that fit, then stopped.
                self.buf.push_str(&s[..room]);
                self.truncated = true;
            } else {
                self.buf.push_str(s);
            }
        }
        Ok(())
    }

    /// `n` copies of the ASCII character `c`.
    pub(super) fn repeat(&mut self, c: char, n: u64) -> Result<(), Full> {
        if n == 0 {
            return Ok(());
        }
        self.count(n)?;
        if !self.truncated {
            // n < cap here, and cap is at most a few times 2^24 for any
            // format that fits in memory, but be defensive anyway.
            let room = (self.limit - self.buf.len().min(self.limit)) as u64;
            if n > room {
                self.truncated = true;
            } else {
                for _ in 0..n {
                    self.buf.push(c);
                }
            }
        }
        Ok(())
    }
}
