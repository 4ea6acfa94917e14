//! keywatcher as an exec stage (Fluent Bit, Vector): a long-lived process reading a live pipe answers each
//! record as it comes, without waiting for more input or for the pipe to close.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{Env, fixture, record};
use serde_json::Value;

/// Generous: this checks that the answer comes, not how fast.
const ANSWER: Duration = Duration::from_secs(30);

#[test]
fn each_record_written_into_a_live_pipe_is_answered_before_the_next() {
    let env = Env::new();
    let baseline = fixture("baseline.ndjson");
    let mut child = Command::new(assert_cmd::cargo::cargo_bin("keywatcher"))
        .env("XDG_STATE_HOME", env.path("state"))
        .args(["score", "-q", "--baseline", baseline.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (tx, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let ips = ["203.0.113.10", "192.0.2.66", "203.0.113.10"];
    for (i, ip) in ips.iter().enumerate() {
        let time = format!("2026-11-02T10:00:0{i}Z");
        let call = record("AKIAEXAMPLECIDEPLOY1", &time, ip, "aws-cli/2.13.5", "us-east-1", "DescribeInstances");
        writeln!(stdin, "{call}").unwrap();
        stdin.flush().unwrap();
        let line =
            lines.recv_timeout(ANSWER).unwrap_or_else(|_| panic!("record {i} not answered while the pipe is open"));
        let verdict: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(verdict["sourceIPAddress"], *ip);
        assert_eq!(verdict["eventTime"], time);
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
    reader.join().unwrap();
    assert!(lines.try_recv().is_err(), "more lines than records");
}
