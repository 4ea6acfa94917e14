//! Keys made by keys. Takes the calls of a run in order and remembers which key each `iam:CreateAccessKey`
//! call made, with which key and for which IAM user, so that a new key with no profile of its own is scored
//! against the profile of the key that made it: a rotation done from the usual laptop is not an unknown key,
//! and a key made by an attacker is judged by where it is used. A key made for another user (an attacker's
//! backdoor user, or an administrator's colleague) inherits nothing: its calls are not its maker's habits.
//! Only what the run has seen counts: the link is not stored. It never reads input or decides a score.

use foldhash::HashMap;

use crate::extract::Call;
use crate::profile::{Profile, Profiles};

/// How a key was made: by whom, and for which other user when not for its maker's own.
#[derive(Debug)]
struct Maker {
    owner: String,
    for_other: Option<String>,
}

/// Links between keys seen during a run: made key → its maker.
#[derive(Debug, Default)]
pub struct Lineage {
    parents: HashMap<String, Maker>,
}

/// What the lineage says of a key without a profile of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Link<'l> {
    /// Made (perhaps through keys in between) by this key or principal, whose profile it is scored against.
    MadeBy(&'l str),
    /// Made by `maker` for another IAM user, `user`: it has no profile to be scored against.
    MadeForOther { maker: &'l str, user: &'l str },
}

/// How many links are followed from a key to the first one with a profile (a key made by a key made by …).
const MAX_HOPS: usize = 8;

impl Lineage {
    /// Remembers the key `call` made, if it made one.
    pub fn observe(&mut self, call: &Call) {
        let Some(made) = call.made.filter(|made| !made.key.is_empty() && made.key != call.access_key) else {
            return;
        };
        // An answer that names no user is taken as made for oneself, which is what a request without one does.
        let for_other = (!made.user.is_empty() && made.user != call.user_name).then(|| made.user.to_string());
        self.parents.insert(made.key.to_string(), Maker { owner: call.owner.to_string(), for_other });
    }

    /// The profile to score `call` against: its owner's, or when there is none, that of the nearest key up its
    /// lineage that has one, with the link that says so. A key made for another user on the way ends the
    /// search without a profile.
    pub fn profile_for<'p, 'l>(
        &'l self,
        call: &Call,
        profiles: &'p Profiles,
    ) -> (Option<&'p Profile>, Option<Link<'l>>) {
        if let Some(own) = profiles.get(call.owner) {
            return (Some(own), None);
        }
        let mut key = call.access_key;
        for _ in 0..MAX_HOPS {
            let Some(maker) = self.parents.get(key) else { break };
            if let Some(user) = &maker.for_other {
                return (None, Some(Link::MadeForOther { maker: &maker.owner, user }));
            }
            if let Some(profile) = profiles.get(&maker.owner) {
                return (Some(profile), Some(Link::MadeBy(&maker.owner)));
            }
            key = &maker.owner;
        }
        (None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::KeyFor;

    /// `key` of IAM user `user` making `made` for `made_for`.
    fn made<'a>(key: &'a str, user: &'a str, made: &'a str, made_for: &'a str) -> Call<'a> {
        let made = Some(KeyFor { key: made, user: made_for });
        Call { access_key: key, owner: key, user_name: user, event_name: "CreateAccessKey", made, ..Call::example() }
    }

    fn used(key: &str) -> Call<'_> {
        Call { access_key: key, owner: key, ..Call::example() }
    }

    fn profiles(keys: &[&str]) -> Profiles {
        keys.iter().map(|key| (key.to_string(), Profile::new(key))).collect()
    }

    fn found<'l>(lineage: &'l Lineage, profiles: &Profiles, key: &str) -> (Option<String>, Option<Link<'l>>) {
        let (profile, link) = lineage.profile_for(&used(key), profiles);
        (profile.map(|p| p.access_key_id.clone()), link)
    }

    #[test]
    fn a_key_without_a_profile_is_scored_against_the_key_that_made_it() {
        let profiles = profiles(&["AKIAPARENT", "AKIAOWN"]);
        let mut lineage = Lineage::default();
        lineage.observe(&made("AKIAPARENT", "bob", "AKIACHILD", "bob"));
        lineage.observe(&made("AKIACHILD", "bob", "AKIAGRANDCHILD", ""));
        lineage.observe(&made("AKIAPARENT", "bob", "AKIAOWN", "bob"));
        let parent = (Some("AKIAPARENT".to_string()), Some(Link::MadeBy("AKIAPARENT")));
        assert_eq!(found(&lineage, &profiles, "AKIACHILD"), parent);
        assert_eq!(found(&lineage, &profiles, "AKIAGRANDCHILD"), parent, "no user named: made for oneself");
        assert_eq!(found(&lineage, &profiles, "AKIAOWN"), (Some("AKIAOWN".into()), None), "its own comes first");
        assert_eq!(found(&lineage, &profiles, "AKIASTRANGER"), (None, None));
    }

    #[test]
    fn a_key_made_for_another_user_inherits_nothing() {
        let profiles = profiles(&["AKIABOB"]);
        let mut lineage = Lineage::default();
        lineage.observe(&made("AKIABOB", "bob", "AKIABACKDOOR", "backdoor"));
        lineage.observe(&made("AKIABACKDOOR", "backdoor", "AKIABACKDOOR2", "backdoor"));
        let other = (None, Some(Link::MadeForOther { maker: "AKIABOB", user: "backdoor" }));
        assert_eq!(found(&lineage, &profiles, "AKIABACKDOOR"), other);
        assert_eq!(found(&lineage, &profiles, "AKIABACKDOOR2"), other, "nor do the keys made with it");
    }
}
