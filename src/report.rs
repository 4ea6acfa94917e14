//! Diagnostics on stderr. Counts what a run read, scored, learned, excluded (by reason), skipped and could
//! not use, and prints a problem with its input and place (file and line, record index), at most
//! [`MAX_MESSAGES`] of them so that a broken feed cannot flood the terminal; the summary at the end
//! gives the full counts. It owns the run's progress bar, if any, and prints its messages above it, and keeps
//! what a run checks across the pipeline's passes (a checkpointed run makes one a file): the `--key` keys seen and
//! the `--dedup` window. Never writes stdout, and never prints a secret: messages name inputs and stores by the
//! names the caller gives.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;

use crate::dedup::Dedup;
use crate::extract::{Exclusion, Filter};
use crate::parse::{Record, Skip};
use crate::progress::Progress;
use crate::read::Input;
use crate::terminal::terminal;

/// Writes one line on stderr, `keywatcher: ` first. A closed stderr is no reason to stop (or to panic, as
/// `eprintln!` would): the line is dropped. The input names and record values a message holds are an
/// attacker's to choose (an S3 object key, an `eventTime`), so every control or invisible formatting
/// character is shown as its escape, as in the table: no message can drive the terminal, or end its line and
/// start a forged one in a log.
pub fn say(text: std::fmt::Arguments) {
    let text = text.to_string();
    let _ = writeln!(std::io::stderr().lock(), "keywatcher: {}", terminal(&text));
}

/// How many problem messages a run prints before it only counts them.
pub const MAX_MESSAGES: u64 = 20;

/// Where a problem is: an input name, a line, and a record index within the document on that line.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub input: &'a str,
    pub line: u64,
    pub index: Option<usize>,
}

impl std::fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "{}:{}", self.input, self.line)?;
        if let Some(index) = self.index {
            write!(f, " (record {index})")?;
        }
        Ok(())
    }
}

/// What a run has seen so far.
#[derive(Debug, Default)]
pub struct Summary {
    pub inputs: u64,
    pub records: u64,
    pub learned: u64,
    pub scored: u64,
    pub suspicious: u64,
    pub excluded: BTreeMap<Exclusion, u64>,
    pub skipped: BTreeMap<Skip, u64>,
    pub unusable: u64,
    /// Records dropped by `--dedup`.
    pub duplicates: u64,
    pub failed_inputs: u64,
}

/// Counts and messages of one run.
#[derive(Debug)]
pub struct Report {
    pub summary: Summary,
    quiet: bool,
    printed: u64,
    progress: Option<Progress>,
    /// Each `--key`, and whether a record carried it: one that none did is named at the end. Kept here, not
    /// per pass of the pipeline, because a following run passes once per look.
    keys: Vec<(String, bool)>,
    /// `--dedup`: the event IDs of the last records, kept here for the same reason, so that a record delivered
    /// again in a later file (as CloudTrail does) is dropped by a run that passes once per look.
    dedup: Option<Dedup>,
}

impl Report {
    pub fn new(quiet: bool) -> Report {
        Report { summary: Summary::default(), quiet, printed: 0, progress: None, keys: Vec::new(), dedup: None }
    }

    /// The same, with a progress bar over `inputs` on stderr when a person can see it (see `progress.rs`).
    pub fn with_progress(quiet: bool, inputs: &[Input]) -> Report {
        Report { progress: Progress::new(inputs, quiet), ..Report::new(quiet) }
    }

    /// One more input.
    pub fn input(&mut self) {
        self.summary.inputs += 1;
        if let Some(progress) = &mut self.progress {
            progress.update(&self.summary, true);
        }
    }

    /// A pass of the pipeline under `filter` starts. The first sets what the run checks across its passes: the
    /// `--key` keys (which no record carried is told at the end) and the `--dedup` window.
    pub fn expect(&mut self, filter: &Filter) {
        if self.keys.is_empty() {
            self.keys = filter.keys.iter().map(|key| (key.clone(), false)).collect();
        }
        if self.dedup.is_none() {
            self.dedup = Dedup::new(filter.dedup);
        }
    }

    /// A record carries the access key `key`.
    pub fn carried(&mut self, key: &str) {
        if let Some((_, seen)) = self.keys.iter_mut().find(|(k, _)| k == key) {
            *seen = true;
        }
    }

    /// A record read: a call (`None`) or excluded, and why.
    pub fn read(&mut self, excluded: Option<Exclusion>) {
        self.summary.records += 1;
        if let Some(why) = excluded {
            *self.summary.excluded.entry(why).or_default() += 1;
        }
        if let Some(progress) = &mut self.progress {
            progress.update(&self.summary, false);
        }
    }

    /// A call read (and counted as a record) that is excluded after all, by what the store holds.
    pub fn excluded(&mut self, why: Exclusion) {
        *self.summary.excluded.entry(why).or_default() += 1;
    }

    /// Prints a line on stderr above the progress bar, if there is one.
    fn say(&self, text: std::fmt::Arguments) {
        match &self.progress {
            Some(progress) => progress.above(|| say(text)),
            None => say(text),
        }
    }

    /// Whether `--dedup` drops `record`: it came, with the same eventID and call, in the records just before
    /// it. A record dropped is counted.
    pub fn duplicate(&mut self, record: &Record) -> bool {
        let repeated = self.dedup.as_mut().is_some_and(|dedup| dedup.repeated(record));
        if repeated {
            self.summary.records += 1;
            self.summary.duplicates += 1;
        }
        repeated
    }

    /// A document that holds nothing to profile.
    pub fn skipped(&mut self, skip: Skip) {
        *self.summary.skipped.entry(skip).or_default() += 1;
    }

    /// Calls learned.
    pub fn learned(&mut self, calls: usize) {
        self.summary.learned += calls as u64;
    }

    /// A call scored.
    pub fn scored(&mut self, suspicious: bool) {
        self.summary.scored += 1;
        self.summary.suspicious += u64::from(suspicious);
    }

    /// The record that stops a `--strict` run: counted, and turned into the run's error.
    pub fn stop(&mut self, message: String) -> anyhow::Error {
        self.summary.records += 1;
        self.summary.unusable += 1;
        anyhow::anyhow!("stopped at {message} (--strict)")
    }

    /// A record or document that could not be used; `message` (place and reason) is only built when it
    /// will be printed.
    pub fn unusable(&mut self, message: impl FnOnce() -> String) {
        self.summary.records += 1;
        self.summary.unusable += 1;
        self.problem(|| format!("skipped {}", message()));
    }

    /// An input that could not be read to its end.
    pub fn failed_input(&mut self, input: &str, why: &str) {
        self.summary.failed_inputs += 1;
        // Always printed: a lost file matters more than a lost record.
        self.say(format_args!("{input}: {why}"));
    }

    /// A note that is not about one record (e.g. an empty store).
    pub fn note(&self, text: &str) {
        if !self.quiet {
            self.say(format_args!("{text}"));
        }
    }

    fn problem(&mut self, message: impl FnOnce() -> String) {
        self.printed += 1;
        if self.quiet || self.printed > MAX_MESSAGES + 1 {
            return;
        }
        if self.printed == MAX_MESSAGES + 1 {
            self.say(format_args!("more records were skipped; the summary at the end counts them all"));
        } else {
            self.say(format_args!("{}", message()));
        }
    }

    /// Takes the progress bar away and prints the `--key` keys no record carried and the summary line,
    /// unless quiet.
    pub fn finish(&self, verb: &str) {
        if let Some(progress) = &self.progress {
            progress.finish();
        }
        for (key, _) in self.keys.iter().filter(|(_, seen)| !seen) {
            self.note(&format!("no record carries --key {key}; access key IDs are upper case, one per --key"));
        }
        if !self.quiet {
            say(format_args!("{}", self.summary.line(verb)));
        }
    }
}

impl Summary {
    /// One line: what was read and what became of it. `verb` names the run: "learn" and "baseline" say what
    /// was learned, "score" what was scored.
    pub fn line(&self, verb: &str) -> String {
        let mut line = format!("{verb}: read {} record(s) from {} input(s)", self.records, self.inputs);
        match verb {
            "learn" | "baseline" => {
                let _ = write!(line, "; learned {}", self.learned);
            }
            _ => {
                let _ = write!(line, "; scored {} ({} suspicious)", self.scored, self.suspicious);
            }
        }
        let excluded: u64 = self.excluded.values().sum();
        if excluded > 0 {
            let reasons: Vec<String> = self.excluded.iter().map(|(why, n)| format!("{} {n}", why.label())).collect();
            let _ = write!(line, "; excluded {excluded} ({})", reasons.join(", "));
        }
        for (skip, n) in &self.skipped {
            let _ = write!(line, "; skipped {n} {}(s)", skip.label());
        }
        if self.duplicates > 0 {
            let _ = write!(line, "; dropped {} duplicate(s) (--dedup)", self.duplicates);
        }
        if self.unusable > 0 {
            let _ = write!(line, "; {} unreadable record(s) skipped", self.unusable);
        }
        if self.failed_inputs > 0 {
            let _ = write!(line, "; {} input(s) with errors", self.failed_inputs);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_every_count() {
        let mut s = Summary {
            inputs: 2,
            records: 11,
            scored: 5,
            suspicious: 2,
            unusable: 1,
            duplicates: 1,
            ..Summary::default()
        };
        s.excluded.insert(Exclusion::TemporaryKey, 3);
        s.excluded.insert(Exclusion::NoAccessKey, 1);
        s.skipped.insert(Skip::Digest, 1);
        s.skipped.insert(Skip::Control, 2);
        assert_eq!(
            s.line("score"),
            "score: read 11 record(s) from 2 input(s); scored 5 (2 suspicious); \
             excluded 4 (no accessKeyId 1, temporary key (ASIA) 3); skipped 1 digest file(s); \
             skipped 2 CloudWatch Logs control message(s); dropped 1 duplicate(s) (--dedup); \
             1 unreadable record(s) skipped"
        );
    }
}
