//! Calls → profiles. Takes each [`Call`] and adds what it shows to its key's [`Profile`] in an in-memory
//! [`Profiles`] delta: the source IP, user agent, region and event, with counts and first/last times. The
//! delta is merged into a store afterwards (`store/`), so learning never touches a store itself; and, for a
//! scoring run that learns as it goes (`adapt.rs`), the addresses it puts on probation. Empty values are not
//! learned: a call without a user agent teaches nothing about agents.

use crate::extract::Call;
use crate::profile::{self, Profile, Profiles, Seen, Values};

/// Profiles being learned.
#[derive(Debug, Default)]
pub struct Learner {
    pub profiles: Profiles,
    scratch: String,
}

impl Learner {
    /// Adds `call` to the profiles.
    pub fn observe(&mut self, call: &Call) {
        observe(&mut self.profiles, &mut self.scratch, call);
    }
}

/// Adds `call` to its key's profile in `profiles`; `scratch` is a reused buffer for the event's name.
pub fn observe(profiles: &mut Profiles, scratch: &mut String, call: &Call) {
    let profile = match profiles.get_mut(call.owner) {
        Some(profile) => profile,
        None => profiles.entry(call.owner.to_string()).or_insert_with(|| Profile::new(call.owner)),
    };
    profile.seen_as(Some(call.time), Some(call.time), call.account, call.user_name, call.user_type);
    let at = Seen::at(call.time);
    add(&mut profile.ips, call.ip, &at);
    // A call through a VPC endpoint comes from a private address that changes with each network
    // interface; the endpoint is kept beside it, among the addresses, as the stable part (`score.rs`).
    add(&mut profile.ips, call.vpc_endpoint, &at);
    add(&mut profile.agents, call.agent, &at);
    add(&mut profile.regions, call.region, &at);
    if !call.event_name.is_empty() {
        add(&mut profile.events, profile::event_key(scratch, call.event_source, call.event_name), &at);
    }
}

/// Puts the address of `call` on probation in its key's profile in `profiles` (`score.rs`): remembered with
/// when it was first seen, it is not one of the key's addresses.
pub fn put_on_probation(profiles: &mut Profiles, call: &Call) {
    let profile = profiles.entry(call.owner.to_string()).or_insert_with(|| Profile::new(call.owner));
    profile::add_value(&mut profile.probation, call.ip, &Seen::at(call.time));
}

fn add(values: &mut Values, value: &str, at: &Seen) {
    if !value.is_empty() {
        profile::add_value(values, value, at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(ip: &'a str, at: &str) -> Call<'a> {
        Call { time: at.parse().unwrap(), account: "111122223333", user_name: "ci", ip, ..Call::example() }
    }

    #[test]
    fn learning_counts_and_times_each_value() {
        let mut learner = Learner::default();
        learner.observe(&call("198.51.100.1", "2026-11-02T10:00:00Z"));
        learner.observe(&call("198.51.100.1", "2026-11-01T10:00:00Z"));
        learner.observe(&call("", "2026-11-03T10:00:00Z"));
        let p = &learner.profiles["AKIAEXAMPLE1"];
        assert_eq!(p.user_name, "ci");
        assert_eq!(p.ips.len(), 1);
        let ip = &p.ips["198.51.100.1"];
        assert_eq!(
            (ip.count, ip.first, ip.last),
            (2, Some("2026-11-01T10:00:00Z".parse().unwrap()), Some("2026-11-02T10:00:00Z".parse().unwrap()))
        );
        assert_eq!(p.events["ec2.amazonaws.com:RunInstances"].count, 3);
        assert_eq!(p.last_seen, Some("2026-11-03T10:00:00Z".parse().unwrap()));
    }
}
