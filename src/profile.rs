//! Profiles: what is known of each access key. A [`Profile`] holds the key's account, user name and type,
//! and four sets of values (source IPs, user agents, regions, events), each value with a count and the first
//! and last `eventTime` it was seen, and the addresses on probation (`score`, saved by `--learn`). Merging is union, add, min, max, so profiles learned in any order, in
//! parallel or on several machines, merge into the same result. This file holds the data and its merge; it
//! never reads records or touches a store.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// How often a value was seen, and when first and last. Times are absent for values imported from the old
/// script's format, which did not keep them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    pub count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Timestamp>,
}

impl Seen {
    /// Seen once, at `time`.
    pub fn at(time: Timestamp) -> Seen {
        Seen { count: 1, first: Some(time), last: Some(time) }
    }

    /// True when the value was last seen at or after `cutoff`, or has no times (imported from the old script,
    /// which kept none: nobody can tell how old it is, so it is kept).
    pub fn fresh(&self, cutoff: Timestamp) -> bool {
        self.last.is_none_or(|last| last >= cutoff)
    }

    pub fn merge(&mut self, other: &Seen) {
        self.count = self.count.saturating_add(other.count);
        self.first = earliest(self.first, other.first);
        self.last = latest(self.last, other.last);
    }
}

/// Values of one kind, in sorted order so that exports are stable.
pub type Values = BTreeMap<String, Seen>;

/// Everything known about one access key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub access_key_id: String,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub user_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_seen: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<Timestamp>,
    #[serde(default)]
    pub ips: Values,
    #[serde(default)]
    pub agents: Values,
    #[serde(default)]
    pub regions: Values,
    /// `eventSource:eventName`, e.g. `ec2.amazonaws.com:RunInstances`; a bare `eventName` (imported from the
    /// old script, which did not keep the service) stands for that name on any service.
    #[serde(default)]
    pub events: Values,
    /// New addresses in the key's own networks, seen by `score` in calls that fitted in every other
    /// way, and flagged until they are seen again `--probation` after their first sighting (`score.rs`). Not
    /// the key's addresses: only `ips` is. An address on probation that was learned since stays here,
    /// harmless, until `profile prune` forgets it.
    #[serde(default, skip_serializing_if = "Values::is_empty")]
    pub probation: Values,
}

/// Profiles by access key.
pub type Profiles = BTreeMap<String, Profile>;

impl Profile {
    pub fn new(access_key_id: &str) -> Profile {
        Profile { access_key_id: access_key_id.to_string(), ..Profile::default() }
    }

    /// Merges `other` (a profile of the same key) into this one.
    pub fn merge(&mut self, other: &Profile) {
        self.seen_as(other.first_seen, other.last_seen, &other.account_id, &other.user_name, &other.user_type);
        for (mine, theirs) in [
            (&mut self.ips, &other.ips),
            (&mut self.agents, &other.agents),
            (&mut self.regions, &other.regions),
            (&mut self.events, &other.events),
            (&mut self.probation, &other.probation),
        ] {
            merge_values(mine, theirs);
        }
    }

    /// Widens the profile's first/last seen to include `first..=last`. The account, user name and type
    /// become those of whichever side was seen last; on a tie the larger value wins, so the result does not
    /// depend on the order of merges.
    pub fn seen_as(
        &mut self,
        first: Option<Timestamp>,
        last: Option<Timestamp>,
        account: &str,
        user: &str,
        kind: &str,
    ) {
        let mine = (self.last_seen, self.account_id.as_str(), self.user_name.as_str(), self.user_type.as_str());
        if (last, account, user, kind) > mine {
            replace(&mut self.account_id, account);
            replace(&mut self.user_name, user);
            replace(&mut self.user_type, kind);
        }
        self.first_seen = earliest(self.first_seen, first);
        self.last_seen = latest(self.last_seen, last);
    }
}

impl Profile {
    /// Every set of values: the four factors' and the addresses on probation.
    pub fn sets_mut(&mut self) -> [&mut Values; 5] {
        [&mut self.ips, &mut self.agents, &mut self.regions, &mut self.events, &mut self.probation]
    }

    /// Removes the values last seen before `cutoff`; returns how many were removed.
    pub fn forget_before(&mut self, cutoff: Timestamp) -> usize {
        let mut removed = 0;
        for values in self.sets_mut() {
            let before = values.len();
            values.retain(|_, seen| seen.fresh(cutoff));
            removed += before - values.len();
        }
        removed
    }
}

/// Writes into `buf` how an event is kept in a profile, `eventSource:eventName`, and returns it.
pub fn event_key<'b>(buf: &'b mut String, source: &str, name: &str) -> &'b str {
    buf.clear();
    if !source.is_empty() {
        buf.push_str(source);
        buf.push(':');
    }
    buf.push_str(name);
    buf
}

/// Merges every profile of `other` into `into`.
pub fn merge_all(into: &mut Profiles, other: Profiles) {
    for (key, profile) in other {
        match into.get_mut(&key) {
            Some(mine) => mine.merge(&profile),
            None => {
                into.insert(key, profile);
            }
        }
    }
}

fn merge_values(into: &mut Values, other: &Values) {
    for (value, seen) in other {
        add_value(into, value, seen);
    }
}

/// Merges one value's sightings into `values`; allocates only for a value not yet there.
pub fn add_value(values: &mut Values, value: &str, seen: &Seen) {
    match values.get_mut(value) {
        Some(mine) => mine.merge(seen),
        None => {
            values.insert(value.to_string(), seen.clone());
        }
    }
}

fn replace(field: &mut String, value: &str) {
    if field != value {
        field.clear();
        field.push_str(value);
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn latest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    a.max(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(user: &str, ip: &str, at: &str) -> Profile {
        let time: Timestamp = at.parse().unwrap();
        let mut p = Profile::new("AKIAEXAMPLE1");
        p.user_name = user.to_string();
        p.first_seen = Some(time);
        p.last_seen = Some(time);
        p.ips.insert(ip.to_string(), Seen::at(time));
        p
    }

    #[test]
    fn merge_is_union_add_min_max_in_any_order() {
        let a = profile("old-name", "198.51.100.1", "2026-11-01T00:00:00Z");
        let b = profile("new-name", "198.51.100.1", "2026-11-03T00:00:00Z");
        let c = profile("new-name", "203.0.113.7", "2026-11-02T00:00:00Z");
        let orders = [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]];
        let merged: Vec<Profile> = orders
            .iter()
            .map(|order| {
                let mut m = order[0].clone();
                m.merge(order[1]);
                m.merge(order[2]);
                m
            })
            .collect();
        assert_eq!(merged[0], merged[1]);
        assert_eq!(merged[0], merged[2]);
        let m = &merged[0];
        assert_eq!(m.user_name, "new-name");
        let seen = &m.ips["198.51.100.1"];
        assert_eq!(seen.count, 2);
        assert_eq!(seen.first, Some("2026-11-01T00:00:00Z".parse().unwrap()));
        assert_eq!(seen.last, Some("2026-11-03T00:00:00Z".parse().unwrap()));
        assert_eq!(m.ips.len(), 2);
        assert_eq!(m.first_seen, Some("2026-11-01T00:00:00Z".parse().unwrap()));
    }

    #[test]
    fn forgetting_removes_values_last_seen_before_the_cutoff_and_keeps_untimed_ones() {
        let mut p = profile("ci", "198.51.100.1", "2026-08-01T00:00:00Z");
        p.merge(&profile("ci", "203.0.113.7", "2026-11-01T00:00:00Z"));
        p.agents.insert("aws-cli/1.10.1-Python/2.7.5".into(), Seen { count: 3, first: None, last: None });
        assert_eq!(p.forget_before("2026-10-01T00:00:00Z".parse().unwrap()), 1);
        assert_eq!(p.ips.keys().collect::<Vec<_>>(), ["203.0.113.7"]);
        assert_eq!(p.agents.len(), 1, "values without times are kept");
    }

    #[test]
    fn imported_values_without_times_merge_with_timed_ones() {
        let mut untimed = Seen { count: 1, first: None, last: None };
        untimed.merge(&Seen::at("2026-11-01T00:00:00Z".parse().unwrap()));
        assert_eq!(untimed.count, 2);
        assert_eq!(untimed.first, untimed.last);
        assert!(untimed.first.is_some());
    }
}
