//! `keywatcher learn [INPUT]...` (old name `update_profile`): read records, learn a profile delta in
//! memory, merge it into the store once at the end. What was learned before a failed input, or before SIGTERM or
//! SIGINT stopped the run, is kept. With `--checkpoint`, the files it records are skipped and the files read are
//! recorded after the merge (not after a stopped run: it may not have read them all).

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::{FollowArgs, LearnArgs};
use crate::extract::Owner;
use crate::report::Report;
use crate::{config, pipeline, stop, store};

pub fn run(args: LearnArgs) -> Result<ExitCode> {
    let filter = config::filter(&args.common, Owner::default())?;
    let reading = FollowArgs { checkpoint: args.checkpoint.clone(), ..FollowArgs::default() };
    let mut plan = config::plan(&args.inputs, &reading, args.common.quiet)?;
    let inputs = plan.inputs();
    let mut store = store::open(args.common.store.store.as_deref())?;
    // Check the store now, not after hours of input: a damaged or unwritable one stops the run before it starts.
    store.prepare_write()?;
    // Only now: a signal while the store has not answered yet ends the process, nothing being learned.
    stop::on_signals()?;
    let mut report = Report::with_progress(args.common.quiet, inputs);
    let common = &args.common;
    let limits = config::limits("--max-record-bytes", common.max_record_bytes, common.max_decompressed_bytes);
    let (learned, outcome) =
        pipeline::learn(inputs, &filter, common.strict, config::threads(common), limits, &mut report);
    let profiles = learned.len();
    // The store's errors name it and say what failed.
    store.merge(learned)?;
    report.finish("learn");
    report.note(&format!("{profiles} profile(s) learned into {}", store.location()));
    outcome?;
    // Only now is what the files held stored; a crash before this learns them again next time. A run stopped
    // by a signal may not have read every file: none is recorded.
    if stop::requested().is_none() {
        plan.all_done()?;
    }
    Ok(super::status(&report))
}
