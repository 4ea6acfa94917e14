//! Behaviour tests of detection: what the standard scoring flags and what it lets pass, beside the old
//! scoring, driven through the binary with `--baseline` as a user would.

mod common;

use common::{Env, fixture, ndjson, record};
use serde_json::{Value, json};

const KEY: &str = "AKIAEXAMPLECIDEPLOY1";
const CLI: &str =
    "aws-cli/2.13.5 Python/3.11.4 Linux/5.15.0-1051-aws exe/x86_64.ubuntu.22 prompt/off command/ecs.update-service";

/// Three weeks of a CI key: one address, one client, one region, one call, every day.
fn baseline(env: &Env) -> String {
    let days: Vec<Value> = (1..=21)
        .flat_map(|day| {
            ["09", "13", "17"].map(|hour| {
                record(
                    KEY,
                    &format!("2026-10-{day:02}T{hour}:00:00Z"),
                    "203.0.113.10",
                    CLI,
                    "us-east-1",
                    "UpdateService",
                )
            })
        })
        .collect();
    env.write("baseline.ndjson", ndjson(&days)).to_str().unwrap().to_string()
}

/// Scores `calls` against the baseline with `flags`; one verdict per call.
fn score(env: &Env, flags: &[&str], calls: &[Value]) -> Vec<Value> {
    let base = baseline(env);
    let mut args = vec!["score", "-q", "--baseline", base.as_str()];
    args.extend_from_slice(flags);
    let out = env.run(&args, ndjson(calls));
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.lines()
}

fn call(ip: &str, agent: &str, event: &str) -> Value {
    record(KEY, "2026-10-22T10:00:00Z", ip, agent, "us-east-1", event)
}

fn flagged(verdicts: &[Value]) -> Vec<bool> {
    verdicts.iter().map(|v| v["suspicious"].as_bool().unwrap()).collect()
}

fn reasons(verdict: &Value) -> String {
    verdict["reasons"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect::<Vec<_>>().join("; ")
}

#[test]
fn the_default_catches_the_incident_and_stays_quiet_on_an_upgrade() {
    let env = Env::new();
    let incident = std::fs::read(fixture("incident.json")).unwrap();
    let base = fixture("baseline.ndjson");
    let verdicts = env.run(&["score", "-q", "--baseline", base.to_str().unwrap()], &incident).lines();
    let attacker: Vec<&Value> = verdicts.iter().filter(|v| v["sourceIPAddress"] == "192.0.2.66").collect();
    assert_eq!(attacker.len(), 4);
    assert!(attacker.iter().all(|v| v["suspicious"] == true), "{attacker:?}");
    assert!(reasons(attacker[0]).contains("attack tool (Kali Linux)"), "{}", reasons(attacker[0]));
    assert!(reasons(attacker[0]).contains("sts:GetCallerIdentity"), "{}", reasons(attacker[0]));

    // The same CI key after a CLI upgrade, running a command it never ran: one new agent string and one new
    // event. The old scoring adds up to 65 and flags it; by family the agent is the same client.
    let upgraded = "aws-cli/2.15.30 Python/3.11.8 Linux/6.1.0-1019-aws exe/x86_64.ubuntu.24 prompt/off command/ecs.describe-services";
    let calls = [call("203.0.113.10", upgraded, "DescribeServices"), call("203.0.113.10", upgraded, "UpdateService")];
    let standard = score(&env, &[], &calls);
    assert_eq!(flagged(&standard), [false, false]);
    assert_eq!((standard[0]["score"].clone(), standard[0]["matched"]["agent"].clone()), (json!(90), json!(true)));
    let legacy = score(&env, &["--scoring", "legacy"], &calls);
    assert_eq!(flagged(&legacy), [true, false]);
    assert_eq!(legacy[0]["score"], 65);
    let exact = score(&env, &["--agent-match", "exact"], &calls);
    assert_eq!(flagged(&exact), [true, false], "--agent-match exact brings the old comparison back");
}

#[test]
fn an_address_in_a_network_the_key_uses_is_its_own() {
    let env = Env::new();
    let calls = [
        call("203.0.113.77", CLI, "UpdateService"),
        call("203.0.114.10", CLI, "UpdateService"),
        call("198.51.100.200", CLI, "UpdateService"),
    ];
    assert_eq!(flagged(&score(&env, &["--scoring", "legacy"], &calls)), [true, true, true]);
    assert_eq!(flagged(&score(&env, &[], &calls)), [true, true, true], "a key pinned to one address owns no /24");
    let network = score(&env, &["--ip-match", "network"], &calls);
    assert_eq!(flagged(&network), [false, true, true], "the same /24 only");
    let offices = env.write("offices.txt", "# VPN egress\n198.51.100.0/24\n");
    let trusted = score(&env, &["--trusted-networks", offices.to_str().unwrap()], &calls);
    assert_eq!(flagged(&trusted), [true, true, false]);
    let legacy_trusted = ["--scoring", "legacy", "--trusted-networks", offices.to_str().unwrap()];
    assert_eq!(flagged(&score(&env, &legacy_trusted, &calls)), [true, true, false], "a trusted block is exact");

    let bad = env.write("bad.txt", "198.51.100.0/24\n198.51.100.0/40\n");
    let out = env.run(&["score", "--trusted-networks", bad.to_str().unwrap()], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("bad.txt") && out.stderr.contains("line 2"), "{}", out.stderr);
}

#[test]
fn ipv6_addresses_share_their_slash_64_and_vpc_endpoints_stand_for_their_private_addresses() {
    let env = Env::new();
    let mut past = record(KEY, "2026-10-01T00:00:00Z", "2600:1f18:61d4:a300::10", CLI, "us-east-1", "UpdateService");
    let mut inside = record(KEY, "2026-10-01T01:00:00Z", "10.0.1.23", CLI, "us-east-1", "UpdateService");
    inside["vpcEndpointId"] = json!("vpce-0a1b2c3d4e5f60718");
    past["eventID"] = json!("past");
    let base = env.write("v6.ndjson", ndjson(&[past, inside]));
    let mut moved = call("10.0.9.200", CLI, "UpdateService");
    moved["vpcEndpointId"] = json!("vpce-0a1b2c3d4e5f60718");
    let mut other_endpoint = moved.clone();
    other_endpoint["vpcEndpointId"] = json!("vpce-0fffffffffffffff0");
    let calls = [call("2600:1f18:61d4:a300:9:8:7:6", CLI, "UpdateService"), moved, other_endpoint];
    // Frozen: each call against the baseline alone (the second's address, learned, would match the third's).
    let out = env.run(&["score", "-q", "--frozen", "--baseline", base.to_str().unwrap()], ndjson(&calls));
    let matched: Vec<Value> = out.lines().iter().map(|v| v["matched"]["ip"].clone()).collect();
    assert_eq!(matched, [json!(true), json!(true), json!(false)]);
}

#[test]
fn signals_are_reasons_and_flag_the_call_whatever_its_score() {
    let env = Env::new();
    let mut probe = call("192.0.2.66", CLI, "GetCallerIdentity");
    probe["eventSource"] = json!("sts.amazonaws.com");
    let mut next = call("192.0.2.66", CLI, "UpdateService");
    next["eventTime"] = json!("2026-10-22T10:01:00Z");
    let scanner = call("203.0.113.10", "TruffleHog", "UpdateService");
    let woken = record(KEY, "2026-12-15T10:00:00Z", "203.0.113.10", CLI, "us-east-1", "UpdateService");
    let verdicts = score(&env, &[], &[probe, next, scanner, woken]);
    assert_eq!(flagged(&verdicts), [true, true, true, true]);
    assert!(reasons(&verdicts[0]).starts_with("first call from a new address is sts:GetCallerIdentity"));
    assert!(reasons(&verdicts[1]).starts_with("an earlier call from this new address had a signal"));
    assert_eq!(verdicts[2]["score"], 75, "the score alone would pass it");
    assert!(reasons(&verdicts[2]).contains("attack tool (TruffleHog)"), "{}", reasons(&verdicts[2]));
    assert_eq!(verdicts[3]["score"], 100);
    assert_eq!(reasons(&verdicts[3]), "key dormant for 53 days before this call", "counted from 10-22, this run");
    let quiet = score(&env, &["--signals", "off"], &[call("203.0.113.10", "TruffleHog", "UpdateService")]);
    assert_eq!(flagged(&quiet), [false]);
}

#[test]
fn a_burst_of_denied_calls_from_a_new_address_is_a_signal() {
    let env = Env::new();
    let denied: Vec<Value> = (0..4)
        .map(|i| {
            let mut c =
                record(KEY, &format!("2026-10-22T10:0{i}:00Z"), "192.0.2.66", CLI, "us-east-1", "UpdateService");
            c["errorCode"] = json!("AccessDenied");
            c
        })
        .collect();
    let verdicts = score(&env, &["--denied-burst", "3"], &denied);
    let bursts: Vec<bool> = verdicts.iter().map(|v| reasons(v).contains("AccessDenied calls")).collect();
    assert_eq!(bursts, [false, false, true, true]);
}

#[test]
fn a_small_profile_is_warming_and_still_judged() {
    let env = Env::new();
    let young = env
        .write("young.ndjson", ndjson(&[record(KEY, "2026-10-21T09:00:00Z", "203.0.113.10", CLI, "us-east-1", "X")]));
    let calls = ndjson(&[call("203.0.113.10", CLI, "X"), call("192.0.2.1", CLI, "X")]);
    let out = env.run(&["score", "-q", "--baseline", young.to_str().unwrap()], &calls).lines();
    assert_eq!(out[0]["profile"], "warming");
    assert!(reasons(&out[0]).starts_with("profile warming: only 1 calls over 0 days"), "{}", reasons(&out[0]));
    assert_eq!(flagged(&out), [false, true]);
    let settled = ["score", "-q", "--warm-calls", "1", "--warm-days", "0", "--baseline", young.to_str().unwrap()];
    assert_eq!(env.run(&settled, &calls).lines()[0]["profile"], "known");
    let legacy = ["score", "-q", "--scoring", "legacy", "--baseline", young.to_str().unwrap()];
    assert_eq!(env.run(&legacy, &calls).lines()[0]["profile"], "known", "the old scoring has no warming");
}

#[test]
fn by_principal_a_role_session_is_scored_against_the_role() {
    let env = Env::new();
    let role = "arn:aws:iam::123456789012:role/orders-app";
    let session = |key: &str, time: &str, ip: &str| {
        let mut r = record(key, time, ip, CLI, "us-east-1", "UpdateService");
        r["userIdentity"] = json!({"type": "AssumedRole", "accessKeyId": key, "accountId": "123456789012",
            "arn": "arn:aws:sts::123456789012:assumed-role/orders-app/i-0abc",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": "123456789012"}}});
        r
    };
    let learned: Vec<Value> = (1..=9)
        .map(|day| session(&format!("ASIAEXAMPLEROLE00{day}"), &format!("2026-10-0{day}T10:00:00Z"), "54.228.16.10"))
        .collect();
    let learn = env.run(&["learn", "-q", "--identity", "principal"], ndjson(&learned));
    assert_eq!(learn.code, 0, "{}", learn.stderr);
    let shown = env.run(&["profile", "show", "--json"], "").lines();
    assert_eq!(shown.iter().map(|p| p["accessKeyId"].clone()).collect::<Vec<_>>(), [json!(role)]);

    let calls = ndjson(&[
        session("ASIAEXAMPLEROLE0NEW", "2026-10-10T10:00:00Z", "54.228.16.10"),
        session("ASIAEXAMPLEROLE0NEW", "2026-10-10T10:05:00Z", "104.28.55.91"),
    ]);
    let by_key = env.run(&["score", "-q", "--identity", "key"], &calls);
    assert_eq!(by_key.lines().len(), 0, "by key, role sessions are not scored");
    let verdicts = env.run(&["score", "-q", "--identity", "principal"], &calls).lines();
    assert_eq!(flagged(&verdicts), [false, true]);
    assert_eq!(verdicts[1]["accessKeyId"], "ASIAEXAMPLEROLE0NEW", "the output names the key that was used");
    let by_key_and_role = env.run(&["score", "-q"], &calls).lines();
    assert_eq!(by_key_and_role, verdicts, "the default scores a role session by its role too");
}

#[test]
fn by_key_and_role_a_role_session_is_excluded_until_its_role_is_learned() {
    let env = Env::new();
    let role = "arn:aws:iam::123456789012:role/orders-app";
    let session = |time: &str, ip: &str| {
        let mut r = record("ASIAEXAMPLEROLE0001", time, ip, CLI, "us-east-1", "UpdateService");
        r["userIdentity"] = json!({"type": "AssumedRole", "accessKeyId": "ASIAEXAMPLEROLE0001",
            "accountId": "123456789012", "arn": "arn:aws:sts::123456789012:assumed-role/orders-app/i-0abc",
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": role, "accountId": "123456789012"}}});
        r
    };
    // A store learned by key before the upgrade: the key is there, the role is not.
    let key_call = record(KEY, "2026-10-01T10:00:00Z", "203.0.113.10", CLI, "us-east-1", "UpdateService");
    assert_eq!(
        env.run(
            &["learn", "-q", "--identity", "key"],
            ndjson(&[key_call.clone(), session("2026-10-01T10:00:00Z", "54.228.16.10")])
        )
        .code,
        0
    );
    let calls =
        ndjson(&[session("2026-10-10T10:00:00Z", "54.228.16.10"), session("2026-10-10T10:05:00Z", "104.28.55.91")]);
    let before = env.run(&["score"], &calls);
    assert_eq!(before.code, 0, "{}", before.stderr);
    assert!(before.stdout.is_empty(), "not reported as unknown: {}", before.stdout);
    assert!(
        before.stderr.contains("excluded 2 (role session, role not profiled yet (learn it) 2)"),
        "{}",
        before.stderr
    );
    let passed = env.run(&["score", "-q", "--passthrough"], &calls).lines();
    assert_eq!(passed[0]["keywatcher"], json!({"excluded": "role session, role not profiled yet (learn it)"}));

    // `learn` by default learns the role; its sessions are then scored against it.
    assert_eq!(env.run(&["learn", "-q"], ndjson(&[session("2026-10-02T10:00:00Z", "54.228.16.10")])).code, 0);
    let after = env.run(&["score", "-q"], &calls).lines();
    assert_eq!(flagged(&after), [false, true], "the stolen credentials used from outside are flagged");
    assert_eq!(after[1]["accessKeyId"], "ASIAEXAMPLEROLE0001");
    let by_key = env.run(&["score", "-q", "--identity", "key"], &calls);
    assert!(by_key.stdout.is_empty(), "--identity key is as before: {}", by_key.stdout);
}

#[test]
fn prune_removes_the_values_a_key_stopped_showing_and_keeps_the_key() {
    let env = Env::new();
    let old = record(KEY, "2026-06-01T10:00:00Z", "198.51.100.7", CLI, "eu-west-1", "UpdateService");
    let recent = record(KEY, "2026-10-20T10:00:00Z", "203.0.113.10", CLI, "us-east-1", "UpdateService");
    assert_eq!(env.run(&["learn", "-q"], ndjson(&[old, recent])).code, 0);
    let out = env.run(&["profile", "prune", "--now", "2026-11-01"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("removed 2 value(s)"), "{}", out.stderr);
    let profile = &env.run(&["profile", "show", "--json"], "").lines()[0];
    assert_eq!(profile["ips"].as_object().unwrap().keys().collect::<Vec<_>>(), ["203.0.113.10"]);
    assert_eq!(profile["regions"].as_object().unwrap().keys().collect::<Vec<_>>(), ["us-east-1"]);
    assert_eq!(profile["firstSeen"], "2026-06-01T10:00:00Z", "the key's own history stays");
    let again = env.run(&["profile", "prune", "--now", "2026-11-01", "--forget-after", "1000"], "");
    assert!(again.stderr.contains("removed 0 value(s)"), "{}", again.stderr);
    let never = env.run(&["profile", "prune", "--now", "2026-11-01", "--forget-after", "0"], "");
    assert_eq!(never.code, 0, "{}", never.stderr);
    assert!(never.stderr.contains("--forget-after 0 means never forget"), "as in score: {}", never.stderr);
    let kept = &env.run(&["profile", "show", "--json"], "").lines()[0];
    assert_eq!(kept["ips"].as_object().unwrap().keys().collect::<Vec<_>>(), ["203.0.113.10"], "nothing removed");
}

#[test]
fn a_key_made_during_the_run_is_scored_against_the_key_that_made_it() {
    let env = Env::new();
    let mut create = call("203.0.113.10", CLI, "CreateAccessKey");
    create["eventSource"] = json!("iam.amazonaws.com");
    create["responseElements"] = json!({"accessKey": {"accessKeyId": "AKIAEXAMPLEROTATED1", "status": "Active",
        "userName": "ci", "createDate": "Oct 22, 2026 10:00:00 AM"}});
    let from_home =
        record("AKIAEXAMPLEROTATED1", "2026-10-22T10:05:00Z", "203.0.113.10", CLI, "us-east-1", "UpdateService");
    let from_away =
        record("AKIAEXAMPLEROTATED1", "2026-10-22T10:06:00Z", "192.0.2.66", CLI, "us-east-1", "UpdateService");
    let calls = [create, from_home, from_away];
    let verdicts = score(&env, &[], &calls);
    assert_eq!(flagged(&verdicts), [false, false, true], "a new key used from home is its maker's; away it is not");
    assert_eq!(verdicts[1]["profile"], "known");
    assert_eq!(
        reasons(&verdicts[1]),
        "key made by AKIAEXAMPLECIDEPLOY1 (iam:CreateAccessKey) in this run; scored against its profile"
    );
    let legacy = score(&env, &["--scoring", "legacy"], &calls);
    assert_eq!(legacy[1]["profile"], "unknown", "the old scoring knows no lineage");
}

#[test]
fn a_key_made_for_another_user_is_not_scored_against_its_maker() {
    let env = Env::new();
    let mut create = call("203.0.113.10", CLI, "CreateAccessKey");
    create["eventSource"] = json!("iam.amazonaws.com");
    create["requestParameters"] = json!({"userName": "backdoor"});
    create["responseElements"] = json!({"accessKey": {"accessKeyId": "AKIAEXAMPLEBACKDOOR", "status": "Active",
        "userName": "backdoor", "createDate": "Oct 22, 2026 10:00:00 AM"}});
    let mut used =
        record("AKIAEXAMPLEBACKDOOR", "2026-10-22T10:05:00Z", "203.0.113.10", CLI, "us-east-1", "UpdateService");
    used["userIdentity"]["userName"] = json!("backdoor");
    let verdicts = score(&env, &[], &[create, used]);
    assert_eq!(flagged(&verdicts), [false, true], "used from its maker's own address, with its maker's client");
    assert_eq!(verdicts[1]["profile"], "unknown");
    assert_eq!(
        reasons(&verdicts[1]),
        "key made by AKIAEXAMPLECIDEPLOY1 for another IAM user, backdoor (iam:CreateAccessKey) in this run; \
         not scored against its maker's profile; no profile for this key"
    );
}

#[test]
fn score_learn_puts_a_new_address_of_the_keys_own_network_on_probation_across_runs() {
    let env = Env::new();
    let base = baseline(&env);
    assert_eq!(env.run(&["learn", "-q", &base], "").code, 0);
    let at = |time: &str, ip: &str, agent: &str| record(KEY, time, ip, agent, "us-east-1", "UpdateService");
    // The NAT gateway is replaced inside its /24; a stranger in the same /24 uses another client.
    let day_one = [
        at("2026-10-22T10:00:00Z", "203.0.113.57", CLI),
        at("2026-10-22T20:00:00Z", "203.0.113.57", CLI),
        at("2026-10-22T21:00:00Z", "203.0.113.99", "curl/8.4.0"),
    ];
    let out = env.run(&["score", "--learn"], ndjson(&day_one));
    assert!(
        out.stderr.contains("; 2 call(s) from new addresses in their key's own network on probation"),
        "{}",
        out.stderr
    );
    let first = out.lines();
    assert_eq!(flagged(&first), [true, true, true]);
    let on_probation = "on probation since 2026-10-22T10:00:00Z: learned if a call like this comes from it at or \
                        after 2026-10-23T10:00:00Z";
    assert!(reasons(&first[0]).contains(on_probation), "{}", reasons(&first[0]));
    assert!(reasons(&first[1]).contains(on_probation), "counted from the first sighting: {}", reasons(&first[1]));
    assert!(!reasons(&first[2]).contains("probation"), "a new client too: {}", reasons(&first[2]));

    // A later run reads the probation back from the store: a day after its first call the address is the key's.
    let day_two = [
        at("2026-10-23T09:59:00Z", "203.0.113.57", CLI),
        at("2026-10-23T10:00:00Z", "203.0.113.57", CLI),
        at("2026-10-23T11:00:00Z", "203.0.113.57", CLI),
        at("2026-10-23T12:00:00Z", "203.0.113.99", CLI),
    ];
    let second = env.run(&["score", "-q", "--learn"], ndjson(&day_two)).lines();
    assert_eq!(flagged(&second), [true, false, false, true]);
    assert!(reasons(&second[3]).contains("on probation since 2026-10-23T12:00:00Z"), "{}", reasons(&second[3]));
    let profile = &env.run(&["profile", "export"], "").lines()[0];
    assert_eq!(profile["ips"]["203.0.113.57"]["count"], 2, "learned once served: {profile}");
    assert!(profile["ips"].get("203.0.113.99").is_none(), "on probation is not learned: {profile}");
    assert_eq!(profile["probation"]["203.0.113.99"]["first"], "2026-10-23T12:00:00Z", "{profile}");

    // Plain score reads the probation too, and saves nothing; frozen, nothing is said of probation; --probation
    // 0 turns it off.
    let served = ndjson(&[at("2026-10-24T12:00:00Z", "203.0.113.99", CLI)]);
    assert_eq!(flagged(&env.run(&["score", "-q"], &served).lines()), [false], "served its day");
    let profile = &env.run(&["profile", "export"], "").lines()[0];
    assert!(profile["ips"].get("203.0.113.99").is_none(), "plain score saves nothing: {profile}");
    let plain = env.run(&["score", "-q", "--frozen"], &served).lines();
    assert!(plain[0]["suspicious"] == true && !reasons(&plain[0]).contains("probation"), "{}", reasons(&plain[0]));
    let off = ["score", "-q", "--learn", "--probation", "0"];
    let never = env.run(&off, ndjson(&[at("2026-10-25T12:00:00Z", "203.0.113.99", CLI)])).lines();
    assert!(never[0]["suspicious"] == true && !reasons(&never[0]).contains("probation"), "{}", reasons(&never[0]));
    // A key made in the run is scored against its maker and never learned: nothing of it goes on probation.
    let mut create = at("2026-10-26T10:00:00Z", "203.0.113.10", CLI);
    (create["eventSource"], create["eventName"]) = (json!("iam.amazonaws.com"), json!("CreateAccessKey"));
    create["responseElements"] = json!({"accessKey": {"accessKeyId": "AKIAEXAMPLEROTATED1", "userName": "ci"}});
    let child =
        record("AKIAEXAMPLEROTATED1", "2026-10-26T10:05:00Z", "203.0.113.58", CLI, "us-east-1", "UpdateService");
    let made = env.run(&["score", "-q", "--learn"], ndjson(&[create, child])).lines();
    assert_eq!(flagged(&made), [false, true]);
    assert!(!reasons(&made[1]).contains("probation") && reasons(&made[1]).contains("key made by"), "{:?}", made[1]);

    let out = env.run(&["score", "--learn", "--scoring", "legacy", "--probation", "24h"], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--scoring legacy compares exact addresses"), "{}", out.stderr);
}

#[test]
fn plain_score_learns_within_its_run_and_frozen_or_legacy_do_not() {
    let env = Env::new();
    let at = |time: &str, ip: &str, region: &str, event: &str| record(KEY, time, ip, CLI, region, event);
    // A team adopts a region, then calls a new API there: each new value alone scores 75.
    let calls = [
        at("2026-10-22T10:00:00Z", "203.0.113.10", "eu-west-1", "UpdateService"),
        at("2026-10-22T11:00:00Z", "203.0.113.10", "eu-west-1", "DescribeServices"),
        at("2026-10-22T12:00:00Z", "203.0.113.10", "eu-west-1", "DescribeServices"),
    ];
    let scores = |verdicts: &[Value]| verdicts.iter().map(|v| v["score"].as_u64().unwrap()).collect::<Vec<_>>();
    let adapting = score(&env, &[], &calls);
    assert_eq!(scores(&adapting), [75, 90, 100], "each value learned with the first call that passed");
    assert_eq!(flagged(&adapting), [false, false, false]);
    let frozen = score(&env, &["--frozen"], &calls);
    assert_eq!(scores(&frozen), [75, 65, 65], "against the baseline alone, as before");
    assert_eq!(flagged(&frozen), [false, true, true]);
    assert!(reasons(&frozen[1]).contains("region eu-west-1 not seen for this key"), "{}", reasons(&frozen[1]));
    let legacy = score(&env, &["--scoring", "legacy"], &calls);
    assert_eq!(scores(&legacy), [75, 65, 65], "the old scoring learns nothing either");
    assert_eq!(legacy, score(&env, &["--scoring", "legacy", "--frozen"], &calls));

    // A flagged call is not learned: a new address outside the key's networks stays flagged on every call.
    let away = [
        at("2026-10-22T10:00:00Z", "192.0.2.66", "us-east-1", "UpdateService"),
        at("2026-10-22T10:01:00Z", "192.0.2.66", "us-east-1", "UpdateService"),
    ];
    assert_eq!(flagged(&score(&env, &[], &away)), [true, true]);

    // Probation within one plain run: the NAT gateway replaced inside its /24 is flagged for a day, then learned.
    let moved = [
        at("2026-10-22T10:00:00Z", "203.0.113.57", "us-east-1", "UpdateService"),
        at("2026-10-22T18:00:00Z", "203.0.113.57", "us-east-1", "UpdateService"),
        at("2026-10-23T10:00:00Z", "203.0.113.57", "us-east-1", "UpdateService"),
        at("2026-10-23T11:00:00Z", "203.0.113.57", "us-east-1", "UpdateService"),
    ];
    let plain = score(&env, &[], &moved);
    assert_eq!(flagged(&plain), [true, true, false, false]);
    assert!(reasons(&plain[1]).contains("on probation since 2026-10-22T10:00:00Z"), "{}", reasons(&plain[1]));
    let frozen = score(&env, &["--frozen"], &moved);
    assert_eq!(flagged(&frozen), [true, true, true, true]);
    assert!(frozen.iter().all(|v| !reasons(v).contains("probation")), "{frozen:?}");
    let out = env.run(&["score", "--frozen", "--probation", "24h"], "");
    assert_eq!(out.code, 2, "nothing to remember probation in");
}
