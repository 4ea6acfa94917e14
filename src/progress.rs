//! The progress bar on stderr for runs over files and trees: bytes read of the total (with MB/s and the
//! time left), files begun of all, records read. Shown only when a person can see it (stderr is a terminal,
//! no `-q`) and the total is known (every input a file, and some to read); drawn by indicatif, which limits
//! its redraws. Messages printed while it is shown are printed above it. It reads the counts `Report` keeps and the
//! bytes `read` has taken from files; it changes neither.

use std::io::IsTerminal;
use std::sync::atomic::Ordering;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::read::{self, Input};
use crate::report::Summary;

/// Records between two updates of the bar: rare enough to cost nothing per record, often enough to see move.
const EVERY: u64 = 1024;

#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    files: usize,
    /// `read::FILE_BYTES_READ` when the run began.
    start: u64,
    next: u64,
}

impl Progress {
    /// A bar for a run over `inputs`, or `None` when nobody would see it or its total is unknown.
    pub fn new(inputs: &[Input], quiet: bool) -> Option<Progress> {
        // No inputs known before the run (`--follow`), or none left to read: nothing to measure.
        if quiet || inputs.is_empty() || !std::io::stderr().is_terminal() {
            return None;
        }
        let mut total = 0;
        for input in inputs {
            match input {
                Input::File(path) => total += std::fs::metadata(path).map_or(0, |meta| meta.len()),
                Input::Unreadable(..) => {}
                Input::Stdin => return None,
            }
        }
        let style = ProgressStyle::with_template(
            "{wide_bar} {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec} ETA {eta} {msg}",
        )
        .ok()?;
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr()).with_style(style);
        let start = read::FILE_BYTES_READ.load(Ordering::Relaxed);
        Some(Progress { bar, files: inputs.len(), start, next: 0 })
    }

    /// Brings the bar up to date with the counts, at most once every [`EVERY`] records unless `now`.
    pub fn update(&mut self, summary: &Summary, now: bool) {
        if !now && summary.records < self.next {
            return;
        }
        self.next = summary.records + EVERY;
        self.bar.set_position(read::FILE_BYTES_READ.load(Ordering::Relaxed) - self.start);
        self.bar.set_message(format!("{}/{} files, {} records", summary.inputs, self.files, summary.records));
    }

    /// Runs `print` with the bar out of the way, so that its line is not drawn over.
    pub fn above(&self, print: impl FnOnce()) {
        self.bar.suspend(print);
    }

    /// Takes the bar off the screen; the summary line takes its place.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
