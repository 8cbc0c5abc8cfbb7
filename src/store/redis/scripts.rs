//! The Lua scripts, used only where one round trip must be atomic:
//! - [`UPDATE_IF_EXISTS`]: field updates of an account (status, counters, last error) that must
//!   not resurrect a deleted account as a half-empty hash, plus the optional change event;
//! - [`PUT_KEY`]: a client key and its hash index, refusing a hash owned by another key;
//! - [`ACQUIRE_SLOT`]: the cross-instance concurrency cap (sorted set of leases scored by expiry,
//!   Redis server time, so instance clocks do not matter);
//! - [`UNLOCK`]: compare-and-delete of a short lock (only its owner releases it);
//! - [`PUT_HOLD`], [`LIST_HOLDS`], [`CLEAR_HOLDS`]: holds that only move later, announced only
//!   when they moved, expired entries pruned.
//!
//! Scripts run by `EVALSHA` once their SHA is known on this client (learned from `SCRIPT LOAD`
//! pipelined before the first `EVAL`); a `NOSCRIPT` answer (Redis restarted or flushed its
//! script cache) falls back to `EVAL` with the text.

use std::cell::RefCell;

/// KEYS[1] = account hash. ARGV = n_hset, n_incr, channel, message, then n_hset field/value
/// pairs, then n_incr field/delta pairs. Returns 0 when the account does not exist.
pub const UPDATE_IF_EXISTS: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local nset = tonumber(ARGV[1])
local nincr = tonumber(ARGV[2])
local i = 5
for _ = 1, nset do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
for _ = 1, nincr do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]); i = i + 2 end
if ARGV[3] ~= '' then redis.call('PUBLISH', ARGV[3], ARGV[4]) end
return 1
";

/// KEYS[1] = key hash, KEYS[2] = new hash index, KEYS[3] = keys set.
/// ARGV = id, def json, new hash, hash-index prefix, channel, message.
pub const PUT_KEY: &str = r"
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[1] then
  return redis.error_reply('ERR key hash already belongs to key ' .. owner)
end
local old = redis.call('HGET', KEYS[1], 'hash')
if old and old ~= ARGV[3] then redis.call('DEL', ARGV[4] .. old) end
redis.call('HSET', KEYS[1], 'def', ARGV[2], 'hash', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
";

/// KEYS[1] = slots sorted set. ARGV = cap (0 = unlimited), ttl ms, token. Returns 1 if taken.
pub const ACQUIRE_SLOT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local cap = tonumber(ARGV[1])
if cap > 0 and redis.call('ZCARD', KEYS[1]) >= cap then return 0 end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1
";

/// KEYS[1] = lock key. ARGV = owner token. Returns 1 when it deleted the owner's lock.
pub const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// KEYS[1] = holds hash. ARGV = field, until ms, value (JSON hold), channel, message, now ms.
/// Keeps a later stored deadline (returns 0, announces nothing); else stores and publishes.
/// Past 64 entries, expired ones are pruned first.
pub const PUT_HOLD: &str = r"
local function until_of(v)
  local ok, h = pcall(cjson.decode, v)
  if ok and type(h) == 'table' then return tonumber(h['until_ms']) or 0 end
  return 0
end
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and until_of(old) >= tonumber(ARGV[2]) then return 0 end
if redis.call('HLEN', KEYS[1]) >= 64 then
  local all = redis.call('HGETALL', KEYS[1])
  for i = 1, #all, 2 do
    if until_of(all[i + 1]) <= tonumber(ARGV[6]) then redis.call('HDEL', KEYS[1], all[i]) end
  end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('PUBLISH', ARGV[4], ARGV[5])
return 1
";

/// KEYS[1] = holds hash. ARGV = now ms. Deletes expired entries and returns the live values.
pub const LIST_HOLDS: &str = r"
local out = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local ok, h = pcall(cjson.decode, all[i + 1])
  if ok and type(h) == 'table' and (tonumber(h['until_ms']) or 0) > tonumber(ARGV[1]) then
    out[#out + 1] = all[i + 1]
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return out
";

/// KEYS[1] = holds hash. ARGV = field prefix. Deletes every field starting with it.
pub const CLEAR_HOLDS: &str = r"
local n = 0
for _, f in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(f, 1, #ARGV[1]) == ARGV[1] then redis.call('HDEL', KEYS[1], f); n = n + 1 end
end
return n
";

/// SHAs learned on this client, by script text pointer.
#[derive(Debug, Default)]
pub struct Scripts {
    shas: RefCell<Vec<(&'static str, String)>>,
}

impl Scripts {
    pub fn sha(&self, script: &'static str) -> Option<String> {
        self.shas.borrow().iter().find(|(s, _)| std::ptr::eq(*s, script)).map(|(_, h)| h.clone())
    }

    pub fn learn(&self, script: &'static str, sha: String) {
        let mut v = self.shas.borrow_mut();
        v.retain(|(s, _)| !std::ptr::eq(*s, script));
        v.push((script, sha));
    }

    /// Forgets every SHA (after `NOSCRIPT`).
    pub fn reset(&self) {
        self.shas.borrow_mut().clear();
    }
}
