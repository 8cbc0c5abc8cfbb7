//! Decoder fixtures: every `tests/fixtures/grok/*.ndjson` (recorded from the simulator, or
//! copied from the reference) is decoded line by line with `grok::ndjson`, assembled with
//! `grok::web_text` and `grok::tool_markup`, described one line per event, and compared with
//! the `.events` file beside it. Set `GROK_FIXTURES_BLESS=1` to rewrite the `.events` files
//! after a deliberate decoder change (then review the diff).

use orchids2api::grok::ndjson::{GrokWebEvent, decode_line};
use orchids2api::grok::tool_markup::{MarkupEvent, ToolMarkupParser, ToolPolicy};
use orchids2api::grok::web_text::{AnswerAssembler, TextPiece};
use std::fmt::Write as _;
use std::path::Path;

fn describe(ndjson: &[u8]) -> String {
    let mut out = String::new();
    let mut asm = AnswerAssembler::new();
    let mut tools = ToolMarkupParser::new(ToolPolicy { declared: vec!["get_weather".into()], forced: None });
    let mut answer = String::new();
    let mut thinking = String::new();
    let mut after = String::new();
    let mut piece = |p: TextPiece<'_>, tools: &mut ToolMarkupParser, after: &mut String| match p {
        TextPiece::Thinking(t) => thinking.push_str(t),
        TextPiece::Answer(t) => tools.push(t, &mut |ev| match ev {
            MarkupEvent::Text(t) => answer.push_str(t),
            MarkupEvent::ToolCall(c) => {
                let _ = writeln!(after, "call {} {}", c.name, c.arguments);
            }
            MarkupEvent::Invalid(e) => {
                let _ = writeln!(after, "invalid {e}");
            }
        }),
    };
    for line in ndjson.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let ev = match decode_line(line) {
            Ok(ev) => ev,
            Err(e) => {
                let _ = writeln!(out, "decode-error {e}");
                break;
            }
        };
        let _ = match &ev {
            GrokWebEvent::Conversation { id } => writeln!(out, "conversation {id}"),
            GrokWebEvent::Token { text, is_thinking, message_tag, response_id } => writeln!(
                out,
                "{} {text:?} tag={} id={}",
                if *is_thinking { "thinking" } else { "token" },
                message_tag.as_deref().unwrap_or("-"),
                response_id.as_deref().unwrap_or("-")
            ),
            GrokWebEvent::Final(f) => writeln!(
                out,
                "final id={} message={:?} images={:?} errors={:?} hash={}",
                f.response_id.as_deref().unwrap_or("-"),
                f.message,
                f.generated_image_urls,
                f.stream_errors,
                f.model_hash.as_deref().unwrap_or("-")
            ),
            GrokWebEvent::ImageProgress(p) => writeln!(
                out,
                "image index={} progress={} path={:?} final={}",
                p.image_index,
                p.progress,
                p.asset_path(),
                p.is_final()
            ),
            GrokWebEvent::VideoProgress(v) => {
                writeln!(out, "video progress={} url={:?}", v.progress, v.video_url)
            }
            GrokWebEvent::Assets { urls } => writeln!(out, "assets {urls:?}"),
            GrokWebEvent::Error(e) => writeln!(out, "error {:?} {e}", e.kind),
            GrokWebEvent::Ignored => writeln!(out, "ignored"),
        };
        match ev {
            GrokWebEvent::Token { text, is_thinking, .. } => {
                asm.on_token(&text, is_thinking, &mut |p| {
                    piece(p, &mut tools, &mut after);
                });
            }
            GrokWebEvent::Final(f) => {
                asm.on_final(&f.message, &mut |p| piece(p, &mut tools, &mut after));
            }
            _ => {}
        }
    }
    asm.finish(&mut |p| piece(p, &mut tools, &mut after));
    tools.finish(&mut |ev| {
        if let MarkupEvent::Text(t) = ev {
            answer.push_str(t);
        }
    });
    let _ = writeln!(out, "--\nanswer {answer:?}\nthinking {thinking:?}");
    out.push_str(&after);
    out
}

#[test]
fn fixtures_decode_to_their_expected_events() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grok");
    let bless = std::env::var_os("GROK_FIXTURES_BLESS").is_some();
    let mut seen = 0;
    let mut entries: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "ndjson")) {
        let got = describe(&std::fs::read(path).unwrap());
        let want_path = path.with_extension("events");
        if bless {
            std::fs::write(&want_path, &got).unwrap();
        }
        let want = std::fs::read_to_string(&want_path).unwrap_or_default();
        assert_eq!(got, want, "{} (bless with GROK_FIXTURES_BLESS=1)", path.display());
        seen += 1;
    }
    assert!(seen >= 10, "expected the fixture set, found {seen}");
}

/// Any split of the byte stream into network reads gives the same lines, hence the same events
/// (the line splitter here mirrors what the upstream NDJSON reader must do).
#[test]
fn fixtures_are_split_safe_at_every_byte() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/grok/sim_tool.ndjson");
    let bytes = std::fs::read(path).unwrap();
    let whole = describe(&bytes);
    for cut in (1..bytes.len()).step_by(7) {
        let (a, b) = bytes.split_at(cut);
        let mut buf = a.to_vec();
        let mut lines: Vec<Vec<u8>> = Vec::new();
        let drain = |buf: &mut Vec<u8>, lines: &mut Vec<Vec<u8>>| {
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                lines.push(buf.drain(..=nl).collect());
            }
        };
        drain(&mut buf, &mut lines);
        buf.extend_from_slice(b);
        drain(&mut buf, &mut lines);
        lines.push(buf);
        assert_eq!(describe(&lines.concat()), whole, "cut at {cut}");
    }
}
