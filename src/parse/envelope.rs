//! Envelopes → the documents in them. Takes a JSON object that is not a CloudTrail record and, when it has
//! the shape of a wrapper that pipelines put records in, gives what it holds back to the parser:
//!
//! - an EventBridge event: the record in `detail`;
//! - `aws cloudtrail lookup-events` output: `Events[].CloudTrailEvent`, or one such event alone, a record as a
//!   JSON string;
//! - CloudWatch Logs subscription data, decoded (`logEvents[].message`, `CONTROL_MESSAGE`s skipped) or as
//!   delivered (`awslogs.data`: base64 of gzip of the same);
//! - a Fluent Bit or Vector event: a record in `log` or `message`, as a JSON string or an object;
//! - an SQS message: the event in `Body` (`aws sqs receive-message`: `Messages[].Body`) or `body` (a Lambda
//!   event's `Records[]`), and an SNS notification's `Message`, each a JSON string.
//!
//! A record held as an object is parsed where it lies and borrows from the chunk; one held as text is decoded
//! into bytes of its own and parsed as a document of its own ([`Opened`]), named by its path
//! (`logEvents[3].message`). Detected by shape only, and only for objects that are not records themselves,
//! so plain CloudTrail never comes here. Never reads a record's fields: that is the parser's.

use std::borrow::Cow;
use std::io::Read;

use base64::Engine;
use flate2::read::MultiGzDecoder;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::{Item, Limits, Opened, Pos, Skip, Source, deliver_at, describe, report, skip_whitespace, value};
use crate::config::Size;

/// How many envelopes may be nested (a record in `message` of an event in `detail`…): more than any pipeline
/// makes, few enough that a crafted document cannot make the parser recurse deep.
const MAX_DEPTH: u8 = 4;

/// The most bytes `awslogs.data` may unpack to for each byte of its base64: what bounds the memory of a chunk
/// of payloads, as the bound on each payload alone (`--max-record-bytes`) does not (a 1 MiB line of 11 KB
/// payloads each unpacking to 8 MiB held 750 MB). Batches of CloudTrail records unpack to 8–9 times their
/// base64 (100 and 700 records of `scripts/gen.py`); 64 leaves room for far more repetitive logs. Not a flag:
/// it is what compression can do to log events, not a size to fit a machine.
const MAX_RATIO: u64 = 64;

/// The members of the envelopes, all of them optional: which are present says which envelope it is.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    detail: Option<&'a RawValue>,
    #[serde(borrow, default)]
    message: Option<&'a RawValue>,
    #[serde(borrow, default)]
    log: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "CloudTrailEvent")]
    cloudtrail_event: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "Body")]
    sqs_body: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "body")]
    lambda_body: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "Message")]
    sns_message: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "Messages")]
    messages: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, rename = "Events")]
    events: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, rename = "logEvents")]
    log_events: Option<Vec<&'a RawValue>>,
    #[serde(borrow, default, rename = "messageType")]
    message_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    awslogs: Option<Awslogs<'a>>,
}

/// `awslogs`, as a CloudWatch Logs subscription delivers its data to Lambda or Firehose.
#[derive(Deserialize)]
struct Awslogs<'a> {
    #[serde(borrow, default)]
    data: Option<Cow<'a, str>>,
}

/// Gives what the envelope at `pos` holds, when the object there is one; false when it is not, or holds no JSON
/// (a Vector event of some other log line): the object is then taken for what it is, not CloudTrail.
pub(super) fn open<'a>(source: Source<'a>, pos: Pos, each: &mut dyn FnMut(Item<'a>)) -> bool {
    let Ok((envelope, _)) = value::<Envelope>(source, pos.offset) else { return false };
    if !envelope.holds_something() {
        return false;
    }
    envelope.give_inside(source, pos, "", each)
}

impl<'a> Envelope<'a> {
    fn holds_something(&self) -> bool {
        self.detail.is_some()
            || self.message.is_some()
            || self.log.is_some()
            || self.cloudtrail_event.is_some()
            || self.sqs_body.is_some()
            || self.lambda_body.is_some()
            || self.sns_message.is_some()
            || self.messages.is_some()
            || self.events.is_some()
            || self.log_events.is_some()
            || self.awslogs.as_ref().is_some_and(|awslogs| awslogs.data.is_some())
    }

    /// [`Envelope::give`], one envelope deeper than `source`; past [`MAX_DEPTH`], a problem instead. Every
    /// way into an envelope comes through here, so that no shape of nesting (objects, strings, or the elements
    /// of `Events` holding `Events`) can make the parser recurse deeper.
    fn give_inside(self, source: Source<'a>, pos: Pos, prefix: &str, each: &mut dyn FnMut(Item<'a>)) -> bool {
        if source.depth >= MAX_DEPTH {
            report(
                each,
                pos.offset,
                pos.index,
                format!("envelopes nested more than {MAX_DEPTH} deep: not opened"),
                None,
            );
            return true;
        }
        self.give(Source { depth: source.depth + 1, ..source }, pos, prefix, each)
    }

    /// Gives each document the envelope at `pos` holds, in order; `prefix` is the path to the envelope. False
    /// when it gave nothing, not even a problem: its members hold no JSON.
    fn give(self, source: Source<'a>, pos: Pos, prefix: &str, each: &mut dyn FnMut(Item<'a>)) -> bool {
        if self.message_type.as_deref() == Some("CONTROL_MESSAGE") {
            each(Item::Skipped(Skip::Control, None));
            return true;
        }
        let mut gave = false;
        let held = [
            ("detail", self.detail),
            ("message", self.message),
            ("log", self.log),
            ("CloudTrailEvent", self.cloudtrail_event),
            ("Body", self.sqs_body),
            ("body", self.lambda_body),
            ("Message", self.sns_message),
        ];
        // An event holds one record: the first member with JSON in it (a Fluent Bit filter may copy `log` to
        // `message`, and the record must not be read twice).
        for (name, raw) in held {
            if let Some(raw) = raw
                && hold(source, pos, format!("{prefix}{name}"), raw.get(), each)
            {
                gave = true;
                break;
            }
        }
        for (name, list) in [("Events", self.events), ("logEvents", self.log_events), ("Messages", self.messages)] {
            for (index, raw) in list.into_iter().flatten().enumerate() {
                gave = true;
                // The path names the element: no index beside it.
                let at = source.offset_of(raw.get());
                let path = format!("{prefix}{name}[{index}]");
                let gave_any = match value::<Envelope>(source, at) {
                    Ok((event, _)) if event.holds_something() => {
                        event.give_inside(source, Pos { offset: at, index: None }, &format!("{path}."), each)
                    }
                    _ => false,
                };
                if !gave_any {
                    report(each, at, None, format!("not a CloudTrail record: {path} holds no JSON document"), None);
                }
            }
        }
        if let Some(data) = self.awslogs.and_then(|awslogs| awslogs.data) {
            gave = true;
            let path = format!("{prefix}awslogs.data");
            // CloudWatch Logs never packs a payload in a payload; unpacking one would multiply the ratio.
            let unpacked = if source.unpacked { Err(NESTED.to_string()) } else { unpack(&data, source.limits) };
            match unpacked {
                Ok(bytes) => each(Item::Opened(Opened::parse(Source { unpacked: true, ..source }, path, bytes), pos)),
                Err(why) => report(each, pos.offset, pos.index, format!("{path} {why}"), None),
            }
        }
        gave
    }
}

/// Gives the document `text`, the raw value at `path` of the envelope at `pos`: a JSON string is decoded and
/// parsed on its own; an object or array is parsed where it lies. False, giving nothing, for text that is not
/// JSON and for a number or boolean.
fn hold<'a>(source: Source<'a>, pos: Pos, path: String, text: &'a str, each: &mut dyn FnMut(Item<'a>)) -> bool {
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(decoded)
                if matches!(decoded.as_bytes().get(skip_whitespace(decoded.as_bytes(), 0)), Some(b'{' | b'[')) =>
            {
                each(Item::Opened(Opened::parse(source, path, decoded.into_bytes()), pos))
            }
            Ok(_) => return false,
            Err(err) => report(each, pos.offset, pos.index, format!("{path}: {}", describe(&err)), None),
        },
        Some(b'{' | b'[') => {
            deliver_at(source, source.offset_of(text), pos.index, each);
        }
        _ => return false,
    }
    true
}

/// Why an `awslogs.data` inside another one is not unpacked.
const NESTED: &str = "is inside another awslogs.data: not unpacked (CloudWatch Logs does not nest its payloads)";

/// `awslogs.data` → the JSON it holds: base64, then gzip, at most `limits.record` bytes (the document it
/// unpacks to is held whole, as a record is) and [`MAX_RATIO`] times the base64's length; or what is wrong.
/// CloudWatch Logs sends at most 1 MiB of log events in one batch: a payload that unpacks to much more is not
/// a batch but a gzip bomb.
fn unpack(data: &str, limits: Limits) -> Result<Vec<u8>, String> {
    let packed = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|err| format!("is not base64 ({err}): CloudWatch Logs sends base64 of gzip"))?;
    let limit = limits.record.min(MAX_RATIO * data.len() as u64);
    let mut unpacked = Vec::new();
    MultiGzDecoder::new(&packed[..])
        .take(limit + 1)
        .read_to_end(&mut unpacked)
        .map_err(|err| format!("is not gzip ({err}): CloudWatch Logs sends base64 of gzip"))?;
    if unpacked.len() as u64 > limits.record {
        return Err(format!(
            "unpacks to more than {} ({}), more than a CloudWatch Logs batch holds (1 MiB): not read",
            Size(limits.record),
            limits.record_flag
        ));
    }
    if unpacked.len() as u64 > limit {
        return Err(format!(
            "unpacks to more than {MAX_RATIO} times its size, far more than log events compress: not read"
        ));
    }
    Ok(unpacked)
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;

    use super::super::tests::{collect, collect_within};
    use super::*;

    fn packed(json: &str, level: Compression) -> String {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
        gz.write_all(json.as_bytes()).unwrap();
        base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap())
    }

    #[test]
    fn every_envelope_gives_its_records() {
        let cases = [
            (r#"{"detail-type":"AWS API Call via CloudTrail","detail":{"eventName":"A"}}"#, "A@54:None"),
            (
                r#"{"Events":[{"EventTime":1.7e9,"CloudTrailEvent":"{\"eventName\":\"A\"}"},{"CloudTrailEvent":"{\"eventName\":\"B\"}"}],"NextToken":"x"}"#,
                "Events[0].CloudTrailEvent@11[A@0:None] Events[1].CloudTrailEvent@73[B@0:None]",
            ),
            (r#"{"EventId":"1","CloudTrailEvent":"{\"eventName\":\"A\"}"}"#, "CloudTrailEvent@0[A@0:None]"),
            (
                r#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","message":"{\"eventName\":\"A\"}"}]}"#,
                "logEvents[0].message@43[A@0:None]",
            ),
            (r#"{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE"}]}"#, "Control"),
            (r#"{"log":"{\"eventName\":\"A\"}\n","stream":"stdout"}"#, "log@0[A@0:None]"),
            (r#"{"message":{"eventName":"A"},"host":"h"}"#, "A@11:None"),
            // One record per event: the first member that holds one.
            (r#"{"message":"GET / 200","log":{"eventName":"A"},"detail":"x"}"#, "A@29:None"),
            (r#"{"log":{"eventName":"A"},"message":{"eventName":"A"}}"#, "A@35:None"),
            // EventBridge through SQS, as `aws sqs receive-message` and a Lambda function get it; SNS.
            (
                r#"{"Messages":[{"MessageId":"1","Body":"{\"detail\":{\"eventName\":\"A\"}}"}]}"#,
                "Messages[0].Body@13[A@10:None]",
            ),
            (
                r#"{"Records":[{"messageId":"1","body":"{\"detail\":{\"eventName\":\"A\"}}","eventSource":"aws:sqs"}]}"#,
                "body@12[A@10:None]",
            ),
            (r#"{"Type":"Notification","Message":"{\"eventName\":\"A\"}"}"#, "Message@0[A@0:None]"),
            // Not an envelope of CloudTrail: the object is given as it is, for `extract` to call it foreign.
            (r#"{"message":"GET / 200"}"#, "@0:None"),
            (
                r#"{"logEvents":[{"message":"GET / 200"}]}"#,
                "bad@14:not a CloudTrail record: logEvents[0] holds no JSON document",
            ),
            (
                r#"{"message":"{\"eventName\":\"A\"} {\"eventName\":"}"#,
                "message@0[A@0:None bad@18:truncated JSON (the input ends inside it)]",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(collect(input, false).0.join(" "), want, "{input}");
        }
    }

    #[test]
    fn awslogs_data_is_unpacked_and_a_bomb_is_refused() {
        let batch = r#"{"messageType":"DATA_MESSAGE","logEvents":[{"message":"{\"eventName\":\"A\"}"}]}"#;
        let input = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, packed(batch, Compression::default()));
        assert_eq!(collect(&input, false).0, ["awslogs.data@0[logEvents[0].message@43[A@0:None]]"]);
        // Stored, not compressed: within the ratio, over a size bound of 1M, which the user may raise.
        let big = batch.replace(r#"{"message""#, &format!(r#"{}{{"message""#, " ".repeat(1 << 20)));
        let big = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, packed(&big, Compression::none()));
        let small = Limits { record: 1 << 20, ..Limits::DEFAULT };
        let seen = collect_within(&big, false, small).0;
        assert!(seen[0].starts_with("bad@0:awslogs.data unpacks to more than 1M (--max-record-bytes)"), "{seen:?}");
        let seen = collect_within(&big, false, Limits { record: 2 << 20, ..small }).0;
        assert_eq!(seen, ["awslogs.data@0[logEvents[0].message@1048619[A@0:None]]"]);
        // 1 MiB from 1.4 KB: within the size, over the ratio (a line of these held 750 MB).
        let bomb = packed(&" ".repeat(1 << 20), Compression::best());
        let seen = collect(&format!(r#"{{"awslogs":{{"data":"{bomb}"}}}}"#), false).0;
        assert!(seen[0].starts_with("bad@0:awslogs.data unpacks to more than 64 times its size"), "{seen:?}");
        let garbled = collect(r#"{"awslogs":{"data":"not base64!"}}"#, false).0;
        assert!(garbled[0].starts_with("bad@0:awslogs.data is not base64"), "{garbled:?}");
    }

    #[test]
    fn lists_of_events_holding_lists_of_events_are_not_followed_down() {
        // Each element of `Events` held `Events` again, and was opened without counting: 10,000 levels
        // overflowed the stack (100,000 crashed the binary).
        for list in ["Events", "logEvents"] {
            let nested = format!("{}{{}}{}", format!(r#"{{"{list}":["#).repeat(10_000), "]}".repeat(10_000));
            let seen = collect(&nested, false).0;
            assert!(seen.concat().contains("envelopes nested more than 4 deep: not opened"), "{list}: {seen:?}");
        }
    }

    #[test]
    fn a_payload_inside_a_payload_is_not_unpacked() {
        // Each level would multiply what a few bytes unpack to (a 15 KB line reached gigabytes).
        let inner = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, packed(r#"{"eventName":"A"}"#, Compression::default()));
        let batch = serde_json::json!({"logEvents": [{"message": inner}]}).to_string();
        let input = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, packed(&batch, Compression::default()));
        let seen = collect(&input, false).0;
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert!(seen[0].contains("awslogs.data is inside another awslogs.data: not unpacked"), "{seen:?}");
        assert!(!seen[0].contains("A@"), "{seen:?}");
    }

    #[test]
    fn envelopes_nested_too_deep_are_not_opened() {
        let record = r#"{"eventName":"A"}"#.to_string();
        // As objects, and as strings: one envelope less is read.
        let in_place = |levels: u8| (0..levels).fold(record.clone(), |inner, _| format!(r#"{{"detail":{inner}}}"#));
        let as_text =
            |levels| (0..levels).fold(record.clone(), |inner, _| serde_json::json!({"log": inner}).to_string());
        for wrap in [&in_place as &dyn Fn(u8) -> String, &as_text] {
            let read = collect(&wrap(MAX_DEPTH), false).0;
            assert!(read[0].contains("A@"), "{read:?}");
            let seen = collect(&wrap(MAX_DEPTH + 1), false).0;
            assert!(!seen[0].contains("A@"), "{seen:?}");
            assert!(seen[0].contains("envelopes nested more than 4 deep: not opened"), "{seen:?}");
        }
    }
}
