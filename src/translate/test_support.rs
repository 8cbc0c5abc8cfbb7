//! Test-only helpers the fast-path property tests share.

/// Replaces the content of one string value in a JSON frame with `text`: the string closing
/// at the first `"}` (or the last one, with `last`). Leaves a frame without `"}` as it is.
pub(super) fn retext(data: &mut Vec<u8>, text: &[u8], last: bool) {
    let close =
        if last { data.windows(2).rposition(|w| w == b"\"}") } else { data.windows(2).position(|w| w == b"\"}") };
    if let Some(at) = close {
        let head = data[..at].iter().rposition(|&b| b == b'"').unwrap_or(at);
        data.splice(head + 1..at, text.iter().copied());
    }
}
