//! The `tools` array of an xAI API body, and the bytes of the last large one, kept per worker.
//!
//! An agent sends the same tool definitions on every turn, and `translate::tools_cache` hands
//! every turn of a conversation the same list (one `Rc`). Writing that list escapes every tool's
//! description again (Claude Code's run to kilobytes each) and copies every schema: about a
//! tenth of a repeated 65 KiB turn's request work. So the bytes written for a shared list are
//! kept, one list per thread, and a turn that carries the same list copies them.
//!
//! - Kept only for a list that something else holds too (the tools cache): a list decoded for
//!   one request alone never comes back, and storing it would cost a copy per request.
//! - Kept only when the array is at least [`MIN_KEPT`] bytes: a short one costs less to write.
//! - The same list is the same allocation: the kept list is held as a `Weak`, which keeps its
//!   allocation from being reused, so a pointer match can only be that list. A list is never
//!   changed once built (`Rc<[Tool]>`), so its bytes never go stale.

use crate::translate::canonical::Tool;
use crate::util::json::push_str;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// Arrays shorter than this are written every time.
pub const MIN_KEPT: usize = 1024;

/// A written list (held weakly) and its bytes.
type Kept = (Weak<[Tool]>, Vec<u8>);

thread_local! {
    /// The last large shared list written on this thread, and its bytes.
    static KEPT: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// Appends `tools` as the xAI API's `tools` array (`[{"type":"function","function":{…}}, …]`).
pub fn write(tools: &Rc<[Tool]>, out: &mut Vec<u8>) {
    let shared = Rc::strong_count(tools) > 1;
    if shared {
        let hit = KEPT.with(|k| match k.try_borrow() {
            Ok(kept) => match kept.as_ref() {
                Some((list, bytes)) if std::ptr::eq(list.as_ptr(), Rc::as_ptr(tools)) => {
                    out.extend_from_slice(bytes);
                    true
                }
                _ => false,
            },
            Err(_) => false,
        });
        if hit {
            return;
        }
    }
    let start = out.len();
    write_array(tools, out);
    let written = out.get(start..).unwrap_or_default();
    if shared && written.len() >= MIN_KEPT {
        KEPT.with(|k| {
            if let Ok(mut kept) = k.try_borrow_mut() {
                *kept = Some((Rc::downgrade(tools), written.to_vec()));
            }
        });
    }
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

/// Forgets the kept bytes (tests).
#[cfg(test)]
pub fn forget() {
    KEPT.with(|k| {
        if let Ok(mut kept) = k.try_borrow_mut() {
            *kept = None;
        }
    });
}

/// Whether `tools` is the list whose bytes are kept (tests).
#[cfg(test)]
pub fn is_kept(tools: &Rc<[Tool]>) -> bool {
    KEPT.with(|k| k.borrow().as_ref().is_some_and(|(list, _)| std::ptr::eq(list.as_ptr(), Rc::as_ptr(tools))))
}

#[cfg(test)]
mod tests;
