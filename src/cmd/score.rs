//! `keywatcher score [INPUT]...` (old names `score_request`, `score_requst`): read records, load the profiles of each
//! chunk's keys from the store, asking for the next chunk's before scoring this one (or learn `--baseline` inputs in
//! memory first), score every call and write one JSON line per call, in input order (or, for a person at a terminal,
//! one table row; or with `--passthrough`, every record back with its verdict added). Unless `--frozen` (or the old
//! scoring), the calls that were not suspicious are learned in memory as they go, and new addresses in a key's own
//! networks put on probation (`adapt.rs`); `--learn` saves them too. Under `--identity key-and-role`, a role session
//! whose role has no profile is excluded, not scored. SIGTERM and SIGINT end the run after the chunks already read:
//! their lines are written, what was learned is saved.

use std::collections::HashSet;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::adapt::Adaptation;
use crate::cli::{Format, ScoreArgs};
use crate::extract::{Call, Exclusion, Filter, Owner};
use crate::follow::Step;
use crate::lineage::{Lineage, Link};
use crate::pipeline::{Handed, Next};
use crate::profile::Profiles;
use crate::read::{Input, Limits};
use crate::report::{self, Report};
use crate::signals::Signal;
use crate::store::{self, Store};
use crate::writer::{Form, Writer};
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
    let form = if options.passthrough {
        Form::Passthrough
    } else if config::table(options.format) {
        Form::Table { color: config::color(options.color) }
    } else {
        Form::Lines
    };
    let mut writer = Writer::start(form, options.only_suspicious)?;
    let mut handle = |handed: &Handed, next: Next<'_>, report: &mut Report, writer: &mut Writer| -> Result<()> {
        let batch = handed.batch();
        if let Some(store) = store.as_deref_mut() {
            // With --learn, a run lasts days: a key learned meanwhile (`keywatcher learn`, once a person has
            // checked its calls) is scored against its profile from the next --save-every on.
            if options.learn && looked.elapsed() >= options.save_every {
                look_again(store, &mut missing, &mut profiles, options.save_every);
                looked = Instant::now();
            }
            fetch(store, batch.calls.iter().map(|c| c.owner), &mut profiles, &mut missing)?;
            // Asked for now and read at the next chunk's turn, so that the store answers while this one is scored.
            if !batch.calls.is_empty() && store.loads_ahead() {
                store.prefetch(&unseen(next.owners(), &profiles, &missing))?;
            }
        }
        let judge = |call: &Call| {
            if unlearned_role(call, &profiles) {
                report.excluded(Exclusion::RoleNotProfiled);
                return Err(Exclusion::RoleNotProfiled);
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
            Ok(verdict)
        };
        if !batch.calls.is_empty() || !batch.records.is_empty() {
            let verdicts = batch.calls.iter().map(judge).collect();
            writer.write(handed.clone(), verdicts)?;
        } else if batch.ended.is_none() {
            // Input is awaited: what the writer holds of files is written now, not when more comes.
            writer.hand_over()?;
        }
        if let (Some(adapt), Some(store)) = (&mut adapt, store.as_deref_mut()) {
            adapt.save_if_due(store);
        }
        Ok(())
    };
    let stopped = || stop::requested().is_some();
    let outcome = plan.run(&stopped, &mut |step| match step {
        Step::Read(inputs, ended) => {
            let outcome = pipeline::run(
                inputs,
                &filter,
                common.strict,
                threads,
                limits,
                &mut report,
                &mut |handed, next, report| {
                    handle(handed, next, report, &mut writer)?;
                    if let Some(index) = handed.batch().ended {
                        writer.ended(index);
                    }
                    writer.written().try_for_each(&mut *ended)
                },
            );
            // An input is recorded as done once its lines are out (after a failure too, for those before it).
            writer.sync()?;
            writer.written().try_for_each(&mut *ended)?;
            outcome
        }
        // Following waits between looks: the timed save and look-up are done on time, as on a quiet feed.
        Step::Wait => handle(&Handed::empty(None), Next::NONE, &mut report, &mut writer),
    });
    // Saved whatever ended the run, a closed stdout included: nothing learned is lost.
    let flushed = writer.finish();
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

/// Loads, in one request, the profiles of the keys not yet seen in this run. None of them is in `profiles`, so
/// nothing learned in memory is replaced.
fn fetch<'k>(
    store: &mut dyn Store,
    keys: impl Iterator<Item = &'k str>,
    profiles: &mut Profiles,
    missing: &mut HashSet<String>,
) -> Result<()> {
    let wanted = unseen(keys, profiles, missing);
    if wanted.is_empty() {
        return Ok(());
    }
    let found = store.load(&wanted)?;
    missing.extend(wanted.iter().filter(|k| !found.contains_key(**k)).map(|k| k.to_string()));
    profiles.extend(found);
    Ok(())
}

/// The keys not yet seen in this run, once each: neither loaded (or learned) nor found to have no profile.
fn unseen<'k>(keys: impl Iterator<Item = &'k str>, profiles: &Profiles, missing: &HashSet<String>) -> Vec<&'k str> {
    let mut wanted: Vec<&str> = keys.filter(|k| !profiles.contains_key(*k) && !missing.contains(*k)).collect();
    wanted.sort_unstable();
    wanted.dedup();
    wanted
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
