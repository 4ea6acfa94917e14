//! The checks the fuzz targets run (`fuzz/`, `cargo +nightly fuzz run input`), one for each reader of
//! bytes an attacker may write: record input, `profile import` (JSON Lines and the old script's lines), and
//! the snapshot loader. Each takes any bytes and panics only when something that must hold for every input
//! does not — that, or a crash inside, is what the fuzzer looks for. `tests/corpus.rs` replays the kept
//! corpus through these same functions on stable, so CI runs what the fuzzer runs. Nothing here is used by
//! the commands.

use crate::emit::Emitter;
use crate::extract::{self, Filter, Outcome};
use crate::learn::Learner;
use crate::parse::{self, Cursor, Item, Limits};
use crate::score::{Method, Scorer, Weights};
use crate::store::{exchange, legacy, snapshot};

/// Bytes → records → calls → verdicts → NDJSON, as one chunk of `score` goes: mended, parsed (records in
/// envelopes too), extracted, half of the calls learned into a profile, every call scored against it and
/// written. Checks that every call gives exactly one line and that each line is one JSON object. Gives the
/// number of calls, so that a replay can tell a seed that reaches the scorer from one that stops before.
pub fn input(bytes: &[u8]) -> usize {
    let mut chunk = bytes.to_vec();
    parse::mend(&mut chunk);
    let mut items = Vec::new();
    parse::chunk(&chunk, false, &mut Cursor::default(), Limits::DEFAULT, &mut |item| items.push(item));
    let mut records = Vec::new();
    records_in(&items, &mut records);
    let filter = Filter::default();
    let calls: Vec<_> = records
        .iter()
        .filter_map(|record| match extract::extract(record, &filter) {
            Outcome::Call(call) => Some(call),
            _ => None,
        })
        .collect();
    let mut learner = Learner::default();
    calls.iter().step_by(2).for_each(|call| learner.observe(call));
    let mut scorer = Scorer::new(Weights::default(), 70, Method::standard());
    let mut out = Vec::new();
    let mut emitter = Emitter::new(&mut out);
    for call in &calls {
        let verdict = scorer.score(call, learner.profiles.get(call.owner));
        emitter.verdict(call, &verdict).expect("writing to memory cannot fail");
    }
    drop(emitter);
    let text = std::str::from_utf8(&out).expect("the output is UTF-8");
    assert_eq!(text.lines().count(), calls.len(), "one line per call:\n{text}");
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.is_object(), "not an object: {line}");
    }
    calls.len()
}

/// The records among `items`, and in the documents opened from envelopes among them, in order.
fn records_in<'i>(items: &'i [Item<'i>], records: &mut Vec<&'i parse::Record<'i>>) {
    for item in items {
        match item {
            Item::Record(record, _) => records.push(record),
            Item::Opened(opened, _) => records_in(opened.borrow_dependent(), records),
            Item::Skipped(..) | Item::Malformed(_) => {}
        }
    }
}

/// What `profile import` reads: each line as the old script's export or listing, then the whole as an
/// import. What imports must export and import again unchanged.
pub fn import(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else { return };
    for line in text.lines() {
        let _ = legacy::parse_line(line.trim());
    }
    let Ok(profiles) = exchange::parse_import(text) else { return };
    let mut exported = Vec::new();
    exchange::write_jsonl(&mut exported, profiles.values()).expect("writing to memory cannot fail");
    let exported = std::str::from_utf8(&exported).expect("an export is UTF-8");
    let again = exchange::parse_jsonl(exported).unwrap_or_else(|(n, why)| panic!("line {n} of the export: {why}"));
    assert_eq!(again, profiles, "export → import is not the identity:\n{exported}");
}

/// A snapshot file: the bytes as they are (a header that must be checked), and the bytes as the body under
/// a good header (so that the fuzzer need not find checksums). Reading it whole and reading it by key must
/// agree: the same keys, the same profiles; a body that cannot be read whole cannot be read by key either.
pub fn snapshot(bytes: &[u8]) {
    let framed = snapshot::frame(bytes);
    for file in [bytes, &framed] {
        let Ok(body) = snapshot::checked_body(file) else { continue };
        let whole = exchange::parse_jsonl(body);
        let index = snapshot::Index::of(body.to_string());
        match (whole, index) {
            (Ok(all), Ok(index)) => {
                let mut keys: Vec<&str> = index.keys().collect();
                keys.sort_unstable();
                assert!(keys.iter().copied().eq(all.keys().map(String::as_str)), "the index has other keys");
                assert_eq!(index.load(&keys).ok(), Some(all), "by key is not the whole");
            }
            (Ok(_), Err((line, why))) => panic!("read whole, but line {line} not indexed: {why}"),
            (Err(_), Ok(index)) => {
                let keys: Vec<&str> = index.keys().collect();
                assert!(index.load(&keys).is_err(), "a damaged body read by key");
            }
            (Err(_), Err(_)) => {}
        }
    }
}
