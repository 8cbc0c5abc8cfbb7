//! The timing of one stream's text frames as the client reads them: when the first arrived,
//! the gaps between consecutive ones, and — when the simulator stamps its tokens
//! ([`orchids2api::sim::grok::stamp`]) — the same with the simulator's own waiting taken out:
//! how long it held the request before the first token, and each gap minus the simulator's own
//! gap between the two tokens (a negative difference counts as zero). Reused across streams.

use orchids2api::sim::grok::stamp::Stamp;
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub(crate) struct FrameClock {
    /// Gaps between consecutive text frames, as read.
    pub(crate) raw: Vec<Duration>,
    /// Stamped frames: each gap minus the simulator's own gap.
    pub(crate) beyond: Vec<Duration>,
    first: Option<Instant>,
    last: Option<Instant>,
    /// Stamped: the simulator's time from the request's arrival to the first token.
    sim_hold: Option<Duration>,
    /// Stamped: when the simulator wrote the previous frame's token (its clock, ns).
    last_sent: Option<u64>,
}

impl FrameClock {
    /// Forgets the last stream.
    pub(crate) fn reset(&mut self) {
        self.raw.clear();
        self.beyond.clear();
        self.first = None;
        self.last = None;
        self.sim_hold = None;
        self.last_sent = None;
    }

    /// A text frame read at `at`, with its token's stamp if it had one.
    pub(crate) fn frame(&mut self, at: Instant, stamp: Option<Stamp>) {
        if let Some(prev) = self.last {
            let gap = at.saturating_duration_since(prev);
            self.raw.push(gap);
            if let (Some(st), Some(before)) = (stamp, self.last_sent) {
                self.beyond.push(gap.saturating_sub(Duration::from_nanos(st.sent_ns.saturating_sub(before))));
            }
        } else {
            self.first = Some(at);
            self.sim_hold = stamp.map(|st| Duration::from_nanos(st.sent_ns.saturating_sub(st.arrived_ns)));
        }
        self.last = Some(at);
        self.last_sent = stamp.map(|st| st.sent_ns);
    }

    /// Time to first text frame from `start` (to `end` when none came).
    pub(crate) fn ttft(&self, start: Instant, end: Instant) -> Duration {
        self.first.unwrap_or(end).saturating_duration_since(start)
    }

    /// `ttft` minus the simulator's hold time (stamped streams only).
    pub(crate) fn ttft_beyond(&self, ttft: Duration) -> Option<Duration> {
        self.sim_hold.map(|hold| ttft.saturating_sub(hold))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn stamped_frames_leave_the_simulators_waiting_out() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let st = |sent_ms: u64| Some(Stamp { arrived_ns: MS, sent_ns: sent_ms * MS });
        let mut c = FrameClock::default();
        // The request reached the simulator at 1 ms, it wrote tokens at 21, 41 and 61 ms; the
        // client read them at 23, 43 (no delay added) and 66 (3 ms later than the gap).
        c.frame(at(23), st(21));
        c.frame(at(43), st(41));
        c.frame(at(66), st(61));
        let ttft = c.ttft(start, at(70));
        assert_eq!(ttft, Duration::from_millis(23));
        assert_eq!(c.ttft_beyond(ttft), Some(Duration::from_millis(3)), "23 ms minus the 20 ms hold");
        assert_eq!(c.raw, [Duration::from_millis(20), Duration::from_millis(23)]);
        assert_eq!(c.beyond, [Duration::ZERO, Duration::from_millis(3)]);
        // A frame read sooner after the last than the simulator's gap counts as zero.
        c.frame(at(70), st(70));
        assert_eq!(c.beyond.last(), Some(&Duration::ZERO));
    }

    #[test]
    fn unstamped_frames_and_reset() {
        let start = Instant::now();
        let mut c = FrameClock::default();
        c.frame(start + Duration::from_millis(5), None);
        c.frame(start + Duration::from_millis(9), None);
        let ttft = c.ttft(start, start + Duration::from_secs(1));
        assert_eq!(ttft, Duration::from_millis(5));
        assert_eq!(c.ttft_beyond(ttft), None);
        assert_eq!(c.raw, [Duration::from_millis(4)]);
        assert!(c.beyond.is_empty());
        c.reset();
        assert!(c.raw.is_empty());
        // No frame at all: TTFT runs to the end.
        assert_eq!(c.ttft(start, start + Duration::from_millis(7)), Duration::from_millis(7));
    }
}
