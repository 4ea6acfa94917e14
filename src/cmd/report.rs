//! `keywatcher report [SCORED]... [-o FILE]`: read the lines `keywatcher score` wrote and write one HTML
//! page about them (`incident.rs` gathers, `html.rs` draws). A line that is not a scored call is skipped,
//! named and counted, as records are; a report of nothing at all is refused.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ReportArgs;
use crate::incident::Builder;
use crate::report::{self, Place, Report};
use crate::{emit, html};

pub fn run(args: ReportArgs) -> Result<ExitCode> {
    let stdin = [Path::new("-").to_path_buf()];
    let inputs = if args.inputs.is_empty() { &stdin[..] } else { &args.inputs[..] };
    let mut builder = Builder::default();
    let mut report = Report::new(false);
    let mut sources = Vec::new();
    for path in inputs {
        report.input();
        let (name, source): (String, Box<dyn BufRead>) = if path.as_os_str() == "-" {
            ("<stdin>".into(), Box::new(io::stdin().lock()))
        } else {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), Box::new(BufReader::new(file)))
        };
        read(source, &name, &mut builder, &mut report).with_context(|| format!("cannot read {name}"))?;
        sources.push(name);
    }
    let incident = builder.finish();
    anyhow::ensure!(
        incident.calls > 0,
        "no scored calls in {}: give the report what `keywatcher score` writes (JSON lines)",
        sources.join(", ")
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
        incident.suspicious.len(),
        if skipped > 0 { format!("; {skipped} line(s) that are not scored calls skipped") } else { String::new() }
    ));
    Ok(ExitCode::SUCCESS)
}

/// Adds every line of one input; blank lines are nothing, other lines that are not scored calls are named.
fn read(mut source: Box<dyn BufRead>, name: &str, builder: &mut Builder, report: &mut Report) -> io::Result<()> {
    let mut line = Vec::new();
    let mut number = 0;
    loop {
        line.clear();
        if source.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        number += 1;
        let text = String::from_utf8_lossy(&line);
        if text.trim().is_empty() {
            continue;
        }
        if let Err(why) = builder.add(&text) {
            report.unusable(|| format!("{}: {why}", Place { input: name, line: number, index: None }));
        }
    }
}
