//! keywatcher as an exec stage of Fluent Bit or Vector: a pipe on stdin that stays open, one scored line per
//! record as it arrives, `score --learn` learning what passed (never what was suspicious) and saving it while it
//! runs, and SIGTERM or SIGINT ending the run with everything scored written and everything learned saved.

mod common;

use std::time::{Duration, Instant};

use common::{ANSWER, Env, record};
use serde_json::Value;

const KEY: &str = "AKIAEXAMPLELIVE00001";
const IP: &str = "198.51.100.7";
const AGENT: &str = "aws-cli/2.13.5 Python/3.11.4 Linux/6.1 exe/x86_64.ubuntu.22";

/// A call of the watched key at minute `minute` of 2026-11-03.
fn call(minute: u32, ip: &str, agent: &str, region: &str) -> String {
    let time = format!("2026-11-03T{:02}:{:02}:00Z", 8 + minute / 60, minute % 60);
    format!("{}\n", record(KEY, &time, ip, agent, region, "DescribeInstances"))
}

/// Two days of the key's usual calls: one address, one agent, us-east-1.
fn usual() -> String {
    (0..48)
        .map(|hour| {
            let time = format!("2026-11-{:02}T{:02}:00:00Z", 1 + hour / 24, hour % 24);
            format!("{}\n", record(KEY, &time, IP, AGENT, "us-east-1", "DescribeInstances"))
        })
        .collect()
}

/// A store (the default one) holding the key's usual calls.
fn learned_env() -> Env {
    let env = Env::new();
    let out = env.run(&["learn", "-q"], usual());
    assert_eq!(out.code, 0, "{}", out.stderr);
    env
}

/// The key's stored profile, as `profile export` gives it.
fn stored(env: &Env, key: &str) -> Option<Value> {
    let out = env.run(&["profile", "export"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.lines().into_iter().find(|p| p["accessKeyId"] == key)
}

fn line(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn an_exec_stage_scores_at_once_learns_what_passed_and_stops_cleanly_on_sigterm_or_sigint() {
    for signal in ["TERM", "INT"] {
        let env = learned_env();
        let mut live = env.live(&["score", "--learn"]);
        live.send(&call(0, IP, AGENT, "us-east-1"));
        let usual = line(&live.line());
        assert_eq!((usual["score"].as_u64(), usual["suspicious"].as_bool()), (Some(100), Some(false)), "{usual}");
        // A new region alone scores 75: not suspicious, so learned, and the next call there matches it.
        live.send(&call(1, IP, AGENT, "eu-west-1"));
        let drift = line(&live.line());
        assert_eq!((drift["matched"]["region"].as_bool(), drift["suspicious"].as_bool()), (Some(false), Some(false)));
        live.send(&call(2, IP, AGENT, "eu-west-1"));
        assert_eq!(line(&live.line())["matched"]["region"], true, "scored against what the run learned");
        // A new address and a new agent: suspicious, and never learned, not even after it is seen again.
        for minute in [3, 4] {
            live.send(&call(minute, "203.0.113.99", "curl/8.4.0", "eu-west-1"));
            assert_eq!(line(&live.line())["suspicious"], true);
        }
        // A key without a profile is suspicious, so it is not learned either.
        live.send(&format!(
            "{}\n",
            record("AKIAEXAMPLEUNKNOWN01", "2026-11-03T09:00:00Z", IP, AGENT, "us-east-1", "DescribeInstances")
        ));
        assert_eq!(line(&live.line())["profile"], "unknown");
        // The pipe stays open: the signal alone ends the run.
        live.signal(signal);
        let (status, rest, stderr) = live.finish();
        assert!(status.success(), "SIG{signal}: {status}\n{stderr}");
        assert!(rest.is_empty(), "one line per record: {rest:?}");
        assert!(stderr.contains(&format!("SIG{signal}: stopped")), "{stderr}");
        assert!(stderr.contains("3 call(s) that were not suspicious learned"), "{stderr}");
        let profile = stored(&env, KEY).expect("the key's profile");
        assert_eq!(profile["regions"]["eu-west-1"]["count"], 2, "{profile}");
        assert_eq!(profile["regions"]["us-east-1"]["count"], 49);
        assert!(profile["ips"].get("203.0.113.99").is_none(), "a suspicious call was learned: {profile}");
        assert!(profile["agents"].get("curl/8.4.0").is_none(), "a suspicious call was learned: {profile}");
        assert!(stored(&env, "AKIAEXAMPLEUNKNOWN01").is_none(), "an unknown key was learned");
    }
}

#[test]
fn every_call_scored_before_sigterm_is_written() {
    let env = learned_env();
    let mut live = env.live(&["score", "--learn", "--threads", "2"]);
    let burst: String =
        (0..3000).map(|i| call(i % 600, IP, AGENT, ["us-east-1", "eu-west-1"][i as usize % 2])).collect();
    live.send(&burst);
    live.line();
    live.signal("TERM");
    let (status, rest, stderr) = live.finish();
    assert!(status.success(), "{stderr}");
    let scored: usize = stderr
        .split("scored ")
        .nth(1)
        .and_then(|after| after.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a summary with the calls scored: {stderr}"));
    assert_eq!(1 + rest.len(), scored, "a line for every call scored, and no more");
    let learned = stored(&env, KEY).unwrap();
    let counted: u64 =
        ["us-east-1", "eu-west-1"].iter().map(|r| learned["regions"][r]["count"].as_u64().unwrap_or(0)).sum();
    assert_eq!(counted as usize, 48 + scored, "every call scored (none suspicious) was learned and saved once");
}

/// Starts `score --learn` with `flags`, sends a call to a new region and waits until another process sees it in
/// the store while the run goes on; then stops the run and checks it was saved once only.
fn saved_while_running(flags: &[&str]) {
    let env = learned_env();
    let mut live = env.live(&[&["score", "--learn"], flags].concat());
    live.send(&call(0, IP, AGENT, "eu-west-1"));
    assert_eq!(line(&live.line())["suspicious"], false);
    let started = Instant::now();
    while stored(&env, KEY).unwrap()["regions"].get("eu-west-1").is_none() {
        assert!(started.elapsed() < ANSWER, "{flags:?}: not saved while the run went on");
        std::thread::sleep(Duration::from_millis(200));
    }
    live.signal("TERM");
    let (status, _, stderr) = live.finish();
    assert!(status.success(), "{stderr}");
    assert_eq!(stored(&env, KEY).unwrap()["regions"]["eu-west-1"]["count"], 1, "{flags:?}: saved twice");
}

#[test]
fn learned_calls_are_saved_after_save_every_even_while_the_feed_is_quiet() {
    saved_while_running(&["--save-every", "1s"]);
}

#[test]
fn learned_calls_are_saved_after_save_records_calls() {
    saved_while_running(&["--save-every", "1h", "--save-records", "1"]);
}

/// `score --learn` of 30,000 calls, stdout and stderr piped: about ten chunks, far more lines than a pipe holds.
fn score_learning_many_calls(env: &Env) -> std::process::Child {
    let calls: String = (0..30_000).map(|i| call(i % 600, IP, AGENT, "us-east-1")).collect();
    let input = env.write("calls.ndjson", calls);
    env.command(&[], &["score", "--learn", input.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// How many calls a run says it learned, checked against what the store holds; `env`'s store held 48 before.
fn learned_and_stored(env: &Env, stderr: &str) -> u64 {
    let learned: u64 = stderr
        .lines()
        .find_map(|line| line.strip_prefix("keywatcher: ")?.split_once(" call(s) that were not suspicious learned"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("how many calls were learned: {stderr}"));
    let stored = stored(env, KEY).unwrap()["regions"]["us-east-1"]["count"].as_u64().unwrap();
    assert_eq!(stored, 48 + learned, "what the run says it learned is what the store holds");
    learned
}

#[test]
fn what_was_learned_before_stdout_closed_is_saved() {
    let env = learned_env();
    let mut child = score_learning_many_calls(&env);
    // The reader of the output goes away before the first line; output is written behind scoring, so the run
    // finds stdout closed a few chunks on.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "a closed stdout is not an error: {stderr}");
    assert!(learned_and_stored(&env, &stderr) < 30_000, "stdout closed before the end: {stderr}");
}

#[test]
fn sigterm_ends_a_run_whose_stdout_nobody_reads_and_saves_what_was_learned() {
    let env = learned_env();
    let mut child = score_learning_many_calls(&env);
    // The run blocks on a stdout that is open but never read.
    let unread = child.stdout.take();
    std::thread::sleep(Duration::from_secs(2));
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let (done, ended) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(done.send(child.wait_with_output())));
    let Ok(out) = ended.recv_timeout(ANSWER) else {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid]).status();
        panic!("score did not end within {ANSWER:?} of SIGTERM while its stdout was not read");
    };
    drop(unread);
    let out = out.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "lines were not written: {stderr}");
    assert!(stderr.contains("stdout took nothing"), "says why: {stderr}");
    learned_and_stored(&env, &stderr);
}

#[test]
fn learn_stopped_by_sigterm_keeps_what_it_read() {
    let env = learned_env();
    let mut live = env.live(&["learn"]);
    live.send(&call(0, IP, AGENT, "ap-south-1"));
    // learn writes nothing until the end: give the record time to be read (a slow machine only loses it,
    // and the test says so).
    std::thread::sleep(Duration::from_secs(2));
    live.signal("TERM");
    let (status, _, stderr) = live.finish();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("learned 1"), "the record was not read within 2 s, or not learned: {stderr}");
    assert_eq!(stored(&env, KEY).unwrap()["regions"]["ap-south-1"]["count"], 1);
}

#[test]
fn learn_with_a_baseline_is_refused() {
    let env = learned_env();
    let base = env.write("base.ndjson", call(0, IP, AGENT, "us-east-1"));
    let out = env.run(&["score", "--learn", "--baseline", base.to_str().unwrap()], call(1, IP, AGENT, "us-east-1"));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("--learn saves what it learns into the store"), "{}", out.stderr);
    assert_eq!(out.stdout, "", "nothing scored");
}

#[test]
fn a_key_learned_while_the_stage_runs_is_scored_against_its_profile() {
    const NEW: &str = "AKIAEXAMPLENEWKEY001";
    let new_call = |time: &str| format!("{}\n", record(NEW, time, IP, AGENT, "us-east-1", "DescribeInstances"));
    let env = learned_env();
    let mut live = env.live(&["score", "--learn", "--save-every", "1s"]);
    live.send(&new_call("2026-11-03T09:00:00Z"));
    assert_eq!(line(&live.line())["profile"], "unknown");
    // A person checks the new key's calls and learns them, as the README says, while the stage runs.
    let checked: String = (0..24).map(|hour| new_call(&format!("2026-11-01T{hour:02}:00:00Z"))).collect();
    let out = env.run(&["learn", "-q"], checked);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let started = Instant::now();
    loop {
        live.send(&new_call("2026-11-03T09:05:00Z"));
        if line(&live.line())["profile"] != "unknown" {
            break;
        }
        assert!(started.elapsed() < ANSWER, "the key learned meanwhile is still unknown to the running stage");
        std::thread::sleep(Duration::from_millis(300));
    }
    live.signal("TERM");
    let (status, _, stderr) = live.finish();
    assert!(status.success(), "{stderr}");
}

#[test]
fn sigterm_while_the_store_does_not_answer_at_start_ends_the_process() {
    // A store that does not answer: a named pipe nobody writes in place of the snapshot, whose reading waits as
    // a hung Redis or network mount does. Nothing is scored or learned yet, so SIGTERM ends the process at once
    // instead of being kept for a run that has not begun.
    let env = Env::new();
    let store = env.path("profiles");
    assert!(std::process::Command::new("mkfifo").arg(&store).status().unwrap().success());
    let live = env.live(&["score", "--learn", "--store", store.to_str().unwrap()]);
    // Time to reach the store; a signal that came sooner would end the process the same way.
    std::thread::sleep(Duration::from_secs(1));
    live.signal("TERM");
    let (status, _, stderr) = live.finish();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(15), "{status}: {stderr}");
}

#[test]
fn a_final_save_that_fails_says_how_many_learned_calls_were_lost() {
    let env = Env::new();
    let folder = env.path("state");
    std::fs::create_dir(&folder).unwrap();
    let store = folder.join("profiles");
    let store = store.to_str().unwrap();
    let out = env.run(&["learn", "-q", "--store", store], usual());
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut live = env.live(&["score", "--learn", "--save-every", "1h", "--store", store]);
    live.send(&call(0, IP, AGENT, "eu-west-1"));
    assert_eq!(line(&live.line())["suspicious"], false);
    // The store goes away while the stage runs (an unmounted volume; for Redis, a server still down at the end).
    std::fs::remove_dir_all(&folder).unwrap();
    live.signal("TERM");
    let (status, _, stderr) = live.finish();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1 call(s) learned since the last save could not be saved"), "{stderr}");
    assert!(stderr.contains("does not exist"), "and why: {stderr}");
}
