//! `score`'s output, written on a thread of its own. The thread that scores in input order hands each chunk's batch,
//! with its verdicts, to this one and goes on with the next chunk, so that formatting and writing the lines (a
//! quarter of the scoring thread's work, which paces a run) overlap with scoring. The lines come out in input
//! order, as before, and are flushed whenever no batch waits, so that a live feed gets its lines at once, and at
//! least every [`FLUSH_EVERY`] while batches keep waiting. At most [`QUEUED`] hand-overs wait: memory does not
//! grow when stdout is slower than scoring.
//!
//! The batches of a live feed are handed over one by one, as they come. Those of files, which nobody awaits line
//! by line, are held until they make [`HOLD`] records or keep [`HOLD_BYTES`] of memory (or input is awaited, or
//! the run ends) and handed over together: a tree's small log files each made a batch, and waking this thread for
//! each, then the one that scores for the room it gave back, was 8,000 to 11,000 context switches for a 210 MB
//! tree.
//!
//! An input is recorded as done (`--checkpoint`, `--follow`) only once its lines are flushed: [`Writer::ended`]
//! holds its index until then, and [`Writer::written`] gives it back.
//!
//! A stdout that is open but not read (a full pipe) blocks the thread that writes, and so, once [`QUEUED`]
//! batches wait, the thread that scores: that is backpressure. But once SIGTERM or SIGINT asks to stop, the
//! thread that scores waits at most [`STUCK`] more for stdout to take anything, then gives up with an error
//! (the lines not written are lost; the command still saves what it learned), instead of waiting for ever.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};

use crate::emit::{self, Emitter, Judged, WriteVerdict};
use crate::extract::Exclusion;
use crate::pipeline::{Batch, Fate, Handed};
use crate::read::CHUNK_SIZE;
use crate::score::Verdict;
use crate::stop;
use crate::terminal::Table;

/// How many hand-overs may wait for the thread that writes.
const QUEUED: usize = 2;

/// How many records the batches of files held for one hand-over make, at least (a chunk of small records can
/// make more on its own).
const HOLD: usize = 512;

/// How much memory ([`Handed::size`]) the batches of files held may keep before they are handed over, whatever
/// their records: 512 records of 200 KB, or 512 parts of chunks of tiny values (`1 1 … {}`, a record in each)
/// kept 100 MB to 500 MB. Two chunks, as [`QUEUED`] hand-overs of a chunk each.
const HOLD_BYTES: usize = 2 * CHUNK_SIZE;

/// How long, once asked to stop, the thread that scores waits for stdout to take anything before it gives up.
const STUCK: Duration = Duration::from_secs(5);

/// How often, at least, what is written is flushed (and its inputs can be recorded as done; a checkpoint is
/// synced as often).
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How often a wait for the thread that writes looks whether it was asked to stop.
const LOOK: Duration = Duration::from_millis(100);

/// What is written: a line per scored call, a table row per scored call, or every record back with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Lines,
    Table { color: bool },
    Passthrough,
}

/// The thread that writes, and the inputs whose lines it has not flushed yet.
pub struct Writer {
    /// None once the thread has stopped or was given up on.
    jobs: Option<Sender<Job>>,
    /// One token per hand-over that may wait: taken to hand batches over, given back by the thread as it takes
    /// them. [`QUEUED`] in all, so that memory does not grow when stdout is slow.
    room: Receiver<()>,
    /// Batches of files not handed over yet, how many records they hold and how much memory they keep.
    held: Vec<(Handed, Vec<Judgement>)>,
    held_records: usize,
    held_bytes: usize,
    /// What ended the thread: sent as it ends; none if it panicked. None once given.
    ending: Option<Receiver<io::Result<()>>>,
    /// How many batches have been handed over, and how many the thread has written and flushed.
    sent: u64,
    flushed: Arc<AtomicU64>,
    /// Inputs read to their end, each with the number of batches to be flushed before its lines are all out.
    ends: VecDeque<(u64, usize)>,
}

/// What the thread that writes is asked to do.
enum Job {
    /// Write batches, each with what became of each call, by call index.
    Write(Vec<(Handed, Vec<Judgement>)>),
    /// Answer once everything before is written and flushed.
    Sync(SyncSender<()>),
}

/// What became of a call: its verdict, or why it was not scored.
pub type Judgement = Result<Verdict, Exclusion>;

impl Writer {
    /// Starts the thread that writes to stdout in `form`, all calls or (`only_suspicious`) the suspicious ones.
    pub fn start(form: Form, only_suspicious: bool) -> Result<Writer> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (free, room) = mpsc::sync_channel(QUEUED);
        for _ in 0..QUEUED {
            let _ = free.send(());
        }
        let (end, ending) = mpsc::sync_channel(1);
        let flushed = Arc::new(AtomicU64::new(0));
        let done = Arc::clone(&flushed);
        std::thread::Builder::new()
            .name("writer".to_string())
            .spawn(move || drop(end.send(serve(form, only_suspicious, &queue, &free, &done))))
            .context("cannot start the thread that writes")?;
        Ok(Writer {
            jobs: Some(jobs),
            room,
            held: Vec::new(),
            held_records: 0,
            held_bytes: 0,
            ending: Some(ending),
            sent: 0,
            flushed,
            ends: VecDeque::new(),
        })
    }

    /// Gives a batch and what became of its calls (by call index) to be written: handed over at once from a live
    /// feed, else held until the batches held make [`HOLD`] records or keep [`HOLD_BYTES`]. Fails with the write
    /// error that stopped the thread.
    pub fn write(&mut self, batch: Handed, verdicts: Vec<Judgement>) -> Result<()> {
        let live = batch.batch().live;
        self.held_records += batch.batch().records.len();
        self.held_bytes += batch.size();
        self.held.push((batch, verdicts));
        self.sent += 1;
        match live || self.held_records >= HOLD || self.held_bytes >= HOLD_BYTES {
            true => self.hand_over(),
            false => Ok(()),
        }
    }

    /// Hands the batches held over to the thread that writes: input is awaited, so nothing more may come soon.
    /// Fails with the write error that stopped the thread.
    pub fn hand_over(&mut self) -> Result<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        (self.held_records, self.held_bytes) = (0, 0);
        if self.jobs.is_some() {
            match wait(&self.room, &self.flushed) {
                Ok(()) => {}
                Err(Gone::Ended) => return self.finish(),
                Err(Gone::Stuck) => return Err(self.stuck()),
            }
        }
        self.send(Job::Write(held))
    }

    /// Waits until every batch given is written and flushed, or the thread has stopped (its error is given
    /// once, by the call that finds it).
    pub fn sync(&mut self) -> Result<()> {
        self.hand_over()?;
        if self.jobs.is_none() {
            return Ok(());
        }
        let (answer, answered) = mpsc::sync_channel(1);
        self.send(Job::Sync(answer))?;
        match wait(&answered, &self.flushed) {
            Ok(()) => Ok(()),
            Err(Gone::Ended) => self.finish(),
            Err(Gone::Stuck) => Err(self.stuck()),
        }
    }

    /// Gives the thread a job; when it has stopped, the error that stopped it.
    fn send(&mut self, job: Job) -> Result<()> {
        let jobs = self.jobs.as_ref().ok_or_else(|| anyhow!("stdout was already closed"))?;
        match jobs.send(job) {
            Ok(()) => Ok(()),
            Err(_) => self.finish(),
        }
    }

    /// Input `index` has been read to its end: it is given back by [`Writer::written`] once its lines are out.
    pub fn ended(&mut self, index: usize) {
        self.ends.push_back((self.sent, index));
    }

    /// The inputs whose lines have all been written and flushed since last asked.
    pub fn written(&mut self) -> impl Iterator<Item = usize> + '_ {
        let flushed = self.flushed.load(Ordering::Acquire);
        let count = self.ends.iter().take_while(|(after, _)| *after <= flushed).count();
        self.ends.drain(..count).map(|(_, index)| index)
    }

    /// Waits for every batch given to be written and flushed, and ends the thread; gives the error that stopped
    /// it, if one did. Nothing can be written after.
    pub fn finish(&mut self) -> Result<()> {
        let handed = self.hand_over();
        self.jobs = None;
        let Some(ending) = self.ending.take() else { return handed };
        match wait(&ending, &self.flushed) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(err).context("cannot write to stdout"),
            Err(Gone::Ended) => Err(anyhow!("the thread that writes stopped")),
            Err(Gone::Stuck) => Err(self.stuck()),
        }
    }

    /// Gives up on a thread that stdout does not take lines from, after a request to stop: the error to report.
    fn stuck(&mut self) -> anyhow::Error {
        self.jobs = None;
        self.ending = None;
        let unwritten = self.sent - self.flushed.load(Ordering::Acquire);
        anyhow!(
            "stdout took nothing for {STUCK:?} after the request to stop (is anything reading it?): the lines of \
             {unwritten} chunk(s) of input were not all written; their inputs are not recorded as done"
        )
    }
}

/// The thread that writes: takes the jobs from `queue` until the thread that scores lets go of it, gives back
/// `free` room for each batch it takes, and counts in `flushed` the batches written and flushed.
fn serve(
    form: Form,
    only_suspicious: bool,
    queue: &Receiver<Job>,
    free: &SyncSender<()>,
    flushed: &AtomicU64,
) -> io::Result<()> {
    // Made here: a locked stdout stays on the thread that locked it.
    let mut out = Out::new(form);
    // What is written is flushed once no batch waits: a live feed gets its lines at once, and a tree of small
    // files does not cost a write per file. And at least every [`FLUSH_EVERY`], for a stdout slower than
    // scoring, where batches always wait: without it, no input was recorded as done until the end.
    let mut written = 0;
    let flush = |out: &mut Out, written| out.flush().map(|()| flushed.store(written, Ordering::Release));
    let mut last = Instant::now();
    loop {
        let waiting = queue.try_recv();
        if waiting.is_err() || last.elapsed() >= FLUSH_EVERY {
            flush(&mut out, written)?;
            last = Instant::now();
        }
        let job = match waiting {
            Ok(job) => job,
            Err(TryRecvError::Empty) => match queue.recv() {
                Ok(job) => job,
                Err(_) => return Ok(()),
            },
            Err(TryRecvError::Disconnected) => return Ok(()),
        };
        match job {
            Job::Write(batches) => {
                let _ = free.send(());
                for (batch, verdicts) in &batches {
                    out.batch(batch.batch(), verdicts, only_suspicious)?;
                    written += 1;
                }
            }
            Job::Sync(answer) => {
                flush(&mut out, written)?;
                let _ = answer.send(());
            }
        }
    }
}

/// Why the thread that writes did not answer.
enum Gone {
    /// It ended: the error it ended with is to be had from [`Writer::finish`].
    Ended,
    /// Asked to stop, stdout took nothing for [`STUCK`].
    Stuck,
}

/// Waits for what the thread that writes sends on `from`. Once asked to stop (SIGTERM, SIGINT), waits at most
/// [`STUCK`] while nothing more is `flushed`: the thread is then left blocked on stdout, to end with the process.
fn wait<T>(from: &Receiver<T>, flushed: &AtomicU64) -> Result<T, Gone> {
    // Since when nothing more was flushed, and how much had been, once asked to stop.
    let mut since: Option<(Instant, u64)> = None;
    loop {
        match from.recv_timeout(LOOK) {
            Ok(answer) => return Ok(answer),
            Err(RecvTimeoutError::Disconnected) => return Err(Gone::Ended),
            Err(RecvTimeoutError::Timeout) if stop::requested().is_none() => continue,
            Err(RecvTimeoutError::Timeout) => {}
        }
        let now = flushed.load(Ordering::Acquire);
        match since {
            Some((at, before)) if before == now && at.elapsed() >= STUCK => return Err(Gone::Stuck),
            Some((_, before)) if before == now => {}
            _ => since = Some((Instant::now(), now)),
        }
    }
}

/// Where the lines go, in their form.
enum Out {
    Verdicts(Box<dyn WriteVerdict>),
    Passthrough(Emitter<io::BufWriter<io::StdoutLock<'static>>>),
}

impl Out {
    fn new(form: Form) -> Out {
        match form {
            Form::Lines => Out::Verdicts(Box::new(Emitter::new(emit::stdout()))),
            Form::Table { color } => Out::Verdicts(Box::new(Table::new(emit::stdout(), color))),
            Form::Passthrough => Out::Passthrough(Emitter::new(emit::stdout())),
        }
    }

    fn batch(&mut self, batch: &Batch, verdicts: &[Judgement], only_suspicious: bool) -> io::Result<()> {
        let shown = |verdict: &Verdict| verdict.suspicious || !only_suspicious;
        match self {
            Out::Verdicts(out) => {
                for (call, verdict) in batch.calls.iter().zip(verdicts) {
                    if let Ok(verdict) = verdict
                        && shown(verdict)
                    {
                        out.verdict(call, verdict)?;
                    }
                }
            }
            Out::Passthrough(out) => {
                for record in &batch.records {
                    match &record.fate {
                        Fate::Call(i) => match &verdicts[*i] {
                            Ok(verdict) if shown(verdict) => {
                                out.passthrough(record.text, Judged::Scored(&batch.calls[*i], verdict))?
                            }
                            Err(why) if !only_suspicious => {
                                out.passthrough(record.text, Judged::Excluded(why.label()))?
                            }
                            _ => {}
                        },
                        Fate::Excluded(_) if only_suspicious => {}
                        Fate::Excluded(why) => out.passthrough(record.text, Judged::Excluded(why))?,
                    }
                }
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Verdicts(out) => out.flush(),
            Out::Passthrough(out) => out.flush(),
        }
    }
}
