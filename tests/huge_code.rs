//! `huge_code_pages` through the real server: on by default, the executable's code runs from an
//! anonymous mapping on 2 MiB pages (where the kernel's transparent huge pages allow it) and the
//! server serves from it; `false` leaves the code mapped from the file.

// Test-only crate: `cfg(test)` lets clippy's allow-*-in-tests cover the helpers below too.
#![cfg(test)]

pub mod support;

use serde_json::json;
use support::ServerBuilder;

/// THP is "always" or "madvise" on this machine (else the server must say it skipped).
fn thp_allowed() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|s| s.contains("[always]") || s.contains("[madvise]"))
}

/// Executable mappings of the process: (is anonymous, AnonHugePages in kB).
fn code_mappings(pid: u32) -> Vec<(bool, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut out: Vec<(bool, u64)> = Vec::new();
    let mut current: Option<usize> = None;
    for line in smaps.lines() {
        let mut words = line.split_ascii_whitespace();
        let first = words.next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            let perms = words.next().unwrap_or("");
            let path = words.nth(3);
            current = perms.contains('x').then(|| {
                out.push((path.is_none(), 0));
                out.len() - 1
            });
        } else if let (Some(i), Some(kb)) = (current, line.strip_prefix("AnonHugePages:")) {
            out[i].1 = kb.trim().trim_end_matches("kB").trim().parse().unwrap();
        }
    }
    out
}

/// The line the server logs about the remap, before its listening line (so it is in the log
/// once `start` returns).
fn the_startup_line(s: &support::Server) -> Option<String> {
    s.lines().into_iter().find(|l| l.contains("huge_code_pages:"))
}

#[test]
fn by_default_the_code_runs_from_huge_pages() {
    let s = ServerBuilder::new().start();
    let line = the_startup_line(&s).expect("no huge_code_pages line in the log");
    if thp_allowed() {
        assert!(line.contains("MiB of code and constants moved"), "{line}");
        let huge: u64 = code_mappings(s.pid()).iter().filter(|(anon, _)| *anon).map(|(_, kb)| kb).sum();
        assert!(huge >= 2048, "no anonymous code mapping on a huge page: {:?}", code_mappings(s.pid()));
    } else {
        assert!(line.contains("code left on 4 KiB pages: transparent huge pages are off"), "{line}");
    }
    // The moved code serves: a plain request and the debug SSE stream.
    assert_eq!(s.get("/health").status, 200);
    let r = s.get("/debug/sse?events=3");
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn off_leaves_the_code_mapped_from_the_file() {
    let s = ServerBuilder::new().config(&json!({"huge_code_pages": false})).start();
    assert_eq!(s.get("/health").status, 200);
    assert!(the_startup_line(&s).is_none(), "{}", s.log());
    assert!(code_mappings(s.pid()).iter().all(|(anon, _)| !anon), "{:?}", code_mappings(s.pid()));
}
