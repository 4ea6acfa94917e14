//! Crash safety of the local snapshot: a learn killed (SIGKILL) at any moment, saving included, leaves a
//! snapshot that loads and holds either everything before the run or everything after it; learners racing
//! on one snapshot lose none of each other's updates.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Env, ndjson, record};

/// `keys` keys, each with one call; `tag` makes the values differ between inputs.
fn calls(keys: usize, tag: &str) -> String {
    let records: Vec<_> = (0..keys)
        .map(|i| {
            let key = format!("AKIACRASH{i:011}");
            let ip = format!("198.51.{}.{}", i % 250, i % 200);
            record(&key, "2026-11-01T10:00:00Z", &ip, &format!("agent-{tag}"), "eu-west-1", &format!("Event{tag}"))
        })
        .collect();
    ndjson(&records)
}

/// The store's profiles as `profile export` writes them: loading the snapshot is part of the check.
fn export(env: &Env, store: &Path) -> String {
    let out = env.run(&["profile", "export", "--store", store.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "the snapshot no longer loads: {}", out.stderr);
    out.stdout
}

fn learn(env: &Env, store: &Path, input: &Path) -> Command {
    let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("keywatcher"));
    cmd.env("XDG_STATE_HOME", env.path("state"))
        .args(["learn", "-q", "--store", store.to_str().unwrap(), input.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn a_learn_killed_at_any_moment_leaves_the_old_or_the_new_profiles() {
    let env = Env::new();
    // A big snapshot and a small input: most of a run is spent loading and saving the snapshot.
    let old_input = env.write("old.ndjson", calls(3_000, "old"));
    let new_input = env.write("new.ndjson", calls(500, "new"));
    let before = env.path("before");
    assert!(learn(&env, &before, &old_input).status().unwrap().success());
    let old = export(&env, &before);
    let after = env.path("after");
    std::fs::copy(&before, &after).unwrap();
    let started = Instant::now();
    assert!(learn(&env, &after, &new_input).status().unwrap().success());
    let run = started.elapsed();
    let new = export(&env, &after);
    assert_ne!(old, new);

    let store = env.path("store");
    let (mut olds, mut news) = (0, 0);
    for round in 0..16u32 {
        std::fs::copy(&before, &store).unwrap();
        let mut child = learn(&env, &store, &new_input).spawn().unwrap();
        // Spread the kills over the whole run, from start-up to the rename.
        std::thread::sleep(run.mul_f64(f64::from(round % 8) / 7.0 * 1.1));
        let _ = child.kill();
        child.wait().unwrap();
        let now = export(&env, &store);
        match () {
            () if now == old => olds += 1,
            () if now == new => news += 1,
            () => panic!("round {round}: the snapshot holds neither the old nor the new profiles"),
        }
    }
    eprintln!("killed learns: {olds} left the old profiles, {news} the new (an uninterrupted run took {run:?})");
    // Whatever the kills left behind (temporary files, the lock file), the next learn completes and clears it.
    let out = env.run(&["learn", "--store", store.to_str().unwrap(), new_input.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let left: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("store.tmp-"))
        .collect();
    assert!(left.is_empty(), "temporary files of killed runs were left: {left:?}");
}

#[test]
fn racing_learners_lose_none_of_each_others_updates() {
    let env = Env::new();
    let inputs: Vec<_> = (0..4).map(|i| env.write(&format!("in{i}.ndjson"), calls(3_000, &i.to_string()))).collect();
    let serial = env.path("serial");
    for input in &inputs {
        assert!(learn(&env, &serial, input).status().unwrap().success());
    }
    let racing = env.path("racing");
    let children: Vec<_> = inputs.iter().map(|input| learn(&env, &racing, input).spawn().unwrap()).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    for mut child in children {
        assert!(child.wait().unwrap().success());
        assert!(Instant::now() < deadline, "the racing learners did not finish");
    }
    assert_eq!(export(&env, &racing), export(&env, &serial));
}
