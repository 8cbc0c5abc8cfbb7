//! The kept `tools` array: the same shared list gives the same bytes, anything else is written.

use super::*;
use crate::translate::canonical::Json;

/// A list of `n` tools whose descriptions need escaping, with `tag` in every name and text.
fn list(n: usize, tag: &str) -> Rc<[Tool]> {
    (0..n)
        .map(|i| Tool {
            name: format!("tool_{tag}_{i}"),
            description: format!("Reads \"{tag}\" files.\nUse it\tbefore editing ({i}): {}", "é ".repeat(40)),
            parameters: Json::parse(&format!(r#"{{"type":"object","properties":{{"{tag}":{{"type":"string"}}}}}}"#))
                .unwrap(),
        })
        .collect::<Vec<_>>()
        .into()
}

fn written(tools: &Rc<[Tool]>) -> Vec<u8> {
    let mut out = b"prefix".to_vec();
    write(tools, &mut out);
    out.split_off(6)
}

fn fresh(tools: &[Tool]) -> Vec<u8> {
    let mut out = Vec::new();
    write_array(tools, &mut out);
    out
}

#[test]
fn the_array_is_the_tools_in_the_xai_shape() {
    let tools = list(2, "a");
    let v: serde_json::Value = serde_json::from_slice(&fresh(&tools)).unwrap();
    assert_eq!(v[0]["type"], "function");
    assert_eq!(v[1]["function"]["name"], "tool_a_1");
    assert_eq!(v[0]["function"]["description"], tools[0].description.as_str());
    assert_eq!(v[1]["function"]["parameters"]["properties"]["a"]["type"], "string");
    let bare = Rc::<[Tool]>::from(vec![Tool { description: String::new(), ..tools[0].clone() }]);
    let v: serde_json::Value = serde_json::from_slice(&fresh(&bare)).unwrap();
    assert!(v[0]["function"].get("description").is_none(), "an empty description is left out");
}

#[test]
fn a_shared_list_is_kept_and_copied_the_same() {
    forget();
    let tools = list(8, "a");
    let _held_by_the_cache = Rc::clone(&tools);
    let first = written(&tools);
    assert!(first.len() >= MIN_KEPT);
    assert!(is_kept(&tools));
    assert_eq!(first, fresh(&tools));
    assert_eq!(written(&tools), first);
}

#[test]
fn a_list_held_once_or_short_is_written_and_not_kept() {
    forget();
    let alone = list(8, "b");
    assert_eq!(written(&alone), fresh(&alone));
    assert!(!is_kept(&alone));
    let short = list(1, "c");
    let _held = Rc::clone(&short);
    assert!(fresh(&short).len() < MIN_KEPT);
    assert_eq!(written(&short), fresh(&short));
    assert!(!is_kept(&short));
}

#[test]
fn another_list_gets_its_own_bytes() {
    forget();
    let (x, y) = (list(8, "x"), list(8, "y"));
    let _held = (Rc::clone(&x), Rc::clone(&y));
    assert_eq!(written(&x), fresh(&x));
    assert_eq!(written(&y), fresh(&y), "not the kept bytes of x");
    assert!(is_kept(&y));
    assert_eq!(written(&x), fresh(&x));
    // Equal content in another allocation is another list: written, then kept in its turn.
    let x2: Rc<[Tool]> = x.iter().cloned().collect::<Vec<_>>().into();
    let _held2 = Rc::clone(&x2);
    assert_eq!(written(&x2), fresh(&x));
    assert!(is_kept(&x2) && !is_kept(&x));
}

#[test]
fn a_dropped_list_never_matches_a_later_one() {
    forget();
    let x = list(8, "x");
    let held = Rc::clone(&x);
    let _ = written(&x);
    drop((x, held));
    for tag in ["p", "q", "r"] {
        let y = list(8, tag);
        let _held = Rc::clone(&y);
        assert_eq!(written(&y), fresh(&y));
    }
}

#[test]
fn an_agents_repeated_turn_copies_the_kept_bytes() {
    use crate::channel::grok::api_body::chat_body;
    use crate::translate::request::decode_openai_shared;
    forget();
    crate::translate::tools_cache::clear();
    let body = bytes::Bytes::from(crate::sim::agent_turn::openai("grok-4", true, "next"));
    let first = decode_openai_shared(&body).unwrap();
    let first_body = chat_body(&first, "grok-4", true);
    assert!(is_kept(&first.tools), "the tools cache shares the first turn's list");
    let again = decode_openai_shared(&body).unwrap();
    assert!(Rc::ptr_eq(&first.tools, &again.tools), "a cache hit hands the same list");
    assert_eq!(chat_body(&again, "grok-4", true), first_body);
    forget();
    assert_eq!(chat_body(&again, "grok-4", true), first_body, "written afresh, the same bytes");
}
