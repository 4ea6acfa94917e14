//! Profiles in a Redis server (`redis://`, `rediss://` for TLS) or a Redis Cluster (`redis+cluster://h1:p1,…`),
//! shared by every machine that points at it. Each access key is one hash, `kw:{KEY}` (the hash tag names the
//! cluster slot), with the fields `account`, `user`, `type`, `first`, `last`, and one field per value,
//! `ip:…`, `agent:…`, `region:…`, `event:…`, holding `COUNT FIRST LAST`. Times are RFC 3339 with nine fraction
//! digits, so that they compare as text; an unknown time is empty.
//!
//! A merge runs [`MERGE`], a Lua script, once per key: union, add, min, max, as `Profile::merge` does, atomic
//! per key, so learners racing on one Redis lose nothing. The scripts of a batch of keys go in one pipelined
//! round trip, as do the loads of a batch. Each batch carries a token that the script keeps (the last few per
//! key), so a batch sent again after a lost reply is not counted twice. Listing uses SCAN (on every master of
//! a cluster), never KEYS. Transient failures are retried with backoff; then the error names the store
//! (never the password) and what to do.

use std::collections::HashMap;
use std::error::Error;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::thread::sleep;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail, ensure};
use jiff::Timestamp;
use redis::cluster::{ClusterClient, ClusterConnection, cluster_pipe};
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{Cmd, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError, RedisResult, RetryMethod};

use super::{Store, legacy};
use crate::profile::{self, Profile, Profiles, Seen, Values};

/// What each hash key starts with; the access key and `}` follow.
const PREFIX: &str = "kw:{";
/// The SCAN pattern of profile keys, and of the old script's string keys (`[Key]AKIA…:[Ip]…`).
const PROFILES: &str = "kw:{*}";
const OLD_LAYOUT: &str = r"\[Key\]*";
/// Keys per pipelined round trip.
const BATCH: usize = 500;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Waits before each retry of a transient failure: about 3.5 s in all, then the error is reported.
const BACKOFF: [Duration; 4] =
    [Duration::from_millis(100), Duration::from_millis(400), Duration::from_secs(1), Duration::from_secs(2)];

/// Merges one profile delta into `KEYS[1]`. ARGV: the batch token, the delta's first, last, account, user and
/// type, then four per value: field, count, first, last. Strings compare byte by byte, as in Rust; the
/// account, user and type become the delta's when `(last, account, user, type)` is greater, as in
/// `Profile::seen_as`. Returns 0 when this batch was already applied to this key.
const MERGE: &str = r"
local key, token = KEYS[1], ARGV[1]
local function before(a, b)
  if a == b then return false end
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local function earliest(a, b)
  if a == '' or (b ~= '' and before(b, a)) then return b end
  return a
end
local function latest(a, b)
  if before(a, b) then return b end
  return a
end
local applied = redis.call('HGET', key, '_batches') or ''
for seen in string.gmatch(applied, '%S+') do
  if seen == token then return 0 end
end
local old = redis.call('HMGET', key, 'first', 'last', 'account', 'user', 'type')
for i = 1, 5 do old[i] = old[i] or '' end
for i = 1, 4 do
  local theirs, mine = ARGV[i + 2], old[i + 1]
  if theirs ~= mine then
    if before(mine, theirs) then
      redis.call('HSET', key, 'account', ARGV[4], 'user', ARGV[5], 'type', ARGV[6])
    end
    break
  end
end
redis.call('HSET', key, 'first', earliest(old[1], ARGV[2]), 'last', latest(old[2], ARGV[3]))
for i = 7, #ARGV, 4 do
  local count, first, last = tonumber(ARGV[i + 1]), ARGV[i + 2], ARGV[i + 3]
  local was = redis.call('HGET', key, ARGV[i])
  if was then
    local c, f, l = string.match(was, '^(%d+) (%S*) (%S*)$')
    count, first, last = count + tonumber(c), earliest(f, first), latest(l, last)
  end
  redis.call('HSET', key, ARGV[i], string.format('%.0f %s %s', count, first, last))
end
local kept, n = token, 1
for seen in string.gmatch(applied, '%S+') do
  if n == 8 then break end
  kept, n = kept .. ' ' .. seen, n + 1
end
redis.call('HSET', key, '_batches', kept)
return 1
";

/// A Redis server or cluster holding profiles; it connects on first use and again after a failure.
pub struct Redis {
    target: Target,
    conn: Option<Conn>,
    /// Makes each merge batch's token unique: this run's random part, and merges so far.
    run: u64,
    merges: u64,
}

/// Where the store is and how to log in, parsed from the `--store` URL.
struct Target {
    cluster: bool,
    tls: bool,
    nodes: Vec<(String, u16)>,
    user: Option<String>,
    password: Option<String>,
    db: i64,
    /// The URL without its password, for messages.
    shown: String,
}

enum Conn {
    Server(redis::Connection),
    Cluster(Box<ClusterConnection>),
}

impl Redis {
    /// The store named by `spec`, a `redis://`, `rediss://` or `redis+cluster://` URL. The password comes
    /// from the URL, else `KEYWATCHER_REDIS_PASSWORD`, else `REDISCLI_AUTH`. Nothing is connected yet.
    pub fn new(spec: &str) -> Result<Redis> {
        let run = RandomState::new().hash_one((std::process::id(), Timestamp::now()));
        Ok(Redis { target: Target::parse(spec)?, conn: None, run, merges: 0 })
    }

    /// The old script's profiles, read from its string keys (`[Key]AKIA…:[Ip]1.2.3.4` → count) in this
    /// store's Redis; the old keys are left as they are.
    pub fn old_layout(&mut self) -> Result<Profiles> {
        let keys = self.scan(OLD_LAYOUT, "string", usize::MAX)?;
        let mut profiles = Profiles::new();
        for batch in keys.chunks(BATCH) {
            let cmds: Vec<Cmd> = batch.iter().map(|key| redis::cmd("GET").arg(key).take()).collect();
            let counts: Vec<Option<String>> = self.retrying("read the old profile keys", |conn| conn.pipe(&cmds))?;
            for (key, count) in batch.iter().zip(counts) {
                // A key deleted since the scan has nothing to import.
                let Some(count) = count else { continue };
                let count: u64 = count.trim().parse().map_err(|_| {
                    anyhow!("old profile key {key:?} in {} holds {count:?}, not a count", self.location())
                })?;
                let one = legacy::parse_entry(key, count).map_err(|why| {
                    anyhow!("old profile key {key:?}: {}", why.unwrap_or_else(|| "not of the old layout".into()))
                })?;
                profile::merge_all(&mut profiles, Profiles::from([(one.access_key_id.clone(), one)]));
            }
        }
        Ok(profiles)
    }

    /// Runs `op`, connecting first if need be; a transient failure drops the connection and tries again after
    /// a wait, up to [`BACKOFF`]'s length. `doing` completes "cannot …" in the error.
    fn retrying<T>(&mut self, doing: &str, mut op: impl FnMut(&mut Conn) -> RedisResult<T>) -> Result<T> {
        let mut waits = BACKOFF.iter();
        loop {
            let result = match self.conn.as_mut() {
                Some(conn) => op(conn),
                None => self.target.connect().and_then(|conn| op(self.conn.insert(conn))),
            };
            let err = match result {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            if is_transient(&err) {
                self.conn = None;
                if let Some(wait) = waits.next() {
                    sleep(*wait);
                    continue;
                }
            }
            return Err(self.explain(err, doing));
        }
    }

    /// What went wrong, where, and what to do; never the password.
    fn explain(&self, err: RedisError, doing: &str) -> anyhow::Error {
        let store = self.location();
        let auth = err.kind() == ErrorKind::AuthenticationFailed
            || err.code().is_some_and(|code| ["NOAUTH", "WRONGPASS"].contains(&code));
        if auth {
            anyhow!(
                "cannot {doing} in {store}: it refused the login ({err}). Give the password in the URL \
                 (redis://:PASSWORD@host), KEYWATCHER_REDIS_PASSWORD or REDISCLI_AUTH"
            )
        } else if is_tls_failure(&err) {
            anyhow!(
                "cannot {doing} in {store}: the TLS connection failed ({err}). Is the server's certificate signed by \
                 a root this system trusts? SSL_CERT_FILE names a file of further roots"
            )
        } else if err.is_timeout() {
            anyhow!("cannot {doing} in {store}: no answer within {}s ({err})", RESPONSE_TIMEOUT.as_secs())
        } else if is_transient(&err) {
            anyhow!(
                "cannot {doing} in {store} ({err}), after {} retries; check that it is running and reachable, then \
                 run again",
                BACKOFF.len()
            )
        } else {
            anyhow!("cannot {doing} in {store}: {err}")
        }
    }

    /// The keys matching `pattern` of type `kind`, from every master; it stops once `enough` are found.
    fn scan(&mut self, pattern: &str, kind: &str, enough: usize) -> Result<Vec<String>> {
        let masters = self.retrying("list the servers", Conn::masters)?;
        let mut keys = Vec::new();
        for master in &masters {
            let mut cursor = 0u64;
            while keys.len() < enough {
                let mut cmd = redis::cmd("SCAN");
                cmd.arg(cursor).arg("MATCH").arg(pattern).arg("COUNT").arg(1000).arg("TYPE").arg(kind);
                let (next, found): (u64, Vec<String>) =
                    self.retrying("list the stored keys", |conn| conn.on(master.as_ref(), &cmd))?;
                keys.extend(found);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
        }
        Ok(keys)
    }

    /// The access keys that have profiles.
    fn stored_keys(&mut self) -> Result<Vec<String>> {
        let keys = self.scan(PROFILES, "hash", usize::MAX)?;
        Ok(keys.iter().filter_map(|key| access_key(key)).map(str::to_string).collect())
    }
}

impl Store for Redis {
    fn location(&self) -> String {
        let kind = if self.target.cluster { "Redis Cluster" } else { "Redis" };
        format!("{kind} {}", self.target.shown)
    }

    fn load(&mut self, keys: &[&str]) -> Result<Profiles> {
        let mut profiles = Profiles::new();
        for batch in keys.chunks(BATCH) {
            let cmds: Vec<Cmd> = batch.iter().map(|key| redis::cmd("HGETALL").arg(hash_key(key)).take()).collect();
            let hashes: Vec<HashMap<String, String>> = self.retrying("load profiles", |conn| conn.pipe(&cmds))?;
            for (key, fields) in batch.iter().zip(hashes) {
                if !fields.is_empty() {
                    let profile = decode(key, fields).with_context(|| format!("in {}", self.location()))?;
                    profiles.insert(key.to_string(), profile);
                }
            }
        }
        Ok(profiles)
    }

    fn all(&mut self) -> Result<Profiles> {
        let keys = self.stored_keys()?;
        self.load(&keys.iter().map(String::as_str).collect::<Vec<_>>())
    }

    fn is_empty(&mut self) -> Result<bool> {
        Ok(self.scan(PROFILES, "hash", 1)?.is_empty())
    }

    fn prepare_write(&mut self) -> Result<()> {
        // A server that refuses scripts (an ACL, a read-only replica) is found now, not after hours of input.
        let probe = redis::cmd("EVAL").arg("return redis.call('PING')").arg(0).take();
        self.retrying("run a script", |conn| conn.on::<String>(None, &probe)).map(drop)
    }

    fn file(&self) -> Option<&std::path::Path> {
        None
    }

    fn merge(&mut self, delta: Profiles) -> Result<()> {
        let token = format!("{:016x}-{}", self.run, self.merges);
        self.merges += 1;
        let delta: Vec<Profile> = delta.into_values().collect();
        for batch in delta.chunks(BATCH) {
            let cmds: Vec<Cmd> = batch.iter().map(|profile| merge_cmd(profile, &token)).collect();
            self.retrying("merge profiles", |conn| conn.pipe::<Vec<i64>>(&cmds))?;
        }
        Ok(())
    }

    /// Deletes every profile, then merges `profiles` in: unlike a snapshot's, not one atomic step.
    fn replace(&mut self, profiles: Profiles) -> Result<()> {
        self.delete(None)?;
        self.merge(profiles)
    }

    fn delete(&mut self, keys: Option<&[String]>) -> Result<usize> {
        let keys = match keys {
            Some(keys) => keys.to_vec(),
            None => self.stored_keys()?,
        };
        let mut deleted = 0;
        for batch in keys.chunks(BATCH) {
            let cmds: Vec<Cmd> = batch.iter().map(|key| redis::cmd("DEL").arg(hash_key(key)).take()).collect();
            let done: Vec<usize> = self.retrying("delete profiles", |conn| conn.pipe(&cmds))?;
            deleted += done.iter().sum::<usize>();
        }
        Ok(deleted)
    }
}

impl Target {
    fn parse(spec: &str) -> Result<Target> {
        let (scheme, rest) = spec.split_once("://").context("a Redis store is a URL: redis://host:port")?;
        let (cluster, tls) = match scheme {
            "redis" => (false, false),
            "rediss" => (false, true),
            "redis+cluster" => (true, false),
            _ => bail!("{scheme}:// is not a Redis store (redis://, rediss:// or redis+cluster://)"),
        };
        // The login ends at the last `@`, so that a password holding `/` or `@` is never taken for an address
        // (and never shown in a message about one).
        let (login, place) = match rest.rsplit_once('@') {
            Some((login, place)) => (Some(login), place),
            None => (None, rest),
        };
        let (hosts, path) = place.split_once('/').unwrap_or((place, ""));
        let (user, password) = match login.map(|login| login.split_once(':').unwrap_or((login, ""))) {
            Some((user, password)) => (decoded(user), decoded(password)),
            None => (None, None),
        };
        let password = password.or_else(|| env("KEYWATCHER_REDIS_PASSWORD")).or_else(|| env("REDISCLI_AUTH"));
        let nodes = hosts.split(',').map(node).collect::<Result<Vec<_>>>()?;
        ensure!(
            cluster || nodes.len() == 1,
            "--store {scheme}://{hosts}: several addresses are a cluster; write redis+cluster://{hosts}"
        );
        let db = match path {
            "" => 0,
            db => db.parse().map_err(|_| anyhow!("--store {scheme}://{hosts}/{db}: the database must be a number"))?,
        };
        ensure!(!cluster || db == 0, "--store {scheme}://{hosts}/{db}: a Redis Cluster has only database 0");
        let user_shown = user.as_deref().map(|user| format!("{user}@")).unwrap_or_default();
        let db_shown = if path.is_empty() { String::new() } else { format!("/{db}") };
        let shown = format!("{scheme}://{user_shown}{hosts}{db_shown}");
        Ok(Target { cluster, tls, nodes, user, password, db, shown })
    }

    fn connect(&self) -> RedisResult<Conn> {
        let mut nodes =
            self.nodes.iter().map(|(host, port)| self.info(host, *port)).collect::<RedisResult<Vec<_>>>()?;
        if self.cluster {
            let client = ClusterClient::builder(nodes)
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(RESPONSE_TIMEOUT)
                .build()?;
            return Ok(Conn::Cluster(Box::new(client.get_connection()?)));
        }
        let conn = redis::Client::open(nodes.remove(0))?.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(RESPONSE_TIMEOUT))?;
        conn.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
        Ok(Conn::Server(conn))
    }

    fn info(&self, host: &str, port: u16) -> RedisResult<ConnectionInfo> {
        let scheme = if self.tls { "rediss" } else { "redis" };
        let info = format!("{scheme}://{host}:{port}/{}", self.db).into_connection_info()?;
        let mut login = info.redis_settings().clone();
        if let Some(user) = &self.user {
            login = login.set_username(user);
        }
        if let Some(password) = &self.password {
            login = login.set_password(password);
        }
        Ok(info.set_redis_settings(login))
    }
}

impl Conn {
    /// Sends `cmds` in one pipeline (per node, for a cluster) and returns their replies in order.
    fn pipe<T: FromRedisValue>(&mut self, cmds: &[Cmd]) -> RedisResult<T> {
        match self {
            Conn::Server(conn) => {
                let mut pipe = redis::pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query(conn)
            }
            Conn::Cluster(conn) => {
                let mut pipe = cluster_pipe();
                for cmd in cmds {
                    pipe.add_command(cmd.clone());
                }
                pipe.query(conn)
            }
        }
    }

    /// The servers to SCAN: `None` for a single server, else the address of each master of the cluster.
    fn masters(&mut self) -> RedisResult<Vec<Option<(String, u16)>>> {
        let conn = match self {
            Conn::Server(_) => return Ok(vec![None]),
            Conn::Cluster(conn) => conn,
        };
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(conn)?;
        Ok(nodes.lines().filter_map(master).map(Some).collect())
    }

    /// Runs `cmd` on `node` of a cluster, or on the single server.
    fn on<T: FromRedisValue>(&mut self, node: Option<&(String, u16)>, cmd: &Cmd) -> RedisResult<T> {
        match (self, node) {
            (Conn::Server(conn), _) => cmd.query(conn),
            (Conn::Cluster(conn), None) => cmd.query(conn),
            (Conn::Cluster(conn), Some((host, port))) => {
                let node = SingleNodeRoutingInfo::ByAddress { host: host.clone(), port: *port };
                Ok(redis::from_redis_value(conn.route_command(cmd, RoutingInfo::SingleNode(node))?)?)
            }
        }
    }
}

/// The address of a master that is up, from a line of `CLUSTER NODES`
/// (`ID HOST:PORT@BUS[,NAME] FLAGS …`).
fn master(line: &str) -> Option<(String, u16)> {
    let mut fields = line.split(' ');
    let address = fields.nth(1)?;
    let flags = fields.next()?;
    if !flags.split(',').any(|flag| flag == "master") || flags.contains("fail") {
        return None;
    }
    let (host, port) = address.split(['@', ',']).next()?.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

/// Whether trying again may help: not for a refused login, nor for a TLS handshake that failed.
fn is_transient(err: &RedisError) -> bool {
    err.kind() != ErrorKind::AuthenticationFailed
        && !is_tls_failure(err)
        && !matches!(err.retry_method(), RetryMethod::NoRetry)
}

/// Whether `err` is a TLS handshake that failed (rustls reports them as invalid data), such as a certificate
/// that is not trusted.
fn is_tls_failure(err: &RedisError) -> bool {
    // redis keeps the cause as an `Arc<dyn Error>`.
    let cause = Error::source(err).and_then(|cause| cause.downcast_ref::<Arc<dyn Error + Send + Sync>>());
    let io = cause.and_then(|cause| cause.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
}

fn node(text: &str) -> Result<(String, u16)> {
    let (host, port) = match text.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') => (host, port),
        _ => (text, "6379"),
    };
    ensure!(!host.is_empty(), "--store: an address without a host in '{text}'; write host:port");
    let port = port.parse().map_err(|_| anyhow!("--store: '{port}' in '{text}' is not a port number"))?;
    Ok((host.to_string(), port))
}

fn decoded(text: &str) -> Option<String> {
    let text = percent_encoding::percent_decode_str(text).decode_utf8_lossy();
    (!text.is_empty()).then(|| text.into_owned())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

fn hash_key(access_key: &str) -> String {
    format!("{PREFIX}{access_key}}}")
}

fn access_key(hash_key: &str) -> Option<&str> {
    hash_key.strip_prefix(PREFIX)?.strip_suffix('}')
}

/// The four kinds of values, as their fields begin, with the profile's set of each.
fn values(profile: &Profile) -> [(&'static str, &Values); 4] {
    [("ip:", &profile.ips), ("agent:", &profile.agents), ("region:", &profile.regions), ("event:", &profile.events)]
}

fn merge_cmd(profile: &Profile, token: &str) -> Cmd {
    let mut cmd = redis::cmd("EVAL");
    cmd.arg(MERGE).arg(1).arg(hash_key(&profile.access_key_id)).arg(token);
    cmd.arg(time(profile.first_seen)).arg(time(profile.last_seen));
    cmd.arg(&profile.account_id).arg(&profile.user_name).arg(&profile.user_type);
    for (kind, values) in values(profile) {
        for (value, seen) in values {
            cmd.arg(format!("{kind}{value}")).arg(seen.count).arg(time(seen.first)).arg(time(seen.last));
        }
    }
    cmd
}

/// A time as the script compares it: fixed width, so that text order is time order.
fn time(time: Option<Timestamp>) -> String {
    time.map(|time| format!("{time:.9}")).unwrap_or_default()
}

fn decode(access_key: &str, fields: HashMap<String, String>) -> Result<Profile> {
    let mut profile = Profile::new(access_key);
    for (field, value) in fields {
        let bad = || {
            anyhow!("profile key {} has a field {field:?} = {value:?} keywatcher did not write", hash_key(access_key))
        };
        let parse_time =
            |text: &str| (!text.is_empty()).then(|| text.parse::<Timestamp>()).transpose().map_err(|_| bad());
        match field.as_str() {
            "account" => profile.account_id = value,
            "user" => profile.user_name = value,
            "type" => profile.user_type = value,
            "first" => profile.first_seen = parse_time(&value)?,
            "last" => profile.last_seen = parse_time(&value)?,
            "_batches" => {}
            _ => {
                let (kind, name) = field.split_once(':').ok_or_else(bad)?;
                let set = match kind {
                    "ip" => &mut profile.ips,
                    "agent" => &mut profile.agents,
                    "region" => &mut profile.regions,
                    "event" => &mut profile.events,
                    _ => return Err(bad()),
                };
                let mut parts = value.split(' ');
                let (Some(count), Some(first), Some(last), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(bad());
                };
                let seen = Seen {
                    count: count.parse().map_err(|_| bad())?,
                    first: parse_time(first)?,
                    last: parse_time(last)?,
                };
                set.insert(name.to_string(), seen);
            }
        }
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_compare_as_text() {
        let times = ["2026-11-02T10:00:00Z", "2026-11-02T10:00:00.5Z", "2026-11-02T10:00:01Z", "2027-01-01T00:00:00Z"];
        let shown: Vec<String> = times.iter().map(|t| time(Some(t.parse().unwrap()))).collect();
        assert!(shown.windows(2).all(|pair| pair[0] < pair[1]), "{shown:?}");
        assert_eq!(shown[0].parse::<Timestamp>().unwrap(), times[0].parse::<Timestamp>().unwrap());
        assert_eq!(time(None), "");
    }

    #[test]
    fn urls_are_read_and_shown_without_the_password() {
        let t = Target::parse("redis://me:p%40ss@127.0.0.1:7000/3").unwrap();
        assert_eq!((t.user.as_deref(), t.password.as_deref(), t.db), (Some("me"), Some("p@ss"), 3));
        assert_eq!(t.shown, "redis://me@127.0.0.1:7000/3");
        let t = Target::parse("redis+cluster://:secret@h1:7001,h2:7002").unwrap();
        assert_eq!(t.nodes, [("h1".to_string(), 7001), ("h2".to_string(), 7002)]);
        assert_eq!(t.shown, "redis+cluster://h1:7001,h2:7002");
        assert_eq!(Target::parse("rediss://[::1]").unwrap().nodes, [("[::1]".to_string(), 6379)]);
        let t = Target::parse("redis://:a/b@c@h1:7000/2").unwrap();
        assert_eq!((t.password.as_deref(), t.nodes[0].1, t.db), (Some("a/b@c"), 7000, 2));
        for (bad, says) in [
            ("redis://:secret@h1:1,h2:2", "redis+cluster://h1:1,h2:2"),
            ("redis://:secret@h1:port", "not a port"),
            ("redis+cluster://:secret@h1:1/2", "only database 0"),
        ] {
            let err = Target::parse(bad).err().unwrap().to_string();
            assert!(err.contains(says) && !err.contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn masters_are_found_in_cluster_nodes() {
        let nodes = "a1 127.0.0.1:7001@17001 myself,master - 0 0 1 connected 0-5460\n\
                     b2 127.0.0.1:7002@17002,host2 master - 0 0 2 connected 5461-10922\n\
                     c3 127.0.0.1:7003@17003 slave a1 0 0 1 connected\n\
                     d4 127.0.0.1:7004@17004 master,fail - 0 0 3 disconnected\n";
        let found: Vec<_> = nodes.lines().filter_map(master).collect();
        assert_eq!(found, [("127.0.0.1".to_string(), 7001), ("127.0.0.1".to_string(), 7002)]);
    }

    #[test]
    fn a_hash_reads_back_as_a_profile() {
        let fields = HashMap::from([
            ("user".to_string(), "ci".to_string()),
            ("last".to_string(), time(Some("2026-11-02T10:00:00Z".parse().unwrap()))),
            ("ip:198.51.100.1".to_string(), "3  ".to_string()),
            (
                "agent:aws-cli/2 (linux)".to_string(),
                format!("1 {0} {0}", time(Some("2026-11-01T00:00:00Z".parse().unwrap()))),
            ),
            ("_batches".to_string(), "abc-0".to_string()),
        ]);
        let p = decode("AKIAEXAMPLE1", fields).unwrap();
        assert_eq!(p.ips["198.51.100.1"], Seen { count: 3, first: None, last: None });
        assert_eq!(p.agents["aws-cli/2 (linux)"].first, Some("2026-11-01T00:00:00Z".parse().unwrap()));
        assert_eq!(access_key(&hash_key("AKIA}X")), Some("AKIA}X"));
        let err = decode("AKIAEXAMPLE1", HashMap::from([("color".to_string(), "red".to_string())])).unwrap_err();
        assert!(err.to_string().contains("kw:{AKIAEXAMPLE1}"), "{err}");
    }
}
