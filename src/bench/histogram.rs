//! The load generator's latency histogram.

use std::time::Duration;

/// Latency histogram with log-linear buckets over nanoseconds: exact below 64 ns, then 64
/// buckets per power of two, so any value is known to within 1/64 (1.6 %). A fixed array,
/// filled without allocating; values past ~18 minutes land in the last bucket (the exact
/// maximum is kept on the side).
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    sum_nanos: u128,
    max_nanos: u64,
}

const SUB_BITS: u32 = 6;
const SUB_COUNT: u64 = 1 << SUB_BITS;
/// Values from 2^MAX_BITS ns up share the last bucket.
const MAX_BITS: u32 = 40;
const BUCKETS: usize = ((MAX_BITS - SUB_BITS + 1) as usize) << SUB_BITS;

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Self {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            sum_nanos: 0,
            max_nanos: 0,
        }
    }

    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket_of(nanos)] += 1;
        self.total += 1;
        self.sum_nanos += u128::from(nanos);
        self.max_nanos = self.max_nanos.max(nanos);
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts.iter()) {
            *mine += theirs;
        }
        self.total += other.total;
        self.sum_nanos += other.sum_nanos;
        self.max_nanos = self.max_nanos.max(other.max_nanos);
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max_nanos)
    }

    pub fn mean(&self) -> Duration {
        match self.total {
            0 => Duration::ZERO,
            n => Duration::from_nanos((self.sum_nanos / u128::from(n)) as u64),
        }
    }

    /// The smallest recorded value with at least `pct` percent of the samples at or below it,
    /// read as its bucket's upper edge (never above the true maximum). Zero when empty.
    pub fn percentile(&self, pct: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((pct / 100.0) * self.total as f64)
            .ceil()
            .clamp(1.0, self.total as f64) as u64;
        let mut seen = 0;
        for (index, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen >= rank {
                return Duration::from_nanos(bucket_high(index).min(self.max_nanos));
            }
        }
        self.max()
    }
}

fn bucket_of(nanos: u64) -> usize {
    let nanos = nanos.min((1 << MAX_BITS) - 1);
    if nanos < SUB_COUNT {
        return nanos as usize;
    }
    let top = 63 - nanos.leading_zeros(); // >= SUB_BITS
    let shift = top - SUB_BITS;
    let sub = (nanos >> shift) - SUB_COUNT;
    (((shift + 1) as usize) << SUB_BITS) + sub as usize
}

fn bucket_low(index: usize) -> u64 {
    let group = (index >> SUB_BITS) as u32;
    let sub = index as u64 & (SUB_COUNT - 1);
    match group {
        0 => sub,
        g => (SUB_COUNT + sub) << (g - 1),
    }
}

fn bucket_high(index: usize) -> u64 {
    if index + 1 == BUCKETS {
        u64::MAX
    } else {
        bucket_low(index + 1) - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_tight() {
        assert_eq!(bucket_of(0), 0);
        for index in 1..BUCKETS {
            assert_eq!(
                bucket_low(index),
                bucket_high(index - 1) + 1,
                "bucket {index}"
            );
        }
        let mut value = 1u64;
        while value < 1 << MAX_BITS {
            for v in [value - 1, value, value + 1, value + value / 3] {
                let index = bucket_of(v);
                assert!(
                    bucket_low(index) <= v && v <= bucket_high(index),
                    "{v} in {index}"
                );
                let width = bucket_high(index) - bucket_low(index) + 1;
                assert!(width == 1 || width * SUB_COUNT <= v, "{v}: width {width}");
            }
            value *= 2;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut hist = Histogram::new();
        for micros in 1..=1000 {
            hist.record(Duration::from_micros(micros));
        }
        let near = |got: Duration, want_us: u64| {
            let want = Duration::from_micros(want_us).as_nanos() as f64;
            let got = got.as_nanos() as f64;
            assert!(
                got >= want && got <= want * (1.0 + 1.0 / 64.0),
                "{got} vs {want}"
            );
        };
        near(hist.percentile(50.0), 500);
        near(hist.percentile(90.0), 900);
        near(hist.percentile(99.0), 990);
        assert_eq!(hist.percentile(100.0), Duration::from_micros(1000));
        assert_eq!(hist.max(), Duration::from_micros(1000));
        assert_eq!(hist.mean(), Duration::from_nanos(500_500));
        assert_eq!(hist.count(), 1000);
    }

    #[test]
    fn merge_adds_and_empty_reads_zero() {
        let empty = Histogram::new();
        let zero = Duration::ZERO;
        assert_eq!(
            (empty.percentile(99.0), empty.mean(), empty.max()),
            (zero, zero, zero)
        );
        let mut fast = Histogram::new();
        let mut slow = Histogram::new();
        for _ in 0..99 {
            fast.record(Duration::from_micros(10));
        }
        slow.record(Duration::from_secs(2));
        fast.merge(&slow);
        assert_eq!(fast.count(), 100);
        assert!(fast.percentile(99.0) <= Duration::from_nanos(10_200));
        assert_eq!(fast.percentile(99.5), Duration::from_secs(2));
        assert_eq!(fast.max(), Duration::from_secs(2));
    }
}
