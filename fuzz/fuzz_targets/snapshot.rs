//! Fuzz target: the snapshot loader: header checks, then the body read whole and by key (`keywatcher::fuzz::snapshot`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| keywatcher::fuzz::snapshot(bytes));
