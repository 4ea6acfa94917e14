//! Whatever strings a record carries, `score` writes one valid JSON object per line, one line per call,
//! and gives each string back unchanged.

mod common;

use common::{Env, fixture, ndjson, record};
use proptest::prelude::*;
use serde_json::Value;

/// Strings as an attacker could write them: any Unicode, control characters, quotes, escapes, markup.
fn hostile() -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[\u{0}-\u{1f}\"\\\\<>\u{7f}\u{2028}\u{1b}a]{0,12}", Just("x".repeat(10_000))]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn any_string_in_any_field_gives_one_valid_object_per_line(
        fields in proptest::collection::vec(proptest::array::uniform6(hostile()), 1..5)
    ) {
        let env = Env::new();
        let records: Vec<Value> = fields
            .iter()
            .map(|[ip, agent, region, event, user, id]| {
                let mut r = record("AKIAEXAMPLECIDEPLOY1", "2026-11-02T10:00:00Z", ip, agent, region, event);
                r["userIdentity"]["userName"] = user.as_str().into();
                r["eventID"] = id.as_str().into();
                r
            })
            .collect();
        let baseline = fixture("baseline.ndjson");
        let out = env.run(&["score", "-q", "--baseline", baseline.to_str().unwrap()], ndjson(&records));
        prop_assert_eq!(out.code, 0, "{}", out.stderr);
        let lines: Vec<&str> = out.stdout.lines().collect();
        prop_assert_eq!(lines.len(), records.len());
        for (line, [ip, agent, region, event, user, id]) in lines.iter().zip(&fields) {
            let verdict: Value = serde_json::from_str(line).map_err(|e| TestCaseError::fail(format!("{e}: {line}")))?;
            prop_assert!(line.bytes().all(|b| b >= 0x20), "a raw control byte in {}", line);
            for (field, want) in [
                ("sourceIPAddress", ip),
                ("userAgent", agent),
                ("awsRegion", region),
                ("eventName", event),
                ("userName", user),
                ("eventID", id),
            ] {
                prop_assert_eq!(verdict[field].as_str(), Some(want.as_str()), "{}", field);
            }
        }
    }
}

/// JSON allows a lone UTF-16 surrogate escape; a user agent holding one must not keep its call from being
/// scored. It is scored, with U+FFFD in its place.
#[test]
fn a_lone_surrogate_does_not_hide_a_call() {
    let env = Env::new();
    let call =
        record("AKIAEXAMPLECIDEPLOY1", "2026-11-02T10:00:00Z", "192.0.2.66", "evil-MARK", "us-east-1", "ListUsers");
    let line = call.to_string().replace("evil-MARK", r"evil\ud800\udc00\udfff-\ud800");
    let baseline = fixture("baseline.ndjson");
    let out = env.run(&["score", "--baseline", baseline.to_str().unwrap()], format!("{line}\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let verdict: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(verdict["userAgent"], "evil\u{10000}\u{fffd}-\u{fffd}");
    assert_eq!(verdict["suspicious"], true);
}
