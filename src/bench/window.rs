//! What the load generator counts: the measured window, each connection's tally, and how one
//! request ended. Shared by the run (`loadgen`) and the request loops (`round_trip`).

use std::time::Duration;

use tokio::time::Instant;

use super::histogram::Histogram;

#[derive(Clone, Copy)]
pub(super) struct Window {
    pub(super) counted_from: Instant,
    pub(super) end: Instant,
    pub(super) timeout: Duration,
}

/// What one connection counted in the measured period.
pub(super) struct Tally {
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) timeouts: u64,
    pub(super) latency: Histogram,
}

impl Tally {
    pub(super) fn new() -> Self {
        Tally {
            requests: 0,
            errors: 0,
            timeouts: 0,
            latency: Histogram::new(),
        }
    }

    pub(super) fn merge(&mut self, other: &Tally) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.latency.merge(&other.latency);
    }
}

/// How one request ended.
pub(super) enum Outcome {
    Answered,
    Failed,
    TimedOut,
    /// The measured period ended first: stop without counting anything.
    Deadline,
}

impl Window {
    /// When a request started now must be answered by, and whether hitting that is a timeout
    /// (rather than the end of the run).
    pub(super) fn limit(&self, started: Instant) -> (Instant, bool) {
        let own = started + self.timeout;
        if own < self.end {
            (own, true)
        } else {
            (self.end, false)
        }
    }

    /// Counts one finished request if it belongs to the measured period.
    pub(super) fn count(&self, tally: &mut Tally, started: Instant, outcome: &Outcome) {
        let finished = Instant::now();
        if started < self.counted_from || finished > self.end {
            return;
        }
        match outcome {
            Outcome::Answered => {
                tally.requests += 1;
                tally.latency.record(finished - started);
            }
            Outcome::Failed => tally.errors += 1,
            Outcome::TimedOut => tally.timeouts += 1,
            Outcome::Deadline => {}
        }
    }
}
