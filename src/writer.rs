//! `score`'s output, written on a thread of its own. The thread that scores in input order hands each chunk's batch,
//! with its verdicts, to this one and goes on with the next chunk, so that formatting and writing the lines (a
//! quarter of the scoring thread's work, which paces a run) overlap with scoring. The lines come out in input
//! order, as before, and are flushed after each batch, so that a live feed gets its lines at once. At most
//! [`QUEUED`] batches wait: memory does not grow when stdout is slower than scoring.
//!
//! An input is recorded as done (`--checkpoint`, `--follow`) only once its lines are flushed: [`Writer::ended`]
//! holds its index until then, and [`Writer::written`] gives it back.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender, TryRecvError};
use std::thread::JoinHandle;

use anyhow::{Context, Result, anyhow};

use crate::emit::{self, Emitter, Judged, WriteVerdict};
use crate::extract::Exclusion;
use crate::pipeline::{Batch, Fate, Handed};
use crate::score::Verdict;
use crate::terminal::Table;

/// How many batches may wait for the thread that writes.
const QUEUED: usize = 2;

/// What is written: a line per scored call, a table row per scored call, or every record back with its verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Lines,
    Table { color: bool },
    Passthrough,
}

/// The thread that writes, and the inputs whose lines it has not flushed yet.
pub struct Writer {
    jobs: Option<SyncSender<Job>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    /// How many batches have been handed over, and how many the thread has written and flushed.
    sent: u64,
    flushed: Arc<AtomicU64>,
    /// Inputs read to their end, each with the number of batches to be flushed before its lines are all out.
    ends: VecDeque<(u64, usize)>,
}

/// What the thread that writes is asked to do.
enum Job {
    /// Write a batch: what became of each call, by call index.
    Write(Handed, Vec<Judgement>),
    /// Answer once everything before is written and flushed.
    Sync(SyncSender<()>),
}

/// What became of a call: its verdict, or why it was not scored.
pub type Judgement = Result<Verdict, Exclusion>;

impl Writer {
    /// Starts the thread that writes to stdout in `form`, all calls or (`only_suspicious`) the suspicious ones.
    pub fn start(form: Form, only_suspicious: bool) -> Result<Writer> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUED);
        let flushed = Arc::new(AtomicU64::new(0));
        let done = Arc::clone(&flushed);
        let thread = std::thread::Builder::new()
            .name("writer".to_string())
            .spawn(move || {
                // Made here: a locked stdout stays on the thread that locked it.
                let mut out = Out::new(form);
                // What is written is flushed once no batch waits: a live feed gets its lines at once, and a
                // tree of small files does not cost a write per file.
                let mut written = 0;
                let flush = |out: &mut Out, written| out.flush().map(|()| done.store(written, Ordering::Release));
                loop {
                    let job = match queue.try_recv() {
                        Ok(job) => job,
                        Err(missing) => {
                            flush(&mut out, written)?;
                            match missing {
                                TryRecvError::Empty => match queue.recv() {
                                    Ok(job) => job,
                                    Err(_) => return Ok(()),
                                },
                                TryRecvError::Disconnected => return Ok(()),
                            }
                        }
                    };
                    match job {
                        Job::Write(batch, verdicts) => {
                            out.batch(batch.batch(), &verdicts, only_suspicious)?;
                            written += 1;
                        }
                        Job::Sync(answer) => {
                            flush(&mut out, written)?;
                            let _ = answer.send(());
                        }
                    }
                }
            })
            .context("cannot start the thread that writes")?;
        Ok(Writer { jobs: Some(jobs), thread: Some(thread), sent: 0, flushed, ends: VecDeque::new() })
    }

    /// Hands over a batch and what became of its calls (by call index). Fails with the write error that stopped
    /// the thread.
    pub fn write(&mut self, batch: Handed, verdicts: Vec<Judgement>) -> Result<()> {
        self.send(Job::Write(batch, verdicts))?;
        self.sent += 1;
        Ok(())
    }

    /// Waits until every batch handed over is written and flushed, or the thread has stopped (its error is
    /// given once, by the call that finds it).
    pub fn sync(&mut self) -> Result<()> {
        if self.jobs.is_none() {
            return Ok(());
        }
        let (answer, answered) = mpsc::sync_channel(1);
        self.send(Job::Sync(answer))?;
        match answered.recv() {
            Ok(()) => Ok(()),
            Err(_) => self.finish(),
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

    /// Waits for every batch handed over to be written and flushed, and ends the thread; gives the error that
    /// stopped it, if one did. Nothing can be written after.
    pub fn finish(&mut self) -> Result<()> {
        self.jobs = None;
        match self.thread.take().map(JoinHandle::join) {
            None | Some(Ok(Ok(()))) => Ok(()),
            Some(Ok(Err(err))) => Err(err).context("cannot write to stdout"),
            Some(Err(_)) => Err(anyhow!("the thread that writes stopped")),
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
