//! Fuzz target: CloudTrail input bytes → records → calls → verdicts → NDJSON (`keywatcher::fuzz::input`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| {
    keywatcher::fuzz::input(bytes);
});
