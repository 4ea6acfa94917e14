//! Hostile input. Sizes: a gzip bomb, a record or line longer than its bound, nesting far past any parser's
//! recursion limit; each bound is set small on the command line, and the input that passes it is stopped
//! with a message naming it and the place, the other inputs are read, and the exit status is 2. Values of a
//! few bytes (`{}`, `1`) by the million, in every shape: little memory, and the records among them read and
//! placed as ever. Bytes: what is not UTF-8 is read as U+FFFD, and the output stays one JSON object per line.

mod common;

use std::process::Stdio;
use std::time::Duration;

use base64::Engine;
use common::{Env, gzip, ndjson, record};
use serde_json::{Value, json};

fn call(key: &str) -> Value {
    record(key, "2026-11-01T00:00:00Z", "198.51.100.7", "aws-cli/2.13.5", "us-east-1", "DescribeInstances")
}

/// The keys of the scored lines, in order.
fn keys(lines: &[Value]) -> Vec<&str> {
    lines.iter().map(|line| line["accessKeyId"].as_str().unwrap()).collect()
}

#[test]
fn a_gzip_bomb_stops_its_input_and_the_others_are_read() {
    let env = Env::new();
    // 8 MiB of one repeated record, which compresses to a few KiB; the bound is 1M.
    let line = format!("{}\n", call("AKIAEXAMPLEBOMB0001"));
    let bomb = env.write("bomb.json.gz", gzip(line.repeat((8 << 20) / line.len()).as_bytes()));
    let good = env.write("good.ndjson", ndjson(&[call("AKIAEXAMPLEGOOD0001")]));
    let args = ["score", "--max-decompressed-bytes", "1M", bomb.to_str().unwrap(), good.to_str().unwrap()];
    let out = env.run(&args, "");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("bomb.json.gz: cannot read past line")
            && out.stderr.contains("decompresses to more than 1M (--max-decompressed-bytes)"),
        "{}",
        out.stderr
    );
    let lines = out.lines();
    let from_bomb = lines.iter().filter(|l| l["accessKeyId"] == "AKIAEXAMPLEBOMB0001").count();
    assert!(from_bomb > 0 && from_bomb * line.len() <= 1 << 20, "only the first 1M is scored: {from_bomb}");
    assert_eq!(keys(&lines).last(), Some(&"AKIAEXAMPLEGOOD0001"), "the next input is read");
    // The same file under the default bound is read whole.
    let whole = env.run(&["score", "-q", bomb.to_str().unwrap()], "");
    assert_eq!((whole.code, whole.lines().len()), (0, (8 << 20) / line.len()), "{}", whole.stderr);
}

#[test]
fn a_record_longer_than_its_bound_stops_its_input_with_its_place() {
    let env = Env::new();
    // A user agent of 3 MiB of `}`: the reader may cut after each, so the record is held across chunks.
    let mut long = call("AKIAEXAMPLELONG0001");
    long["userAgent"] = Value::from("}".repeat(3 << 20));
    let first = call("AKIAEXAMPLEFIRST001");
    let input = env.write("long.ndjson", ndjson(&[first.clone(), long.clone(), first]));
    let good = env.write("good.ndjson", ndjson(&[call("AKIAEXAMPLEGOOD0001")]));
    let out = env.run(&["score", "--max-record-bytes", "1M", input.to_str().unwrap(), good.to_str().unwrap()], "");
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("long.ndjson: the value at line 2, column 1 is longer than 1M (--max-record-bytes)"),
        "{}",
        out.stderr
    );
    assert_eq!(keys(&out.lines()), ["AKIAEXAMPLEFIRST001", "AKIAEXAMPLEGOOD0001"]);
    // Under a bound it fits in, the long record is scored like any other.
    let fits = env.run(&["score", "-q", "--max-record-bytes", "8M", input.to_str().unwrap()], "");
    assert_eq!((fits.code, fits.lines().len()), (0, 3), "{}", fits.stderr);
    // --strict stops the run there.
    let strict = env.run(&["score", "--strict", "--max-record-bytes", "1M", input.to_str().unwrap()], "");
    assert_eq!(strict.code, 2);
    assert!(strict.stderr.contains("stopped at"), "{}", strict.stderr);
}

#[test]
fn a_line_with_nowhere_to_cut_it_is_bounded() {
    let env = Env::new();
    // 3 MiB with no newline and no `}`: the reader could not cut it, and would hold all of it.
    let endless = format!("{}\n{{\"userAgent\":\"{}", call("AKIAEXAMPLEFIRST001"), "x".repeat(3 << 20));
    let out = env.run(&["score", "--max-record-bytes", "1M"], &endless);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("<stdin>: cannot read past line 2: a line holds more than 1M with nowhere to cut it"),
        "{}",
        out.stderr
    );
    assert_eq!(keys(&out.lines()), ["AKIAEXAMPLEFIRST001"]);
    // `report` reads lines: its bound is --max-line-bytes.
    let scored = env.run(&["score", "-q"], ndjson(&[call("AKIAEXAMPLEFIRST001")])).stdout;
    let lines = env.write("scored.ndjson", format!("{scored}{}\n{scored}", "y".repeat(3 << 20)));
    let report = env.run(&["report", "--max-line-bytes", "1M", lines.to_str().unwrap(), "-o", "page.html"], "");
    assert_eq!(report.code, 2, "{}", report.stderr);
    assert!(report.stderr.contains("more than 1M with nowhere to cut it (--max-line-bytes)"), "{}", report.stderr);
}

#[test]
fn nesting_deeper_than_any_recursion_limit_costs_only_its_record() {
    let env = Env::new();
    let deep = 100_000;
    let mut input = String::new();
    // A document of 100 000 nested arrays, closed.
    input += &format!("{}{}\n", "[".repeat(deep), "]".repeat(deep));
    input += &format!("{}\n", call("AKIAEXAMPLEFIRST001"));
    // A record whose unread field, and whose read field, nest 100 000 deep: the first is skipped without
    // recursion, the second is a field of the wrong type.
    let mut nested = call("AKIAEXAMPLENEST0001").to_string();
    nested.insert_str(1, &format!("\"requestParameters\":{}1{},", "{\"a\":".repeat(deep), "}".repeat(deep)));
    input += &format!("{nested}\n");
    let mut wrong = call("AKIAEXAMPLEWRONG001").to_string();
    wrong.insert_str(1, &format!("\"userAgent\":{}{},", "[".repeat(deep), "]".repeat(deep)));
    input += &format!("{}\n", wrong.replacen("\"userAgent\":\"aws-cli/2.13.5\",", "", 1));
    // 100 000 unclosed brackets inside a log file's record list, then the input ends.
    input += &format!("{{\"Records\":[{}\n", "[".repeat(deep));
    let out = env.run(&["score"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(keys(&out.lines()), ["AKIAEXAMPLEFIRST001", "AKIAEXAMPLENEST0001"]);
    for message in [
        "<stdin>:1 (record 0): not a CloudTrail record: a JSON array",
        "<stdin>:4: userAgent is an array, not a string",
        "<stdin>:5 (record 0): truncated JSON",
    ] {
        assert!(out.stderr.contains(message), "{message}: {}", out.stderr);
    }
}

#[test]
fn bytes_that_are_not_utf8_are_read_as_u_fffd_in_every_field() {
    let env = Env::new();
    let bad: [&[u8]; 5] = [b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"];
    let fields = ["sourceIPAddress", "userAgent", "awsRegion", "eventName", "eventID"];
    let mut input = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        let mut call = call(&format!("AKIAEXAMPLEUTF8000{i}"));
        call[*field] = Value::from(format!("<{i}>"));
        let text = call.to_string();
        let at = text.find(&format!("<{i}>")).unwrap() + 1;
        input.extend_from_slice(&text.as_bytes()[..at]);
        input.extend_from_slice(bad[i]);
        input.extend_from_slice(&text.as_bytes()[at..]);
        input.push(b'\n');
    }
    let out = env.run(&["score"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.lines();
    assert_eq!(lines.len(), fields.len(), "every call is scored: {}", out.stderr);
    for (i, (line, field)) in lines.iter().zip(fields).enumerate() {
        let value = line[field].as_str().unwrap();
        assert!(value.starts_with("<\u{fffd}") && value.ends_with(&format!("{i}>")), "{field}: {value}");
    }
}

#[test]
fn bytes_that_are_not_utf8_inside_awslogs_data_are_read_as_u_fffd() {
    let env = Env::new();
    // The gzip inside `awslogs.data` holds bytes, not text: nothing has mended them before it is opened.
    let mut bad_bytes = call("AKIAEXAMPLEUTF8AWS1");
    bad_bytes["userAgent"] = Value::from("aws-cli<BAD>");
    let mut surrogate = call("AKIAEXAMPLEUTF8AWS2");
    surrogate["userAgent"] = Value::from("boto<SUR>");
    let batch = json!({"messageType": "DATA_MESSAGE", "logEvents": [
        {"id": "1", "timestamp": 1, "message": bad_bytes.to_string()},
        {"id": "2", "timestamp": 1, "message": surrogate.to_string()}]});
    let text = batch.to_string().replace("<SUR>", r"<\\ud800>");
    let (before, after) = text.split_once("<BAD>").unwrap();
    let payload = [before.as_bytes(), b"<\xff\xfe>", after.as_bytes()].concat();
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(&payload));
    let out = env.run(&["score"], format!("{}\n", json!({"awslogs": {"data": data}})));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let agents: Vec<String> = out.lines().iter().map(|line| line["userAgent"].as_str().unwrap().to_string()).collect();
    assert_eq!(agents, ["aws-cli<\u{fffd}\u{fffd}>", "boto<\u{fffd}>"], "{}", out.stderr);
}

#[test]
fn passthrough_and_the_table_keep_one_line_per_record_whatever_its_strings_hold() {
    let env = Env::new();
    let agents: [&[u8]; 5] = [
        b"aws-\xff\xfecli",               // bytes that are not UTF-8
        br"boto\ud800x\udc00",            // lone surrogates, high and low
        br"nul\u0000and\u001b[31mred",    // NUL and an ANSI escape, escaped as JSON must
        b"line\\nbreak\\u2028sep\\u202e", // a newline, a line separator and a bidi override
        &[b'A'; 10_000],                  // a 10,000-character user agent
    ];
    let mut input = Vec::new();
    for (i, agent) in agents.iter().enumerate() {
        let mut call = call(&format!("AKIAEXAMPLEPASS000{i}"));
        call["userAgent"] = Value::from("<AGENT>");
        let (before, after) =
            call.to_string().split_once("<AGENT>").map(|(b, a)| (b.to_string(), a.to_string())).unwrap();
        input.extend_from_slice(&[before.as_bytes(), agent, after.as_bytes(), b"\n"].concat());
    }
    let out = env.run(&["score", "--passthrough"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.lines();
    assert_eq!(lines.len(), agents.len(), "one valid JSON line per record: {}", out.stdout);
    let kept: Vec<&str> = lines.iter().map(|line| line["userAgent"].as_str().unwrap()).collect();
    assert_eq!(
        kept[..4],
        ["aws-\u{fffd}\u{fffd}cli", "boto\u{fffd}x\u{fffd}", "nul\0and\u{1b}[31mred", "line\nbreak\u{2028}sep\u{202e}"]
    );
    assert_eq!(kept[4].len(), 10_000);
    assert!(lines.iter().all(|line| line["keywatcher"]["suspicious"] == true), "{}", out.stdout);

    let table = env.run(&["score", "--format", "table"], &input);
    assert_eq!(table.code, 0, "{}", table.stderr);
    let rows: Vec<&str> = table.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), agents.len(), "one row per record:\n{}", table.stdout);
    assert!(!table.stdout.contains(['\0', '\u{1b}', '\u{2028}', '\u{202e}', '\r']), "{}", table.stdout);
    let long = rows[4];
    assert!(long.ends_with('…') && long.len() < 500, "the 10,000-character agent is cut: {} bytes", long.len());
}

/// `call`'s JSON text with `value` written raw (a number `serde_json` cannot hold, such as `1e999`) in place
/// of the string `"<N>"` set at `path`.
fn with_raw(key: &str, path: &[&str], value: &str) -> String {
    let mut call = call(key);
    let mut slot = &mut call;
    for name in path {
        slot = &mut slot[*name];
    }
    *slot = Value::from("<N>");
    call.to_string().replace("\"<N>\"", value)
}

#[test]
fn numbers_beyond_a_float_in_fields_keywatcher_does_not_read_cost_nothing() {
    let env = Env::new();
    let numbers = ["1e999", "-1e999", "1e-999", "123456789012345678901234567890"];
    let places: [&[&str]; 4] = [
        &["requestParameters"],
        &["requestParameters", "nested", "deeper"],
        &["userIdentity", "principalId"],
        &["responseElements", "credentials"],
    ];
    let mut records = Vec::new();
    for (i, place) in places.iter().enumerate() {
        for (j, number) in numbers.iter().enumerate() {
            records.push(with_raw(&format!("AKIAEXAMPLENUM00{i}{j}"), place, number));
        }
    }
    let input: String = records.iter().map(|record| format!("{record}\n")).collect();
    let out = env.run(&["score", "--passthrough"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), records.len(), "every record is read: {}", out.stderr);
    for (line, record) in lines.iter().zip(&records) {
        // The record comes back byte for byte, with the verdict added as its last member.
        let kept = &record[..record.len() - 1];
        assert!(line.starts_with(kept) && line[kept.len()..].starts_with(r#","keywatcher":{"score""#), "{line}");
    }

    // Inside a log file and in the envelopes' own members, the same.
    let log = format!(r#"{{"Records":[{},{}],"x":1e999}}"#, records[0], records[5]);
    let bridge = format!(r#"{{"id":1e999,"detail-type":"AWS API Call via CloudTrail","detail":{}}}"#, records[1]);
    let cloudwatch =
        json!({"messageType": "DATA_MESSAGE", "logEvents": [{"id": "1", "timestamp": "<T>", "message": records[2]}]})
            .to_string()
            .replace("\"<T>\"", "-1e999");
    let out = env.run(&["score"], format!("{log}\n{bridge}\n{cloudwatch}\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines = out.lines();
    assert_eq!(keys(&lines), ["AKIAEXAMPLENUM0000", "AKIAEXAMPLENUM0011", "AKIAEXAMPLENUM0001", "AKIAEXAMPLENUM0002"]);
}

#[test]
fn a_number_beyond_a_float_in_a_field_keywatcher_reads_is_named() {
    let env = Env::new();
    let input = [
        with_raw("AKIAEXAMPLENUMREAD1", &["userAgent"], "1e999"),
        call("AKIAEXAMPLENUMREAD2").to_string(),
        with_raw("AKIAEXAMPLENUMREAD3", &["userIdentity", "accessKeyId"], "-1e999"),
    ]
    .join("\n");
    let out = env.run(&["score"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(keys(&out.lines()), ["AKIAEXAMPLENUMREAD2"]);
    let why = "a number beyond the range of a 64-bit float where keywatcher reads a value";
    for line in [1, 3] {
        assert!(out.stderr.contains(&format!("<stdin>:{line}: {why}")), "{}", out.stderr);
    }
    let strict = env.run(&["score", "--strict"], &input);
    assert_eq!(strict.code, 2, "{}", strict.stderr);
}

#[test]
fn an_awslogs_payload_is_bounded_by_max_record_bytes_which_may_raise_it() {
    let env = Env::new();
    // About 1.5 MiB of log events that compress as real ones do (each has a few random-looking bytes).
    let mut state = 12345u64;
    let events: Vec<Value> = (0..3_000)
        .map(|i| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let mut call = call(&format!("AKIAEXAMPLEAWSL{i:04}"));
            call["requestParameters"] = json!({"nonce": format!("{state:016x}")});
            json!({"id": i.to_string(), "timestamp": 1, "message": call.to_string()})
        })
        .collect();
    let batch = json!({"messageType": "DATA_MESSAGE", "logEvents": events}).to_string();
    assert!(batch.len() > 3 << 19, "{}", batch.len());
    let data = base64::engine::general_purpose::STANDARD.encode(gzip(batch.as_bytes()));
    let input = format!("{}\n{}\n", json!({"awslogs": {"data": data}}), call("AKIAEXAMPLEAFTER001"));

    let out = env.run(&["score", "--max-record-bytes", "1M"], &input);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("<stdin>:1: awslogs.data unpacks to more than 1M (--max-record-bytes)"),
        "{}",
        out.stderr
    );
    assert_eq!(keys(&out.lines()), ["AKIAEXAMPLEAFTER001"], "the next record is read");
    let raised = env.run(&["score", "-q", "--max-record-bytes", "2M"], &input);
    assert_eq!((raised.code, raised.lines().len()), (0, 3_001), "{}", raised.stderr);
}

#[test]
fn a_member_repeated_in_user_identity_is_read_as_its_last_as_other_readers_do() {
    let env = Env::new();
    let repeat = |key: &str, member: &str, first: &str, last: &str| {
        let text = call(key).to_string();
        let inside = r#""userIdentity":{"#;
        text.replacen(inside, &format!(r#"{inside}"{member}":"{first}","#), 1).replacen(
            r#""userName":"ci""#,
            &format!(r#""userName":"ci","{member}":"{last}""#),
            1,
        )
    };
    let records = [
        repeat("AKIAEXAMPLEMIDDLE01", "accessKeyId", "AKIAEXAMPLEFIRST001", "AKIAEXAMPLELAST0001"),
        // Said first as a user and last as a role session: excluded, as a role session is.
        repeat("AKIAEXAMPLETYPE0001", "type", "IAMUser", "AssumedRole"),
    ];
    // The key a JSON reader sees (serde_json here; jq, Python and Go alike) is the last one.
    let seen: Value = serde_json::from_str(&records[0]).unwrap();
    assert_eq!(seen["userIdentity"]["accessKeyId"], "AKIAEXAMPLELAST0001");
    let out = env.run(&["score"], format!("{}\n{}\n", records[0], records[1]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(keys(&out.lines()), ["AKIAEXAMPLELAST0001"]);
    assert!(out.stderr.contains("excluded 1"), "{}", out.stderr);
}

#[test]
fn a_forged_record_with_a_real_calls_event_id_does_not_make_dedup_drop_the_call() {
    let env = Env::new();
    let real = call("AKIAEXAMPLEREAL0001");
    let mut forged = call("AKIAEXAMPLEREAL0001");
    forged["sourceIPAddress"] = Value::from("192.0.2.10");
    assert_eq!(forged["eventID"], real["eventID"]);
    let out = env.run(&["score", "--dedup", "100"], ndjson(&[forged.clone(), real.clone(), real, forged]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let addresses: Vec<Value> = out.lines().iter().map(|line| line["sourceIPAddress"].clone()).collect();
    // The real call is scored, and so is its copy: neither can be told from the forgery, which came first.
    assert_eq!(addresses, ["192.0.2.10", "198.51.100.7", "198.51.100.7"], "{}", out.stderr);
    assert!(out.stderr.contains("dropped 1 duplicate(s)"), "{}", out.stderr);
}

#[test]
fn passthrough_writes_back_a_well_formed_record_keywatcher_cannot_read() {
    let env = Env::new();
    let huge = with_raw("AKIAEXAMPLEPASSNUM1", &["userAgent"], "1e999");
    let text = call("AKIAEXAMPLEPASSDUP1").to_string();
    let repeated = text.replacen(r#""eventName":"#, r#""eventName":"ListBuckets","eventName":"#, 1);
    let good = call("AKIAEXAMPLEPASSGOOD").to_string();
    let out = env.run(&["score", "--passthrough"], format!("{huge}\n{repeated}\n{good}\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "every record comes back: {}", out.stdout);
    for (line, record, why) in [
        (lines[0], &huge, "a number beyond the range of a 64-bit float where keywatcher reads a value"),
        (lines[1], &repeated, "invalid JSON (duplicate field `eventName`)"),
    ] {
        let kept = &record[..record.len() - 1];
        assert_eq!(line.strip_prefix(kept), Some(format!(r#","keywatcher":{{"excluded":"{}"}}}}"#, why).as_str()));
    }
    assert!(lines[2].contains(r#""keywatcher":{"score""#), "{}", lines[2]);
    // Still named and counted as unreadable.
    assert!(out.stderr.contains("<stdin>:1: a number beyond") && out.stderr.contains("<stdin>:2: invalid JSON"));
    assert!(out.stderr.contains("2 unreadable record(s) skipped"), "{}", out.stderr);
}

#[test]
fn report_reads_every_passthrough_call_whatever_numbers_or_members_its_record_holds() {
    let env = Env::new();
    let mut forged = call("AKIAEXAMPLEREPORT03");
    forged["keywatcher"] = json!({"suspicious": false});
    let records = [
        with_raw("AKIAEXAMPLEREPORT01", &["requestParameters"], "1e999"),
        with_raw("AKIAEXAMPLEREPORT02", &["requestParameters", "n"], "-1e999"),
        forged.to_string(),
    ];
    // No profiles: every call is suspicious.
    let scored = env.run(&["score", "--passthrough"], records.join("\n"));
    assert_eq!((scored.code, scored.stdout.lines().count()), (0, 3), "{}", scored.stderr);
    let page = env.path("incident.html");
    let out = env.run(&["report", "-o", page.to_str().unwrap()], &scored.stdout);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("3 call(s) of 3 key(s), 3 suspicious") && !out.stderr.contains("skipped"),
        "{}",
        out.stderr
    );
    let html = std::fs::read_to_string(page).unwrap();
    for key in ["AKIAEXAMPLEREPORT01", "AKIAEXAMPLEREPORT02", "AKIAEXAMPLEREPORT03"] {
        assert!(html.contains(key), "{key} is in the page");
    }
}

#[test]
fn messages_on_stderr_show_what_an_attacker_wrote_as_escapes() {
    let env = Env::new();
    let mut forged = call("AKIAEXAMPLESTDERR01");
    forged["eventTime"] = Value::from("\u{1b}[2J\nkeywatcher: all clear\u{202e}");
    let dir = env.path("trail");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("a\u{1b}[31m.ndjson"), ndjson(&[forged])).unwrap();
    let out = env.run(&["score", dir.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains(['\u{1b}', '\u{202e}']), "{:?}", out.stderr);
    assert!(!out.stderr.lines().any(|line| line.starts_with("keywatcher: all clear")), "{:?}", out.stderr);
    let escaped = r"a\u{1b}[31m.ndjson:1: eventTime '\u{1b}[2J\nkeywatcher: all clear\u{202e}' is not a time";
    assert!(out.stderr.contains(escaped), "{}", out.stderr);
}

/// Runs `args` to its end, its output thrown away; gives its exit status and its peak resident memory in MiB
/// (`VmHWM`, looked at every few milliseconds while it runs: a high-water mark, so a look misses at most what
/// the run gains in its last milliseconds).
fn exit_and_peak_mib(env: &Env, args: &[&str]) -> (i32, u64) {
    let mut child = env.command(&[], args).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let status = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0;
    loop {
        let text = std::fs::read_to_string(&status).unwrap_or_default();
        if let Some(kib) = text.lines().find_map(|line| line.strip_prefix("VmHWM:")) {
            peak_kib = peak_kib.max(kib.trim().trim_end_matches("kB").trim().parse().unwrap());
        }
        if let Some(exit) = child.try_wait().unwrap() {
            return (exit.code().unwrap_or(-1), peak_kib >> 10);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn values_of_a_few_bytes_take_little_memory_whatever_their_shape() {
    let env = Env::new();
    // 4 MB of each shape. Parsed a chunk (or a log file read whole) at a time, a 1 MiB chunk of them held half a
    // million items of some 600 bytes each: 200 to 900 MB peak RSS. Two threads, as the parts parsed ahead
    // grow with them.
    let n = 1_400_000;
    let log_events: Vec<String> =
        (0..n / 6).map(|i| json!({"id": i.to_string(), "message": "{}"}).to_string()).collect();
    let log_events = format!(r#"{{"logEvents":[{}]}}"#, log_events.join(","));
    let shapes = [
        ("objects.ndjson", "{}\n".repeat(n)),
        ("numbers.ndjson", "1\n".repeat(n)),
        ("one-line.ndjson", format!("{}\n", "1 ".repeat(n))),
        ("array.json", format!("[{}1]\n", "1,".repeat(n))),
        ("log-file.json", format!("{{\"Records\":[{}{{}}]}}\n", "{},".repeat(n))),
        // Log files read whole: `Records` not first, or a log file inside an array.
        ("later.json", format!("{{\"a\":1,\"Records\":[{}{{}}]}}\n", "{},".repeat(n))),
        ("log-files.json", format!("[{{\"Records\":[{}{{}}]}}]\n", "{},".repeat(n))),
        // A record in each part: `score`'s writer, which holds the batches of files until they make 512
        // records, held all 300 parts and their items (270 MB) until the end.
        ("a-record-a-part.ndjson", format!("{}{{}}\n", "1 ".repeat(8191)).repeat(300)),
        // In envelopes, which held all their documents, and each document all its items: 220 to 500 MB. One
        // document of many values: a Vector event's `message` holding `{}{}{}…`.
        ("vector.ndjson", format!("{}\n", json!({"message": "{}".repeat(n / 3)}))),
        // One envelope of many documents: a lookup-events page of `"{}"`, a list of events holding nothing.
        ("lookup.json", format!(r#"{{"Events":[{}]}}"#, vec![r#"{"CloudTrailEvent":"{}"}"#; n / 5].join(","))),
        ("events.json", format!(r#"{{"Events":[{}{{}}]}}"#, "{},".repeat(n))),
        // Both: a CloudWatch Logs payload of tiny log events.
        ("awslogs.ndjson", format!("{}\n", json!({"awslogs": {"data": base64(&gzip(log_events.as_bytes()))}}))),
    ];
    for (name, text) in shapes {
        let path = env.write(name, text);
        let (code, peak) = exit_and_peak_mib(&env, &["score", "-q", "--threads", "2", path.to_str().unwrap()]);
        assert_eq!(code, 2, "{name}: nothing in it is CloudTrail, an input error");
        assert!(peak < 128, "{name}: {peak} MiB peak resident memory");
    }
}

#[test]
fn a_problem_past_thousands_of_small_records_is_placed_by_line_and_column() {
    let env = Env::new();
    // 30,000 records of 80 bytes (a temporary key's, excluded without a message): over two chunks, and
    // parsed in parts of a few thousand. Then a broken one, and the run stops there with its place.
    let small = r#"{"eventName":"A","userIdentity":{"type":"IAMUser","accessKeyId":"ASIAEXAMPLE"}}"#;
    let broken = r#"{"eventName":"B", oops}"#;
    let lines = env.write("lines.ndjson", format!("{}{broken}\n{small}\n", format!("{small}\n").repeat(30_000)));
    let array =
        env.write("array.json", format!("[\n{}  {broken},\n{small}\n]\n", format!("{small},\n").repeat(30_000)));
    for (path, place, column) in [(lines, ":30001", 19), (array, ":30002 (record 30000)", 21)] {
        let out = env.run(&["score", "--strict", path.to_str().unwrap()], "");
        assert_eq!(out.code, 2, "{}", out.stderr);
        let why = "invalid JSON (key must be a string)";
        let message = format!("stopped at {}{place}: {why} at column {column} (--strict)", path.display());
        assert!(out.stderr.contains(&message), "{message}\n{}", out.stderr);
        let out = env.run(&["score", path.to_str().unwrap()], "");
        assert_eq!(out.code, 0, "{}", out.stderr);
        let counts = "read 30002 record(s) from 1 input(s); scored 0 (0 suspicious); excluded 30001 (temporary key \
                      (ASIA) 30001); 1 unreadable record(s) skipped";
        assert!(out.stderr.contains(counts), "{}", out.stderr);
    }
}

#[test]
fn calls_between_runs_of_tiny_values_are_scored_in_order_and_passed_through() {
    let env = Env::new();
    // A log file, an element a line (the reader cuts it into chunks at newlines inside the list): calls with
    // 100,000 `{}` or `1` between each two, so chunk and part ends fall inside those runs.
    let keys_in = ["AKIAEXAMPLETINY0000", "AKIAEXAMPLETINY0001", "AKIAEXAMPLETINY0002", "AKIAEXAMPLETINY0003"];
    let run = |i: usize| if i.is_multiple_of(2) { "{},\n" } else { "1,\n" }.repeat(100_000);
    let elements: Vec<String> =
        keys_in.iter().enumerate().map(|(i, key)| format!("{},\n{}", call(key), run(i))).collect();
    let log =
        env.write("log.json", format!("{{\"Records\":[\n{}{}]}}\n", elements.concat(), call("AKIAEXAMPLETINY0004")));
    let out = env.run(&["score", log.to_str().unwrap()], "");
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(keys(&out.lines()), [&keys_in[..], &["AKIAEXAMPLETINY0004"]].concat());
    assert!(out.stderr.contains("read 400005 record(s) from 1 input(s); scored 5"), "{}", out.stderr);
    assert!(out.stderr.contains("400000 unreadable record(s) skipped"), "{}", out.stderr);
    assert!(out.stderr.contains("log.json:4 (record 2): not a CloudTrail record (no eventTime"), "{}", out.stderr);
    // --passthrough writes back every object, each `{}` with why it has no verdict, and no number.
    let passed = env.run(&["score", "--passthrough", log.to_str().unwrap()], "");
    let lines = passed.lines();
    assert_eq!(lines.len(), 5 + 200_000);
    let scored: Vec<usize> = (0..lines.len()).filter(|&i| lines[i]["keywatcher"]["score"].is_number()).collect();
    assert_eq!(scored, [0, 100_001, 100_002, 200_003, 200_004]);
    assert_eq!(lines[1]["keywatcher"]["excluded"], "not a CloudTrail record (no eventTime, eventName or userIdentity)");
}

#[test]
fn records_in_and_after_an_envelope_of_many_documents_are_scored_in_order_and_placed() {
    let env = Env::new();
    // Calls inside envelopes of tens of thousands of small documents each, and between them: part ends fall
    // inside the envelopes, and the next part goes on there. First a page of records excluded without a message
    // (a temporary key's), so that the broken record after them is the first problem, printed with its place.
    let quoted = |value: &Value| json!({"CloudTrailEvent": value.to_string()});
    let small = json!({"eventName": "A", "userIdentity": {"type": "IAMUser", "accessKeyId": "ASIAEXAMPLE"}});
    let mut broken = vec![quoted(&small); 20_000];
    broken.push(json!({"CloudTrailEvent": "{\"eventName\": oops}"}));
    broken.push(quoted(&call("AKIAEXAMPLEPAGE0002")));
    let tiny = || vec![json!({"CloudTrailEvent": "{}"}); 30_000];
    let page = [tiny(), vec![quoted(&call("AKIAEXAMPLEPAGE0001"))], tiny()].concat();
    let message = format!("{}{}\n{}", "{}\n".repeat(30_000), call("AKIAEXAMPLEMESG0001"), "{}\n".repeat(30_000));
    let input = [
        call("AKIAEXAMPLEFIRST001"),
        json!({"Events": broken}),
        call("AKIAEXAMPLESECOND01"),
        json!({"Events": page, "NextToken": "t"}),
        json!({"message": message}),
        call("AKIAEXAMPLELAST0001"),
    ];
    let input = env.write("in.ndjson", ndjson(&input));
    let want = [
        "AKIAEXAMPLEFIRST001",
        "AKIAEXAMPLEPAGE0002",
        "AKIAEXAMPLESECOND01",
        "AKIAEXAMPLEPAGE0001",
        "AKIAEXAMPLEMESG0001",
        "AKIAEXAMPLELAST0001",
    ];
    let place = "in.ndjson:2, Events[20000].CloudTrailEvent: invalid JSON (expected value) at line 1, column 15 of it";
    let mut outputs = Vec::new();
    for threads in ["1", "2"] {
        let out = env.run(&["score", "--threads", threads, input.to_str().unwrap()], "");
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(keys(&out.lines()), want);
        assert!(out.stderr.contains(place), "{}", out.stderr);
        outputs.push(out.stdout);
    }
    assert_eq!(outputs[0], outputs[1], "the same output with one thread and two");
    // --passthrough writes back every record, in order; --strict stops at the broken one.
    let passed = env.run(&["score", "--passthrough", "--threads", "2", input.to_str().unwrap()], "");
    let lines = passed.lines();
    assert_eq!(lines.len(), 20_001 + 3 + 2 * 60_001, "{}", passed.stderr);
    let scored = lines.iter().filter(|line| line["keywatcher"]["score"].is_number());
    let scored: Vec<&str> = scored.map(|line| line["userIdentity"]["accessKeyId"].as_str().unwrap()).collect();
    assert_eq!(scored, want);
    let strict = env.run(&["score", "--strict", input.to_str().unwrap()], "");
    assert_eq!(strict.code, 2, "{}", strict.stderr);
    assert!(strict.stderr.contains(place), "{}", strict.stderr);
    assert_eq!(keys(&strict.lines()), want[..1]);
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
