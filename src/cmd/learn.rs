//! `keywatcher learn [INPUT]...` (old name `update_profile`): read records, learn a profile delta in
//! memory, merge it into the store once at the end. What was learned before a failed input is kept.

use std::process::ExitCode;

use anyhow::Result;

use crate::cli::LearnArgs;
use crate::report::Report;
use crate::{config, pipeline, store};

pub fn run(args: LearnArgs) -> Result<ExitCode> {
    let filter = config::filter(&args.common)?;
    let inputs = config::inputs(&args.inputs, args.common.quiet)?;
    let mut store = store::open(args.common.store.store.as_deref())?;
    // Check the store now, not after hours of input: a damaged or unwritable one stops the run before it starts.
    store.prepare_write()?;
    let mut report = Report::with_progress(args.common.quiet, &inputs);
    let common = &args.common;
    let limits = config::limits("--max-record-bytes", common.max_record_bytes, common.max_decompressed_bytes);
    let (learned, outcome) =
        pipeline::learn(&inputs, &filter, common.strict, config::threads(common), limits, &mut report);
    let keys = learned.len();
    // The store's errors name it and say what failed.
    store.merge(learned)?;
    report.finish("learn");
    report.note(&format!("{keys} key(s) learned into {}", store.location()));
    outcome?;
    Ok(super::status(&report))
}
