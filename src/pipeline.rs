//! The data path, driven: inputs → chunks (`read`) → records (`parse`) → calls (`extract`) → the caller's
//! handler, one chunk's calls at a time, in input order. It counts what it excludes and reports what it
//! cannot use, with input name and line; with `strict` it stops at the first such record, after handing
//! over the calls before it. It also says when a run could not have looked at what was asked: an input in
//! which nothing is CloudTrail (an input error), a `--key` that no record carries. One thread for now; this is the only file
//! that may start threads.

use anyhow::{Result, bail};

use crate::extract::{self, Call, Filter, Outcome};
use crate::learn::Learner;
use crate::parse::{self, Item};
use crate::profile::Profiles;
use crate::read::{Chunk, ChunkReader, Input};
use crate::report::{Place, Report};

/// What the documents seen so far were, for the checks made after an input and after the run.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Documents that were CloudTrail (records, digests, Insights), whether used or not.
    cloudtrail: usize,
    /// Well-formed JSON of another kind.
    foreign: usize,
    /// Broken JSON.
    broken: usize,
    /// For each `--key`, whether a record carried it.
    keys_seen: Vec<bool>,
}

/// Reads every input in order and gives the calls of each chunk to `handle`. An input that cannot be read
/// is reported and the run goes on with the next (with `strict`, it stops).
pub fn run(
    inputs: &[Input],
    filter: &Filter,
    strict: bool,
    report: &mut Report,
    handle: &mut dyn FnMut(&[Call], &mut Report) -> Result<()>,
) -> Result<()> {
    let mut tally = Tally { keys_seen: vec![false; filter.keys.len()], ..Tally::default() };
    for input in inputs {
        report.input();
        let before = tally.clone();
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
            let mut each_chunk = Each { input: &name, filter, strict, report: &mut *report, tally: &mut tally };
            consumed = each_chunk.chunk(&chunk, &mut cursor, handle)?;
        }
        let why = match reader.finish() {
            Err(err) => {
                let line = chunk.line_at(chunk.bytes.len());
                Some(format!("cannot read past line {line}: {err}; the records before it were used"))
            }
            Ok(()) if tally.cloudtrail > before.cloudtrail => None,
            Ok(()) if tally.foreign > before.foreign => {
                Some("no CloudTrail record in it: its JSON is of another kind".to_string())
            }
            Ok(()) if tally.broken > before.broken => Some("nothing in it could be read as JSON".to_string()),
            Ok(()) => None,
        };
        if let Some(why) = why {
            report.failed_input(&name, &why);
            if strict {
                bail!("stopped at {name} (--strict)");
            }
        }
    }
    for (key, _) in filter.keys.iter().zip(&tally.keys_seen).filter(|(_, seen)| !**seen) {
        report.note(&format!("no record carries --key {key}; access key IDs are upper case, one per --key"));
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

/// What one chunk is read with.
struct Each<'r> {
    input: &'r str,
    filter: &'r Filter,
    strict: bool,
    report: &'r mut Report,
    tally: &'r mut Tally,
}

impl Each<'_> {
    /// Parses and extracts one chunk, hands its calls over, and returns how many bytes were consumed.
    fn chunk(
        &mut self,
        chunk: &Chunk,
        cursor: &mut parse::Cursor,
        handle: &mut dyn FnMut(&[Call], &mut Report) -> Result<()>,
    ) -> Result<usize> {
        let mut items = Vec::new();
        let consumed = parse::chunk(&chunk.bytes, !chunk.last, cursor, &mut |item| items.push(item));
        let mut calls = Vec::with_capacity(items.len());
        let mut stop = None;
        for item in &items {
            if let Item::Record(record, _) = item {
                let key = record.user_identity.access_key_id.as_str();
                if let Some(i) = self.filter.keys.iter().position(|k| k == key) {
                    self.tally.keys_seen[i] = true;
                }
            }
            let unusable;
            let (pos, why, error_at) = match item {
                Item::Record(record, pos) => match extract::extract(record, self.filter) {
                    Outcome::Call(call) => {
                        self.tally.cloudtrail += 1;
                        self.report.read(None);
                        calls.push(call);
                        continue;
                    }
                    Outcome::Excluded(why) => {
                        self.tally.cloudtrail += 1;
                        self.report.read(Some(why));
                        continue;
                    }
                    Outcome::Unusable(why) => {
                        self.tally.cloudtrail += 1;
                        unusable = why;
                        (pos, unusable.as_str(), None)
                    }
                    Outcome::Foreign(why) => {
                        self.tally.foreign += 1;
                        (pos, why, None)
                    }
                },
                Item::Skipped(skip) => {
                    self.tally.cloudtrail += 1;
                    self.report.skipped(*skip);
                    continue;
                }
                Item::Malformed(bad) => {
                    self.tally.broken += 1;
                    (&bad.pos, bad.why.as_str(), bad.error_at)
                }
            };
            // Built only when printed: finding a line number means counting the chunk's newlines.
            let input = self.input;
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
            if self.strict {
                stop = Some(self.report.stop(message()));
                break;
            }
            self.report.unusable(message);
        }
        handle(&calls, self.report)?;
        if let Some(err) = stop {
            return Err(err);
        }
        Ok(consumed)
    }
}
