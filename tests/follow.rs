//! `score --follow DIR` as a long-running stage fed by a directory that fills (aws s3 sync, a downloader):
//! files added while it runs are scored once each, a file being written is not read half-way, and with
//! `--checkpoint` a run killed and started again repeats nothing and skips nothing; a cron run over a tree
//! with the same checkpoint reads only what is new. The waits are generous: they check that lines come (or
//! do not), not how fast.

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use common::{Env, Live, gzip, ndjson, record};
use serde_json::{Value, json};

/// `n` calls from `start`, a minute apart, each with its own eventID.
fn calls(start: usize, n: usize) -> Vec<Value> {
    (start..start + n)
        .map(|i| {
            let time = format!("2026-11-02T{:02}:{:02}:00Z", i / 60 % 24, i % 60);
            let mut call =
                record("AKIAEXAMPLEFOLLOW1", &time, "198.51.100.7", "aws-cli/2.13.5", "us-east-1", "DescribeInstances");
            call["eventID"] = json!(format!("follow-{i}"));
            call
        })
        .collect()
}

fn ids(records: &[Value]) -> BTreeSet<String> {
    records.iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect()
}

/// The eventIDs of scored lines, each of which must be a whole JSON object, and none twice.
fn line_ids(lines: &[String]) -> BTreeSet<String> {
    let mut got = BTreeSet::new();
    for line in lines {
        let verdict: Value = serde_json::from_str(line).unwrap_or_else(|err| panic!("a line cut short: {err}: {line}"));
        assert!(got.insert(verdict["eventID"].as_str().unwrap().to_string()), "a call scored twice: {line}");
    }
    got
}

/// A running `score --follow` (an exec stage of `Env::live`), its stdout's lines taken as they come.
struct Follower(Live);

impl Follower {
    /// `score --follow --poll-interval SPAN` over `dir` in `env`, scoring against one call learned in memory.
    fn start(env: &Env, dir: &str, span: &str, extra: &[&str]) -> Follower {
        env.write("baseline.ndjson", ndjson(&calls(0, 1)));
        let score = ["score", "-q", "--baseline", "baseline.ndjson", "--follow", "--poll-interval", span];
        Follower(env.live(&[&score[..], extra, &[dir]].concat()))
    }

    /// The eventIDs of the next `n` lines; fails if they do not come while the follower runs.
    fn next(&self, n: usize) -> BTreeSet<String> {
        line_ids(&(0..n).map(|_| self.0.line()).collect::<Vec<_>>())
    }

    /// Fails if a line comes within a few looks.
    fn nothing_more(&self) {
        if let Some(line) = self.0.line_within(Duration::from_millis(1500)) {
            panic!("a line with no new file for it: {line}");
        }
    }

    /// Sends `signal` (KILL, as a crash would; TERM, as Vector or systemd do) and waits for the end: the exit
    /// status, the lines not yet taken and stderr.
    fn end(self, signal: &str) -> (ExitStatus, Vec<String>, String) {
        self.0.signal(signal);
        self.0.finish()
    }

    /// Kills it, as a crash or `kill -9` would, and gives its stderr.
    fn kill(self) -> String {
        self.end("KILL").2
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
    // Then it sets the file's time to the object's LastModified: a change of stamp, not a new file.
    let renamed = std::fs::File::options().write(true).open(env.path("trail/2026/11/02/c.json.gz")).unwrap();
    renamed.set_modified(std::time::SystemTime::now() - Duration::from_secs(3600)).unwrap();
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

#[test]
fn sigterm_while_following_waits_ends_it_cleanly_and_a_restart_goes_on() {
    let env = Env::new();
    let cp = ["--checkpoint", "done"];
    let a = calls(1, 2);
    env.write("trail/x/a.json", log_file(&a));
    let follower = Follower::start(&env, "trail", "200ms", &cp);
    assert_eq!(follower.next(2), ids(&a));
    recorded(&env.path("done"), "a.json");

    // Two followers on one checkpoint would both append to it: the second is refused.
    let second = env.run(&["score", "-q", "--follow", "--checkpoint", "done", "trail"], "");
    assert_eq!(second.code, 2);
    assert!(second.stderr.contains("is in use by another keywatcher"), "{}", second.stderr);

    // --poll-interval takes a span (`200ms` above) or seconds, as --save-every does; never zero.
    let zero = env.run(&["score", "--follow", "--poll-interval", "0", "trail"], "");
    assert_eq!(zero.code, 2);
    assert!(zero.stderr.contains("'0' is not a span of time"), "{}", zero.stderr);

    let (status, rest, stderr) = follower.end("TERM");
    assert!(status.success(), "{status:?} {stderr}");
    assert!(rest.is_empty() && stderr.is_empty(), "{rest:?} {stderr}");

    let b = calls(3, 1);
    let follower = Follower::start(&env, "trail", "0.2", &cp);
    follower.nothing_more();
    env.write("trail/y/b.json", log_file(&b));
    assert_eq!(follower.next(1), ids(&b));
    let (status, rest, stderr) = follower.end("INT");
    assert!(status.success() && rest.is_empty(), "{status:?} {rest:?} {stderr}");
}

#[test]
fn sigterm_while_a_file_is_read_repeats_at_most_that_file_and_skips_nothing() {
    let env = Env::new();
    let cp = ["--checkpoint", "done"];
    // The middle file is long enough (some 3 MB) for the signal to come while it is read.
    let files = [calls(1, 2), calls(3, 5_000), calls(5_003, 2)];
    for (name, file) in ["a.ndjson", "b.ndjson", "c.ndjson"].iter().zip(&files) {
        env.write(&format!("trail/{name}"), ndjson(file));
    }
    let all: BTreeSet<String> = files.iter().flat_map(|file| ids(file)).collect();
    let follower = Follower::start(&env, "trail", "0.2", &cp);
    let mut first = follower.next(3);
    let (status, rest, stderr) = follower.end("TERM");
    assert!(status.success() && stderr.is_empty(), "{status:?} {stderr}");
    first.extend(line_ids(&rest));

    let follower = Follower::start(&env, "trail", "0.2", &cp);
    let mut again = BTreeSet::new();
    while first.union(&again).count() < all.len() {
        let got = follower.next(1);
        assert!(again.is_disjoint(&got), "read twice after the restart: {got:?}");
        again.extend(got);
    }
    follower.nothing_more();
    let (status, _, stderr) = follower.end("TERM");
    assert!(status.success(), "{status:?} {stderr}");
    assert_eq!(first.union(&again).cloned().collect::<BTreeSet<_>>(), all, "no call skipped");
    let repeated: BTreeSet<String> = first.intersection(&again).cloned().collect();
    assert!(
        files.iter().any(|file| repeated.is_subset(&ids(file))),
        "only the file the signal cut short is read again: {} calls repeated",
        repeated.len()
    );
}

/// How many calls the profiles in `store` have learned.
fn learned_calls(env: &Env, store: &str) -> u64 {
    let export = env.run(&["profile", "export", "--store", store], "");
    assert_eq!(export.code, 0, "{}", export.stderr);
    let profiles = export.lines();
    profiles
        .iter()
        .flat_map(|p| p["events"].as_object().unwrap().values())
        .map(|seen| seen["count"].as_u64().unwrap())
        .sum()
}

#[test]
fn a_learning_follower_saves_while_it_waits_between_looks_and_at_sigterm() {
    let env = Env::new();
    env.write("known.ndjson", ndjson(&calls(0, 1)));
    assert_eq!(env.run(&["learn", "--store", "profiles", "known.ndjson"], "").code, 0);
    env.write("trail/a.json", log_file(&calls(1, 2)));
    let score = ["score", "-q", "--store", "profiles", "--learn", "--save-every", "1s"];
    let follower = Follower(env.live(&[&score[..], &["--follow", "--poll-interval", "0.2", "trail"]].concat()));
    assert_eq!(follower.next(2), ids(&calls(1, 2)));
    // No new file comes: only a save made while following waits between looks stores these two.
    let deadline = Instant::now() + Duration::from_secs(30);
    while learned_calls(&env, "profiles") < 3 {
        assert!(Instant::now() < deadline, "what was learned is not saved while the follower waits");
        std::thread::sleep(Duration::from_millis(200));
    }
    env.write("trail/b.json", log_file(&calls(3, 1)));
    assert_eq!(follower.next(1), ids(&calls(3, 1)));
    let (status, rest, stderr) = follower.end("TERM");
    assert!(status.success() && rest.is_empty(), "{status:?} {rest:?} {stderr}");
    assert_eq!(learned_calls(&env, "profiles"), 4, "the call learned last is saved at SIGTERM");
}

#[test]
fn a_learn_with_a_checkpoint_stopped_by_sigterm_records_nothing_and_skips_nothing_next_time() {
    let env = Env::new();
    env.write("a.json", log_file(&calls(1, 2)));
    env.write("c.json", log_file(&calls(5, 1)));
    // A named pipe that nothing writes to: the run waits there, after a.json, until the signal.
    let made = std::process::Command::new("mkfifo").arg(env.path("b.json")).status().unwrap();
    assert!(made.success());
    let learn = ["learn", "--store", "profiles", "--checkpoint", "learned", "a.json", "b.json", "c.json"];
    let stopped = env.live(&learn);
    std::thread::sleep(Duration::from_secs(1));
    stopped.signal("TERM");
    let (status, _, stderr) = stopped.finish();
    assert!(status.success(), "{status:?} {stderr}");
    assert!(stderr.contains("SIGTERM"), "{stderr}");
    let checkpoint = std::fs::read_to_string(env.path("learned")).unwrap();
    assert_eq!(
        checkpoint.lines().count(),
        1,
        "only the header: a stopped run may not have read every file:\n{checkpoint}"
    );

    std::fs::remove_file(env.path("b.json")).unwrap();
    env.write("b.json", log_file(&calls(3, 2)));
    let again = env.run(&learn, "");
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stderr.contains("learned 5"), "every file learned again, none skipped: {}", again.stderr);
}

#[test]
fn the_tree_may_change_under_a_follower() {
    let env = Env::new();
    let a = calls(1, 2);
    env.write("trail/x/a.json", log_file(&a));
    // A symbolic link loop: the tree holding it is walked once.
    std::os::unix::fs::symlink("..", env.path("trail/x/loop")).unwrap();
    let follower = Follower::start(&env, "trail", "0.2", &[]);
    assert_eq!(follower.next(2), ids(&a));

    // Deleted before it was taken; cut short and written again before it was taken.
    let gone = env.write("trail/y/gone.json", log_file(&calls(10, 1)));
    std::fs::remove_file(gone).unwrap();
    env.write("trail/y/cut.ndjson", ndjson(&calls(20, 3)));
    env.write("trail/y/cut.ndjson", ndjson(&calls(20, 1)));
    assert_eq!(follower.next(1), ids(&calls(20, 1)));
    follower.nothing_more();

    // A directory removed (a cleaner, `aws s3 sync --delete`), then a new one.
    std::fs::remove_dir_all(env.path("trail/x")).unwrap();
    let d = calls(30, 1);
    env.write("trail/z/d.json", log_file(&d));
    assert_eq!(follower.next(1), ids(&d));
    follower.nothing_more();
    let stderr = follower.kill();
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn dedup_drops_a_record_delivered_again_in_a_later_file_when_files_are_read_one_at_a_time() {
    let env = Env::new();
    let (a, b) = (calls(1, 2), calls(2, 2));
    env.write("trail/1/a.json", log_file(&a));
    env.write("trail/2/b.json", log_file(&b));
    let expected = ids(&[a, b].concat());
    let follower = Follower::start(&env, "trail", "0.2", &["--dedup", "100"]);
    assert_eq!(follower.next(3), expected, "follow-2 is in both files");
    follower.nothing_more();
    let (status, _, stderr) = follower.end("TERM");
    assert!(status.success(), "{status:?} {stderr}");

    env.write("baseline.ndjson", ndjson(&calls(0, 1)));
    let cron =
        env.run(&["score", "--baseline", "baseline.ndjson", "--dedup", "100", "--checkpoint", "done", "trail"], "");
    assert_eq!(cron.code, 0, "{}", cron.stderr);
    assert_eq!(line_ids(&cron.stdout.lines().map(String::from).collect::<Vec<_>>()), expected);
    assert!(cron.stderr.contains("dropped 1 duplicate(s) (--dedup)"), "{}", cron.stderr);
}

#[test]
fn a_checkpoint_kept_inside_the_tree_is_not_read_as_input() {
    let env = Env::new();
    let a = calls(1, 2);
    env.write("trail/a.json", log_file(&a));
    let follower = Follower::start(&env, "trail", "0.2", &["--checkpoint", "trail/done"]);
    assert_eq!(follower.next(2), ids(&a));
    follower.nothing_more();
    let stderr = follower.kill();
    assert!(stderr.is_empty(), "{stderr}");

    std::fs::remove_file(env.path("trail/done")).unwrap();
    let cron = env.run(&["score", "-q", "--baseline", "baseline.ndjson", "--checkpoint", "trail/cron", "trail"], "");
    assert_eq!((cron.code, cron.stderr.as_str()), (0, ""));
    assert_eq!(ids(&cron.lines()), ids(&a));
}

#[test]
fn files_are_recorded_as_their_lines_go_out_while_a_slow_reader_keeps_batches_waiting() {
    let env = Env::new();
    // Eight files of about a chunk each: a batch of some 0.6 MB of lines per file, which the reader below takes
    // in about half a second, while scoring one takes far less: batches always wait for the writer.
    let (files, calls_per_file) = (8, 1_500);
    for file in 0..files {
        env.write(&format!("trail/{file}.ndjson"), ndjson(&calls(file * calls_per_file, calls_per_file)));
    }
    let mut child = env
        .command(&[], &["score", "-q", "--checkpoint", "done", "trail"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut block = vec![0; 64 << 10];
    // The lines read when the first file was seen recorded.
    let mut lines = 0;
    let first = loop {
        let read = stdout.read(&mut block).unwrap();
        if read == 0 {
            break None;
        }
        lines += block[..read].iter().filter(|&&b| b == b'\n').count();
        if std::fs::read_to_string(env.path("done")).unwrap_or_default().lines().count() > 1 {
            break Some(lines);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    let first = first.expect("the run ended with no file recorded");
    assert!(
        first + calls_per_file < files * calls_per_file,
        "the first file was recorded only once {first} of {} lines were out",
        files * calls_per_file
    );
}
