//! The fuzz corpus (`fuzz/corpus/<target>/`), replayed on stable through the same checks the fuzz targets
//! run (`keywatcher::fuzz`): every input the fuzzer kept, and every crash it found once, stays checked in CI.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 5, "the {target} corpus is missing: {} file(s) in {}", files.len(), dir.display());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        if std::panic::catch_unwind(|| check(&bytes)).is_err() {
            panic!("{} fails its check", file.display());
        }
    }
}

#[test]
fn the_input_corpus_passes() {
    replay("input", |bytes| {
        keywatcher::fuzz::input(bytes);
    });
}

/// The envelope seeds take the fuzzer past the envelope into the records it holds: each gives its calls.
#[test]
fn the_envelope_seeds_reach_the_scorer() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/input");
    for (seed, calls) in [
        ("envelope-awslogs-data", 2),
        ("envelope-cloudwatch-decoded", 2),
        ("envelope-lookup-events", 2),
        ("envelope-eventbridge", 2),
        ("envelope-fluent-bit-log", 2),
        ("envelope-vector-message-nested", 1),
    ] {
        let bytes = std::fs::read(dir.join(seed)).unwrap_or_else(|e| panic!("{seed}: {e}"));
        assert_eq!(keywatcher::fuzz::input(&bytes), calls, "{seed}");
    }
}

#[test]
fn the_import_corpus_passes() {
    replay("import", keywatcher::fuzz::import);
}

#[test]
fn the_snapshot_corpus_passes() {
    replay("snapshot", keywatcher::fuzz::snapshot);
}
