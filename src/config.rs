//! Flags → checked settings. Takes what clap parsed (`cli.rs`) and gives the values the commands run with:
//! the record [`Filter`] (times resolved against `--now`), the [`Scorer`] (weights and threshold checked),
//! the list of inputs, and how output is shown (table or JSON, colour or not). Every mistake a user can make
//! in a flag is reported here, naming the flag.

use std::io::IsTerminal;

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};

use crate::checkpoint::Checkpoint;
use crate::cli::{Color, CommonArgs, FollowArgs, Format, ScoreOptions, Scoring, Switch};
use crate::extract::{Filter, Owner};
use crate::follow::{Plan, Watch};
use crate::net::Networks;
use crate::read::{self, Input};
use crate::report;
use crate::score::{Method, Scorer, Weights};
use crate::signals::Settings;
use crate::when;

/// The record filter of `--since`, `--until`, `--now`, `--key` and `--identity` (`identity` when not given).
pub fn filter(common: &CommonArgs, identity: Owner) -> Result<Filter> {
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
    let owner = common.identity.unwrap_or(identity);
    Ok(Filter { since, until, keys: common.keys.clone(), owner, dedup: common.dedup })
}

/// The profiling `score` uses when `--identity` is not given: by key and role, or by key alone under the old
/// scoring, whose behaviour stays the old script's.
pub fn identity(options: &ScoreOptions) -> Owner {
    match options.scoring {
        Scoring::Standard => Owner::KeyAndRole,
        Scoring::Legacy => Owner::Key,
    }
}

/// Whether `score` learns in memory, as it goes, the calls that were not suspicious: unless `--frozen`, or
/// the old scoring without `--learn` (which scored against the stored profiles only).
pub fn adapts(options: &ScoreOptions) -> bool {
    options.learn || !(options.frozen || options.scoring == Scoring::Legacy)
}

/// A number of bytes as flags take it: `16M`, `4G`, `512K` or a plain count; the units are powers of 1024
/// (`k`, `m`, `g` and a trailing `B` or `iB` accepted too). Shown with the largest unit that divides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub u64);

impl std::str::FromStr for Size {
    type Err = String;

    fn from_str(text: &str) -> Result<Size, String> {
        let upper = text.trim().to_ascii_uppercase();
        let number = upper.trim_end_matches("IB").trim_end_matches('B');
        let (digits, shift) = match number.as_bytes().last() {
            Some(b'K') => (&number[..number.len() - 1], 10),
            Some(b'M') => (&number[..number.len() - 1], 20),
            Some(b'G') => (&number[..number.len() - 1], 30),
            Some(b'T') => (&number[..number.len() - 1], 40),
            _ => (number, 0),
        };
        let count: u64 = digits
            .parse()
            .map_err(|_| format!("'{text}' is not a size: write a whole number with K, M or G, e.g. 16M"))?;
        count
            .checked_mul(1 << shift)
            .filter(|&bytes| bytes > 0)
            .map(Size)
            .ok_or_else(|| format!("'{text}' is not a size above zero that fits in 64 bits"))
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        let unit = [(40, "T"), (30, "G"), (20, "M"), (10, "K")]
            .into_iter()
            .find(|(shift, _)| self.0 > 0 && self.0.trailing_zeros() >= *shift);
        match unit {
            Some((shift, unit)) => write!(f, "{}{unit}", self.0 >> shift),
            None => write!(f, "{} bytes", self.0),
        }
    }
}

/// The bounds of `--max-record-bytes` (or `record_flag`) and `--max-decompressed-bytes`.
pub fn limits(record_flag: &'static str, record: Option<Size>, decompressed: Option<Size>) -> read::Limits {
    let default = read::Limits::DEFAULT;
    read::Limits {
        record: record.map_or(default.record, |size| size.0),
        record_flag,
        decompressed: decompressed.map_or(default.decompressed, |size| size.0),
    }
}

/// `--threads`, or one thread per core.
pub fn threads(common: &CommonArgs) -> usize {
    common.threads.map_or_else(crate::pipeline::all_cores, usize::from)
}

/// The scorer of `--weights`, `--threshold`, `--scoring` and the flags that change one part of it.
pub fn scorer(options: &ScoreOptions) -> Result<Scorer> {
    let weights: Weights = options.weights.parse().map_err(anyhow::Error::msg).context("invalid --weights")?;
    let best = weights.total();
    anyhow::ensure!(
        options.threshold <= best,
        "--threshold {} is above the highest possible score ({best}, with --weights {weights}): every call would be suspicious",
        options.threshold
    );
    let mut method = match options.scoring {
        Scoring::Standard => Method::standard(),
        Scoring::Legacy => Method::legacy(),
    };
    method.agents = options.agent_match.unwrap_or(method.agents);
    method.ips = options.ip_match.unwrap_or(method.ips);
    if let Some(path) = &options.trusted_networks {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read --trusted-networks {}", path.display()))?;
        method.trusted = Networks::parse(&text).map_err(anyhow::Error::msg).with_context(|| {
            format!("invalid --trusted-networks {}: write one CIDR block a line, e.g. 198.51.100.0/24", path.display())
        })?;
    }
    method.forget_after = match options.forget_after {
        Some(0) => None,
        Some(days) => Some(i64::from(days)),
        None => method.forget_after,
    };
    let signals = match options.signals {
        Some(switch) => switch == Switch::On,
        None => method.signals.is_some(),
    };
    let thresholds = [
        ("--warm-calls", options.warm_calls.is_some()),
        ("--warm-days", options.warm_days.is_some()),
        ("--dormant-days", options.dormant_days.is_some()),
        ("--denied-burst", options.denied_burst.is_some()),
    ];
    if let Some((flag, _)) = thresholds.iter().find(|(_, given)| *given).filter(|_| !signals) {
        anyhow::bail!(
            "{flag} sets a signal, and the signals are off (--scoring legacy or --signals off): add --signals on"
        );
    }
    let defaults = Settings::default();
    method.signals = signals.then(|| Settings {
        warm_calls: options.warm_calls.unwrap_or(defaults.warm_calls),
        warm_days: options.warm_days.unwrap_or(defaults.warm_days),
        dormant_days: options.dormant_days.unwrap_or(defaults.dormant_days),
        denied_burst: options.denied_burst.unwrap_or(defaults.denied_burst),
    });
    anyhow::ensure!(
        options.probation.is_none() || options.scoring == Scoring::Standard,
        "--probation puts addresses of a key's own networks on probation, and --scoring legacy compares exact \
         addresses: leave --probation out, or use the standard scoring"
    );
    // Only a run that learns as it goes remembers what is on probation.
    method.probation = options.probation.or(method.probation).filter(|span| adapts(options) && !span.is_zero());
    Ok(Scorer::new(weights, options.threshold, method))
}

/// The inputs named on the command line, directories expanded. Reading a terminal is allowed, with a word
/// on stderr so that nobody waits for a command that is waiting for them.
pub fn inputs(args: &[std::path::PathBuf], quiet: bool) -> Result<Vec<Input>> {
    let inputs = read::expand(args)?;
    if !quiet && inputs.contains(&Input::Stdin) && std::io::stdin().is_terminal() {
        report::say(format_args!("reading from the terminal (end with Ctrl-D); pipe the input in or name files"));
    }
    Ok(inputs)
}

/// How the inputs are taken: all at once; with `--checkpoint`, each file it does not hold yet, recorded as it
/// is done; with `--follow`, the INPUT directories watched for new files.
pub fn plan(args: &[std::path::PathBuf], follow: &FollowArgs, quiet: bool) -> Result<Plan> {
    let done = follow.checkpoint.as_deref().map(Checkpoint::open).transpose()?;
    if follow.follow {
        let interval = follow.poll_interval.unwrap_or(std::time::Duration::from_secs(2));
        let watch = Watch::new(args, interval)?;
        let done = done.unwrap_or_else(Checkpoint::memory);
        if !quiet {
            let dirs: Vec<_> = args.iter().map(|dir| dir.display().to_string()).collect();
            report::say(format_args!(
                "following {} (a look every {interval:?}; {} file(s) already done); stop it with a signal",
                dirs.join(", "),
                done.count()
            ));
        }
        return Ok(Plan::Follow { watch, done });
    }
    let inputs = inputs(args, quiet)?;
    let Some(done) = done else { return Ok(Plan::All(inputs)) };
    anyhow::ensure!(
        !inputs.contains(&Input::Stdin),
        "--checkpoint records files, and stdin is not one: name the files or directories to read"
    );
    let (plan, skipped) = Plan::once(inputs, done);
    if skipped > 0 && !quiet {
        report::say(format_args!("{skipped} input file(s) skipped: the checkpoint records them as done"));
    }
    Ok(plan)
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

/// Parses a span of time given to a flag such as `--save-every` or `--poll-interval`: `60s`, `5m`, `1h 30m` (or
/// ISO 8601, `PT1M`), or a plain number of seconds (`2`, `0.5`), more than zero. Both flags take every form.
pub fn interval(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let span = match text.parse::<f64>() {
        Ok(seconds) => std::time::Duration::try_from_secs_f64(seconds).ok(),
        Err(_) => text.parse::<jiff::SignedDuration>().ok().and_then(|span| std::time::Duration::try_from(span).ok()),
    };
    span.filter(|span| !span.is_zero()).ok_or_else(|| {
        format!("'{text}' is not a span of time: use a positive span such as 60s, 5m or 1h, or a number of seconds")
    })
}

/// Parses `--probation`: a span such as `24h`, `72h` or `90m` (or ISO 8601, `PT24H`), or 0 for none.
pub fn probation(text: &str) -> Result<SignedDuration, String> {
    let text = text.trim();
    if text == "0" {
        return Ok(SignedDuration::ZERO);
    }
    text.parse::<SignedDuration>()
        .ok()
        .filter(|span| !span.is_negative())
        .ok_or_else(|| format!("'{text}' is not a span of time: use a span such as 24h, 72h or 90m, or 0 for none"))
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
        let f = filter(&common, Owner::KeyAndRole).unwrap();
        assert_eq!(f.since, Some("2026-11-02T09:00:00Z".parse().unwrap()));
        assert_eq!(f.until, None);
    }

    fn score_options(args: &[&str]) -> ScoreOptions {
        use clap::Parser;
        let cli = crate::cli::Cli::try_parse_from([&["keywatcher", "score"], args].concat()).unwrap();
        match cli.command {
            crate::cli::Command::Score(score) => score.options,
            _ => unreachable!("parsed as score"),
        }
    }

    #[test]
    fn scoring_presets_and_the_flags_that_change_them() {
        let standard = scorer(&score_options(&[])).unwrap();
        assert_eq!(standard.method, Method::standard(), "the run remembers what is on probation");
        let frozen = scorer(&score_options(&["--frozen"])).unwrap();
        assert_eq!(frozen.method, Method { probation: None, ..Method::standard() }, "nothing remembers it");
        let learning = scorer(&score_options(&["--learn"])).unwrap();
        assert_eq!(learning.method, Method::standard());
        let legacy = scorer(&score_options(&["--scoring", "legacy"])).unwrap();
        assert_eq!(legacy.method, Method::legacy());
        let tuned = scorer(&score_options(&["--scoring", "legacy", "--signals", "on", "--dormant-days", "7"])).unwrap();
        assert_eq!(tuned.method.signals.map(|s| (s.dormant_days, s.warm_calls)), Some((7, 20)));
        let err = scorer(&score_options(&["--scoring", "legacy", "--dormant-days", "7"])).unwrap_err().to_string();
        assert!(err.starts_with("--dormant-days sets a signal, and the signals are off"), "{err}");
        let forgetful = scorer(&score_options(&["--forget-after", "0"])).unwrap();
        assert_eq!(forgetful.method.forget_after, None, "0 never forgets");
    }

    #[test]
    fn the_old_scoring_is_frozen_and_by_key_unless_asked() {
        let adapts_and_identity = |args: &[&str]| {
            let options = score_options(args);
            (adapts(&options), identity(&options))
        };
        assert_eq!(adapts_and_identity(&[]), (true, Owner::KeyAndRole));
        assert_eq!(adapts_and_identity(&["--frozen"]), (false, Owner::KeyAndRole));
        assert_eq!(adapts_and_identity(&["--scoring", "legacy"]), (false, Owner::Key));
        assert_eq!(adapts_and_identity(&["--scoring", "legacy", "--learn"]), (true, Owner::Key));
        use clap::Parser;
        let old = crate::cli::Cli::try_parse_from(["keywatcher", "score_request", "1 hour ago"]).unwrap();
        let crate::cli::Command::ScoreRequest(old) = old.command else { unreachable!("parsed as score_request") };
        let old = old.into_score();
        assert!(!adapts(&old.options), "the old script's command scores against the store only");
        assert_eq!(filter(&old.common, Owner::KeyAndRole).unwrap().owner, Owner::Key);
    }

    #[test]
    fn save_every_takes_a_positive_span() {
        let minute = std::time::Duration::from_secs(60);
        assert_eq!(score_options(&["--learn"]).save_every, minute, "the default");
        assert_eq!(score_options(&["--learn", "--save-every", "5m"]).save_every, 5 * minute);
        assert_eq!(interval("PT1M"), Ok(minute));
        assert_eq!(interval("60"), Ok(minute), "plain seconds");
        assert_eq!(interval("0.25"), Ok(std::time::Duration::from_millis(250)));
        for bad in ["0s", "-5m", "soon", "3 days", "0", "-1", "NaN", "inf"] {
            assert!(interval(bad).is_err(), "{bad}");
        }
        use clap::Parser;
        let err = crate::cli::Cli::try_parse_from(["keywatcher", "score", "--save-every", "5m"]).unwrap_err();
        assert!(err.to_string().contains("--learn"), "{err}");
    }

    #[test]
    fn sizes_read_and_print_in_powers_of_1024() {
        let size = |text: &str| text.parse::<Size>().map(|size| size.0);
        assert_eq!(size("16M"), Ok(16 << 20));
        assert_eq!(size("2g"), Ok(2 << 30));
        assert_eq!(size("512KiB"), Ok(512 << 10));
        assert_eq!(size("1000"), Ok(1000));
        assert!(size("0").is_err() && size("1.5M").is_err() && size("M").is_err() && size("99999999T").is_err());
        assert_eq!([Size(16 << 20), Size(4 << 30), Size(1000)].map(|s| s.to_string()), ["16M", "4G", "1000 bytes"]);
    }

    #[test]
    fn probation_takes_a_span_or_zero_and_only_with_learn() {
        let probation_of = |args: &[&str]| scorer(&score_options(args)).unwrap().method.probation;
        assert_eq!(probation_of(&[]), Some(SignedDuration::from_hours(24)), "the default");
        assert_eq!(probation_of(&["--learn"]), Some(SignedDuration::from_hours(24)));
        assert_eq!(probation_of(&["--probation", "36h"]), Some(SignedDuration::from_hours(36)));
        assert_eq!(probation_of(&["--learn", "--probation", "0"]), None);
        assert_eq!(probation_of(&["--learn", "--scoring", "legacy"]), None, "exact addresses have no network");
        assert_eq!(probation_of(&["--scoring", "legacy"]), None);
        for bad in ["-5m", "soon", "3 days"] {
            assert!(probation(bad).is_err(), "{bad}");
        }
        use clap::Parser;
        let err =
            crate::cli::Cli::try_parse_from(["keywatcher", "score", "--frozen", "--probation", "5h"]).unwrap_err();
        assert!(err.to_string().contains("--frozen"), "{err}");
    }

    #[test]
    fn a_bad_flag_is_named() {
        let common = CommonArgs { until: Some("whenever".into()), ..CommonArgs::default() };
        let err = format!("{:#}", filter(&common, Owner::KeyAndRole).unwrap_err());
        assert!(err.starts_with("invalid --until: 'whenever' is not a time"), "{err}");
        let backwards =
            CommonArgs { since: Some("2026-11-02".into()), until: Some("2026-11-01".into()), ..CommonArgs::default() };
        assert!(filter(&backwards, Owner::KeyAndRole).is_err());
    }
}
