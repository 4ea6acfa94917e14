//! `keywatcher score [INPUT]...` (old names `score_request`, `score_requst`): read records, load the
//! profiles of each chunk's keys from the store (or learn `--baseline` inputs in memory first), score every
//! call and write one JSON line per call, in input order (or, for a person at a terminal, one table row; or
//! with `--passthrough`, every record back with its verdict added). Unless `--frozen` (or the old scoring),
//! the calls that were not suspicious are learned in memory as they go, and new addresses in a key's own
//! networks put on probation (`adapt.rs`); `--learn` saves them too. Under `--identity key-and-role`, a role
//! session whose role has no profile is excluded, not scored. SIGTERM and SIGINT end the run after the chunks
//! already read: their lines are written, what was learned is saved.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::adapt::Adaptation;
use crate::cli::{Format, ScoreArgs};
use crate::emit::{self, Emitter, Judged, WriteVerdict};
use crate::extract::{Call, Exclusion, Filter, Owner};
use crate::follow::Step;
use crate::lineage::{Lineage, Link};
use crate::pipeline::{Batch, Fate};
use crate::profile::Profiles;
use crate::read::{Input, Limits};
use crate::report::{self, Report};
use crate::signals::Signal;
use crate::store::{self, Store};
use crate::terminal::Table;
use crate::{config, pipeline, stop};

pub fn run(args: ScoreArgs) -> Result<ExitCode> {
    let common = &args.common;
    let options = &args.options;
    let filter = config::filter(common, config::identity(options))?;
    let mut scorer = config::scorer(options)?;
    let mut plan = config::plan(&args.inputs, &args.follow, common.quiet)?;
    anyhow::ensure!(
        !(options.passthrough && options.format == Some(Format::Table)),
        "--passthrough writes the records back as JSON lines: it cannot be shown as a table (--format table)"
    );
    let threads = config::threads(common);
    anyhow::ensure!(
        !options.learn || options.baseline.is_empty(),
        "--learn saves what it learns into the store, and --baseline scores against profiles learned in memory \
         without touching a store: use one or the other"
    );
    let limits = config::limits("--max-record-bytes", common.max_record_bytes, common.max_decompressed_bytes);
    let (mut profiles, mut store) = if options.baseline.is_empty() {
        let mut store = store::open(common.store.store.as_deref())?;
        if options.learn {
            // Checked now, not at the first save, minutes into the run.
            store.prepare_write()?;
        }
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
            !(plan.inputs().contains(&Input::Stdin) && baseline_inputs.contains(&Input::Stdin)),
            "stdin can be read only once: give either the --baseline or the records to score as files"
        );
        (baseline(&baseline_inputs, &filter, common.strict, threads, limits, common.quiet)?, None)
    };
    // Only now: a signal while the store has not answered yet (or a baseline is learned) ends the process, as
    // nothing has been scored or learned.
    stop::on_signals()?;
    let mut missing = HashSet::new();
    let mut looked = Instant::now();
    let mut lineage = Lineage::default();
    let mut adapt = if options.learn {
        Some(Adaptation::saving(options.save_every, options.save_records))
    } else {
        config::adapts(options).then(Adaptation::in_memory)
    };
    // Under key-and-role, a role session is scored only once its role has been learned: a store from before
    // the upgrade has no role, and its sessions are not to be reported as unknown.
    let unlearned_role = |call: &Call, profiles: &Profiles| {
        filter.owner == Owner::KeyAndRole && call.by_role() && !profiles.contains_key(call.owner)
    };
    let mut on_probation = 0u64;
    // Verdicts on the terminal would be drawn over by a progress bar: it is shown only when they go elsewhere.
    let mut report = if std::io::stdout().is_terminal() {
        Report::new(common.quiet)
    } else {
        Report::with_progress(common.quiet, plan.inputs())
    };
    let mut out = if options.passthrough {
        Out::Passthrough(Emitter::new(emit::stdout()))
    } else if config::table(options.format) {
        Out::Verdicts(Box::new(Table::new(emit::stdout(), config::color(options.color))))
    } else {
        Out::Verdicts(Box::new(Emitter::new(emit::stdout())))
    };
    let handle: &mut dyn FnMut(&Batch, &mut Report) -> Result<()> = &mut |batch, report| {
        if let Some(store) = store.as_deref_mut() {
            // With --learn, a run lasts days: a key learned meanwhile (`keywatcher learn`, once a person has
            // checked its calls) is scored against its profile from the next --save-every on.
            if options.learn && looked.elapsed() >= options.save_every {
                look_again(store, &mut missing, &mut profiles, options.save_every);
                looked = Instant::now();
            }
            fetch(store, batch.calls.iter().map(|c| c.owner), &mut profiles, &mut missing)?;
        }
        let mut judge = |i: usize| {
            let call = &batch.calls[i];
            if unlearned_role(call, &profiles) {
                report.excluded(Exclusion::RoleNotProfiled);
                return None;
            }
            let (profile, link) = if scorer.method.lineage {
                lineage.observe(call);
                lineage.profile_for(call, &profiles)
            } else {
                (profiles.get(call.owner), None)
            };
            let mut verdict = scorer.score(call, profile);
            match link {
                Some(Link::MadeBy(maker)) => {
                    verdict.made_by = Some(maker.to_string());
                    // Its calls are not learned (below), so nothing of theirs goes on probation either.
                    verdict.signals.retain(|signal| !matches!(signal, Signal::Probation { .. }));
                }
                Some(Link::MadeForOther { maker, user }) => {
                    verdict.flag(Signal::MadeForOther { maker: maker.to_string(), user: user.to_string() })
                }
                None => {}
            }
            report.scored(verdict.suspicious);
            // A call scored against the key that made it is not learned: a profile of its own would then
            // replace its maker's as the measure of its next calls.
            if let Some(adapt) = &mut adapt
                && verdict.made_by.is_none()
            {
                if !verdict.suspicious {
                    if let Some(before) = profiles.get(call.owner) {
                        scorer.learned(call, before);
                    }
                    adapt.learn(call, &mut profiles);
                    report.learned(1);
                } else if verdict.on_probation() {
                    adapt.put_on_probation(call, &mut profiles);
                    on_probation += 1;
                }
            }
            Some(verdict)
        };
        match &mut out {
            Out::Verdicts(out) => {
                for (i, call) in batch.calls.iter().enumerate() {
                    if let Some(verdict) = judge(i)
                        && (verdict.suspicious || !options.only_suspicious)
                    {
                        out.verdict(call, &verdict).context("cannot write to stdout")?;
                    }
                }
            }
            Out::Passthrough(out) => {
                for record in &batch.records {
                    match &record.fate {
                        Fate::Call(i) => {
                            let call = &batch.calls[*i];
                            match judge(*i) {
                                Some(verdict) if verdict.suspicious || !options.only_suspicious => {
                                    out.passthrough(record.text, Judged::Scored(call, &verdict))
                                }
                                None if !options.only_suspicious => {
                                    out.passthrough(record.text, Judged::Excluded(Exclusion::RoleNotProfiled.label()))
                                }
                                _ => Ok(()),
                            }
                        }
                        Fate::Excluded(_) if options.only_suspicious => Ok(()),
                        Fate::Excluded(why) => out.passthrough(record.text, Judged::Excluded(why)),
                    }
                    .context("cannot write to stdout")?;
                }
            }
        }
        // A chunk ends where the input had nothing more ready, so a live feed gets its lines at once; and a
        // file's lines are all out before the checkpoint records it as done.
        out.flush().context("cannot write to stdout")?;
        if let (Some(adapt), Some(store)) = (&mut adapt, store.as_deref_mut()) {
            adapt.save_if_due(store);
        }
        Ok(())
    };
    let stopped = || stop::requested().is_some();
    let outcome = plan.run(&stopped, &mut |step| match step {
        Step::Read(inputs, ended) => {
            pipeline::run(inputs, &filter, common.strict, threads, limits, &mut report, &mut |batch, report| {
                handle(batch, report)?;
                batch.ended.map_or(Ok(()), &mut *ended)
            })
        }
        // Following waits between looks: the timed save and look-up are done on time, as on a quiet feed.
        Step::Wait => handle(&Batch::default(), &mut report),
    });
    // Saved whatever ended the run, a closed stdout included: nothing learned is lost.
    let flushed = out.flush().context("cannot write to stdout");
    let saved = match (&mut adapt, store.as_deref_mut()) {
        (Some(adapt), Some(store)) if adapt.saves() => Some(adapt.save(store).map(|()| store.location())),
        _ => None,
    };
    report.finish("score");
    let into = match (saved.transpose()?, &store) {
        (Some(location), _) => location,
        (None, Some(_)) => "memory for this run only (--learn saves them)".to_string(),
        (None, None) => "memory for this run only".to_string(),
    };
    if adapt.is_some() {
        report.note(&format!(
            "{} call(s) that were not suspicious learned into {into}; {on_probation} call(s) from new addresses \
             in their key's own network on probation (--probation)",
            report.summary.learned
        ));
    }
    outcome?;
    flushed?;
    let status = super::status(&report);
    if status == ExitCode::SUCCESS && options.exit_code && report.summary.suspicious > 0 {
        return Ok(ExitCode::from(1));
    }
    Ok(status)
}

/// Where the verdicts go: one line (or table row) per call, or every record back with its verdict.
enum Out {
    Verdicts(Box<dyn WriteVerdict>),
    Passthrough(Emitter<std::io::BufWriter<std::io::StdoutLock<'static>>>),
}

impl Out {
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Out::Verdicts(out) => out.flush(),
            Out::Passthrough(out) => out.flush(),
        }
    }
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

/// Looks up again the keys that had no profile. A store that does not answer leaves them as they were, to be
/// looked up again after `every`: they had no profile, so the run goes on scoring them as unknown.
fn look_again(store: &mut dyn Store, missing: &mut HashSet<String>, profiles: &mut Profiles, every: Duration) {
    if missing.is_empty() {
        return;
    }
    let keys: Vec<&str> = missing.iter().map(String::as_str).collect();
    match store.load(&keys) {
        Ok(found) => {
            missing.retain(|key| !found.contains_key(key));
            profiles.extend(found);
        }
        Err(err) => report::say(format_args!("{err:#}; the keys without a profile are looked up again in {every:?}")),
    }
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
    let filter = Filter { since: None, until: scored.since, ..scored.clone() };
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
