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
//! into bytes of its own and parsed as a document of its own ([`super::Opened`]), named by its path
//! (`logEvents[3].message`). Detected by shape only, and only for objects that are not records themselves,
//! so plain CloudTrail never comes here. Never reads a record's fields: that is the parser's.

use std::borrow::Cow;
use std::io::Read;

use base64::Engine;
use flate2::read::MultiGzDecoder;
use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use super::{
    Budget, Doc, Inside, Item, Limits, Pos, Skip, Source, deliver_at, describe, report, skip_whitespace, value,
};
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

/// The members of the envelopes, all of them optional: which are present says which envelope it is. The lists
/// are kept unparsed (their elements are taken one at a time, see [`Rest`]), but must be lists.
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
    #[serde(borrow, default, rename = "Messages", deserialize_with = "list")]
    messages: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "Events", deserialize_with = "list")]
    events: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "logEvents", deserialize_with = "list")]
    log_events: Option<&'a RawValue>,
    #[serde(borrow, default, rename = "messageType")]
    message_type: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    awslogs: Option<Awslogs<'a>>,
}

/// A member that must be a JSON list (or `null`, as if absent), kept as its text.
fn list<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<&'a RawValue>, D::Error> {
    let raw = <&RawValue>::deserialize(d)?;
    match raw.get().as_bytes().first() {
        Some(b'[') => Ok(Some(raw)),
        Some(b'n') => Ok(None),
        _ => Err(de::Error::invalid_type(de::Unexpected::Other("a value that is not a list"), &"a list")),
    }
}

/// A member that must be a JSON string (or `null`, as if absent), kept as its text so that its place can be
/// kept: it is decoded when its turn comes.
fn string<'de: 'a, 'a, D: Deserializer<'de>>(d: D) -> Result<Option<&'a RawValue>, D::Error> {
    let raw = <Option<&RawValue>>::deserialize(d)?;
    if let Some(raw) = raw {
        serde_json::from_str::<Cow<str>>(raw.get()).map_err(de::Error::custom)?;
    }
    Ok(raw)
}

/// `awslogs`, as a CloudWatch Logs subscription delivers its data to Lambda or Firehose.
#[derive(Deserialize)]
struct Awslogs<'a> {
    #[serde(borrow, default, deserialize_with = "string")]
    data: Option<&'a RawValue>,
}

/// The lists of documents an envelope may hold, in the order they are given.
const LISTS: [&str; 3] = ["Events", "logEvents", "Messages"];

/// Gives what the envelope at `pos` holds, when the object there is one; false when it is not, or holds no JSON
/// (a Vector event of some other log line): the object is then taken for what it is, not CloudTrail.
pub(super) fn open<'a>(source: Source<'a>, pos: Pos, budget: &Budget, each: &mut dyn FnMut(Item<'a>)) -> bool {
    let Ok((envelope, _)) = value::<Envelope>(source, pos.offset) else { return false };
    if !envelope.holds_something() {
        return false;
    }
    envelope.give(source, pos, String::new(), budget, each)
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

    /// Gives each document the envelope at `pos` holds, in order, as many as `budget` allows (see [`Rest`]);
    /// `prefix` is the path to the envelope. False when it gave nothing, not even a problem: its members hold
    /// no JSON. One envelope deeper than `source`; past [`MAX_DEPTH`], a problem instead. Every way into an
    /// envelope comes through here, so that no shape of nesting (objects, strings, or the elements of `Events`
    /// holding `Events`) can make the parser recurse deeper.
    fn give(
        self,
        source: Source<'a>,
        pos: Pos,
        prefix: String,
        budget: &Budget,
        each: &mut dyn FnMut(Item<'a>),
    ) -> bool {
        if source.depth >= MAX_DEPTH {
            let why = format!("envelopes nested more than {MAX_DEPTH} deep: not opened");
            report(each, pos.offset, pos.index, why, None);
            return true;
        }
        let source = Source { depth: source.depth + 1, ..source };
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
                && hold(source, pos, format!("{prefix}{name}"), raw.get(), budget, each)
            {
                gave = true;
                break;
            }
        }
        let lists = [self.events, self.log_events, self.messages];
        let rest = Rest {
            pos,
            prefix,
            lists: lists.map(|list| list.map(|raw| (source.offset_of(raw.get()) + 1, 0))),
            awslogs: self.awslogs.and_then(|awslogs| awslogs.data).map(|raw| source.offset_of(raw.get())),
        };
        if let Some(within) = budget.stopped() {
            budget.stop(Inside::Envelope(rest, Some(within)));
            return true;
        }
        rest.give(source, budget, each) || gave
    }
}

/// What an envelope has left to give after the record it holds: the elements of its lists, each from where
/// it is in it, then its `awslogs.data`. Places in the envelope's bytes, not parsed values, so that a part that
/// stopped between two documents goes on there without reading the envelope again (a page of 300,000 events
/// would be read once per part), and so that the lists take no memory for their elements (a vector of them took
/// 16 bytes for each `{}` of `{"Events":[{},{},…]}`).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Rest {
    /// The envelope's place.
    pos: Pos,
    /// The path to the envelope.
    prefix: String,
    /// For each of [`LISTS`] that it has: where its next element may start (after `[` or `,`), and its index.
    lists: [Option<(usize, usize)>; 3],
    /// Where `awslogs.data` starts, while it is yet to be given.
    awslogs: Option<usize>,
}

impl Rest {
    /// Goes on where the last part stopped, in the envelope held by `source` (and in the document it was giving,
    /// `within`), as [`Envelope::give`] went in.
    pub(super) fn resume<'a>(
        self,
        source: Source<'a>,
        within: Option<Box<Inside>>,
        budget: &Budget,
        each: &mut dyn FnMut(Item<'a>),
    ) {
        let source = Source { depth: source.depth + 1, ..source };
        if let Some(within) = within {
            within.resume(source, budget, each);
            if let Some(stopped) = budget.stopped() {
                budget.stop(Inside::Envelope(self, Some(stopped)));
                return;
            }
        }
        self.give(source, budget, each);
    }

    /// Gives the documents left, in order, until `budget` is spent: then where it stopped goes to `budget`.
    /// False when there was nothing left to give.
    fn give<'a>(mut self, source: Source<'a>, budget: &Budget, each: &mut dyn FnMut(Item<'a>)) -> bool {
        let mut gave = false;
        for (list, name) in LISTS.iter().enumerate() {
            while let Some((after, index)) = self.lists[list] {
                // The envelope was read whole: an element, then `,` or `]`.
                let at = skip_whitespace(&source, after);
                if source.get(at).is_none_or(|&b| b == b']') {
                    self.lists[list] = None;
                    break;
                }
                gave = true;
                if budget.spent() {
                    budget.stop(Inside::Envelope(self, None));
                    return true;
                }
                let end = self.element(source, at, format!("{}{name}[{index}]", self.prefix), budget, each);
                let next = skip_whitespace(&source, end);
                self.lists[list] = (source.get(next) == Some(&b',')).then_some((next + 1, index + 1));
                if let Some(within) = budget.stopped() {
                    budget.stop(Inside::Envelope(self, Some(within)));
                    return true;
                }
            }
        }
        let Some(at) = self.awslogs else { return gave };
        if budget.spent() {
            budget.stop(Inside::Envelope(self, None));
            return true;
        }
        self.awslogs = None;
        let path = format!("{}awslogs.data", self.prefix);
        // CloudWatch Logs never packs a payload in a payload; unpacking one would multiply the ratio.
        let unpacked = match value::<Cow<str>>(source, at) {
            _ if source.unpacked => Err(NESTED.to_string()),
            Ok((data, _)) => unpack(&data, source.limits),
            // Checked to be a string when the envelope was read ([`string`]); said all the same.
            Err(_) => Err(NOT_TEXT.to_string()),
        };
        match unpacked {
            Ok(bytes) => Doc::open(Source { unpacked: true, ..source }, path, bytes, self.pos, budget, each),
            Err(why) => report(each, self.pos.offset, self.pos.index, format!("{path} {why}"), None),
        }
        if let Some(within) = budget.stopped() {
            budget.stop(Inside::Envelope(self, Some(within)));
        }
        true
    }

    /// Gives the element at `at` of one of the lists, at `path`: the documents of the event it is; gives where
    /// it ends.
    fn element<'a>(
        &self,
        source: Source<'a>,
        at: usize,
        path: String,
        budget: &Budget,
        each: &mut dyn FnMut(Item<'a>),
    ) -> usize {
        // The path names the element: no index beside it.
        let (gave, end) = match value::<Envelope>(source, at) {
            Ok((event, end)) if event.holds_something() => {
                (event.give(source, Pos { offset: at, index: None }, format!("{path}."), budget, each), end)
            }
            Ok((_, end)) => (false, end),
            Err(_) => (false, value::<IgnoredAny>(source, at).map_or(source.len(), |(_, end)| end)),
        };
        if !gave {
            report(each, at, None, format!("not a CloudTrail record: {path} holds no JSON document"), None);
        }
        end
    }
}

/// Gives the document `text`, the raw value at `path` of the envelope at `pos`: a JSON string is decoded and
/// parsed on its own; an object or array is parsed where it lies. False, giving nothing, for text that is not
/// JSON and for a number or boolean.
fn hold<'a>(
    source: Source<'a>,
    pos: Pos,
    path: String,
    text: &'a str,
    budget: &Budget,
    each: &mut dyn FnMut(Item<'a>),
) -> bool {
    match text.as_bytes().first() {
        Some(b'"') => match serde_json::from_str::<String>(text) {
            Ok(decoded)
                if matches!(decoded.as_bytes().get(skip_whitespace(decoded.as_bytes(), 0)), Some(b'{' | b'[')) =>
            {
                Doc::open(source, path, decoded.into_bytes(), pos, budget, each)
            }
            Ok(_) => return false,
            Err(err) => report(each, pos.offset, pos.index, format!("{path}: {}", describe(&err)), None),
        },
        Some(b'{' | b'[') => {
            deliver_at(source, source.offset_of(text), pos.index, budget, each);
        }
        _ => return false,
    }
    true
}

/// Why an `awslogs.data` that is not a JSON string is not unpacked.
const NOT_TEXT: &str = "is not a JSON string: CloudWatch Logs sends base64 of gzip as one";

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

    use super::super::tests::{collect, collect_within, in_parts, whole};
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
    fn a_payload_of_many_log_events_is_given_in_parts() {
        // Each with an id of its own, as CloudWatch Logs gives: the same event repeated packs past the ratio.
        let event = |id: usize| serde_json::json!({"id": format!("{:x}", id * 2654435761), "message": "{}"});
        let events: Vec<String> = (0..2 * super::super::PART_ITEMS).map(|id| event(id).to_string()).collect();
        let events = events.join(",");
        let batch = format!(r#"{{"logEvents":[{events},{{"message":"{{\"eventName\":\"A\"}}"}}]}}"#);
        let input = format!(r#"{{"awslogs":{{"data":"{}"}}}}"#, packed(&batch, Compression::default()));
        let (items, sizes) = in_parts(&input);
        assert_eq!(items, whole(&input));
        assert!(sizes.len() >= 3, "{sizes:?}");
        let last = items.last().unwrap();
        assert!(last.starts_with("awslogs.data@0>logEvents[16384].message@") && last.ends_with(">A@0:None"), "{last}");
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
