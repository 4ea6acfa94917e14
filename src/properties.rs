//! Properties of the profile data that every store relies on, checked on generated profiles: merging is
//! commutative and associative, idempotent on the value sets and on first/last seen; the JSON Lines
//! export read back by import is the identity.

use jiff::Timestamp;
use proptest::prelude::*;

use crate::profile::{self, Profile, Profiles, Seen, Values};
use crate::store::{parse_import, write_jsonl};

fn time() -> impl Strategy<Value = Option<Timestamp>> {
    // A narrow range, so that ties between sides are common.
    proptest::option::of((1_700_000_000i64..1_700_000_020).prop_map(|s| Timestamp::from_second(s).unwrap()))
}

fn seen() -> impl Strategy<Value = Seen> {
    (1u64..1000, time(), time()).prop_map(|(count, a, b)| {
        let (first, last) = if a <= b { (a, b) } else { (b, a) };
        // Values imported from the old script have no times; learned ones have both.
        let (first, last) = if first.is_none() || last.is_none() { (None, None) } else { (first, last) };
        Seen { count, first, last }
    })
}

fn values() -> impl Strategy<Value = Values> {
    // Any string may be a value: quotes, control characters, non-ASCII.
    proptest::collection::btree_map(prop_oneof!["[a-c]{0,2}", any::<String>()], seen(), 0..4)
}

fn profile(key: &'static str) -> impl Strategy<Value = Profile> {
    let who = ("(1|2)", "(ci|deploy|\"\n)", "(IAMUser|Root)");
    (who, time(), time(), values(), values(), values(), values(), values()).prop_map(
        move |((account, user, kind), a, b, ips, agents, regions, events, probation)| {
            let (first_seen, last_seen) = if a <= b { (a, b) } else { (b, a) };
            Profile {
                access_key_id: key.to_string(),
                account_id: account,
                user_name: user,
                user_type: kind,
                first_seen,
                last_seen,
                ips,
                agents,
                regions,
                events,
                probation,
            }
        },
    )
}

fn profiles() -> impl Strategy<Value = Profiles> {
    let one = prop_oneof![profile("AKIAPROPERTY00000001"), profile("AKIAPROPERTY00000002")];
    proptest::collection::vec(one, 0..3).prop_map(|list| {
        let mut profiles = Profiles::new();
        for p in list {
            profile::merge_all(&mut profiles, Profiles::from([(p.access_key_id.clone(), p)]));
        }
        profiles
    })
}

fn merged(a: &Profiles, b: &Profiles) -> Profiles {
    let mut into = a.clone();
    profile::merge_all(&mut into, b.clone());
    into
}

/// The profiles with every count set to 1: what an idempotent merge must keep.
fn without_counts(mut profiles: Profiles) -> Profiles {
    for p in profiles.values_mut() {
        for values in p.sets_mut() {
            values.values_mut().for_each(|seen| seen.count = 1);
        }
    }
    profiles
}

proptest! {
    #[test]
    fn merging_is_commutative(a in profiles(), b in profiles()) {
        prop_assert_eq!(merged(&a, &b), merged(&b, &a));
    }

    #[test]
    fn merging_is_associative(a in profiles(), b in profiles(), c in profiles()) {
        prop_assert_eq!(merged(&merged(&a, &b), &c), merged(&a, &merged(&b, &c)));
    }

    #[test]
    fn merging_twice_changes_only_counts(a in profiles(), b in profiles()) {
        let once = merged(&a, &b);
        prop_assert_eq!(without_counts(merged(&once, &b)), without_counts(once));
    }

    #[test]
    fn export_then_import_is_the_identity(a in profiles()) {
        let mut jsonl = Vec::new();
        write_jsonl(&mut jsonl, a.values()).unwrap();
        let text = String::from_utf8(jsonl).unwrap();
        prop_assert_eq!(text.lines().count(), a.len());
        prop_assert_eq!(parse_import(&text).unwrap(), a);
    }
}
