//! keywatcher learns how each long-term AWS access key is used, from CloudTrail, and flags the calls that
//! do not fit. The modules follow the data path — read → parse → extract → learn | score → store / emit —
//! with `pipeline` driving it, `cli`/`config` for flags and `cmd` for the subcommands. `ARCHITECTURE.md`
//! gives the map.

pub mod cli;
pub mod cmd;
pub mod config;
pub mod emit;
pub mod extract;
pub mod learn;
pub mod parse;
pub mod pipeline;
pub mod profile;
pub mod read;
pub mod report;
pub mod score;
pub mod store;
pub mod when;
