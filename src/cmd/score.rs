//! `keywatcher score [INPUT]...` (old names `score_request`, `score_requst`): read records, load the
//! profiles of each chunk's keys from the store (or learn `--baseline` inputs in memory first), score every
//! call and write one JSON line per call, in input order (or, for a person at a terminal, one table row).

use std::collections::HashSet;
use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::cli::ScoreArgs;
use crate::emit::{self, Emitter, WriteVerdict};
use crate::extract::Filter;
use crate::lineage::{Lineage, Link};
use crate::profile::Profiles;
use crate::read::{Input, Limits};
use crate::report::{self, Report};
use crate::signals::Signal;
use crate::store::{self, Store};
use crate::terminal::Table;
use crate::{config, pipeline};

pub fn run(args: ScoreArgs) -> Result<ExitCode> {
    let common = &args.common;
    let options = &args.options;
    let filter = config::filter(common)?;
    let mut scorer = config::scorer(options)?;
    let inputs = config::inputs(&args.inputs, common.quiet)?;
    let threads = config::threads(common);
    let limits = config::limits("--max-record-bytes", common.max_record_bytes, common.max_decompressed_bytes);
    let (mut profiles, mut store) = if options.baseline.is_empty() {
        let mut store = store::open(common.store.store.as_deref())?;
        if store.is_empty()? && !common.quiet {
            report::say(format_args!(
                "no profiles in {}: every call will score 0 as an unknown key. Learn first \
                 (keywatcher learn RECORDS), point --store at the profiles, or score with --baseline RECORDS",
                store.location()
            ));
        }
        (Profiles::new(), Some(store))
    } else {
        let baseline_inputs = config::inputs(&options.baseline, common.quiet).context("invalid --baseline")?;
        anyhow::ensure!(
            !(inputs.contains(&Input::Stdin) && baseline_inputs.contains(&Input::Stdin)),
            "stdin can be read only once: give either the --baseline or the records to score as files"
        );
        (baseline(&baseline_inputs, &filter, common.strict, threads, limits, common.quiet)?, None)
    };
    let mut missing = HashSet::new();
    let mut lineage = Lineage::default();
    // Verdicts on the terminal would be drawn over by a progress bar: it is shown only when they go elsewhere.
    let mut report = if std::io::stdout().is_terminal() {
        Report::new(common.quiet)
    } else {
        Report::with_progress(common.quiet, &inputs)
    };
    let mut out: Box<dyn WriteVerdict> = if config::table(options.format) {
        Box::new(Table::new(emit::stdout(), config::color(options.color)))
    } else {
        Box::new(Emitter::new(emit::stdout()))
    };
    let outcome = pipeline::run(&inputs, &filter, common.strict, threads, limits, &mut report, &mut |calls, report| {
        if let Some(store) = store.as_deref_mut() {
            fetch(store, calls.iter().map(|c| c.owner), &mut profiles, &mut missing)?;
        }
        for call in calls {
            let (profile, link) = if scorer.method.lineage {
                lineage.observe(call);
                lineage.profile_for(call, &profiles)
            } else {
                (profiles.get(call.owner), None)
            };
            let mut verdict = scorer.score(call, profile);
            match link {
                Some(Link::MadeBy(maker)) => verdict.made_by = Some(maker.to_string()),
                Some(Link::MadeForOther { maker, user }) => {
                    verdict.flag(Signal::MadeForOther { maker: maker.to_string(), user: user.to_string() })
                }
                None => {}
            }
            report.scored(verdict.suspicious);
            if verdict.suspicious || !options.only_suspicious {
                out.verdict(call, &verdict).context("cannot write to stdout")?;
            }
        }
        // A chunk ends where the input had nothing more ready, so a live feed gets its lines at once.
        out.flush().context("cannot write to stdout")?;
        Ok(())
    });
    out.flush()?;
    report.finish("score");
    outcome?;
    let status = super::status(&report);
    if status == ExitCode::SUCCESS && options.exit_code && report.summary.suspicious > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(status)
}

/// Loads, in one request, the profiles of the keys not yet seen in this run.
fn fetch<'k>(
    store: &mut dyn Store,
    keys: impl Iterator<Item = &'k str>,
    profiles: &mut Profiles,
    missing: &mut HashSet<String>,
) -> Result<()> {
    let mut wanted: Vec<&str> = keys.filter(|k| !profiles.contains_key(*k) && !missing.contains(*k)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(());
    }
    let found = store.load(&wanted)?;
    missing.extend(wanted.iter().filter(|k| !found.contains_key(**k)).map(|k| k.to_string()));
    profiles.extend(found);
    Ok(())
}

/// Learns the `--baseline` inputs in memory: their calls made with the `--key` keys before `--since`.
fn baseline(
    inputs: &[Input],
    scored: &Filter,
    strict: bool,
    threads: usize,
    limits: Limits,
    quiet: bool,
) -> Result<Profiles> {
    // The baseline is what came before the calls being scored: with --since, it stops there, so that the
    // same archive can be both (`--baseline AWSLogs --since 2026-11-08 AWSLogs`) without the calls under
    // suspicion becoming normal.
    let filter = Filter { keys: scored.keys.clone(), since: None, until: scored.since, owner: scored.owner };
    let mut report = Report::with_progress(quiet, inputs);
    let (learned, outcome) = pipeline::learn(inputs, &filter, strict, threads, limits, &mut report);
    report.finish("baseline");
    outcome?;
    anyhow::ensure!(
        report.summary.failed_inputs == 0,
        "a --baseline input had errors (see above); not scoring against a partial baseline"
    );
    Ok(learned)
}
