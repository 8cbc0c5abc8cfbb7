//! The kept `tools` arrays: the same shared list gives the same bytes, anything else is written.

use super::*;
use crate::translate::canonical::Json;

/// Forgets every kept array.
fn forget() {
    KEPT.with(|k| k.borrow_mut().clear());
}

/// Where `tools` is among the kept lists, most recently used first.
fn kept_at(tools: &Rc<[Tool]>) -> Option<usize> {
    KEPT.with(|k| k.borrow().iter().position(|(list, _)| is(list, tools)))
}

/// How many lists are kept.
fn kept_count() -> usize {
    KEPT.with(|k| k.borrow().len())
}

/// Replaces the kept bytes of `tools` (shows that a hit copies them).
fn replace_kept(tools: &Rc<[Tool]>, bytes: &[u8]) {
    KEPT.with(|k| {
        for (list, kept) in k.borrow_mut().iter_mut() {
            if is(list, tools) {
                *kept = bytes.to_vec();
            }
        }
    });
}

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
fn the_array_is_written_byte_for_byte() {
    let tools = [
        Tool { name: "read".into(), description: "Reads \"a\"\nfile".into(), parameters: Json::parse("{}").unwrap() },
        Tool {
            name: "ls".into(),
            description: String::new(),
            parameters: Json::parse(r#"{"type":"object"}"#).unwrap(),
        },
    ];
    let expected = concat!(
        r#"[{"type":"function","function":{"name":"read","parameters":{},"description":"Reads \"a\"\nfile"}},"#,
        r#"{"type":"function","function":{"name":"ls","parameters":{"type":"object"}}}]"#
    );
    assert_eq!(String::from_utf8(fresh(&tools)).unwrap(), expected);
    assert_eq!(fresh(&[]), b"[]");
}

#[test]
fn a_shared_list_is_kept_and_its_bytes_copied() {
    forget();
    let tools = list(8, "a");
    let _held_by_the_cache = Rc::clone(&tools);
    let first = written(&tools);
    assert!(first.len() >= MIN_KEPT);
    assert_eq!(first, fresh(&tools));
    assert_eq!(kept_at(&tools), Some(0));
    assert_eq!(written(&tools), first);
    // A hit copies the kept bytes (it does not write the list again).
    replace_kept(&tools, b"[\"kept\"]");
    assert_eq!(written(&tools), b"[\"kept\"]");
}

#[test]
fn a_list_held_once_or_short_is_written_and_not_kept() {
    forget();
    let alone = list(8, "b");
    assert_eq!(written(&alone), fresh(&alone));
    assert_eq!(kept_at(&alone), None);
    let short = list(1, "c");
    let _held = Rc::clone(&short);
    assert!(fresh(&short).len() < MIN_KEPT);
    assert_eq!(written(&short), fresh(&short));
    assert_eq!(kept_at(&short), None);
    assert_eq!(kept_count(), 0);
}

#[test]
fn another_list_gets_its_own_bytes() {
    forget();
    let (x, y) = (list(8, "x"), list(8, "y"));
    let _held = (Rc::clone(&x), Rc::clone(&y));
    assert_eq!(written(&x), fresh(&x));
    assert_eq!(written(&y), fresh(&y), "not the kept bytes of x");
    assert_eq!(written(&x), fresh(&x));
    // Equal content in another allocation is another list: written, then kept in its turn.
    let x2: Rc<[Tool]> = x.iter().cloned().collect::<Vec<_>>().into();
    let _held2 = Rc::clone(&x2);
    assert_eq!(written(&x2), fresh(&x));
    assert_eq!((kept_at(&x2), kept_at(&x), kept_at(&y)), (Some(0), Some(1), Some(2)));
}

#[test]
fn alternating_lists_each_keep_their_bytes_up_to_the_cache_size() {
    forget();
    let lists: Vec<Rc<[Tool]>> = (0..=ENTRIES).map(|i| list(8, &format!("l{i}"))).collect();
    let _held: Vec<Rc<[Tool]>> = lists.iter().map(Rc::clone).collect();
    for l in lists.iter().take(ENTRIES) {
        let _ = written(l);
    }
    for l in lists.iter().take(ENTRIES) {
        replace_kept(l, b"[0]");
    }
    // Every one of the first ENTRIES lists alternating: each a hit.
    for _ in 0..2 {
        for l in lists.iter().take(ENTRIES) {
            assert_eq!(written(l), b"[0]");
        }
    }
    // One more list drops the least recently used (the first), never more than ENTRIES kept.
    let last = lists.last().unwrap();
    assert_eq!(written(last), fresh(last));
    assert_eq!(kept_count(), ENTRIES);
    assert_eq!(kept_at(&lists[0]), None);
    assert_eq!(kept_at(last), Some(0));
    assert_eq!(written(&lists[1]), b"[0]", "used again: still kept");
    assert_eq!(kept_at(&lists[1]), Some(0));
}

#[test]
fn a_dropped_list_is_forgotten_and_never_matches_a_later_one() {
    forget();
    let x = list(8, "x");
    let held = Rc::clone(&x);
    let _ = written(&x);
    drop((x, held));
    let y = list(8, "y");
    let _held = Rc::clone(&y);
    assert_eq!(written(&y), fresh(&y));
    assert_eq!(kept_count(), 1, "the dead list was dropped with its bytes");
    for tag in ["p", "q", "r"] {
        let z = list(8, tag);
        let _held = Rc::clone(&z);
        assert_eq!(written(&z), fresh(&z));
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
    assert_eq!(kept_at(&first.tools), Some(0), "the tools cache shares the first turn's list");
    let again = decode_openai_shared(&body).unwrap();
    assert!(Rc::ptr_eq(&first.tools, &again.tools), "a cache hit hands the same list");
    assert_eq!(chat_body(&again, "grok-4", true), first_body);
    forget();
    assert_eq!(chat_body(&again, "grok-4", true), first_body, "written afresh, the same bytes");
}
