//! Bytes → CloudTrail records. Takes one chunk of input bytes and finds the JSON documents in it, whatever
//! their shape: NDJSON (a record per line), a CloudTrail log file `{"Records":[…]}`, a JSON array of records,
//! a pretty-printed record, or documents simply concatenated. Gives each record to the caller as a
//! [`Record`] that borrows its strings from the chunk, and says which documents were skipped (digest and
//! Insights files) or could not be read, and where. It is the only file that names the JSON parser, and it
//! never decides what a record means: that is `extract.rs`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// One string field of a record: absent (or `null`), a string, or a value of another JSON type.
/// A wrong type is kept as such so that `extract` can say which field was wrong, instead of the whole
/// record failing to parse.
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Text<'a> {
    #[default]
    Absent,
    Str(Cow<'a, str>),
    Wrong(&'static str),
}

impl<'a> Text<'a> {
    /// The string, or "" when the field is absent or of another type.
    pub fn as_str(&self) -> &str {
        match self {
            Text::Str(s) => s,
            Text::Absent | Text::Wrong(_) => "",
        }
    }
}

/// The fields of a CloudTrail record that keywatcher reads; every other field is skipped unparsed.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Record<'a> {
    #[serde(borrow, default)]
    pub event_time: Text<'a>,
    #[serde(borrow, default, rename = "eventID")]
    pub event_id: Text<'a>,
    #[serde(borrow, default)]
    pub event_source: Text<'a>,
    #[serde(borrow, default)]
    pub event_name: Text<'a>,
    #[serde(borrow, default)]
    pub event_type: Text<'a>,
    #[serde(borrow, default)]
    pub aws_region: Text<'a>,
    #[serde(borrow, default, rename = "sourceIPAddress")]
    pub source_ip_address: Text<'a>,
    #[serde(borrow, default)]
    pub user_agent: Text<'a>,
    #[serde(borrow, default)]
    pub recipient_account_id: Text<'a>,
    #[serde(borrow, default)]
    pub user_identity: Identity<'a>,
    /// Present in a CloudTrail log file: the records it holds.
    #[serde(borrow, default, rename = "Records")]
    records: Option<Vec<Element<'a>>>,
    /// Present in a digest file, which lists log files and holds no records.
    #[serde(default)]
    digest_start_time: Option<IgnoredAny>,
    /// Present in an Insights event.
    #[serde(default)]
    insight_details: Option<IgnoredAny>,
}

impl Record<'_> {
    /// False for an object that has none of the fields every CloudTrail record has.
    pub fn looks_like_cloudtrail(&self) -> bool {
        self.user_identity.present
            || !matches!(self.event_time, Text::Absent)
            || !matches!(self.event_name, Text::Absent)
    }
}

/// `userIdentity`. A value that is not an object is treated as an identity with no fields.
#[derive(Debug, Default)]
pub struct Identity<'a> {
    /// Whether the record had a `userIdentity` at all.
    pub present: bool,
    pub kind: Text<'a>,
    pub access_key_id: Text<'a>,
    pub account_id: Text<'a>,
    pub user_name: Text<'a>,
    pub invoked_by: Text<'a>,
}

/// A top-level document, or one element of `Records` or of an array.
#[derive(Debug)]
enum Element<'a> {
    Object(Box<Record<'a>>),
    Array(Vec<Element<'a>>),
    Other(&'static str),
}

/// What a chunk holds, in order, as the parser finds it.
#[derive(Debug)]
#[allow(clippy::large_enum_variant, reason = "nearly every item is a record: boxing would cost an allocation each")]
pub enum Item<'a> {
    Record(Record<'a>, Pos),
    Skipped(Skip, Pos),
    Malformed(Malformed),
}

/// Where in the chunk a record or problem is: the byte offset of its document, and for a record inside
/// `Records` or an array, its index there.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pos {
    pub offset: usize,
    pub index: Option<usize>,
}

/// A document that is well-formed but holds nothing to profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Skip {
    Digest,
    Insight,
}

/// A document or record that could not be read. `line_in_doc` is 1-based within the document that starts
/// at `pos.offset`, when the parser knows it.
#[derive(Debug)]
pub struct Malformed {
    pub pos: Pos,
    pub line_in_doc: usize,
    pub why: String,
}

/// Parses the documents in `bytes`, calling `each` for every record, skipped document and malformed
/// document, in input order. Returns how many bytes were consumed: when `more_follows` is true and the
/// last document is cut off by the end of the chunk, it is left unconsumed so that the reader can hand it
/// back with the bytes that complete it.
pub fn chunk<'a>(bytes: &'a [u8], more_follows: bool, each: &mut dyn FnMut(Item<'a>)) -> usize {
    let mut pos = 0;
    while pos < bytes.len() {
        let rest = &bytes[pos..];
        let start = pos + rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
        if start == bytes.len() {
            return bytes.len();
        }
        let mut stream = serde_json::Deserializer::from_slice(&bytes[start..]).into_iter::<Element>();
        match stream.next() {
            None => return bytes.len(),
            Some(Ok(element)) => {
                pos = start + stream.byte_offset();
                flatten(element, start, each);
            }
            Some(Err(err)) if err.is_eof() && more_follows => return start,
            Some(Err(err)) => {
                each(Item::Malformed(Malformed {
                    pos: Pos { offset: start, index: None },
                    line_in_doc: err.line().max(1),
                    why: describe(&err),
                }));
                pos = resync(bytes, start);
            }
        }
    }
    bytes.len()
}

/// After a document that could not be read, the next place a document may start: the next line that
/// begins, without indentation, with `{` or `[`. For NDJSON that is the next line; for pretty-printed
/// documents it skips the rest of the broken one.
fn resync(bytes: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(nl) = memchr::memchr(b'\n', &bytes[at..]) {
        at += nl + 1;
        if matches!(bytes.get(at), Some(b'{' | b'[')) {
            return at;
        }
    }
    bytes.len()
}

fn describe(err: &serde_json::Error) -> String {
    // serde_json appends " at line L column C"; the caller states the position in its own terms.
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) => text[..cut].to_string(),
        None => text,
    };
    if err.is_eof() {
        format!("truncated JSON ({text})")
    } else {
        format!("invalid JSON ({text}, column {})", err.column())
    }
}

fn flatten<'a>(element: Element<'a>, offset: usize, each: &mut dyn FnMut(Item<'a>)) {
    let at = |index| Pos { offset, index };
    match element {
        Element::Object(mut record) => match record.records.take() {
            Some(records) => items(records, offset, each),
            None => one(*record, at(None), each),
        },
        Element::Array(elements) => items(elements, offset, each),
        Element::Other(kind) => each(Item::Malformed(Malformed {
            pos: at(None),
            line_in_doc: 1,
            why: format!("not a CloudTrail record: a JSON {kind}"),
        })),
    }
}

fn items<'a>(elements: Vec<Element<'a>>, offset: usize, each: &mut dyn FnMut(Item<'a>)) {
    for (index, element) in elements.into_iter().enumerate() {
        let pos = Pos { offset, index: Some(index) };
        match element {
            Element::Object(record) if record.records.is_none() => one(*record, pos, each),
            Element::Object(_) => each(Item::Malformed(Malformed {
                pos,
                line_in_doc: 1,
                why: "a Records list inside a record".to_string(),
            })),
            Element::Array(_) => each(Item::Malformed(Malformed {
                pos,
                line_in_doc: 1,
                why: "not a CloudTrail record: a JSON array".to_string(),
            })),
            Element::Other(kind) => each(Item::Malformed(Malformed {
                pos,
                line_in_doc: 1,
                why: format!("not a CloudTrail record: a JSON {kind}"),
            })),
        }
    }
}

fn one<'a>(record: Record<'a>, pos: Pos, each: &mut dyn FnMut(Item<'a>)) {
    if record.digest_start_time.is_some() {
        each(Item::Skipped(Skip::Digest, pos));
    } else if record.insight_details.is_some() || record.event_type.as_str() == "AwsCloudTrailInsight" {
        each(Item::Skipped(Skip::Insight, pos));
    } else {
        each(Item::Record(record, pos));
    }
}

/// The visits of JSON null, booleans and numbers, each giving `$value` with `$kind` bound to the JSON type's
/// name ("null", "boolean", "number").
macro_rules! visit_scalars {
    ($kind:ident => $value:expr) => {
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            let $kind = "null";
            Ok($value)
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            let $kind = "boolean";
            Ok($value)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            let $kind = "number";
            Ok($value)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            let $kind = "number";
            Ok($value)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            let $kind = "number";
            Ok($value)
        }
    };
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    visit_scalars!(kind => if kind == "null" { Text::Absent } else { Text::Wrong(kind) });
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Text::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text::Wrong("array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Text::Wrong("object"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Identity<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdentityVisitor)
    }
}

struct IdentityVisitor;

impl<'de> Visitor<'de> for IdentityVisitor {
    type Value = Identity<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a userIdentity object")
    }
    visit_scalars!(_kind => Identity::default());
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut id = Identity { present: true, ..Identity::default() };
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            let slot = match key.as_ref() {
                "type" => &mut id.kind,
                "accessKeyId" => &mut id.access_key_id,
                "accountId" => &mut id.account_id,
                "userName" => &mut id.user_name,
                "invokedBy" => &mut id.invoked_by,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            *slot = map.next_value()?;
        }
        Ok(id)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Identity::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Identity::default())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Element<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ElementVisitor)
    }
}

struct ElementVisitor;

impl<'de> Visitor<'de> for ElementVisitor {
    type Value = Element<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a CloudTrail record, log file or array of records")
    }
    visit_scalars!(kind => Element::Other(kind));
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let record = Record::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Ok(Element::Object(Box::new(record)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut elements = Vec::new();
        while let Some(element) = seq.next_element::<Element>()? {
            elements.push(element);
        }
        Ok(Element::Array(elements))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Element::Other("string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(input: &str, more_follows: bool) -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let consumed = chunk(input.as_bytes(), more_follows, &mut |item| {
            seen.push(match item {
                Item::Record(r, pos) => format!("{}@{}:{:?}", r.event_name.as_str(), pos.offset, pos.index),
                Item::Skipped(s, _) => format!("{s:?}"),
                Item::Malformed(m) => format!("bad@{}:{}", m.pos.offset, m.why),
            })
        });
        (seen, consumed)
    }

    #[test]
    fn every_shape_gives_its_records_in_order() {
        let ndjson = "{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n";
        assert_eq!(collect(ndjson, false).0, ["A@0:None", "B@18:None"]);
        let log = r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
        assert_eq!(collect(log, false).0, ["A@0:Some(0)", "B@0:Some(1)"]);
        let array = "[{\"eventName\":\"A\"},\n {\"eventName\":\"B\"}]";
        assert_eq!(collect(array, false).0, ["A@0:Some(0)", "B@0:Some(1)"]);
        let pretty = "{\n  \"eventName\": \"A\"\n}\n{\n  \"eventName\": \"B\"\n}";
        assert_eq!(collect(pretty, false).0, ["A@0:None", "B@23:None"]);
        let glued = r#"{"eventName":"A"}{"eventName":"B"}"#;
        assert_eq!(collect(glued, false).0, ["A@0:None", "B@17:None"]);
    }

    #[test]
    fn a_document_cut_by_the_chunk_end_is_left_for_the_next_chunk() {
        let input = "{\"eventName\":\"A\"}\n{\"eventName\":";
        let (seen, consumed) = collect(input, true);
        assert_eq!(seen, ["A@0:None"]);
        assert_eq!(consumed, 18);
        let (seen, consumed) = collect(input, false);
        assert_eq!(seen.len(), 2);
        assert!(seen[1].starts_with("bad@18:truncated JSON"), "{seen:?}");
        assert_eq!(consumed, input.len());
    }

    #[test]
    fn a_broken_line_is_reported_and_the_next_one_read() {
        let input = "{\"eventName\":\"A\"}\n{\"eventName\": oops}\n{\"eventName\":\"C\"}\n";
        let (seen, _) = collect(input, false);
        assert_eq!(seen.len(), 3);
        assert!(seen[1].starts_with("bad@18:invalid JSON"), "{seen:?}");
        assert_eq!(seen[2], "C@38:None");
    }

    #[test]
    fn digests_insights_and_non_records_are_told_apart() {
        let input = concat!(
            "{\"awsAccountId\":\"1\",\"digestStartTime\":\"x\",\"logFiles\":[]}\n",
            "{\"Records\":[{\"eventType\":\"AwsCloudTrailInsight\",\"insightDetails\":{}}]}\n",
            "42\n",
            "[]\n",
            "{\"Records\":[7]}\n"
        );
        let (seen, _) = collect(input, false);
        assert_eq!(seen[0], "Digest");
        assert_eq!(seen[1], "Insight");
        assert!(seen[2].ends_with("not a CloudTrail record: a JSON number"));
        assert!(seen[3].ends_with("not a CloudTrail record: a JSON number"));
        assert_eq!(seen.len(), 4);
    }

    #[test]
    fn wrong_types_and_escapes_do_not_fail_the_record() {
        let input = r#"{"eventName":"A\"B","userAgent":17,"userIdentity":{"type":"IAMUser","accessKeyId":["x"]},"sourceIPAddress":null}"#;
        let mut got = None;
        chunk(input.as_bytes(), false, &mut |item| {
            if let Item::Record(r, _) = item {
                got = Some((
                    r.event_name.clone(),
                    r.user_agent.clone(),
                    r.user_identity.access_key_id.clone(),
                    r.source_ip_address.clone(),
                ));
            }
        });
        let (name, agent, key, ip) = got.expect("a record");
        assert_eq!(name, Text::Str("A\"B".into()));
        assert_eq!(agent, Text::Wrong("number"));
        assert_eq!(key, Text::Wrong("array"));
        assert_eq!(ip, Text::Absent);
    }
}
