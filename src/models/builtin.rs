//! The built-in model table: what each channel serves out of the box. The config `models` array
//! overrides entries (same channel and id) or adds new ones; the admin step will edit it at run
//! time. Ids here are what clients send; `upstream_id` is what the channel sends upstream.

use crate::domain::{Capabilities, Channel, ModelDef};

/// `created` for the built-ins (2025-01-01T00:00:00Z), so listings are stable.
pub const BUILTIN_CREATED: u64 = 1_735_689_600;

/// Capability sets the built-ins use.
const CHAT: Capabilities = Capabilities { vision: true, tools: true, thinking: true, image: false };
const TEXT: Capabilities = Capabilities { vision: false, tools: true, thinking: true, image: false };
const VISION_TOOLS: Capabilities = Capabilities { vision: true, tools: true, thinking: false, image: false };
const TOOLS: Capabilities = Capabilities { vision: false, tools: true, thinking: false, image: false };
const IMAGE: Capabilities = Capabilities { vision: false, tools: false, thinking: false, image: true };

fn def(channel: Channel, id: &str, display: &str, aliases: &[&str], capabilities: Capabilities) -> ModelDef {
    ModelDef {
        id: id.to_owned(),
        channel,
        upstream_id: String::new(),
        aliases: aliases.iter().map(|a| (*a).to_owned()).collect(),
        capabilities,
        kinds: Vec::new(),
        enabled: true,
        display_name: display.to_owned(),
        created: BUILTIN_CREATED,
    }
}

/// A grok model served by API-key accounts (`upstream_id` = the xAI model id).
fn api(mut m: ModelDef) -> ModelDef {
    m.kinds = vec!["api".to_owned()];
    m
}

/// A grok model served by grok.com web accounts (`upstream_id` = the web `modeId`).
fn web(id: &str, mode: &str, display: &str, capabilities: Capabilities) -> ModelDef {
    let mut m = def(Channel::Grok, id, display, &[], capabilities);
    mode.clone_into(&mut m.upstream_id);
    m.kinds = vec!["web".to_owned()];
    m
}

/// Every built-in model, in listing order. For `/v1/...` routes an id served by several
/// channels resolves to the first one listed.
pub fn builtin() -> Vec<ModelDef> {
    let (chat, text) = (CHAT, TEXT);
    vec![
        def(Channel::Orchids, "claude-sonnet-4-5", "Claude Sonnet 4.5", &["claude-sonnet-4-5-20250929"], chat),
        def(Channel::Orchids, "claude-opus-4-5", "Claude Opus 4.5", &["claude-opus-4-5-20251101"], chat),
        def(Channel::Orchids, "claude-haiku-4-5", "Claude Haiku 4.5", &["claude-haiku-4-5-20251001"], chat),
        def(Channel::Warp, "warp-auto", "Warp (auto)", &[], text),
        def(Channel::Warp, "gpt-5", "GPT-5 via Warp", &[], chat),
        def(Channel::Warp, "gemini-2.5-pro", "Gemini 2.5 Pro via Warp", &[], chat),
        def(Channel::Warp, "claude-sonnet-4-5", "Claude Sonnet 4.5 via Warp", &[], chat),
        api(def(Channel::Grok, "grok-4", "Grok 4", &["grok-4-0709"], chat)),
        api(def(Channel::Grok, "grok-4-fast-reasoning", "Grok 4 Fast (reasoning)", &[], chat)),
        api(def(Channel::Grok, "grok-4-fast-non-reasoning", "Grok 4 Fast", &["grok-4-fast"], VISION_TOOLS)),
        api(def(Channel::Grok, "grok-code-fast-1", "Grok Code Fast 1", &[], text)),
        api(def(Channel::Grok, "grok-3", "Grok 3", &[], TOOLS)),
        api(def(Channel::Grok, "grok-3-mini", "Grok 3 Mini", &[], text)),
        def(Channel::Grok, "grok-imagine-image", "Grok Imagine (image)", &[], IMAGE),
        web("grok-4.20-0309-non-reasoning", "fast", "Grok 4.20 (grok.com, fast)", TOOLS),
        web("grok-4.20-0309", "auto", "Grok 4.20 (grok.com, auto)", TOOLS),
        web("grok-4.20-0309-reasoning", "expert", "Grok 4.20 Reasoning (grok.com, expert)", text),
        web("grok-4.20-multi-agent-0309", "heavy", "Grok 4.20 Multi-agent (grok.com, heavy)", text),
        web("grok-4.20-fast", "fast", "Grok 4.20 Fast (grok.com)", TOOLS),
        web("grok-4.20-auto", "auto", "Grok 4.20 Auto (grok.com)", TOOLS),
        web("grok-4.20-expert", "expert", "Grok 4.20 Expert (grok.com)", text),
        web("grok-4.20-heavy", "heavy", "Grok 4.20 Heavy (grok.com)", text),
    ]
}
