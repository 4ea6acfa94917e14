//! Verdicts → NDJSON on stdout. Takes each scored [`Call`] with its [`Verdict`] and writes one JSON object
//! on one line, with CloudTrail's field names where the value is CloudTrail's, so jq, Vector and SIEMs
//! recognise them. Every string is escaped here, whatever it holds (quotes, newlines, control characters,
//! escape sequences), so no record can break a line or the JSON. It and `terminal.rs` (the same calls,
//! and profiles, for a person) are what stdout is written with; it never decides a score.

use std::io::{self, BufWriter, Write};

use crate::extract::Call;
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
        let fields = [
            ("eventTime", call.event_time),
            ("eventID", call.event_id),
            ("accessKeyId", call.access_key),
            ("accountId", call.account),
            ("userType", call.user_type),
            ("userName", call.user_name),
            ("awsRegion", call.region),
            ("sourceIPAddress", call.ip),
            ("userAgent", call.agent),
            ("eventSource", call.event_source),
            ("eventName", call.event_name),
        ];
        for (i, (name, value)) in fields.iter().enumerate() {
            line.push(if i == 0 { b'{' } else { b',' });
            string(line, name);
            line.push(b':');
            string(line, value);
        }
        let m = verdict.matched;
        write!(
            line,
            r#","score":{},"threshold":{},"suspicious":{},"profile":"{}","matched":{{"ip":{},"agent":{},"region":{},"event":{}}},"reasons":["#,
            verdict.score,
            verdict.threshold,
            verdict.suspicious,
            match verdict.standing {
                Standing::Unknown => "unknown",
                Standing::Warming(_) => "warming",
                Standing::Known => "known",
            },
            m.ip,
            m.agent,
            m.region,
            m.event
        )?;
        let mut first = true;
        let mut reason = |line: &mut Vec<u8>, parts: &[&str]| {
            if !first {
                line.push(b',');
            }
            first = false;
            strings(line, parts);
        };
        if let Some(maker) = &verdict.made_by {
            reason(line, &["key made by ", maker, " (iam:CreateAccessKey) in this run; scored against its profile"]);
        }
        if let Standing::Warming(warming) = verdict.standing {
            reason(line, &[&warming.to_string()]);
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
                (m.event, "event ", event(call.event_source, call.event_name), "eventName"),
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
        line.extend_from_slice(b"]}\n");
        self.out.write_all(line)
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
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
    strings(out, &[s]);
}

/// Appends the concatenation of `parts` as one JSON string.
fn strings(out: &mut Vec<u8>, parts: &[&str]) {
    out.push(b'"');
    for part in parts {
        escape(out, part);
    }
    out.push(b'"');
}

fn escape(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escaped: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x00..=0x1f | 0x7f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escaped.is_empty() {
            out.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]);
        } else {
            out.extend_from_slice(escaped);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
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
    }

    #[test]
    fn a_verdict_line_has_the_contract_fields() {
        let call = Call::example();
        let verdict = Verdict {
            score: 50,
            threshold: 70,
            suspicious: true,
            standing: Standing::Known,
            matched: Matched { ip: false, agent: true, region: true, event: false },
            signals: Vec::new(),
            made_by: None,
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
}
