//! Keys made by keys. Takes the calls of a run in order and remembers which key each `iam:CreateAccessKey`
//! call made and with which key, so that a new key with no profile of its own is scored against the profile
//! of the key that made it: a rotation done from the usual laptop is not an unknown key, and a key made by an
//! attacker is judged by where it is used. Only what the run has seen counts: the link is not stored. It never
//! reads input or decides a score.

use std::collections::HashMap;

use crate::extract::Call;
use crate::profile::{Profile, Profiles};

/// Links between keys seen during a run: made key → the profile owner of the call that made it.
#[derive(Debug, Default)]
pub struct Lineage {
    parents: HashMap<String, String>,
}

/// How many links are followed from a key to the first one with a profile (a key made by a key made by …).
const MAX_HOPS: usize = 8;

impl Lineage {
    /// Remembers the key `call` made, if it made one.
    pub fn observe(&mut self, call: &Call) {
        if !call.created_key.is_empty() && call.created_key != call.access_key {
            self.parents.insert(call.created_key.to_string(), call.owner.to_string());
        }
    }

    /// The profile to score `call` against: its owner's, or when there is none, that of the nearest key
    /// up its lineage that has one, with that key's name.
    pub fn profile_for<'p>(&self, call: &Call, profiles: &'p Profiles) -> (Option<&'p Profile>, Option<&str>) {
        if let Some(own) = profiles.get(call.owner) {
            return (Some(own), None);
        }
        let mut key = call.access_key;
        for _ in 0..MAX_HOPS {
            let Some(parent) = self.parents.get(key) else { break };
            if let Some(profile) = profiles.get(parent) {
                return (Some(profile), Some(parent));
            }
            key = parent;
        }
        (None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(key: &'a str, created: &'a str) -> Call<'a> {
        Call {
            time: "2026-11-02T10:00:00Z".parse().unwrap(),
            event_time: "2026-11-02T10:00:00Z",
            event_id: "",
            access_key: key,
            owner: key,
            account: "111122223333",
            user_type: "IAMUser",
            user_name: "ci",
            region: "us-east-1",
            ip: "203.0.113.10",
            agent: "aws-cli/2.13.5",
            event_source: "iam.amazonaws.com",
            event_name: "CreateAccessKey",
            error_code: "",
            vpc_endpoint: "",
            created_key: created,
        }
    }

    #[test]
    fn a_key_without_a_profile_is_scored_against_the_key_that_made_it() {
        let mut profiles = Profiles::new();
        profiles.insert("AKIAPARENT".into(), Profile::new("AKIAPARENT"));
        profiles.insert("AKIAOWN".into(), Profile::new("AKIAOWN"));
        let mut lineage = Lineage::default();
        lineage.observe(&call("AKIAPARENT", "AKIACHILD"));
        lineage.observe(&call("AKIACHILD", "AKIAGRANDCHILD"));
        lineage.observe(&call("AKIAPARENT", "AKIAOWN"));
        let owner = |key| {
            let (profile, via) = lineage.profile_for(&call(key, ""), &profiles);
            (profile.map(|p| p.access_key_id.clone()), via.map(str::to_string))
        };
        assert_eq!(owner("AKIACHILD"), (Some("AKIAPARENT".into()), Some("AKIAPARENT".into())));
        assert_eq!(owner("AKIAGRANDCHILD"), (Some("AKIAPARENT".into()), Some("AKIAPARENT".into())));
        assert_eq!(owner("AKIAOWN"), (Some("AKIAOWN".into()), None), "its own profile comes first");
        assert_eq!(owner("AKIASTRANGER"), (None, None));
    }
}
