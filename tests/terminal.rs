//! What a person sees at a terminal: the binary run under a real pseudo-terminal (`script` from util-linux)
//! or with colour forced — the scored-call table, its colours and `NO_COLOR`, records holding escape
//! sequences, the progress bar — and `profile show`, `--help`, completions and the man page.

mod common;

use std::process::Command;

use common::{Env, fixture, ndjson, record};

/// An agent that would clear the screen, retitle the terminal and print what follows backwards (U+202E) if it
/// reached it raw.
const SLY_AGENT: &str = "aws-cli/2 \u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}exe.live";

/// Runs keywatcher with stdin, stdout and stderr on a pseudo-terminal; returns everything it wrote there.
fn in_terminal(env: &Env, args: &[&str], vars: &[(&str, &str)]) -> String {
    let script = which("script");
    let mut command = format!("exec {}", env!("CARGO_BIN_EXE_keywatcher"));
    for arg in args {
        command.push_str(&format!(" '{}'", arg.replace('\'', r"'\''")));
    }
    let mut run = Command::new(script);
    run.args(["-qefc", &command, "/dev/null"]).current_dir(env.dir.path()).env("XDG_STATE_HOME", env.path("state"));
    for (name, _) in std::env::vars_os().filter(|(name, _)| name.to_string_lossy().starts_with("KEYWATCHER_")) {
        run.env_remove(name);
    }
    run.env_remove("NO_COLOR").env("TERM", "xterm-256color").envs(vars.iter().copied());
    let out = run.stdin(std::process::Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{command}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Where a tool is, or a skip (a failure under CI=true, where .ci/run installs it).
fn which(tool: &str) -> String {
    let found =
        std::env::split_paths(&std::env::var_os("PATH").unwrap()).map(|dir| dir.join(tool)).find(|p| p.is_file());
    match found {
        Some(path) => path.display().to_string(),
        None => panic!("{tool} is not installed (apt-get install bsdutils)"),
    }
}

/// A baseline of one key, and calls to score: one that fits, one from a new address whose agent holds an
/// escape sequence.
fn calls(env: &Env) -> (String, String) {
    let known = record("AKIAEXAMPLE00001", "2026-11-01T10:00:00Z", "198.51.100.1", "aws-cli/2", "us-east-1", "X");
    let mut sly = record("AKIAEXAMPLE00001", "2026-11-02T10:00:00Z", "203.0.113.9", SLY_AGENT, "us-east-1", "X");
    sly["userIdentity"]["userName"] = "ci\u{1b}[31m".into();
    let base = env.write("base.ndjson", ndjson(std::slice::from_ref(&known)));
    let calls = env.write("calls.ndjson", ndjson(&[known, sly]));
    (base.display().to_string(), calls.display().to_string())
}

#[test]
fn a_terminal_gets_a_coloured_table_and_escape_sequences_from_records_stay_visible_text() {
    let env = Env::new();
    let (base, calls) = calls(&env);
    let screen = in_terminal(&env, &["score", "-q", "--baseline", &base, &calls], &[]);
    let lines: Vec<&str> = screen.lines().collect();
    assert_eq!(lines.len(), 3, "{screen:?}");
    assert!(lines[0].contains("TIME") && lines[0].contains("AGENT"), "a header: {screen:?}");
    assert!(lines[1].starts_with("   2026-11-01T10:00:00Z  AKIAEXAMPLE00001"), "{screen:?}");
    assert!(lines[2].starts_with("\u{1b}[1;31m!  2026-11-02T10:00:00Z"), "the suspicious row is red: {screen:?}");
    assert!(lines[2].contains(r"ci\u{1b}[31m"), "{screen:?}");
    assert!(lines[2].contains(r"aws-cli/2 \u{1b}[2J\u{1b}]0;pwned\u{7}\u{202e}exe.live"), "{screen:?}");
    for raw in ["\u{1b}[2J", "\u{1b}]0;", "\u{7}", "ci\u{1b}[31m", "\u{202e}"] {
        assert!(!screen.contains(raw), "{raw:?} reached the terminal: {screen:?}");
    }

    let plain = in_terminal(&env, &["score", "-q", "--baseline", &base, &calls], &[("NO_COLOR", "1")]);
    assert!(!plain.contains('\u{1b}'), "NO_COLOR: {plain:?}");
    assert!(plain.lines().nth(2).unwrap().starts_with("!  2026-11-02"), "marked without colour too: {plain:?}");
    let forced =
        in_terminal(&env, &["score", "-q", "--color", "always", "--baseline", &base, &calls], &[("NO_COLOR", "1")]);
    assert!(forced.contains("\u{1b}[1;31m"), "--color always wins over NO_COLOR: {forced:?}");
    let json = in_terminal(&env, &["score", "-q", "--format", "json", "--baseline", &base, &calls], &[]);
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["score"], 100, "{json:?}");
}

#[test]
fn a_pipe_gets_json_unless_the_table_is_asked_for() {
    let env = Env::new();
    let (base, calls) = calls(&env);
    let out = env.run(&["score", "--baseline", &base, &calls], "");
    assert_eq!(out.lines().len(), 2, "{}", out.stdout);
    let table = env.run(&["score", "--format", "table", "--color", "always", "--baseline", &base, &calls], "");
    assert!(table.stdout.starts_with("\u{1b}[2m   TIME"), "{:?}", table.stdout);
    assert_eq!(table.stdout.matches("\u{1b}[1;31m!").count(), 1, "{:?}", table.stdout);
    let plain = env.run(&["score", "--format", "table", "--baseline", &base, &calls], "");
    assert!(!plain.stdout.contains('\u{1b}') && plain.stdout.contains("!  2026-11-02"), "{:?}", plain.stdout);
}

#[test]
fn a_run_over_files_on_a_terminal_shows_progress_then_the_summary() {
    let env = Env::new();
    let records = std::fs::read(fixture("baseline.ndjson")).unwrap();
    for i in 0..3 {
        env.write(&format!("tree/{i}.ndjson"), &records);
    }
    let screen = in_terminal(&env, &["learn", "tree"], &[]);
    assert!(screen.contains("/3 files") && screen.contains("B/s") && screen.contains("ETA"), "{screen:?}");
    let summary = screen.rfind("keywatcher: learn: read").expect("the summary line");
    assert!(!screen[summary..].contains("files,"), "the bar is gone before the summary: {screen:?}");
    let quiet = in_terminal(&env, &["learn", "-q", "tree"], &[]);
    assert!(!quiet.contains("files,") && !quiet.contains("keywatcher: learn"), "{quiet:?}");
    let table = in_terminal(&env, &["score", "tree"], &[]);
    assert!(!table.contains("files,") && table.contains("TIME"), "no bar over a table on the terminal: {table:?}");
    let piped = env.run(&["learn", "tree"], "");
    assert!(!piped.stderr.contains("files,") && piped.stderr.contains("learn: read"), "{}", piped.stderr);
}

#[test]
fn profile_show_lists_keys_and_one_key_in_detail() {
    let env = Env::new();
    let calls = [
        record("AKIAEXAMPLE00001", "2026-11-01T10:00:00Z", "198.51.100.1", "aws-cli/2", "us-east-1", "X"),
        record("AKIAEXAMPLE00001", "2026-11-03T10:00:00Z", "198.51.100.1", "aws-cli/2", "eu-west-1", "X"),
        record("AKIAEXAMPLE00001", "2026-11-02T10:00:00Z", "203.0.113.9", "boto3/1", "us-east-1", "Y"),
        record("AKIAEXAMPLE00002", "2026-11-02T10:00:00Z", "203.0.113.9", "boto3/1", "us-east-1", "Y"),
    ];
    assert_eq!(env.run(&["learn"], ndjson(&calls)).code, 0);
    let table = env.run(&["profile", "show"], "").stdout;
    let rows: Vec<Vec<&str>> = table.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["KEY", "USER", "ACCOUNT", "TYPE", "IPS", "AGENTS", "REGIONS", "EVENTS", "LAST", "SEEN"]);
    assert_eq!(
        rows[1],
        ["AKIAEXAMPLE00001", "ci", "123456789012", "IAMUser", "2", "2", "2", "2", "2026-11-03T10:00:00Z"]
    );
    assert_eq!(rows.len(), 3, "{table}");

    let one = env.run(&["profile", "show", "AKIAEXAMPLE00001"], "").stdout;
    assert!(one.starts_with("key      AKIAEXAMPLE00001\nuser     ci (IAMUser)\n"), "{one}");
    assert!(one.contains("seen     2026-11-01T10:00:00Z to 2026-11-03T10:00:00Z"), "{one}");
    let ip_rows: Vec<Vec<&str>> = one
        .split("\n\n")
        .find(|block| block.starts_with("COUNT") && block.lines().next().unwrap().ends_with(" IP"))
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        ip_rows,
        [
            vec!["COUNT", "FIRST", "SEEN", "LAST", "SEEN", "IP"],
            vec!["2", "2026-11-01T10:00:00Z", "2026-11-03T10:00:00Z", "198.51.100.1"],
            vec!["1", "2026-11-02T10:00:00Z", "2026-11-02T10:00:00Z", "203.0.113.9"],
        ],
        "most used first: {one}"
    );
    assert!(one.contains("ec2.amazonaws.com:Y"), "{one}");
    let json = env.run(&["profile", "show", "--json", "AKIAEXAMPLE00001"], "");
    assert_eq!(json.lines()[0]["ips"]["198.51.100.1"]["count"], 2);
    assert_eq!(json.lines().len(), 1);

    // The detail is for a key named whole; a pattern gets the table, even when it matches one key, and so
    // does `profile show` on a store of one key.
    let one_match = env.run(&["profile", "show", "EXAMPLE00002"], "").stdout;
    assert!(one_match.starts_with("KEY ") && one_match.lines().count() == 2, "{one_match}");
    let by_user = env.run(&["profile", "show", "123456789012"], "").stdout;
    assert!(by_user.starts_with("KEY "), "{by_user}");
    assert_eq!(env.run(&["profile", "delete", "AKIAEXAMPLE00002"], "").code, 0);
    let table = env.run(&["profile", "show"], "").stdout;
    assert!(table.starts_with("KEY ") && table.lines().count() == 2, "one key, still a table: {table}");
    let partial = env.run(&["profile", "show", "EXAMPLE00001"], "").stdout;
    assert!(partial.starts_with("KEY "), "{partial}");
    let named = env.run(&["profile", "show", "AKIAEXAMPLE00001"], "").stdout;
    assert!(named.starts_with("key      AKIAEXAMPLE00001\n"), "{named}");
}

#[test]
fn every_subcommand_has_an_example_and_completions_and_man_page_are_generated() {
    let env = Env::new();
    let commands: [&[&str]; 11] = [
        &[],
        &["learn"],
        &["score"],
        &["report"],
        &["profile", "show"],
        &["profile", "delete"],
        &["profile", "export"],
        &["profile", "import"],
        &["completions"],
        &["man"],
        &["profile"],
    ];
    for command in commands {
        let mut args = command.to_vec();
        args.push("--help");
        let help = env.run(&args, "");
        assert_eq!(help.code, 0, "{args:?}: {}", help.stderr);
        let example = format!("$ keywatcher {}", command.join(" "));
        assert!(help.stdout.contains(example.trim_end()), "{args:?} has no example like {example:?}");
    }
    for (shell, marker) in [("bash", "complete -F"), ("zsh", "#compdef keywatcher"), ("fish", "complete -c keywatcher")]
    {
        let script = env.run(&["completions", shell], "");
        assert_eq!(script.code, 0, "{shell}: {}", script.stderr);
        assert!(script.stdout.contains(marker) && script.stdout.contains("report"), "{shell}: {}", script.stdout);
    }
    let man = env.run(&["man"], "");
    assert_eq!(man.code, 0, "{}", man.stderr);
    // One page: every subcommand has its section there, with its flags; no other page is referred to.
    for part in [
        ".TH keywatcher 1",
        ".SS \"keywatcher score\"",
        "\\fB\\-\\-threshold\\fR \\fI<N>\\fR",
        ".SS \"keywatcher report\"",
        "\\fB\\-o\\fR, \\fB\\-\\-output\\fR",
        ".SS \"keywatcher profile show\"",
        "$ keywatcher profile import \\-\\-replace profiles.jsonl",
    ] {
        assert!(man.stdout.contains(part), "the man page has no {part}: {}", man.stdout);
    }
    assert!(!man.stdout.contains("(1)"), "refers to a page that does not exist: {}", man.stdout);
    assert_eq!(man.stdout.matches(".TH ").count(), 1);
}
