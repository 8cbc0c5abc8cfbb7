//! History flattening for the grok.com web protocol (reference B.5): the web chat takes one
//! prompt string, so the whole conversation is rendered into it, and declared tools are
//! emulated by an instruction block asking for `<tool_call>{json}</tool_call>` blocks.
//!
//! Input is a deliberately small model the driver maps canonical messages onto: [`Turn`]s of a
//! [`Role`] and [`Item`]s (text, tool use, tool result, attachment). Rules, in order:
//! 1. An assistant tool use becomes a line `<tool_call>{"name":…,"arguments":…}</tool_call>`
//!    after the assistant's text; a tool result becomes its own **user** message
//!    `tool (<name or "unknown">, <tool_call_id>): <content>` (the name is looked up from the
//!    earlier tool use with the same id when the result does not carry it, as in Claude).
//! 2. Text items of one message are joined by newlines and trimmed; empty messages vanish.
//! 3. Messages are joined by a blank line, each prefixed `"<role>: "` (developer renders as
//!    `system`), except the last user message, which is included verbatim.
//! 4. With tools declared and `tool_choice` not `none`, the instruction block
//!    ([`TOOL_BLOCK_HEADING`] … [`TOOL_BLOCK_END`]) is prepended.
//! 5. An empty prompt with attachments becomes "Refer to the following content:".
//!
//! Tool history is rendered even when the request declares no tools (the model still needs the
//! context); the instruction block is only added when tools are declared.

use std::collections::HashMap;

/// First line of the tool instruction block (the simulator looks for it).
pub const TOOL_BLOCK_HEADING: &str = "# Tool calling";
/// Last line of the tool instruction block.
pub const TOOL_BLOCK_END: &str =
    "Text may surround the <tool_call> blocks, but each block must contain only valid JSON.";
/// Line prefix naming one function in the block.
pub const TOOL_NAME_PREFIX: &str = "Tool: ";
/// Line prefix of one function's JSON schema in the block.
pub const TOOL_PARAMS_PREFIX: &str = "Parameters: ";
/// Prompt used when only attachments were sent.
pub const ATTACHMENTS_ONLY_PROMPT: &str = "Refer to the following content:";

/// Who said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    System,
    Developer,
    User,
    Assistant,
    /// An OpenAI `tool` message (its content is in an [`Item::ToolResult`]).
    Tool,
}

/// One part of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<'a> {
    Text(&'a str),
    /// An assistant's call; `arguments` is JSON text (empty means `{}`).
    ToolUse {
        id: &'a str,
        name: &'a str,
        arguments: &'a str,
    },
    /// A tool's answer; `name` when the client format carries it (OpenAI `name`), else looked up.
    ToolResult {
        id: &'a str,
        name: Option<&'a str>,
        content: &'a str,
    },
    /// An image/file/audio part: uploaded separately (B.2), not text.
    Attachment,
}

/// One message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn<'a> {
    pub role: Role,
    pub items: Vec<Item<'a>>,
}

/// One declared function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolSpec<'a> {
    pub name: &'a str,
    pub description: &'a str,
    /// The JSON schema, as JSON text (empty: `{}`).
    pub parameters: &'a str,
}

/// `tool_choice`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ToolChoice<'a> {
    #[default]
    Auto,
    None,
    Required,
    Function(&'a str),
}

/// The declared tools and how they may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ToolSetup<'a> {
    pub tools: &'a [ToolSpec<'a>],
    pub choice: ToolChoice<'a>,
    /// Several calls in one answer allowed (`parallel_tool_calls`, default true).
    pub parallel: bool,
}

/// The flattened prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flattened {
    pub prompt: String,
    /// Attachment items seen (the driver uploads them, B.2).
    pub attachments: usize,
}

/// A rendered message before joining.
struct Msg {
    role: &'static str,
    text: String,
}

/// Flattens `turns` into the web prompt.
pub fn flatten(turns: &[Turn<'_>], tools: &ToolSetup<'_>) -> Flattened {
    let mut names: HashMap<&str, &str> = HashMap::new();
    let mut msgs: Vec<Msg> = Vec::with_capacity(turns.len());
    let mut attachments = 0;
    for turn in turns {
        let role = match turn.role {
            Role::System | Role::Developer => "system",
            Role::User | Role::Tool => "user",
            Role::Assistant => "assistant",
        };
        let mut text = String::new();
        let mut calls = String::new();
        for item in &turn.items {
            match *item {
                Item::Text(t) => {
                    if !text.is_empty() {
                        text.push('\n');
                    }
                    text.push_str(t);
                }
                Item::ToolUse { id, name, arguments } => {
                    names.insert(id, name);
                    push_call_line(&mut calls, name, arguments);
                }
                Item::ToolResult { id, name, content } => {
                    // Text gathered so far stays before the result, in order.
                    flush(&mut msgs, role, &mut text, &mut calls);
                    let name = name.or_else(|| names.get(id).copied()).unwrap_or("unknown");
                    msgs.push(Msg { role: "user", text: format!("tool ({name}, {id}): {}", content.trim()) });
                }
                Item::Attachment => attachments += 1,
            }
        }
        flush(&mut msgs, role, &mut text, &mut calls);
    }
    let last_user = msgs.iter().rposition(|m| m.role == "user");
    let mut prompt = String::new();
    if !tools.tools.is_empty() && tools.choice != ToolChoice::None {
        push_tool_block(&mut prompt, tools);
    }
    for (i, m) in msgs.iter().enumerate() {
        if !prompt.is_empty() {
            prompt.push_str("\n\n");
        }
        if Some(i) != last_user {
            prompt.push_str(m.role);
            prompt.push_str(": ");
        }
        prompt.push_str(&m.text);
    }
    if prompt.trim().is_empty() && attachments > 0 {
        ATTACHMENTS_ONLY_PROMPT.clone_into(&mut prompt);
    }
    Flattened { prompt, attachments }
}

fn flush(msgs: &mut Vec<Msg>, role: &'static str, text: &mut String, calls: &mut String) {
    let trimmed = text.trim();
    let mut body = String::with_capacity(trimmed.len() + calls.len() + 1);
    body.push_str(trimmed);
    if !calls.is_empty() {
        if !body.is_empty() {
            body.push('\n');
        }
        body.push_str(calls.trim_end());
    }
    text.clear();
    calls.clear();
    if !body.is_empty() {
        msgs.push(Msg { role, text: body });
    }
}

/// `<tool_call>{"name":"<fn>","arguments":<args JSON>}</tool_call>` (arguments that are not
/// JSON are embedded as a JSON string so the line stays valid JSON).
fn push_call_line(out: &mut String, name: &str, arguments: &str) {
    let args = arguments.trim();
    let args_json = if args.is_empty() {
        "{}".to_owned()
    } else if serde_json::from_str::<serde::de::IgnoredAny>(args).is_ok() {
        args.to_owned()
    } else {
        serde_json::Value::String(args.to_owned()).to_string()
    };
    let name_json = serde_json::Value::String(name.to_owned()).to_string();
    out.push_str("<tool_call>{\"name\":");
    out.push_str(&name_json);
    out.push_str(",\"arguments\":");
    out.push_str(&args_json);
    out.push_str("}</tool_call>\n");
}

fn push_tool_block(out: &mut String, setup: &ToolSetup<'_>) {
    use std::fmt::Write as _;
    out.push_str(TOOL_BLOCK_HEADING);
    out.push_str(
        "\n\nYou can call the tools listed below. To call a tool, output a <tool_call> block \
containing one JSON object with \"name\" (the tool's name) and \"arguments\" (an object matching \
the tool's parameters), for example:\n",
    );
    out.push_str("<tool_call>{\"name\":\"tool_name\",\"arguments\":{\"param\":\"value\"}}</tool_call>\n");
    if setup.parallel {
        out.push_str("You may output several <tool_call> blocks to call several tools at once.\n");
    }
    out.push_str("\nAvailable tools:\n");
    for t in setup.tools {
        let params = if t.parameters.trim().is_empty() { "{}" } else { t.parameters.trim() };
        let _ = write!(out, "\n{TOOL_NAME_PREFIX}{}\n", t.name);
        if !t.description.trim().is_empty() {
            let _ = writeln!(out, "Description: {}", t.description.trim());
        }
        let _ = writeln!(out, "{TOOL_PARAMS_PREFIX}{params}");
    }
    out.push('\n');
    match setup.choice {
        ToolChoice::Required => out.push_str("You MUST call at least one tool.\n"),
        ToolChoice::Function(name) => {
            let _ = writeln!(out, "You MUST call the tool {name}.");
        }
        ToolChoice::Auto | ToolChoice::None => {
            out.push_str("Decide whether a tool is needed; if not, answer normally.\n");
        }
    }
    out.push_str(TOOL_BLOCK_END);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(role: Role, items: Vec<Item<'_>>) -> Turn<'_> {
        Turn { role, items }
    }

    #[test]
    fn plain_history() {
        let turns = [
            t(Role::System, vec![Item::Text("Be brief.")]),
            t(Role::User, vec![Item::Text("  Hi  ")]),
            t(Role::Assistant, vec![Item::Text("Hello!")]),
            t(Role::Developer, vec![Item::Text("dev note")]),
            t(Role::User, vec![Item::Text("What is 2+2?"), Item::Text("Answer in words.")]),
            t(Role::Assistant, vec![Item::Text("   ")]),
        ];
        let f = flatten(&turns, &ToolSetup::default());
        assert_eq!(
            f.prompt,
            "system: Be brief.\n\nuser: Hi\n\nassistant: Hello!\n\nsystem: dev note\n\nWhat is 2+2?\nAnswer in words."
        );
        assert_eq!(f.attachments, 0);
    }

    #[test]
    fn tool_round_trip_openai_and_claude_shapes() {
        let params = r#"{"type":"object","properties":{"city":{"type":"string"}}}"#;
        let specs = [ToolSpec { name: "get_weather", description: "Weather now.", parameters: params }];
        let setup = ToolSetup { tools: &specs, choice: ToolChoice::Auto, parallel: true };
        let turns = [
            t(Role::User, vec![Item::Text("Weather in Paris?")]),
            t(
                Role::Assistant,
                vec![
                    Item::Text("Checking."),
                    Item::ToolUse { id: "call_1", name: "get_weather", arguments: r#"{"city":"Paris"}"# },
                ],
            ),
            // Claude shape: the result inside a user turn, no name.
            t(Role::User, vec![Item::ToolResult { id: "call_1", name: None, content: "22C" }]),
        ];
        let f = flatten(&turns, &setup);
        let (block, history) = f.prompt.split_once(&format!("{TOOL_BLOCK_END}\n\n")).unwrap();
        assert!(block.starts_with(TOOL_BLOCK_HEADING));
        assert!(block.contains("Tool: get_weather\nDescription: Weather now.\nParameters: {\"type\""));
        assert!(block.contains("several <tool_call> blocks"));
        assert!(block.contains("Decide whether a tool is needed"));
        assert_eq!(
            history,
            "user: Weather in Paris?\n\nassistant: Checking.\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}</tool_call>\n\ntool (get_weather, call_1): 22C"
        );
        // OpenAI shape: a tool-role message with the name; invalid args embedded as a string.
        let turns = [
            t(Role::Assistant, vec![Item::ToolUse { id: "c2", name: "f", arguments: "not json" }]),
            t(Role::Tool, vec![Item::ToolResult { id: "c2", name: Some("f"), content: "ok" }]),
            t(Role::User, vec![Item::Text("thanks")]),
        ];
        let f = flatten(&turns, &ToolSetup::default());
        assert_eq!(
            f.prompt,
            "assistant: <tool_call>{\"name\":\"f\",\"arguments\":\"not json\"}</tool_call>\n\nuser: tool (f, c2): ok\n\nthanks"
        );
    }

    #[test]
    fn choice_lines_and_none() {
        let specs = [ToolSpec { name: "f", description: "", parameters: "" }];
        let turns = [t(Role::User, vec![Item::Text("x")])];
        let req = flatten(&turns, &ToolSetup { tools: &specs, choice: ToolChoice::Required, parallel: false });
        assert!(req.prompt.contains("You MUST call at least one tool."));
        assert!(!req.prompt.contains("several"));
        assert!(req.prompt.contains("Parameters: {}"));
        let named = flatten(&turns, &ToolSetup { tools: &specs, choice: ToolChoice::Function("f"), parallel: true });
        assert!(named.prompt.contains("You MUST call the tool f."));
        let none = flatten(&turns, &ToolSetup { tools: &specs, choice: ToolChoice::None, parallel: true });
        assert_eq!(none.prompt, "x");
    }

    #[test]
    fn unknown_tool_name_and_attachments_only() {
        let turns = [t(Role::User, vec![Item::ToolResult { id: "zz", name: None, content: " r " }])];
        assert_eq!(flatten(&turns, &ToolSetup::default()).prompt, "tool (unknown, zz): r");
        let turns = [t(Role::User, vec![Item::Attachment, Item::Text("  ")])];
        let f = flatten(&turns, &ToolSetup::default());
        assert_eq!((f.prompt.as_str(), f.attachments), (ATTACHMENTS_ONLY_PROMPT, 1));
    }
}
