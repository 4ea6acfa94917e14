//! Flags → checked settings. Takes what clap parsed (`cli.rs`) and gives the values the commands run with:
//! the record [`Filter`] (times resolved against `--now`), the [`Scorer`] (weights and threshold checked),
//! the list of inputs, and how output is shown (table or JSON, colour or not). Every mistake a user can make
//! in a flag is reported here, naming the flag.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use jiff::Timestamp;

use crate::cli::{Color, CommonArgs, Format, ScoreOptions};
use crate::extract::Filter;
use crate::read::{self, Input};
use crate::report;
use crate::score::{Scorer, Weights};
use crate::when;

/// The record filter of `--since`, `--until`, `--now` and `--key`.
pub fn filter(common: &CommonArgs) -> Result<Filter> {
    let now = match &common.now {
        Some(text) => when::parse(text, Timestamp::now()).map_err(anyhow::Error::msg).context("invalid --now")?,
        None => Timestamp::now(),
    };
    let at = |flag: &str, text: &Option<String>| -> Result<Option<Timestamp>> {
        text.as_deref()
            .map(|text| when::parse(text, now).map_err(anyhow::Error::msg).with_context(|| format!("invalid {flag}")))
            .transpose()
    };
    let since = at("--since", &common.since)?;
    let until = at("--until", &common.until)?;
    if let (Some(since), Some(until)) = (since, until) {
        anyhow::ensure!(since < until, "--since ({since}) is not before --until ({until}): no record could match");
    }
    Ok(Filter { since, until, keys: common.keys.clone() })
}

/// `--threads`, or one thread per core.
pub fn threads(common: &CommonArgs) -> usize {
    common.threads.map_or_else(crate::pipeline::all_cores, usize::from)
}

/// The scorer of `--weights` and `--threshold`.
pub fn scorer(options: &ScoreOptions) -> Result<Scorer> {
    let weights: Weights = options.weights.parse().map_err(anyhow::Error::msg).context("invalid --weights")?;
    let best = weights.total();
    anyhow::ensure!(
        options.threshold <= best,
        "--threshold {} is above the highest possible score ({best}, with --weights {weights}): every call would be suspicious",
        options.threshold
    );
    Ok(Scorer::new(weights, options.threshold))
}

/// The inputs named on the command line, directories expanded. Reading a terminal is allowed, with a word
/// on stderr so that nobody waits for a command that is waiting for them.
pub fn inputs(args: &[std::path::PathBuf], quiet: bool) -> Result<Vec<Input>> {
    let inputs = read::expand(args)?;
    if !quiet && inputs.contains(&Input::Stdin) && std::io::stdin().is_terminal() {
        report::say(format_args!(
            "reading CloudTrail records from the terminal (end with Ctrl-D); pipe them in or name files"
        ));
    }
    Ok(inputs)
}

/// Whether `score` writes the table: when asked, or by default when stdout is a terminal (a person reads
/// it), never into a pipe or file (a program does).
pub fn table(format: Option<Format>) -> bool {
    format.unwrap_or(if std::io::stdout().is_terminal() { Format::Table } else { Format::Json }) == Format::Table
}

/// Whether the table is coloured: `auto` colours a terminal unless `NO_COLOR` is set (no-color.org) or
/// `TERM` is `dumb`; `always` and `never` are obeyed, `NO_COLOR` or not.
pub fn color(choice: Color) -> bool {
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    match choice {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => {
            std::io::stdout().is_terminal() && !set("NO_COLOR") && std::env::var_os("TERM").is_none_or(|t| t != "dumb")
        }
    }
}

/// Checks the old commands' PERIOD argument as clap reads it, so that a file name given in its place is
/// refused with the word order explained.
pub fn period(text: &str) -> Result<String, String> {
    when::parse(text, Timestamp::now())
        .map(|_| text.to_string())
        .map_err(|why| format!("{why}. The old word order is PERIOD then KEY, with records on stdin"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_count_back_from_now() {
        let common = CommonArgs {
            since: Some("1 hour ago".into()),
            now: Some("2026-11-02T10:00:00Z".into()),
            ..CommonArgs::default()
        };
        let f = filter(&common).unwrap();
        assert_eq!(f.since, Some("2026-11-02T09:00:00Z".parse().unwrap()));
        assert_eq!(f.until, None);
    }

    #[test]
    fn a_bad_flag_is_named() {
        let common = CommonArgs { until: Some("whenever".into()), ..CommonArgs::default() };
        let err = format!("{:#}", filter(&common).unwrap_err());
        assert!(err.starts_with("invalid --until: 'whenever' is not a time"), "{err}");
        let backwards =
            CommonArgs { since: Some("2026-11-02".into()), until: Some("2026-11-01".into()), ..CommonArgs::default() };
        assert!(filter(&backwards).is_err());
    }
}
