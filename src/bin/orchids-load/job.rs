//! One load job: the endpoint, the prebuilt request bytes for the lane's client format, what a
//! correct answer looks like, and the processes to measure. Shared by every task (`Rc`).

use crate::client::{Conn, Failure, Target};
use crate::sse::Format;
use crate::stats::Procs;
use bytes::Bytes;
use hdrhistogram::Histogram;
use orchids2api::sim::agent_turn;
use serde_json::json;
use std::time::Duration;

/// A substring every non-streaming answer from the simulator contains (the default answer is
/// "Hello! This is the grok simulator answering you.").
pub(crate) const ANSWER_MARK: &[u8] = b"simulator answering you";

/// Everything a task needs to issue requests.
#[derive(Debug)]
pub(crate) struct Job {
    pub(crate) target: Target,
    pub(crate) format: Format,
    /// The request (streaming or not, per mode).
    pub(crate) request: Bytes,
    /// Streaming: the text the stream must carry, in order.
    pub(crate) expected: String,
    /// Non-streaming: text every answer must contain (the simulator's answer by default).
    pub(crate) mark: Vec<u8>,
    pub(crate) timeout: Duration,
    pub(crate) procs: Procs,
    /// An empty latency histogram to clone.
    pub(crate) hist: Histogram<u64>,
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
    /// The JSON body in the lane's format.
    pub(crate) fn body(&self) -> Vec<u8> {
        if self.agent {
            return match self.format {
                Format::OpenAi => agent_turn::openai(&self.model, self.stream, &self.prompt),
                Format::Claude => agent_turn::claude(&self.model, self.stream, &self.prompt),
            };
        }
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

    /// The complete request bytes for `target`.
    pub(crate) fn bytes(&self, target: &Target) -> Bytes {
        let bearer = format!("Bearer {}", self.key);
        let accept = if self.stream { "text/event-stream" } else { "application/json" };
        let body = self.body();
        match self.format {
            Format::OpenAi => target.post(&[("accept", accept), ("authorization", &bearer)], &body),
            Format::Claude => target.post(
                &[
                    ("accept", accept),
                    ("authorization", &bearer),
                    ("x-api-key", &self.key),
                    ("anthropic-version", "2023-06-01"),
                ],
                &body,
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
    conn.send(job.request.clone()).await?;
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
        let b = spec.bytes(&t);
        let s = std::str::from_utf8(&b).unwrap();
        assert!(s.starts_with("POST /grok/v1/messages HTTP/1.1\r\nhost: 127.0.0.1:9\r\n"));
        assert!(s.contains("x-api-key: k-123\r\n") && s.contains("anthropic-version: 2023-06-01\r\n"));
        let (head, body) = s.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["messages"][0]["content"], "hi \"x\"");
        assert_eq!(v["stream"], true);
        assert_eq!(v["max_tokens"], 4096);
        let oa = RequestSpec { format: Format::OpenAi, stream: false, ..spec.clone() };
        let s = String::from_utf8(oa.bytes(&t).to_vec()).unwrap();
        assert!(s.contains("authorization: Bearer k-123\r\n") && !s.contains("x-api-key"));
        // An agent turn ends in the prompt, in either format.
        for format in [Format::Claude, Format::OpenAi] {
            let agent = RequestSpec { format, agent: true, ..spec.clone() };
            let v: serde_json::Value = serde_json::from_slice(&agent.body()).unwrap();
            let last = &v["messages"].as_array().unwrap().last().unwrap()["content"];
            let text = if format == Format::Claude { &last[1]["text"] } else { last };
            assert_eq!(text, "hi \"x\"");
            assert!(v["tools"].as_array().unwrap().len() > 10 && agent.body().len() > 50_000);
        }
    }
}
