//! Call + profile → verdict. Takes a [`Call`] and its key's [`Profile`] (or none) and gives a [`Verdict`]:
//! the sum of the weights of the factors whose value the profile holds (by default ip 40, agent 25,
//! region 25, event 10), whether that is below the threshold (default 70), and the per-key signals
//! (`signals.rs`) that make a call suspicious whatever its score. A key with no profile scores 0 and is
//! suspicious. The [`Method`] says how values are compared: the old scoring compares exact strings; the
//! standard one compares agent families (`agent.rs`) and networks (`net.rs`). Values imported from the old
//! script still match: its events had no service and its agents had spaces turned into `-`. This file never
//! reads input, a store or stdout.

use std::fmt;
use std::str::FromStr;

use foldhash::{HashMap, HashMapExt};
use jiff::{SignedDuration, Timestamp};

use crate::agent;
use crate::extract::Call;
use crate::net::{self, Network, Networks};
use crate::profile::{self, Profile, Seen, Values};
use crate::signals::{Settings, Signal, Warming, Watch};

/// The weight of each factor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Weights {
    pub ip: u32,
    pub agent: u32,
    pub region: u32,
    pub event: u32,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights { ip: 40, agent: 25, region: 25, event: 10 }
    }
}

impl FromStr for Weights {
    type Err = String;

    /// `ip=40,agent=25,region=25,event=10`; factors left out keep their default weight.
    fn from_str(text: &str) -> Result<Weights, String> {
        let mut weights = Weights::default();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) =
                part.split_once('=').ok_or_else(|| format!("'{part}' should be FACTOR=WEIGHT, e.g. ip=40"))?;
            let value: u32 = value
                .trim()
                .parse()
                .map_err(|_| format!("weight '{}' of {name} is not a whole number", value.trim()))?;
            match name.trim() {
                "ip" => weights.ip = value,
                "agent" => weights.agent = value,
                "region" => weights.region = value,
                "event" => weights.event = value,
                other => return Err(format!("unknown factor '{other}': the factors are ip, agent, region, event")),
            }
        }
        Ok(weights)
    }
}

impl Weights {
    /// The sum of the weights (never wrapping): the highest score a call can get.
    pub fn total(&self) -> u32 {
        [self.agent, self.region, self.event].iter().fold(self.ip, |sum, w| sum.saturating_add(*w))
    }
}

impl fmt::Display for Weights {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ip={},agent={},region={},event={}", self.ip, self.agent, self.region, self.event)
    }
}

/// The standard scoring's `--forget-after`, in days: what a key has not done for three months is not its
/// habit any more (Splunk's and Sumo Logic's first-seen baselines keep 90 days too).
pub const FORGET_AFTER_DAYS: i64 = 90;

/// The standard scoring's `--probation`: a day, so that a NAT gateway or Elastic IP replaced in the key's own
/// /24 is learned after a day's calls, while an intruder next to it, whose session lasts minutes, is flagged
/// throughout (README, "How well it detects", measures it).
pub const PROBATION: SignedDuration = SignedDuration::from_hours(24);

/// How a call's user agent is compared with the profile's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AgentMatch {
    /// The same string (the old scoring).
    Exact,
    /// The same family: product and major version, per-request tokens dropped.
    Family,
}

/// How a call's source address is compared with the profile's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IpMatch {
    /// The same address (the old scoring).
    Exact,
    /// The same address, or one in a /64 (IPv6) the key used, or in a /24 (IPv4) the key used when it has
    /// moved between addresses (at least three in that /16): a cloud /24 is shared with other tenants, and a
    /// key pinned to one or two Elastic IPs does not own the rest of it. Or a private address behind a VPC
    /// endpoint the key used.
    Near,
    /// As `near`, but any address in a /24 the key used counts, however few addresses it used there.
    Network,
}

/// Everything about how calls are judged, besides weights and threshold.
#[derive(Debug, Clone, PartialEq)]
pub struct Method {
    pub agents: AgentMatch,
    pub ips: IpMatch,
    /// Addresses in these blocks count as the key's own.
    pub trusted: Networks,
    /// Per-key signals and warming profiles; none in the old scoring.
    pub signals: Option<Settings>,
    /// Values not seen for this many days before a call do not count for it; the old scoring forgets nothing.
    pub forget_after: Option<i64>,
    /// Whether a key with no profile, made during the run by one that has one, is scored against its
    /// maker's profile (`lineage.rs`).
    pub lineage: bool,
    /// `score --probation SPAN`: a call that misses only on its address, an address in one of the
    /// key's own networks, puts the address on probation (it is flagged, with a reason saying so); a call like
    /// it from the same address SPAN or more after its first one counts the address as the key's, and is
    /// learned. None: such an address is flagged until `learn` takes it in. Only a run that learns as it goes
    /// (not `--frozen`) remembers what is on probation, so `config.rs` keeps it for that alone.
    pub probation: Option<SignedDuration>,
}

impl Method {
    /// The old script's scoring: exact strings, no signals.
    pub fn legacy() -> Method {
        Method {
            agents: AgentMatch::Exact,
            ips: IpMatch::Exact,
            trusted: Networks::default(),
            signals: None,
            forget_after: None,
            lineage: false,
            probation: None,
        }
    }

    /// The scoring the scenario suite chose (README, "How well it detects").
    pub fn standard() -> Method {
        Method {
            agents: AgentMatch::Family,
            ips: IpMatch::Near,
            trusted: Networks::default(),
            signals: Some(Settings::default()),
            forget_after: Some(FORGET_AFTER_DAYS),
            lineage: true,
            probation: Some(PROBATION),
        }
    }
}

/// Which factors of a call its profile holds (also read back from scored lines, by `incident.rs`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Matched {
    pub ip: bool,
    pub agent: bool,
    pub region: bool,
    pub event: bool,
}

impl Matched {
    /// The names of the factors the profile did not hold, as people read them: `ip`, `agent`, …
    pub fn missing(&self) -> Vec<&'static str> {
        let factors = [(self.ip, "ip"), (self.agent, "agent"), (self.region, "region"), (self.event, "event")];
        factors.iter().filter(|(hit, _)| !hit).map(|(_, name)| *name).collect()
    }
}

/// What is known of the call's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// No profile at all.
    Unknown,
    /// A profile too small to say much yet: the verdict says so, and is given as usual. (Not flagging such
    /// keys by score, as some peers do, bought nothing on the scenario suite and would hide a key leaked
    /// while young.)
    Warming(Warming),
    Known,
}

/// The score of one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub score: u32,
    pub threshold: u32,
    pub suspicious: bool,
    pub standing: Standing,
    pub matched: Matched,
    /// Signals beside the score; each makes the call suspicious.
    pub signals: Vec<Signal>,
    /// The key (or principal) whose profile the call was scored against, when it is not the call's own: the
    /// key that made this one.
    pub made_by: Option<String>,
}

impl Verdict {
    /// Whether the call's address goes on probation: its only signal says so.
    pub fn on_probation(&self) -> bool {
        matches!(self.signals[..], [Signal::Probation { .. }])
    }

    /// Adds a signal found outside the scorer (`lineage.rs`): the call is suspicious.
    pub fn flag(&mut self, signal: Signal) {
        self.signals.push(signal);
        self.suspicious = true;
    }
}

#[cfg(test)]
impl Verdict {
    /// A call that fits its key's profile on every factor, for the tests of the rooms that write verdicts (emit,
    /// terminal).
    pub fn example() -> Verdict {
        Verdict {
            score: 100,
            threshold: 70,
            suspicious: false,
            standing: Standing::Known,
            matched: Matched { ip: true, agent: true, region: true, event: true },
            signals: Vec::new(),
            made_by: None,
        }
    }
}

/// What the scorer works out once per profile: the agent families, the networks, the number of
/// calls. Kept in step with what a run learns (`Scorer::learned`); the times in it are lower bounds, since a
/// call learned with a value the profile already held does not touch them (working out the family of every
/// learned call's agent cost 5 % of a plain `score`'s instructions): a time older than the cutoff is checked
/// again against the profile (`holds_family`, `holds_network`), so answers are as of the profile.
#[derive(Debug, Default)]
struct Digest {
    /// Each agent family, with the last time any of its agents was seen (a lower bound).
    families: HashMap<String, Timestamp>,
    /// Each network, with the last time any of its addresses was seen (a lower bound).
    networks: HashMap<Network, Timestamp>,
    /// How many IPv4 addresses the key used in each /16 (by its top 16 bits).
    v4_addresses: HashMap<u32, usize>,
    calls: u64,
}

impl Digest {
    fn of(profile: &Profile) -> Digest {
        let mut digest = Digest { calls: profile.events.values().map(|seen| seen.count).sum(), ..Digest::default() };
        for (agent, seen) in &profile.agents {
            keep_latest(&mut digest.families, agent::family(agent).into_owned(), seen);
        }
        for (ip, seen) in &profile.ips {
            if let Some(network) = net::network(ip) {
                keep_latest(&mut digest.networks, network, seen);
                if let Network::V4(slash24) = network {
                    *digest.v4_addresses.entry(slash24 >> 8).or_default() += 1;
                }
            }
        }
        digest
    }

    /// Whether the key used an agent of `family` at or after `cutoff` (when there is one).
    fn holds_family(&self, profile: &Profile, family: &str, cutoff: Option<Timestamp>) -> bool {
        let Some(last) = self.families.get(family) else { return false };
        cutoff.is_none_or(|cutoff| {
            *last >= cutoff
                || profile.agents.iter().any(|(agent, seen)| seen.fresh(cutoff) && agent::family(agent) == family)
        })
    }

    /// Whether the key used an address of `network` at or after `cutoff` (when there is one).
    fn holds_network(&self, profile: &Profile, network: Network, cutoff: Option<Timestamp>) -> bool {
        let Some(last) = self.networks.get(&network) else { return false };
        cutoff.is_none_or(|cutoff| {
            *last >= cutoff
                || profile.ips.iter().any(|(ip, seen)| seen.fresh(cutoff) && net::network(ip) == Some(network))
        })
    }

    /// Whether the key moved enough around `network` for `--ip-match near` to give it the whole of it.
    fn moves_in(&self, network: Network) -> bool {
        match network {
            Network::V4(slash24) => self.v4_addresses.get(&(slash24 >> 8)).is_some_and(|n| *n >= MOVING_ADDRESSES),
            Network::V6(_) => true,
        }
    }
}

/// How many addresses of one IPv4 /16 a key must have used before `--ip-match near` counts the rest of their
/// /24s as its own: a DHCP scope or NAT pool shows many, a service pinned to its Elastic IPs one or two
/// (README, "How well it detects", measures the choice).
const MOVING_ADDRESSES: usize = 3;

/// Keeps in `map` the latest last-seen time of `key`; a value without times counts as seen forever.
fn keep_latest<K: Eq + std::hash::Hash>(map: &mut HashMap<K, Timestamp>, key: K, seen: &Seen) {
    let last = seen.last.unwrap_or(Timestamp::MAX);
    let slot = map.entry(key).or_insert(last);
    *slot = (*slot).max(last);
}

/// Whether `values` holds `value`, seen at or after `cutoff` when there is one.
fn holds(values: &Values, value: &str, cutoff: Option<Timestamp>) -> bool {
    values.get(value).is_some_and(|seen| cutoff.is_none_or(|cutoff| seen.fresh(cutoff)))
}

/// Where a new address in one of the key's networks stands, in a call that fits in every other way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probation {
    /// On probation since `since`, until `until`: the call is flagged and the address remembered.
    Serving { since: Timestamp, until: Timestamp },
    /// First seen on probation at least the span before this call: the address counts as the key's.
    Served,
}

/// Scores calls; holds the weights, the threshold, the method, what it worked out of each profile, and the
/// signals' memory of the run.
#[derive(Debug)]
pub struct Scorer {
    pub weights: Weights,
    pub threshold: u32,
    pub method: Method,
    digests: HashMap<String, Digest>,
    watch: Option<Watch>,
    scratch: String,
}

impl Scorer {
    pub fn new(weights: Weights, threshold: u32, method: Method) -> Scorer {
        let watch = method.signals.map(Watch::new);
        Scorer { weights, threshold, method, digests: HashMap::new(), watch, scratch: String::new() }
    }

    /// Keeps what the scorer worked out of `profile` in step with `call` being learned into it (`adapt.rs`);
    /// `profile` is the profile before. Only a value new to the profile changes the digest
    /// beyond its count of calls (its times are lower bounds, see [`Digest`]), so the next call is scored as
    /// against a digest worked out again, whatever chunk it is in, for a few look-ups. A value without times
    /// (imported from the old script) gets one when learned, which can lower its family's or network's last
    /// time: that digest is dropped, to be worked out again at the key's next call.
    pub fn learned(&mut self, call: &Call, profile: &Profile) {
        let Some(digest) = self.digests.get_mut(&profile.access_key_id) else { return };
        let (agent, ip) = (profile.agents.get(call.agent), profile.ips.get(call.ip));
        if [agent, ip].iter().any(|seen| seen.is_some_and(|seen| seen.last.is_none())) {
            self.digests.remove(&profile.access_key_id);
            return;
        }
        if !call.event_name.is_empty() {
            digest.calls += 1;
        }
        if agent.is_none() && !call.agent.is_empty() {
            keep_latest(&mut digest.families, agent::family(call.agent).into_owned(), &Seen::at(call.time));
        }
        if ip.is_none()
            && let Some(network) = net::network(call.ip)
        {
            keep_latest(&mut digest.networks, network, &Seen::at(call.time));
            if let Network::V4(slash24) = network {
                *digest.v4_addresses.entry(slash24 >> 8).or_default() += 1;
            }
        }
    }

    /// Scores `call` against its key's profile. Calls come in input order; signals keep what they need of earlier ones.
    pub fn score(&mut self, call: &Call, profile: Option<&Profile>) -> Verdict {
        let mut signals = Vec::new();
        let Some(profile) = profile else {
            if let Some(watch) = &mut self.watch {
                watch.check(call, None, false, &mut signals);
            }
            return Verdict {
                score: 0,
                threshold: self.threshold,
                suspicious: true,
                standing: Standing::Unknown,
                matched: Matched::default(),
                signals,
                made_by: None,
            };
        };
        let digest_used =
            self.method.agents == AgentMatch::Family || self.method.ips != IpMatch::Exact || self.watch.is_some();
        // By the profile's name, not the call's: a key made during the run is scored against its maker's
        // profile (`lineage.rs`), and must see what the maker's calls have taught it since.
        if digest_used && !self.digests.contains_key(&profile.access_key_id) {
            self.digests.insert(profile.access_key_id.clone(), Digest::of(profile));
        }
        // Values not seen for --forget-after before this call no longer count.
        let cutoff =
            self.method.forget_after.and_then(|days| call.time.checked_sub(SignedDuration::from_hours(24 * days)).ok());
        let mut matched = Matched {
            ip: self.ip_matches(call, profile, cutoff),
            agent: self.agent_matches(call, profile, cutoff),
            region: !call.region.is_empty() && holds(&profile.regions, call.region, cutoff),
            event: self.event_matches(call, profile, cutoff),
        };
        let probation = self.probation(call, profile, matched, cutoff);
        if let Some(Probation::Served) = probation {
            matched.ip = true;
        }
        let w = self.weights;
        let hit = |matched: bool, weight: u32| if matched { weight } else { 0 };
        let score = Weights {
            ip: hit(matched.ip, w.ip),
            agent: hit(matched.agent, w.agent),
            region: hit(matched.region, w.region),
            event: hit(matched.event, w.event),
        }
        .total();
        let mut standing = Standing::Known;
        if let Some(watch) = &mut self.watch {
            let calls = self.digests.get(&profile.access_key_id).map_or(0, |d| d.calls);
            if let Some(warming) = watch.warming(profile, calls) {
                standing = Standing::Warming(warming);
            }
            watch.check(call, Some(profile), matched.ip, &mut signals);
        }
        // Only a call that nothing but its address makes suspicious is on probation: one with a signal is not.
        if let Some(Probation::Serving { since, until }) = probation
            && signals.is_empty()
            && score < self.threshold
        {
            signals.push(Signal::Probation { since, until });
        }
        let suspicious = score < self.threshold || !signals.is_empty();
        Verdict { score, threshold: self.threshold, suspicious, standing, matched, signals, made_by: None }
    }

    fn ip_matches(&self, call: &Call, profile: &Profile, cutoff: Option<Timestamp>) -> bool {
        let ip = call.ip;
        if ip.is_empty() {
            return false;
        }
        if holds(&profile.ips, ip, cutoff) || self.method.trusted.contains(ip) {
            return true;
        }
        if self.method.ips == IpMatch::Exact {
            return false;
        }
        // Behind a VPC endpoint the address is private and changes with every network interface; the
        // endpoint is what stays (learning keeps it among the key's addresses).
        if !call.vpc_endpoint.is_empty() && holds(&profile.ips, call.vpc_endpoint, cutoff) {
            return true;
        }
        let (Some(network), Some(digest)) = (net::network(ip), self.digests.get(&profile.access_key_id)) else {
            return false;
        };
        let owned = self.method.ips == IpMatch::Network || digest.moves_in(network);
        owned && digest.holds_network(profile, network, cutoff)
    }

    /// Where the address of `call` stands on probation, when probation is on and the call misses only on an
    /// address in one of the key's networks (its /24 or /64, however few addresses the key used there).
    fn probation(
        &self,
        call: &Call,
        profile: &Profile,
        matched: Matched,
        cutoff: Option<Timestamp>,
    ) -> Option<Probation> {
        let span = self.method.probation?;
        if matched.ip || !(matched.agent && matched.region && matched.event) {
            return None;
        }
        let (network, digest) = (net::network(call.ip)?, self.digests.get(&profile.access_key_id)?);
        if !digest.holds_network(profile, network, cutoff) {
            return None;
        }
        let since =
            profile.probation.get(call.ip).and_then(|seen| seen.first).map_or(call.time, |first| first.min(call.time));
        let until = since.saturating_add(span).ok()?;
        Some(if call.time >= until { Probation::Served } else { Probation::Serving { since, until } })
    }

    fn agent_matches(&mut self, call: &Call, profile: &Profile, cutoff: Option<Timestamp>) -> bool {
        let agent = call.agent;
        if agent.is_empty() {
            return false;
        }
        if holds(&profile.agents, agent, cutoff) {
            return true;
        }
        if self.method.agents == AgentMatch::Family {
            let family = agent::family(agent);
            return self.digests.get(&profile.access_key_id).is_some_and(|d| d.holds_family(profile, &family, cutoff));
        }
        // The old script stored agents with every space turned into '-'.
        if !agent.contains(' ') {
            return false;
        }
        self.scratch.clear();
        self.scratch.extend(agent.chars().map(|c| if c == ' ' { '-' } else { c }));
        holds(&profile.agents, &self.scratch, cutoff)
    }

    fn event_matches(&mut self, call: &Call, profile: &Profile, cutoff: Option<Timestamp>) -> bool {
        if call.event_name.is_empty() {
            return false;
        }
        let key = profile::event_key(&mut self.scratch, call.event_source, call.event_name);
        // A bare event name, as the old script stored it, stands for that name on any service.
        holds(&profile.events, key, cutoff) || holds(&profile.events, call.event_name, cutoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Profiles;

    fn call<'a>(ip: &'a str, agent: &'a str) -> Call<'a> {
        let (region, event_source, event_name) = ("ap-southeast-2", "rds.amazonaws.com", "DescribeDBSnapshots");
        Call { ip, agent, region, event_source, event_name, ..Call::example() }
    }

    fn profile(values: &[(&str, &str)]) -> Profile {
        let mut p = Profile::new("AKIAEXAMPLE1");
        for (kind, value) in values {
            let set = match *kind {
                "ip" => &mut p.ips,
                "agent" => &mut p.agents,
                "region" => &mut p.regions,
                _ => &mut p.events,
            };
            set.insert(value.to_string(), Seen { count: 1, first: None, last: None });
        }
        p
    }

    #[test]
    fn a_digest_kept_in_step_with_learning_answers_as_one_worked_out_again() {
        // Months of calls, so that forgetting (90 days) turns on the times the digest keeps as lower bounds.
        let method = Method { ips: IpMatch::Network, signals: None, probation: None, ..Method::standard() };
        let mut profiles = Profiles::new();
        let mut scratch = String::new();
        let first = Call { time: "2026-01-01T10:00:00Z".parse().unwrap(), ..call("10.0.0.1", "aws-cli/2.13.5") };
        crate::learn::observe(&mut profiles, &mut scratch, &first);
        profiles.get_mut("AKIAEXAMPLE1").unwrap().agents.insert("Boto3/1.28.0".into(), Seen::default());
        let mut kept = Scorer::new(Weights::default(), 70, method.clone());
        let calls = [
            ("10.0.0.1", "aws-cli/2.13.5", "2026-02-20T10:00:00Z"),
            ("10.0.0.2", "aws-cli/2.15.0 md/command#s3.cp", "2026-05-01T10:00:00Z"),
            ("10.0.0.3", "terraform/1.6.0", "2026-05-02T10:00:00Z"),
            ("2001:db8::1", "", "2026-05-03T10:00:00Z"),
            ("10.0.1.9", "Boto3/1.28.0", "2026-05-05T10:00:00Z"),
            ("10.0.1.10", "Boto3/1.29.0", "2026-05-06T10:00:00Z"),
            ("10.0.0.4", "aws-cli/2.16.0", "2026-08-10T10:00:00Z"),
            ("10.0.0.5", "terraform/1.7.0", "2026-08-31T10:00:00Z"),
        ];
        for (ip, agent, at) in calls {
            let call = Call { time: at.parse().unwrap(), ..call(ip, agent) };
            let verdict = kept.score(&call, profiles.get("AKIAEXAMPLE1"));
            let afresh = Scorer::new(Weights::default(), 70, method.clone()).score(&call, profiles.get("AKIAEXAMPLE1"));
            assert_eq!(verdict, afresh, "{ip} {agent} {at}");
            assert_eq!(kept.digests["AKIAEXAMPLE1"].calls, Digest::of(&profiles["AKIAEXAMPLE1"]).calls);
            kept.learned(&call, &profiles["AKIAEXAMPLE1"]);
            crate::learn::observe(&mut profiles, &mut scratch, &call);
        }
    }

    #[test]
    fn a_key_scored_against_its_makers_profile_sees_what_the_maker_learned_since() {
        let method = Method { signals: None, probation: None, ..Method::standard() };
        let mut profiles = Profiles::new();
        let mut scratch = String::new();
        crate::learn::observe(&mut profiles, &mut scratch, &call("10.0.0.1", "aws-cli/2.13.5"));
        let mut kept = Scorer::new(Weights::default(), 70, method.clone());
        // A key made during the run, with no profile of its own, is scored against its maker's (`lineage.rs`).
        let made = |agent| Call { owner: "AKIAMADE", access_key: "AKIAMADE", ..call("10.0.0.1", agent) };
        kept.score(&made("aws-cli/2.13.5"), profiles.get("AKIAEXAMPLE1"));
        // Then the maker's call with a new client passes and is learned.
        let maker = call("10.0.0.1", "terraform/1.6.0");
        kept.learned(&maker, &profiles["AKIAEXAMPLE1"]);
        crate::learn::observe(&mut profiles, &mut scratch, &maker);
        let later = made("terraform/1.7.0");
        let afresh = Scorer::new(Weights::default(), 70, method).score(&later, profiles.get("AKIAEXAMPLE1"));
        assert!(afresh.matched.agent, "the maker now uses terraform/1");
        assert_eq!(kept.score(&later, profiles.get("AKIAEXAMPLE1")), afresh);
    }

    #[test]
    fn weights_add_up_for_the_factors_that_match() {
        let p = profile(&[
            ("ip", "111.111.111.111"),
            ("agent", "aws-cli/2.13.5 Python/3.11"),
            ("region", "ap-southeast-2"),
            ("event", "rds.amazonaws.com:DescribeDBSnapshots"),
        ]);
        let mut scorer = Scorer::new(Weights::default(), 70, Method::legacy());
        let all = scorer.score(&call("111.111.111.111", "aws-cli/2.13.5 Python/3.11"), Some(&p));
        assert_eq!((all.score, all.suspicious), (100, false));
        let new_ip = scorer.score(&call("222.222.222.222", "aws-cli/2.13.5 Python/3.11"), Some(&p));
        assert_eq!((new_ip.score, new_ip.suspicious), (60, true));
        assert!(!new_ip.matched.ip && new_ip.matched.agent && new_ip.matched.region && new_ip.matched.event);
        let unknown = scorer.score(&call("111.111.111.111", "x"), None);
        assert_eq!((unknown.score, unknown.suspicious, unknown.standing), (0, true, Standing::Unknown));
    }

    #[test]
    fn old_format_values_match_the_calls_they_came_from() {
        let p = profile(&[("agent", "aws-cli/1.10.1-Python/2.7.5"), ("event", "DescribeDBSnapshots")]);
        let mut scorer = Scorer::new(Weights::default(), 70, Method::legacy());
        let v = scorer.score(&call("1.2.3.4", "aws-cli/1.10.1 Python/2.7.5"), Some(&p));
        assert!(v.matched.agent && v.matched.event, "{v:?}");
    }

    #[test]
    fn the_standard_scoring_forgets_what_the_key_stopped_doing_and_the_old_one_does_not() {
        let mut p = profile(&[("region", "ap-southeast-2"), ("event", "rds.amazonaws.com:DescribeDBSnapshots")]);
        let long_ago = Seen::at("2026-07-01T00:00:00Z".parse().unwrap());
        p.ips.insert("111.111.111.111".into(), long_ago.clone());
        p.ips.insert("111.111.112.1".into(), long_ago.clone());
        p.agents.insert("aws-cli/2.0.1 Python/3.8".into(), long_ago);
        p.agents.insert("aws-cli/2.13.5 Python/3.11".into(), Seen::at("2026-10-30T00:00:00Z".parse().unwrap()));
        let calls = [call("111.111.111.111", "aws-cli/2.0.1 Python/3.8"), call("111.111.112.9", "aws-cli/2.0.9")];
        let mut legacy = Scorer::new(Weights::default(), 70, Method::legacy());
        let mut standard = Scorer::new(Weights::default(), 70, Method::standard());
        let matched = |scorer: &mut Scorer, c: &Call| {
            let m = scorer.score(c, Some(&p)).matched;
            (m.ip, m.agent, m.region, m.event)
        };
        assert_eq!(matched(&mut legacy, &calls[0]), (true, true, true, true));
        assert_eq!(matched(&mut standard, &calls[0]), (false, true, true, true), "the family is still in use");
        assert_eq!(matched(&mut standard, &calls[1]), (false, true, true, true), "its network was forgotten too");
        let remember = Method { forget_after: None, ips: IpMatch::Network, ..Method::standard() };
        let mut remembering = Scorer::new(Weights::default(), 70, remember);
        assert_eq!(matched(&mut remembering, &calls[1]), (true, true, true, true));
    }

    #[test]
    fn a_slash_24_is_the_keys_own_only_when_the_key_moves_between_addresses() {
        let pinned = profile(&[("ip", "54.228.16.10"), ("ip", "54.228.16.11")]);
        let mut moving = pinned.clone();
        moving.ips.insert("54.228.17.40".into(), Seen { count: 1, first: None, last: None });
        let ip_matched = |method: Method, p: &Profile, ip: &str| {
            Scorer::new(Weights::default(), 70, method).score(&call(ip, "a"), Some(p)).matched.ip
        };
        assert!(!ip_matched(Method::standard(), &pinned, "54.228.16.201"), "another tenant of a cloud /24");
        assert!(ip_matched(Method::standard(), &moving, "54.228.16.201"), "three addresses in the /16: a pool");
        assert!(!ip_matched(Method::standard(), &moving, "54.228.18.1"), "never a /24 the key did not use");
        let network = Method { ips: IpMatch::Network, ..Method::standard() };
        assert!(ip_matched(network, &pinned, "54.228.16.201"), "--ip-match network: any address of the /24");
        let v6 = profile(&[("ip", "2600:1f18:61d4:a300::1")]);
        assert!(ip_matched(Method::standard(), &v6, "2600:1f18:61d4:a300:5c1e::9"), "a /64 is one site's");
    }

    #[test]
    fn a_new_address_in_the_keys_own_slash_24_serves_its_probation_then_counts() {
        let mut p = profile(&[
            ("ip", "54.228.16.10"),
            ("agent", "Boto3/1.28.57"),
            ("region", "ap-southeast-2"),
            ("event", "rds.amazonaws.com:DescribeDBSnapshots"),
        ]);
        let at = |time: &str, ip, agent| Call { time: time.parse().unwrap(), ..call(ip, agent) };
        let first = at("2026-11-02T10:00:00Z", "54.228.16.74", "Boto3/1.34.100");
        let mut scorer = Scorer::new(Weights::default(), 70, Method::standard());
        let v = scorer.score(&first, Some(&p));
        let since: Timestamp = "2026-11-02T10:00:00Z".parse().unwrap();
        let until: Timestamp = "2026-11-03T10:00:00Z".parse().unwrap();
        assert_eq!((v.suspicious, &v.signals[..]), (true, &[Signal::Probation { since, until }][..]));
        assert!(v.on_probation());
        p.probation.insert("54.228.16.74".into(), Seen::at(since));
        let mut verdict = |time, ip, agent| scorer.score(&at(time, ip, agent), Some(&p));
        let later = verdict("2026-11-03T09:59:59Z", "54.228.16.74", "Boto3/1.34.100");
        assert_eq!(later.signals, [Signal::Probation { since, until }], "counted from its first sighting");
        let served = verdict("2026-11-03T10:00:00Z", "54.228.16.74", "Boto3/1.34.100");
        assert_eq!((served.suspicious, served.matched.ip, served.score), (false, true, 100));
        let new_client = verdict("2026-11-04T10:00:00Z", "54.228.16.74", "curl/8.4.0");
        assert!(
            !new_client.matched.ip && !new_client.on_probation(),
            "only a call that fits otherwise: {new_client:?}"
        );
        let elsewhere = verdict("2026-11-04T10:00:00Z", "54.228.17.74", "Boto3/1.34.100");
        assert!(elsewhere.suspicious && elsewhere.signals.is_empty(), "another /24 is not the key's network");
        let mut probe = at("2026-11-02T11:00:00Z", "54.228.16.99", "Boto3/1.34.100");
        (probe.event_source, probe.event_name) = ("sts.amazonaws.com", "GetCallerIdentity");
        p.events.insert("sts.amazonaws.com:GetCallerIdentity".into(), Seen::default());
        let probe = scorer.score(&probe, Some(&p));
        assert_eq!(probe.signals, [Signal::CallerIdentityFirst], "a call with a signal is not on probation");
        let mut without = Scorer::new(Weights::default(), 70, Method { probation: None, ..Method::standard() });
        let plain = without.score(&first, Some(&p));
        assert!(plain.suspicious && plain.signals.is_empty(), "no probation: flagged as any new address");
    }

    #[test]
    fn weights_parse_and_refuse_nonsense() {
        assert_eq!("ip=50, event=0".parse(), Ok(Weights { ip: 50, agent: 25, region: 25, event: 0 }));
        assert!("ip".parse::<Weights>().unwrap_err().contains("FACTOR=WEIGHT"));
        assert!("color=3".parse::<Weights>().unwrap_err().contains("unknown factor"));
        assert!("ip=-3".parse::<Weights>().unwrap_err().contains("whole number"));
        let huge: Weights = "ip=4294967295,agent=1".parse().unwrap();
        assert_eq!(huge.total(), u32::MAX);
        let mut scorer = Scorer::new(huge, u32::MAX, Method::legacy());
        let p = profile(&[("ip", "1.2.3.4"), ("agent", "a")]);
        assert_eq!(scorer.score(&call("1.2.3.4", "a"), Some(&p)).score, u32::MAX);
    }
}
