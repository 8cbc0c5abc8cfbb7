//! One grok.com app-chat NDJSON line -> one [`GrokWebEvent`] (reference B.4).
//!
//! The answer to `POST /rest/app-chat/conversations/new` is one JSON object per line. Useful
//! lines are `{"result":{"response":{…}}}`; the first is usually `{"result":{"conversation":…}}`.
//! [`decode_line`] turns one line into the one thing the driver cares about, borrowing text from
//! the line whenever it has no JSON escapes (`Cow::Borrowed`), so a token line costs no
//! allocation. Unknown fields are skipped everywhere; a line that is not a JSON object is an
//! [`NdjsonError`] (the driver ends the stream with an upstream error, B.4 "malformed lines").
//!
//! Which event a line yields, first match wins: top-level `error` -> [`GrokWebEvent::Error`];
//! `result.conversation` -> `Conversation`; inside `result.response`: `userResponse.streamErrors`
//! or `renderToolRateLimited` -> `Error`; `modelResponse` -> `Final`; a non-empty `token` ->
//! `Token`; `streamingImageGenerationResponse` -> `ImageProgress`;
//! `streamingVideoGenerationResponse` -> `VideoProgress`; a `cardAttachment` whose `jsonData`
//! holds an `image_chunk` -> `ImageProgress`; `finalMetadata` naming image URLs -> `Assets`;
//! anything else -> `Ignored`.
//!
//! Error handling: never panics on any input (fuzzed by `fuzz_targets/grok_ndjson.rs`). The
//! error paths (stream errors, card JSON) use `serde_json::Value`; the token path does not.

use serde::Deserialize;
use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// What one NDJSON line means.
#[derive(Debug, Clone, PartialEq)]
pub enum GrokWebEvent<'a> {
    /// `{"result":{"conversation":{"conversationId":…}}}`.
    Conversation {
        id: Cow<'a, str>,
    },
    /// A text delta; `is_thinking` marks reasoning, not answer text.
    Token {
        text: Cow<'a, str>,
        is_thinking: bool,
        /// Display hint (`final`, `header`, `tool_usage_card`, …).
        message_tag: Option<Cow<'a, str>>,
        response_id: Option<Cow<'a, str>>,
    },
    /// The final snapshot (`modelResponse`).
    Final(FinalMessage<'a>),
    ImageProgress(ImageProgress<'a>),
    VideoProgress(VideoProgress<'a>),
    /// Asset paths named by `finalMetadata` (relative to the asset host, or absolute URLs).
    Assets {
        urls: Vec<String>,
    },
    /// An error reported inside the 200 stream.
    Error(WebStreamError),
    /// Anything else (user echo, metadata, keep-alives, blank lines).
    Ignored,
}

/// `modelResponse`: the whole answer once more, plus metadata.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FinalMessage<'a> {
    pub response_id: Option<Cow<'a, str>>,
    /// The full answer text (may include web-UI markup; see [`super::web_text`]).
    pub message: Cow<'a, str>,
    pub generated_image_urls: Vec<Cow<'a, str>>,
    /// `streamErrors`, each as readable text; empty on success.
    pub stream_errors: Vec<String>,
    /// `metadata.llm_info.modelHash` (usable as `system_fingerprint`).
    pub model_hash: Option<Cow<'a, str>>,
}

/// `streamingImageGenerationResponse`, or an `image_chunk` from a card attachment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageProgress<'a> {
    pub image_index: u32,
    /// 0..=100.
    pub progress: u32,
    pub image_url: Option<Cow<'a, str>>,
    pub asset_id: Option<Cow<'a, str>>,
    pub user_id: Option<Cow<'a, str>>,
    pub moderated: bool,
}

impl ImageProgress<'_> {
    /// The asset path: `imageUrl`, else `users/<userId>/<assetId>/content` (B.4).
    pub fn asset_path(&self) -> Option<Cow<'_, str>> {
        if let Some(u) = self.image_url.as_deref().filter(|u| !u.is_empty()) {
            return Some(Cow::Borrowed(u));
        }
        match (self.user_id.as_deref(), self.asset_id.as_deref()) {
            (Some(user), Some(asset)) if !user.is_empty() && !asset.is_empty() => {
                Some(Cow::Owned(format!("users/{user}/{asset}/content")))
            }
            _ => None,
        }
    }

    /// A finished, unmoderated, full-resolution image (not a `-part-0` preview).
    pub fn is_final(&self) -> bool {
        self.progress >= 100 && !self.moderated && self.asset_path().is_some_and(|p| !p.contains("-part-0"))
    }
}

/// `streamingVideoGenerationResponse`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VideoProgress<'a> {
    pub progress: u32,
    pub video_url: Option<Cow<'a, str>>,
    pub thumbnail_image_url: Option<Cow<'a, str>>,
    pub video_post_id: Option<Cow<'a, str>>,
}

/// Where an in-stream error came from, which decides what it means (B.4, B.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebErrorKind {
    /// A top-level `{"error":{…}}` line.
    TopLevel,
    /// `userResponse.streamErrors`.
    Stream,
    /// `renderToolRateLimited` or an "image generation limit" message: this account's image
    /// quota is used up (switch account for images).
    ImageRateLimited,
}

/// An error reported inside a 200 NDJSON stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebStreamError {
    pub kind: WebErrorKind,
    pub code: Option<String>,
    pub message: String,
}

impl fmt::Display for WebStreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Whether an error text is the per-account image quota (B.4).
pub fn is_image_limit_text(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("rendertoolratelimited")
        || lower.contains("image generation limit")
        || lower.contains("try again later")
}

/// A line that cannot be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NdjsonError {
    /// Not JSON at all (or truncated); the message is serde's, the column where it broke.
    NotJson { column: usize, message: String },
    /// Valid JSON but not an object (`[…]`, a number, …).
    NotObject,
}

impl fmt::Display for NdjsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotJson { column, message } => {
                write!(f, "grok NDJSON line is not valid JSON (column {column}): {message}")
            }
            Self::NotObject => f.write_str("grok NDJSON line is not a JSON object"),
        }
    }
}

impl std::error::Error for NdjsonError {}

// ---- wire shapes (private; unknown fields are skipped) ----

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    result: Option<ResultObj<'a>>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ResultObj<'a> {
    #[serde(borrow, default)]
    response: Option<Response<'a>>,
    #[serde(borrow, default)]
    conversation: Option<Conversation<'a>>,
}

#[derive(Deserialize)]
struct Conversation<'a> {
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "conversationId")]
    conversation_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[expect(clippy::struct_field_names, reason = "mirrors the upstream's field names")]
struct Response<'a> {
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow")]
    token: Option<Cow<'a, str>>,
    #[serde(default, rename = "isThinking")]
    is_thinking: Option<bool>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "messageTag")]
    message_tag: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "responseId")]
    response_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "modelResponse")]
    model_response: Option<ModelResponse<'a>>,
    #[serde(default, rename = "userResponse")]
    user_response: Option<UserResponse>,
    #[serde(borrow, default, rename = "streamingImageGenerationResponse")]
    image: Option<ImageWire<'a>>,
    #[serde(borrow, default, rename = "streamingVideoGenerationResponse")]
    video: Option<VideoWire<'a>>,
    #[serde(borrow, default, rename = "cardAttachment")]
    card: Option<Card<'a>>,
    #[serde(default, rename = "finalMetadata")]
    final_metadata: Option<Value>,
    #[serde(default, rename = "renderToolRateLimited")]
    render_tool_rate_limited: Option<Value>,
}

#[derive(Deserialize)]
struct ModelResponse<'a> {
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "responseId")]
    response_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow")]
    message: Option<Cow<'a, str>>,
    #[serde(borrow, default, rename = "generatedImageUrls")]
    generated_image_urls: Option<Vec<Cow<'a, str>>>,
    #[serde(default, rename = "streamErrors")]
    stream_errors: Option<Vec<Value>>,
    #[serde(borrow, default)]
    metadata: Option<Metadata<'a>>,
}

#[derive(Deserialize)]
struct Metadata<'a> {
    #[serde(borrow, default)]
    llm_info: Option<LlmInfo<'a>>,
}

#[derive(Deserialize)]
struct LlmInfo<'a> {
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "modelHash")]
    model_hash: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct UserResponse {
    #[serde(default, rename = "streamErrors")]
    stream_errors: Option<Vec<Value>>,
}

#[derive(Deserialize)]
struct ImageWire<'a> {
    #[serde(default, rename = "imageIndex")]
    image_index: Option<f64>,
    #[serde(default)]
    progress: Option<f64>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "imageUrl")]
    image_url: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "assetId")]
    asset_id: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "userId")]
    user_id: Option<Cow<'a, str>>,
    #[serde(default)]
    moderated: Option<bool>,
    #[serde(default, rename = "isModerated")]
    is_moderated: Option<bool>,
}

#[derive(Deserialize)]
struct VideoWire<'a> {
    #[serde(default)]
    progress: Option<f64>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "videoUrl")]
    video_url: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "thumbnailImageUrl")]
    thumbnail_image_url: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "videoPostId")]
    video_post_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct Card<'a> {
    #[serde(borrow, default, deserialize_with = "super::cow::opt_cow", rename = "jsonData")]
    json_data: Option<Cow<'a, str>>,
}

#[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "clamped to 0..=u32::MAX first")]
fn to_u32(v: Option<f64>) -> u32 {
    v.filter(|f| f.is_finite()).map_or(0, |f| f.clamp(0.0, f64::from(u32::MAX)) as u32)
}

/// Decodes one NDJSON line (without or with its trailing newline).
pub fn decode_line(line: &[u8]) -> Result<GrokWebEvent<'_>, NdjsonError> {
    let first = line.iter().position(|b| !b.is_ascii_whitespace());
    let Some(first) = first else {
        return Ok(GrokWebEvent::Ignored);
    };
    if line.get(first) != Some(&b'{') {
        // Tell "some other JSON value" apart from garbage for a clearer message.
        return match serde_json::from_slice::<serde::de::IgnoredAny>(line) {
            Ok(_) => Err(NdjsonError::NotObject),
            Err(e) => Err(NdjsonError::NotJson { column: e.column(), message: e.to_string() }),
        };
    }
    let parsed: Line<'_> = serde_json::from_slice(line)
        .map_err(|e| NdjsonError::NotJson { column: e.column(), message: e.to_string() })?;
    if let Some(err) = parsed.error {
        return Ok(GrokWebEvent::Error(top_level_error(&err)));
    }
    let Some(result) = parsed.result else {
        return Ok(GrokWebEvent::Ignored);
    };
    if let Some(resp) = result.response {
        return Ok(from_response(resp));
    }
    if let Some(id) = result.conversation.and_then(|c| c.conversation_id) {
        return Ok(GrokWebEvent::Conversation { id });
    }
    Ok(GrokWebEvent::Ignored)
}

fn from_response(resp: Response<'_>) -> GrokWebEvent<'_> {
    if let Some(errs) = resp.user_response.and_then(|u| u.stream_errors).filter(|e| !e.is_empty()) {
        let texts: Vec<String> = errs.iter().map(value_text).collect();
        let joined = texts.join("; ");
        let kind = if is_image_limit_text(&joined) { WebErrorKind::ImageRateLimited } else { WebErrorKind::Stream };
        return GrokWebEvent::Error(WebStreamError { kind, code: first_code(&errs), message: joined });
    }
    if resp.render_tool_rate_limited.as_ref().is_some_and(truthy) {
        return GrokWebEvent::Error(WebStreamError {
            kind: WebErrorKind::ImageRateLimited,
            code: Some("renderToolRateLimited".to_owned()),
            message: "image generation limit reached for this account".to_owned(),
        });
    }
    if let Some(m) = resp.model_response {
        return GrokWebEvent::Final(FinalMessage {
            response_id: m.response_id.or(resp.response_id),
            message: m.message.unwrap_or_default(),
            generated_image_urls: m.generated_image_urls.unwrap_or_default(),
            stream_errors: m.stream_errors.unwrap_or_default().iter().map(value_text).collect(),
            model_hash: m.metadata.and_then(|md| md.llm_info).and_then(|l| l.model_hash),
        });
    }
    if let Some(text) = resp.token.filter(|t| !t.is_empty()) {
        return GrokWebEvent::Token {
            text,
            is_thinking: resp.is_thinking.unwrap_or(false),
            message_tag: resp.message_tag,
            response_id: resp.response_id,
        };
    }
    if let Some(img) = resp.image {
        return GrokWebEvent::ImageProgress(ImageProgress {
            image_index: to_u32(img.image_index),
            progress: to_u32(img.progress),
            image_url: img.image_url,
            asset_id: img.asset_id,
            user_id: img.user_id,
            moderated: img.moderated.unwrap_or(false) || img.is_moderated.unwrap_or(false),
        });
    }
    if let Some(v) = resp.video {
        return GrokWebEvent::VideoProgress(VideoProgress {
            progress: to_u32(v.progress),
            video_url: v.video_url,
            thumbnail_image_url: v.thumbnail_image_url,
            video_post_id: v.video_post_id,
        });
    }
    if let Some(p) = resp.card.and_then(|c| c.json_data).and_then(|j| card_image_chunk(&j)) {
        return GrokWebEvent::ImageProgress(p);
    }
    if let Some(md) = resp.final_metadata {
        let mut urls = Vec::new();
        collect_image_urls(&md, &mut urls, 0);
        if !urls.is_empty() {
            return GrokWebEvent::Assets { urls };
        }
    }
    GrokWebEvent::Ignored
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty() && s != "false",
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::Array(a) => !a.is_empty(),
        Value::Object(_) => true,
    }
}

/// A stream error entry as text: a string itself, else its `message`, else its JSON.
fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => match m.get("message").or_else(|| m.get("error")) {
            Some(Value::String(s)) => s.clone(),
            Some(inner @ Value::Object(_)) => value_text(inner),
            _ => v.to_string(),
        },
        other => other.to_string(),
    }
}

fn first_code(errs: &[Value]) -> Option<String> {
    errs.iter().find_map(|e| match e.get("code") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn top_level_error(err: &Value) -> WebStreamError {
    let (code, message) = match err {
        Value::Object(m) => {
            let code = match m.get("code") {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            (code, value_text(err))
        }
        other => (None, value_text(other)),
    };
    let kind = if is_image_limit_text(&message) { WebErrorKind::ImageRateLimited } else { WebErrorKind::TopLevel };
    WebStreamError { kind, code, message }
}

/// `cardAttachment.jsonData` is JSON in a string; it may hold `image_chunk{…}` (B.4).
fn card_image_chunk(json: &str) -> Option<ImageProgress<'static>> {
    let v: Value = serde_json::from_str(json).ok()?;
    let chunk = v.get("image_chunk")?;
    let s = |k: &str| chunk.get(k).and_then(Value::as_str).map(|s| Cow::Owned(s.to_owned()));
    let n = |k: &str| chunk.get(k).and_then(Value::as_f64);
    Some(ImageProgress {
        image_index: to_u32(n("imageIndex")),
        progress: to_u32(n("progress")),
        image_url: s("imageUrl"),
        asset_id: s("assetId"),
        user_id: s("userId"),
        moderated: chunk.get("moderated").is_some_and(truthy) || chunk.get("isModerated").is_some_and(truthy),
    })
}

/// Every `imageUrl` string and `generatedImageUrls`/`imageUrls` entry under `v` (bounded depth).
fn collect_image_urls(v: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 8 {
        return;
    }
    match v {
        Value::Object(m) => {
            for (k, val) in m {
                match (k.as_str(), val) {
                    ("imageUrl", Value::String(s)) if !s.is_empty() => push_unique(out, s),
                    ("generatedImageUrls" | "imageUrls", Value::Array(a)) => {
                        for s in a.iter().filter_map(Value::as_str).filter(|s| !s.is_empty()) {
                            push_unique(out, s);
                        }
                    }
                    _ => collect_image_urls(val, out, depth + 1),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| collect_image_urls(x, out, depth + 1)),
        _ => {}
    }
}

fn push_unique(out: &mut Vec<String>, s: &str) {
    if !out.iter().any(|x| x == s) {
        out.push(s.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: &str) -> GrokWebEvent<'_> {
        decode_line(line.as_bytes()).unwrap()
    }

    #[test]
    fn reference_text_example() {
        assert_eq!(
            ev(r#"{"result":{"conversation":{"conversationId":"c-1"}}}"#),
            GrokWebEvent::Conversation { id: "c-1".into() }
        );
        let GrokWebEvent::Token { text, is_thinking, message_tag, response_id } =
            ev(r#"{"result":{"response":{"token":"Let me think","isThinking":true,"responseId":"r-1"}}}"#)
        else {
            panic!("not a token")
        };
        assert_eq!(
            (text.as_ref(), is_thinking, message_tag, response_id.as_deref()),
            ("Let me think", true, None, Some("r-1"))
        );
        let GrokWebEvent::Final(f) = ev(
            r#"{"result":{"response":{"modelResponse":{"responseId":"r-1","message":"Hello world","generatedImageUrls":[],"metadata":{"llm_info":{"modelHash":"abc123"}}}}}}"#,
        ) else {
            panic!("not final")
        };
        assert_eq!(f.message, "Hello world");
        assert_eq!(f.model_hash.as_deref(), Some("abc123"));
        assert_eq!(f.response_id.as_deref(), Some("r-1"));
        assert!(f.stream_errors.is_empty());
    }

    #[test]
    fn plain_tokens_borrow_and_escaped_tokens_own() {
        let line = r#"{"result":{"response":{"token":"Hello","isThinking":false}}}"#;
        let GrokWebEvent::Token { text, .. } = ev(line) else { panic!() };
        assert!(matches!(text, Cow::Borrowed("Hello")));
        let line = r#"{"result":{"response":{"token":"a\nb \u00e9"}}}"#;
        let GrokWebEvent::Token { text, is_thinking, .. } = ev(line) else { panic!() };
        assert_eq!(text, "a\nb é");
        assert!(!is_thinking);
    }

    #[test]
    fn skips_unknown_and_empty() {
        assert_eq!(
            ev(r#"{"result":{"response":{"userResponse":{"message":"hi"},"x":[1,{"y":2}]}}}"#),
            GrokWebEvent::Ignored
        );
        assert_eq!(ev(r#"{"result":{"response":{"token":""}}}"#), GrokWebEvent::Ignored);
        assert_eq!(ev(r#"{"other":1}"#), GrokWebEvent::Ignored);
        assert_eq!(ev("   \r\n"), GrokWebEvent::Ignored);
        assert_eq!(
            ev("{\"result\":{\"response\":{\"token\":\"x\"}}}\n").clone(),
            ev(r#"{"result":{"response":{"token":"x"}}}"#)
        );
    }

    #[test]
    fn malformed_lines_are_errors() {
        assert!(matches!(decode_line(b"not json"), Err(NdjsonError::NotJson { .. })));
        assert!(matches!(decode_line(br#"{"result":{"response":{"tok"#), Err(NdjsonError::NotJson { .. })));
        assert_eq!(decode_line(b"[1,2]"), Err(NdjsonError::NotObject));
        assert_eq!(decode_line(b"42"), Err(NdjsonError::NotObject));
        assert!(matches!(decode_line(br#"{"result":{"response":{"token":5}}}"#), Err(NdjsonError::NotJson { .. })));
        let msg = decode_line(b"{oops").unwrap_err().to_string();
        assert!(msg.contains("not valid JSON"), "{msg}");
    }

    #[test]
    fn errors_in_stream() {
        let GrokWebEvent::Error(e) = ev(r#"{"error":{"code":"internal","message":"boom"}}"#) else { panic!() };
        assert_eq!((e.kind, e.code.as_deref(), e.message.as_str()), (WebErrorKind::TopLevel, Some("internal"), "boom"));
        let GrokWebEvent::Error(e) =
            ev(r#"{"result":{"response":{"userResponse":{"streamErrors":[{"code":"x","message":"bad"}]}}}}"#)
        else {
            panic!()
        };
        assert_eq!((e.kind, e.message.as_str()), (WebErrorKind::Stream, "bad"));
        let GrokWebEvent::Error(e) = ev(r#"{"result":{"response":{"renderToolRateLimited":true}}}"#) else { panic!() };
        assert_eq!(e.kind, WebErrorKind::ImageRateLimited);
        assert_eq!(ev(r#"{"result":{"response":{"renderToolRateLimited":false}}}"#), GrokWebEvent::Ignored);
        let GrokWebEvent::Error(e) = ev(r#"{"error":"You have reached your image generation limit"}"#) else {
            panic!()
        };
        assert_eq!(e.kind, WebErrorKind::ImageRateLimited);
        let GrokWebEvent::Final(f) =
            ev(r#"{"result":{"response":{"modelResponse":{"message":"","streamErrors":["oops",{"message":"m"}]}}}}"#)
        else {
            panic!()
        };
        assert_eq!(f.stream_errors, ["oops", "m"]);
    }

    #[test]
    fn images_and_assets() {
        let GrokWebEvent::ImageProgress(p) = ev(
            r#"{"result":{"response":{"streamingImageGenerationResponse":{"imageIndex":0,"progress":50,"imageUrl":"users/u1/generated/a1/image-part-0.jpg"}}}}"#,
        ) else {
            panic!()
        };
        assert_eq!((p.progress, p.is_final()), (50, false));
        let GrokWebEvent::ImageProgress(p) = ev(
            r#"{"result":{"response":{"streamingImageGenerationResponse":{"imageIndex":1,"progress":100.0,"assetId":"a9","userId":"u1"}}}}"#,
        ) else {
            panic!()
        };
        assert_eq!(p.image_index, 1);
        assert_eq!(p.asset_path().as_deref(), Some("users/u1/a9/content"));
        assert!(p.is_final());
        let GrokWebEvent::ImageProgress(p) = ev(
            r#"{"result":{"response":{"streamingImageGenerationResponse":{"progress":100,"imageUrl":"x.jpg","moderated":true}}}}"#,
        ) else {
            panic!()
        };
        assert!(!p.is_final());
        let card = r#"{"result":{"response":{"cardAttachment":{"jsonData":"{\"image_chunk\":{\"imageUrl\":\"users/u/c.jpg\",\"progress\":100}}"}}}}"#;
        let GrokWebEvent::ImageProgress(p) = ev(card) else { panic!() };
        assert_eq!(p.image_url.as_deref(), Some("users/u/c.jpg"));
        let md = r#"{"result":{"response":{"finalMetadata":{"imageGenerationResponse":{"imageUrls":["a.jpg","b.jpg"]},"x":{"image_chunk":{"imageUrl":"a.jpg"}}}}}}"#;
        assert_eq!(ev(md), GrokWebEvent::Assets { urls: vec!["a.jpg".into(), "b.jpg".into()] });
        let GrokWebEvent::VideoProgress(v) =
            ev(r#"{"result":{"response":{"streamingVideoGenerationResponse":{"progress":100,"videoUrl":"v.mp4"}}}}"#)
        else {
            panic!()
        };
        assert_eq!(v.video_url.as_deref(), Some("v.mp4"));
    }
}
