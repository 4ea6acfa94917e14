//! Bytes → CloudTrail records. Takes one chunk of input bytes and finds the JSON documents in it, whatever
//! their shape: NDJSON (a record per line), a CloudTrail log file `{"Records":[…]}`, a JSON array of records,
//! a pretty-printed record, or documents simply concatenated; the envelopes pipelines wrap records in are
//! opened by `parse/envelope.rs`. Gives each record to the caller as a [`Record`] that borrows its strings
//! (and its own JSON text) from the chunk, or from the bytes a record held as text was decoded into
//! ([`Opened`]), and says which documents were skipped (digest and Insights files, CloudWatch Logs control
//! messages) or could not be read, and where. It and its envelope room are the only files that parse
//! CloudTrail (the profiles' own JSON Lines form is `store/exchange.rs`), and they never decide what a record
//! means: that is `extract.rs`.

mod envelope;

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

pub use crate::read::Limits;

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
    /// Set when the call failed, e.g. `AccessDenied`.
    #[serde(borrow, default)]
    pub error_code: Text<'a>,
    /// Set when the call came through a VPC endpoint; `sourceIPAddress` is then a private address.
    #[serde(borrow, default)]
    pub vpc_endpoint_id: Text<'a>,
    /// `responseElements.accessKey`: the key an `iam:CreateAccessKey` call made, and for which user.
    #[serde(borrow, default, rename = "responseElements", deserialize_with = "key_made")]
    pub key_made: KeyMade<'a>,
    #[serde(borrow, default)]
    pub user_identity: Identity<'a>,
    /// The record's JSON text exactly as read, from its `{` to its `}` (for `--passthrough`).
    #[serde(skip)]
    pub text: &'a [u8],
    /// Present in a CloudTrail log file: its first record, if any. When the file is not read element by
    /// element (its `Records` not first, or the file inside an array), it is parsed whole, then stepped through
    /// from there a record at a time ([`State::Listed`]).
    #[serde(borrow, default, rename = "Records")]
    records: Option<First<'a>>,
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
    pub arn: Text<'a>,
    /// `sessionContext.sessionIssuer.arn`: the role (or user) that issued temporary credentials.
    pub issuer_arn: Text<'a>,
}

/// A top-level document, or one element of `Records` or of an array.
#[derive(Debug)]
enum Element<'a> {
    /// Boxed as soon as it is read: see [`Item::Record`].
    Object(Box<Record<'a>>),
    /// Any other JSON value, by its type's name ("array", "number", …).
    Other(&'static str),
}

/// What a chunk holds, in order, as the parser finds it.
#[derive(Debug)]
pub enum Item<'a> {
    /// Boxed: a record takes 536 bytes, which serde and the parser's steps would otherwise copy a dozen times
    /// on its way here, and which every other item would take too (the values of `[1,1,…]` included). The
    /// box costs less than the copies: 20 MB of NDJSON records parsed and scored in 612.6 M instructions
    /// against 615.9 M (callgrind), 10 MB of `{}` in 7.15 G against 7.72 G.
    Record(Box<Record<'a>>, Pos),
    /// With the document's JSON text, when it is a record of its own (digest and Insights, not a control
    /// message, which is an envelope): what `--passthrough` writes back.
    Skipped(Skip, Option<&'a [u8]>),
    Malformed(Malformed<'a>),
    /// A document an envelope held as text, at `Pos` (the envelope's place), decoded and parsed: all its items, or
    /// those of the stretch of it that one part gives (the next part gives the next stretch, in one of its own).
    Opened(Opened, Pos),
}

/// What a document held as text in an envelope was decoded into: its bytes (mended), the path to it in the
/// envelope (`logEvents[3].message`) to name it in messages, how deep in envelopes it lies and whether it came
/// out of an `awslogs.data` payload. Shared by the items of each part that gives some of them.
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub path: String,
    bytes: Vec<u8>,
    depth: u8,
    unpacked: bool,
}

impl Decoded {
    /// `bytes`, decoded from a document held as text, as deep in envelopes (and as unpacked) as `inside`, the
    /// envelope's own bytes as its opener sees them (one deeper than the envelope itself). Mended first, as
    /// `pipeline` mends a chunk: a decoded string may hold a lone surrogate escape, and gzip (`awslogs.data`)
    /// any bytes at all.
    fn new(inside: Source, path: String, mut bytes: Vec<u8>) -> Arc<Decoded> {
        mend(&mut bytes);
        Arc::new(Decoded { path, bytes, depth: inside.depth, unpacked: inside.unpacked })
    }

    /// The bytes as the parser reads them. Checked as UTF-8 (with simdutf8, as a chunk is) by each part that
    /// reads in them: a `String` checked once would cost std's slower check on every document, 1 % more
    /// instructions on CloudWatch Logs payloads of real records.
    fn source(&self, limits: Limits) -> Source<'_> {
        Source { depth: self.depth, unpacked: self.unpacked, ..Source::new(&self.bytes, limits) }
    }
}

/// The items of one decoded document (or of the stretch of it that one part gives), borrowing from its bytes.
pub type Items<'a> = Vec<Item<'a>>;

self_cell::self_cell!(
    /// A document held as text in an envelope (a JSON string, or `awslogs.data`'s base64 of gzip), decoded into
    /// bytes of its own, with what the parser found in them: its records borrow from those bytes, so the
    /// records of the chunk itself borrow from the chunk as ever. A document of more items than a part takes
    /// is given as one of these per part, each with the items of its stretch.
    pub struct Opened {
        owner: Arc<Decoded>,
        #[covariant]
        dependent: Items,
    }
    impl {Debug}
);

/// Where a part is, or stopped, in a document opened from text: the document, the envelope's place that its
/// items are given at, and the parser's place in it.
#[derive(Debug, Clone, PartialEq)]
struct Doc {
    decoded: Arc<Decoded>,
    pos: Pos,
    at: usize,
    cursor: Cursor,
}

impl Doc {
    /// Decodes a document held as text (see [`Decoded::new`]) and gives its items, as [`Doc::give`] does.
    fn open<'a>(
        inside: Source,
        path: String,
        bytes: Vec<u8>,
        pos: Pos,
        budget: &Budget,
        each: &mut dyn FnMut(Item<'a>),
    ) {
        let decoded = Decoded::new(inside, path, bytes);
        Doc { decoded, pos, at: 0, cursor: Cursor::default() }.give(inside.limits, budget, each);
    }

    /// Gives the document's items from where the parser stands in it, as one [`Item::Opened`] at the envelope's
    /// place, as many as `budget` allows; where it stopped, if it did, goes to `budget` for the next part.
    fn give<'a>(mut self, limits: Limits, budget: &Budget, each: &mut dyn FnMut(Item<'a>)) {
        let mut reach = Reach { end: self.at, full: false };
        let opened = Opened::new(Arc::clone(&self.decoded), |decoded| {
            let mut items = Vec::new();
            let source = decoded.source(limits);
            reach = walk(source, self.at, budget, false, &mut self.cursor, &mut |item| items.push(item));
            // Most hold one record: a vector grown to four items of 88 bytes would waste 264 bytes for each,
            // 53 MB for the 200,000 `Events` a 5 MB lookup-events page can name.
            items.shrink_to_fit();
            items
        });
        each(Item::Opened(opened, self.pos));
        if reach.full {
            budget.stop(Inside::Opened(Doc { at: reach.end, ..self }));
        }
    }
}

/// Where a part stopped inside a value it had begun to give (an envelope of many documents, or a document of
/// many values opened from one), for the next part to go on from there: so that a part holds about
/// [`PART_ITEMS`] items however many an envelope holds. Kept in the [`Cursor`] of the bytes that hold the value.
#[derive(Debug, Clone, PartialEq)]
enum Inside {
    /// In an envelope: what it has left to give after the document it was giving, and where the part stopped
    /// in that document, if it did.
    Envelope(envelope::Rest, Option<Box<Inside>>),
    /// In a document opened from text.
    Opened(Doc),
}

impl Inside {
    /// Goes on giving from where the last part stopped, `source` being the bytes that hold the value.
    fn resume<'a>(self, source: Source<'a>, budget: &Budget, each: &mut dyn FnMut(Item<'a>)) {
        match self {
            Inside::Envelope(rest, within) => rest.resume(source, within, budget, each),
            Inside::Opened(doc) => doc.give(source.limits, budget, each),
        }
    }
}

/// How many more items the part being parsed may give, counted at every depth of envelopes, and where it
/// stopped inside a value, on its way out from the envelope that stopped to the walk that holds the value
/// ([`Inside`], each envelope on the way wrapping it in its own place).
struct Budget {
    left: Cell<usize>,
    stopped: Cell<Option<Box<Inside>>>,
}

impl Budget {
    fn new(items: usize) -> Budget {
        Budget { left: Cell::new(items), stopped: Cell::new(None) }
    }

    fn spend(&self) {
        self.left.set(self.left.get().saturating_sub(1));
    }

    fn spent(&self) -> bool {
        self.left.get() == 0
    }

    /// The part stops inside the value being given, at `inside`.
    fn stop(&self, inside: Inside) {
        self.stopped.set(Some(Box::new(inside)));
    }

    /// Where the part stopped inside what was just given, if it did.
    fn stopped(&self) -> Option<Box<Inside>> {
        self.stopped.take()
    }
}

/// Where in the chunk a record or problem starts (a byte offset), and for a record inside `Records` or an
/// array, its index there.
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
    /// A CloudWatch Logs `CONTROL_MESSAGE` (the health check of a subscription).
    Control,
}

impl Skip {
    /// What the document is, as the summary counts it and `--passthrough` says why it has no verdict.
    pub fn label(self) -> &'static str {
        match self {
            Skip::Digest => "digest file",
            Skip::Insight => "Insights event",
            Skip::Control => "CloudWatch Logs control message",
        }
    }
}

/// A document or record that could not be read, and why. `error_at` is the (1-based) line within it and
/// the column where the JSON parser stopped, when it did. `text` is its JSON text when it is a well-formed
/// object all the same (a field repeated, a number beyond a 64-bit float where keywatcher reads a value):
/// `--passthrough` writes it back, so that a record keywatcher cannot use does not vanish from the stream.
#[derive(Debug)]
pub struct Malformed<'a> {
    pub pos: Pos,
    /// Static where it can be: input made of tiny values (`1 1 1 …`) gives one for every two bytes.
    pub why: Cow<'static, str>,
    pub error_at: Option<(usize, usize)>,
    pub text: Option<&'a [u8]>,
}

impl Malformed<'_> {
    fn new(offset: usize, index: Option<usize>, why: Cow<'static, str>, err: Option<&serde_json::Error>) -> Self {
        let error_at = err.filter(|err| err.line() > 0).map(|err| (err.line(), err.column()));
        Malformed { pos: Pos { offset, index }, why, error_at, text: None }
    }
}

/// Where the parser is within one input, kept from one chunk to the next: a CloudTrail log file or an array
/// is read element by element, so one bad record costs only itself, a file cut short keeps the records
/// before the cut, and a chunk may end in the middle of a log file; and a part of a chunk may end inside an
/// envelope (`inside`), never a chunk.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Cursor {
    state: State,
    inside: Option<Box<Inside>>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq)]
enum State {
    /// Between documents.
    #[default]
    Top,
    /// Inside an array (`records`: the one of `{"Records":[…]}`), before its element `index`.
    Array { records: bool, index: usize, expect: Expect },
    /// After the `]` of `{"Records":[…]`, before the object's `}`.
    RecordsTail,
    /// Inside the `Records` of a log file parsed whole, which ends at `end`, before its record `index`; `after`
    /// is the list the log file is an element of, if any (`records` and the index of its next element). Its
    /// records are taken one step at a time, as a log file read element by element, so that a part of a chunk
    /// holds a few thousand of them, not all.
    Listed { index: usize, end: usize, after: Option<(bool, usize)> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// Right after `[`: an element or `]`.
    First,
    /// After an element: `,` or `]`.
    Comma,
    /// After `,`: an element.
    Element,
}

/// A chunk's bytes and, when they are all UTF-8 (nearly always), the same as text: serde_json then skips
/// checking every string it meets. That check was an eighth of the time of `score` (perf, 100 MB of NDJSON);
/// a chunk that is not all UTF-8 (never one from `pipeline`, which mends them first) is read from the bytes.
/// `depth` counts the envelopes around these bytes; `unpacked` says they came out of an `awslogs.data` payload
/// (or a document inside one), where another payload is not unpacked; `limits` are the input's, which bound
/// what a payload may unpack to.
#[derive(Clone, Copy)]
struct Source<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
    depth: u8,
    unpacked: bool,
    limits: Limits,
}

impl<'a> Source<'a> {
    fn new(bytes: &'a [u8], limits: Limits) -> Source<'a> {
        Source { bytes, text: simdutf8::basic::from_utf8(bytes).ok(), depth: 0, unpacked: false, limits }
    }

    /// Where `part`, a slice of these bytes (a raw value the parser borrowed from them), starts.
    fn offset_of(&self, part: &str) -> usize {
        part.as_ptr() as usize - self.bytes.as_ptr() as usize
    }
}

impl std::ops::Deref for Source<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.bytes
    }
}

/// Why a value could not be taken: the bytes ended inside it, or it is not valid.
enum Fail {
    Eof,
    Bad(serde_json::Error),
}

/// Whether the JSON object `text` may have a top-level member named `name`, for `--passthrough`, which adds
/// a `keywatcher` member: a record that has one already must not come out with two. A quick look for the
/// quoted name first, so that almost every record costs no parse; when `text` cannot be read, it may.
pub fn may_have_member(text: &[u8], name: &str) -> bool {
    if memchr::memmem::find(text, format!("\"{name}\"").as_bytes()).is_none() {
        return false;
    }
    struct Member<'n>(&'n str);
    impl<'de> Visitor<'de> for Member<'_> {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut found = false;
            while let Some(key) = map.next_key::<Cow<str>>()? {
                found |= key == self.0;
                map.next_value::<IgnoredAny>()?;
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    de::Deserializer::deserialize_map(&mut de, Member(name)).unwrap_or(true)
}

/// Mends what would keep a record's call from being scored although its JSON is readable: lone surrogate
/// escapes and bytes that are not UTF-8, each read as U+FFFD. `pipeline` runs it on every chunk it reads.
pub fn mend(bytes: &mut Vec<u8>) {
    mend_lone_surrogates(bytes);
    mend_invalid_utf8(bytes);
}

/// Turns every lone UTF-16 surrogate escape in JSON text (`\ud800` not followed by its low half, or a low half
/// alone) into `\ufffd`, in place. JSON allows them; serde_json refuses the whole document, so a user agent
/// holding one would keep its call from being scored. The length does not change, so lines and columns stay.
/// `bytes` must not end inside an escape: chunks are cut at newlines or after a `}`, which no escape holds.
fn mend_lone_surrogates(bytes: &mut [u8]) {
    let hex = |b: &[u8]| b.len() == 4 && b.iter().all(u8::is_ascii_hexdigit);
    let surrogate = |b: &[u8], range: std::ops::RangeInclusive<u16>| {
        hex(b) && u16::from_str_radix(std::str::from_utf8(b).unwrap_or(""), 16).is_ok_and(|u| range.contains(&u))
    };
    let mut at = 0;
    while let Some(found) = bytes.get(at..).and_then(|rest| memchr::memchr(b'\\', rest)) {
        let i = at + found;
        at = i + 2; // the backslash and the escaped character
        if bytes.get(i + 1) != Some(&b'u') || !bytes.get(i + 2..i + 6).is_some_and(hex) {
            continue;
        }
        at = i + 6;
        let code = &bytes[i + 2..i + 6];
        let paired = surrogate(code, 0xd800..=0xdbff)
            && bytes.get(i + 6..i + 8) == Some(&b"\\u"[..])
            && bytes.get(i + 8..i + 12).is_some_and(|low| surrogate(low, 0xdc00..=0xdfff));
        if paired {
            at = i + 12;
        } else if surrogate(code, 0xd800..=0xdfff) {
            bytes[i + 2..i + 6].copy_from_slice(b"fffd");
        }
    }
}

/// Replaces every sequence of bytes that is not UTF-8 with U+FFFD, as `String::from_utf8_lossy` does. serde_json
/// refuses a string holding one, so a stray byte in a user agent would keep its call from being scored. A chunk
/// that is UTF-8 (nearly every one) is only checked, with simdutf8: `std::str::from_utf8` cost 30 % of the
/// time of parsing and extracting the same chunk (`cargo bench --bench hot`). U+FFFD takes 3 bytes where the
/// bad sequence took 1 to 3, so columns after it on its line move; line numbers stay (no bad sequence holds a
/// newline).
fn mend_invalid_utf8(bytes: &mut Vec<u8>) {
    if simdutf8::basic::from_utf8(bytes).is_err() {
        *bytes = String::from_utf8_lossy(bytes).into_owned().into_bytes();
    }
}

/// Parses the documents in `bytes`, calling `each` for every record, skipped document and malformed
/// document or record, in input order. Returns how many bytes were consumed: when `more_follows` is true
/// and a value is cut off by the end of the chunk, it is left unconsumed so that the reader can hand it back
/// with the bytes that complete it; `cursor` remembers where in a log file or array the next chunk starts.
/// `limits` are the input's: `limits.record` bounds what an `awslogs.data` payload may unpack to.
pub fn chunk<'a>(
    bytes: &'a [u8],
    more_follows: bool,
    cursor: &mut Cursor,
    limits: Limits,
    each: &mut dyn FnMut(Item<'a>),
) -> usize {
    walk(Source::new(bytes, limits), 0, &Budget::new(usize::MAX), more_follows, cursor, each).end
}

/// The most items [`part`] gives at once, counted at every depth: a document opened from an envelope is one, and
/// each of its items one more. Items take memory however small their values are: 88 bytes, and a record 536
/// more (`{}` is one, until `extract` finds it holds nothing), a document opened from text some 200 more and its
/// bytes. A 1 MiB chunk of `{}` or `1` values, a line `1 1 1 …`, an array `[1,1,…]` or a log file of `{}` (read
/// element by element, or whole and then stepped through) holds one for every two or three bytes: parsed whole,
/// with several chunks in flight, 90 MB of them took 590–970 MB; and envelopes given whole, 670 MB for a Vector
/// event of 2 MB whose `message` held a million `{}`. 8,192 items take at most about 5 MB; a chunk of
/// CloudTrail's records, about a kilobyte each, is one part (of `awslogs.data` payloads, which unpack to about
/// nine times their size, one or two).
pub const PART_ITEMS: usize = 8192;

/// Where [`part`] stopped in a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    /// Bytes of the chunk consumed, from its start: what follows is the next part, or (not `full`) the value
    /// cut off by the chunk's end, left for the reader to hand back with the bytes that complete it.
    pub end: usize,
    /// It stopped after [`PART_ITEMS`] items, between two values or inside an envelope (the cursor says where),
    /// with more to give: the caller parses the next part from `end` at once, with the same cursor.
    pub full: bool,
}

/// [`chunk`], from `from` (where the last part stopped) and at most about [`PART_ITEMS`] items at a time, so
/// that what a chunk's items take does not depend on how small its values are. Offsets in the items are
/// from the start of `bytes`, as in [`chunk`].
pub fn part<'a>(
    bytes: &'a [u8],
    from: usize,
    more_follows: bool,
    cursor: &mut Cursor,
    limits: Limits,
    each: &mut dyn FnMut(Item<'a>),
) -> Reach {
    walk(Source::new(bytes, limits), from, &Budget::new(PART_ITEMS), more_follows, cursor, each)
}

/// [`part`], on bytes that may be a document decoded from an envelope, stopping once `budget` is spent: between
/// values, or inside the envelope being given (kept in the cursor, and gone on with first by the next part).
fn walk<'a>(
    bytes: Source<'a>,
    from: usize,
    budget: &Budget,
    more_follows: bool,
    cursor: &mut Cursor,
    each: &mut dyn FnMut(Item<'a>),
) -> Reach {
    let each = &mut |item| {
        budget.spend();
        each(item);
    };
    if let Some(inside) = cursor.inside.take() {
        inside.resume(bytes, budget, each);
        if let Some(stopped) = budget.stopped() {
            cursor.inside = Some(stopped);
            return Reach { end: from, full: true };
        }
    }
    let mut at = from;
    loop {
        at = skip_whitespace(&bytes, at);
        if at == bytes.len() {
            if !more_follows && cursor.state != State::Top {
                let what = if cursor.state == State::RecordsTail { "log file" } else { "array of records" };
                report(each, at, None, format!("truncated JSON (the {what} does not end)"), None);
                cursor.state = State::Top;
            }
            return Reach { end: at, full: false };
        }
        if budget.spent() {
            return Reach { end: at, full: true };
        }
        let step = match cursor.state {
            State::Top => top(bytes, at, budget, cursor, each),
            State::Array { records, index, expect } => {
                element(bytes, at, (records, index, expect), budget, cursor, each)
            }
            State::RecordsTail => tail(bytes, at, cursor),
            State::Listed { index, end, after } => Ok(listed(bytes, at, (index, end, after), budget, cursor, each)),
        };
        match step {
            Ok(next) => {
                // The value before `next` was given in part: the next part goes on in it, then from `next`.
                if let Some(stopped) = budget.stopped() {
                    cursor.inside = Some(stopped);
                    return Reach { end: next, full: true };
                }
                at = next;
            }
            Err(Fail::Eof) if more_follows => return Reach { end: at, full: false },
            Err(Fail::Eof) => {
                report(each, at, index_of(cursor), "truncated JSON (the input ends inside it)", None);
                cursor.state = State::Top;
                return Reach { end: bytes.len(), full: false };
            }
            Err(Fail::Bad(err)) => {
                report(each, at, index_of(cursor), describe(&err), Some(&err));
                cursor.state = State::Top;
                at = resync(&bytes, at);
            }
        }
    }
}

/// One step at the top level: opens a log file or an array, or takes one whole document.
fn top<'a>(
    bytes: Source<'a>,
    at: usize,
    budget: &Budget,
    cursor: &mut Cursor,
    each: &mut dyn FnMut(Item<'a>),
) -> Result<usize, Fail> {
    if bytes[at] == b'[' {
        cursor.state = State::Array { records: false, index: 0, expect: Expect::First };
        return Ok(at + 1);
    }
    if bytes[at] == b'{'
        && let Some(inside) = records_opening(&bytes, at)?
    {
        cursor.state = State::Array { records: true, index: 0, expect: Expect::First };
        return Ok(inside);
    }
    match value::<Element>(bytes, at) {
        Ok((element, end)) => match deliver(bytes, element, Pos { offset: at, index: None }, end, true, budget, each) {
            Some(first) => {
                cursor.state = State::Listed { index: 0, end, after: None };
                Ok(first)
            }
            None => Ok(end),
        },
        Err(fail) => skip_invalid(bytes, at, fail, None, each),
    }
}

/// One step inside an array: an element, a comma or the closing bracket.
fn element<'a>(
    bytes: Source<'a>,
    at: usize,
    (records, index, expect): (bool, usize, Expect),
    budget: &Budget,
    cursor: &mut Cursor,
    each: &mut dyn FnMut(Item<'a>),
) -> Result<usize, Fail> {
    let close = if records { State::RecordsTail } else { State::Top };
    match (bytes[at], expect) {
        (b']', _) => {
            cursor.state = close;
            return Ok(at + 1);
        }
        (b',', Expect::Comma) => {
            cursor.state = State::Array { records, index, expect: Expect::Element };
            return Ok(at + 1);
        }
        // Records with no comma between them (pretty-printed objects pasted into a list): read on, nothing
        // is lost by it.
        (b'{' | b'[', Expect::Comma) => {}
        (_, Expect::Comma) => {
            let next = next_element(&bytes, at)?;
            let after = index.checked_sub(1).map_or(String::new(), |i| format!(" {i}"));
            report(each, at, None, format!("invalid JSON (expected `,` or `]` after record{after})"), None);
            return Ok(next);
        }
        _ => {}
    }
    let end = match value::<Element>(bytes, at) {
        Ok((element, end)) => {
            match deliver(bytes, element, Pos { offset: at, index: Some(index) }, end, true, budget, each) {
                Some(first) => {
                    cursor.state = State::Listed { index: 0, end, after: Some((records, index + 1)) };
                    return Ok(first);
                }
                None => end,
            }
        }
        Err(fail) => match skip_invalid(bytes, at, fail, Some(index), each) {
            // Broken JSON inside a log file: skip to the next record of this list, so that one bad record
            // does not cost the rest of the file.
            Err(Fail::Bad(err)) => match next_element(&bytes, at) {
                Ok(next) => {
                    report(each, at, Some(index), describe(&err), Some(&err));
                    next
                }
                Err(Fail::Eof) => return Err(Fail::Eof),
                Err(Fail::Bad(_)) => return Err(Fail::Bad(err)),
            },
            other => other?,
        },
    };
    cursor.state = State::Array { records, index: index + 1, expect: Expect::Comma };
    Ok(end)
}

/// Where the array element that starts at `at` ends (at the `,` or `]` after it), found by counting
/// brackets outside strings: a way past an element that is not valid JSON. It gives up (`Fail::Bad`) at a
/// `}` that closes nothing or at a line that starts a new document (unindented `{` or `[`), rather than
/// swallow what follows; `Fail::Eof` when the bytes end first.
fn next_element(bytes: &[u8], at: usize) -> Result<usize, Fail> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate().skip(at) {
        if b == b'\n' && matches!(bytes.get(i + 1), Some(b'{' | b'[')) {
            return Err(bad("the list of records breaks off here"));
        }
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth > 0 => depth -= 1,
            b',' | b']' if depth == 0 => return Ok(i),
            b'}' => return Err(bad("the list of records breaks off here")),
            _ => {}
        }
    }
    Err(Fail::Eof)
}

/// After the records of a log file: any further members of its object, then `}`.
fn tail(bytes: Source, mut at: usize, cursor: &mut Cursor) -> Result<usize, Fail> {
    loop {
        at = skip_whitespace(&bytes, at);
        match bytes.get(at) {
            None => return Err(Fail::Eof),
            Some(b'}') => {
                cursor.state = State::Top;
                return Ok(at + 1);
            }
            Some(b',') => {
                let (_, after_key) = value::<IgnoredAny>(bytes, skip_whitespace(&bytes, at + 1))?;
                let colon = skip_whitespace(&bytes, after_key);
                match bytes.get(colon) {
                    None => return Err(Fail::Eof),
                    Some(b':') => at = value::<IgnoredAny>(bytes, skip_whitespace(&bytes, colon + 1))?.1,
                    Some(_) => return Err(bad("expected `:`")),
                }
            }
            Some(_) => return Err(bad("expected `,` or `}` after the Records list")),
        }
    }
}

/// A value that could not be taken as a record: if it is at least well-formed JSON (a duplicate field, an
/// escape that is not a character, bytes that are not UTF-8), it is reported and skipped whole; if it is
/// cut off or broken, the caller decides.
fn skip_invalid<'a>(
    bytes: Source<'a>,
    at: usize,
    fail: Fail,
    index: Option<usize>,
    each: &mut dyn FnMut(Item<'a>),
) -> Result<usize, Fail> {
    let Fail::Bad(err) = fail else { return Err(Fail::Eof) };
    let (_, end) = value::<IgnoredAny>(bytes, at)?;
    let text = (bytes[at] == b'{').then(|| &bytes.bytes[at..end]);
    each(Item::Malformed(Malformed { text, ..Malformed::new(at, index, describe(&err).into(), Some(&err)) }));
    Ok(end)
}

/// Whether the object at `at` opens a CloudTrail log file, `{"Records":[`; if so, where its first element
/// may start.
fn records_opening(bytes: &[u8], at: usize) -> Result<Option<usize>, Fail> {
    let mut i = skip_whitespace(bytes, at + 1);
    for expected in [&b"\"Records\""[..], b":", b"["] {
        let end = (i + expected.len()).min(bytes.len());
        if bytes[i..end] != expected[..end - i] {
            return Ok(None);
        }
        if end - i < expected.len() {
            return Err(Fail::Eof);
        }
        i = skip_whitespace(bytes, end);
    }
    Ok(Some(i))
}

/// Takes one JSON value starting at `at`; gives it and where it ends.
///
/// The parser is serde_json, by measurement: 100 MB of `scripts/gen.py` NDJSON parsed line by line into
/// [`Record`], on the project's shared 2-core machine, six rounds (a scratch program, not kept):
/// serde_json from text (the chunk checked as UTF-8 once) 289–545 MB/s, median 430; serde_json from bytes
/// (each string checked) 167–321 MB/s; simd-json 0.17 serde (`from_slice_with_buffers`) 233–617 MB/s,
/// median 395, plus a copy of the input, which it rewrites in place (65–160 ms per 100 MB). simd-json
/// would also lose what this file relies on: a stream of concatenated documents, the line and column of an
/// error, and the chunk's bytes intact for the messages' line numbers.
fn value<'a, T: Deserialize<'a>>(bytes: Source<'a>, at: usize) -> Result<(T, usize), Fail> {
    match bytes.text.and_then(|text| text.get(at..)) {
        Some(text) => first(serde_json::Deserializer::from_str(text).into_iter(), at),
        None => first(serde_json::Deserializer::from_slice(&bytes.bytes[at..]).into_iter(), at),
    }
}

/// The first value of `stream`, which starts at `at`, and where it ends.
fn first<'a, R: serde_json::de::Read<'a>, T: Deserialize<'a>>(
    mut stream: serde_json::StreamDeserializer<'a, R, T>,
    at: usize,
) -> Result<(T, usize), Fail> {
    match stream.next() {
        Some(Ok(value)) => Ok((value, at + stream.byte_offset())),
        Some(Err(err)) if err.is_eof() => Err(Fail::Eof),
        Some(Err(err)) => Err(Fail::Bad(err)),
        None => Err(Fail::Eof),
    }
}

fn bad(why: &'static str) -> Fail {
    Fail::Bad(serde_json::Error::io(std::io::Error::other(why)))
}

fn index_of(cursor: &Cursor) -> Option<usize> {
    match cursor.state {
        State::Array { index, .. } => Some(index),
        _ => None,
    }
}

fn report<'a>(
    each: &mut dyn FnMut(Item<'a>),
    offset: usize,
    index: Option<usize>,
    why: impl Into<Cow<'static, str>>,
    err: Option<&serde_json::Error>,
) {
    each(Item::Malformed(Malformed::new(offset, index, why.into(), err)));
}

fn skip_whitespace(bytes: &[u8], mut at: usize) -> usize {
    while matches!(bytes.get(at), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        at += 1;
    }
    at
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
    // serde_json appends " at line L column C"; the place is given separately.
    let text = err.to_string();
    let text = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    // serde_json skips a value it is not asked for without computing its numbers, so `1e999` fails a record
    // only in a value keywatcher reads (a string field, `userIdentity`, `responseElements`): never in
    // `requestParameters` or any other field.
    if text == "number out of range" {
        return "a number beyond the range of a 64-bit float where keywatcher reads a value".to_string();
    }
    format!("invalid JSON ({text})")
}

/// Gives the caller what one parsed value, from `pos.offset` to `end`, is: a record, a skipped document, the
/// records of an envelope, or not a record at all. For a log file parsed whole (its `Records` not first, or
/// inside an array), gives where its first record starts instead: the caller steps through them
/// ([`State::Listed`]).
fn deliver<'a>(
    source: Source<'a>,
    element: Element<'a>,
    pos: Pos,
    end: usize,
    log_files: bool,
    budget: &Budget,
    each: &mut dyn FnMut(Item<'a>),
) -> Option<usize> {
    let why = match element {
        Element::Object(mut record) => match record.records.take() {
            Some(First(first)) if log_files => return first.map(|raw| source.offset_of(raw.get())),
            Some(_) => "a Records list inside a record",
            None => {
                record.text = &source.bytes[pos.offset..end];
                one(source, record, pos, budget, each);
                return None;
            }
        },
        Element::Other(kind) => not_a_record(kind),
    };
    report(each, pos.offset, pos.index, why, None);
    None
}

/// One step through a log file parsed whole ([`State::Listed`]): the record at `at`, then on to the next, or
/// past the log file's end to the state after it.
fn listed<'a>(
    bytes: Source<'a>,
    at: usize,
    (index, end, after): (usize, usize, Option<(bool, usize)>),
    budget: &Budget,
    cursor: &mut Cursor,
    each: &mut dyn FnMut(Item<'a>),
) -> usize {
    // The whole log file was parsed: after each record comes `,` or `]`.
    let next = skip_whitespace(&bytes, deliver_at(bytes, at, Some(index), budget, each));
    if bytes.get(next) == Some(&b',') {
        cursor.state = State::Listed { index: index + 1, end, after };
        return skip_whitespace(&bytes, next + 1);
    }
    cursor.state = match after {
        Some((records, index)) => State::Array { records, index, expect: Expect::Comma },
        None => State::Top,
    };
    end
}

/// Why a document or element that is a JSON value of type `kind` (not an object) is not read: a static
/// message, so that input made of tiny values (`1 1 1 …`, `[1,1,…]`) costs no allocation for each.
fn not_a_record(kind: &str) -> &'static str {
    match kind {
        "array" => "not a CloudTrail record: a JSON array",
        "string" => "not a CloudTrail record: a JSON string",
        "number" => "not a CloudTrail record: a JSON number",
        "boolean" => "not a CloudTrail record: a JSON boolean",
        "null" => "not a CloudTrail record: a JSON null",
        _ => "not a CloudTrail record",
    }
}

/// Takes the value at `at`, which a parse of the document around it found whole, and delivers it; gives
/// where it ends (the end of `source` if it could not be told).
fn deliver_at<'a>(
    source: Source<'a>,
    at: usize,
    index: Option<usize>,
    budget: &Budget,
    each: &mut dyn FnMut(Item<'a>),
) -> usize {
    match value::<Element>(source, at) {
        Ok((element, end)) => {
            deliver(source, element, Pos { offset: at, index }, end, false, budget, each);
            end
        }
        Err(Fail::Bad(err)) => {
            report(each, at, index, describe(&err), Some(&err));
            // Well-formed, as the whole was read: a record repeating a member, say.
            value::<IgnoredAny>(source, at).map_or(source.len(), |(_, end)| end)
        }
        Err(Fail::Eof) => {
            report(each, at, index, "truncated JSON (the input ends inside it)", None);
            source.len()
        }
    }
}

/// The first element of a JSON array, unparsed; the others are skipped.
#[derive(Debug)]
struct First<'a>(Option<&'a RawValue>);

impl<'de: 'a, 'a> Deserialize<'de> for First<'a> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_seq(FirstVisitor)
    }
}

struct FirstVisitor;

impl<'de> Visitor<'de> for FirstVisitor {
    type Value = First<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a sequence")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let first = seq.next_element()?;
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(First(first))
    }
}

fn one<'a>(source: Source<'a>, record: Box<Record<'a>>, pos: Pos, budget: &Budget, each: &mut dyn FnMut(Item<'a>)) {
    if record.digest_start_time.is_some() {
        each(Item::Skipped(Skip::Digest, Some(record.text)));
    } else if record.insight_details.is_some() || record.event_type.as_str() == "AwsCloudTrailInsight" {
        each(Item::Skipped(Skip::Insight, Some(record.text)));
    } else if record.looks_like_cloudtrail() || !envelope::open(source, pos, budget, each) {
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
        // Keys as `Text`, which borrows from the input (serde's own `Cow<str>` always copies: an allocation
        // per key, six per record).
        while let Some(key) = map.next_key::<Text<'de>>()? {
            let slot = match key.as_str() {
                "type" => &mut id.kind,
                "accessKeyId" => &mut id.access_key_id,
                "accountId" => &mut id.account_id,
                "userName" => &mut id.user_name,
                "invokedBy" => &mut id.invoked_by,
                "arn" => &mut id.arn,
                "sessionContext" => {
                    id.issuer_arn = map.next_value_seed(FieldPath(&["sessionIssuer", "arn"]))?;
                    continue;
                }
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

/// What `responseElements.accessKey` says of a key made by `iam:CreateAccessKey`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct KeyMade<'a> {
    /// `accessKeyId`: the new key.
    pub id: Text<'a>,
    /// `userName`: the IAM user the new key belongs to, who need not be the one who made it.
    pub user: Text<'a>,
}

fn key_made<'de, D: de::Deserializer<'de>>(d: D) -> Result<KeyMade<'de>, D::Error> {
    d.deserialize_any(KeyMadeVisitor { outer: true })
}

/// Reads `responseElements` (`outer`) and then its `accessKey` object; anything else on the way reads as absent.
#[derive(Clone, Copy)]
struct KeyMadeVisitor {
    outer: bool,
}

impl<'de> de::DeserializeSeed<'de> for KeyMadeVisitor {
    type Value = KeyMade<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeyMadeVisitor {
    type Value = KeyMade<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an object holding accessKey.accessKeyId and accessKey.userName")
    }
    visit_scalars!(_kind => KeyMade::default());
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut made = KeyMade::default();
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match (self.outer, key.as_ref()) {
                (true, "accessKey") => made = map.next_value_seed(KeyMadeVisitor { outer: false })?,
                (false, "accessKeyId") => made.id = map.next_value()?,
                (false, "userName") => made.user = map.next_value()?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(made)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(KeyMade::default())
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(KeyMade::default())
    }
}

/// A string field nested in objects, found by its path of keys; anything else on the way reads as absent.
#[derive(Clone, Copy)]
struct FieldPath(&'static [&'static str]);

impl<'de> de::DeserializeSeed<'de> for FieldPath {
    type Value = Text<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldPath {
    type Value = Text<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object holding {}", self.0.join("."))
    }
    visit_scalars!(_kind => Text::Absent);
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = Text::Absent;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.0 {
                [name] if key == *name => found = map.next_value()?,
                [name, rest @ ..] if key == *name => found = map.next_value_seed(FieldPath(rest))?,
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Text::Absent)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Text::Absent)
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
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Element::Other("array"))
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(Element::Other("string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lone_surrogates_are_mended_and_pairs_and_other_escapes_kept() {
        let cases: [(&[u8], &[u8]); 7] = [
            (br#"{"a":"x\ud800y"}"#, br#"{"a":"x\ufffdy"}"#),
            (br#"{"a":"\udc00"}"#, br#"{"a":"\ufffd"}"#),
            (br#"{"a":"\ud83d\ude00"}"#, br#"{"a":"\ud83d\ude00"}"#),
            (br#"{"a":"\\ud800"}"#, br#"{"a":"\\ud800"}"#),
            (br#"{"a":"\ud800\ud800\udc00"}"#, br#"{"a":"\ufffd\ud800\udc00"}"#),
            (br#"{"a":"\u00e9\"\n"}"#, br#"{"a":"\u00e9\"\n"}"#),
            (b"ends with \\", b"ends with \\"),
        ];
        for (input, want) in cases {
            let mut bytes = input.to_vec();
            mend_lone_surrogates(&mut bytes);
            assert_eq!(String::from_utf8_lossy(&bytes), String::from_utf8_lossy(want));
        }
    }

    #[test]
    fn bytes_that_are_not_utf8_become_u_fffd_and_lines_stay() {
        let mut bytes = b"{\"a\":\"x\xffy\xe2\x82z\"}\n{\"b\":\"\xc3\xa9\"}\n".to_vec();
        mend_invalid_utf8(&mut bytes);
        assert_eq!(std::str::from_utf8(&bytes), Ok("{\"a\":\"x\u{fffd}y\u{fffd}z\"}\n{\"b\":\"\u{e9}\"}\n"));
        let (found, _) = collect(std::str::from_utf8(&bytes).unwrap(), false);
        assert_eq!(found.len(), 2, "both documents parse: {found:?}");
    }

    /// Each item as a short text: a record's `eventName@offset:index`, a skip, `bad@offset:why`, or an opened
    /// document's `path@offset[its items]`.
    pub(super) fn collect(input: &str, more_follows: bool) -> (Vec<String>, usize) {
        collect_within(input, more_follows, Limits::DEFAULT)
    }

    /// [`collect`], under `limits`.
    pub(super) fn collect_within(input: &str, more_follows: bool, limits: Limits) -> (Vec<String>, usize) {
        let mut seen = Vec::new();
        let consumed =
            chunk(input.as_bytes(), more_follows, &mut Cursor::default(), limits, &mut |item| seen.push(show(&item)));
        (seen, consumed)
    }

    fn show(item: &Item) -> String {
        match item {
            Item::Record(r, pos) => format!("{}@{}:{:?}", r.event_name.as_str(), pos.offset, pos.index),
            Item::Skipped(s, _) => format!("{s:?}"),
            Item::Malformed(m) => format!("bad@{}:{}", m.pos.offset, m.why),
            Item::Opened(opened, pos) => {
                let inner: Vec<String> = opened.borrow_dependent().iter().map(show).collect();
                format!("{}@{}[{}]", opened.borrow_owner().path, pos.offset, inner.join(" "))
            }
        }
    }

    #[test]
    fn every_shape_gives_its_records_in_order() {
        let ndjson = "{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}\n";
        assert_eq!(collect(ndjson, false).0, ["A@0:None", "B@18:None"]);
        let log = r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
        assert_eq!(collect(log, false).0, ["A@12:Some(0)", "B@30:Some(1)"]);
        let array = "[{\"eventName\":\"A\"},\n {\"eventName\":\"B\"}]";
        assert_eq!(collect(array, false).0, ["A@1:Some(0)", "B@21:Some(1)"]);
        let later = r#"{"Other":1,"Records":[{"eventName":"A"}]}"#;
        assert_eq!(collect(later, false).0, ["A@22:Some(0)"]);
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
    fn one_bad_record_in_a_log_file_costs_only_itself() {
        let log = concat!(
            r#"{"Records":[{"eventName":"A"},{"eventName":"B","eventName":"dup"},"#,
            r#"{"eventName":"\ud800"},{"eventName":"D"}], "trailing": {"x": [1]} }"#,
            "\n{\"eventName\":\"E\"}"
        );
        let (seen, _) = collect(log, false);
        assert_eq!(seen.len(), 5, "{seen:?}");
        assert_eq!(seen[0], "A@12:Some(0)");
        assert!(seen[1].contains("duplicate field"), "{seen:?}");
        assert!(seen[2].contains("escape"), "{seen:?}");
        assert_eq!(seen[3], "D@89:Some(3)");
        assert!(seen[4].starts_with("E@"), "{seen:?}");
    }

    #[test]
    fn broken_json_inside_a_log_file_costs_only_that_record() {
        // A raw control character in a string and a missing comma: not JSON, but the list goes on.
        let log = "{\"Records\":[{\"eventName\":\"A\"},{\"eventName\":\"B\u{1}\",\"x\":[1,{\"y\":\"]\"}]},\n\
                   {\"eventName\":\"C\" \"x\":1},{\"eventName\":\"D\"}]}";
        let (seen, _) = collect(log, false);
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert_eq!(seen[0], "A@12:Some(0)");
        assert!(seen[1].starts_with("bad@30:invalid JSON (control character"), "{seen:?}");
        assert!(seen[2].starts_with("bad@68:invalid JSON (expected `,` or `}`)"), "{seen:?}");
        assert_eq!(seen[3], "D@92:Some(3)");
    }

    #[test]
    fn records_without_commas_between_them_are_all_read() {
        let pasted = "[\n  {\"eventName\":\"A\"}\n  {\"eventName\":\"B\"},\n  {\"eventName\":\"C\"} ]";
        assert_eq!(collect(pasted, false).0, ["A@4:Some(0)", "B@24:Some(1)", "C@45:Some(2)"]);
    }

    #[test]
    fn a_list_that_breaks_off_does_not_swallow_the_next_documents() {
        let input =
            "{\"Records\":[{\"eventName\":\"A\"}}\n{\"Records\":[{\"eventName\":\"B\"},{\"eventName\":\"C\"}]}\n";
        let (seen, _) = collect(input, false);
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(seen[1].contains("breaks off"), "{seen:?}");
        assert_eq!(seen[2..], ["B@43:Some(0)", "C@61:Some(1)"]);
    }

    #[test]
    fn an_array_of_log_files_gives_their_records() {
        let slurped = r#"[{"Records":[{"eventName":"A"},{"eventName":"B"}]},{"Records":[{"eventName":"C"}]}]"#;
        // Each record at its own place, even in a log file parsed whole.
        assert_eq!(collect(slurped, false).0, ["A@13:Some(0)", "B@31:Some(1)", "C@63:Some(0)"]);
    }

    #[test]
    fn a_log_file_cut_short_keeps_the_records_before_the_cut() {
        let cut = r#"{"Records":[{"eventName":"A"},{"eventName":"B"},{"eventNa"#;
        let (seen, _) = collect(cut, false);
        assert_eq!(seen[..2], ["A@12:Some(0)", "B@30:Some(1)"]);
        assert!(seen[2].starts_with("bad@48:truncated JSON"), "{seen:?}");
    }

    #[test]
    fn parts_stop_between_values_and_give_what_one_parse_gives() {
        let tiny = vec!["{}"; 2 * PART_ITEMS + 5].join(",");
        let inputs = [
            format!("[{tiny}]"),
            format!("{{\"Records\":[{tiny}]}}"),
            // Log files read whole, then stepped through.
            format!("{{\"a\":1,\"Records\":[{tiny}],\"b\":2}}"),
            format!("[{{\"Records\":[{tiny}]}},1]"),
            "1\n".repeat(2 * PART_ITEMS + 5),
        ];
        for input in inputs {
            let (whole, _) = collect(&input, false);
            let (mut items, mut sizes, mut from, mut cursor) = (Vec::new(), Vec::new(), 0, Cursor::default());
            loop {
                let before = items.len();
                let reach = part(input.as_bytes(), from, false, &mut cursor, Limits::DEFAULT, &mut |item| {
                    items.push(show(&item))
                });
                sizes.push(items.len() - before);
                from = reach.end;
                if !reach.full {
                    break;
                }
            }
            assert_eq!(items, whole, "{}", &input[..20]);
            assert_eq!(sizes[..2], [PART_ITEMS; 2], "{}", &input[..20]);
            assert_eq!((sizes.len(), from, cursor), (3, input.len(), Cursor::default()), "{}", &input[..20]);
        }
    }

    /// Each item as [`show`] has it, and each item of an opened document as its own, after the path and place
    /// of the documents around it: a document given in parts reads the same as one given whole.
    fn flat(item: &Item, into: &mut Vec<String>) {
        match item {
            Item::Opened(opened, pos) => {
                let mut inner = Vec::new();
                opened.borrow_dependent().iter().for_each(|item| flat(item, &mut inner));
                let around = format!("{}@{}>", opened.borrow_owner().path, pos.offset);
                into.extend(inner.into_iter().map(|item| format!("{around}{item}")));
            }
            item => into.push(show(item)),
        }
    }

    /// How many items `item` is, counted at every depth, as a part's budget counts them.
    fn count(item: &Item) -> usize {
        match item {
            Item::Opened(opened, _) => 1 + opened.borrow_dependent().iter().map(count).sum::<usize>(),
            _ => 1,
        }
    }

    /// `input` parsed a part at a time: its items, each [`flat`], and how many items each part gave.
    pub(super) fn in_parts(input: &str) -> (Vec<String>, Vec<usize>) {
        in_parts_of(input.as_bytes(), PART_ITEMS)
    }

    /// [`in_parts`], of `items` items a part.
    fn in_parts_of(input: &[u8], items: usize) -> (Vec<String>, Vec<usize>) {
        let (mut given, mut sizes, mut from, mut cursor) = (Vec::new(), Vec::new(), 0, Cursor::default());
        loop {
            let mut size = 0;
            let source = Source::new(input, Limits::DEFAULT);
            let reach = walk(source, from, &Budget::new(items), false, &mut cursor, &mut |item| {
                size += count(&item);
                flat(&item, &mut given);
            });
            sizes.push(size);
            from = reach.end;
            if !reach.full {
                assert_eq!((from, cursor), (input.len(), Cursor::default()));
                return (given, sizes);
            }
        }
    }

    /// `input` parsed whole, its items [`flat`].
    pub(super) fn whole(input: &str) -> Vec<String> {
        whole_of(input.as_bytes())
    }

    fn whole_of(input: &[u8]) -> Vec<String> {
        let mut items = Vec::new();
        chunk(input, false, &mut Cursor::default(), Limits::DEFAULT, &mut |item| flat(&item, &mut items));
        items
    }

    #[test]
    fn parts_of_any_size_give_what_one_parse_gives_on_every_input_of_the_fuzz_corpus() {
        // Every envelope, nested, broken and cut short, as the fuzzer found them: stopping after 1, 2, 3 or 5
        // items stops inside them at every place a part can.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/input");
        let mut files = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let mut input = std::fs::read(&path).unwrap();
            mend(&mut input);
            let whole = whole_of(&input);
            for items in [1, 2, 3, 5] {
                assert_eq!(in_parts_of(&input, items).0, whole, "{} in parts of {items}", path.display());
            }
            files += 1;
        }
        assert!(files > 100, "{files} files in {}", dir.display());
    }

    #[test]
    fn parts_stop_inside_envelopes_and_give_what_one_parse_gives() {
        let n = 2 * PART_ITEMS + 5;
        let tiny = vec!["{}"; n].join(",");
        let events = vec![r#"{"CloudTrailEvent":"{}"}"#; n].join(",");
        let record = r#"{"eventName":"Z"}"#;
        let quoted = |text: &str| serde_json::to_string(text).unwrap();
        let inputs = [
            // A document of many values in an envelope, and an envelope of many documents.
            format!("{{\"message\":{}}}\n{record}", quoted(&"{}\n".repeat(n))),
            format!("{{\"Events\":[{events}]}}\n{record}"),
            format!("{{\"Events\":[{tiny}]}}\n{record}"),
            // Nested: in place, as text, lists in lists, in a log file and in an array.
            format!("{{\"message\":{{\"Events\":[{events}]}}}}\n{record}"),
            format!("{{\"log\":{}}}{record}", quoted(&format!("{{\"Events\":[{events}]}}"))),
            format!("{{\"Events\":[{{\"Events\":[{events}]}},{{\"log\":{}}}]}}", quoted(record)),
            format!("{{\"Records\":[{{\"Events\":[{events}]}},{record}]}}"),
            format!("[{{\"a\":1,\"Records\":[{record}]}},{{\"message\":{}}},{record}]", quoted(&format!("[{tiny}]"))),
            // Every member at once: the held record, each list, in their order.
            format!(
                "{{\"message\":{},\"Events\":[{events}],\"logEvents\":[{events}],\"Messages\":[{{\"Body\":{}}}]}}",
                quoted(&format!("{{}}{tiny}")),
                quoted(record)
            ),
        ];
        for input in inputs {
            let (items, sizes) = in_parts(&input);
            assert_eq!(items, whole(&input), "{}", &input[..40]);
            assert!(sizes.len() >= 3, "{}: {sizes:?}", &input[..40]);
            // An opened document is counted once its items are: a few past the budget, one per depth.
            assert!(sizes.iter().all(|&size| size <= PART_ITEMS + 8), "{}: {sizes:?}", &input[..40]);
        }
    }

    #[test]
    fn a_log_file_continues_across_chunks() {
        let whole = r#"{"Records":[{"eventName":"A"},{"eventName":"B"},{"eventName":"C"}]}"#;
        let mut cursor = Cursor::default();
        let mut names = Vec::new();
        let mut rest = whole.to_string();
        let mut more = 40;
        loop {
            let take = more.min(rest.len());
            let last = take == rest.len();
            let consumed = chunk(&rest.as_bytes()[..take], !last, &mut cursor, Limits::DEFAULT, &mut |item| {
                if let Item::Record(r, _) = item {
                    names.push(r.event_name.as_str().to_string());
                }
            });
            rest = rest[consumed..].to_string();
            if last {
                break;
            }
            more += 20;
        }
        assert_eq!(names, ["A", "B", "C"]);
        assert_eq!(cursor, Cursor::default());
    }

    #[test]
    fn a_broken_line_is_reported_and_the_next_one_read() {
        let input = "{\"eventName\":\"A\"}\n{\"eventName\": oops}\n{\"eventName\":\"C\"}\n";
        let (seen, _) = collect(input, false);
        assert_eq!(seen.len(), 3);
        assert!(seen[1].starts_with("bad@18:invalid JSON (expected value)"), "{seen:?}");
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
        chunk(input.as_bytes(), false, &mut Cursor::default(), Limits::DEFAULT, &mut |item| {
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
