//! The `tools` array of an xAI API body, and the bytes of the last few large ones, kept per worker.
//!
//! An agent sends the same tool definitions on every turn, and `translate::tools_cache` hands
//! every turn of a conversation the same list (one `Rc`). Writing that list escapes every tool's
//! description again (Claude Code's run to kilobytes each) and copies every schema: about a
//! tenth of a repeated 65 KiB turn's request work. So the bytes written for a shared list are
//! kept, for as many lists as the tools cache keeps ([`ENTRIES`], most recently used first, so
//! conversations with different tools that alternate on a worker, an agent and its subagent,
//! each find theirs), and a turn that carries the same list copies them.
//!
//! - Kept only for a list that something else holds too (the tools cache): a list decoded for
//!   one request alone never comes back, and storing it would cost a copy per request.
//! - Kept only when the array is [`MIN_KEPT`] to [`MAX_KEPT`] bytes: a short one costs less to
//!   write, and the cap bounds what a worker holds at `ENTRIES` times it.
//! - The same list is the same allocation: a kept list is held as a `Weak`, which keeps its
//!   allocation from being reused, so a pointer match can only be that list. A list is never
//!   changed once built (`Rc<[Tool]>`), so its bytes never go stale. A list nothing holds any
//!   more (the tools cache dropped it) is dropped with its bytes at the next miss.

use crate::translate::canonical::Tool;
use crate::translate::tools_cache::ENTRIES;
use crate::util::json::push_str;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// Arrays shorter than this are written every time.
pub(super) const MIN_KEPT: usize = 1024;
/// Arrays longer than this are written every time (the tools cache keeps none of 512 KiB or
/// more as sent; escaping can make the written array a little longer).
pub(super) const MAX_KEPT: usize = 1024 * 1024;

/// A written list (held weakly) and its bytes.
type Kept = (Weak<[Tool]>, Vec<u8>);

thread_local! {
    /// The large shared lists written on this thread, most recently used first.
    static KEPT: RefCell<Vec<Kept>> = const { RefCell::new(Vec::new()) };
}

/// Appends `tools` as the xAI API's `tools` array (`[{"type":"function","function":{…}}, …]`).
pub(super) fn write(tools: &Rc<[Tool]>, out: &mut Vec<u8>) {
    let shared = Rc::strong_count(tools) > 1;
    if shared && copy_kept(tools, out) {
        return;
    }
    let start = out.len();
    write_array(tools, out);
    let written = out.get(start..).unwrap_or_default();
    if shared && (MIN_KEPT..=MAX_KEPT).contains(&written.len()) {
        KEPT.with(|k| {
            if let Ok(mut kept) = k.try_borrow_mut() {
                kept.retain(|(list, _)| list.strong_count() > 0);
                kept.truncate(ENTRIES.saturating_sub(1));
                kept.insert(0, (Rc::downgrade(tools), written.to_vec()));
            }
        });
    }
}

/// Copies the kept bytes of `tools` onto `out` (and makes them the most recently used); `false`
/// when they are not kept.
fn copy_kept(tools: &Rc<[Tool]>, out: &mut Vec<u8>) -> bool {
    KEPT.with(|k| {
        let Ok(mut kept) = k.try_borrow_mut() else { return false };
        let Some(i) = kept.iter().position(|(list, _)| is(list, tools)) else {
            return false;
        };
        if let Some((_, bytes)) = kept.get(i) {
            out.extend_from_slice(bytes);
        }
        if let Some(slot) = kept.get_mut(..=i) {
            slot.rotate_right(1);
        }
        true
    })
}

/// Whether the kept `list` is `tools` (the same allocation: the `Weak` keeps it from being
/// reused, so equal addresses are the same list).
fn is(list: &Weak<[Tool]>, tools: &Rc<[Tool]>) -> bool {
    std::ptr::eq(list.as_ptr(), Rc::as_ptr(tools))
}

/// Writes the array from the definitions.
fn write_array(tools: &[Tool], out: &mut Vec<u8>) {
    out.push(b'[');
    for (i, t) in tools.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(br#"{"type":"function","function":{"name":"#);
        push_str(out, &t.name);
        // The client's schema as it came (valid by construction: `canonical::Json`).
        out.extend_from_slice(br#","parameters":"#);
        out.extend_from_slice(t.parameters.as_str().as_bytes());
        if !t.description.is_empty() {
            out.extend_from_slice(br#","description":"#);
            push_str(out, &t.description);
        }
        out.extend_from_slice(b"}}");
    }
    out.push(b']');
}

#[cfg(test)]
mod tests;
