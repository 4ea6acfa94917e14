//! What the behaviour tests share: a temporary folder with its own default store, the real binary run in
//! it, and record builders. Each test file uses only part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

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
        let mut cmd = assert_cmd::Command::cargo_bin("keywatcher").unwrap();
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("KEYWATCHER_") || name == "REDISCLI_AUTH" {
                cmd.env_remove(name);
            }
        }
        cmd.envs(vars.iter().copied());
        cmd.env("XDG_STATE_HOME", self.path("state")).current_dir(self.dir.path()).args(args);
        let out = cmd.write_stdin(stdin.as_ref().to_vec()).output().unwrap();
        Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
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
