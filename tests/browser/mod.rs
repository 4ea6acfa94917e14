//! A real headless Chromium, driven over the DevTools protocol on `--remote-debugging-pipe` (JSON messages
//! ended by NUL on file descriptors 3 and 4, here two named pipes): open a page, evaluate JavaScript in it,
//! click with real mouse events, type. Without Chromium the test is skipped, except under CI=true where
//! that is a failure.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

/// The flags this machine needs: root, no GPU, and nothing that tries the (closed) network.
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1000",
];

/// How long a whole browser session may take before it is killed (so a hung browser fails the test).
const DEADLINE: Duration = Duration::from_secs(120);

/// The Chromium binary, or `None` (said on stderr) when there is none and CI is not set.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser", "google-chrome"].iter().find_map(|name| {
        std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is not installed; .ci/run installs it (apt-get install chromium)"
        );
        eprintln!("skipped: chromium is not installed (apt-get install chromium)");
    }
    found
}

/// Writes a PNG of `page` as Chromium shows it.
pub fn screenshot(chromium: &Path, page: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(chromium)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--window-size=1280,1600")
        .arg(format!("--screenshot={}", png.display()))
        .arg(url(page))
        .output()
        .unwrap();
    assert!(png.is_file(), "no screenshot written: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn url(path: &Path) -> String {
    format!("file://{}", path.canonicalize().unwrap().display())
}

pub struct Browser {
    child: Arc<Mutex<Child>>,
    to: File,
    from: BufReader<File>,
    next: u64,
    session: String,
    done: mpsc::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium and opens `url` in it, waiting until the page has loaded.
    pub fn open(chromium: &Path, url: &str) -> Browser {
        let dir = tempfile::tempdir().unwrap();
        let (to, from) = (dir.path().join("to-browser"), dir.path().join("from-browser"));
        let made = Command::new("mkfifo").arg(&to).arg(&from).status().unwrap();
        assert!(made.success(), "mkfifo failed");
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<"$TO_BROWSER" 4>"$FROM_BROWSER""#)
            .arg(chromium)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", dir.path().join("profile").display()))
            .arg("--remote-debugging-pipe")
            .arg("about:blank")
            .env("TO_BROWSER", &to)
            .env("FROM_BROWSER", &from)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let child = Arc::new(Mutex::new(child));
        let (done, finished) = mpsc::channel::<()>();
        let watched = Arc::clone(&child);
        std::thread::spawn(move || {
            if finished.recv_timeout(DEADLINE) == Err(mpsc::RecvTimeoutError::Timeout) {
                let _ = watched.lock().unwrap().kill();
            }
        });
        // Opening a named pipe waits for its other end: the browser's shell opens them in this order too.
        let to = OpenOptions::new().write(true).open(&to).unwrap();
        let from = BufReader::new(File::open(&from).unwrap());
        let mut browser = Browser { child, to, from, next: 0, session: String::new(), done, _dir: dir };
        let target = browser.call("Target.createTarget", json!({ "url": url }))["targetId"].clone();
        let attached = browser.call("Target.attachToTarget", json!({ "targetId": target, "flatten": true }));
        browser.session = attached["sessionId"].as_str().unwrap().to_string();
        for _ in 0..200 {
            if browser.eval("location.href !== 'about:blank' && document.readyState === 'complete'") == true {
                return browser;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{url} did not finish loading");
    }

    /// Sends one command (to the page once attached) and returns its result; events are passed over.
    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let mut message = json!({ "id": self.next, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        self.to.write_all(format!("{message}\0").as_bytes()).unwrap();
        loop {
            let mut bytes = Vec::new();
            let read = self.from.read_until(0, &mut bytes).unwrap();
            assert!(read > 0, "the browser went away during {method}");
            bytes.pop();
            let reply: Value = serde_json::from_slice(&bytes).unwrap();
            if reply["id"] == json!(self.next) {
                assert!(reply.get("error").is_none(), "{method} failed: {reply}");
                return reply["result"].clone();
            }
        }
    }

    /// The value of a JavaScript expression in the page.
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self
            .call("Runtime.evaluate", json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }));
        assert!(result.get("exceptionDetails").is_none(), "{expression} threw: {result}");
        result["result"]["value"].clone()
    }

    /// Clicks the middle of the first element `selector` finds, with the mouse, as a person would.
    pub fn click(&mut self, selector: &str) {
        let found = self.eval(&format!(
            "(() => {{ const e = document.querySelector({selector:?}); if (!e) return null; e.scrollIntoView(); \
             const r = e.getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; }})()"
        ));
        let (x, y) = (found[0].as_f64().expect(selector), found[1].as_f64().unwrap());
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({ "type": kind, "x": x, "y": y, "button": "left", "clickCount": 1 }),
            );
        }
    }

    /// Types `text` into the element that has the focus.
    pub fn type_text(&mut self, text: &str) {
        self.call("Input.insertText", json!({ "text": text }));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.done.send(());
        let mut child = self.child.lock().unwrap();
        let _ = child.kill();
        let _ = child.wait();
    }
}
