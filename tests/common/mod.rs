//! What the behaviour tests share: a temporary folder with its own default store, the real binary run in
//! it (to the end, or live as an exec stage), and record builders. Each test file uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use flate2::write::GzEncoder;
use serde_json::Value;

/// A temporary working folder whose default store lives inside it; no KEYWATCHER_* variable leaks in.
pub struct Env {
    pub dir: tempfile::TempDir,
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not one JSON object per line: {e}: {line}"))
            })
            .collect()
    }
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::tempdir().unwrap() }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    pub fn run(&self, args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
        self.run_with(&[], args, stdin)
    }

    /// Runs with these environment variables set (after the KEYWATCHER_* and REDISCLI_AUTH of the test's own
    /// environment are removed).
    pub fn run_with(&self, vars: &[(&str, &str)], args: &[&str], stdin: impl AsRef<[u8]>) -> Output {
        let out = assert_cmd::Command::from_std(self.command(vars, args))
            .write_stdin(stdin.as_ref().to_vec())
            .output()
            .unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// The binary with `args`, in this folder, with these environment variables set (after the KEYWATCHER_* and
    /// REDISCLI_AUTH of the test's own environment are removed).
    pub fn command(&self, vars: &[(&str, &str)], args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keywatcher"));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KEYWATCHER_") || name == "REDISCLI_AUTH" {
                cmd.env_remove(name);
            }
        }
        cmd.envs(vars.iter().copied());
        cmd.env("XDG_STATE_HOME", self.path("state")).current_dir(self.dir.path()).args(args);
        cmd
    }

    /// Starts `args` the way Fluent Bit or Vector run an exec stage: stdin a pipe that stays open, stdout read
    /// line by line as it comes.
    pub fn live(&self, args: &[&str]) -> Live {
        let mut child = self
            .command(&[], args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (lines, received) = mpsc::channel();
        std::thread::spawn(move || stdout.lines().map_while(Result::ok).for_each(|line| drop(lines.send(line))));
        Live { child, stdin, lines: received }
    }
}

/// A running exec stage (`Env::live`).
pub struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

/// How long a test waits for an answer that must come: not a speed limit, since one that does not come while
/// the pipe stays open never comes.
pub const ANSWER: Duration = Duration::from_secs(30);

impl Live {
    /// Writes `text` into the pipe, and flushes it.
    pub fn send(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin.write_all(text.as_bytes()).unwrap();
        stdin.flush().unwrap();
    }

    /// The next line of output, waiting up to `wait`.
    pub fn line_within(&self, wait: Duration) -> Option<String> {
        self.lines.recv_timeout(wait).ok()
    }

    /// The next line of output, which must come.
    pub fn line(&self) -> String {
        self.line_within(ANSWER).expect("an output line while the pipe stays open")
    }

    /// Sends the signal `name` (TERM, INT) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").arg(format!("-{name}")).arg(&pid).status().unwrap();
        assert!(sent.success(), "kill -{name} {pid}");
    }

    /// Closes stdin, as the end of the feed.
    pub fn close(&mut self) {
        self.stdin = None;
    }

    /// Waits for the process to end (stdin still open unless closed): its exit status, the output lines not yet
    /// taken, and its stderr.
    pub fn finish(mut self) -> (ExitStatus, Vec<String>, String) {
        let (done, ended) = mpsc::channel();
        let mut stderr = self.child.stderr.take().unwrap();
        let mut child = self.child;
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            let _ = done.send((child.wait(), text));
        });
        let (status, stderr) = ended.recv_timeout(ANSWER).expect("the process ends");
        // Every line, up to the end of stdout.
        let rest = std::iter::from_fn(|| self.lines.recv_timeout(ANSWER).ok()).collect();
        drop(self.stdin);
        (status.unwrap(), rest, stderr)
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

/// A CloudTrail record of a long-term key, with the fields that matter set.
pub fn record(key: &str, time: &str, ip: &str, agent: &str, region: &str, event: &str) -> Value {
    serde_json::json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLE", "arn": "arn:aws:iam::123456789012:user/ci",
                         "accountId": "123456789012", "accessKeyId": key, "userName": "ci"},
        "eventTime": time, "eventSource": "ec2.amazonaws.com", "eventName": event, "awsRegion": region,
        "sourceIPAddress": ip, "userAgent": agent, "requestParameters": null, "responseElements": null,
        "eventID": format!("id-{time}-{ip}"), "eventType": "AwsApiCall", "recipientAccountId": "123456789012"
    })
}

pub fn ndjson(records: &[Value]) -> String {
    records.iter().map(|r| format!("{r}\n")).collect()
}
