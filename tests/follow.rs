//! `score --follow DIR` as a long-running stage fed by a directory that fills (aws s3 sync, a downloader):
//! files added while it runs are scored once each, a file being written is not read half-way, and with
//! `--checkpoint` a run killed and started again repeats nothing and skips nothing; a cron run over a tree
//! with the same checkpoint reads only what is new. The waits are generous: they check that lines come (or
//! do not), not how fast.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Env, gzip, ndjson, record};
use serde_json::{Value, json};

/// `n` calls from `start`, a minute apart, each with its own eventID.
fn calls(start: usize, n: usize) -> Vec<Value> {
    (start..start + n)
        .map(|i| {
            let time = format!("2026-11-02T{:02}:{:02}:00Z", i / 60 % 24, i % 60);
            record("AKIAEXAMPLEFOLLOW1", &time, "198.51.100.7", "aws-cli/2.13.5", "us-east-1", "DescribeInstances")
        })
        .collect()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records.iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect()
}

/// `score --follow --poll-interval SECONDS` over `dir` in `env`: the child and its stdout's lines as they come.
struct Follower {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Follower {
    fn start(env: &Env, dir: &str, seconds: &str, extra: &[&str]) -> Follower {
        let base = env.write("baseline.ndjson", ndjson(&calls(0, 1)));
        let mut child = Command::new(env!("CARGO_BIN_EXE_keywatcher"))
            .args(["score", "-q", "--baseline", base.to_str().unwrap(), "--follow", "--poll-interval", seconds])
            .args(extra)
            .arg(dir)
            .env("XDG_STATE_HOME", env.path("state"))
            .current_dir(env.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || stdout.lines().map_while(Result::ok).for_each(|line| send.send(line).unwrap()));
        Follower { child, lines }
    }

    /// The eventIDs of the next `n` lines; fails if they do not come while the follower runs.
    fn next(&self, n: usize) -> BTreeSet<String> {
        let mut got = BTreeSet::new();
        for _ in 0..n {
            let line = self.lines.recv_timeout(Duration::from_secs(30)).expect("a scored line of a new file");
            let verdict: Value = serde_json::from_str(&line).unwrap();
            assert!(got.insert(verdict["eventID"].as_str().unwrap().to_string()), "a call scored twice: {line}");
        }
        got
    }

    /// Fails if a line comes within a few looks.
    fn nothing_more(&self) {
        if let Ok(line) = self.lines.recv_timeout(Duration::from_millis(1500)) {
            panic!("a line with no new file for it: {line}");
        }
    }

    /// Kills it, as a crash or `kill -9` would, and gives its stderr.
    fn kill(mut self) -> String {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut self.child.stderr.take().unwrap(), &mut stderr).unwrap();
        stderr
    }
}

fn log_file(records: &[Value]) -> String {
    json!({ "Records": records }).to_string()
}

#[test]
fn files_added_while_running_are_scored_once() {
    let env = Env::new();
    let first = calls(1, 2);
    env.write("trail/2026/11/01/a.json.gz", gzip(log_file(&first).as_bytes()));
    let follower = Follower::start(&env, "trail", "0.2", &[]);
    assert_eq!(follower.next(2), ids(&first), "a file there at the start");

    let second = calls(3, 3);
    env.write("trail/2026/11/02/b.ndjson", ndjson(&second));
    assert_eq!(follower.next(3), ids(&second), "a file added in a new directory");

    // As aws s3 sync downloads: a temporary name, then a rename to the real one.
    let third = calls(6, 2);
    let temporary = env.write("trail/2026/11/02/c.json.gz.9f3A0b1C", gzip(log_file(&third).as_bytes()));
    let hidden = env.write("trail/2026/11/02/.d.json.gz.XyZ123", gzip(log_file(&calls(8, 1)).as_bytes()));
    follower.nothing_more();
    std::fs::rename(&temporary, env.path("trail/2026/11/02/c.json.gz")).unwrap();
    assert_eq!(follower.next(2), ids(&third), "the renamed download");
    follower.nothing_more();
    assert!(hidden.exists());
    let stderr = follower.kill();
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_file_being_written_is_not_read_half_way() {
    let env = Env::new();
    std::fs::create_dir(env.path("trail")).unwrap();
    // Looks two seconds apart, and a writer that pauses for less than that between its writes.
    let follower = Follower::start(&env, "trail", "2", &[]);
    let records = calls(1, 4);
    let text = log_file(&records);
    let mut file = std::fs::File::create(env.path("trail/slow.json")).unwrap();
    for part in text.as_bytes().chunks(text.len().div_ceil(4)) {
        file.write_all(part).unwrap();
        file.flush().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    drop(file);
    assert_eq!(follower.next(records.len()), ids(&records));
    follower.nothing_more();
    let stderr = follower.kill();
    assert!(stderr.is_empty(), "read while it was written: {stderr}");
}

/// Waits until the checkpoint names `name`: the file is then done, and a kill cannot make it be read again.
fn recorded(checkpoint: &Path, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !std::fs::read_to_string(checkpoint).unwrap_or_default().contains(name) {
        assert!(Instant::now() < deadline, "{name} never recorded in the checkpoint");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_follower_killed_and_started_again_repeats_nothing_and_skips_nothing() {
    let env = Env::new();
    let checkpoint = env.path("done");
    let cp = ["--checkpoint", checkpoint.to_str().unwrap()];
    let (a, b, c, d) = (calls(1, 2), calls(3, 2), calls(5, 3), calls(8, 1));
    env.write("trail/x/a.json", log_file(&a));
    let follower = Follower::start(&env, "trail", "0.2", &cp);
    assert_eq!(follower.next(2), ids(&a));
    env.write("trail/y/b.json.gz", gzip(log_file(&b).as_bytes()));
    assert_eq!(follower.next(2), ids(&b));
    recorded(&checkpoint, "b.json.gz");
    follower.kill();

    // Files that came while it was down, before and after the done ones in path order.
    env.write("trail/w/c.ndjson", ndjson(&c));
    env.write("trail/z/d.json", log_file(&d));
    let follower = Follower::start(&env, "trail", "0.2", &cp);
    let again = follower.next(4);
    assert_eq!(again, ids(&[c, d].concat()), "only the files not done before the kill");
    follower.nothing_more();
    recorded(&checkpoint, "d.json");
    let stderr = follower.kill();
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn a_cron_run_with_a_checkpoint_reads_only_new_files() {
    let env = Env::new();
    let base = env.write("baseline.ndjson", ndjson(&calls(0, 1)));
    let score = ["score", "--baseline", base.to_str().unwrap(), "--checkpoint", "done", "trail"];
    let (a, b) = (calls(1, 2), calls(3, 1));
    env.write("trail/1/a.json.gz", gzip(log_file(&a).as_bytes()));
    let first = env.run(&score, "");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(ids(&first.lines()), ids(&a));

    env.write("trail/0/b.json", log_file(&b));
    let second = env.run(&score, "");
    assert_eq!(ids(&second.lines()), ids(&b), "only the new file, though it sorts first");
    assert!(
        second.stderr.contains("1 input file(s) skipped: the checkpoint records them as done"),
        "{}",
        second.stderr
    );
    assert_eq!(env.run(&score, "").stdout, "", "nothing new");

    // A --key that no file carries is named once for the baseline and once for the two files, not per file.
    let keyed = env.run(&[&score[..3], &["--key", "AKIANOWHERE", "--checkpoint", "other", "trail"]].concat(), "");
    assert_eq!(keyed.stderr.matches("no record carries --key AKIANOWHERE").count(), 2, "{}", keyed.stderr);

    let stdin = env.run(&["score", "--checkpoint", "done"], ndjson(&a));
    assert_eq!(stdin.code, 2);
    assert!(stdin.stderr.contains("--checkpoint records files, and stdin is not one"), "{}", stdin.stderr);
    let foreign = env.run(&["score", "--checkpoint", "baseline.ndjson", "trail"], "");
    assert_eq!(foreign.code, 2);
    assert!(foreign.stderr.contains("is not a keywatcher checkpoint"), "{}", foreign.stderr);
}

#[test]
fn a_cron_learn_with_a_checkpoint_learns_each_file_once() {
    let env = Env::new();
    let learn = ["learn", "--store", "profiles", "--checkpoint", "learned", "trail"];
    env.write("trail/1/a.json", log_file(&calls(1, 2)));
    let first = env.run(&learn, "");
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(first.stderr.contains("learned 2"), "{}", first.stderr);
    assert!(env.run(&learn, "").stderr.contains("learned 0"), "the file is not learned twice");
    env.write("trail/2/b.json.gz", gzip(log_file(&calls(3, 1)).as_bytes()));
    assert!(env.run(&learn, "").stderr.contains("learned 1"), "only the new file");
    let profile = env.run(&["profile", "export", "--store", "profiles"], "");
    let calls: u64 =
        profile.lines()[0]["events"].as_object().unwrap().values().map(|seen| seen["count"].as_u64().unwrap()).sum();
    assert_eq!(calls, 3, "{}", profile.stdout);
}
