//! The executable's code and constants on 2 MiB pages (`huge_code_pages`, on by default).
//!
//! The read-only segments of the executable (its code, and the constants before it) are mapped
//! by the loader from the file on 4 KiB pages. A request touches well over a hundred of the code's
//! pages (docs/benchmarks.md, twenty-sixth pass); after a silence each costs a page walk from
//! memory on top of its cache lines. Here the part of each such segment that covers whole,
//! aligned 2 MiB blocks is copied into an anonymous mapping advised for transparent huge pages
//! and moved over the original with one `mremap`, so the hot code is reached through a handful of
//! TLB entries. The same technique as Node's `--use-largepages` and HHVM's huge-page text.
//!
//! Done once, on the main thread, before any other thread of ours starts. Any step that fails
//! (THP off, a W^X policy refusing executable anonymous memory, no memory for huge pages) leaves
//! the segments as the loader mapped them and says why; nothing here stops the server. The copy
//! is private memory (about 6 MiB for a release build) where the file's pages were shared with
//! the page cache. A profiler that symbolizes through the file mapping (`perf`) sees the moved
//! code as anonymous: set `huge_code_pages` to `false` to profile.

use std::ops::Range;

/// 2 MiB, the x86-64 and aarch64 (4 KiB granule) PMD page size.
const HUGE: usize = 2 << 20;

/// What the remap did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `bytes` of code and constants were moved; `huge_bytes` of them are on huge pages (what
    /// the kernel's `AnonHugePages` says right after).
    Remapped { bytes: usize, huge_bytes: usize },
    /// Left as mapped, and why.
    Skipped(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MIB: usize = 1 << 20;
        match self {
            Self::Remapped { bytes, huge_bytes } => write!(
                f,
                "huge_code_pages: {} MiB of code and constants moved, {} MiB of it on 2 MiB pages",
                bytes / MIB,
                huge_bytes / MIB
            ),
            Self::Skipped(why) => write!(f, "huge_code_pages: code left on 4 KiB pages: {why}"),
        }
    }
}

/// The transparent-huge-page mode allows `MADV_HUGEPAGE` ("always" or "madvise").
fn thp_allowed() -> bool {
    std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled")
        .is_ok_and(|s| s.contains("[always]") || s.contains("[madvise]"))
}

/// One line of `/proc/self/maps`: range, permissions and path (empty for anonymous memory).
fn parse_line(line: &str) -> Option<(Range<usize>, &str, &str)> {
    let mut parts = line.split_ascii_whitespace();
    let (lo, hi) = parts.next()?.split_once('-')?;
    let perms = parts.next()?;
    let path = parts.nth(3).unwrap_or("");
    Some((usize::from_str_radix(lo, 16).ok()?..usize::from_str_radix(hi, 16).ok()?, perms, path))
}

/// The read-only mappings (code and constants) of the file that holds `addr`, with whether
/// each is executable.
fn read_only_mappings_of(maps: &str, addr: usize) -> Vec<(Range<usize>, bool)> {
    let Some(path) = maps.lines().filter_map(parse_line).find(|(r, _, _)| r.contains(&addr)).map(|(_, _, p)| p) else {
        return Vec::new();
    };
    if path.is_empty() {
        return Vec::new();
    }
    maps.lines()
        .filter_map(parse_line)
        .filter(|(_, perms, p)| *p == path && (*perms == "r-xp" || *perms == "r--p"))
        .map(|(r, perms, _)| (r, perms == "r-xp"))
        .collect()
}

/// The whole 2 MiB blocks inside `range` (empty when there is none).
fn whole_blocks(range: &Range<usize>) -> Range<usize> {
    let lo = range.start.div_ceil(HUGE) * HUGE;
    let hi = range.end / HUGE * HUGE;
    if hi > lo { lo..hi } else { lo..lo }
}

/// `AnonHugePages` of the mapping that starts at `start`, in bytes.
fn huge_bytes_at(start: usize) -> usize {
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else { return 0 };
    let head = format!("{start:x}-");
    let mut inside = false;
    for line in smaps.lines() {
        if line.split_ascii_whitespace().next().is_some_and(|w| w.contains('-') && !w.ends_with(':')) {
            inside = line.starts_with(&head);
        } else if inside && let Some(kb) = line.strip_prefix("AnonHugePages:") {
            return kb.trim().trim_end_matches("kB").trim().parse::<usize>().unwrap_or(0) * 1024;
        }
    }
    0
}

/// Moves the executable's code and constants onto huge pages where it can. Call it before
/// starting threads.
pub fn remap() -> Outcome {
    if !cfg!(target_os = "linux") {
        return Outcome::Skipped("not Linux".into());
    }
    if !thp_allowed() {
        return Outcome::Skipped("transparent huge pages are off (/sys/kernel/mm/transparent_hugepage/enabled)".into());
    }
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return Outcome::Skipped("/proc/self/maps is not readable".into());
    };
    let here = remap as fn() -> Outcome as usize;
    let (mut bytes, mut huge_bytes) = (0, 0);
    for (range, exec) in read_only_mappings_of(&maps, here) {
        let blocks = whole_blocks(&range);
        if blocks.is_empty() {
            continue;
        }
        if let Err(e) = move_onto_huge_pages(blocks.clone(), exec) {
            return Outcome::Skipped(e);
        }
        bytes += blocks.len();
        huge_bytes += huge_bytes_at(blocks.start);
    }
    if bytes == 0 {
        return Outcome::Skipped("no read-only segment covers a whole 2 MiB block".into());
    }
    Outcome::Remapped { bytes, huge_bytes }
}

#[expect(unsafe_code, reason = "remapping the process's own code needs mmap, madvise, mprotect and mremap")]
fn move_onto_huge_pages(blocks: Range<usize>, exec: bool) -> Result<(), String> {
    let len = blocks.len();
    let os = |what: &str| format!("{what}: {}", std::io::Error::last_os_error());
    // SAFETY: a fresh private anonymous mapping; nothing else refers to it.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len + HUGE,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return Err(os("mmap"));
    }
    let raw = raw as usize;
    let copy = raw.div_ceil(HUGE) * HUGE;
    // SAFETY: both trimmed pieces lie inside the mapping just made, outside [copy, copy + len).
    unsafe {
        if copy > raw {
            libc::munmap(raw as *mut libc::c_void, copy - raw);
        }
        let tail = raw + len + HUGE - (copy + len);
        if tail > 0 {
            libc::munmap((copy + len) as *mut libc::c_void, tail);
        }
    }
    let give_up = |why: String| {
        // SAFETY: the copy is ours and unused.
        unsafe { libc::munmap(copy as *mut libc::c_void, len) };
        Err(why)
    };
    // SAFETY: [copy, copy + len) is our writable mapping; [blocks) is mapped readable code of the
    // same length; they do not overlap.
    unsafe {
        if libc::madvise(copy as *mut libc::c_void, len, libc::MADV_HUGEPAGE) != 0 {
            return give_up(os("madvise"));
        }
        std::ptr::copy_nonoverlapping(blocks.start as *const u8, copy as *mut u8, len);
        let prot = if exec { libc::PROT_READ | libc::PROT_EXEC } else { libc::PROT_READ };
        if libc::mprotect(copy as *mut libc::c_void, len, prot) != 0 {
            return give_up(os("mprotect"));
        }
        // One system call replaces the code's pages with the copy's, byte for byte the same, so
        // the instructions that run on after it returns are the ones that were there.
        let moved = libc::mremap(
            copy as *mut libc::c_void,
            len,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            blocks.start as *mut libc::c_void,
        );
        if moved == libc::MAP_FAILED {
            return give_up(os("mremap"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_blocks_are_the_aligned_inside() {
        assert_eq!(whole_blocks(&(0x1000..0x60_0000)), 0x20_0000..0x60_0000);
        assert_eq!(whole_blocks(&(0x20_0000..0x40_0000)), 0x20_0000..0x40_0000);
        assert!(whole_blocks(&(0x1000..0x30_0000)).is_empty());
    }

    #[test]
    fn the_read_only_mappings_of_the_file_are_found() {
        let maps = "55d0-55e0 r--p 0 fe:00 1 /bin/x\n55e0-5600 r-xp 0 fe:00 1 /bin/x\n5600-5610 rw-p 0 fe:00 1 /bin/x\n7000-7100 r-xp 0 fe:00 2 /lib/libc.so\n";
        assert_eq!(read_only_mappings_of(maps, 0x55e8), vec![(0x55d0..0x55e0, false), (0x55e0..0x5600, true)]);
        assert!(read_only_mappings_of(maps, 0x9000).is_empty());
    }
}
