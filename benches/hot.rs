//! What one record costs in each hot stage, on the project's own fixture of a week of normal use
//! (`fixtures/baseline.ndjson`, repeated to about 1 MiB, the size of a chunk): the chunk's repairs, parse and extract, score
//! against the profiles learned from it, and write the verdict line. `cargo bench --bench hot`; the
//! end-to-end figures (threads, gzip, start-up) are `scripts/bench.sh`.

use std::io;
use std::sync::LazyLock;

use divan::Bencher;
use divan::counter::{BytesCount, ItemsCount};
use keywatcher::emit::Emitter;
use keywatcher::extract::{self, Call, Filter, Outcome};
use keywatcher::learn::Learner;
use keywatcher::parse::{self, Cursor, Item, Limits};
use keywatcher::score::{Method, Scorer, Verdict, Weights};

/// Counts allocations, so that each bench also says how many it made: the hot path should make none per record.
#[global_allocator]
static ALLOC: divan::AllocProfiler = divan::AllocProfiler::system();

fn main() {
    divan::main();
}

static CHUNK: LazyLock<Vec<u8>> = LazyLock::new(|| {
    let fixture = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/baseline.ndjson")).unwrap();
    fixture.repeat((1 << 20) / fixture.len())
});

static RECORDS: LazyLock<Vec<parse::Record<'static>>> = LazyLock::new(|| {
    let mut records = Vec::new();
    parse::chunk(&CHUNK, false, &mut Cursor::default(), Limits::DEFAULT, &mut |item| {
        if let Item::Record(record, _) = item {
            records.push(*record);
        }
    });
    records
});

fn calls() -> Vec<Call<'static>> {
    let filter = Filter::default();
    RECORDS
        .iter()
        .filter_map(|record| match extract::extract(record, &filter) {
            Outcome::Call(call) => Some(call),
            _ => None,
        })
        .collect()
}

#[divan::bench]
fn parse_and_extract(bencher: Bencher) {
    let filter = Filter::default();
    bencher.counter(BytesCount::new(CHUNK.len())).bench(|| {
        let mut calls = 0;
        parse::chunk(&CHUNK, false, &mut Cursor::default(), Limits::DEFAULT, &mut |item| {
            if let Item::Record(record, _) = item {
                calls += usize::from(matches!(extract::extract(&record, &filter), Outcome::Call(_)));
            }
        });
        calls
    });
}

/// The repairs every chunk gets before it is parsed (lone surrogates, bytes that are not UTF-8), on a chunk
/// that needs none: what they cost plain input. The copy that gives each run its own chunk is timed too.
#[divan::bench]
fn mend(bencher: Bencher) {
    bencher.counter(BytesCount::new(CHUNK.len())).with_inputs(|| CHUNK.clone()).bench_local_values(|mut chunk| {
        parse::mend(&mut chunk);
        chunk
    });
}

#[divan::bench]
fn score(bencher: Bencher) {
    let calls = calls();
    let mut learner = Learner::default();
    calls.iter().for_each(|call| learner.observe(call));
    let mut scorer = Scorer::new(Weights::default(), 70, Method::standard());
    bencher.counter(ItemsCount::new(calls.len())).bench_local(|| {
        calls.iter().map(|call| scorer.score(call, learner.profiles.get(call.access_key)).score).sum::<u32>()
    });
}

#[divan::bench]
fn emit(bencher: Bencher) {
    let calls = calls();
    let mut learner = Learner::default();
    calls.iter().step_by(2).for_each(|call| learner.observe(call));
    let mut scorer = Scorer::new(Weights::default(), 70, Method::standard());
    let verdicts: Vec<Verdict> =
        calls.iter().map(|call| scorer.score(call, learner.profiles.get(call.access_key))).collect();
    let mut out = Emitter::new(io::sink());
    bencher.counter(ItemsCount::new(calls.len())).bench_local(|| {
        for (call, verdict) in calls.iter().zip(&verdicts) {
            out.verdict(call, verdict).unwrap();
        }
    });
}
