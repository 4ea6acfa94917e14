//! Behaviour tests: the real binary, driven as a user drives it (arguments, stdin, files, a store in a
//! temporary folder), checked by what it writes and how it exits.

mod common;

use std::path::Path;

use common::{Env, fixture, gzip, ndjson, record};
use serde_json::Value;

#[test]
fn the_old_readme_worked_example_holds() {
    let env = Env::new();
    let listing = fixture("old-script/show_profile.txt");
    let import = env.run(&["profile", "import", listing.to_str().unwrap()], "");
    assert_eq!(import.code, 0, "{}", import.stderr);
    let profile = &env.run(&["profile", "show", "--json"], "").lines()[0];
    let entries: usize =
        ["ips", "agents", "regions", "events"].iter().map(|set| profile[set].as_object().unwrap().len()).sum();
    assert_eq!(entries + 1, 19, "the 19 entries: {profile}");
    assert_eq!(
        (profile["accountId"].as_str(), profile["userName"].as_str()),
        (Some("1234567890"), Some("jackie.chen"))
    );
    let calls = std::fs::read(fixture("old-script/worked-example.ndjson")).unwrap();
    for scoring in ["legacy", "standard"] {
        let out = env.run(&["score", "--scoring", scoring], &calls);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines = out.lines();
        assert_eq!(lines[0]["sourceIPAddress"], "222.222.222.222");
        assert_eq!(lines[0]["score"], 60, "{scoring}");
        assert_eq!(lines[0]["suspicious"], true, "{scoring}");
        assert_eq!(lines[0]["reasons"], serde_json::json!(["ip 222.222.222.222 not seen for this key"]));
        assert_eq!(lines[1]["sourceIPAddress"], "111.111.111.111");
        assert_eq!(lines[1]["score"], 100);
        assert_eq!(lines[1]["suspicious"], false);
    }
}

#[test]
fn the_old_export_is_read_as_data_and_still_matches_its_calls() {
    let env = Env::new();
    let export = fixture("old-script/profile-2016-09-09-1000");
    let import = env.run(&["import_profile", export.to_str().unwrap()], "");
    assert_eq!(import.code, 0, "{}", import.stderr);
    assert!(!env.path("keywatcher-pwned").exists(), "a command in the old export was run");
    let shown = env.run(&["show_profile", "--json", "OLDCLI"], "");
    assert!(shown.stdout.contains("$(touch keywatcher-pwned)"), "{}", shown.stdout);
    // The old format kept agents with '-' for spaces and events without their service; the call they came
    // from still matches on every factor.
    let calls = std::fs::read(fixture("old-script/worked-example.ndjson")).unwrap();
    let lines = env.run(&["score"], &calls).lines();
    assert_eq!(lines[2]["accessKeyId"], "AKIAEXAMPLEOLDCLI01");
    assert_eq!(lines[2]["score"], 100, "{}", lines[2]);
}

#[test]
fn every_input_shape_gives_the_same_output() {
    let env = Env::new();
    let records: Vec<Value> = (0..6)
        .map(|i| {
            let ip = if i % 2 == 0 { "198.51.100.1" } else { "2001:db8::7" };
            record(
                "AKIAEXAMPLE00001",
                &format!("2026-11-0{}T10:00:00Z", i + 1),
                ip,
                "aws-cli/2.13.5 Python/3.11",
                "us-east-1",
                "DescribeInstances",
            )
        })
        .collect();
    let baseline = env.write("baseline.ndjson", ndjson(&records[..2]));
    let base = baseline.to_str().unwrap();
    let expected = env.run(&["score", "--baseline", base], ndjson(&records));
    assert_eq!(expected.code, 0, "{}", expected.stderr);
    assert_eq!(expected.lines().len(), 6);

    let as_log_file = serde_json::json!({ "Records": records }).to_string();
    let pretty: String = records.iter().map(|r| serde_json::to_string_pretty(r).unwrap() + "\n").collect();
    let array = serde_json::to_string_pretty(&records).unwrap();
    let shapes: Vec<(&str, Vec<u8>)> = vec![
        ("ndjson", ndjson(&records).into_bytes()),
        ("log.json", as_log_file.clone().into_bytes()),
        ("log.json.gz", gzip(as_log_file.as_bytes())),
        ("no-extension", gzip(ndjson(&records).as_bytes())),
        ("pretty.json", pretty.into_bytes()),
        ("array.json", array.into_bytes()),
        ("glued.json", records.iter().map(|r| r.to_string()).collect::<String>().into_bytes()),
    ];
    for (name, bytes) in &shapes {
        let path = env.write(name, bytes);
        let from_file = env.run(&["score", "--baseline", base, path.to_str().unwrap()], "");
        assert_eq!(from_file.stdout, expected.stdout, "file shape {name}: {}", from_file.stderr);
        let from_stdin = env.run(&["score", "--baseline", base, "-"], bytes);
        assert_eq!(from_stdin.stdout, expected.stdout, "stdin shape {name}: {}", from_stdin.stderr);
    }
    // Split over a tree: read in sorted path order, whatever the order of creation.
    env.write("tree/2026/11/02/b.json.gz", gzip(serde_json::json!({ "Records": records[3..] }).to_string().as_bytes()));
    env.write("tree/2026/11/01/a.json", serde_json::json!({ "Records": records[..3] }).to_string());
    let tree = env.run(&["score", "--baseline", base, env.path("tree").to_str().unwrap()], "");
    assert_eq!(tree.stdout, expected.stdout, "{}", tree.stderr);
}

#[test]
fn a_multi_member_gzip_is_read_to_the_end() {
    let env = Env::new();
    let records: Vec<Value> = (1..=4)
        .map(|d| record("AKIAEXAMPLE00001", &format!("2026-11-0{d}T00:00:00Z"), "198.51.100.1", "a", "us-east-1", "X"))
        .collect();
    let mut bytes = gzip(ndjson(&records[..2]).as_bytes());
    bytes.extend(gzip(ndjson(&records[2..]).as_bytes()));
    let path = env.write("multi.gz", bytes);
    let out = env.run(&["score", "--baseline", path.to_str().unwrap(), path.to_str().unwrap()], "");
    assert_eq!(out.lines().len(), 4, "{}", out.stderr);
}

#[test]
fn learn_then_score_through_the_default_store_and_the_fixture_incident() {
    let env = Env::new();
    let learn = env.run(&["learn", fixture("baseline.ndjson").to_str().unwrap()], "");
    assert_eq!(learn.code, 0, "{}", learn.stderr);
    assert!(env.path("state/keywatcher/profiles").exists(), "the default store is $XDG_STATE_HOME/keywatcher/profiles");
    let out = env.run(&["score", "--only-suspicious", "--exit-code", fixture("incident.json").to_str().unwrap()], "");
    assert_eq!(out.code, 1, "{}", out.stderr);
    let lines = out.lines();
    assert!(lines.iter().all(|l| l["suspicious"] == true));
    let attacker: Vec<&Value> = lines.iter().filter(|l| l["sourceIPAddress"] == "192.0.2.66").collect();
    assert_eq!(attacker.len(), 4, "{}", out.stdout);
    let unknown: Vec<&Value> = lines.iter().filter(|l| l["profile"] == "unknown").collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0]["accessKeyId"], "AKIAEXAMPLENEWKEY001");
    // The same run against the in-memory baseline gives the same lines.
    let baseline = env.run(
        &[
            "score",
            "--only-suspicious",
            "--baseline",
            fixture("baseline.ndjson").to_str().unwrap(),
            fixture("incident.json").to_str().unwrap(),
        ],
        "",
    );
    assert_eq!(baseline.stdout, out.stdout);
    assert_eq!(baseline.code, 0);
}

#[test]
fn the_output_line_has_the_contract_fields_in_order() {
    let env = Env::new();
    let out = env.run(
        &[
            "score",
            "--baseline",
            fixture("baseline.ndjson").to_str().unwrap(),
            fixture("incident.json").to_str().unwrap(),
        ],
        "",
    );
    let first = out.stdout.lines().find(|l| l.contains("192.0.2.66")).unwrap();
    let keys: Vec<String> = {
        let mut keys = Vec::new();
        let mut de = serde_json::Deserializer::from_str(first);
        let map: serde_json::Map<String, Value> = serde::Deserialize::deserialize(&mut de).unwrap();
        keys.extend(map.keys().cloned());
        keys
    };
    let mut wanted = vec![
        "eventTime",
        "eventID",
        "accessKeyId",
        "accountId",
        "userType",
        "userName",
        "awsRegion",
        "sourceIPAddress",
        "userAgent",
        "eventSource",
        "eventName",
        "score",
        "threshold",
        "suspicious",
        "profile",
        "matched",
        "reasons",
    ];
    // serde_json's map sorts keys; the order on the line itself is checked by position.
    let mut sorted = keys.clone();
    sorted.sort();
    wanted.sort();
    assert_eq!(sorted, wanted);
    let positions: Vec<usize> = ["\"eventTime\"", "\"eventID\"", "\"accessKeyId\"", "\"score\"", "\"reasons\""]
        .iter()
        .map(|k| first.find(k).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{first}");
}

#[test]
fn each_exclusion_is_counted_by_reason() {
    let env = Env::new();
    let base = record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut r = base.clone();
        f(&mut r);
        r
    };
    let records = vec![
        base.clone(),
        with(&|r| r["userIdentity"]["accessKeyId"] = Value::from("")),
        with(&|r| r["userIdentity"]["accessKeyId"] = Value::from("ASIAEXAMPLE00001")),
        // As CloudTrail writes them: a role session carries an ASIA key, a service call often none.
        with(&|r| {
            r["userIdentity"]["type"] = Value::from("AssumedRole");
            r["userIdentity"]["accessKeyId"] = Value::from("ASIAEXAMPLE00002");
        }),
        with(&|r| r["userIdentity"]["type"] = Value::from("SAMLUser")),
        with(&|r| r["userIdentity"]["type"] = Value::from("WebIdentityUser")),
        with(&|r| r["userIdentity"]["type"] = Value::from("FederatedUser")),
        with(&|r| r["userIdentity"] = serde_json::json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"})),
        with(&|r| r["userIdentity"]["type"] = Value::from("AWSAccount")),
        with(&|r| r["userIdentity"]["invokedBy"] = Value::from("cloudformation.amazonaws.com")),
        with(&|r| r["sourceIPAddress"] = Value::from("ec2.amazonaws.com")),
        with(&|r| r["sourceIPAddress"] = Value::from("AWS Internal")),
        with(&|r| r["userIdentity"]["type"] = Value::from("Root")),
    ];
    let out = env.run(&["learn"], ndjson(&records));
    assert_eq!(out.code, 0);
    let summary = out.stderr.lines().find(|l| l.contains("learn: read")).unwrap();
    assert!(
        summary.contains(
            "read 13 record(s) from 1 input(s); learned 2; excluded 11 (no accessKeyId 1, temporary key (ASIA) 1, \
             AssumedRole 1, SAMLUser 1, WebIdentityUser 1, FederatedUser 1, AWSService 1, AWSAccount 1, \
             call by an AWS service 3)"
        ),
        "{summary}"
    );
}

#[test]
fn time_windows_use_event_time_and_a_fixed_now() {
    let env = Env::new();
    let records: Vec<Value> =
        ["2026-11-01T09:00:00Z", "2026-11-01T11:30:00Z", "2026-11-01T11:59:59Z", "2026-11-01T12:00:00Z"]
            .iter()
            .map(|t| record("AKIAEXAMPLE00001", t, "198.51.100.1", "a", "us-east-1", "X"))
            .collect();
    let input = ndjson(&records);
    let times = |args: &[&str]| -> Vec<String> {
        let out = env.run(args, &input);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.lines().iter().map(|l| l["eventTime"].as_str().unwrap().to_string()).collect()
    };
    let now = ["--now", "2026-11-01T12:00:00Z"];
    let last_hour = times(&["score", now[0], now[1], "--since", "1 hour ago"]);
    assert_eq!(last_hour, ["2026-11-01T11:30:00Z", "2026-11-01T11:59:59Z", "2026-11-01T12:00:00Z"]);
    let bounded = times(&["score", now[0], now[1], "--since", "3h", "--until", "30 min ago"]);
    assert_eq!(bounded, ["2026-11-01T09:00:00Z"]);
    let dates = times(&["score", "--since", "2026-11-01", "--until", "@1793534400"]);
    assert_eq!(dates, ["2026-11-01T09:00:00Z", "2026-11-01T11:30:00Z", "2026-11-01T11:59:59Z"], "@EPOCH is 12:00Z");
    assert!(times(&["score", "--since", "2026-11-02"]).is_empty());
    let bad = env.run(&["score", "--since", "last tuesday"], "");
    assert_eq!(bad.code, 2);
    assert!(bad.stderr.contains("invalid --since"), "{}", bad.stderr);
}

#[test]
fn the_old_command_names_keep_their_word_order() {
    let env = Env::new();
    let records = [
        record("AKIAEXAMPLE00001", "2026-11-01T11:00:00Z", "198.51.100.1", "a", "us-east-1", "X"),
        record("AKIAEXAMPLE00002", "2026-11-01T11:00:00Z", "198.51.100.2", "a", "us-east-1", "X"),
        record("AKIAEXAMPLE00001", "2026-10-20T11:00:00Z", "198.51.100.9", "a", "us-east-1", "X"),
        record("AKIAEXAMPLE00002", "2026-11-01T10:50:00Z", "198.51.100.3", "a", "us-east-1", "X"),
    ];
    let input = ndjson(&records);
    // update_profile PERIOD KEY: only that key, only that period ("1 day ago" by default).
    let learn = env.run(&["update_profile", "1 hour ago", "AKIAEXAMPLE00001", "--now", "2026-11-01T11:30:00Z"], &input);
    assert_eq!(learn.code, 0, "{}", learn.stderr);
    let shown = env.run(&["show_profile", "--json"], "").lines();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["accessKeyId"], "AKIAEXAMPLE00001");
    assert_eq!(shown[0]["ips"].as_object().unwrap().len(), 1);
    // The default period of update_profile is a day: the call of 2026-10-20 is outside it.
    let default_period = env.run(&["update_profile", "--now", "2026-11-01T12:00:00Z"], &input);
    assert!(default_period.stderr.contains("learned 3;"), "{}", default_period.stderr);
    // score_request PERIOD KEY, and the old misspelling.
    for name in ["score_request", "score_requst"] {
        let out = env.run(&[name, "15 min ago", "AKIAEXAMPLE00002", "--now", "2026-11-01T11:10:00Z"], &input);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines = out.lines();
        assert_eq!(lines.len(), 1, "{}", out.stdout);
        assert_eq!(lines[0]["accessKeyId"], "AKIAEXAMPLE00002");
    }
    // The default period of score_request is 10 minutes: the call at 10:50 is outside it at 11:05.
    let default_window = env.run(&["score_request", "--now", "2026-11-01T11:05:00Z"], &input);
    let times: Vec<Value> = default_window.lines().iter().map(|l| l["eventTime"].clone()).collect();
    assert_eq!(times, ["2026-11-01T11:00:00Z", "2026-11-01T11:00:00Z"], "{}", default_window.stderr);
    // A file where the period goes is refused with the word order explained.
    let misuse = env.run(&["update_profile", "records.json"], &input);
    assert_eq!(misuse.code, 2);
    assert!(misuse.stderr.contains("PERIOD then KEY"), "{}", misuse.stderr);
}

#[test]
fn export_delete_import_round_trip() {
    let env = Env::new();
    assert_eq!(env.run(&["learn", fixture("baseline.ndjson").to_str().unwrap()], "").code, 0);
    let exported = env.run(&["profile", "export"], "");
    assert_eq!(exported.code, 0);
    assert_eq!(exported.lines().len(), 3, "one line per key");
    let to_file = env.run(&["export_profile", "-o", "saved.jsonl"], "");
    assert_eq!(to_file.code, 0);
    assert_eq!(std::fs::read_to_string(env.path("saved.jsonl")).unwrap(), exported.stdout);

    let deleted = env.run(&["profile", "delete", "AKIAEXAMPLEROOTKEY01"], "");
    assert!(deleted.stderr.contains("deleted 1 profile(s)"), "{}", deleted.stderr);
    assert_eq!(env.run(&["profile", "export"], "").lines().len(), 2);
    assert_eq!(env.run(&["delete_profile", "--all"], "").code, 0);
    assert_eq!(env.run(&["profile", "export"], "").stdout, "");

    let import = env.run(&["profile", "import", "saved.jsonl"], "");
    assert_eq!(import.code, 0, "{}", import.stderr);
    assert_eq!(env.run(&["profile", "export"], "").stdout, exported.stdout);
    // Merging the same profiles again doubles the counts; --replace puts them back as they were.
    env.run(&["profile", "import", "-"], &exported.stdout);
    assert_ne!(env.run(&["profile", "export"], "").stdout, exported.stdout);
    env.run(&["profile", "import", "--replace", "saved.jsonl"], "");
    assert_eq!(env.run(&["profile", "export"], "").stdout, exported.stdout);
}

#[test]
fn a_bad_import_line_imports_nothing() {
    let env = Env::new();
    let file = env.write("bad.txt", "redis-cli set \"[Key]AKIAX:[Ip]1.2.3.4\" 1\nsh -c 'rm -rf ~'\n");
    let out = env.run(&["profile", "import", file.to_str().unwrap()], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("line 2"), "{}", out.stderr);
    assert!(out.stderr.contains("nothing was imported"), "{}", out.stderr);
    assert_eq!(env.run(&["profile", "export"], "").stdout, "");
}

#[test]
fn a_corrupt_snapshot_is_refused_and_left_untouched() {
    let env = Env::new();
    let store = env.path("profiles");
    let store_arg = store.to_str().unwrap();
    assert_eq!(env.run(&["learn", "--store", store_arg, fixture("baseline.ndjson").to_str().unwrap()], "").code, 0);
    let mut bytes = std::fs::read(&store).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&store, &bytes).unwrap();
    for args in [
        vec!["learn", "--store", store_arg, fixture("incident.json").to_str().unwrap()],
        vec!["score", "--store", store_arg, fixture("incident.json").to_str().unwrap()],
        vec!["profile", "show", "--store", store_arg],
    ] {
        let out = env.run(&args, "");
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains("cannot be read") && out.stderr.contains("left as it is"), "{}", out.stderr);
        assert_eq!(std::fs::read(&store).unwrap(), bytes, "the damaged snapshot was changed");
    }
    // KEYWATCHER_STORE names the store as --store does.
    let mut cmd = assert_cmd::Command::cargo_bin("keywatcher").unwrap();
    let out = cmd.env("KEYWATCHER_STORE", store_arg).args(["profile", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn an_empty_store_is_named_instead_of_silently_flagging_everything() {
    let env = Env::new();
    let out = env.run(
        &["score"],
        ndjson(&[record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X")]),
    );
    assert_eq!(out.code, 0);
    assert!(
        out.stderr.contains("no profiles in snapshot") && out.stderr.contains("keywatcher learn"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(env.path("state/keywatcher/profiles").to_str().unwrap()), "{}", out.stderr);
    assert_eq!(out.lines()[0]["profile"], "unknown");
}

#[test]
fn empty_input_is_not_an_error() {
    let env = Env::new();
    let empty = env.write("empty.ndjson", "");
    for input in ["", "\n\n  \n"] {
        let out = env.run(&["score", "--baseline", empty.to_str().unwrap()], input);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let learn = env.run(&["learn"], input);
        assert_eq!(learn.code, 0, "{}", learn.stderr);
        assert!(learn.stderr.contains("read 0 record(s)"), "{}", learn.stderr);
    }
    let twice = env.run(&["score", "--baseline", "-"], "");
    assert_eq!(twice.code, 2);
    assert!(twice.stderr.contains("stdin can be read only once"), "{}", twice.stderr);
}

#[test]
fn bad_records_are_skipped_counted_and_named() {
    let env = Env::new();
    let good = |i: u32| {
        record("AKIAEXAMPLE00001", &format!("2026-11-01T00:00:0{i}Z"), "198.51.100.1", "a", "us-east-1", "X")
            .to_string()
    };
    let mut input = Vec::new();
    input.extend(format!("{}\n", good(1)).bytes());
    input.extend(b"{\"eventTime\": not json}\n");
    input.extend(format!("{}\n", good(2)).replace("198.51.100.1", "198.51.100.\\u0001").bytes());
    let mut invalid_utf8 = good(3).into_bytes();
    let at = invalid_utf8.windows(3).position(|w| w == b"\"a\"").unwrap();
    invalid_utf8[at + 1] = 0xff;
    input.extend(invalid_utf8);
    input.push(b'\n');
    input.extend(format!("{}\n", good(4).replace("\"eventTime\":\"2026-11-01T00:00:04Z\",", "")).bytes());
    input.extend(format!("{}\n", good(5).replace("\"us-east-1\"", "[\"us-east-1\"]")).bytes());
    input.extend(format!("{}\n", good(6)).bytes());
    let file = env.write("mixed.ndjson", &input);
    let out = env.run(&["score", "--baseline", file.to_str().unwrap(), file.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.lines();
    assert_eq!(lines.len(), 4, "good lines, the one with a control character, the one not UTF-8: {}", out.stdout);
    assert_eq!(lines[1]["sourceIPAddress"], "198.51.100.\u{1}");
    assert_eq!(lines[2]["userAgent"], "\u{fffd}", "a byte that is not UTF-8 is read as U+FFFD");
    assert!(out.stderr.contains("mixed.ndjson:2: invalid JSON"), "{}", out.stderr);
    assert!(!out.stderr.contains("mixed.ndjson:4:"), "{}", out.stderr);
    assert!(out.stderr.contains("mixed.ndjson:5: no eventTime"), "{}", out.stderr);
    assert!(out.stderr.contains("mixed.ndjson:6: awsRegion is an array"), "{}", out.stderr);
    assert!(out.stderr.contains("scored 4 (0 suspicious); 3 unreadable record(s) skipped"), "{}", out.stderr);

    let clean = env.write("clean.ndjson", format!("{}\n", good(1)));
    let strict = env.run(&["score", "--strict", "--baseline", clean.to_str().unwrap(), file.to_str().unwrap()], "");
    assert_eq!(strict.code, 2);
    assert_eq!(strict.lines().len(), 1, "the calls before the bad record are written");
    assert!(strict.stderr.contains("stopped at") && strict.stderr.contains("mixed.ndjson:2"), "{}", strict.stderr);
}

#[test]
fn a_record_inside_a_log_file_is_named_by_its_index() {
    let env = Env::new();
    let good = record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X");
    let mut bad = good.clone();
    bad["eventTime"] = Value::from(12);
    let file = env.write("log.json", serde_json::json!({"Records": [good, bad]}).to_string());
    let out = env.run(&["learn", file.to_str().unwrap()], "");
    assert!(out.stderr.contains("log.json:1 (record 1): eventTime is a number, not a string"), "{}", out.stderr);
}

#[test]
fn a_truncated_gzip_names_the_file_and_keeps_what_came_before() {
    let env = Env::new();
    let records: Vec<Value> = (0..2000)
        .map(|i| {
            record(
                "AKIAEXAMPLE00001",
                "2026-11-01T00:00:00Z",
                &format!("198.51.{}.{}", i / 250, i % 250),
                "a",
                "us-east-1",
                "X",
            )
        })
        .collect();
    let whole = gzip(ndjson(&records).as_bytes());
    let cut = env.write("cut.json.gz", &whole[..whole.len() / 2]);
    let good = env.write("good.ndjson", ndjson(&records[..1]));
    let out = env.run(&["learn", cut.to_str().unwrap(), good.to_str().unwrap()], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cut.json.gz: cannot read past line"), "{}", out.stderr);
    let profile = &env.run(&["profile", "export"], "").lines()[0];
    let learned = profile["ips"].as_object().unwrap().len();
    assert!(learned > 100 && learned < 2000, "what came before the cut is kept: {learned}");
}

#[test]
fn odd_but_valid_values_are_scored_and_written_safely() {
    let env = Env::new();
    let agents = [
        "aws-cli/2.13.5 Python/3.11.4 Linux/5.15 exe/x86_64.ubuntu.22",
        "[aws-cli/1.18.69 Python/2.7.18]",
        "Mozilla/5.0 \"quoted\" \\ back\\slash",
        "evil\u{1b}[31mred\u{7}\nnext line\r\u{0}",
        "ünïcødé ☁️ 雲",
    ];
    let records: Vec<Value> = agents
        .iter()
        .enumerate()
        .map(|(i, agent)| {
            record("AKIAEXAMPLE00001", &format!("2026-11-01T00:00:0{i}Z"), "2001:db8:4a2b::17", agent, "us-east-1", "X")
        })
        .collect();
    let input = ndjson(&records);
    let baseline = env.write("base.ndjson", &input);
    let out = env.run(&["score", "--baseline", baseline.to_str().unwrap()], &input);
    let lines = out.lines();
    assert_eq!(lines.len(), agents.len());
    for (line, agent) in lines.iter().zip(agents) {
        assert_eq!(line["userAgent"], agent);
        assert_eq!(line["sourceIPAddress"], "2001:db8:4a2b::17");
        assert_eq!(line["score"], 100);
    }
    assert!(!out.stdout.contains('\u{1b}'), "an escape sequence reached stdout raw");
    // A user name from a record reaches the terminal in `profile show`: its escape sequence is shown, not run.
    let mut sly = records[0].clone();
    sly["userIdentity"]["userName"] = Value::from("ci\u{1b}[2J\u{1b}]0;pwned\u{7}");
    let learn = env.run(&["learn"], ndjson(&[sly]));
    assert_eq!(learn.code, 0, "{}", learn.stderr);
    let table = env.run(&["profile", "show"], "");
    assert!(table.stdout.contains(r"ci\u{1b}[2J"), "{}", table.stdout);
    assert!(!table.stdout.contains('\u{1b}') && !table.stdout.contains('\u{7}'));
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let env = Env::new();
    assert_eq!(env.run(&["score", "--weights", "ip=lots"], "").code, 2);
    assert_eq!(env.run(&["frobnicate"], "").code, 2);
    assert_eq!(env.run(&["profile", "delete"], "").code, 2);
    let missing = env.run(&["learn", "no-such-dir"], "");
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("no-such-dir"), "{}", missing.stderr);
    for cmd in [&["--help"][..], &["score", "--help"], &["learn", "--help"], &["profile", "import", "--help"]] {
        let help = env.run(cmd, "");
        assert_eq!(help.code, 0);
        assert!(help.stdout.contains("$ keywatcher"), "{cmd:?} has no example");
    }
}

#[test]
fn weights_and_threshold_change_the_verdict() {
    let env = Env::new();
    let known = record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X");
    let new_ip = record("AKIAEXAMPLE00001", "2026-11-02T00:00:00Z", "203.0.113.1", "a", "us-east-1", "X");
    let base = env.write("base.ndjson", ndjson(&[known]));
    let run = |extra: &[&str]| {
        let mut args = vec!["score", "--scoring", "legacy", "--baseline", base.to_str().unwrap()];
        args.extend_from_slice(extra);
        env.run(&args, ndjson(std::slice::from_ref(&new_ip))).lines().remove(0)
    };
    assert_eq!((run(&[])["score"].clone(), run(&[])["suspicious"].clone()), (Value::from(60), Value::from(true)));
    let lenient = run(&["--threshold", "50"]);
    assert_eq!((lenient["suspicious"].clone(), lenient["threshold"].clone()), (Value::from(false), Value::from(50)));
    assert_eq!(run(&["--weights", "ip=10,agent=30,region=30,event=30"])["score"], 90);
}

/// A log file of a few megabytes: larger than a chunk, so reading it crosses chunk boundaries.
fn big_log(records: usize) -> (Vec<Value>, String) {
    let records: Vec<Value> = (0..records)
        .map(|i| {
            let mut r = record(
                "AKIAEXAMPLE00001",
                "2026-11-01T00:00:00Z",
                &format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256),
                "a",
                "us-east-1",
                "X",
            );
            r["requestParameters"] = serde_json::json!({ "padding": "x".repeat(200) });
            r
        })
        .collect();
    let log = serde_json::json!({ "Records": records }).to_string();
    (records, log)
}

fn ips_learned(env: &Env) -> usize {
    let exported = env.run(&["profile", "export"], "");
    exported.lines().first().map_or(0, |p| p["ips"].as_object().unwrap().len())
}

#[test]
fn big_log_files_in_every_shape_lose_only_what_is_broken() {
    let (records, log) = big_log(12_000);
    assert!(log.len() > 3 << 20, "the log file must span several chunks");
    let env = Env::new();
    let pretty = serde_json::to_string_pretty(&serde_json::json!({ "Records": records })).unwrap();
    for (name, bytes) in [
        ("log.json", log.clone().into_bytes()),
        ("pretty.json", pretty.into_bytes()),
        ("log.json.gz", gzip(log.as_bytes())),
    ] {
        let path = env.write(name, &bytes);
        let learn = env.run(&["learn", "--store", "s", path.to_str().unwrap()], "");
        assert!(learn.stderr.contains("learned 12000\n") && learn.code == 0, "{name}: {}", learn.stderr);
    }
    // One record with a duplicate field mid-file: only it is lost. One with a lone surrogate escape (valid JSON,
    // refused by serde_json) is mended to U+FFFD and learned.
    let elements: Vec<String> = records
        .iter()
        .enumerate()
        .map(|(i, r)| match i {
            4999 => r.to_string().replacen('{', r#"{"eventName":"Y","#, 1),
            7000 => r.to_string().replace(r#""userAgent":"a""#, r#""userAgent":"\ud800""#),
            _ => r.to_string(),
        })
        .collect();
    let broken = format!("{{\"Records\":[{}]}}", elements.join(","));
    let path = env.write("broken.json", &broken);
    let out = env.run(&["learn", path.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("learned 11999;") && out.stderr.contains("1 unreadable record(s)"), "{}", out.stderr);
    assert!(
        out.stderr.contains("broken.json:1 (record 4999): invalid JSON (duplicate field `eventName`)"),
        "{}",
        out.stderr
    );
    assert_eq!(ips_learned(&env), 11_999);

    // A gzipped log file cut in half keeps the records before the cut.
    let env = Env::new();
    let whole = gzip(log.as_bytes());
    let cut = env.write("cut.json.gz", &whole[..whole.len() / 2]);
    let out = env.run(&["learn", cut.to_str().unwrap()], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cut.json.gz: cannot read past line 1: the gzip data ends early"), "{}", out.stderr);
    let kept = ips_learned(&env);
    assert!(kept > 3_000 && kept < 12_000, "{kept}");
}

#[test]
fn a_value_cut_off_at_the_very_end_is_reported() {
    let env = Env::new();
    let line =
        record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X").to_string() + "\n";
    // Exactly one chunk (1 MiB) of input whose last line is cut off, with no newline after it.
    let tail = "{\"eventName\":\"A\"";
    let mut input = String::new();
    while input.len() + line.len() + tail.len() <= 1 << 20 {
        input.push_str(&line);
    }
    input.push_str(&" ".repeat((1 << 20) - input.len() - tail.len()));
    input.push_str(tail);
    assert_eq!(input.len(), 1 << 20);
    let out = env.run(&["learn", "--strict"], &input);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("truncated JSON"), "{}", out.stderr);
}

#[test]
fn concurrent_learners_on_one_snapshot_lose_nothing() {
    let env = Env::new();
    let store = env.path("shared-profiles");
    let mut children = Vec::new();
    for learner in 0..4 {
        let records: Vec<Value> = (0..200)
            .map(|i| {
                record(
                    "AKIAEXAMPLE00001",
                    "2026-11-01T00:00:00Z",
                    &format!("10.0.{learner}.{i}"),
                    "a",
                    "us-east-1",
                    "X",
                )
            })
            .collect();
        let path = env.write(&format!("part{learner}.ndjson"), ndjson(&records));
        for _ in 0..3 {
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_keywatcher"))
                .args(["learn", "-q", "--store", store.to_str().unwrap(), path.to_str().unwrap()])
                .spawn()
                .unwrap();
            children.push(child);
        }
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let out = env.run(&["profile", "export", "--store", store.to_str().unwrap()], "");
    let profile = &out.lines()[0];
    let ips = profile["ips"].as_object().unwrap();
    assert_eq!(ips.len(), 800);
    assert!(ips.values().all(|seen| seen["count"] == 3), "every learner's update is kept");
    assert_eq!(profile["events"]["ec2.amazonaws.com:X"]["count"], 2400);
}

#[test]
fn an_unreadable_part_of_a_tree_is_named_and_the_rest_read() {
    let env = Env::new();
    let good = record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X");
    env.write("tree/a.json", ndjson(std::slice::from_ref(&good)));
    std::os::unix::fs::symlink(env.path("nowhere"), env.path("tree/b-dangling.json")).unwrap();
    env.write("tree/c/d.json", ndjson(std::slice::from_ref(&good)));
    std::os::unix::fs::symlink(env.path("tree"), env.path("tree/c/loop")).unwrap();
    let out = env.run(&["learn", "tree"], "");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("b-dangling.json: cannot read"), "{}", out.stderr);
    assert!(out.stderr.contains("learned 2;"), "each file once, the loop not followed: {}", out.stderr);
}

#[test]
fn replace_with_nothing_is_refused() {
    let env = Env::new();
    env.run(&["learn", fixture("baseline.ndjson").to_str().unwrap()], "");
    let out = env.run(&["profile", "import", "--replace"], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("holds no profiles"), "{}", out.stderr);
    assert_eq!(env.run(&["profile", "export"], "").lines().len(), 3);
}

#[test]
fn the_readme_set_up_command_shows_the_incident() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let command =
        readme.lines().find_map(|l| l.strip_prefix("cargo run --release -- ")).expect("the README's set-up command");
    let args: Vec<String> = command
        .split_whitespace()
        .map(|arg| match arg.strip_prefix("fixtures/") {
            Some(name) => fixture(name).display().to_string(),
            None => arg.to_string(),
        })
        .collect();
    let env = Env::new();
    let out = env.run(&args.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let suspicious: Vec<Value> = out.lines().into_iter().filter(|l| l["suspicious"] == true).collect();
    // What the README promises: the leaked CI key's calls from 192.0.2.66, and the first call of a new key.
    assert!(suspicious.iter().any(|l| l["sourceIPAddress"] == "192.0.2.66" && l["eventName"] == "GetCallerIdentity"));
    assert!(
        suspicious.iter().all(|l| l["sourceIPAddress"] == "192.0.2.66" || l["profile"] == "unknown"),
        "{}",
        out.stdout
    );
    assert!(readme.contains("`AKIAEXAMPLECIDEPLOY1`") && out.stdout.contains("AKIAEXAMPLECIDEPLOY1"));
}

#[test]
fn a_log_file_or_array_that_never_ends_is_reported() {
    let env = Env::new();
    let r = record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X");
    for (name, text) in [("array.json", format!("[\n{r},\n")), ("log.json", format!("{{\"Records\":[\n{r}\n]\n"))] {
        let path = env.write(name, text);
        let out = env.run(&["learn", "--strict", path.to_str().unwrap()], "");
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stderr.contains("does not end"), "{name}: {}", out.stderr);
    }
}

#[test]
fn broken_json_mid_log_file_costs_one_record_and_is_placed_exactly() {
    let env = Env::new();
    let records: Vec<String> = (0..10)
        .map(|i| {
            record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", &format!("198.51.100.{i}"), "a", "us-east-1", "X")
                .to_string()
        })
        .collect();
    let mut broken = records.clone();
    broken[3] = broken[3].replace("198.51.100.3", "198.51.100.\u{1}3");
    broken[6] = broken[6].replacen('{', r#"{"eventName":"dup","#, 1);
    let line = format!("{{\"Records\":[{}]}}\n", broken.join(","));
    let column = line.find(r#""eventName":"dup""#).unwrap() + 1;
    let path = env.write("log.json", &line);
    let out = env.run(&["learn", path.to_str().unwrap()], "");
    assert!(out.stderr.contains("learned 8;"), "{}", out.stderr);
    assert!(out.stderr.contains("log.json:1 (record 3): invalid JSON (control character"), "{}", out.stderr);
    let dup = out.stderr.lines().find(|l| l.contains("(record 6)")).unwrap();
    let at: usize = dup.rsplit("at column ").next().unwrap().parse().unwrap();
    assert!(at > column && at < column + 200, "the duplicate is reported where it is: {dup} (record at {column})");
}

#[test]
fn a_baseline_from_the_same_archive_stops_at_since() {
    let env = Env::new();
    let baseline = fixture("baseline.ndjson");
    let incident = fixture("incident.json");
    env.write("archive/a.ndjson", std::fs::read(&baseline).unwrap());
    env.write("archive/b.json", std::fs::read(&incident).unwrap());
    let out = env.run(&["score", "--baseline", "archive", "--since", "2026-11-08", "--only-suspicious", "archive"], "");
    let lines = out.lines();
    assert!(
        lines.iter().any(|l| l["sourceIPAddress"] == "192.0.2.66"),
        "the incident day is not learned as normal: {}",
        out.stderr
    );
    let separate = env
        .run(&["score", "--baseline", baseline.to_str().unwrap(), "--only-suspicious", incident.to_str().unwrap()], "");
    assert_eq!(out.stdout, separate.stdout);
}

#[test]
fn stores_that_cannot_be_used_are_refused_before_reading() {
    let env = Env::new();
    let records = fixture("baseline.ndjson");
    let records = records.to_str().unwrap();
    for (store, says) in [
        ("s3://bucket/profiles", "s3://"),
        ("redis://:secret@localhost:6379/first", "the database must be a number"),
        ("redis:/:secret@localhost:6379", "starts with redis://"),
        ("redis+cluster:secret@h1:1,h2:2", "starts with redis+cluster://"),
        ("no-such-dir/profiles", "does not exist"),
    ] {
        let out = env.run(&["learn", "--store", store, records], "");
        assert_eq!(out.code, 2, "{store}");
        assert!(out.stderr.contains(says), "{store}: {}", out.stderr);
        assert!(!out.stderr.contains("secret"), "a password was printed: {}", out.stderr);
        assert!(!out.stderr.contains("learn: read"), "refused after reading: {}", out.stderr);
    }
    assert!(!env.path("s3:").exists() && !env.path("no-such-dir").exists());
    // A read-only snapshot is left alone; an empty file is an empty snapshot.
    env.write("empty", "");
    assert_eq!(env.run(&["learn", "--store", "empty", records], "").code, 0);
    let frozen = env.path("empty");
    std::fs::set_permissions(&frozen, std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
    let before = std::fs::read(&frozen).unwrap();
    let out = env.run(&["learn", "--store", "empty", records], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("read-only"), "{}", out.stderr);
    assert_eq!(std::fs::read(&frozen).unwrap(), before);
    // Exporting onto the snapshot itself would destroy it.
    let out = env.run(&["profile", "export", "--store", "empty", "-o", "empty"], "");
    assert_eq!(out.code, 2);
    assert_eq!(std::fs::read(&frozen).unwrap(), before);
}

#[test]
fn runs_that_could_not_look_at_anything_say_so() {
    let env = Env::new();
    let zip = env.write("logs.zip", b"PK\x03\x04\x14\x00\x00\x00\x08\x00 binary \xff\xfe\n");
    let out = env.run(
        &["score", "--exit-code", "--baseline", fixture("baseline.ndjson").to_str().unwrap(), zip.to_str().unwrap()],
        "",
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("logs.zip: nothing in it could be read as JSON"), "{}", out.stderr);
    let out = env.run(
        &["score", "--key", "akiaexamplecideploy1", "--store", "x", fixture("incident.json").to_str().unwrap()],
        "",
    );
    assert!(out.stderr.contains("no record carries --key akiaexamplecideploy1"), "{}", out.stderr);
    let late = env.run(
        &["score_request", "10 min ago", "AKIAEXAMPLECIDEPLOY1", "--store", "x"],
        std::fs::read(fixture("incident.json")).unwrap(),
    );
    assert!(!late.stderr.contains("no record carries"), "the key is there, only outside the period: {}", late.stderr);
    // A profile export given to learn is not CloudTrail: said, not learned as nothing.
    env.run(&["learn", fixture("baseline.ndjson").to_str().unwrap()], "");
    let export = env.run(&["profile", "export"], "").stdout;
    let out = env.run(&["learn", "--store", "other", "-"], export);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no CloudTrail record in it: its JSON is of another kind"), "{}", out.stderr);
    let out = env.run(&["score", "--threshold", "101", "-"], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("above the highest possible score (100"), "{}", out.stderr);
    assert_eq!(env.run(&["learn", "--since", "-2h", "--now", "2026-11-01T00:00:00Z"], "").code, 0);
}

#[test]
fn digests_insights_and_gz_names_are_judged_by_content() {
    let env = Env::new();
    let record = record("AKIAEXAMPLE00001", "2026-11-01T00:00:00Z", "198.51.100.1", "a", "us-east-1", "X");
    let digest = serde_json::json!({"awsAccountId": "123456789012", "digestStartTime": "2026-11-01T00:00:00Z",
        "digestEndTime": "2026-11-01T01:00:00Z", "digestS3Bucket": "trail", "logFiles": []});
    let insight = serde_json::json!({"Records": [{"eventVersion": "1.08", "eventTime": "2026-11-01T00:00:00Z",
        "eventType": "AwsCloudTrailInsight", "insightDetails": {"state": "Start"}}]});
    env.write("t/CloudTrail-Digest/d.json.gz", gzip(digest.to_string().as_bytes()));
    env.write("t/CloudTrail-Insight/i.json", insight.to_string());
    env.write("t/CloudTrail/plain-but-named.json.gz", ndjson(std::slice::from_ref(&record)));
    let out = env.run(&["learn", "t"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("learned 1; skipped 1 digest file(s); skipped 1 Insights event(s)"), "{}", out.stderr);
}

#[test]
fn problem_messages_stop_after_twenty_and_the_summary_counts_all() {
    let env = Env::new();
    let garbage: String = (0..50).map(|i| format!("{{\"eventName\": broken {i}}}\n")).collect();
    let out = env.run(&["learn"], garbage);
    assert_eq!(out.stderr.matches("skipped <stdin>").count(), 20, "{}", out.stderr);
    assert!(out.stderr.contains("more records were skipped"), "{}", out.stderr);
    assert!(out.stderr.contains("50 unreadable record(s) skipped"), "{}", out.stderr);
}

#[test]
fn the_shapes_fixtures_are_read_as_documented() {
    let env = Env::new();
    let out = env.run(&["learn", fixture("shapes").to_str().unwrap()], "");
    assert_eq!(out.code, 2, "the truncated gzip is an input error: {}", out.stderr);
    for said in [
        "malformed.ndjson:1: invalid JSON (expected value)",
        "malformed.ndjson:2: awsRegion is an array, not a string",
        "malformed.ndjson:3: no eventTime",
        "malformed.ndjson:5: invalid JSON (duplicate field `eventName`)",
        "truncated.json.gz: cannot read past line 16: the gzip data ends early",
        "read 32 record(s) from 8 input(s); learned 27; skipped 1 digest file(s); skipped 1 Insights event(s); \
         5 unreadable record(s) skipped; 1 input(s) with errors",
    ] {
        assert!(out.stderr.contains(said), "{said}: {}", out.stderr);
    }
    let profile = &env.run(&["profile", "export"], "").lines()[0];
    assert!(profile["ips"].get("2001:db8:4a2b::17").is_some(), "{profile}");
    assert!(profile["agents"].get("evil\u{1b}[31mred\u{7}\nnext line").is_some(), "{profile}");
    assert!(
        profile["agents"].get("bad\u{fffd}byte").is_some(),
        "a byte that is not UTF-8 is read as U+FFFD: {profile}"
    );
}
