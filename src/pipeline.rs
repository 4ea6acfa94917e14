//! The data path, driven: inputs → chunks (`read`) → records (`parse`) → calls (`extract`) → the caller's
//! handler, one chunk's calls at a time, in input order. It counts what it excludes and reports what it
//! cannot use, with input name and line; with `strict` it stops at the first such record, after handing
//! over the calls before it. One thread for now; this is the only file that may start threads.

use anyhow::{Result, bail};

use crate::extract::{self, Call, Filter, Outcome};
use crate::learn::Learner;
use crate::parse::{self, Item};
use crate::profile::Profiles;
use crate::read::{Chunk, ChunkReader, Input};
use crate::report::{Place, Report};

/// Reads every input in order and gives the calls of each chunk to `handle`. An input that cannot be read
/// is reported and the run goes on with the next (with `strict`, it stops).
pub fn run(
    inputs: &[Input],
    filter: &Filter,
    strict: bool,
    report: &mut Report,
    handle: &mut dyn FnMut(&[Call], &mut Report) -> Result<()>,
) -> Result<()> {
    let mut calls = 0;
    let mut counting = |chunk_calls: &[Call], report: &mut Report| {
        calls += chunk_calls.len();
        handle(chunk_calls, report)
    };
    for input in inputs {
        report.input();
        let (readable, not_json) = (report.summary.readable(), report.summary.not_json);
        let name = input.name();
        let mut reader = match ChunkReader::open(input) {
            Ok(reader) => reader,
            Err(err) => {
                let why = match input {
                    Input::Unreadable(..) => err.to_string(),
                    _ => format!("cannot open: {err}"),
                };
                report.failed_input(&name, &why);
                if strict {
                    bail!("stopped at {name} (--strict)");
                }
                continue;
            }
        };
        let mut chunk = Chunk { first_line: 1, first_column: 1, ..Chunk::default() };
        let mut cursor = parse::Cursor::default();
        let mut consumed = 0;
        while reader.refill(&mut chunk, consumed) {
            consumed = one_chunk(&chunk, &mut cursor, &name, filter, strict, report, &mut counting)?;
        }
        if report.summary.readable() == readable && report.summary.not_json > not_json {
            report.failed_input(
                &name,
                "nothing in it could be read as CloudTrail JSON (compressed with something other than gzip?)",
            );
        }
        if let Err(err) = reader.finish() {
            let line = chunk.line_at(chunk.bytes.len());
            report
                .failed_input(&name, &format!("cannot read past line {line}: {err}; the records before it were used"));
            if strict {
                bail!("stopped at {name} (--strict)");
            }
        }
    }
    if calls == 0 && !filter.keys.is_empty() {
        report.note(&format!(
            "no call was made with the --key key(s) given ({}); access key IDs are upper case, one per --key",
            filter.keys.join(", ")
        ));
    }
    Ok(())
}

/// Reads every input and learns its calls into an in-memory delta. The delta comes back even when the run
/// stopped early, so that what was learned before a failure can be kept.
pub fn learn(inputs: &[Input], filter: &Filter, strict: bool, report: &mut Report) -> (Profiles, Result<()>) {
    let mut learner = Learner::default();
    let outcome = run(inputs, filter, strict, report, &mut |calls, report| {
        calls.iter().for_each(|call| learner.observe(call));
        report.learned(calls.len());
        Ok(())
    });
    (learner.profiles, outcome)
}

/// Parses and extracts one chunk, hands its calls over, and returns how many bytes were consumed.
fn one_chunk(
    chunk: &Chunk,
    cursor: &mut parse::Cursor,
    input: &str,
    filter: &Filter,
    strict: bool,
    report: &mut Report,
    handle: &mut dyn FnMut(&[Call], &mut Report) -> Result<()>,
) -> Result<usize> {
    let mut items = Vec::new();
    let consumed = parse::chunk(&chunk.bytes, !chunk.last, cursor, &mut |item| items.push(item));
    let mut calls = Vec::with_capacity(items.len());
    let mut stop = None;
    for item in &items {
        let unusable;
        let (pos, why, error_at, not_json) = match item {
            Item::Record(record, pos) => match extract::extract(record, filter) {
                Outcome::Call(call) => {
                    report.read(None);
                    calls.push(call);
                    continue;
                }
                Outcome::Excluded(why) => {
                    report.read(Some(why));
                    continue;
                }
                Outcome::Unusable(why) => {
                    unusable = why;
                    (pos, unusable.as_str(), None, false)
                }
            },
            Item::Skipped(skip, _) => {
                report.skipped(*skip);
                continue;
            }
            Item::Malformed(bad) => (&bad.pos, bad.why.as_str(), bad.error_at, true),
        };
        // Built only when printed: finding a line number means counting the chunk's newlines.
        let message = || {
            let place = Place { input, line: chunk.line_at(pos.offset), index: pos.index };
            match error_at {
                // The parser counts from the start of the value; on the value's first line, add its column.
                Some((1, column)) => {
                    format!("{place}: {why} at column {}", chunk.column_at(pos.offset) + column as u64 - 1)
                }
                Some((line, column)) => {
                    format!("{place}: {why} at line {}, column {column}", place.line + line as u64 - 1)
                }
                None => format!("{place}: {why}"),
            }
        };
        if strict {
            stop = Some(report.stop(not_json, message()));
            break;
        }
        report.unusable(not_json, message);
    }
    handle(&calls, report)?;
    if let Some(err) = stop {
        return Err(err);
    }
    Ok(consumed)
}
