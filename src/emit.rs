//! Verdicts → NDJSON on stdout. Takes each scored [`Call`] with its [`Verdict`] and writes one JSON object on one line,
//! with CloudTrail's field names where the value is CloudTrail's, so jq, Vector and SIEMs recognise them; or, for
//! `--passthrough`, writes each record back as read with the verdict (or why the record has none) added as a
//! `keywatcher` member. Every string is escaped here, whatever it holds (quotes, newlines, control characters, escape
//! sequences), so no record can break a line or the JSON. It and `terminal.rs` (the same calls, and profiles, for a
//! person) are what stdout is written with; it never decides a score.

use std::io::{self, BufWriter, Write};

use crate::extract::Call;
use crate::parse;
use crate::score::{Standing, Verdict};

/// Standard output, block-buffered (Rust's own stdout flushes every line, even into a pipe).
pub fn stdout() -> BufWriter<io::StdoutLock<'static>> {
    BufWriter::with_capacity(64 << 10, io::stdout().lock())
}

/// Writes verdict lines into a buffered writer; one reused line buffer.
pub struct Emitter<W: Write> {
    out: W,
    line: Vec<u8>,
}

impl<W: Write> Emitter<W> {
    pub fn new(out: W) -> Emitter<W> {
        Emitter { out, line: Vec::with_capacity(1024) }
    }

    /// Writes the line for one scored call.
    pub fn verdict(&mut self, call: &Call, verdict: &Verdict) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        call_fields(line, call);
        line.push(b',');
        judgement(line, call, verdict);
        line.extend_from_slice(b"}\n");
        self.out.write_all(line)
    }

    /// Writes `record`, a record's JSON text as read, back on one line with a `keywatcher` member added: the
    /// verdict of its call (the members of a verdict line from `score` on), or why it has none.
    /// A record that spans lines (pretty-printed) is joined: its line breaks, and the indentation after them,
    /// are dropped; they can only be between values, since a JSON string holds none, so no value changes.
    /// Bytes that are not UTF-8 (only possible inside strings) become U+FFFD, so the line stays JSON.
    pub fn passthrough(&mut self, record: &[u8], judged: Judged) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        let text = String::from_utf8_lossy(record);
        let body = text.trim().strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or_default();
        // A record with a `keywatcher` member of its own (anyone who can write to the trail can add one) is
        // nested whole under `record`, so that the line never has two: a reader taking the first would see
        // the forged one.
        let nested = parse::may_have_member(record, "keywatcher");
        line.extend_from_slice(if nested { b"{\"record\":{" } else { b"{" });
        if memchr::memchr2(b'\n', b'\r', body.as_bytes()).is_none() {
            line.extend_from_slice(body.as_bytes());
        } else {
            for (i, part) in body.split(['\n', '\r']).enumerate() {
                let part = if i == 0 { part } else { part.trim_start_matches([' ', '\t']) };
                line.extend_from_slice(part.as_bytes());
            }
        }
        if nested {
            line.extend_from_slice(b"},");
        } else if !body.trim().is_empty() {
            line.push(b',');
        }
        line.extend_from_slice(b"\"keywatcher\":{");
        match judged {
            Judged::Scored(call, verdict) => judgement(line, call, verdict),
            Judged::Excluded(why) => {
                line.extend_from_slice(b"\"excluded\":");
                string(line, why);
            }
        }
        line.extend_from_slice(b"}}\n");
        self.out.write_all(line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// What `--passthrough` adds to a record: its call's verdict, or why it has none.
pub enum Judged<'a> {
    Scored(&'a Call<'a>, &'a Verdict),
    Excluded(&'a str),
}

/// Appends the record's fields of a verdict line, from its `{` on.
// Both halves are inlined into each writer: as calls, splitting the verdict line in two for `--passthrough`
// cost it 8 % (`cargo bench --bench hot -- emit`, fastest of 300: 300 µs vs 277 µs unsplit; 265 µs inlined).
#[inline(always)]
fn call_fields(line: &mut Vec<u8>, call: &Call) {
    // The keys are written as they are: they need no escaping. (Escaping them, and `write!` for the
    // numbers, took a third of the time of a line; measured with `cargo bench --bench hot`.)
    let fields = [
        (&b"{\"eventTime\":"[..], call.event_time),
        (b",\"eventID\":", call.event_id),
        (b",\"accessKeyId\":", call.access_key),
        (b",\"accountId\":", call.account),
        (b",\"userType\":", call.user_type),
        (b",\"userName\":", call.user_name),
        (b",\"awsRegion\":", call.region),
        (b",\"sourceIPAddress\":", call.ip),
        (b",\"userAgent\":", call.agent),
        (b",\"eventSource\":", call.event_source),
        (b",\"eventName\":", call.event_name),
    ];
    for (key, value) in fields {
        line.extend_from_slice(key);
        string(line, value);
    }
}

/// Appends the members that judge a call, from `"score"` to the end of `"reasons"`.
#[inline(always)]
fn judgement(line: &mut Vec<u8>, call: &Call, verdict: &Verdict) {
    let m = verdict.matched;
    let flag = |yes: bool| if yes { &b"true"[..] } else { b"false" };
    let standing: &[u8] = match verdict.standing {
        Standing::Unknown => b"\"unknown\"",
        Standing::Warming(_) => b"\"warming\"",
        Standing::Known => b"\"known\"",
    };
    line.extend_from_slice(b"\"score\":");
    number(line, verdict.score.into());
    line.extend_from_slice(b",\"threshold\":");
    number(line, verdict.threshold.into());
    for (key, value) in [
        (&b",\"suspicious\":"[..], flag(verdict.suspicious)),
        (b",\"profile\":", standing),
        (b",\"matched\":{\"ip\":", flag(m.ip)),
        (b",\"agent\":", flag(m.agent)),
        (b",\"region\":", flag(m.region)),
        (b",\"event\":", flag(m.event)),
        (b"},\"reasons\":[", b""),
    ] {
        line.extend_from_slice(key);
        line.extend_from_slice(value);
    }
    let first = std::cell::Cell::new(true);
    // Opens the next reason's string, after a comma unless it is the first.
    let open = |line: &mut Vec<u8>| {
        if !first.replace(false) {
            line.push(b',');
        }
        line.push(b'"');
    };
    let reason = |line: &mut Vec<u8>, parts: &[&str]| {
        open(line);
        parts.iter().for_each(|part| escape(line, part));
        line.push(b'"');
    };
    if let Some(maker) = &verdict.made_by {
        reason(line, &["key made by ", maker, " (iam:CreateAccessKey) in this run; scored against its profile"]);
    }
    if let Standing::Warming(warming) = verdict.standing {
        // Text of our own between numbers: nothing to escape.
        let (texts, numbers) = warming.pieces();
        open(line);
        for (text, n) in texts.iter().zip(numbers) {
            line.extend_from_slice(text.as_bytes());
            number(line, n);
        }
        line.extend_from_slice(texts[4].as_bytes());
        line.push(b'"');
    }
    for signal in &verdict.signals {
        reason(line, &[&signal.to_string()]);
    }
    if verdict.standing == Standing::Unknown {
        reason(line, &["no profile for this key"]);
    } else {
        let factors = [
            (m.ip, "ip ", [call.ip, "", ""], "sourceIPAddress"),
            (m.agent, "agent ", [call.agent, "", ""], "userAgent"),
            (m.region, "region ", [call.region, "", ""], "awsRegion"),
            // Named only when not matched: finding the service in `eventSource` on every line was 6 % of the
            // thread that scored and wrote, then (perf).
            (m.event, "event ", if m.event { [""; 3] } else { event(call.event_source, call.event_name) }, "eventName"),
        ];
        for (hit, label, [a, b, c], field) in factors {
            if hit {
                continue;
            }
            if [a, b, c].iter().all(|part| part.is_empty()) {
                reason(line, &["no ", field, " in the record"]);
            } else {
                reason(line, &[label, a, b, c, " not seen for this key"]);
            }
        }
    }
    line.push(b']');
}

/// Where verdicts go: JSON lines ([`Emitter`]) or the terminal table (`terminal::Table`).
pub trait WriteVerdict {
    /// Writes one scored call.
    fn verdict(&mut self, call: &Call, verdict: &Verdict) -> io::Result<()>;
    fn flush(&mut self) -> io::Result<()>;
}

impl<W: Write> WriteVerdict for Emitter<W> {
    fn verdict(&mut self, call: &Call, verdict: &Verdict) -> io::Result<()> {
        Emitter::verdict(self, call, verdict)
    }

    fn flush(&mut self) -> io::Result<()> {
        Emitter::flush(self)
    }
}

/// The event as the reasons, the table and the report name it, in parts to write one after another:
/// `ec2.amazonaws.com` and `RunInstances` → `ec2` `:` `RunInstances`; whichever part a record lacks is left out.
pub fn event<'a>(event_source: &'a str, event_name: &'a str) -> [&'a str; 3] {
    match (event_source.split_once(".amazonaws.com").map_or(event_source, |(service, _)| service), event_name) {
        ("", name) => ["", "", name],
        (service, "") => [service, "", ""],
        (service, name) => [service, ":", name],
    }
}

/// Appends `s` as a JSON string.
pub fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    escape(out, s);
    out.push(b'"');
}

/// Appends `n` in decimal.
fn number(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// Appends `s` with `"`, `\`, control characters and DEL escaped.
fn escape(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut rest = s.as_bytes();
    loop {
        let plain = plain_prefix(rest);
        out.extend_from_slice(&rest[..plain]);
        let Some(&b) = rest.get(plain) else { return };
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]),
        }
        rest = &rest[plain + 1..];
    }
}

/// How many bytes at the start of `bytes` need no escaping: eight bytes at a time, the last few padded with
/// spaces to eight, since the strings of a verdict line are short (byte by byte, their ends took half of the
/// time spent escaping; callgrind).
fn plain_prefix(bytes: &[u8]) -> usize {
    let (words, tail) = bytes.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        if let Some(at) = first_to_escape(u64::from_le_bytes(*word)) {
            return 8 * i + at;
        }
    }
    let mut last = [b' '; 8];
    last[..tail.len()].copy_from_slice(tail);
    first_to_escape(u64::from_le_bytes(last)).map_or(bytes.len(), |at| 8 * words.len() + at)
}

/// Where the first of the eight bytes of `word` (little-endian) below 0x20, `"`, `\` or DEL is, if any. The
/// classic "has a byte less than n" and "has a zero byte" bit tricks: their lowest flagged byte is always a
/// true one (a wrong flag can only follow a true one, through the borrow).
fn first_to_escape(word: u64) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let flagged = below_space
        | zero_byte(word ^ (ONES * u64::from(b'"')))
        | zero_byte(word ^ (ONES * u64::from(b'\\')))
        | zero_byte(word ^ (ONES * 0x7f));
    (flagged != 0).then(|| flagged.trailing_zeros() as usize / 8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Matched;

    #[test]
    fn strings_are_escaped_so_a_line_stays_one_json_object() {
        let mut out = Vec::new();
        string(&mut out, "a\"b\\c\nd\u{1b}[31m\u{7f}é");
        assert_eq!(String::from_utf8(out).unwrap(), r#""a\"b\\c\nd\u001b[31m\u007fé""#);
        // Every byte to escape, at every place in an eight-byte word, and none missed between them.
        for special in ["\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}"] {
            for at in 0..17 {
                let text = format!("{}{special}{}é ~", "x".repeat(at), " !#".repeat(5));
                let mut ours = Vec::new();
                string(&mut ours, &text);
                // serde_json escapes as we do, except DEL, which it leaves as it is.
                let expected = serde_json::to_string(&text).unwrap().replace('\u{7f}', "\\u007f");
                assert_eq!(String::from_utf8(ours).unwrap(), expected, "{text:?}");
            }
        }
    }

    #[test]
    fn a_verdict_line_has_the_contract_fields() {
        let call = Call::example();
        let verdict = Verdict {
            score: 50,
            suspicious: true,
            matched: Matched { ip: false, agent: true, region: true, event: false },
            ..Verdict::example()
        };
        let mut emitter = Emitter::new(Vec::new());
        emitter.verdict(&call, &verdict).unwrap();
        let line = String::from_utf8(emitter.out).unwrap();
        assert_eq!(
            line,
            concat!(
                r#"{"eventTime":"2026-11-02T10:00:00Z","eventID":"e-1","accessKeyId":"AKIAEXAMPLE1","accountId":"123456789012","#,
                r#""userType":"IAMUser","userName":"ci-deploy","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","#,
                r#""userAgent":"aws-cli/2.13.5","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","#,
                r#""score":50,"threshold":70,"suspicious":true,"profile":"known","#,
                r#""matched":{"ip":false,"agent":true,"region":true,"event":false},"#,
                r#""reasons":["ip 203.0.113.9 not seen for this key","event ec2:RunInstances not seen for this key"]}"#,
                "\n"
            )
        );
    }

    #[test]
    fn a_warming_reason_reads_as_the_terminal_shows_it() {
        let warming = crate::signals::Warming { calls: 7, days: 1, settings: Default::default() };
        let verdict = Verdict { standing: Standing::Warming(warming), ..Verdict::example() };
        let mut emitter = Emitter::new(Vec::new());
        emitter.verdict(&Call::example(), &verdict).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&emitter.out).unwrap();
        assert_eq!(line["reasons"], serde_json::json!([warming.to_string()]));
        assert!(warming.to_string().starts_with("profile warming: only 7 calls over 1 days (--warm-calls 20,"));
    }

    #[test]
    fn passthrough_joins_a_record_onto_one_line_without_changing_a_value() {
        let mut emitter = Emitter::new(Vec::new());
        let records: [&[u8]; 3] = [b"{\n  \"a\": [1,\r\n    2],\n  \"b\": \"x y\"\n}", b"{ }", b"{\"c\":\"\xff\"}"];
        for record in records {
            emitter.passthrough(record, Judged::Excluded("why")).unwrap();
        }
        assert_eq!(
            String::from_utf8(emitter.out).unwrap(),
            concat!(
                "{\"a\": [1,2],\"b\": \"x y\",\"keywatcher\":{\"excluded\":\"why\"}}\n",
                "{ \"keywatcher\":{\"excluded\":\"why\"}}\n",
                "{\"c\":\"\u{fffd}\",\"keywatcher\":{\"excluded\":\"why\"}}\n"
            )
        );
    }

    #[test]
    fn passthrough_nests_a_record_with_a_keywatcher_member_of_its_own() {
        let mut emitter = Emitter::new(Vec::new());
        let forged: &[u8] = br#"{"eventName":"X","keywatcher":{"suspicious":false}}"#;
        let named: &[u8] = br#"{"eventName":"X","userAgent":"keywatcher"}"#;
        for record in [forged, named] {
            emitter.passthrough(record, Judged::Excluded("why")).unwrap();
        }
        assert_eq!(
            String::from_utf8(emitter.out).unwrap(),
            concat!(
                r#"{"record":{"eventName":"X","keywatcher":{"suspicious":false}},"keywatcher":{"excluded":"why"}}"#,
                "\n",
                r#"{"eventName":"X","userAgent":"keywatcher","keywatcher":{"excluded":"why"}}"#,
                "\n"
            )
        );
    }
}
