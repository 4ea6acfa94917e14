//! Call + profile → verdict. Takes a [`Call`] and its key's [`Profile`] (or none) and gives a [`Verdict`]:
//! the sum of the weights of the factors whose value the profile holds (by default ip 40, agent 25,
//! region 25, event 10), and whether that is below the threshold (default 70). A key with no profile scores
//! 0 and is suspicious. Values imported from the old script still match: its events had no service and its
//! agents had spaces turned into `-`. This file never reads input, a store or stdout.

use std::fmt;
use std::str::FromStr;

use crate::extract::Call;
use crate::profile::{self, Profile};

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

/// The score of one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub score: u32,
    pub threshold: u32,
    pub suspicious: bool,
    /// False when the key has no profile at all.
    pub known: bool,
    pub matched: Matched,
}

/// Scores calls; holds the weights, the threshold and a scratch buffer for profile look-ups.
#[derive(Debug, Clone)]
pub struct Scorer {
    pub weights: Weights,
    pub threshold: u32,
    scratch: String,
}

impl Scorer {
    pub fn new(weights: Weights, threshold: u32) -> Scorer {
        Scorer { weights, threshold, scratch: String::new() }
    }

    pub fn score(&mut self, call: &Call, profile: Option<&Profile>) -> Verdict {
        let Some(profile) = profile else {
            return Verdict {
                score: 0,
                threshold: self.threshold,
                suspicious: true,
                known: false,
                matched: Matched::default(),
            };
        };
        let matched = Matched {
            ip: !call.ip.is_empty() && profile.ips.contains_key(call.ip),
            agent: self.agent_matches(call.agent, profile),
            region: !call.region.is_empty() && profile.regions.contains_key(call.region),
            event: self.event_matches(call, profile),
        };
        let w = self.weights;
        let hit = |matched: bool, weight: u32| if matched { weight } else { 0 };
        let score = Weights {
            ip: hit(matched.ip, w.ip),
            agent: hit(matched.agent, w.agent),
            region: hit(matched.region, w.region),
            event: hit(matched.event, w.event),
        }
        .total();
        Verdict { score, threshold: self.threshold, suspicious: score < self.threshold, known: true, matched }
    }

    fn agent_matches(&mut self, agent: &str, profile: &Profile) -> bool {
        if agent.is_empty() {
            return false;
        }
        if profile.agents.contains_key(agent) {
            return true;
        }
        // The old script stored agents with every space turned into '-'.
        if !agent.contains(' ') {
            return false;
        }
        self.scratch.clear();
        self.scratch.extend(agent.chars().map(|c| if c == ' ' { '-' } else { c }));
        profile.agents.contains_key(self.scratch.as_str())
    }

    fn event_matches(&mut self, call: &Call, profile: &Profile) -> bool {
        if call.event_name.is_empty() {
            return false;
        }
        let key = profile::event_key(&mut self.scratch, call.event_source, call.event_name);
        // A bare event name, as the old script stored it, stands for that name on any service.
        profile.events.contains_key(key) || profile.events.contains_key(call.event_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Seen;

    fn call<'a>(ip: &'a str, agent: &'a str) -> Call<'a> {
        Call {
            time: "2026-11-02T10:00:00Z".parse().unwrap(),
            event_time: "2026-11-02T10:00:00Z",
            event_id: "e1",
            access_key: "AKIAEXAMPLE1",
            account: "111122223333",
            user_type: "IAMUser",
            user_name: "ci",
            region: "ap-southeast-2",
            ip,
            agent,
            event_source: "rds.amazonaws.com",
            event_name: "DescribeDBSnapshots",
        }
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
    fn weights_add_up_for_the_factors_that_match() {
        let p = profile(&[
            ("ip", "111.111.111.111"),
            ("agent", "aws-cli/2.13.5 Python/3.11"),
            ("region", "ap-southeast-2"),
            ("event", "rds.amazonaws.com:DescribeDBSnapshots"),
        ]);
        let mut scorer = Scorer::new(Weights::default(), 70);
        let all = scorer.score(&call("111.111.111.111", "aws-cli/2.13.5 Python/3.11"), Some(&p));
        assert_eq!((all.score, all.suspicious), (100, false));
        let new_ip = scorer.score(&call("222.222.222.222", "aws-cli/2.13.5 Python/3.11"), Some(&p));
        assert_eq!((new_ip.score, new_ip.suspicious), (60, true));
        assert!(!new_ip.matched.ip && new_ip.matched.agent && new_ip.matched.region && new_ip.matched.event);
        let unknown = scorer.score(&call("111.111.111.111", "x"), None);
        assert_eq!((unknown.score, unknown.suspicious, unknown.known), (0, true, false));
    }

    #[test]
    fn old_format_values_match_the_calls_they_came_from() {
        let p = profile(&[("agent", "aws-cli/1.10.1-Python/2.7.5"), ("event", "DescribeDBSnapshots")]);
        let mut scorer = Scorer::new(Weights::default(), 70);
        let v = scorer.score(&call("1.2.3.4", "aws-cli/1.10.1 Python/2.7.5"), Some(&p));
        assert!(v.matched.agent && v.matched.event, "{v:?}");
    }

    #[test]
    fn weights_parse_and_refuse_nonsense() {
        assert_eq!("ip=50, event=0".parse(), Ok(Weights { ip: 50, agent: 25, region: 25, event: 0 }));
        assert!("ip".parse::<Weights>().unwrap_err().contains("FACTOR=WEIGHT"));
        assert!("color=3".parse::<Weights>().unwrap_err().contains("unknown factor"));
        assert!("ip=-3".parse::<Weights>().unwrap_err().contains("whole number"));
        let huge: Weights = "ip=4294967295,agent=1".parse().unwrap();
        assert_eq!(huge.total(), u32::MAX);
        let mut scorer = Scorer::new(huge, u32::MAX);
        let p = profile(&[("ip", "1.2.3.4"), ("agent", "a")]);
        assert_eq!(scorer.score(&call("1.2.3.4", "a"), Some(&p)).score, u32::MAX);
    }
}
