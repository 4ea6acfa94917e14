//! Per-key signals beside the score. Takes each scored call with its key's profile, and whether the call's
//! address is one the key is known to use, and gives the [`Signal`]s it shows: a key waking up after a long
//! silence, a new address whose first call is `sts:GetCallerIdentity` (what a leaked key's finder runs
//! first), an attack tool's user agent, a burst of `AccessDenied` from a new address, and any later call from
//! a new address that one of these already marked (Elastic escalates alerts on a shared source address the
//! same way). It also says when a
//! profile is still too small to say much ([`Warming`]). It keeps what it has seen of new
//! addresses until a day after their last call. Bursts and dormancy are counted in event time, whatever the
//! input order (a directory is read region by region); "first call" means first in the input. It never reads
//! input or writes output.

use std::collections::VecDeque;
use std::fmt;

use foldhash::HashMap;

use jiff::{SignedDuration, Timestamp};

use crate::extract::Call;
use crate::profile::Profile;

/// How long a burst of denied calls may take.
const BURST_WINDOW: SignedDuration = SignedDuration::from_mins(10);
const DAY: i64 = 24 * 60 * 60;

/// The flags' thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// A profile with fewer calls than this is warming.
    pub warm_calls: u64,
    /// A profile spanning fewer days than this is warming.
    pub warm_days: u64,
    /// A key silent for more days than this is dormant.
    pub dormant_days: u64,
    /// This many denied calls from one new address within ten minutes are a burst.
    pub denied_burst: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { warm_calls: 20, warm_days: 2, dormant_days: 30, denied_burst: 5 }
    }
}

/// Something about a call worth a reason of its own; each makes the call suspicious.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    Dormant {
        days: i64,
    },
    CallerIdentityFirst,
    AttackTool(&'static str),
    DeniedBurst {
        count: usize,
    },
    /// A new address that an earlier call with a signal came from.
    MarkedAddress,
    /// The key was made during the run by `maker` for another IAM user, `user` (`lineage.rs`).
    MadeForOther {
        maker: String,
        user: String,
    },
    /// A new address in one of the key's own networks, in a call that fits in every other way, first seen
    /// there at `since`: `score` (not `--frozen`) learns it once a call like this comes from it at or after `until`
    /// (`score.rs`).
    Probation {
        since: Timestamp,
        until: Timestamp,
    },
}

impl Signal {
    /// One word for a narrow table column.
    pub fn label(&self) -> &'static str {
        match self {
            Signal::Dormant { .. } => "dormant",
            Signal::CallerIdentityFirst => "probe",
            Signal::AttackTool(_) => "tool",
            Signal::DeniedBurst { .. } => "denied",
            Signal::MarkedAddress => "marked",
            Signal::MadeForOther { .. } => "for-user",
            Signal::Probation { .. } => "probation",
        }
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Signal::Dormant { days } => write!(f, "key dormant for {days} days before this call"),
            Signal::CallerIdentityFirst => {
                f.write_str("first call from a new address is sts:GetCallerIdentity, as when a found key is tried")
            }
            Signal::AttackTool(tool) => write!(f, "user agent of an attack tool ({tool})"),
            Signal::DeniedBurst { count } => {
                write!(f, "{count} AccessDenied calls from a new address within 10 minutes")
            }
            Signal::MarkedAddress => f.write_str("an earlier call from this new address had a signal"),
            Signal::MadeForOther { maker, user } => write!(
                f,
                "key made by {maker} for another IAM user, {user} (iam:CreateAccessKey) in this run; \
                 not scored against its maker's profile"
            ),
            Signal::Probation { since, until } => write!(
                f,
                "new address in the key's own network, on probation since {since}: learned if a call like this \
                 comes from it at or after {until}"
            ),
        }
    }
}

/// A profile too small to say much yet: how many calls it holds over how many days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Warming {
    pub calls: u64,
    pub days: u64,
    pub settings: Settings,
}

impl Warming {
    /// The reason, as text between numbers (text with nothing JSON escapes): `emit` writes it without `fmt`,
    /// which took 13 % of the thread that scored and wrote, then, when every profile was warming (perf, a 200 MB tree).
    pub fn pieces(&self) -> ([&'static str; 5], [u64; 4]) {
        let texts = [
            "profile warming: only ",
            " calls over ",
            " days (--warm-calls ",
            ", --warm-days ",
            "); new values are to be expected",
        ];
        (texts, [self.calls, self.days, self.settings.warm_calls, self.settings.warm_days])
    }
}

impl fmt::Display for Warming {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let (texts, numbers) = self.pieces();
        for (text, number) in texts.iter().zip(numbers) {
            write!(f, "{text}{number}")?;
        }
        f.write_str(texts[4])
    }
}

/// What is remembered of one new address of one key.
#[derive(Debug, Clone)]
struct Recent {
    /// Its latest call.
    last: Timestamp,
    /// Times of its denied calls, in time order whatever the input order, from a day before the latest call.
    denied: VecDeque<Timestamp>,
    /// A call from it had a signal: what follows from there is the same actor.
    marked: bool,
}

impl Recent {
    /// Adds a denied call at `time` and counts the denied calls within the burst window either side of it.
    /// Directories are read in path order (a region's days, then the next region's), so times are kept sorted
    /// rather than assumed to arrive in order.
    fn denied_near(&mut self, time: Timestamp) -> usize {
        let at = self.denied.partition_point(|t| *t <= time);
        self.denied.insert(at, time);
        // Only what is a day older than this call is dropped: what came before it in the input but is later in
        // time stays for the calls that follow it.
        while self.denied.front().is_some_and(|t| time.duration_since(*t) > SignedDuration::from_hours(24)) {
            self.denied.pop_front();
        }
        let from = self.denied.partition_point(|t| time.duration_since(*t) > BURST_WINDOW);
        let to = self.denied.partition_point(|t| t.duration_since(time) <= BURST_WINDOW);
        to.saturating_sub(from)
    }
}

/// Watches calls for signals; remembers the new addresses of each key seen lately.
#[derive(Debug, Clone, Default)]
pub struct Watch {
    pub settings: Settings,
    /// Key → new address → what it did. An address is forgotten a day (in event time) after its last call, so
    /// a long live run remembers about a day's new addresses, not all it ever saw.
    recent: HashMap<String, HashMap<String, Recent>>,
    /// Calls from new addresses since the last sweep of `recent`.
    since_sweep: usize,
    /// Key → its latest call of the run: a key in use is not dormant, however old its stored profile. One time
    /// per key, as the scorer keeps one digest per key.
    last_call: HashMap<String, Timestamp>,
}

/// How many calls from new addresses pass between two sweeps of the forgotten ones.
const SWEEP_EVERY: usize = 4096;

impl Watch {
    pub fn new(settings: Settings) -> Watch {
        Watch { settings, ..Watch::default() }
    }

    /// Whether `profile`, holding `calls` calls, is too small to say much. A profile without times was imported
    /// from the old script, which learned over a span nobody can tell now: it is not warming.
    /// A profile holding no calls had them all removed by `profile prune`: it is an old key, not a young one.
    pub fn warming(&self, profile: &Profile, calls: u64) -> Option<Warming> {
        if calls == 0 {
            return None;
        }
        let (first, last) = profile.first_seen.zip(profile.last_seen)?;
        let days = ((last.as_second() - first.as_second()) / DAY) as u64;
        let warming = calls < self.settings.warm_calls || days < self.settings.warm_days;
        warming.then_some(Warming { calls, days, settings: self.settings })
    }

    /// Adds to `out` the signals `call` shows. `known_address` says whether its address counts as one the key
    /// uses (exactly, by network or by origin).
    pub fn check(&mut self, call: &Call, profile: Option<&Profile>, known_address: bool, out: &mut Vec<Signal>) {
        if let Some(tool) = call.attack_tool {
            out.push(Signal::AttackTool(tool));
        }
        if let Some(profile) = profile {
            self.check_dormant(call, profile, out);
        }
        if known_address || profile.is_none() {
            return;
        }
        self.sweep(call.time);
        let addresses = match self.recent.get_mut(call.owner) {
            Some(addresses) => addresses,
            None => self.recent.entry(call.owner.to_string()).or_default(),
        };
        let recent = match addresses.get_mut(call.ip) {
            Some(recent) => recent,
            None => {
                if call.event_source == "sts.amazonaws.com" && call.event_name == "GetCallerIdentity" {
                    out.push(Signal::CallerIdentityFirst);
                }
                let first = Recent { last: call.time, denied: VecDeque::new(), marked: false };
                addresses.entry(call.ip.to_string()).or_insert(first)
            }
        };
        recent.last = recent.last.max(call.time);
        if is_denied(call.error_code) {
            let count = recent.denied_near(call.time);
            if count >= self.settings.denied_burst.max(1) {
                out.push(Signal::DeniedBurst { count });
            }
        }
        if recent.marked && out.is_empty() {
            out.push(Signal::MarkedAddress);
        }
        recent.marked |= !out.is_empty();
    }

    /// A dormant key: silent for more than `--dormant-days` before this call, counting both what the profile
    /// learned and the calls of this run, so that only the first call after the silence says so.
    fn check_dormant(&mut self, call: &Call, profile: &Profile, out: &mut Vec<Signal>) {
        let this_run = self.last_call.get(call.owner).copied();
        if let Some(last) = this_run.max(profile.last_seen) {
            let days = (call.time.as_second() - last.as_second()) / DAY;
            if days > self.settings.dormant_days as i64 {
                out.push(Signal::Dormant { days });
            }
        }
        match self.last_call.get_mut(call.owner) {
            Some(last) => *last = (*last).max(call.time),
            None => {
                self.last_call.insert(call.owner.to_string(), call.time);
            }
        }
    }

    /// Every [`SWEEP_EVERY`] calls from new addresses, forgets the addresses silent for a day before `now`.
    fn sweep(&mut self, now: Timestamp) {
        self.since_sweep += 1;
        if self.since_sweep < SWEEP_EVERY {
            return;
        }
        self.since_sweep = 0;
        let Ok(cutoff) = now.checked_sub(SignedDuration::from_hours(24)) else { return };
        for addresses in self.recent.values_mut() {
            addresses.retain(|_, recent| recent.last >= cutoff);
        }
        self.recent.retain(|_, addresses| !addresses.is_empty());
    }
}

/// The error codes of a call refused for lack of permission.
fn is_denied(code: &str) -> bool {
    matches!(code, "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "Client.UnauthorizedOperation")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Seen;

    fn call<'a>(at: &'a str, ip: &'a str, name: &'a str, error: &'a str) -> Call<'a> {
        let event_source = if name == "GetCallerIdentity" { "sts.amazonaws.com" } else { "iam.amazonaws.com" };
        let time = at.parse().unwrap();
        Call { time, event_time: at, ip, event_source, event_name: name, error_code: error, ..Call::example() }
    }

    fn profile(first: &str, last: &str) -> Profile {
        let mut p = Profile::new("AKIAEXAMPLE1");
        p.first_seen = Some(first.parse().unwrap());
        p.last_seen = Some(last.parse().unwrap());
        p.ips.insert("203.0.113.10".into(), Seen::at(last.parse().unwrap()));
        p
    }

    fn signals(watch: &mut Watch, call: &Call, profile: &Profile, known: bool) -> Vec<Signal> {
        let mut out = Vec::new();
        watch.check(call, Some(profile), known, &mut out);
        out
    }

    #[test]
    fn warming_counts_calls_and_days() {
        let watch = Watch::new(Settings::default());
        let p = profile("2026-11-01T00:00:00Z", "2026-11-05T00:00:00Z");
        assert_eq!(watch.warming(&p, 19).map(|w| (w.calls, w.days)), Some((19, 4)));
        assert_eq!(watch.warming(&p, 20), None);
        assert_eq!(watch.warming(&p, 0), None, "every call pruned: old, not young");
        let young = profile("2026-11-01T00:00:00Z", "2026-11-02T12:00:00Z");
        assert!(watch.warming(&young, 500).is_some(), "1.5 days is fewer than 2");
        assert_eq!(watch.warming(&Profile::new("AKIAOLDSCRIPT1"), 1), None, "imported from the old script");
    }

    #[test]
    fn a_dormant_key_and_an_attack_tool_are_signals_wherever_they_come_from() {
        let mut watch = Watch::new(Settings::default());
        let p = profile("2026-09-01T00:00:00Z", "2026-09-20T00:00:00Z");
        let woken = call("2026-11-02T10:00:00Z", "203.0.113.10", "ListUsers", "");
        assert_eq!(signals(&mut watch, &woken, &p, true), [Signal::Dormant { days: 43 }]);
        let recent = profile("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let mut tool = woken.clone();
        (tool.agent, tool.attack_tool) = ("TruffleHog", Some("TruffleHog"));
        assert_eq!(signals(&mut watch, &tool, &recent, true), [Signal::AttackTool("TruffleHog")]);
    }

    #[test]
    fn a_key_in_use_during_the_run_is_dormant_only_on_its_first_call_after_a_silence() {
        let mut watch = Watch::new(Settings::default());
        let p = profile("2026-09-01T00:00:00Z", "2026-09-20T00:00:00Z");
        let at = ["2026-10-01T09:00", "2026-10-25T09:00", "2026-11-02T09:00", "2026-12-10T09:00", "2026-11-03T09:00"];
        let found: Vec<Vec<Signal>> = at
            .iter()
            .map(|t| format!("{t}:00Z"))
            .map(|t| signals(&mut watch, &call(&t, "203.0.113.10", "ListUsers", ""), &p, true))
            .collect();
        let dormant = vec![Signal::Dormant { days: 38 }];
        assert_eq!(found, [vec![], vec![], vec![], dormant, vec![]], "days counted from the run's latest call");
    }

    #[test]
    fn caller_identity_counts_only_as_the_first_call_from_a_new_address() {
        let mut watch = Watch::new(Settings::default());
        let p = profile("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let probe = call("2026-11-02T10:00:00Z", "192.0.2.66", "GetCallerIdentity", "");
        assert_eq!(signals(&mut watch, &probe, &p, true), [], "a known address is not a probe");
        assert_eq!(signals(&mut watch, &probe, &p, false), [Signal::CallerIdentityFirst]);
        let again = signals(&mut watch, &probe, &p, false);
        assert_eq!(again, [Signal::MarkedAddress], "not a probe again, but the address stays marked");
        let other = call("2026-11-02T10:00:00Z", "192.0.2.67", "ListUsers", "");
        let later = call("2026-11-02T10:01:00Z", "192.0.2.67", "GetCallerIdentity", "");
        assert_eq!(signals(&mut watch, &other, &p, false), []);
        assert_eq!(signals(&mut watch, &later, &p, false), []);
    }

    #[test]
    fn a_signal_marks_its_new_address_for_the_calls_that_follow() {
        let mut watch = Watch::new(Settings::default());
        let p = profile("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let probe = call("2026-11-02T10:00:00Z", "192.0.2.66", "GetCallerIdentity", "");
        let next = call("2026-11-02T10:01:00Z", "192.0.2.66", "ListUsers", "");
        let elsewhere = call("2026-11-02T10:01:00Z", "192.0.2.67", "ListUsers", "");
        assert_eq!(signals(&mut watch, &next, &p, false), [], "nothing marked yet");
        let mut fresh = Watch::new(Settings::default());
        assert_eq!(signals(&mut fresh, &probe, &p, false), [Signal::CallerIdentityFirst]);
        assert_eq!(signals(&mut fresh, &next, &p, false), [Signal::MarkedAddress]);
        assert_eq!(signals(&mut fresh, &elsewhere, &p, false), []);
    }

    #[test]
    fn new_addresses_are_forgotten_a_day_after_their_last_call() {
        let mut watch = Watch::new(Settings::default());
        let p = profile("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let probe = call("2026-11-02T10:00:00Z", "192.0.2.66", "GetCallerIdentity", "");
        assert_eq!(signals(&mut watch, &probe, &p, false), [Signal::CallerIdentityFirst]);
        let hosts: Vec<String> = (0..SWEEP_EVERY).map(|n| format!("198.18.{}.{}", n / 256, n % 256)).collect();
        for host in &hosts {
            signals(&mut watch, &call("2026-11-04T10:00:00Z", host, "ListUsers", ""), &p, false);
        }
        assert!(watch.recent["AKIAEXAMPLE1"].len() <= SWEEP_EVERY, "the silent address was swept");
        assert!(!watch.recent["AKIAEXAMPLE1"].contains_key("192.0.2.66"));
        let back = call("2026-11-04T10:05:00Z", "192.0.2.66", "GetCallerIdentity", "");
        assert_eq!(signals(&mut watch, &back, &p, false), [Signal::CallerIdentityFirst], "new again");
    }

    #[test]
    fn denied_bursts_are_counted_in_event_time_whatever_the_input_order() {
        let mut watch = Watch::new(Settings::default());
        let p = profile("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let mut denied = |at: &str| {
            let time = format!("2026-11-{at}:00Z");
            signals(&mut watch, &call(&time, "192.0.2.66", "ListUsers", "AccessDenied"), &p, false)
        };
        let days_apart: Vec<Vec<Signal>> =
            ["06T10:00", "06T10:01", "06T10:02", "02T10:00", "02T10:01"].map(&mut denied).into();
        assert!(days_apart.iter().all(Vec::is_empty), "3 on one day and 2 on another are no burst: {days_apart:?}");
        let late: Vec<Vec<Signal>> = ["02T10:03", "02T09:58", "02T09:59"].map(&mut denied).into();
        assert_eq!(late[2], [Signal::DeniedBurst { count: 5 }], "five within ten minutes, arriving out of order");
    }

    #[test]
    fn denied_calls_from_a_new_address_make_a_burst_within_ten_minutes() {
        let mut watch = Watch::new(Settings { denied_burst: 3, ..Settings::default() });
        let p = profile("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        let at = ["2026-11-02T10:00:00Z", "2026-11-02T10:04:00Z", "2026-11-02T10:20:00Z", "2026-11-02T10:21:00Z"];
        let found: Vec<Vec<Signal>> = at
            .iter()
            .map(|t| signals(&mut watch, &call(t, "192.0.2.66", "ListUsers", "AccessDenied"), &p, false))
            .collect();
        assert!(found.iter().all(Vec::is_empty), "never three within ten minutes: {found:?}");
        let third = call("2026-11-02T10:25:00Z", "192.0.2.66", "ListRoles", "AccessDenied");
        assert_eq!(signals(&mut watch, &third, &p, false), [Signal::DeniedBurst { count: 3 }]);
        let known = call("2026-11-02T10:26:00Z", "203.0.113.10", "ListRoles", "AccessDenied");
        assert_eq!(signals(&mut watch, &known, &p, true), [], "denials from a known address are the owner's");
    }
}
