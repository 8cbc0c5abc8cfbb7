//! The grok.com web surface (reference part B): `POST {web_base_url}/rest/app-chat/conversations/new`
//! with the account's own `sso` cookie (and any extra cookies the operator pasted), answered as
//! NDJSON.
//!
//! - The canonical conversation is flattened into one prompt ([`prompt`], `grok::flatten`),
//!   with the tool instruction block when tools are declared; `modeId` is the model's
//!   `upstream_id` (`fast`, `auto`, `expert`, `heavy`); temperature, top_p and a named effort
//!   go into `modelConfigOverride`.
//! - The answer is read with the upstream client's NDJSON reader and decoded by
//!   [`super::web_decode::WebDecoder`].
//! - A non-2xx answer is classified by `classify_web` (B.9): 401 auth, 403 blocked / challenge /
//!   model, 429 per-account or team, 5xx server. The response head's `x-ratelimit-*` windows
//!   (B.7) are recorded on the account ([`super::read_head`]); a plain 429 then cools the account
//!   until its window resets.
//! - A body that breaks off (reset, idle timeout) ends the answer with a `network` error: before
//!   anything reached the client the lifecycle may try another account; after, the client gets
//!   an in-stream error. A body that ends cleanly without the final message is taken as complete
//!   (B.4: the concatenated tokens are the answer).
//!
//! Not done here: image/file attachments (upload-file, B.2) are not uploaded; image parts only
//! count as attachments in the prompt rules. Generated images belong to the images step.

use super::web_decode::WebDecoder;
use super::{GrokChannel, Target};
use crate::channel::{AttemptError, StreamItem};
use crate::domain::FailureClass;
use crate::grok::classify::classify_web;
use crate::grok::flatten::{self, Flattened, Item, ToolSetup, ToolSpec, Turn};
use crate::grok::ndjson::decode_line;
use crate::grok::tool_markup::ToolPolicy;
use crate::grok::web_request::{self, CONVERSATIONS_NEW_PATH, ModelConfigOverride, WebChatRequest};
use crate::translate::CanonicalRequest;
use crate::translate::canonical::{Block, Role, Text, ToolChoice};
use crate::upstream::ndjson::NdjsonReader;
use crate::upstream::{Request, ResponseBody};
use std::borrow::Cow;

const SURFACE: &str = "grok.com";

/// Starts one web chat.
pub async fn start(
    ch: &GrokChannel,
    target: &Target<'_>,
    sso: &str,
    cookies: Option<&str>,
    req: &CanonicalRequest,
) -> Result<WebStream, AttemptError> {
    let (account, model) = (target.account, target.model);
    let (flat, policy) = prompt(req);
    let effort = req.effort.as_deref().map(str::to_ascii_lowercase);
    let mut chat = WebChatRequest::new(&flat.prompt, model.upstream());
    chat.overrides =
        ModelConfigOverride { temperature: req.temperature, top_p: req.top_p, reasoning_effort: effort.as_deref() };
    let url = format!("{}{CONVERSATIONS_NEW_PATH}", ch.web_base_url);
    let headers = web_request::headers(&ch.web_base_url, "/", sso, cookies).map_err(|e| {
        AttemptError::new(FailureClass::Auth, format!("grok account {} has unusable web credentials: {e}", account.id))
    })?;
    let mut http = Request::post(&url, chat.to_json())
        .map_err(|e| super::transport_error(SURFACE, &e))?
        .options(super::request_options(account));
    for (name, value) in headers {
        http = http.header(name, value);
    }
    let resp = ch.client().send(http).await.map_err(|e| super::transport_error(SURFACE, &e))?;
    let hints = super::read_head(&resp.head, target.state);
    if !(200..300).contains(&resp.status()) {
        return Err(super::http_error(SURFACE, resp, &hints, classify_web).await);
    }
    let input = u64::try_from(flat.prompt.len().div_ceil(4)).unwrap_or(u64::MAX);
    Ok(WebStream {
        body: Some(resp.body),
        reader: NdjsonReader::default(),
        dec: WebDecoder::new(&model.id, policy, input),
    })
}

/// The flattened prompt of a request and the tool policy its answer is parsed with.
pub fn prompt(req: &CanonicalRequest) -> (Flattened, ToolPolicy) {
    // Tool-result texts are gathered first so the flatten items can borrow them.
    let results: Vec<Vec<String>> = req
        .messages
        .iter()
        .map(|m| {
            m.content
                .iter()
                .filter_map(|b| match b {
                    Block::ToolResult { content, is_error, .. } => {
                        let mut t = content
                            .iter()
                            .filter_map(|c| if let Block::Text(t) = c { Some(t.text()) } else { None })
                            .collect::<Vec<_>>()
                            .join("\n");
                        if *is_error {
                            t.insert_str(0, "Error: ");
                        }
                        Some(t)
                    }
                    _ => None,
                })
                .collect()
        })
        .collect();
    // The text blocks' text (unescaped where the client escaped something), in order.
    let plain: Vec<Vec<Cow<'_, str>>> = req
        .messages
        .iter()
        .map(|m| m.content.iter().filter_map(|b| if let Block::Text(t) = b { Some(t.text()) } else { None }).collect())
        .collect();
    let system: Vec<Cow<'_, str>> = req.system.iter().map(Text::text).collect();
    let mut turns: Vec<Turn<'_>> = Vec::with_capacity(req.messages.len() + 1);
    if !system.is_empty() {
        turns.push(Turn { role: flatten::Role::System, items: system.iter().map(|s| Item::Text(s)).collect() });
    }
    for ((m, texts), plain) in req.messages.iter().zip(&results).zip(&plain) {
        let mut texts = texts.iter();
        let mut plain = plain.iter();
        let items = m
            .content
            .iter()
            .filter_map(|b| match b {
                Block::Text(_) => Some(Item::Text(plain.next().map_or("", |t| t))),
                Block::Image(_) => Some(Item::Attachment),
                Block::ToolUse { id, name, input } => Some(Item::ToolUse { id, name, arguments: input }),
                Block::ToolResult { tool_use_id, .. } => Some(Item::ToolResult {
                    id: tool_use_id,
                    name: None,
                    content: texts.next().map_or("", String::as_str),
                }),
                Block::Thinking { .. } | Block::RedactedThinking { .. } => None,
            })
            .collect();
        let role = match m.role {
            Role::User => flatten::Role::User,
            Role::Assistant => flatten::Role::Assistant,
        };
        turns.push(Turn { role, items });
    }
    let specs: Vec<ToolSpec<'_>> = req
        .tools
        .iter()
        .map(|t| ToolSpec { name: &t.name, description: &t.description, parameters: t.parameters.as_str() })
        .collect();
    let choice = match &req.tool_choice {
        None | Some(ToolChoice::Auto) => flatten::ToolChoice::Auto,
        Some(ToolChoice::None) => flatten::ToolChoice::None,
        Some(ToolChoice::Any) => flatten::ToolChoice::Required,
        Some(ToolChoice::Tool(n)) => flatten::ToolChoice::Function(n),
    };
    let setup = ToolSetup { tools: &specs, choice, parallel: req.parallel_tool_calls.unwrap_or(true) };
    let flat = flatten::flatten(&turns, &setup);
    let tools_on = !req.tools.is_empty() && !matches!(req.tool_choice, Some(ToolChoice::None));
    let policy = ToolPolicy {
        declared: if tools_on { req.tools.iter().map(|t| t.name.clone()).collect() } else { Vec::new() },
        forced: match &req.tool_choice {
            Some(ToolChoice::Tool(n)) => Some(n.clone()),
            _ => None,
        },
    };
    (flat, policy)
}

/// A web answer in progress.
#[derive(Debug)]
pub struct WebStream {
    body: Option<ResponseBody>,
    reader: NdjsonReader,
    dec: WebDecoder,
}

impl WebStream {
    pub async fn next(&mut self) -> Option<Result<StreamItem, AttemptError>> {
        loop {
            if let Some(item) = self.dec.pop() {
                return Some(item);
            }
            if self.dec.ended() {
                return None;
            }
            let body = self.body.as_mut()?;
            match body.chunk().await {
                Ok(Some(chunk)) => {
                    self.reader.feed(&chunk);
                    self.drain();
                }
                Ok(None) => {
                    self.body = None;
                    match self.reader.finish() {
                        Ok(Some(line)) => self.dec.line(decode_line(line)),
                        Ok(None) => {}
                        Err(e) => self.dec.fail(AttemptError::new(FailureClass::Server, format!("{SURFACE}: {e}"))),
                    }
                    self.dec.finish();
                }
                Err(e) => {
                    self.body = None;
                    self.dec.fail(super::transport_error(SURFACE, &e));
                }
            }
        }
    }

    fn drain(&mut self) {
        while !self.dec.ended() {
            match self.reader.next_line() {
                Ok(Some(line)) => self.dec.line(decode_line(line)),
                Ok(None) => return,
                Err(e) => {
                    self.dec.fail(AttemptError::new(FailureClass::Server, format!("{SURFACE}: {e}")));
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::translate::canonical::{Message, Tool};

    #[test]
    fn prompt_flattens_history_and_tools() {
        let req = CanonicalRequest {
            system: vec!["be brief".into()],
            messages: vec![
                Message { role: Role::User, content: vec![Block::Text("weather in Paris?".into())] },
                Message {
                    role: Role::Assistant,
                    content: vec![Block::ToolUse {
                        id: "call_1".into(),
                        name: "get_weather".into(),
                        input: r#"{"city":"Paris"}"#.into(),
                    }],
                },
                Message {
                    role: Role::User,
                    content: vec![Block::ToolResult {
                        tool_use_id: "call_1".into(),
                        content: vec![Block::Text("sunny".into())],
                        is_error: false,
                    }],
                },
            ],
            tools: vec![Tool {
                name: "get_weather".into(),
                description: "Weather now.".into(),
                parameters: crate::translate::canonical::Json::any_object(),
            }]
            .into(),
            ..CanonicalRequest::default()
        };
        let (flat, policy) = prompt(&req);
        assert!(flat.prompt.starts_with(flatten::TOOL_BLOCK_HEADING), "{}", flat.prompt);
        assert!(flat.prompt.contains("system: be brief"));
        assert!(
            flat.prompt.contains(r#"<tool_call>{"name":"get_weather","arguments":{"city":"Paris"}}</tool_call>"#),
            "{}",
            flat.prompt
        );
        assert!(flat.prompt.contains("tool (get_weather, call_1): sunny"), "{}", flat.prompt);
        assert_eq!(policy.declared, vec!["get_weather".to_owned()]);
        let none = CanonicalRequest { tool_choice: Some(ToolChoice::None), ..req };
        let (flat, policy) = prompt(&none);
        assert!(!flat.prompt.contains(flatten::TOOL_BLOCK_HEADING));
        assert!(policy.declared.is_empty());
    }
}
