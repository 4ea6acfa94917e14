//! keywatcher learns how each long-term AWS access key is used, from CloudTrail, and flags the calls that
//! do not fit. The modules follow the data path — read → parse → extract → learn | score → store / emit —
//! with `pipeline` driving it, `cli`/`config` for flags and `cmd` for the subcommands. `ARCHITECTURE.md`
//! gives the map.

pub(crate) mod adapt;
pub(crate) mod agent;
pub(crate) mod checkpoint;
pub mod cli;
pub mod cmd;
pub(crate) mod config;
pub(crate) mod dedup;
pub mod emit;
pub mod extract;
pub(crate) mod follow;
pub mod fuzz;
pub(crate) mod html;
pub(crate) mod incident;
pub mod learn;
pub(crate) mod lineage;
pub(crate) mod net;
pub mod parse;
pub(crate) mod pipeline;
pub mod profile;
pub(crate) mod progress;
#[cfg(test)]
mod properties;
pub(crate) mod read;
pub(crate) mod recent;
pub mod report;
pub mod score;
pub(crate) mod signals;
pub(crate) mod stop;
pub(crate) mod store;
pub(crate) mod terminal;
pub(crate) mod when;
pub(crate) mod writer;
