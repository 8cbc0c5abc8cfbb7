//! The embedded store's files under `data_dir`: the lock, the append-only log and the snapshot.
//!
//! - `LOCK`: held with `flock(LOCK_EX | LOCK_NB)` for the life of the process (the kernel drops
//!   it when the process dies, even on SIGKILL). It holds the owner's pid, for the message.
//! - `log.<gen>`: records `[len: u32 LE][crc32(payload): u32 LE][payload: JSON Op]`. A record
//!   is acknowledged only after `fdatasync`. On open, the log is read up to the first record
//!   that is short or fails its CRC (a torn tail from a crash mid-write); the file is truncated
//!   there, so later appends never follow garbage.
//! - `snapshot`: `orchids-snapshot v1 gen=<gen> len=<n> crc=<hex>\n` + JSON state. Written to
//!   `snapshot.tmp`, fsynced, renamed over `snapshot`, then the directory is fsynced. The
//!   snapshot names the log generation that continues it, so a crash anywhere in the switch
//!   replays each op exactly once (docs/storage.md, "Crash guarantees").

use super::state::{Op, State};
use crate::store::types::StoreError;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Largest record accepted on replay (a larger length is treated as a torn tail).
const MAX_RECORD: usize = 64 * 1024 * 1024;
const SNAP_MAGIC: &str = "orchids-snapshot v1";

fn io(what: &str, path: &Path, e: &std::io::Error) -> StoreError {
    StoreError::Io(format!("{what} {}: {e}", path.display()))
}

/// The held data-directory lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

/// Takes the lock on `dir/LOCK`, or says who holds it.
pub fn lock_dir(dir: &Path) -> Result<DirLock, StoreError> {
    let path = dir.join("LOCK");
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| io("cannot open lock file", &path, &e))?;
    if !try_flock(&file) {
        let mut holder = String::new();
        let _ = file.read_to_string(&mut holder);
        let holder = holder.trim();
        return Err(StoreError::Locked(format!(
            "data_dir {} is in use by another orchids-server process{}; stop it or choose another data_dir",
            dir.display(),
            if holder.is_empty() { String::new() } else { format!(" (pid {holder})") }
        )));
    }
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    let _ = file.sync_data();
    Ok(DirLock { _file: file })
}

#[expect(unsafe_code, reason = "flock(2) has no safe std wrapper at our MSRV (File::try_lock is 1.89)")]
fn try_flock(file: &File) -> bool {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is valid for the duration of the call (borrowed from a live `File`), and
    // flock only changes the lock state of the open file description.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    rc == 0
}

pub fn log_path(dir: &Path, gen_no: u64) -> PathBuf {
    dir.join(format!("log.{gen_no}"))
}

/// Appends encoded records and syncs before returning.
#[derive(Debug)]
pub struct LogWriter {
    file: File,
    path: PathBuf,
    pub gen_no: u64,
    pub len: u64,
}

impl LogWriter {
    /// Opens (creating) `log.<gen>` for appending at `len` (after replay truncation).
    pub fn open(dir: &Path, gen_no: u64) -> Result<Self, StoreError> {
        let path = log_path(dir, gen_no);
        let file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(|e| io("cannot open log", &path, &e))?;
        let len = file.metadata().map_err(|e| io("cannot stat log", &path, &e))?.len();
        Ok(Self { file, path, gen_no, len })
    }

    /// One write and one `fdatasync` for a whole batch.
    pub fn append_sync(&mut self, batch: &[u8]) -> Result<(), StoreError> {
        self.file.write_all(batch).map_err(|e| io("cannot append to", &self.path, &e))?;
        self.file.sync_data().map_err(|e| io("cannot fsync", &self.path, &e))?;
        self.len += batch.len() as u64;
        Ok(())
    }
}

/// Appends one framed record for `op` to `buf`.
pub fn encode_record(buf: &mut Vec<u8>, op: &Op) -> Result<(), StoreError> {
    let payload = serde_json::to_vec(op).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let len = u32::try_from(payload.len()).map_err(|_| StoreError::Invalid("record too large".into()))?;
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    buf.extend_from_slice(&payload);
    Ok(())
}

/// Decodes records from `data`: the ops and the length of the valid prefix.
pub fn decode_records(data: &[u8]) -> (Vec<Op>, usize) {
    let mut ops = Vec::new();
    let mut at = 0usize;
    while let Some(rest) = data.get(at..) {
        let (Some(len), Some(crc)) = (le_u32(rest, 0), le_u32(rest, 4)) else {
            break;
        };
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if len > MAX_RECORD {
            break;
        }
        let Some(payload) = rest.get(8..8 + len) else {
            break;
        };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Ok(op) = serde_json::from_slice::<Op>(payload) else {
            break;
        };
        ops.push(op);
        at += 8 + len;
    }
    (ops, at)
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(s))
}

/// Reads `log.<gen>` (if any), truncating a torn tail. Returns the ops and how many bytes were
/// dropped.
pub fn replay_log(dir: &Path, gen_no: u64) -> Result<(Vec<Op>, u64), StoreError> {
    let path = log_path(dir, gen_no);
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => return Err(io("cannot read log", &path, &e)),
    };
    let (ops, valid) = decode_records(&data);
    let dropped = (data.len() - valid) as u64;
    if dropped > 0 {
        let f = OpenOptions::new().write(true).open(&path).map_err(|e| io("cannot open log", &path, &e))?;
        f.set_len(valid as u64).map_err(|e| io("cannot truncate log", &path, &e))?;
        f.sync_all().map_err(|e| io("cannot fsync log", &path, &e))?;
    }
    Ok((ops, dropped))
}

/// Reads the snapshot: the state and the log generation that continues it. No snapshot yet:
/// empty state, generation 0.
pub fn read_snapshot(dir: &Path) -> Result<(State, u64), StoreError> {
    let path = dir.join("snapshot");
    let data = match fs::read(&path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((State::default(), 0)),
        Err(e) => return Err(io("cannot read snapshot", &path, &e)),
    };
    let corrupt = |why: &str| StoreError::Corrupt(format!("{}: {why}", path.display()));
    let nl = memchr::memchr(b'\n', &data).ok_or_else(|| corrupt("no header line"))?;
    let (head, body) = data.split_at(nl);
    let body = body.get(1..).unwrap_or_default();
    let head = std::str::from_utf8(head).map_err(|_| corrupt("header is not UTF-8"))?;
    let rest = head.strip_prefix(SNAP_MAGIC).ok_or_else(|| corrupt("unknown format"))?;
    let mut gen_no = None;
    let mut len = None;
    let mut crc = None;
    for part in rest.split_whitespace() {
        match part.split_once('=') {
            Some(("gen", v)) => gen_no = v.parse::<u64>().ok(),
            Some(("len", v)) => len = v.parse::<usize>().ok(),
            Some(("crc", v)) => crc = u32::from_str_radix(v, 16).ok(),
            _ => {}
        }
    }
    let (Some(gen_no), Some(len), Some(crc)) = (gen_no, len, crc) else {
        return Err(corrupt("incomplete header"));
    };
    if body.len() != len || crc32fast::hash(body) != crc {
        return Err(corrupt("length or checksum mismatch"));
    }
    let state = serde_json::from_slice(body).map_err(|e| corrupt(&e.to_string()))?;
    Ok((state, gen_no))
}

/// Atomically replaces the snapshot with `state`, continued by log generation `gen_no`.
pub fn write_snapshot(dir: &Path, state: &State, gen_no: u64) -> Result<(), StoreError> {
    let body = serde_json::to_vec(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let tmp = dir.join("snapshot.tmp");
    let mut f = File::create(&tmp).map_err(|e| io("cannot create", &tmp, &e))?;
    let head = format!("{SNAP_MAGIC} gen={gen_no} len={} crc={:08x}\n", body.len(), crc32fast::hash(&body));
    f.write_all(head.as_bytes())
        .and_then(|()| f.write_all(&body))
        .and_then(|()| f.sync_all())
        .map_err(|e| io("cannot write", &tmp, &e))?;
    drop(f);
    let dst = dir.join("snapshot");
    fs::rename(&tmp, &dst).map_err(|e| io("cannot rename snapshot into", &dst, &e))?;
    sync_dir(dir)
}

pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("cannot fsync directory", dir, &e))
}

/// Removes log files of generations other than `keep` (left over from a snapshot switch).
pub fn remove_stale_logs(dir: &Path, keep: u64) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(g) = name.to_str().and_then(|n| n.strip_prefix("log.")).and_then(|g| g.parse::<u64>().ok()) else {
            continue;
        };
        if g != keep {
            let _ = fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torn_and_corrupt_tails_stop_the_replay() {
        let mut buf = Vec::new();
        let op = Op::DeleteModel { id: "m".into() };
        encode_record(&mut buf, &op).unwrap();
        encode_record(&mut buf, &op).unwrap();
        let one = buf.len() / 2;
        assert_eq!(decode_records(&buf), (vec![op.clone(), op.clone()], buf.len()));
        for cut in 0..buf.len() {
            let (ops, valid) = decode_records(&buf[..cut]);
            assert_eq!(ops.len(), usize::from(cut >= one));
            assert_eq!(valid, if cut >= one { one } else { 0 });
        }
        let mut bad = buf.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(decode_records(&bad).1, one);
    }
}
