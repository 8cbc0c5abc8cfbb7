//! The grok.com chat request (reference B.1, B.3): the `conversations/new` JSON payload and the
//! plain headers that go with it.
//!
//! What is sent, and only this: `Content-Type: application/json`, `Accept: */*`, `Origin` and
//! `Referer` of the configured web base URL, a fresh random `x-xai-request-id`, and a `Cookie`
//! made of the operator's own `sso` token (as `sso` and `sso-rw`) followed by whatever extra
//! cookies the operator pasted into the account, verbatim. Nothing browser-like is invented:
//! no anti-bot tokens, no fingerprint headers, no user-agent games. Values that would break the
//! header (control characters, `;` inside the token) are refused with a [`WebRequestError`].

use serde::Serialize;
use std::fmt;

/// Chat endpoint path under the web base URL.
pub const CONVERSATIONS_NEW_PATH: &str = "/rest/app-chat/conversations/new";
/// Quota probe path under the web base URL.
pub const RATE_LIMITS_PATH: &str = "/rest/rate-limits";

/// Why a request could not be built from an account's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebRequestError {
    /// The account has no `sso` value.
    MissingSso,
    /// The `sso` value has characters a cookie value cannot carry.
    BadSso,
    /// The extra cookie string has control characters.
    BadCookies,
}

impl fmt::Display for WebRequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::MissingSso => "grok web account has no \"sso\" credential",
            Self::BadSso => "grok web \"sso\" credential contains characters a cookie cannot carry (;, spaces, quotes or control characters)",
            Self::BadCookies => "grok web \"cookies\" credential contains control characters",
        })
    }
}

impl std::error::Error for WebRequestError {}

/// The `Cookie` value: `sso=<t>; sso-rw=<t>` then the operator's extra cookies (any `sso` /
/// `sso-rw` pairs in them are dropped so the account's token is the one sent).
pub fn cookie_header(sso: &str, extra_cookies: Option<&str>) -> Result<String, WebRequestError> {
    let sso = sso.trim();
    if sso.is_empty() {
        return Err(WebRequestError::MissingSso);
    }
    if sso.bytes().any(|b| b.is_ascii_control() || matches!(b, b';' | b' ' | b'"' | b',' | b'\\')) {
        return Err(WebRequestError::BadSso);
    }
    let mut out = format!("sso={sso}; sso-rw={sso}");
    if let Some(extra) = extra_cookies {
        if extra.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(WebRequestError::BadCookies);
        }
        for pair in extra.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
            if name == "sso" || name == "sso-rw" {
                continue;
            }
            out.push_str("; ");
            out.push_str(pair);
        }
    }
    Ok(out)
}

/// Every header of a web request, in order. `referer_path` is `/` for chat.
pub fn headers(
    web_base_url: &str,
    referer_path: &str,
    sso: &str,
    extra_cookies: Option<&str>,
) -> Result<Vec<(&'static str, String)>, WebRequestError> {
    let origin = web_base_url.trim_end_matches('/');
    let path = if referer_path.starts_with('/') { referer_path } else { "/" };
    Ok(vec![
        ("content-type", "application/json".to_owned()),
        ("accept", "*/*".to_owned()),
        ("origin", origin.to_owned()),
        ("referer", format!("{origin}{path}")),
        ("x-xai-request-id", super::ids::uuid_v4()),
        ("cookie", cookie_header(sso, extra_cookies)?),
    ])
}

/// Sampling overrides from the client request (`responseMetadata.modelConfigOverride`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ModelConfigOverride<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(rename = "topP", skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Lower-case (`low` / `medium` / `high`).
    #[serde(rename = "reasoningEffort", skip_serializing_if = "Option::is_none")]
    pub reasoning_effort: Option<&'a str>,
}

/// Extra fields for image/video models (B.8); text models leave this `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaModel<'a> {
    pub model_name: &'a str,
    /// The upstream model id (`requestModelDetails.modelId`).
    pub upstream_id: &'a str,
    /// `MODEL_MODE_FAST` / `_AUTO` / `_EXPERT` / `_HEAVY`.
    pub model_mode: &'a str,
    /// `basic` / `lite` / `super` / `heavy`.
    pub tier: &'a str,
    pub prefer_best: bool,
}

/// What the driver decides for one chat request; [`WebChatRequest::new`] gives the reference's
/// defaults.
#[derive(Debug, Clone, PartialEq)]
#[expect(clippy::struct_excessive_bools, reason = "mirrors the upstream payload's flags")]
pub struct WebChatRequest<'a> {
    /// The flattened prompt ([`super::flatten`]).
    pub message: &'a str,
    /// `fast` / `auto` / `expert` / `heavy` or a special mode.
    pub mode_id: &'a str,
    pub temporary: bool,
    pub disable_memory: bool,
    pub file_attachments: &'a [String],
    pub enable_image_generation: bool,
    pub image_generation_count: u32,
    pub disable_search: bool,
    pub overrides: ModelConfigOverride<'a>,
    pub media_model: Option<MediaModel<'a>>,
    /// `toolOverrides.imageGen` when images are explicitly requested.
    pub force_image_gen: bool,
    pub custom_personality: Option<&'a str>,
    /// Operator-supplied `deviceEnvInfo` object, forwarded as is; never invented.
    pub device_env_info: Option<&'a serde_json::Value>,
}

impl<'a> WebChatRequest<'a> {
    pub fn new(message: &'a str, mode_id: &'a str) -> Self {
        Self {
            message,
            mode_id,
            temporary: true,
            disable_memory: true,
            file_attachments: &[],
            enable_image_generation: true,
            image_generation_count: 2,
            disable_search: false,
            overrides: ModelConfigOverride::default(),
            media_model: None,
            force_image_gen: false,
            custom_personality: None,
            device_env_info: None,
        }
    }

    /// The JSON body.
    pub fn to_json(&self) -> Vec<u8> {
        let empty: [&str; 0] = [];
        let media = self.media_model;
        let wire = Wire {
            message: self.message,
            mode_id: self.mode_id,
            temporary: self.temporary,
            disable_memory: self.disable_memory,
            file_attachments: self.file_attachments,
            image_attachments: &empty,
            enable_image_generation: self.enable_image_generation,
            image_generation_count: self.image_generation_count,
            enable_image_streaming: true,
            return_image_bytes: false,
            disable_search: self.disable_search,
            send_final_metadata: true,
            is_reasoning: false,
            force_concise: false,
            force_side_by_side: false,
            is_async_chat: false,
            link_query: false,
            disable_text_follow_ups: false,
            return_raw_grok_in_xai_request: false,
            disable_self_harm_short_circuit: false,
            enable_side_by_side: true,
            collection_ids: &empty,
            disabled_connector_ids: &empty,
            response_metadata: ResponseMetadata {
                model_config_override: if media.is_some() { None } else { Some(self.overrides) },
                model_map: media.map(|_| EmptyObject {}),
                request_model_details: media.map(|m| RequestModelDetails { model_id: m.upstream_id }),
            },
            model_name: media.map(|m| m.model_name),
            model_mode: media.map(|m| m.model_mode),
            model_tier: media.map(|m| m.tier),
            prefer_best: media.map(|m| m.prefer_best),
            tool_overrides: self.force_image_gen.then_some(ToolOverrides { image_gen: true }),
            custom_personality: self.custom_personality,
            device_env_info: self.device_env_info,
        };
        serde_json::to_vec(&wire).unwrap_or_default()
    }
}

#[derive(Serialize)]
struct EmptyObject {}

#[derive(Serialize)]
struct RequestModelDetails<'a> {
    #[serde(rename = "modelId")]
    model_id: &'a str,
}

#[derive(Serialize)]
struct ToolOverrides {
    #[serde(rename = "imageGen")]
    image_gen: bool,
}

#[derive(Serialize)]
struct ResponseMetadata<'a> {
    #[serde(rename = "modelConfigOverride", skip_serializing_if = "Option::is_none")]
    model_config_override: Option<ModelConfigOverride<'a>>,
    #[serde(rename = "modelMap", skip_serializing_if = "Option::is_none")]
    model_map: Option<EmptyObject>,
    #[serde(rename = "requestModelDetails", skip_serializing_if = "Option::is_none")]
    request_model_details: Option<RequestModelDetails<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
#[expect(clippy::struct_excessive_bools, reason = "the upstream payload's flags")]
struct Wire<'a> {
    message: &'a str,
    mode_id: &'a str,
    temporary: bool,
    disable_memory: bool,
    file_attachments: &'a [String],
    image_attachments: &'a [&'a str],
    enable_image_generation: bool,
    image_generation_count: u32,
    enable_image_streaming: bool,
    return_image_bytes: bool,
    disable_search: bool,
    send_final_metadata: bool,
    is_reasoning: bool,
    force_concise: bool,
    force_side_by_side: bool,
    is_async_chat: bool,
    link_query: bool,
    disable_text_follow_ups: bool,
    return_raw_grok_in_xai_request: bool,
    disable_self_harm_short_circuit: bool,
    enable_side_by_side: bool,
    collection_ids: &'a [&'a str],
    disabled_connector_ids: &'a [&'a str],
    response_metadata: ResponseMetadata<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_mode: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    model_tier: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefer_best: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_overrides: Option<ToolOverrides>,
    #[serde(skip_serializing_if = "Option::is_none")]
    custom_personality: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    device_env_info: Option<&'a serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[test]
    fn cookie_rules() {
        assert_eq!(cookie_header("tok", None).unwrap(), "sso=tok; sso-rw=tok");
        assert_eq!(
            cookie_header(" tok ", Some("cf_clearance=abc; sso=old;  x=1 ;")).unwrap(),
            "sso=tok; sso-rw=tok; cf_clearance=abc; x=1"
        );
        assert_eq!(cookie_header("", None), Err(WebRequestError::MissingSso));
        assert_eq!(cookie_header("a;b", None), Err(WebRequestError::BadSso));
        assert_eq!(cookie_header("a\r\nX: y", None), Err(WebRequestError::BadSso));
        assert_eq!(cookie_header("a", Some("x=1\r\nEvil: 1")), Err(WebRequestError::BadCookies));
    }

    #[test]
    fn headers_are_plain_and_honest() {
        let h = headers("https://grok.com/", "/", "tok", None).unwrap();
        let names: Vec<_> = h.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["content-type", "accept", "origin", "referer", "x-xai-request-id", "cookie"]);
        let get = |n: &str| h.iter().find(|(k, _)| *k == n).map(|(_, v)| v.as_str()).unwrap();
        assert_eq!(get("origin"), "https://grok.com");
        assert_eq!(get("referer"), "https://grok.com/");
        assert_eq!(get("x-xai-request-id").len(), 36);
        let h2 = headers("https://grok.com", "/", "tok", None).unwrap();
        assert_ne!(h2[4].1, get("x-xai-request-id"));
    }

    #[test]
    fn payload_defaults_match_b3() {
        let files = vec!["f1".to_owned()];
        let mut req = WebChatRequest::new("user: hi", "expert");
        req.file_attachments = &files;
        req.overrides = ModelConfigOverride { temperature: Some(0.5), top_p: None, reasoning_effort: Some("high") };
        let v: Value = serde_json::from_slice(&req.to_json()).unwrap();
        assert_eq!(v["message"], "user: hi");
        assert_eq!(v["modeId"], "expert");
        assert_eq!(v["temporary"], true);
        assert_eq!(v["disableMemory"], true);
        assert_eq!(v["fileAttachments"], json!(["f1"]));
        assert_eq!(v["imageAttachments"], json!([]));
        assert_eq!(v["imageGenerationCount"], 2);
        assert_eq!(v["enableImageStreaming"], true);
        assert_eq!(v["sendFinalMetadata"], true);
        assert_eq!(v["enableSideBySide"], true);
        assert_eq!(v["isReasoning"], false);
        assert_eq!(v["responseMetadata"]["modelConfigOverride"], json!({"temperature":0.5,"reasoningEffort":"high"}));
        for absent in ["modelName", "toolOverrides", "deviceEnvInfo", "customPersonality"] {
            assert!(v.get(absent).is_none(), "{absent}");
        }
    }

    #[test]
    fn media_model_fields() {
        let mut req = WebChatRequest::new("Drawing: a cat", "fast");
        req.media_model = Some(MediaModel {
            model_name: "grok-imagine-image",
            upstream_id: "grok-imagine-image",
            model_mode: "MODEL_MODE_AUTO",
            tier: "super",
            prefer_best: false,
        });
        req.force_image_gen = true;
        let v: Value = serde_json::from_slice(&req.to_json()).unwrap();
        assert_eq!(
            v["responseMetadata"],
            json!({"modelMap":{},"requestModelDetails":{"modelId":"grok-imagine-image"}})
        );
        assert_eq!(v["modelMode"], "MODEL_MODE_AUTO");
        assert_eq!(v["toolOverrides"], json!({"imageGen":true}));
    }
}
