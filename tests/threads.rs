//! The output does not depend on the number of threads: `--threads 1` and `--threads 2` give the same stdout,
//! the same stderr (messages in the same order, the same summary) and the same exit status, on inputs that
//! cross chunk boundaries (1 MiB) in every shape, on inputs with bad records, and on calls between runs of
//! values of a few bytes (parsed in parts).

mod common;

use std::time::Duration;

use common::{Env, Output, gzip, ndjson, record};
use serde_json::{Value, json};

/// Runs `args` with one thread and with two, checks that everything the user sees is the same, and gives
/// the output.
fn same_with_any_threads(env: &Env, args: &[&str]) -> Output {
    let one = env.run(&[args, &["--threads", "1"]].concat(), "");
    let two = env.run(&[args, &["--threads", "2"]].concat(), "");
    assert_eq!(one.code, two.code, "exit status of {args:?}\n{}\n{}", one.stderr, two.stderr);
    assert_eq!(one.stderr, two.stderr, "stderr of {args:?}");
    assert!(one.stdout == two.stdout, "stdout of {args:?} differs between --threads 1 and --threads 2");
    one
}

/// `n` calls of seven keys from a few addresses, agents, regions and events, a second apart from `start`.
fn calls(n: usize, start: usize) -> Vec<Value> {
    (start..start + n)
        .map(|i| {
            let time = format!("2026-11-0{}T{:02}:{:02}:{:02}Z", 1 + i / 86400, i / 3600 % 24, i / 60 % 60, i % 60);
            record(
                &format!("AKIAEXAMPLE{:05}", i % 7),
                &time,
                ["198.51.100.1", "198.51.100.2", "203.0.113.7", "192.0.2.9", "100.64.3.3"][i % 5],
                ["aws-cli/2.13.5", "Boto3/1.28.40", "terraform/1.5.7"][i % 3],
                ["us-east-1", "eu-west-1"][i % 2],
                ["DescribeInstances", "RunInstances", "GetObject", "PutObject"][i % 4],
            )
        })
        .collect()
}

/// A baseline that knows part of what the calls do, so the verdicts differ from line to line.
fn baseline(env: &Env) -> String {
    let known: Vec<Value> = calls(400, 0).into_iter().filter(|r| r["sourceIPAddress"] != "100.64.3.3").collect();
    env.write("baseline.ndjson", ndjson(&known)).display().to_string()
}

fn score(env: &Env, inputs: &[&str]) -> Output {
    let base = baseline(env);
    let out = same_with_any_threads(env, &[&["score", "--baseline", &base], inputs].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    out
}

#[test]
fn ndjson_across_chunks() {
    let env = Env::new();
    let records = calls(5000, 0);
    let text = ndjson(&records);
    assert!(text.len() > 2 << 20, "the input crosses at least two chunk boundaries");
    let path = env.write("calls.ndjson", &text);
    let out = score(&env, &[path.to_str().unwrap()]);
    let lines = out.lines();
    assert_eq!(lines.len(), 5000);
    assert_eq!(lines[4999]["eventTime"], records[4999]["eventTime"], "in input order");
    let scores: std::collections::HashSet<String> = lines.iter().map(|l| l["score"].to_string()).collect();
    assert!(scores.len() > 1, "verdicts differ from line to line: {scores:?}");
    let learned = same_with_any_threads(&env, &["learn", "--store", "profiles", path.to_str().unwrap()]);
    assert!(learned.stderr.contains("learned 5000"), "{}", learned.stderr);
}

#[test]
fn a_log_file_larger_than_a_chunk_and_a_record_larger_than_a_chunk() {
    let env = Env::new();
    let mut records = calls(5000, 0);
    let mut huge = calls(1, 5000).remove(0);
    huge["requestParameters"] = json!({ "policy": "x".repeat(3 << 20) });
    records.insert(2500, huge);
    let log_file = env.write("log.json", json!({ "Records": records }).to_string());
    let lines_file = env.write("lines.ndjson", ndjson(&records));
    let from_log = score(&env, &[log_file.to_str().unwrap()]);
    let from_lines = score(&env, &[lines_file.to_str().unwrap()]);
    assert_eq!(from_log.lines().len(), 5001);
    assert!(from_log.stdout == from_lines.stdout, "a log file and NDJSON of the same records score the same");
}

#[test]
fn a_tree_of_gzipped_log_files() {
    let env = Env::new();
    for (n, chunk) in calls(6000, 0).chunks(150).enumerate() {
        let name = format!("AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/{:02}/file-{n:03}.json.gz", 1 + n % 3);
        env.write(&name, gzip(json!({ "Records": chunk }).to_string().as_bytes()));
    }
    let out = score(&env, &["AWSLogs"]);
    assert_eq!(out.lines().len(), 6000);
    assert!(out.stderr.contains("from 40 input(s)"), "{}", out.stderr);
}

#[test]
fn bad_records_are_reported_in_the_same_order() {
    let env = Env::new();
    let mut text = String::new();
    for (i, record) in calls(5000, 0).iter().enumerate() {
        match i % 1700 {
            350 => text.push_str("{\"eventTime\": \"2026-11-01T00:00:00Z\", broken\n"),
            351 => text.push_str("[1, 2, 3]\n"),
            352 => text.push_str(&format!("{}\n", json!({ "eventTime": 5, "userIdentity": record["userIdentity"] }))),
            _ => text.push_str(&format!("{record}\n")),
        }
    }
    let mut log = calls(3000, 0).iter().map(Value::to_string).collect::<Vec<_>>();
    log[2000] = "{\"eventTime\": oops}".to_string();
    let lines = env.write("bad.ndjson", &text);
    let log_file = env.write("bad-log.json", format!("{{\"Records\":[{}]}}", log.join(",")));
    let foreign = env.write("foreign.json", "{\"hello\": \"world\"}\n".repeat(10));
    let inputs = [log_file.to_str().unwrap(), lines.to_str().unwrap(), foreign.to_str().unwrap()];
    let base = baseline(&env);
    let out = same_with_any_threads(&env, &[&["score", "--baseline", &base], &inputs[..]].concat());
    assert_eq!(out.code, 2, "an input with nothing CloudTrail in it is an input error");
    assert!(out.stderr.contains("bad-log.json:1 (record 2000): invalid JSON"), "{}", out.stderr);
    assert!(out.stderr.contains("foreign.json: no CloudTrail record in it"), "{}", out.stderr);
    // The log file's bad record; per bad group of lines, the broken line, the array's three numbers and the
    // wrong eventTime; the ten foreign objects.
    assert!(out.stderr.contains("26 unreadable record(s) skipped"), "{}", out.stderr);
    let strict = same_with_any_threads(&env, &[&["score", "--strict", "--baseline", &base], &inputs[..]].concat());
    assert_eq!(strict.code, 2);
    assert_eq!(strict.lines().len(), 2000, "the calls before the first bad record are written");
}

#[test]
fn calls_between_runs_of_tiny_values_in_every_shape() {
    let env = Env::new();
    // Runs of 60,000 `{}` or `1` between the calls: chunks and the parts they are parsed in end inside them.
    let records = calls(5, 0);
    let elements = |separator: &str| {
        let run = |i: usize| [if i.is_multiple_of(2) { "{}" } else { "1" }; 60_000].join(separator);
        let parts: Vec<String> = records.iter().enumerate().map(|(i, r)| format!("{r}{separator}{}", run(i))).collect();
        parts.join(separator)
    };
    let shapes = [
        ("lines.ndjson", elements("\n")),
        ("line.ndjson", elements(" ")),
        ("log.json", format!("{{\"Records\":[\n{}\n]}}", elements(",\n"))),
        ("array.json", format!("[{}]", elements(","))),
    ];
    for (name, text) in shapes {
        let path = env.write(name, text);
        let out = score(&env, &[path.to_str().unwrap()]);
        assert_eq!(out.lines().len(), 5, "{name}");
        assert!(out.stderr.contains("300000 unreadable record(s) skipped"), "{name}: {}", out.stderr);
    }
}

#[test]
fn stdin_named_twice_is_read_once() {
    let env = Env::new();
    let base = baseline(&env);
    let text = ndjson(&calls(3000, 0));
    let run = |threads: &str| env.run(&["score", "--threads", threads, "--baseline", &base, "-", "-"], &text);
    let (one, two) = (run("1"), run("2"));
    assert_eq!((one.code, &one.stderr), (two.code, &two.stderr));
    assert!(one.stdout == two.stdout);
    assert_eq!(two.lines().len(), 3000);
    assert!(two.stderr.contains("read 3000 record(s) from 2 input(s)"), "{}", two.stderr);
}

/// A live feed: a record written into the pipe comes out scored while the pipe is still open, with any
/// number of threads (an exec stage of Fluent Bit or Vector depends on it).
#[test]
fn a_live_feed_is_scored_record_by_record() {
    let env = Env::new();
    let base = baseline(&env);
    for threads in ["1", "2"] {
        let mut live = env.live(&["score", "-q", "--threads", threads, "--baseline", &base]);
        for record in calls(3, 0) {
            live.send(&format!("{record}\n"));
            let line = live.line();
            assert!(line.contains(record["eventTime"].as_str().unwrap()), "{line}");
        }
        live.close();
        let (status, rest, _) = live.finish();
        assert!(status.success());
        assert_eq!(rest, Vec::<String>::new(), "nothing more than one line per record");
    }
}

/// A record longer than two chunks, then more input into a live pipe: the record is answered once what
/// followed it has doubled what was held, not when the pipe closes (nor is everything after it held).
#[test]
fn a_record_longer_than_two_chunks_is_answered_while_the_pipe_stays_open() {
    let env = Env::new();
    let base = baseline(&env);
    let mut big = calls(1, 0).remove(0);
    big["requestParameters"] = json!({ "items": (0..120_000).map(|i| json!({ "k": i })).collect::<Vec<_>>() });
    let big = serde_json::to_string_pretty(&big).unwrap();
    assert!(big.len() > 2 << 20, "{} bytes", big.len());
    let mut live = env.live(&["score", "-q", "--threads", "2", "--baseline", &base]);
    live.send(&format!("{big}\n"));
    let batch = ndjson(&calls(1000, 1));
    let mut answered = false;
    for _ in 0..40 {
        live.send(&batch);
        if live.line_within(Duration::from_millis(500)).is_some() {
            answered = true;
            break;
        }
    }
    assert!(answered, "the long record was not answered while more input kept coming");
    live.close();
    assert!(live.finish().0.success());
}
