//! The connections behind the Redis store: to one server, or to every master of a Redis Cluster, routed by the
//! cluster's slot map (`CLUSTER SLOTS`), read again when a reply says a slot moved. It carries commands and
//! replies and never reads a profile.
//!
//! A batch goes in one pipelined round trip per server, and each round trip has a deadline (`?timeout=` in the
//! URL, 30 s by default). At the first reply that misses it, that server's connection is dropped and its whole
//! share of the batch counts as failed. redis-rs's own pipelines would instead wait the full timeout again for
//! each remaining reply (500 × 30 s for a stopped server). Failures that may pass are tried again on a fresh
//! connection, with backoff, for at most one more timeout: a dropped, refused or silent connection (four more
//! tries), a cluster that is moving slots (MOVED, ASK, TRYAGAIN, CLUSTERDOWN) or a server still loading its data
//! after a restart (LOADING, on any command or at login: tried every 2 s until a timeout has gone by, then an error
//! that says so). Anything else, such as a refused login, a failed TLS handshake, a single server that is a
//! read-only replica or a command the server rejects, fails at once. Every error names the server (never the
//! password) and says what to do.

use std::collections::{BTreeMap, HashMap};
use std::error::Error;
use std::sync::Arc;
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail, ensure};
use redis::{Cmd, Connection, ConnectionInfo, ErrorKind, IntoConnectionInfo, RedisError, ServerError, Value};

/// The longest wait for a round trip's replies, unless the URL says otherwise (`?timeout=`).
const TIMEOUT: Duration = Duration::from_secs(30);
/// How often the read timeout is set again while the replies of a round trip are read. It was set before each reply,
/// a system call each: a learn of 200,000 records over 80,000 keys made 142,925 of them, now 46 (`strace -c`).
pub(super) const TIMEOUT_STEP: Duration = Duration::from_millis(50);
/// The longest wait to connect and log in, or the timeout if that is shorter.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Waits before each new try after a failure that may pass. Tries also stop once a timeout has gone by since the
/// first failure, so a stopped server is given up on after about two timeouts.
const BACKOFF: [Duration; 4] =
    [Duration::from_millis(100), Duration::from_millis(400), Duration::from_secs(1), Duration::from_secs(2)];
/// Round trips in a row that only follow MOVED or ASK before giving up: slots that keep moving.
const REDIRECTS: usize = 16;
const SLOTS: u16 = 16384;
/// The error codes of a missing or refused login.
const LOGIN_REFUSED: [&str; 2] = ["NOAUTH", "WRONGPASS"];
/// The error codes of a server that cannot serve yet: loading its data after a restart, a cluster changing masters
/// or moving slots, a replica made master that has not loaded the script yet.
const BUSY: [&str; 6] = ["TRYAGAIN", "CLUSTERDOWN", "LOADING", "MASTERDOWN", "READONLY", "NOSCRIPT"];

/// A server's address.
type Addr = (String, u16);

/// Where the store is and how to log in, parsed from the `--store` URL.
#[derive(Clone)]
pub(super) struct Target {
    pub(super) cluster: bool,
    tls: bool,
    nodes: Vec<Addr>,
    user: Option<String>,
    password: Option<String>,
    db: i64,
    timeout: Duration,
    /// The URL without its password or options, for messages.
    pub(super) shown: String,
}

/// A single server reached without TLS, as `quick.rs` connects to it: where it is, the commands that log in and choose
/// the database (packed in RESP; as many replies to read), and how long a reply may take.
pub(super) struct Plain {
    pub(super) host: String,
    pub(super) port: u16,
    pub(super) login: Vec<u8>,
    pub(super) commands: usize,
    pub(super) timeout: Duration,
    pub(super) connect: Duration,
}

/// The commands of a batch, packed in RESP one after another in one buffer, each with the cluster slot of its key.
/// Cleared and refilled from batch to batch, so that a batch allocates nothing once the buffer has grown.
#[derive(Default)]
pub(super) struct Requests {
    packed: Vec<u8>,
    /// Each command's slot, where it ends in `packed`, and whether a `TRYAGAIN` is its reply (see
    /// [`Requests::push_or_tryagain`]).
    ends: Vec<(u16, usize, bool)>,
}

impl Requests {
    pub(super) fn clear(&mut self) {
        self.packed.clear();
        self.ends.clear();
    }

    /// Adds the command that `write` packs at the end of the buffer, which reads or writes the Redis key `key` (and
    /// maybe others in its slot).
    pub(super) fn push(&mut self, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        write(&mut self.packed);
        self.ends.push((slot(key), self.packed.len(), false));
    }

    /// Adds a command of several keys of one slot that the caller can do otherwise: its reply is the `TRYAGAIN`
    /// error, not waited for, when a node holds only some of its keys because their slot is moving, which lasts as
    /// long as the move is left half done.
    pub(super) fn push_or_tryagain(&mut self, key: &[u8], write: impl FnOnce(&mut Vec<u8>)) {
        self.push(key, write);
        self.ends.last_mut().expect("pushed above").2 = true;
    }

    pub(super) fn push_cmd(&mut self, key: &[u8], cmd: &Cmd) {
        self.push(key, |out| cmd.write_packed_command(out));
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn slot(&self, i: usize) -> u16 {
        self.ends[i].0
    }

    fn packed(&self, i: usize) -> &[u8] {
        let start = i.checked_sub(1).map_or(0, |before| self.ends[before].1);
        &self.packed[start..self.ends[i].1]
    }
}

/// The open connections, and the slot map of a cluster.
pub(super) struct Link {
    target: Target,
    /// Run on every new connection (such as `SCRIPT LOAD`), so that each server is ready for the batches.
    setup: Vec<Cmd>,
    /// `(first, last, master)` for each slot range; empty until read, and always for a single server.
    slots: Vec<(u16, u16, Addr)>,
    conns: HashMap<Addr, Connection>,
    /// What is written to one server in a round trip, kept from one to the next.
    out: Vec<u8>,
}

/// A batch written to the servers, its replies not read yet.
pub(super) struct Sent {
    /// When it was written, which a message's time counts from.
    at: Instant,
    started: Started,
    replies: Vec<Option<Value>>,
}

/// One server's share of a round trip, written: the requests (by index, and whether ASKING goes first), how many
/// replies to read, and by when.
struct Share {
    node: Addr,
    batch: Vec<(usize, bool)>,
    count: usize,
    deadline: Instant,
}

/// A round trip written: each server's share; the requests that could not be written, and why.
struct Started {
    sent: Vec<Share>,
    again: Vec<(usize, Option<Addr>)>,
    failure: Option<Failure>,
}

/// How a failure that may pass showed itself: it sets how long to keep trying, and what the message says.
#[derive(Clone, Copy, PartialEq)]
enum Trouble {
    /// A dropped, refused or closed connection: the server may be down.
    Unreachable,
    /// No answer in time.
    Silent,
    /// The server answered that it cannot serve yet (`BUSY`), or a cluster's slots have no master for now: tried
    /// until a timeout has gone by, since a big dataset takes a while to load and a failover a while to settle.
    Busy,
}

/// Why a try failed, and whether another may succeed.
enum Failure {
    /// A dropped, refused or silent connection, or a server that cannot serve yet.
    Passing { node: Addr, why: String, trouble: Trouble },
    /// A refused login, a failed TLS handshake, or a reply no new try changes.
    Final(anyhow::Error),
}

impl Link {
    pub(super) fn new(target: Target, setup: Vec<Cmd>) -> Link {
        Link { target, setup, slots: Vec::new(), conns: HashMap::new(), out: Vec::new() }
    }

    /// Connections of their own to the same servers, with no setup: for loads on another thread.
    pub(super) fn twin(&self) -> Link {
        Link::new(self.target.clone(), Vec::new())
    }

    /// How to reach the store without redis-rs, if it is a single server without TLS.
    pub(super) fn plain(&self) -> Option<Plain> {
        let target = &self.target;
        if target.cluster || target.tls {
            return None;
        }
        let mut login = Vec::new();
        let mut commands = 0;
        if let Some(password) = &target.password {
            redis::cmd("AUTH").arg(target.user.as_deref()).arg(password).write_packed_command(&mut login);
            commands += 1;
        }
        if target.db != 0 {
            redis::cmd("SELECT").arg(target.db).write_packed_command(&mut login);
            commands += 1;
        }
        let (host, port) = target.nodes[0].clone();
        let connect = CONNECT_TIMEOUT.min(target.timeout);
        Some(Plain { host, port, login, commands, timeout: target.timeout, connect })
    }

    /// Closes every connection, so that replies still on their way to one (a round trip sent with
    /// [`Link::send_all`] and never answered) cannot be read as the replies of a later request.
    pub(super) fn close(&mut self) {
        self.conns.clear();
    }

    /// Where the store is, for messages.
    pub(super) fn location(&self) -> String {
        let kind = if self.target.cluster { "Redis Cluster" } else { "Redis" };
        format!("{kind} {}", self.target.shown)
    }

    /// Sends `requests` and returns their replies in order. `doing` completes "cannot …" in an error.
    pub(super) fn pipe(&mut self, doing: &str, requests: &Requests) -> Result<Vec<Value>> {
        let sent = self.send_all(requests);
        self.answers(doing, requests, sent)
    }

    /// Writes `requests` and returns without reading a reply, so that the caller can prepare its next batch while
    /// the servers work; [`Link::answers`] reads them, and must be called before anything else is sent.
    pub(super) fn send_all(&mut self, requests: &Requests) -> Sent {
        let (at, pending) = (Instant::now(), (0..requests.len()).map(|i| (i, None)).collect());
        Sent { at, started: self.start(requests, pending), replies: vec![None; requests.len()] }
    }

    /// The replies to `requests`, sent by [`Link::send_all`], in order; what failed in a way that may pass is sent
    /// again, with backoff.
    pub(super) fn answers(&mut self, doing: &str, requests: &Requests, sent: Sent) -> Result<Vec<Value>> {
        let Sent { at, started, mut replies } = sent;
        let (mut pending, failure) = self.finish(started, requests, &mut replies);
        let mut first = Some(failure);
        self.retrying(doing, at, |link| {
            let failure = match first.take() {
                Some(failure) => failure,
                None => {
                    let started = link.start(requests, std::mem::take(&mut pending));
                    let failure;
                    (pending, failure) = link.finish(started, requests, &mut replies);
                    failure
                }
            };
            match failure {
                Some(failure) => Err(failure),
                None => Ok(pending.is_empty().then_some(())),
            }
        })?;
        Ok(replies.into_iter().map(|reply| reply.unwrap_or(Value::Nil)).collect())
    }

    /// Runs `cmd` on `node`, or on the single server.
    pub(super) fn on(&mut self, doing: &str, node: Option<&Addr>, cmd: &Cmd) -> Result<Value> {
        let node = node.unwrap_or(&self.target.nodes[0]).clone();
        let packed = cmd.get_packed_command();
        self.retrying(doing, Instant::now(), |link| {
            let reply = link.exchange(&node, &[&packed])?;
            Ok(Some(reply.into_iter().next().unwrap_or(Value::Nil)))
        })
    }

    /// Connects to every master, so that a server that is down, refuses the login or refuses the setup
    /// (scripts) is found before a long run; so is a single server that is a replica, which loads the script but
    /// refuses every write. A server that does not let this login ask its `ROLE` is taken at its word.
    pub(super) fn check(&mut self) -> Result<()> {
        let doing = "connect to the servers";
        for node in self.masters(doing)? {
            self.retrying(doing, Instant::now(), |link| link.conn(&node).map(|_| Some(())))?;
        }
        if !self.target.cluster
            && let Value::Array(role) = self.on(doing, None, &redis::cmd("ROLE"))?
            && matches!(role.first(), Some(Value::BulkString(role)) if role == b"slave")
        {
            bail!("cannot {doing} in {}: {}", self.location(), read_only("", "its ROLE is slave"));
        }
        Ok(())
    }

    /// The servers that hold the keys: the single server, or every master of the cluster. A cluster whose slots
    /// are not all held by a master is an error, so that a listing never silently misses keys.
    pub(super) fn masters(&mut self, doing: &str) -> Result<Vec<Addr>> {
        if !self.target.cluster {
            return Ok(vec![self.target.nodes[0].clone()]);
        }
        self.retrying(doing, Instant::now(), |link| link.slot_map().map(Some))?;
        let mut masters: Vec<Addr> = self.slots.iter().map(|(_, _, node)| node.clone()).collect();
        masters.sort();
        masters.dedup();
        Ok(masters)
    }

    /// Runs `attempt` until it gives `Some`, trying again after a failure that may pass, with backoff, while
    /// less than a timeout has gone by since the first failure. The first attempt began at `started`.
    fn retrying<T>(
        &mut self,
        doing: &str,
        started: Instant,
        mut attempt: impl FnMut(&mut Link) -> Result<Option<T>, Failure>,
    ) -> Result<T> {
        let mut waits = BACKOFF.iter();
        let (mut first_failure, mut tries, mut redirects) = (None::<Instant>, 0, 0);
        loop {
            match attempt(self) {
                Ok(Some(value)) => return Ok(value),
                Ok(None) => {
                    // Only redirected: the slot map is read again, with no wait.
                    redirects += 1;
                    if redirects > REDIRECTS {
                        bail!("cannot {doing} in {}: its slots kept moving for {REDIRECTS} tries", self.location());
                    }
                }
                Err(Failure::Final(err)) => return Err(err.context(format!("cannot {doing} in {}", self.location()))),
                Err(Failure::Passing { node, why, trouble }) => {
                    tries += 1;
                    let since = *first_failure.get_or_insert_with(Instant::now);
                    let longest = BACKOFF.last().filter(|_| trouble == Trouble::Busy);
                    match waits.next().or(longest) {
                        Some(wait) if since.elapsed() < self.target.timeout => sleep(*wait),
                        _ => return Err(self.give_up(doing, &node, &why, trouble, tries, started)),
                    }
                }
            }
        }
    }

    /// The error of a round trip to the single server, begun at `started`, that got no answer in time when read
    /// another way (`quick.rs`), in the words of this one's.
    pub(super) fn silent(&self, doing: &str, started: Instant) -> anyhow::Error {
        self.give_up(doing, &self.target.nodes[0], "no answer in time", Trouble::Silent, 1, started)
    }

    fn give_up(
        &self,
        doing: &str,
        node: &Addr,
        why: &str,
        trouble: Trouble,
        tries: usize,
        started: Instant,
    ) -> anyhow::Error {
        let (store, at) = (self.location(), self.at(node));
        let tries = if tries == 1 { "1 try".to_string() } else { format!("{tries} tries") };
        let over = format!("{tries} over {:.0} s", started.elapsed().as_secs_f64());
        let timeout = self.target.timeout.as_secs_f64();
        match trouble {
            Trouble::Silent => anyhow!(
                "cannot {doing} in {store}: {at}did not answer within {timeout} s ({over}); it may be stopped, \
                 overloaded or cut off: check it, then run again"
            ),
            Trouble::Busy => anyhow!(
                "cannot {doing} in {store}: {at}{why}, still after {over}; it is not ready yet (loading its data, \
                 or its cluster changing masters): run again once it is, or wait longer with ?timeout=SECONDS in the \
                 URL (now {timeout} s)"
            ),
            Trouble::Unreachable => anyhow!(
                "cannot {doing} in {store}: {at}{why} ({over}); check that it is running and reachable, then run again"
            ),
        }
    }

    /// `node 127.0.0.1:7001: ` in a cluster's messages; nothing for a single server, which the store names.
    fn at(&self, node: &Addr) -> String {
        if self.target.cluster { format!("node {}:{}: ", node.0, node.1) } else { String::new() }
    }

    /// The first half of one round trip for the `pending` requests (each with the node that answered ASK, if one
    /// did): one pipeline written to each server. [`Link::finish`] reads the replies.
    fn start(&mut self, requests: &Requests, pending: Vec<(usize, Option<Addr>)>) -> Started {
        if self.target.cluster
            && pending.iter().any(|(_, asked)| asked.is_none())
            && let Err(failure) = self.slot_map()
        {
            return Started { sent: Vec::new(), again: pending, failure: Some(failure) };
        }
        let mut by_node: BTreeMap<Addr, Vec<(usize, bool)>> = BTreeMap::new();
        for (i, asked) in pending {
            let asking = asked.is_some();
            let node = asked.unwrap_or_else(|| self.owner(requests.slot(i)));
            by_node.entry(node).or_default().push((i, asking));
        }
        let (mut again, mut failure) = (Vec::new(), None);
        // Every server's share is written before any reply is read, so that the masters of a cluster work at once.
        let mut sent = Vec::with_capacity(by_node.len());
        for (node, batch) in by_node {
            let mut packed: Vec<&[u8]> = Vec::with_capacity(batch.len());
            for &(i, asking) in &batch {
                if asking {
                    packed.push(b"*1\r\n$6\r\nASKING\r\n");
                }
                packed.push(requests.packed(i));
            }
            match self.send(&node, &packed) {
                Ok(deadline) => sent.push(Share { count: packed.len(), node, batch, deadline }),
                Err(err) => {
                    // The other servers' shares are still read; this one's is sent again.
                    again.extend(batch.iter().map(|&(i, _)| (i, None)));
                    failure = failure.or(Some(err));
                }
            }
        }
        Started { sent, again, failure }
    }

    /// Reads the replies of a round trip begun by [`Link::start`] for `requests` into `replies`; returns what must be
    /// sent again, and why if it was a failure.
    fn finish(
        &mut self,
        started: Started,
        requests: &Requests,
        replies: &mut [Option<Value>],
    ) -> (Vec<(usize, Option<Addr>)>, Option<Failure>) {
        let Started { sent, mut again, mut failure } = started;
        let mut rejected = None;
        for Share { node, batch, count, deadline } in sent {
            let mut answers = match self.receive(&node, count, deadline) {
                Ok(answers) => answers.into_iter(),
                Err(err) => {
                    again.extend(batch.iter().map(|&(i, _)| (i, None)));
                    failure = failure.or(Some(err));
                    continue;
                }
            };
            for &(i, asking) in &batch {
                if asking {
                    answers.next();
                }
                let err = match answers.next() {
                    Some(Value::ServerError(err)) if err.code() != "TRYAGAIN" || !requests.ends[i].2 => err,
                    value => {
                        replies[i] = value;
                        continue;
                    }
                };
                // A single server that is a replica stays one: only a cluster's master turns read-only for a while.
                match redirect(&err).filter(|_| self.target.cluster || err.code() != "READONLY") {
                    Some(Redirect::Moved) => {
                        self.slots.clear();
                        again.push((i, None));
                    }
                    Some(Redirect::Ask(to)) => again.push((i, Some(to))),
                    Some(Redirect::Wait) => {
                        // A cluster changing masters, a server loading its data, or one that lost the script.
                        self.slots.clear();
                        self.conns.remove(&node);
                        again.push((i, None));
                        let why = format!("it answered {err}");
                        failure =
                            failure.or(Some(Failure::Passing { node: node.clone(), why, trouble: Trouble::Busy }));
                    }
                    // The other servers' replies are still read, so that none is left on a connection.
                    None => rejected = rejected.or_else(|| Some(Failure::Final(self.rejected(&node, &err)))),
                }
            }
        }
        if rejected.is_some() {
            return (again, rejected);
        }
        (again, failure)
    }

    /// Writes `packed` to `node` in one pipeline and reads one reply for each, all before the deadline.
    fn exchange(&mut self, node: &Addr, packed: &[&[u8]]) -> Result<Vec<Value>, Failure> {
        let deadline = self.send(node, packed)?;
        self.receive(node, packed.len(), deadline)
    }

    /// Writes `packed` to `node` in one pipeline; returns the deadline for its replies.
    fn send(&mut self, node: &Addr, packed: &[&[u8]]) -> Result<Instant, Failure> {
        let (timeout, at) = (self.target.timeout, self.at(node));
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        packed.iter().for_each(|p| out.extend_from_slice(p));
        let result = self.conn(node).and_then(|conn| {
            let deadline = Instant::now() + timeout;
            conn.send_packed_command(&out).map_err(|err| failure(&at, node, err))?;
            Ok(deadline)
        });
        self.out = out;
        if result.is_err() {
            self.conns.remove(node);
        }
        result
    }

    /// Reads `count` replies from `node` before `deadline`. At the first failure the connection is dropped, so
    /// that no late reply is ever taken for another command's.
    fn receive(&mut self, node: &Addr, count: usize, deadline: Instant) -> Result<Vec<Value>, Failure> {
        let result = self.read(node, count, deadline);
        if result.is_err() {
            self.conns.remove(node);
        }
        result
    }

    fn read(&mut self, node: &Addr, count: usize, deadline: Instant) -> Result<Vec<Value>, Failure> {
        let at = self.at(node);
        let failure = |err| failure(&at, node, err);
        let closed =
            || Failure::Passing { node: node.clone(), why: "connection closed".into(), trouble: Trouble::Unreachable };
        let conn = self.conns.get_mut(node).ok_or_else(closed)?;
        let mut replies = Vec::with_capacity(count);
        // Setting the socket's timeout is a system call, so it is set again only once TIMEOUT_STEP has gone by: a
        // read waits until at most that long past the deadline.
        let mut set: Option<Instant> = None;
        for _ in 0..count {
            let now = Instant::now();
            let left = deadline.saturating_duration_since(now);
            if left.is_zero() {
                let why = "no answer in time".to_string();
                return Err(Failure::Passing { node: node.clone(), why, trouble: Trouble::Silent });
            }
            if set.is_none_or(|at| now - at >= TIMEOUT_STEP) {
                conn.set_read_timeout(Some(left)).map_err(failure)?;
                set = Some(now);
            }
            replies.push(conn.recv_response().map_err(failure)?);
        }
        Ok(replies)
    }

    /// The open connection to `node`, made (logged in, and set up) if need be.
    fn conn(&mut self, node: &Addr) -> Result<&mut Connection, Failure> {
        if !self.conns.contains_key(node) {
            let at = self.at(node);
            let failure = |err| failure(&at, node, err);
            let info = self.target.info(node).map_err(|err| Failure::Final(err.into()))?;
            let wait = CONNECT_TIMEOUT.min(self.target.timeout);
            let client = redis::Client::open(info).map_err(failure)?;
            let mut conn = client.get_connection_with_timeout(wait).map_err(failure)?;
            conn.set_write_timeout(Some(self.target.timeout)).map_err(failure)?;
            conn.set_read_timeout(Some(self.target.timeout)).map_err(failure)?;
            for cmd in &self.setup {
                if let Err(err) = cmd.query::<Value>(&mut conn) {
                    if err.code().is_some_and(|code| !LOGIN_REFUSED.contains(&code) && !BUSY.contains(&code)) {
                        return Err(Failure::Final(anyhow!("{at}it refuses what every connection needs first: {err}")));
                    }
                    return Err(failure(err));
                }
            }
            self.conns.insert(node.clone(), conn);
        }
        Ok(self.conns.get_mut(node).expect("inserted above"))
    }

    /// The master that holds `slot`: the single server, or the cluster's, from its slot map (read already).
    fn owner(&self, slot: u16) -> Addr {
        let held = self.slots.iter().find(|(first, last, _)| (*first..=*last).contains(&slot));
        held.map_or(&self.target.nodes[0], |(_, _, node)| node).clone()
    }

    /// Reads the cluster's slot map (`CLUSTER SLOTS`) from the first server that answers, unless it is known.
    /// Fails, naming them, if some slots have no master.
    fn slot_map(&mut self) -> Result<(), Failure> {
        if !self.slots.is_empty() {
            return Ok(());
        }
        let mut known: Vec<Addr> = self.conns.keys().cloned().collect();
        known.extend(self.target.nodes.iter().filter(|node| !self.conns.contains_key(*node)).cloned());
        let packed = redis::cmd("CLUSTER").arg("SLOTS").get_packed_command();
        let mut last = None;
        for node in known {
            match self.exchange(&node, &[&packed]) {
                Ok(reply) => {
                    let reply = reply.into_iter().next().unwrap_or(Value::Nil);
                    let slots =
                        read_slots(&node, reply).map_err(|err| Failure::Final(anyhow!("{}{err}", self.at(&node))))?;
                    if let Some(missing) = uncovered(&slots) {
                        let why = format!("no master holds slots {missing}; is one of its masters down?");
                        return Err(Failure::Passing { node, why, trouble: Trouble::Busy });
                    }
                    self.slots = slots;
                    return Ok(());
                }
                Err(Failure::Final(err)) => return Err(Failure::Final(err)),
                Err(passing) => last = Some(passing),
            }
        }
        Err(last.expect("a cluster URL names at least one node"))
    }

    /// A server's error reply that another try would not change.
    fn rejected(&self, node: &Addr, err: &ServerError) -> anyhow::Error {
        let at = self.at(node);
        if LOGIN_REFUSED.contains(&err.code()) {
            refused_login(&at, err)
        } else if err.code() == "READONLY" {
            read_only(&at, err)
        } else {
            anyhow!("{at}the server answered {err}")
        }
    }
}

/// The message for a single server that is a replica, shown by `why`.
fn read_only(at: &str, why: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("{at}it is a read-only replica ({why}); give --store the address of its master")
}

/// What a server's error reply asks of the client, if anything.
enum Redirect {
    /// The slot has a new master: read the slot map again.
    Moved,
    /// The slot is moving: ask this node, for this command only.
    Ask(Addr),
    /// Wait and try again.
    Wait,
}

fn redirect(err: &ServerError) -> Option<Redirect> {
    match err.code() {
        "MOVED" => Some(Redirect::Moved),
        "ASK" => {
            // `ASK 3999 127.0.0.1:6381`: the details are the slot and the address.
            let to = err.details()?.split(' ').nth(1)?;
            let (host, port) = to.rsplit_once(':')?;
            Some(Redirect::Ask((host.to_string(), port.parse().ok()?)))
        }
        code if BUSY.contains(&code) => Some(Redirect::Wait),
        _ => None,
    }
}

/// The failure `err` is, on `node`: one that may pass (I/O, a timeout, a dropped or refused connection), or a
/// refused login, a failed TLS handshake or anything else, which will not.
fn failure(at: &str, node: &Addr, err: RedisError) -> Failure {
    if err.kind() == ErrorKind::AuthenticationFailed || err.code().is_some_and(|code| LOGIN_REFUSED.contains(&code)) {
        Failure::Final(refused_login(at, &err))
    } else if is_tls_failure(&err) {
        Failure::Final(anyhow!(
            "{at}the TLS connection failed ({err}). Is the server's certificate signed by a root this system \
             trusts? SSL_CERT_FILE names a file of further roots"
        ))
    } else if err.code().is_some_and(|code| BUSY.contains(&code)) {
        Failure::Passing { node: node.clone(), why: format!("it answered {err}"), trouble: Trouble::Busy }
    } else if err.is_timeout() || err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
        let trouble = if err.is_timeout() { Trouble::Silent } else { Trouble::Unreachable };
        Failure::Passing { node: node.clone(), why: err.to_string(), trouble }
    } else {
        Failure::Final(anyhow!("{at}{err}"))
    }
}

fn refused_login(at: &str, err: &dyn std::fmt::Display) -> anyhow::Error {
    anyhow!(
        "{at}it refused the login: wrong password or user name ({err}). Give the password in the URL \
         (redis://:PASSWORD@host), KEYWATCHER_REDIS_PASSWORD or REDISCLI_AUTH"
    )
}

/// Whether `err` is a TLS handshake that failed (rustls reports them as invalid data), such as a certificate that
/// is not trusted.
fn is_tls_failure(err: &RedisError) -> bool {
    // redis keeps the cause as an `Arc<dyn Error>`.
    let cause = Error::source(err).and_then(|cause| cause.downcast_ref::<Arc<dyn Error + Send + Sync>>());
    let io = cause.and_then(|cause| cause.downcast_ref::<std::io::Error>());
    io.is_some_and(|io| io.kind() == std::io::ErrorKind::InvalidData)
}

/// The slot ranges of a `CLUSTER SLOTS` reply: `[[first, last, [host, port, id, …], replica…], …]`. A master
/// known by no host name is at the address that gave the reply.
fn read_slots(from: &Addr, reply: Value) -> Result<Vec<(u16, u16, Addr)>> {
    let ranges: Vec<Vec<Value>> = redis::from_redis_value(reply).context("CLUSTER SLOTS gave an unexpected reply")?;
    let mut slots = Vec::new();
    for range in ranges {
        let mut fields = range.into_iter();
        let (Some(first), Some(last), Some(master)) = (fields.next(), fields.next(), fields.next()) else {
            bail!("CLUSTER SLOTS gave a range without a master");
        };
        let (host, port): (String, u16) = match redis::from_redis_value::<Vec<Value>>(master)?.as_slice() {
            [host, port, ..] => (redis::from_redis_value_ref(host)?, redis::from_redis_value_ref(port)?),
            _ => bail!("CLUSTER SLOTS gave a master without an address"),
        };
        let host = if host.is_empty() || host == "?" { from.0.clone() } else { host };
        slots.push((redis::from_redis_value(first)?, redis::from_redis_value(last)?, (host, port)));
    }
    slots.sort();
    Ok(slots)
}

/// The slots no range holds, as `A-B, C-D`, if there are any.
fn uncovered(slots: &[(u16, u16, Addr)]) -> Option<String> {
    let mut missing = Vec::new();
    let mut next = 0u16;
    for (first, last, _) in slots {
        if *first > next {
            missing.push(format!("{next}-{}", first - 1));
        }
        next = next.max(last.saturating_add(1));
    }
    if next < SLOTS {
        missing.push(format!("{next}-{}", SLOTS - 1));
    }
    (!missing.is_empty()).then(|| missing.join(", "))
}

/// The cluster slot of `key`: CRC-16/XMODEM of its hash tag (the text between the first `{` and the next `}`, if
/// not empty), else of the whole key, modulo 16384.
fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    let mut crc = 0u16;
    for &byte in tagged.unwrap_or(key) {
        crc ^= u16::from(byte) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 { (crc << 1) ^ 0x1021 } else { crc << 1 };
        }
    }
    crc % SLOTS
}

impl Target {
    /// Reads `scheme://[user:password@]host[:port][,host:port…][/db][?timeout=SECONDS]`.
    pub(super) fn parse(spec: &str) -> Result<Target> {
        let (scheme, rest) = spec.split_once("://").context("a Redis store is a URL: redis://host:port")?;
        let (cluster, tls) = match scheme {
            "redis" => (false, false),
            "rediss" => (false, true),
            "redis+cluster" => (true, false),
            "rediss+cluster" => (true, true),
            _ => bail!("{scheme}:// is not a Redis store (redis://, rediss://, redis+cluster:// or rediss+cluster://)"),
        };
        // The login ends at the last `@`, so that a password holding `/` or `@` is never taken for an address
        // (and never shown in a message about one).
        let (login, place) = match rest.rsplit_once('@') {
            Some((login, place)) => (Some(login), place),
            None => (None, rest),
        };
        let (place, options) = place.split_once('?').unwrap_or((place, ""));
        let (hosts, path) = place.split_once('/').unwrap_or((place, ""));
        let (user, password) = match login.map(|login| login.split_once(':').unwrap_or((login, ""))) {
            Some((user, password)) => (decoded(user), decoded(password)),
            None => (None, None),
        };
        let password = password.or_else(|| env("KEYWATCHER_REDIS_PASSWORD")).or_else(|| env("REDISCLI_AUTH"));
        let nodes = hosts.split(',').map(node).collect::<Result<Vec<_>>>()?;
        ensure!(
            cluster || nodes.len() == 1,
            "--store {scheme}://{hosts}: several addresses are a cluster; write {scheme}+cluster://{hosts}"
        );
        let db = match path {
            "" => 0,
            db => db.parse().map_err(|_| anyhow!("--store {scheme}://{hosts}/{db}: the database must be a number"))?,
        };
        ensure!(!cluster || db == 0, "--store {scheme}://{hosts}/{db}: a Redis Cluster has only database 0");
        let mut timeout = TIMEOUT;
        for option in options.split('&').filter(|option| !option.is_empty()) {
            let seconds = option.strip_prefix("timeout=").and_then(|s| s.trim_end_matches('s').parse::<f64>().ok());
            timeout = seconds.and_then(|s| Duration::try_from_secs_f64(s).ok()).filter(|t| !t.is_zero()).with_context(
                || format!("--store {scheme}://{hosts}: unknown option '{option}'; the only one is timeout=SECONDS"),
            )?;
        }
        let user_shown = user.as_deref().map(|user| format!("{user}@")).unwrap_or_default();
        let db_shown = if path.is_empty() { String::new() } else { format!("/{db}") };
        let shown = format!("{scheme}://{user_shown}{hosts}{db_shown}");
        Ok(Target { cluster, tls, nodes, user, password, db, timeout, shown })
    }

    fn info(&self, (host, port): &Addr) -> redis::RedisResult<ConnectionInfo> {
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

fn node(text: &str) -> Result<Addr> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_read_and_shown_without_the_password() {
        let t = Target::parse("redis://me:p%40ss@127.0.0.1:7000/3").unwrap();
        assert_eq!((t.user.as_deref(), t.password.as_deref(), t.db), (Some("me"), Some("p@ss"), 3));
        assert_eq!(t.shown, "redis://me@127.0.0.1:7000/3");
        let t = Target::parse("redis+cluster://:secret@h1:7001,h2:7002?timeout=2.5").unwrap();
        assert_eq!(t.nodes, [("h1".to_string(), 7001), ("h2".to_string(), 7002)]);
        assert_eq!((t.shown.as_str(), t.timeout), ("redis+cluster://h1:7001,h2:7002", Duration::from_millis(2500)));
        assert_eq!(Target::parse("rediss://[::1]/2?timeout=1s").unwrap().nodes, [("[::1]".to_string(), 6379)]);
        let t = Target::parse("rediss+cluster://h1:7001").unwrap();
        assert!(t.cluster && t.tls, "rediss+cluster:// is a cluster over TLS");
        let t = Target::parse("redis://:a/b@c@h1:7000/2").unwrap();
        assert_eq!((t.password.as_deref(), t.nodes[0].1, t.db, t.timeout), (Some("a/b@c"), 7000, 2, TIMEOUT));
        for (bad, says) in [
            ("redis://:secret@h1:1,h2:2", "redis+cluster://h1:1,h2:2"),
            ("redis://:secret@h1:port", "not a port"),
            ("redis+cluster://:secret@h1:1/2", "only database 0"),
            ("redis://:secret@h1:1?timeout=0", "timeout=SECONDS"),
            ("redis://:secret@h1:1?wait=2", "unknown option 'wait=2'"),
        ] {
            let err = Target::parse(bad).err().unwrap().to_string();
            assert!(err.contains(says) && !err.contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_single_server_without_tls_is_reached_plain_with_its_login_and_database() {
        let plain = |url| Link::new(Target::parse(url).unwrap(), Vec::new()).plain();
        let p = plain("redis://me:p%40ss@127.0.0.1:7000/3?timeout=2").unwrap();
        assert_eq!((p.host.as_str(), p.port, p.commands, p.timeout), ("127.0.0.1", 7000, 2, Duration::from_secs(2)));
        let login = b"*3\r\n$4\r\nAUTH\r\n$2\r\nme\r\n$4\r\np@ss\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n";
        assert_eq!(String::from_utf8_lossy(&p.login), String::from_utf8_lossy(login));
        let p = plain("redis://:secret@h1").unwrap();
        assert_eq!(String::from_utf8_lossy(&p.login), "*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n");
        assert_eq!((p.commands, p.connect), (1, CONNECT_TIMEOUT));
        for other in ["rediss://h1:7000", "redis+cluster://h1:7001,h2:7002", "rediss+cluster://h1:7001"] {
            assert!(plain(other).is_none(), "{other}");
        }
    }

    #[test]
    fn keys_map_to_the_slots_redis_gives_them() {
        // Values from `CLUSTER KEYSLOT`.
        assert_eq!(slot(b"foo"), 12182);
        assert_eq!(slot(b"bar"), 5061);
        assert_eq!(slot(b"kw:{foo}"), 12182);
        assert_ne!(slot(b"{}foo"), slot(b"foo"), "an empty tag is no tag");
    }

    #[test]
    fn slots_no_master_holds_are_named() {
        let at = || ("h".to_string(), 1);
        assert_eq!(uncovered(&[(0, 5460, at()), (5461, 16383, at())]), None);
        assert_eq!(uncovered(&[(0, 5460, at()), (10923, 16383, at())]).as_deref(), Some("5461-10922"));
        assert_eq!(uncovered(&[(1, 16000, at())]).as_deref(), Some("0-0, 16001-16383"));
    }
}
