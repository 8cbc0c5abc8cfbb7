//! The Redis data model (`docs/storage.md`, "Redis layout"): the store API as hashes, sets,
//! strings with expiry, one sorted set per account for concurrency slots, and a change event
//! published on `{prefix}events` with every announced change.

use super::client::{Client, RedisHealth};
use super::resp::Reply;
use super::scripts;
use crate::domain::{
    AccountDef, AccountState, AccountStatus, AdminSession, ClientKey, Counters, FailureClass, ModelDef, UsageCounters,
    UsageScope,
};
use crate::store::feed::Feed;
use crate::store::secret::SecretBox;
use crate::store::types::{
    AccountRecord, CounterDelta, Day, Health, Hold, SlotLease, StoreError, StoreEvent, check_id,
};
use crate::store::{StoreApi, random_id};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Usage rows expire this long after their last increment.
const USAGE_TTL_MS: u64 = 400 * 24 * 3600 * 1000;

/// What travels on `{prefix}events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The publishing instance (its own echoes are skipped: it already fed them locally).
    pub origin: String,
    pub event: StoreEvent,
}

type Cmd = Vec<Vec<u8>>;

fn cmd<const N: usize>(parts: [&[u8]; N]) -> Cmd {
    parts.iter().map(|p| p.to_vec()).collect()
}

fn redis_err(r: Reply) -> Result<Reply, StoreError> {
    match r {
        Reply::Error(e) => Err(StoreError::Redis(e)),
        other => Ok(other),
    }
}

fn json<T: Serialize>(v: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(v).map_err(|e| StoreError::Invalid(e.to_string()))
}

fn parse<T: for<'de> Deserialize<'de>>(what: &str, b: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(b).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

/// Alternating field/value pairs (HGETALL) as a map of byte strings.
fn pairs(r: Reply) -> Result<BTreeMap<String, Vec<u8>>, StoreError> {
    let Reply::Array(items) = redis_err(r)? else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    let mut it = items.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        if let (Some(k), Some(v)) = (k.as_str(), v.as_bytes()) {
            out.insert(k.to_owned(), v.to_vec());
        }
    }
    Ok(out)
}

fn members(r: Reply) -> Result<Vec<String>, StoreError> {
    match redis_err(r)? {
        Reply::Array(items) => Ok(items.iter().filter_map(Reply::as_str).map(str::to_owned).collect()),
        _ => Ok(Vec::new()),
    }
}

fn num(m: &BTreeMap<String, Vec<u8>>, k: &str) -> u64 {
    m.get(k)
        .and_then(|v| std::str::from_utf8(v).ok())
        .and_then(|s| s.parse::<i64>().ok())
        .map_or(0, |n| u64::try_from(n).unwrap_or(0))
}

fn incr_arg(n: u64) -> Vec<u8> {
    i64::try_from(n).unwrap_or(i64::MAX).to_string().into_bytes()
}

/// A worker's handle on the Redis store.
#[derive(Debug, Clone)]
pub struct RedisStore {
    client: Rc<Client>,
    prefix: Rc<str>,
    origin: Arc<str>,
    secrets: SecretBox,
    feed: Feed,
    health: Arc<RedisHealth>,
}

impl RedisStore {
    pub fn new(client: Client, origin: Arc<str>, secrets: SecretBox, feed: Feed, health: Arc<RedisHealth>) -> Self {
        let prefix: Rc<str> = client.settings().prefix.as_str().into();
        Self { client: Rc::new(client), prefix, origin, secrets, feed, health }
    }

    fn key(&self, parts: &[&str]) -> Vec<u8> {
        let mut k = self.prefix.as_bytes().to_vec();
        for (i, p) in parts.iter().enumerate() {
            if i > 0 {
                k.push(b':');
            }
            k.extend_from_slice(p.as_bytes());
        }
        k
    }

    /// `{prefix}events`.
    pub fn channel(&self) -> Vec<u8> {
        self.key(&["events"])
    }

    fn message(&self, event: &StoreEvent) -> Result<Vec<u8>, StoreError> {
        json(&Envelope { origin: self.origin.to_string(), event: event.clone() })
    }

    fn publish(&self, event: &StoreEvent) -> Result<Cmd, StoreError> {
        Ok(vec![b"PUBLISH".to_vec(), self.channel(), self.message(event)?])
    }

    /// Runs `script` (EVALSHA when its SHA is known, else SCRIPT LOAD + EVAL).
    async fn eval(
        &self,
        script: &'static str,
        keys: &[Vec<u8>],
        args: Vec<Vec<u8>>,
        idempotent: bool,
    ) -> Result<Reply, StoreError> {
        let mut tail = vec![keys.len().to_string().into_bytes()];
        tail.extend(keys.iter().cloned());
        tail.extend(args);
        if let Some(sha) = self.client.scripts.sha(script) {
            let mut c = vec![b"EVALSHA".to_vec(), sha.into_bytes()];
            c.extend(tail.iter().cloned());
            match self.client.exec1(c, idempotent).await? {
                Reply::Error(e) if e.starts_with("NOSCRIPT") => self.client.scripts.reset(),
                other => return redis_err(other),
            }
        }
        let mut eval = vec![b"EVAL".to_vec(), script.as_bytes().to_vec()];
        eval.extend(tail);
        let mut r =
            self.client.exec(&[cmd([b"SCRIPT", b"LOAD", script.as_bytes()]), eval], idempotent).await?.into_iter();
        if let Some(sha) = r.next().as_ref().and_then(Reply::as_str) {
            self.client.scripts.learn(script, sha.to_owned());
        }
        redis_err(r.next().unwrap_or(Reply::Nil))
    }

    /// A field update of an existing account, with an optional event.
    async fn update(
        &self,
        id: &str,
        set: &[(&str, Vec<u8>)],
        incr: &[(String, u64)],
        event: Option<StoreEvent>,
        idempotent: bool,
    ) -> Result<(), StoreError> {
        let (chan, msg) = match &event {
            Some(ev) => (self.channel(), self.message(ev)?),
            None => (Vec::new(), Vec::new()),
        };
        let mut args = vec![set.len().to_string().into_bytes(), incr.len().to_string().into_bytes(), chan, msg];
        for (f, v) in set {
            args.push(f.as_bytes().to_vec());
            args.push(v.clone());
        }
        for (f, n) in incr {
            args.push(f.as_bytes().to_vec());
            args.push(incr_arg(*n));
        }
        let r = self.eval(scripts::UPDATE_IF_EXISTS, &[self.key(&["account", id])], args, idempotent).await?;
        if r.as_int() != Some(1) {
            return Err(StoreError::NotFound(format!("account {id:?}")));
        }
        if let Some(ev) = event {
            self.feed.push(ev);
        }
        Ok(())
    }

    fn account_from(&self, id: &str, m: &BTreeMap<String, Vec<u8>>) -> Result<Option<AccountRecord>, StoreError> {
        let Some(def) = m.get("def") else {
            return Ok(None);
        };
        let mut def: AccountDef = parse(&format!("account {id:?}"), def)?;
        let creds = m.get("creds").map(|c| String::from_utf8_lossy(c).into_owned()).unwrap_or_default();
        def.credentials = self.secrets.open(id, &creds)?;
        let status = match m.get("status") {
            Some(s) => parse(&format!("status of account {id:?}"), s)?,
            None => AccountStatus::default(),
        };
        let failures = m.keys().filter_map(|k| k.strip_prefix("fail:").map(|c| (c.to_owned(), num(m, k)))).collect();
        let counters = Counters {
            requests: num(m, "requests"),
            successes: num(m, "successes"),
            failures,
            tokens_in: num(m, "tokens_in"),
            tokens_out: num(m, "tokens_out"),
            last_used_ms: num(m, "last_used_ms"),
            last_error: m.get("last_error").map(|e| String::from_utf8_lossy(e).into_owned()),
            last_error_ms: num(m, "last_error_ms"),
        };
        Ok(Some(AccountRecord { def, state: AccountState { status, counters } }))
    }

    /// Reads every member of an index set with one pipelined command each.
    async fn each(&self, index: &[&str], per: impl Fn(&str) -> Cmd) -> Result<Vec<(String, Reply)>, StoreError> {
        let ids = members(self.client.exec1(vec![b"SMEMBERS".to_vec(), self.key(index)], true).await?)?;
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let cmds: Vec<Cmd> = ids.iter().map(|id| per(id)).collect();
        let replies = self.client.exec(&cmds, true).await?;
        Ok(ids.into_iter().zip(replies).collect())
    }

    async fn delete_with_index(
        &self,
        index: &str,
        record: &[&str],
        id: &str,
        event: StoreEvent,
    ) -> Result<bool, StoreError> {
        let cmds = vec![
            vec![b"SREM".to_vec(), self.key(&[index]), id.as_bytes().to_vec()],
            vec![b"DEL".to_vec(), self.key(record)],
            self.publish(&event)?,
        ];
        let r = self.client.exec(&cmds, true).await?;
        let existed = r.get(1).and_then(Reply::as_int) == Some(1);
        self.feed.push(event);
        Ok(existed)
    }

    fn usage_key(&self, scope: UsageScope, day: Day, id: Option<&str>) -> Vec<u8> {
        let d = day.compact();
        match id {
            Some(id) => self.key(&["usage", scope.as_str(), &d, id]),
            None => self.key(&["usage", scope.as_str(), &d]),
        }
    }
}

fn usage_from(m: &BTreeMap<String, Vec<u8>>) -> UsageCounters {
    UsageCounters {
        requests: num(m, "requests"),
        tokens_in: num(m, "tokens_in"),
        tokens_out: num(m, "tokens_out"),
        errors: num(m, "errors"),
    }
}

impl StoreApi for RedisStore {
    async fn put_account(&self, def: &AccountDef) -> Result<(), StoreError> {
        check_id("account", &def.id)?;
        let creds = self.secrets.seal(&def.id, &def.credentials)?;
        let mut bare = def.clone();
        bare.credentials.clear();
        let event = StoreEvent::AccountPut { id: def.id.clone(), revision: def.revision };
        let cmds = vec![
            vec![b"SADD".to_vec(), self.key(&["accounts"]), def.id.as_bytes().to_vec()],
            vec![
                b"HSET".to_vec(),
                self.key(&["account", &def.id]),
                b"def".to_vec(),
                json(&bare)?,
                b"creds".to_vec(),
                creds.into_bytes(),
            ],
            self.publish(&event)?,
        ];
        for r in self.client.exec(&cmds, true).await? {
            redis_err(r)?;
        }
        self.feed.push(event);
        Ok(())
    }

    async fn get_account(&self, id: &str) -> Result<Option<AccountRecord>, StoreError> {
        let r = self.client.exec1(vec![b"HGETALL".to_vec(), self.key(&["account", id])], true).await?;
        self.account_from(id, &pairs(r)?)
    }

    async fn list_accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        let rows = self.each(&["accounts"], |id| vec![b"HGETALL".to_vec(), self.key(&["account", id])]).await?;
        let mut out = Vec::with_capacity(rows.len());
        for (id, r) in rows {
            out.extend(self.account_from(&id, &pairs(r)?)?);
        }
        out.sort_by(|a, b| a.def.id.cmp(&b.def.id));
        Ok(out)
    }

    async fn delete_account(&self, id: &str) -> Result<bool, StoreError> {
        let _ = self.client.exec1(vec![b"DEL".to_vec(), self.key(&["slots", id])], true).await?;
        self.clear_account_holds(id).await?;
        self.delete_with_index("accounts", &["account", id], id, StoreEvent::AccountDeleted { id: id.to_owned() }).await
    }

    async fn set_status(&self, id: &str, status: &AccountStatus) -> Result<(), StoreError> {
        let event = StoreEvent::AccountStatus { id: id.to_owned(), status: status.clone() };
        self.update(id, &[("status", json(status)?)], &[], Some(event), true).await?;
        // Active again (an admin reset) also ends the account's model holds.
        if *status == AccountStatus::Active {
            self.clear_account_holds(id).await?;
        }
        Ok(())
    }

    async fn incr_counters(&self, id: &str, d: &CounterDelta) -> Result<(), StoreError> {
        let mut set = Vec::new();
        if let Some(t) = d.last_used_ms {
            set.push(("last_used_ms", t.to_string().into_bytes()));
        }
        let incr: Vec<(String, u64)> = [
            ("requests", d.requests),
            ("successes", d.successes),
            ("tokens_in", d.tokens_in),
            ("tokens_out", d.tokens_out),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .map(|(f, n)| (f.to_owned(), n))
        .collect();
        self.update(id, &set, &incr, None, false).await
    }

    async fn record_error(&self, id: &str, class: FailureClass, message: &str, at_ms: u64) -> Result<(), StoreError> {
        let set = [("last_error", message.as_bytes().to_vec()), ("last_error_ms", at_ms.to_string().into_bytes())];
        self.update(id, &set, &[(format!("fail:{}", class.as_str()), 1)], None, false).await
    }

    async fn put_model(&self, model: &ModelDef) -> Result<(), StoreError> {
        check_id("model", &model.id)?;
        let event = StoreEvent::ModelPut { id: model.id.clone() };
        let cmds = vec![
            vec![b"SADD".to_vec(), self.key(&["models"]), model.id.as_bytes().to_vec()],
            vec![b"HSET".to_vec(), self.key(&["model", &model.id]), b"def".to_vec(), json(model)?],
            self.publish(&event)?,
        ];
        for r in self.client.exec(&cmds, true).await? {
            redis_err(r)?;
        }
        self.feed.push(event);
        Ok(())
    }

    async fn list_models(&self) -> Result<Vec<ModelDef>, StoreError> {
        let rows =
            self.each(&["models"], |id| vec![b"HGET".to_vec(), self.key(&["model", id]), b"def".to_vec()]).await?;
        let mut out = Vec::new();
        for (id, r) in rows {
            if let Some(b) = redis_err(r)?.as_bytes() {
                out.push(parse::<ModelDef>(&format!("model {id:?}"), b)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete_model(&self, id: &str) -> Result<bool, StoreError> {
        self.delete_with_index("models", &["model", id], id, StoreEvent::ModelDeleted { id: id.to_owned() }).await
    }

    async fn put_key(&self, key: &ClientKey) -> Result<(), StoreError> {
        check_id("key", &key.id)?;
        check_id("key hash", &key.hash)?;
        let event = StoreEvent::KeyPut { id: key.id.clone() };
        let keys = [self.key(&["key", &key.id]), self.key(&["keyhash", &key.hash]), self.key(&["keys"])];
        let args = vec![
            key.id.as_bytes().to_vec(),
            json(key)?,
            key.hash.as_bytes().to_vec(),
            self.key(&["keyhash", ""]),
            self.channel(),
            self.message(&event)?,
        ];
        self.eval(scripts::PUT_KEY, &keys, args, true).await.map_err(|e| match e {
            StoreError::Redis(m) if m.contains("already belongs") => {
                StoreError::Invalid(m.trim_start_matches("ERR ").to_owned())
            }
            other => other,
        })?;
        self.feed.push(event);
        Ok(())
    }

    async fn list_keys(&self) -> Result<Vec<ClientKey>, StoreError> {
        let rows = self.each(&["keys"], |id| vec![b"HGET".to_vec(), self.key(&["key", id]), b"def".to_vec()]).await?;
        let mut out = Vec::new();
        for (id, r) in rows {
            if let Some(b) = redis_err(r)?.as_bytes() {
                out.push(parse::<ClientKey>(&format!("key {id:?}"), b)?);
            }
        }
        out.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(out)
    }

    async fn delete_key(&self, id: &str) -> Result<bool, StoreError> {
        let hash = redis_err(
            self.client.exec1(vec![b"HGET".to_vec(), self.key(&["key", id]), b"hash".to_vec()], true).await?,
        )?;
        if let Some(h) = hash.as_str() {
            self.client.exec1(vec![b"DEL".to_vec(), self.key(&["keyhash", h])], true).await?;
        }
        self.delete_with_index("keys", &["key", id], id, StoreEvent::KeyDeleted { id: id.to_owned() }).await
    }

    async fn find_key_by_hash(&self, hash: &str) -> Result<Option<ClientKey>, StoreError> {
        let owner = redis_err(self.client.exec1(vec![b"GET".to_vec(), self.key(&["keyhash", hash])], true).await?)?;
        let Some(id) = owner.as_str() else {
            return Ok(None);
        };
        let def =
            redis_err(self.client.exec1(vec![b"HGET".to_vec(), self.key(&["key", id]), b"def".to_vec()], true).await?)?;
        def.as_bytes().map(|b| parse::<ClientKey>(&format!("key {id:?}"), b)).transpose()
    }

    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let r = redis_err(
            self.client.exec1(vec![b"HGET".to_vec(), self.key(&["settings"]), key.as_bytes().to_vec()], true).await?,
        )?;
        Ok(r.as_bytes().map(|b| String::from_utf8_lossy(b).into_owned()))
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        check_id("setting", key)?;
        let event = StoreEvent::SettingChanged { key: key.to_owned() };
        let cmds = vec![
            vec![b"HSET".to_vec(), self.key(&["settings"]), key.as_bytes().to_vec(), value.as_bytes().to_vec()],
            self.publish(&event)?,
        ];
        for r in self.client.exec(&cmds, true).await? {
            redis_err(r)?;
        }
        self.feed.push(event);
        Ok(())
    }

    async fn list_settings(&self) -> Result<BTreeMap<String, String>, StoreError> {
        let m = pairs(self.client.exec1(vec![b"HGETALL".to_vec(), self.key(&["settings"])], true).await?)?;
        Ok(m.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect())
    }

    async fn put_session(&self, s: &AdminSession) -> Result<(), StoreError> {
        check_id("session", &s.id_hash)?;
        let c = vec![
            b"SET".to_vec(),
            self.key(&["session", &s.id_hash]),
            json(s)?,
            b"PXAT".to_vec(),
            s.expires_ms.max(1).to_string().into_bytes(),
        ];
        redis_err(self.client.exec1(c, true).await?).map(|_| ())
    }

    async fn get_session(&self, id_hash: &str) -> Result<Option<AdminSession>, StoreError> {
        let r = redis_err(self.client.exec1(vec![b"GET".to_vec(), self.key(&["session", id_hash])], true).await?)?;
        let Some(b) = r.as_bytes() else {
            return Ok(None);
        };
        let s: AdminSession = parse("admin session", b)?;
        Ok((s.expires_ms > crate::domain::now_ms()).then_some(s))
    }

    async fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let r = redis_err(self.client.exec1(vec![b"DEL".to_vec(), self.key(&["session", id_hash])], true).await?)?;
        Ok(r.as_int() == Some(1))
    }

    async fn incr_usage(&self, scope: UsageScope, id: &str, day: Day, d: &UsageCounters) -> Result<(), StoreError> {
        check_id("usage subject", id)?;
        let row = self.usage_key(scope, day, Some(id));
        let index = self.usage_key(scope, day, None);
        let ttl = USAGE_TTL_MS.to_string().into_bytes();
        let mut cmds = Vec::new();
        for (f, n) in
            [("requests", d.requests), ("tokens_in", d.tokens_in), ("tokens_out", d.tokens_out), ("errors", d.errors)]
        {
            if n > 0 {
                cmds.push(vec![b"HINCRBY".to_vec(), row.clone(), f.as_bytes().to_vec(), incr_arg(n)]);
            }
        }
        cmds.push(vec![b"SADD".to_vec(), index.clone(), id.as_bytes().to_vec()]);
        cmds.push(vec![b"PEXPIRE".to_vec(), row, ttl.clone()]);
        cmds.push(vec![b"PEXPIRE".to_vec(), index, ttl]);
        for r in self.client.exec(&cmds, false).await? {
            redis_err(r)?;
        }
        Ok(())
    }

    async fn get_usage(&self, scope: UsageScope, id: &str, day: Day) -> Result<UsageCounters, StoreError> {
        let r = self.client.exec1(vec![b"HGETALL".to_vec(), self.usage_key(scope, day, Some(id))], true).await?;
        Ok(usage_from(&pairs(r)?))
    }

    async fn list_usage(&self, scope: UsageScope, day: Day) -> Result<BTreeMap<String, UsageCounters>, StoreError> {
        let index = self.usage_key(scope, day, None);
        let ids = members(self.client.exec1(vec![b"SMEMBERS".to_vec(), index], true).await?)?;
        let cmds: Vec<Cmd> =
            ids.iter().map(|id| vec![b"HGETALL".to_vec(), self.usage_key(scope, day, Some(id))]).collect();
        let replies = if cmds.is_empty() { Vec::new() } else { self.client.exec(&cmds, true).await? };
        let mut out = BTreeMap::new();
        for (id, r) in ids.into_iter().zip(replies) {
            out.insert(id, usage_from(&pairs(r)?));
        }
        Ok(out)
    }

    async fn acquire_slot(&self, account: &str, cap: u32, ttl: Duration) -> Result<Option<SlotLease>, StoreError> {
        check_id("account", account)?;
        let token = random_id();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let args = vec![cap.to_string().into_bytes(), ttl_ms.to_string().into_bytes(), token.as_bytes().to_vec()];
        // Not idempotent: a lost reply may have taken a slot; the TTL frees it.
        let r = self.eval(scripts::ACQUIRE_SLOT, &[self.key(&["slots", account])], args, false).await?;
        Ok((r.as_int() == Some(1)).then(|| SlotLease { account: account.to_owned(), token }))
    }

    async fn release_slot(&self, lease: &SlotLease) -> Result<(), StoreError> {
        let c = vec![b"ZREM".to_vec(), self.key(&["slots", &lease.account]), lease.token.as_bytes().to_vec()];
        redis_err(self.client.exec1(c, true).await?).map(|_| ())
    }

    async fn try_lock(&self, name: &str, owner: &str, ttl: Duration) -> Result<bool, StoreError> {
        check_id("lock", name)?;
        let key = self.key(&["lock", name]);
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        // SET NX PX takes it when free; the GET in the same pipeline says who holds it, so a
        // retry after a lost reply (our own token there) still answers `true`: idempotent.
        let cmds = vec![
            vec![
                b"SET".to_vec(),
                key.clone(),
                owner.as_bytes().to_vec(),
                b"NX".to_vec(),
                b"PX".to_vec(),
                ttl_ms.to_string().into_bytes(),
            ],
            vec![b"GET".to_vec(), key],
        ];
        let mut r = self.client.exec(&cmds, true).await?.into_iter();
        redis_err(r.next().unwrap_or(Reply::Nil))?;
        let holder = redis_err(r.next().unwrap_or(Reply::Nil))?;
        Ok(holder.as_bytes() == Some(owner.as_bytes()))
    }

    async fn unlock(&self, name: &str, owner: &str) -> Result<bool, StoreError> {
        let key = self.key(&["lock", name]);
        let r = self.eval(scripts::UNLOCK, &[key], vec![owner.as_bytes().to_vec()], true).await?;
        Ok(r.as_int() == Some(1))
    }

    async fn put_hold(&self, hold: &Hold) -> Result<(), StoreError> {
        hold.check()?;
        let event = StoreEvent::Hold { hold: hold.clone() };
        let args = vec![
            hold.key().into_bytes(),
            hold.until_ms.to_string().into_bytes(),
            json(hold)?,
            self.channel(),
            self.message(&event)?,
            crate::domain::now_ms().to_string().into_bytes(),
        ];
        // Idempotent: a replay finds the same deadline stored and changes nothing.
        let r = self.eval(scripts::PUT_HOLD, &[self.key(&["holds"])], args, true).await?;
        if r.as_int() == Some(1) {
            self.feed.push(event);
        }
        Ok(())
    }

    async fn list_holds(&self, now_ms: u64) -> Result<Vec<Hold>, StoreError> {
        let args = vec![now_ms.to_string().into_bytes()];
        let r = self.eval(scripts::LIST_HOLDS, &[self.key(&["holds"])], args, true).await?;
        let Reply::Array(items) = r else {
            return Ok(Vec::new());
        };
        let mut out: Vec<Hold> =
            items.iter().filter_map(Reply::as_bytes).map(|b| parse::<Hold>("hold", b)).collect::<Result<_, _>>()?;
        out.sort_by_key(Hold::key);
        Ok(out)
    }

    fn health(&self) -> Health {
        match self.health.problem() {
            None => Health::Ok,
            Some(why) => Health::Degraded(why.to_owned()),
        }
    }
}

impl RedisStore {
    /// Deletes every hold of account `id` (its (account, model) unavailability).
    async fn clear_account_holds(&self, id: &str) -> Result<(), StoreError> {
        let prefix = Hold::account_key_prefix(id).into_bytes();
        self.eval(scripts::CLEAR_HOLDS, &[self.key(&["holds"])], vec![prefix], true).await.map(|_| ())
    }

    /// Deletes every key under this store's prefix (SCAN + DEL, never KEYS). For tests and
    /// operators retiring a prefix; returns how many keys were deleted.
    pub async fn purge(&self) -> Result<u64, StoreError> {
        let mut pattern = Vec::new();
        for b in self.prefix.bytes() {
            if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
                pattern.push(b'\\');
            }
            pattern.push(b);
        }
        pattern.push(b'*');
        let mut cursor = b"0".to_vec();
        let mut deleted = 0u64;
        loop {
            let r = redis_err(
                self.client
                    .exec1(
                        vec![
                            b"SCAN".to_vec(),
                            cursor,
                            b"MATCH".to_vec(),
                            pattern.clone(),
                            b"COUNT".to_vec(),
                            b"500".to_vec(),
                        ],
                        true,
                    )
                    .await?,
            )?;
            let Reply::Array(mut parts) = r else {
                return Err(StoreError::Redis("SCAN answered oddly".into()));
            };
            let keys = parts.pop().map(members).transpose()?.unwrap_or_default();
            cursor = parts.pop().and_then(|c| c.as_bytes().map(<[u8]>::to_vec)).unwrap_or_else(|| b"0".to_vec());
            if !keys.is_empty() {
                let mut del = vec![b"DEL".to_vec()];
                del.extend(keys.into_iter().map(String::into_bytes));
                deleted += redis_err(self.client.exec1(del, true).await?)?
                    .as_int()
                    .and_then(|n| u64::try_from(n).ok())
                    .unwrap_or(0);
            }
            if cursor == b"0" {
                return Ok(deleted);
            }
        }
    }

    /// The underlying client (benches, diagnostics).
    pub fn client(&self) -> &Client {
        &self.client
    }
}
