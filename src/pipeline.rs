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
    for input in inputs {
        report.summary.inputs += 1;
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
        let mut chunk = Chunk { first_line: 1, ..Chunk::default() };
        let mut cursor = parse::Cursor::default();
        let mut consumed = 0;
        while reader.refill(&mut chunk, consumed) {
            consumed = one_chunk(&chunk, &mut cursor, &name, filter, strict, report, handle)?;
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
    Ok(())
}

/// Reads every input and learns its calls into an in-memory delta. The delta comes back even when the run
/// stopped early, so that what was learned before a failure can be kept.
pub fn learn(inputs: &[Input], filter: &Filter, strict: bool, report: &mut Report) -> (Profiles, Result<()>) {
    let mut learner = Learner::default();
    let outcome = run(inputs, filter, strict, report, &mut |calls, report| {
        calls.iter().for_each(|call| learner.observe(call));
        report.summary.learned += calls.len() as u64;
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
        let problem = match item {
            Item::Record(record, pos) => {
                report.summary.records += 1;
                match extract::extract(record, filter) {
                    Outcome::Call(call) => {
                        calls.push(call);
                        continue;
                    }
                    Outcome::Excluded(why) => {
                        *report.summary.excluded.entry(why).or_default() += 1;
                        continue;
                    }
                    Outcome::Unusable(why) => (pos, why.clone()),
                }
            }
            Item::Skipped(skip, _) => {
                *report.summary.skipped.entry(*skip).or_default() += 1;
                continue;
            }
            Item::Malformed(bad) => {
                report.summary.records += 1;
                let why = match bad.error_at {
                    Some((line, column)) => {
                        format!(
                            "{} at line {}, column {column}",
                            bad.why,
                            chunk.line_at(bad.pos.offset) + line as u64 - 1
                        )
                    }
                    None => bad.why.clone(),
                };
                (&bad.pos, why)
            }
        };
        let (pos, why) = problem;
        let place = || Place { input, line: chunk.line_at(pos.offset), index: pos.index };
        if strict {
            stop = Some(format!("{}: {why} (--strict)", place()));
            report.summary.unusable += 1;
            break;
        }
        report.unusable(|| format!("{}: {why}", place()));
    }
    handle(&calls, report)?;
    if let Some(message) = stop {
        bail!("stopped at {message}");
    }
    Ok(consumed)
}
