//! One load job: the endpoint, the prebuilt request bytes for the lane's client format, what a
//! correct answer looks like, and the processes to measure. Shared by every task (`Rc`).

use crate::client::{Conn, Failure, Target};
use crate::sse::Format;
use crate::stats::Procs;
use bytes::Bytes;
use hdrhistogram::Histogram;
use orchids2api::sim::agent_turn;
use serde_json::json;
use std::cell::Cell;
use std::time::Duration;

/// A substring every non-streaming answer from the simulator contains (the default answer is
/// "Hello! This is the grok simulator answering you.").
pub(crate) const ANSWER_MARK: &[u8] = b"simulator answering you";

/// Everything a task needs to issue requests.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) target: Target,
    pub(crate) format: Format,
    /// The requests (streaming or not, per mode), sent in turn: one, or an agent conversation's
    /// two consecutive turns ([`RequestSpec::bodies`]).
    pub(crate) requests: Vec<Bytes>,
    /// How many requests were taken (which one is next).
    pub(crate) taken: Cell<usize>,
    /// Streaming: the text the stream must carry, in order.
    pub(crate) expected: String,
    /// Non-streaming: text every answer must contain (the simulator's answer by default).
    pub(crate) mark: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) procs: Procs,
    /// An empty latency histogram to clone.
    pub(crate) hist: Histogram<u64>,
}

impl Job {
    /// The next request to send.
    pub(crate) fn request(&self) -> Bytes {
        let n = self.taken.get();
        self.taken.set(n.wrapping_add(1));
        self.requests.get(n % self.requests.len().max(1)).cloned().unwrap_or_default()
    }
}

/// How a request is written for one lane.
#[derive(Debug, Clone)]
pub(crate) struct RequestSpec {
    pub(crate) format: Format,
    pub(crate) model: String,
    pub(crate) key: String,
    pub(crate) prompt: String,
    pub(crate) stream: bool,
    /// A 65 KiB agent turn (`sim::agent_turn`) ending in `prompt`, not a one-message chat.
    pub(crate) agent: bool,
}

impl RequestSpec {
    /// The JSON bodies to send in turn: the one-message chat; or, for an agent, the turn after 12
    /// turns of history and the next one (13 turns: the same conversation one turn on), so each
    /// request repeats all but the last few messages of the one before, as an agent's
    /// consecutive turns do (`docs/benchmarks.md`, "Method").
    pub(crate) fn bodies(&self) -> Vec<Vec<u8>> {
        if !self.agent {
            return vec![self.body()];
        }
        [agent_turn::TURNS, agent_turn::TURNS + 1]
            .into_iter()
            .map(|turns| match self.format {
                Format::OpenAi => agent_turn::openai_after(&self.model, self.stream, &self.prompt, turns),
                Format::Claude => agent_turn::claude_after(&self.model, self.stream, &self.prompt, turns),
            })
            .collect()
    }

    /// The one-message chat's JSON body in the lane's format.
    fn body(&self) -> Vec<u8> {
        let messages = json!([{"role": "user", "content": self.prompt}]);
        let v = match self.format {
            Format::OpenAi => {
                json!({"model": self.model, "messages": messages, "stream": self.stream})
            }
            Format::Claude => {
                json!({"model": self.model, "max_tokens": 4096, "messages": messages, "stream": self.stream})
            }
        };
        v.to_string().into_bytes()
    }

    /// The complete requests for `target`, one per body of [`Self::bodies`].
    pub(crate) fn requests(&self, target: &Target) -> Vec<Bytes> {
        self.bodies().iter().map(|body| self.bytes(target, body)).collect()
    }

    /// The complete request bytes for `target` with `body`.
    fn bytes(&self, target: &Target, body: &[u8]) -> Bytes {
        let bearer = format!("Bearer {}", self.key);
        let accept = if self.stream { "text/event-stream" } else { "application/json" };
        match self.format {
            Format::OpenAi => target.post(&[("accept", accept), ("authorization", &bearer)], body),
            Format::Claude => target.post(
                &[
                    ("accept", accept),
                    ("authorization", &bearer),
                    ("x-api-key", &self.key),
                    ("anthropic-version", "2023-06-01"),
                ],
                body,
            ),
        }
    }
}

/// Connects if there is no usable connection.
pub(crate) async fn ensure_conn(job: &Job, conn: &mut Option<Conn>) -> Result<(), Failure> {
    if conn.as_ref().is_some_and(|c| c.closing) {
        *conn = None;
    }
    if conn.is_none() {
        *conn = Some(Conn::connect(job.target.addr, job.timeout).await?);
    }
    Ok(())
}

/// One non-streaming request on `conn` (connecting first if needed); `body` is scratch space.
/// The connection is dropped after any failure.
pub(crate) async fn request_once(job: &Job, conn: &mut Option<Conn>, body: &mut Vec<u8>) -> Result<(), Failure> {
    let r = request_inner(job, conn, body).await;
    if r.is_err() {
        *conn = None;
    }
    r
}

async fn request_inner(job: &Job, slot: &mut Option<Conn>, body: &mut Vec<u8>) -> Result<(), Failure> {
    ensure_conn(job, slot).await?;
    let Some(conn) = slot.as_mut() else {
        return Err(Failure::Connect("no connection".to_owned()));
    };
    conn.send(job.request()).await?;
    let mut head = conn.read_head().await?;
    if head.status != 200 {
        conn.read_body(&mut head.body, body, 300).await?;
        return Err(Failure::Status(head.status, String::from_utf8_lossy(body).into_owned()));
    }
    conn.read_body(&mut head.body, body, 1 << 20).await?;
    if memchr::memmem::find(body, &job.mark).is_none() {
        let shown = String::from_utf8_lossy(body.get(..200).unwrap_or(body)).into_owned();
        return Err(Failure::BadBody(shown));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes_per_format() {
        let t = Target::parse("http://127.0.0.1:9/grok/v1/messages").unwrap();
        let spec = RequestSpec {
            format: Format::Claude,
            model: "m".into(),
            key: "k-123".into(),
            prompt: "hi \"x\"".into(),
            stream: true,
            agent: false,
        };
        let b = spec.requests(&t);
        assert_eq!(b.len(), 1);
        let s = std::str::from_utf8(&b[0]).unwrap();
        assert!(s.starts_with("POST /grok/v1/messages HTTP/1.1\r\nhost: 127.0.0.1:9\r\n"));
        assert!(s.contains("x-api-key: k-123\r\n") && s.contains("anthropic-version: 2023-06-01\r\n"));
        let (head, body) = s.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["messages"][0]["content"], "hi \"x\"");
        assert_eq!(v["stream"], true);
        assert_eq!(v["max_tokens"], 4096);
        let oa = RequestSpec { format: Format::OpenAi, stream: false, ..spec.clone() };
        let s = String::from_utf8(oa.requests(&t)[0].to_vec()).unwrap();
        assert!(s.contains("authorization: Bearer k-123\r\n") && !s.contains("x-api-key"));
        // An agent's two turns end in the prompt, in either format; the second is the first
        // with one more turn of history.
        for (format, more) in [(Format::Claude, 2), (Format::OpenAi, 3)] {
            let agent = RequestSpec { format, agent: true, ..spec.clone() };
            let bodies = agent.bodies();
            let counts: Vec<usize> = bodies
                .iter()
                .map(|body| {
                    let v: serde_json::Value = serde_json::from_slice(body).unwrap();
                    let messages = v["messages"].as_array().unwrap();
                    let last = &messages.last().unwrap()["content"];
                    let text = if format == Format::Claude { &last[1]["text"] } else { last };
                    assert_eq!(text, "hi \"x\"");
                    assert!(v["tools"].as_array().unwrap().len() > 10 && body.len() > 50_000);
                    messages.len()
                })
                .collect();
            assert_eq!(counts.len(), 2);
            assert_eq!(counts[1], counts[0] + more);
        }
    }

    #[test]
    fn a_job_sends_its_requests_in_turn() {
        let t = Target::parse("http://127.0.0.1:9/grok/v1/messages").unwrap();
        let job = Job {
            target: t,
            format: Format::Claude,
            requests: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")],
            taken: Cell::new(0),
            expected: String::new(),
            mark: Vec::new(),
            timeout: Duration::from_secs(1),
            procs: Procs { pids: Vec::new(), clk_tck: 100 },
            hist: crate::stats::histogram().unwrap(),
        };
        let sent: Vec<Bytes> = (0..5).map(|_| job.request()).collect();
        assert_eq!(sent, ["a", "b", "a", "b", "a"].map(|s| Bytes::from(s.as_bytes())));
    }
}
