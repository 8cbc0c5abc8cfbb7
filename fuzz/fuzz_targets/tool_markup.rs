//! Tool-call markup: arbitrary text split at arbitrary points gives the same events as the
//! whole text, no text event ever contains a tag, and block parsing/repair never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchids2api::grok::tool_markup::{END_TAG, MarkupEvent, START_TAG, ToolMarkupParser, ToolPolicy, parse_block};

fn run(pieces: &[&str]) -> Vec<String> {
    let policy = ToolPolicy { declared: vec!["f".into()], forced: None };
    let mut p = ToolMarkupParser::with_max_block(policy, 64);
    let mut out: Vec<String> = Vec::new();
    let mut sink = |ev: MarkupEvent<'_>| match ev {
        MarkupEvent::Text(t) => {
            assert!(!t.contains(START_TAG) && !t.contains(END_TAG), "markup leaked");
            match out.last_mut() {
                Some(last) if last.starts_with('T') => last.push_str(t),
                _ => out.push(format!("T{t}")),
            }
        }
        MarkupEvent::ToolCall(c) => out.push(format!("C{}\u{0}{}", c.name, c.arguments)),
        MarkupEvent::Invalid(e) => out.push(format!("E{e:?}")),
    };
    for piece in pieces {
        p.push(piece, &mut sink);
    }
    p.finish(&mut sink);
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&step, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest);
    let _ = parse_block(&text, &ToolPolicy::default());
    let step = usize::from(step % 16) + 1;
    let mut pieces = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let mut end = (start + step).min(text.len());
        while !text.is_char_boundary(end) {
            end += 1;
        }
        pieces.push(&text[start..end]);
        start = end;
    }
    assert_eq!(run(&pieces), run(&[&text]));
});
