//! Fuzz target: `profile import`: JSON Lines and the old script's export and listing (`keywatcher::fuzz::import`).
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| keywatcher::fuzz::import(bytes));
