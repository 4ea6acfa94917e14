//! `keywatcher report [SCORED]... [-o FILE]`: read the lines `keywatcher score` wrote (stdin, files,
//! directories, gzipped or not, as every command reads its inputs) and write one HTML page about them
//! (`incident.rs` gathers, `html.rs` draws). A line that is not a scored call is skipped, named and counted,
//! as records are; an input that cannot be read is named and the rest are still read (exit status 2); a
//! report of nothing at all is refused.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ReportArgs;
use crate::incident::Builder;
use crate::read::{Chunk, ChunkReader, Input, Limits};
use crate::report::{self, Place, Report};
use crate::{config, emit, html};

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let inputs = config::inputs(&args.inputs, false)?;
    let mut builder = Builder::default();
    let mut report = Report::new(false);
    let limits = config::limits("--max-line-bytes", args.max_line_bytes, args.max_decompressed_bytes);
    for input in &inputs {
        report.input();
        add_lines(input, limits, &mut builder, &mut report);
    }
    let sources: Vec<String> = inputs.iter().map(Input::name).collect();
    let incident = builder.finish();
    anyhow::ensure!(
        incident.calls > 0,
        "no scored calls in {}{}: give the report what `keywatcher score` writes (JSON lines)",
        sources[..sources.len().min(3)].join(", "),
        if sources.len() > 3 { format!(" and {} more input(s)", sources.len() - 3) } else { String::new() }
    );
    let page = html::render(&incident, jiff::Timestamp::now(), &sources);
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, &page).with_context(|| format!("cannot write {}", path.display()))?;
            path.display().to_string()
        }
        None => {
            let mut out = emit::stdout();
            out.write_all(page.as_bytes()).and_then(|()| out.flush()).context("cannot write to stdout")?;
            "stdout".to_string()
        }
    };
    let skipped = report.summary.unusable;
    report::say(format_args!(
        "report: {} call(s) of {} key(s), {} suspicious{}; written to {written}",
        incident.calls,
        incident.keys.len(),
        incident.suspicious_total,
        if skipped > 0 { format!("; {skipped} line(s) that are not scored calls skipped") } else { String::new() }
    ));
    Ok(super::status(&report))
}

/// Adds every line of one input; blank lines are nothing, other lines that are not scored calls are named.
/// An input that cannot be opened, or read to its end, is reported; the lines before a read error count.
fn add_lines(input: &Input, limits: Limits, builder: &mut Builder, report: &mut Report) {
    let name = input.name();
    let mut reader = match ChunkReader::open(input, limits) {
        Ok(reader) => reader,
        Err(err) if matches!(input, Input::Unreadable(..)) => return report.failed_input(&name, &err.to_string()),
        Err(err) => return report.failed_input(&name, &format!("cannot open: {err}")),
    };
    let mut chunk = Chunk { first_line: 1, first_column: 1, ..Chunk::default() };
    let mut consumed = 0;
    while reader.refill(&mut chunk, consumed) {
        // Whole lines only; a line the chunk cut (one longer than a chunk) stays for the next, larger chunk.
        let ends = memchr::memchr_iter(b'\n', &chunk.bytes).map(|at| at + 1);
        let ends = ends.chain(chunk.last.then_some(chunk.bytes.len()));
        let mut start = 0;
        for (number, end) in (chunk.first_line..).zip(ends) {
            let text = String::from_utf8_lossy(&chunk.bytes[start..end]);
            start = end;
            if text.trim().is_empty() {
                continue;
            }
            if let Err(why) = builder.add(&text) {
                report.unusable(|| format!("{}: {why}", Place { input: &name, line: number, index: None }));
            }
        }
        consumed = start;
    }
    if let Err(err) = reader.finish() {
        let line = chunk.line_at(chunk.bytes.len());
        report.failed_input(&name, &format!("cannot read past line {line}: {err}; the lines before it were used"));
    }
}
