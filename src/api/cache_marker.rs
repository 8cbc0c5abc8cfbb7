//! The strings the request caches put in a body in place of bytes they already decoded: one per
//! cache ([`Marker`]) and per thread.
//!
//! A marker is a string no client can send on purpose: 128 bits per thread drawn from the
//! standard library's randomly keyed hasher for this purpose alone (not derived from the ids the
//! gateway sends out), never written to any client. Seeing it where a cache spliced it (the
//! top-level `tools` for `translate::tools_cache`, the first element of the top-level
//! `messages` for `translate::messages_cache`, a Claude body's top-level `system` for
//! `translate::system_cache`) proves that the spliced bytes stood there; a
//! body as a client sent it is refused when it holds a marker there (`translate::request`).

/// Which cache a marker stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    /// A `tools` array (`translate::tools_cache`).
    Tools,
    /// The first elements of a `messages` array (`translate::messages_cache`).
    Messages,
    /// A Claude body's `system` value (`translate::system_cache`).
    System,
}

thread_local! {
    static MARKERS: [String; 3] = {
        use std::hash::BuildHasher;
        // Two independently keyed SipHash outputs per marker: unpredictable without the keys,
        // which never leave this process.
        let draw = |salt: u64| std::hash::RandomState::new().hash_one((salt, std::thread::current().id()));
        [
            format!("orchids-cached-tools-{:016x}{:016x}", draw(1), draw(2)),
            format!("orchids-cached-messages-{:016x}{:016x}", draw(3), draw(4)),
            format!("orchids-cached-system-{:016x}{:016x}", draw(5), draw(6)),
        ]
    };
}

impl Marker {
    fn index(self) -> usize {
        match self {
            Self::Tools => 0,
            Self::Messages => 1,
            Self::System => 2,
        }
    }

    /// Appends this thread's marker as a JSON string (with its quotes; it is letters, digits
    /// and `-`, written as it is).
    pub fn write(self, out: &mut Vec<u8>) {
        MARKERS.with(|m| {
            let text = m.get(self.index()).map_or("", String::as_str);
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
        });
    }

    /// Whether `s` is this thread's marker.
    pub fn is(self, s: &str) -> bool {
        MARKERS.with(|m| m.get(self.index()).is_some_and(|t| t == s))
    }

    /// This thread's marker (tests write it into bodies as a client would).
    #[cfg(test)]
    pub fn text(self) -> String {
        MARKERS.with(|m| m.get(self.index()).cloned().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_differ_per_cache_and_per_thread_and_need_no_escape() {
        let here = [Marker::Tools.text(), Marker::Messages.text(), Marker::System.text()];
        assert!(here[0] != here[1] && here[1] != here[2] && here[0] != here[2]);
        let there = std::thread::spawn(|| [Marker::Tools.text(), Marker::Messages.text(), Marker::System.text()])
            .join()
            .unwrap();
        assert_ne!(there, here);
        for m in here.iter().chain(&there) {
            assert!(m.len() > 40 && m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'), "{m}");
        }
        assert!(Marker::Tools.is(&here[0]) && !Marker::Messages.is(&here[0]) && !Marker::Tools.is(&there[0]));
        assert!(Marker::System.is(&here[2]) && !Marker::System.is(&here[1]) && !Marker::System.is(&there[2]));
        let mut out = Vec::new();
        Marker::Messages.write(&mut out);
        assert_eq!(out, format!("\"{}\"", here[1]).into_bytes());
    }
}
