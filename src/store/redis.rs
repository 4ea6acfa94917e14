//! Profiles in a Redis server (`redis://`, `rediss://` for TLS) or a Redis Cluster (`redis+cluster://h1:p1,…`,
//! `rediss+cluster://` for TLS), shared by every machine that points at it. Each access key is one hash, `kw:{KEY}`
//! (the hash tag names the cluster slot), with the fields `account`, `user`, `type`, `first`, `last`, `_batches`,
//! and one field per value, `ip:…`, `agent:…`, `region:…`, `event:…`, holding `COUNT FIRST LAST`. Times are RFC 3339
//! with nine fraction digits, so that they compare as text; an unknown time is empty.
//!
//! A merge runs [`MERGE`], a Lua script loaded once on each server (`EVALSHA`), once per key: union, add, min,
//! max, as `Profile::merge` does, atomic per key, so learners racing on one Redis lose nothing. The scripts of a
//! batch of keys go in one pipelined round trip per server, as do the loads of a batch. Each batch carries a
//! token that the script keeps in the hash (`_batches`, the last eight), so a batch sent again after a lost reply
//! is not counted twice: a field, not a key of its own beside the hash, which cost a quarter of the script's time.
//! Earlier builds kept them in `kw:{KEY}:batches`, expiring an hour after the last merge; such keys are left to
//! expire. Listing uses SCAN on every master, never KEYS. `link.rs` holds the connections, deadlines and retries;
//! `ahead.rs` loads the profiles `score` asks for ahead, on a thread with connections of its own.

mod ahead;
mod link;
mod quick;
mod resp;

use std::hash::{BuildHasher, RandomState};

use anyhow::{Context, Result, anyhow, bail};
use jiff::Timestamp;
use redis::{Cmd, FromRedisValue, Script, Value};

use self::resp::Times;

use self::ahead::Ahead;
use self::link::{Link, Requests, Sent, Target};
use super::{Store, legacy};
use crate::profile::{self, Profile, Profiles, Seen, Values};
use crate::when;

/// What each hash key starts with; the access key and `}` follow.
const PREFIX: &str = "kw:{";
/// The SCAN pattern of profile keys, and of the old script's string keys (`[Key]AKIA…:[Ip]…`).
const PROFILES: &str = "kw:{*}";
const OLD_LAYOUT: &str = r"\[Key\]*";
/// The SCAN pattern of the hashes that hold a delta until it is renamed into place (`kw:{KEY}:TOKEN`).
const HELD: &str = "kw:{*}:*";
/// Keys per pipelined round trip. `score` loads a chunk's new keys (about 900 at 80,000 keys) in one round trip
/// instead of two: 200,000 records over 80,000 keys scored in 7.6, 6.4 and 4.4 s instead of 11.4, 8.7 and 5.4 s
/// with 500 (three interleaved pairs on a loaded machine); learn showed no difference.
const BATCH: usize = 2000;
/// The hash field that keeps the tokens of the last eight batches merged into a profile.
const TOKENS: &str = "_batches";

/// Merges one profile delta into the hash `KEYS[1]`. ARGV: the hash fields of the delta in pairs, as they are
/// stored: `_batches` and this batch's token, `first`, `last`, `account`, `user`, `type`, then one
/// `ip:…`/`agent:…`/`region:…`/`event:…` field per value with `COUNT FIRST LAST`. A key with no hash yet takes them
/// as they are, in one HSET. With a second key, `KEYS[2]`, the delta is that hash's fields instead (see
/// [`Redis::merge`]), and the hash is deleted. Otherwise:
/// union, add, min, max; the account, user and type become the delta's when `(last, account, user, type)` is
/// greater, as in `Profile::seen_as`, comparing bytes as Rust does; `_batches` keeps the last eight tokens. Times
/// of equal length are compared with Lua's `<`, which uses the server's collation (strcoll): keywatcher writes
/// them in one fixed form, digits in the same places, which every collation orders as time, except that of two
/// years before 0 (which an `eventTime` may name) the greater number is the earlier. Returns 0 when this batch was
/// already applied to this key, 1 when merged, 2 when the key was made.
const MERGE: &str = r"
local key, delta = KEYS[1], ARGV
if KEYS[2] then
  -- The delta is held in the hash KEYS[2], which a learner wrote to rename into place as a new key and found the
  -- key made meanwhile. Its fields are put in the order above (a big hash gives them in any order), and it is
  -- deleted. None left: this merge was done already, and is a request sent again.
  local held = redis.call('HGETALL', KEYS[2])
  redis.call('DEL', KEYS[2])
  if #held == 0 then return 0 end
  local at = {_batches = 2, first = 4, last = 6, account = 8, user = 10, type = 12}
  delta = {'_batches', '', 'first', '', 'last', '', 'account', '', 'user', '', 'type', ''}
  for i = 1, #held, 2 do
    local n = at[held[i]]
    if n then delta[n] = held[i + 1] else delta[#delta + 1], delta[#delta + 2] = held[i], held[i + 1] end
  end
end
local token = delta[2]
local function before(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function earlier(a, b)
  if #a == #b then
    -- Two years before 0 (jiff's `-000002-…`) order the other way: the greater number is the earlier year.
    local year, other = string.match(a, '^%-(%d+)'), string.match(b, '^%-(%d+)')
    if year and other and year ~= other then return year > other end
    return a < b
  end
  return before(a, b)
end
local function earliest(a, b)
  if a == '' or (b ~= '' and earlier(b, a)) then return b end
  return a
end
local function latest(a, b)
  if earlier(a, b) then return b end
  return a
end
local out, exists = delta, redis.call('EXISTS', key) == 1
if exists then
  -- What the fields hold now, read in slices of 500 (unpack's stack is limited) and all checked before anything
  -- is written. fields[n] is delta[2n - 1], its new value delta[2n].
  local fields, was = {}, {}
  for i = 1, #delta, 2 do fields[#fields + 1] = delta[i] end
  for first = 1, #fields, 500 do
    local part = redis.call('HMGET', key, unpack(fields, first, math.min(first + 499, #fields)))
    for n = 1, #part do was[first + n - 1] = part[n] end
  end
  for n = 1, 6 do was[n] = was[n] or '' end
  local kept, count = token, 1
  for seen in string.gmatch(was[1], '%S+') do
    if seen == token then return 0 end
    if count < 8 then kept, count = kept .. ' ' .. seen, count + 1 end
  end
  out = {'_batches', kept, 'first', earliest(was[2], delta[4]), 'last', latest(was[3], delta[6])}
  for n = 3, 6 do
    local mine, theirs = was[n], delta[2 * n]
    if mine ~= theirs then
      if (n == 3 and earlier(mine, theirs)) or (n > 3 and before(mine, theirs)) then
        for m = 4, 6 do out[#out + 1], out[#out + 2] = fields[m], delta[2 * m] end
      end
      break
    end
  end
  for n = 7, #fields do
    local theirs = delta[2 * n]
    if was[n] then
      local c, f, l = string.match(was[n], '^(%d+) (%S*) (%S*)$')
      if not c then
        return redis.error_reply('BADPROFILE profile key ' .. key .. ' has a field ' .. fields[n] .. ' = ' .. was[n] ..
          ' that keywatcher did not write; delete that key (profile delete) and learn it again')
      end
      local count, first, last = string.match(theirs, '^(%d+) (%S*) (%S*)$')
      theirs = string.format('%.0f %s %s', tonumber(c) + tonumber(count), earliest(f, first), latest(l, last))
    end
    out[#out + 1], out[#out + 2] = fields[n], theirs
  end
end
for i = 1, #out, 1000 do
  redis.call('HSET', key, unpack(out, i, math.min(i + 999, #out)))
end
if exists then return 1 end
return 2
";

/// A Redis server or cluster holding profiles; it connects on first use and again after a failure.
pub struct Redis {
    link: Link,
    /// The thread that loads profiles ahead (`prefetch`), started at the first ask.
    ahead: Option<Ahead>,
    /// Connections of their own to the same servers, for a merge's second batch in flight: see [`Redis::merge`].
    spare: Link,
    merge: Script,
    /// Makes each merge batch's token unique: this run's random part, and merges so far.
    run: u64,
    merges: u64,
    /// Whether each key's merge is tokened by what it writes instead (`profile import --from-old-redis`), so that
    /// merging the same profile again is a no-op while the key keeps that token among its last eight.
    by_content: bool,
}

impl Redis {
    /// The store named by `spec`, a `redis://`, `rediss://` or `redis+cluster://` URL. The password comes
    /// from the URL, else `KEYWATCHER_REDIS_PASSWORD`, else `REDISCLI_AUTH`. Nothing is connected yet.
    pub fn new(spec: &str) -> Result<Redis> {
        let run = RandomState::new().hash_one((std::process::id(), Timestamp::now()));
        // Every connection loads the script first, so that EVALSHA finds it on every master, including one
        // that took over after a failover.
        let load = redis::cmd("SCRIPT").arg("LOAD").arg(MERGE).take();
        let link = Link::new(Target::parse(spec)?, vec![load.clone()]);
        let spare = Link::new(Target::parse(spec)?, vec![load]);
        Ok(Redis { link, spare, ahead: None, merge: Script::new(MERGE), run, merges: 0, by_content: false })
    }

    /// This store, each key's merge tokened by the fields it writes rather than by the run: merging a profile that
    /// was merged before changes nothing (unless eight other merges into its key came between). For `profile import
    /// --from-old-redis`, so that running it again does not add the old counts twice.
    pub fn merging_by_content(self) -> Redis {
        Redis { by_content: true, ..self }
    }

    /// The old script's profiles, read from its string keys (`[Key]AKIA…:[Ip]1.2.3.4` → count) in this
    /// store's Redis; the old keys are left as they are. A key that is not UTF-8 is read with U+FFFD in place
    /// of its bad bytes.
    pub fn old_layout(&mut self) -> Result<Profiles> {
        let keys = self.scan(OLD_LAYOUT, "string", usize::MAX)?;
        let mut profiles = Profiles::new();
        for batch in keys.chunks(BATCH) {
            let cmds = batch.iter().map(|key| (key.as_slice(), redis::cmd("GET").arg(key).take()));
            let counts: Vec<Option<Vec<u8>>> = self.pipe("read the old profile keys", cmds)?;
            for (key, count) in batch.iter().zip(counts) {
                // A key deleted since the scan has nothing to import.
                let Some(count) = count else { continue };
                let key = String::from_utf8_lossy(key);
                let count = String::from_utf8_lossy(&count);
                let count: u64 = count.trim().parse().map_err(|_| {
                    anyhow!("old profile key {key:?} in {} holds {count:?}, not a count", self.location())
                })?;
                let one = legacy::parse_entry(&key, count).map_err(|why| {
                    anyhow!("old profile key {key:?}: {}", why.unwrap_or_else(|| "not of the old layout".into()))
                })?;
                profile::merge_all(&mut profiles, Profiles::from([(one.access_key_id.clone(), one)]));
            }
        }
        Ok(profiles)
    }

    /// Sends `cmds`, each with the key that routes it, in one round trip per server, and reads their replies.
    fn pipe<K: AsRef<[u8]>, T: FromRedisValue>(
        &mut self,
        doing: &str,
        cmds: impl Iterator<Item = (K, Cmd)>,
    ) -> Result<Vec<T>> {
        let mut requests = Requests::default();
        cmds.for_each(|(key, cmd)| requests.push_cmd(key.as_ref(), &cmd));
        let replies = self.link.pipe(doing, &requests)?;
        self.replies(doing, replies)
    }

    /// `replies` as `T`s.
    fn replies<T: FromRedisValue>(&self, doing: &str, replies: Vec<Value>) -> Result<Vec<T>> {
        replies
            .into_iter()
            .map(redis::from_redis_value)
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot {doing} in {}: an unexpected reply", self.location()))
    }

    /// The keys matching `pattern` of type `kind`, from every master; it stops once `enough` are found.
    fn scan(&mut self, pattern: &str, kind: &str, enough: usize) -> Result<Vec<Vec<u8>>> {
        let doing = "list the stored keys";
        let mut keys = Vec::new();
        for master in self.link.masters(doing)? {
            let mut cursor = 0u64;
            while keys.len() < enough {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).arg("TYPE").arg(kind);
                let reply = self.link.on(doing, Some(&master), &cmd)?;
                let (next, found): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)
                    .with_context(|| format!("cannot {doing} in {}: an unexpected reply", self.location()))?;
                keys.extend(found);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(keys)
    }

    /// The access keys that have profiles (keys of the pattern that are not UTF-8 are not keywatcher's).
    fn stored_keys(&mut self) -> Result<Vec<String>> {
        let keys = self.scan(PROFILES, "hash", usize::MAX)?;
        Ok(keys.into_iter().filter_map(|key| access_key(&String::from_utf8(key).ok()?).map(str::to_string)).collect())
    }

    /// Deletes the Redis keys `hashes`; returns how many there were.
    fn del(&mut self, hashes: Vec<Vec<u8>>) -> Result<usize> {
        let mut deleted = 0;
        for batch in hashes.chunks(BATCH) {
            let cmds = batch.iter().map(|hash| (hash, redis::cmd("DEL").arg(hash).take()));
            let done: Vec<usize> = self.pipe("delete profiles", cmds)?;
            deleted += done.iter().filter(|&&n| n > 0).count();
        }
        Ok(deleted)
    }

    /// [`Store::merge`]'s batches, two in flight.
    fn merge_batches(&mut self, delta: Profiles) -> Result<()> {
        let doing = "merge profiles";
        let token = format!("{:016x}-{}", self.run, self.merges);
        self.merges += 1;
        let mut profiles = delta.into_values();
        let (mut building, mut spare) = (Merges::default(), Merges::default());
        // The batch before, sent on `self.spare`.
        let mut in_flight: Option<(Merges, Sent)> = None;
        let mut making = false;
        loop {
            building.clear(making);
            profiles.by_ref().take(BATCH).for_each(|profile| self.merge_request(&mut building, profile, &token));
            let sent = (!building.requests.is_empty()).then(|| self.link.send_all(&building.requests));
            // The batch before is read on its own connections while the servers run this one after it.
            std::mem::swap(&mut self.link, &mut self.spare);
            if let Some((mut merges, sent)) = in_flight.take() {
                let replies = self.link.answers(doing, &merges.requests, sent)?;
                let made = self.merged(&mut merges, replies, &token)?;
                making = made * 2 > merges.profiles.len();
                spare = merges;
            }
            let Some(sent) = sent else { return Ok(()) };
            in_flight = Some((std::mem::replace(&mut building, std::mem::take(&mut spare)), sent));
        }
    }

    /// Adds the merge of `profile` to `merges`: one `EVALSHA` of [`MERGE`], or, in a batch that makes keys, an `HSET`
    /// of the delta into a hash of this batch's own and a `RENAMENX` of it to the profile's key; written straight in
    /// RESP. The delta's token is `token`, or, when merging by content, one made of the fields it writes. The batch
    /// keeps `profile` until its replies are read.
    fn merge_request(&self, merges: &mut Merges, profile: Profile, token: &str) {
        let key = profile.access_key_id.as_bytes();
        let values = values(&profile);
        let count: usize = values.iter().map(|(_, values)| values.len()).sum();
        let fields = 12 + 2 * count;
        let hash = hash_key(&profile.access_key_id);
        let renamed = merges.making && renamable(&profile.access_key_id);
        merges.requests.push(hash.as_bytes(), |out| {
            if renamed {
                resp::array(out, 2 + fields);
                resp::bulk(out, &[b"HSET"]);
                resp::bulk(out, &[PREFIX.as_bytes(), key, b"}:", token.as_bytes()]);
            } else {
                resp::array(out, 4 + fields);
                resp::bulk(out, &[b"EVALSHA"]);
                resp::bulk(out, &[self.merge.get_hash().as_bytes()]);
                resp::bulk(out, &[b"1"]);
                resp::bulk(out, &[PREFIX.as_bytes(), key, b"}"]);
            }
            resp::bulk(out, &[TOKENS.as_bytes()]);
            let token_at = out.len();
            resp::bulk(out, &[if self.by_content { &[b'0'; 16] } else { token.as_bytes() }]);
            let fields_at = out.len();
            let mut times = Times::default();
            let (first, last) = (times.text(profile.first_seen), times.text(profile.last_seen));
            let fields: [(&str, &[u8]); 5] = [
                ("first", first.as_bytes()),
                ("last", last.as_bytes()),
                ("account", profile.account_id.as_bytes()),
                ("user", profile.user_name.as_bytes()),
                ("type", profile.user_type.as_bytes()),
            ];
            for (field, value) in fields {
                resp::bulk(out, &[field.as_bytes()]);
                resp::bulk(out, &[value]);
            }
            let mut number = itoa::Buffer::new();
            for (kind, values) in values {
                for (value, seen) in values {
                    resp::bulk(out, &[kind.as_bytes(), value.as_bytes()]);
                    let (first, last) = (times.text(seen.first), times.text(seen.last));
                    let count = number.format(seen.count).as_bytes();
                    resp::bulk(out, &[count, b" ", first.as_bytes(), b" ", last.as_bytes()]);
                }
            }
            if self.by_content {
                // `$16\r\n`, then the token's 16 characters: the CRC-32 of the fields and their length, in hex.
                let fields = &out[fields_at..];
                let made = format!("{:08x}{:08x}", crc32fast::hash(fields), fields.len() as u32);
                out[token_at + 5..token_at + 21].copy_from_slice(made.as_bytes());
            }
        });
        if renamed {
            merges.requests.push_or_tryagain(hash.as_bytes(), |out| {
                resp::array(out, 3);
                resp::bulk(out, &[b"RENAMENX"]);
                resp::bulk(out, &[PREFIX.as_bytes(), key, b"}:", token.as_bytes()]);
                resp::bulk(out, &[PREFIX.as_bytes(), key, b"}"]);
            });
        }
        merges.profiles.push((profile, renamed));
    }

    /// Reads the replies to `merges`; returns how many of its keys were made. A key that a batch meant to make but
    /// found made meanwhile (by another learner) is merged now, from the hash its delta was written to. One whose slot
    /// is moving, half moved (RENAMENX answered TRYAGAIN, as it does for as long as a move is left half done, where
    /// the script on the key alone is sent on with ASK), is merged by the script from its profile in `merges`, and
    /// its held hash deleted.
    fn merged(&mut self, merges: &mut Merges, replies: Vec<Value>, token: &str) -> Result<usize> {
        let doing = "merge profiles";
        // A key renamed into place has two replies, the HSET's count of fields, then the RENAMENX's 1 (renamed), 0
        // (the key exists) or TRYAGAIN; a key merged by the script has one, 2 when it made the key.
        let (mut replies, mut made, mut found, mut moving) = (replies.into_iter(), 0, Vec::new(), Merges::default());
        for (profile, renamed) in &mut merges.profiles {
            let reply = if *renamed { replies.nth(1) } else { replies.next() };
            match (*renamed, reply) {
                (true, Some(Value::Int(0))) => found.push(profile.access_key_id.clone()),
                (true, Some(Value::Int(1))) | (false, Some(Value::Int(2))) => made += 1,
                (true, Some(Value::ServerError(_))) => {
                    self.merge_request(&mut moving, std::mem::take(profile), token);
                }
                (_, Some(Value::Int(_))) => {}
                _ => bail!("cannot {doing} in {}: an unexpected reply", self.location()),
            }
        }
        if !moving.profiles.is_empty() {
            let replies = self.link.pipe(doing, &moving.requests)?;
            let replies: Vec<i64> = self.replies(doing, replies)?;
            made += replies.iter().filter(|&&reply| reply == 2).count();
            let held = moving.profiles.iter().map(|(profile, _)| held_key(&profile.access_key_id, token).into_bytes());
            self.del(held.collect())?;
        }
        let sha = self.merge.get_hash().to_string();
        let cmds = found.iter().map(|key| {
            let (hash, held) = (hash_key(key), held_key(key, token));
            let cmd = redis::cmd("EVALSHA").arg(&sha).arg(2).arg(&hash).arg(held).take();
            (hash, cmd)
        });
        let _: Vec<i64> = self.pipe(doing, cmds)?;
        Ok(made)
    }
}

/// Whether `access_key`'s delta can be held in `kw:{KEY}:TOKEN` and renamed into place: a cluster puts that hash in
/// the profile's slot because both names have the same hash tag, the key up to its first `}`. A key that begins with
/// `}` (no AWS key does; a forged record's may) leaves `kw:{}…}` no tag, so each name is hashed whole, the two land in
/// different slots and RENAMENX is refused (CROSSSLOT); such a key is merged by the script.
fn renamable(access_key: &str) -> bool {
    !access_key.starts_with('}')
}

/// A batch of merges on its way to the servers.
#[derive(Default)]
struct Merges {
    requests: Requests,
    /// Whether the batch makes its keys (HSET and RENAMENX) instead of running the script on each.
    making: bool,
    /// The batch's profiles, in order, each with whether it is made by rename (see [`renamable`]); dropped when the
    /// batch is cleared for reuse.
    profiles: Vec<(Profile, bool)>,
}

impl Merges {
    fn clear(&mut self, making: bool) {
        self.requests.clear();
        self.profiles.clear();
        self.making = making;
    }
}

impl Store for Redis {
    fn location(&self) -> String {
        self.link.location()
    }

    /// Takes what was loaded ahead of these keys, and loads the others.
    fn load(&mut self, keys: &[&str]) -> Result<Profiles> {
        let mut loaded = self.ahead.as_mut().map_or_else(|| Ok(Default::default()), Ahead::take)?;
        let (mut found, mut asked) = (Vec::with_capacity(keys.len()), Vec::new());
        for &key in keys {
            match loaded.remove(key) {
                Some(profile) => found.extend(profile),
                None => asked.push(key),
            }
        }
        found.extend(profiles(&mut self.link, &asked)?.into_iter().flatten());
        Ok(found.into_iter().map(|profile| (profile.access_key_id.clone(), profile)).collect())
    }

    /// Asks the thread that loads ahead for these keys (starting it with connections of its own, the first time).
    fn prefetch(&mut self, keys: &[&str]) -> Result<()> {
        if self.ahead.is_none() {
            self.ahead = Some(Ahead::start(self.link.twin())?);
        }
        self.ahead.as_mut().expect("started above").ask(keys)
    }

    fn loads_ahead(&self) -> bool {
        true
    }

    fn all(&mut self) -> Result<Profiles> {
        let keys = self.stored_keys()?;
        self.load(&keys.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn is_empty(&mut self) -> Result<bool> {
        Ok(self.scan(PROFILES, "hash", 1)?.is_empty())
    }

    /// Connects to every master, which loads the merge script there: a server that is down, refuses the login,
    /// refuses scripts (an ACL) or is a read-only replica is found now, not after hours of input.
    fn prepare_write(&mut self) -> Result<()> {
        self.link.check()
    }

    fn file(&self) -> Option<&std::path::Path> {
        None
    }

    /// Merges `delta` in batches, two in flight: each batch is built while the servers run the one before it, and
    /// sent, on connections of its own (`spare`, taking turns with `link`), before the replies to that one are read, so
    /// that the servers never wait for keywatcher to read replies and write the next batch. Each batch's profiles are
    /// dropped when its buffers are taken for a later batch, while the servers run the one after it, instead of all at
    /// the end, after the last reply: 0.2–0.27 s of a merge of 0.9–1.2 s (73,458 profiles), all of it waited for.
    ///
    /// Once most keys of a batch were new to the store, the next batches make their keys without the script, which
    /// costs the server most for a new key (per new key of nine values, server CPU from `INFO cpu`: the script
    /// 13.7–19.1 µs, a plain HSET 7.3–10.8 µs, HSET and RENAMENX 10.0–13.5 µs): each key's delta goes into a hash of
    /// its own, named after the key and the batch, which `RENAMENX` moves into place only if the key does not exist,
    /// atomically, so that a learner racing to make the same key loses nothing. A key that did exist is merged from
    /// that hash by the script, which deletes it, in one more round trip. Learning 200,000 records over 80,000 keys
    /// into an empty Redis cost the server 0.64–0.92 s of CPU instead of 1.40–1.49 s. A learn killed between the two
    /// leaves such a hash behind (`kw:{KEY}:TOKEN`, never read as a profile; `profile delete --all` removes it).
    ///
    /// When a batch fails, the other may still be on its way: both sets of connections are closed, so that a later
    /// request (`score --learn` goes on after a failed save, and saves again) cannot read its replies as its own.
    fn merge(&mut self, delta: Profiles) -> Result<()> {
        let merged = self.merge_batches(delta);
        if merged.is_err() {
            self.link.close();
            self.spare.close();
        }
        merged
    }

    /// Deletes every profile, then merges `profiles` in: unlike a snapshot's, not one atomic step.
    fn replace(&mut self, profiles: Profiles) -> Result<()> {
        self.delete(None)?;
        self.merge(profiles)
    }

    fn delete(&mut self, keys: Option<&[String]>) -> Result<usize> {
        let hashes = |keys: &[String]| keys.iter().map(|key| hash_key(key).into_bytes()).collect::<Vec<_>>();
        let Some(keys) = keys else {
            let stored = hashes(&self.stored_keys()?);
            let deleted = self.del(stored)?;
            // The deltas left behind by a learn killed while it made keys (see `merge`) are no profiles, and go too.
            let held = self.scan(HELD, "hash", usize::MAX)?;
            self.del(held)?;
            return Ok(deleted);
        };
        self.del(hashes(keys))
    }
}

fn hash_key(access_key: &str) -> String {
    format!("{PREFIX}{access_key}}}")
}

/// The profiles of `keys`, in order (none for a key that has none), loaded on `link` with `HGETALL` in one round
/// trip per server per [`BATCH`] keys.
fn profiles(link: &mut Link, keys: &[&str]) -> Result<Vec<Option<Profile>>> {
    let (mut profiles, mut requests) = (Vec::with_capacity(keys.len()), Requests::default());
    for batch in keys.chunks(BATCH) {
        requests.clear();
        for key in batch {
            let hash = hash_key(key);
            requests.push_cmd(hash.as_bytes(), redis::cmd("HGETALL").arg(&hash));
        }
        for (key, reply) in batch.iter().zip(link.pipe("load profiles", &requests)?) {
            profiles.push(decode(key, reply).with_context(|| format!("in {}", link.location()))?);
        }
    }
    Ok(profiles)
}

/// The hash that holds `access_key`'s delta of the batch `token` until it is renamed into place (see [`Redis::merge`]).
fn held_key(access_key: &str, token: &str) -> String {
    format!("{PREFIX}{access_key}}}:{token}")
}

fn access_key(hash_key: &str) -> Option<&str> {
    hash_key.strip_prefix(PREFIX)?.strip_suffix('}')
}

/// The kinds of values, as their fields begin, with the profile's set of each.
fn values(profile: &Profile) -> [(&'static str, &Values); 5] {
    [
        ("ip:", &profile.ips),
        ("agent:", &profile.agents),
        ("region:", &profile.regions),
        ("event:", &profile.events),
        ("probation:", &profile.probation),
    ]
}

/// The profile in `reply`, what `HGETALL` gave for `access_key`'s hash (field, value, field, value…), or none for
/// an empty one. The reply's bytes become the profile's strings in place, with no map and no copy between.
fn decode(access_key: &str, reply: Value) -> Result<Option<Profile>> {
    let items = match reply {
        Value::Array(items) => items,
        other => bail!("profile key {} read back as {other:?}, not a hash", hash_key(access_key)),
    };
    let text = |item| match item {
        Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        _ => None,
    };
    build(access_key, items.into_iter().map(text))
}

/// The profile of `access_key` from its hash's fields and values in turn (none where one is not UTF-8 text), or
/// none for an empty hash.
fn build(access_key: &str, mut items: impl Iterator<Item = Option<String>>) -> Result<Option<Profile>> {
    let mut profile = None;
    while let (Some(field), Some(value)) = (items.next(), items.next()) {
        let (Some(field), Some(value)) = (field, value) else {
            bail!(
                "profile key {} has a field that is not UTF-8 text: keywatcher did not write it",
                hash_key(access_key)
            );
        };
        let profile = profile.get_or_insert_with(|| Profile::new(access_key));
        read_field(profile, field, value).map_err(|(field, value)| {
            anyhow!("profile key {} has a field {field:?} = {value:?} keywatcher did not write", hash_key(access_key))
        })?;
    }
    Ok(profile)
}

/// Reads one field of a profile's hash into `profile`, or gives the field and its value back if keywatcher did not
/// write it. A value's name is its field, the kind cut off in place.
fn read_field(profile: &mut Profile, mut field: String, value: String) -> Result<(), (String, String)> {
    let time =
        |text: &str| (!text.is_empty()).then(|| when::utc(text).map_or_else(|| text.parse(), Ok)).transpose().ok();
    match field.as_str() {
        "account" => profile.account_id = value,
        "user" => profile.user_name = value,
        "type" => profile.user_type = value,
        "first" | "last" => {
            let Some(time) = time(&value) else { return Err((field, value)) };
            *if field == "first" { &mut profile.first_seen } else { &mut profile.last_seen } = time;
        }
        TOKENS => {}
        _ => {
            let mut parts = value.split(' ');
            let seen = match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(count), Some(first), Some(last), None) => {
                    (|| Some(Seen { count: count.parse().ok()?, first: time(first)?, last: time(last)? }))()
                }
                _ => None,
            };
            let set = field.split_once(':').and_then(|(kind, _)| match kind {
                "ip" => Some(&mut profile.ips),
                "agent" => Some(&mut profile.agents),
                "region" => Some(&mut profile.regions),
                "event" => Some(&mut profile.events),
                "probation" => Some(&mut profile.probation),
                _ => None,
            });
            let (Some(seen), Some(set)) = (seen, set) else { return Err((field, value)) };
            let kind = field.find(':').unwrap_or(0);
            field.drain(..=kind);
            set.insert(field, seen);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A time as the merge writes it.
    fn time(time: &str) -> String {
        String::from_utf8(resp::TimeText::new(Some(time.parse().unwrap())).as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn times_compare_as_text() {
        let times = ["2026-11-02T10:00:00Z", "2026-11-02T10:00:00.5Z", "2026-11-02T10:00:01Z", "2027-01-01T00:00:00Z"];
        let shown: Vec<String> = times.iter().map(|t| time(t)).collect();
        assert!(shown.windows(2).all(|pair| pair[0] < pair[1]), "{shown:?}");
        assert_eq!(shown[0].parse::<Timestamp>().unwrap(), times[0].parse::<Timestamp>().unwrap());
    }

    /// `fields` as HGETALL gives them.
    fn reply(fields: &[(&str, &str)]) -> Value {
        let text = |text: &str| Value::BulkString(text.as_bytes().to_vec());
        Value::Array(fields.iter().flat_map(|(field, value)| [text(field), text(value)]).collect())
    }

    #[test]
    fn a_hash_reads_back_as_a_profile() {
        let (last, seen) = (time("2026-11-02T10:00:00Z"), format!("1 {0} {0}", time("2026-11-01T00:00:00Z")));
        let fields = [
            ("user", "ci"),
            ("last", last.as_str()),
            ("ip:198.51.100.1", "3  "),
            ("agent:aws-cli/2 (linux)", seen.as_str()),
            ("_batches", "abc-0"),
        ];
        let p = decode("AKIAEXAMPLE1", reply(&fields)).unwrap().unwrap();
        assert_eq!(p.user_name, "ci");
        assert_eq!(p.last_seen, Some("2026-11-02T10:00:00Z".parse().unwrap()));
        assert_eq!(p.ips["198.51.100.1"], Seen { count: 3, first: None, last: None });
        assert_eq!(p.agents["aws-cli/2 (linux)"].first, Some("2026-11-01T00:00:00Z".parse().unwrap()));
        assert_eq!(p.agents.len() + p.ips.len() + p.regions.len() + p.events.len() + p.probation.len(), 2);
        assert_eq!(decode("AKIAEXAMPLE1", reply(&[])).unwrap(), None);
        assert_eq!(access_key(&hash_key("AKIA}X")), Some("AKIA}X"));
        for bad in [("color", "red"), ("ip:198.51.100.1", "3 yesterday "), ("last", "noon"), ("ip:x", "1 2")] {
            let err = decode("AKIAEXAMPLE1", reply(&[bad])).unwrap_err();
            assert!(err.to_string().contains(&format!("kw:{{AKIAEXAMPLE1}} has a field {:?}", bad.0)), "{err}");
        }
        let not_text = Value::Array(vec![Value::BulkString(b"ip:\xff".to_vec()), Value::BulkString(vec![0xff])]);
        assert!(decode("AKIAEXAMPLE1", not_text).unwrap_err().to_string().contains("not UTF-8"));
    }
}
