//! Sim-stamped tokens (`sim:stamp`), so a load client can take the simulator's own waiting out
//! of what it measures.
//!
//! With the keyword, every answer token of an API stream is prefixed with
//! `[[t:ARRIVED:SENT]]`: two readings of the simulator's monotonic clock, in nanoseconds since
//! the simulator process first read it — when the request had arrived, and when this token was
//! written. Both readings come from one clock in one process, so a client only ever uses their
//! differences:
//! - `SENT(first) − ARRIVED` is how long the simulator itself held the request before the first
//!   token (its pace timer, its scheduling); the client's time to first token minus that is the
//!   time spent outside the simulator (network, proxy, client);
//! - `SENT(i) − SENT(i−1)` is the gap the simulator made between two tokens; the client's gap
//!   minus that is what the path in between added.
//!
//! The paced benchmark lanes use this: the simulator's millisecond timer wheel otherwise puts up
//! to a millisecond of its own jitter into every TTFT and gap, larger than what a proxy adds.

use std::borrow::Cow;
use std::sync::OnceLock;
use std::time::Instant;

const OPEN: &str = "[[t:";
const CLOSE: &str = "]]";

/// One token's clock readings (nanoseconds on the simulator's monotonic clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When the request had arrived.
    pub arrived_ns: u64,
    /// When this token was written.
    pub sent_ns: u64,
}

/// The simulator's monotonic clock: nanoseconds since its first reading in this process.
pub fn now_ns() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// `token` with `stamp` in front.
pub fn stamped(stamp: Stamp, token: &str) -> String {
    format!("{OPEN}{}:{}{CLOSE}{token}", stamp.arrived_ns, stamp.sent_ns)
}

/// Takes the stamps out of a text delta: the text without them, and the first stamp found
/// (a proxy may merge several tokens into one delta). A text with no stamp is borrowed as is;
/// a malformed stamp is left in the text, so the client's text check reports it.
pub fn strip(text: &str) -> (Cow<'_, str>, Option<Stamp>) {
    if !text.contains(OPEN) {
        return (Cow::Borrowed(text), None);
    }
    let mut out = String::with_capacity(text.len());
    let mut first = None;
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        let (before, from) = rest.split_at(at);
        out.push_str(before);
        if let Some((stamp, after)) = parse(from) {
            first = first.or(Some(stamp));
            rest = after;
        } else {
            out.push_str(OPEN);
            rest = from.get(OPEN.len()..).unwrap_or_default();
        }
    }
    out.push_str(rest);
    (Cow::Owned(out), first)
}

/// `[[t:A:S]]…` -> the stamp and what follows it.
fn parse(s: &str) -> Option<(Stamp, &str)> {
    let body = s.strip_prefix(OPEN)?;
    let end = body.find(CLOSE)?;
    let (arrived, sent) = body.get(..end)?.split_once(':')?;
    let stamp = Stamp { arrived_ns: arrived.parse().ok()?, sent_ns: sent.parse().ok()? };
    Some((stamp, body.get(end + CLOSE.len()..)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_merged_tokens() {
        let a = Stamp { arrived_ns: 7, sent_ns: 1_000_123 };
        let b = Stamp { arrived_ns: 7, sent_ns: 2_000_456 };
        let one = stamped(a, " lorem");
        assert_eq!(one, "[[t:7:1000123]] lorem");
        assert_eq!(strip(&one), (Cow::Owned(" lorem".to_owned()), Some(a)));
        // Two tokens merged into one delta: both stamps go, the first is reported.
        let two = format!("{one}{}", stamped(b, " ipsum"));
        assert_eq!(strip(&two), (Cow::Owned(" lorem ipsum".to_owned()), Some(a)));
    }

    #[test]
    fn unstamped_and_malformed_texts() {
        assert!(matches!(strip(" plain"), (Cow::Borrowed(" plain"), None)));
        // A broken stamp stays in the text (so the verifier sees it), and scanning goes on.
        let (t, s) = strip("[[t:x:1]] a[[t:1:2]] b");
        assert_eq!(t, "[[t:x:1]] a b");
        assert_eq!(s, Some(Stamp { arrived_ns: 1, sent_ns: 2 }));
        let (t, s) = strip("[[t:5:6 unterminated");
        assert_eq!((t.as_ref(), s), ("[[t:5:6 unterminated", None));
    }
}
