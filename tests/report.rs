//! `keywatcher report`: the page it writes, opened in a real headless Chromium — its rows, its sorting and
//! filtering, and markup from the records staying text — and what it says about bad input.

mod browser;
mod common;

use browser::Browser;
use common::{Env, fixture, gzip, ndjson, record};
use serde_json::Value;

const SCRIPT_AGENT: &str = "<script>document.title='pwned by script'</script>";
const IMG_AGENT: &str = r#""><img src=x onerror="document.title='pwned by img'">"#;
/// A right-to-left override: raw, it would show the rest of the cell, and what follows it, backwards.
const RTL_AGENT: &str = "boto3 \u{202e}exe.live";

/// Scores the incident fixture against the baseline one, with two calls of an unknown key whose agents
/// carry markup; returns the scored lines.
fn scored(env: &Env) -> String {
    let evil = [
        record("AKIAEXAMPLEEVIL0001", "2026-11-08T15:10:00Z", "203.0.113.66", SCRIPT_AGENT, "eu-west-1", "ListUsers"),
        record("AKIAEXAMPLEEVIL0001", "2026-11-08T15:12:00Z", "203.0.113.66", IMG_AGENT, "eu-west-1", "ListRoles"),
        record("AKIAEXAMPLEEVIL0001", "2026-11-08T15:14:00Z", "203.0.113.66", RTL_AGENT, "eu-west-1", "ListKeys"),
    ];
    let evil = env.write("evil.ndjson", ndjson(&evil));
    let base = fixture("baseline.ndjson");
    let incident = fixture("incident.json");
    let args = ["score", "--baseline", base.to_str().unwrap(), incident.to_str().unwrap(), evil.to_str().unwrap()];
    let out = env.run(&args, "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    out.stdout
}

#[test]
fn the_report_shows_sorts_and_filters_suspicious_calls_and_never_runs_what_records_hold() {
    let Some(chromium) = browser::chromium() else { return };
    let env = Env::new();
    let scored = scored(&env);
    let lines: Vec<Value> = scored.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let suspicious: Vec<&Value> = lines.iter().filter(|l| l["suspicious"] == true).collect();
    env.write("scored.ndjson", &scored);
    let out = env.run(&["report", "scored.ndjson", "-o", "report.html"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{} suspicious", suspicious.len())), "{}", out.stderr);
    let page = env.path("report.html");

    let mut browser = Browser::open(&chromium, &browser::url(&page));
    let title = browser.eval("document.title");
    assert_eq!(title, format!("keywatcher: {} suspicious call(s) by 3 key(s)", suspicious.len()));
    // Nothing from a record became an element, and nothing in the page points anywhere.
    assert_eq!(browser.eval("document.querySelectorAll('img, [src], [href], [onerror]').length"), 0);
    assert_eq!(browser.eval("document.scripts.length"), 1);

    let column = |browser: &mut Browser, n: usize| {
        browser.eval(&format!(
            "Array.from(document.querySelectorAll('#calls tbody tr:not([hidden]) td:nth-child({n})'), td => td.textContent)"
        ))
    };
    let times: Vec<Value> = suspicious.iter().map(|l| l["eventTime"].clone()).collect();
    assert_eq!(column(&mut browser, 1), Value::Array(times), "one row per suspicious call, in time order");
    let agents = column(&mut browser, 7);
    for injected in [SCRIPT_AGENT, IMG_AGENT] {
        assert!(agents.as_array().unwrap().contains(&Value::from(injected)), "{injected} not shown as text: {agents}");
    }
    let summary = browser.eval("document.querySelector('.keys').textContent");
    assert!(summary.as_str().unwrap().contains(SCRIPT_AGENT), "the key summary names the new agent: {summary}");
    // The override is shown as an escape, and every value is a bidi isolate all the same.
    assert!(agents.as_array().unwrap().contains(&Value::from(r"boto3 \u{202e}exe.live")), "{agents}");
    assert_eq!(browser.eval("document.body.textContent.includes('\\u202e')"), false, "no raw U+202E in the page");
    assert_eq!(browser.eval("getComputedStyle(document.querySelector('#calls td')).unicodeBidi"), "isolate");

    // The timeline: a lane per key, and its red bars' tooltips count every suspicious call.
    assert_eq!(browser.eval("document.querySelectorAll('#timeline g').length"), 4);
    let marked = browser.eval(
        "Array.from(document.querySelectorAll('#timeline title'), t => Number(t.textContent.match(/(\\d+) suspicious/)[1]))\
         .reduce((a, b) => a + b, 0)",
    );
    assert_eq!(marked, suspicious.len());

    let scores = |browser: &mut Browser| -> Vec<i64> {
        column(browser, 8).as_array().unwrap().iter().map(|s| s.as_str().unwrap().parse().unwrap()).collect()
    };
    let before = scores(&mut browser);
    browser.click("th[data-col=score]");
    let ascending = scores(&mut browser);
    assert!(ascending.is_sorted(), "{ascending:?}");
    assert_ne!(ascending, before, "the click changed the order");
    assert_eq!(browser.eval("document.querySelector('th[data-col=score]').getAttribute('aria-sort')"), "ascending");
    browser.click("th[data-col=score]");
    let descending = scores(&mut browser);
    assert!(descending.iter().rev().is_sorted(), "{descending:?}");

    browser.click("#filter");
    browser.type_text("sa-east-1");
    assert_eq!(column(&mut browser, 5), serde_json::json!(["sa-east-1"]));
    assert_eq!(browser.eval("document.getElementById('shown').textContent"), format!("1 of {}", suspicious.len()));
    assert_eq!(browser.eval("document.title"), title, "no injected script ran");
    drop(browser);

    let png = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("report.png");
    browser::screenshot(&chromium, &page, &png);
    println!("screenshot of the report: {}", png.display());
}

#[test]
fn the_report_reads_stdin_and_names_lines_that_are_not_scored_calls() {
    let env = Env::new();
    let scored = scored(&env);
    let input = format!("{scored}not json\n{{\"eventTime\":\"2026-11-08T10:00:00Z\"}}\n");
    let out = env.run(&["report"], input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.starts_with("<!DOCTYPE html>") && out.stdout.ends_with("</html>\n"));
    assert!(out.stdout.contains("&lt;script&gt;document.title=&#39;pwned by script&#39;&lt;/script&gt;"));
    assert!(!out.stdout.contains(SCRIPT_AGENT) && !out.stdout.contains(IMG_AGENT));
    let bad = format!("<stdin>:{}: not a line of `keywatcher score` output", scored.lines().count() + 1);
    assert!(out.stderr.contains(&bad), "{}", out.stderr);
    assert!(out.stderr.contains("2 line(s) that are not scored calls skipped"), "{}", out.stderr);
}

#[test]
fn a_report_of_nothing_is_refused() {
    let env = Env::new();
    let out = env.run(&["report", "-o", "report.html"], "");
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("no scored calls in <stdin>"), "{}", out.stderr);
    assert!(!env.path("report.html").exists());
}

#[test]
fn a_very_long_table_keeps_the_earliest_calls_and_says_so_while_the_counts_cover_everything() {
    let env = Env::new();
    let line = |i: usize| {
        serde_json::json!({
            "eventTime": format!("2026-11-08T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60), "eventID": format!("e{i}"),
            "accessKeyId": "AKIAEXAMPLEEVIL0001", "accountId": "123456789012", "userName": "x", "awsRegion": "us-east-1",
            "sourceIPAddress": "203.0.113.66", "userAgent": "boto3", "eventSource": "iam.amazonaws.com",
            "eventName": "ListUsers", "score": 0, "threshold": 70, "suspicious": true, "profile": "unknown",
            "matched": {"ip": false, "agent": false, "region": false, "event": false}, "reasons": ["no profile for this key"]
        })
        .to_string()
            + "\n"
    };
    // Latest first: the table must still hold the earliest.
    let input: String = (0..5100).rev().map(line).collect();
    let out = env.run(&["report"], input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("<title>keywatcher: 5100 suspicious call(s) by 1 key(s)</title>"));
    assert!(out.stdout.contains("The table holds the earliest 5000 of the 5100 suspicious calls"));
    assert_eq!(out.stdout.matches("<tr><td title=").count(), 5000);
    assert!(out.stdout.contains("\"eventID e0\"") && out.stdout.contains("\"eventID e4999\""));
    assert!(!out.stdout.contains("\"eventID e5000\""));
    assert!(out.stderr.contains("report: 5100 call(s) of 1 key(s), 5100 suspicious;"), "{}", out.stderr);
}

#[test]
fn the_report_reads_gzip_and_directories_as_every_command_does() {
    let env = Env::new();
    let scored = scored(&env);
    let lines: Vec<&str> = scored.lines().collect();
    let suspicious = lines.iter().filter(|l| l.contains("\"suspicious\":true")).count();
    let (first, rest) = lines.split_at(lines.len() / 2);
    env.write("scored/a.ndjson.gz", gzip((first.join("\n") + "\n").as_bytes()));
    env.write("scored/b/c.ndjson", rest.join("\n"));
    let out = env.run(&["report", "scored", "-o", "report.html"], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    let said = format!("report: {} call(s) of 4 key(s), {suspicious} suspicious;", lines.len());
    assert!(out.stderr.contains(&said), "{}", out.stderr);
    let page = std::fs::read_to_string(env.path("report.html")).unwrap();
    assert!(page.contains("scored/a.ndjson.gz</code>, <code>") && page.contains("scored/b/c.ndjson</code>"));

    let out = env.run(&["report", "scored/a.ndjson.gz", "missing.ndjson", "-o", "report.html"], "");
    assert_eq!(out.code, 2, "an input that cannot be read: {}", out.stderr);
    assert!(out.stderr.contains("missing.ndjson"), "{}", out.stderr);
}
