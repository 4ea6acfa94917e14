//! The data path, driven: inputs → chunks (`read`) → records (`parse`, which opens envelopes) → calls (`extract`) → the
//! caller's handler, one chunk's [`Batch`] at a time (its calls, and every record's text with what became of it; a
//! batch for each part of a chunk of many small values, [`parse::PART_ITEMS`] items a part), in input order, less the
//! repeats `--dedup` drops. It counts what it excludes and reports what it cannot use, with input name and line; with
//! `strict` it stops at the first such record, after handing over the calls before it. A value left unfinished across
//! chunks longer than [`Limits::record`] stops its input (reported, exit status 2), so that no record can take memory
//! without bound. It also says when a run could not have looked at what was asked: an input in which nothing is
//! CloudTrail (an input error), a `--key` that no record carries (named by the report at the end, since a following run
//! passes through here once per look). It starts the threads of reading and parsing (`score`'s writer is
//! `writer.rs`'s, the Redis store's loader `store/redis/ahead.rs`'s).
//!
//! Threads, and why the output cannot tell: `threads` reader threads open the inputs in order, several at once (so gzip
//! is decoded in parallel over a tree of files), and cut each into chunks, a few chunks ahead at most (bounded
//! channels: memory does not grow with the input). The calling thread takes the chunks in input order and hands each to
//! a pool of `threads` workers, a few chunks ahead of where it is, to parse and to find the calls of its records
//! (`extract`, which depends on no other record); an input that fits in one chunk, such as a log file of a tree, is
//! parsed and extracted by its reader instead. The calling thread then counts, reports and hands over the calls chunk
//! after chunk, exactly as one thread would, while the workers parse the next ones: what depends on order (`--dedup`,
//! the counts, and the command's scoring; `score` writes on a thread of its own, `writer.rs`) is all it does; with the
//! last part of each chunk it hands over the calls of the next chunk's first part, when a worker has found them
//! already, so that the command can ask for what they need while it works on this one ([`Next`]). A record
//! that is not a call is looked at again there, so that a worker keeps only calls (a chunk of tiny records then takes
//! no more memory than its items). A chunk is parsed ahead as if it started between documents, which is true of every
//! chunk of NDJSON and of the first chunk of every file; when the chunk before it ended inside a log file or array, or
//! left a value unfinished, that parse is thrown away and the chunk is parsed again in order, with the parser's real
//! place. So one big `{"Records":[…]}` file is parsed on one thread (a tree of them is parallel, one file per worker),
//! and no shape of input is read differently. Only the first part of a chunk is parsed ahead: the rest of a chunk of
//! tiny values is parsed on the calling thread, a part at a time, so that it never holds more than a part's items.
//! The calling thread waits only when nothing is ready, so a live feed's records are handled as soon as they arrive.
//!
//! Stopping (`stop.rs`): between chunks, and every [`IDLE`] while it waits, the calling thread looks at
//! whether SIGTERM or SIGINT asked to stop; then it hands over the chunks already read (and the end of their input,
//! if it is there already: that input is then recorded as done) and returns, leaving a reader blocked on a quiet
//! stdin to end with the process. While it waits, it also hands over an empty
//! batch every [`IDLE`], so that a command's timed work (`score --learn` saving) is done on time.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::extract::{self, Call, Filter, Outcome};
use crate::learn::Learner;
use crate::parse::{self, Cursor, Item, Pos, Reach, Record};
use crate::profile::Profiles;
use crate::read::{Chunk, ChunkReader, Input, Limits};
use crate::report::{Place, Report};
use crate::stop;

/// How many chunks a reader may have cut ahead of the parser, per input.
const AHEAD: usize = 2;

/// How many inputs, over all readers, may be opened ahead of the one being handed over: small files vary in
/// size, and a reader that may not open the next one waits. With two readers, four threads (the readers, the
/// thread that hands over and the one that writes) share two cores: a reader that loses its core for a few
/// milliseconds holds up the input being handed over, while the other, four files ahead, had to stop. Sixteen
/// files per reader (about 2 ms of a reader's work on a tree's small log files) take up such gaps: a tree scored
/// in 0.63–0.75 s against 0.70–0.81 s with four (three runs each, alternating, 210 MB tree, load 3.5); 17 MB
/// peak RSS against 13 MB on that tree. In all, not per reader, so that memory does not grow with `--threads`:
/// an input opened ahead holds at most [`AHEAD`] chunks, and one just under a chunk holds its chunk parsed
/// (about 2 MB of NDJSON and its records), so inputs opened ahead hold at most about 64 MB. Measured on 120 NDJSON
/// files of just under 1 MiB, stdout read only after 10 s (debug build): 83 MB peak RSS with `--threads 2`, 121 MB
/// with 8, where sixteen per reader took 95 and 237 MB (all 120 files held) and four per reader 40 and 110 MB.
const OPEN_AHEAD: usize = 32;

/// How many chunks per thread are given to the parsers ahead of the one being handed over.
const AHEAD_PARSED: usize = 2;

/// How long the calling thread waits for input before it looks at the stop flag and hands over an empty
/// batch. std's channels cannot also wait for a signal; ten looks a second while idle cost nothing measurable,
/// and a record that arrives is taken at once, not at the next look.
const IDLE: Duration = Duration::from_millis(100);

/// What the documents seen so far were, for the checks made after an input and after the run.
#[derive(Debug, Default, Clone)]
struct Tally {
    /// Documents that were CloudTrail (records, digests, Insights), whether used or not.
    cloudtrail: usize,
    /// Well-formed JSON of another kind.
    foreign: usize,
    /// Broken JSON.
    broken: usize,
}

/// One chunk's records (or one part's), as the command gets them.
#[derive(Default)]
pub struct Batch<'a> {
    /// The calls to learn or score, in input order.
    pub calls: Vec<Call<'a>>,
    /// Every record (digest files and Insights events too), in input order, but those dropped by `--dedup` and
    /// those that are not JSON: its JSON
    /// text as read (for a record opened from an envelope, the record decoded) and what became of it. What
    /// `--passthrough` writes back.
    pub records: Vec<Passed<'a>>,
    /// In a batch of its own, with no records: the input at this index of `inputs` has been read to its end
    /// (or could not be opened), and every batch of it handed over before. What a checkpoint records.
    pub ended: Option<usize>,
    /// The records came from a live feed ([`Chunk::live`]): what they make is awaited.
    pub live: bool,
}

self_cell::self_cell!(
    /// A batch and the chunk it borrows from.
    struct Owned {
        owner: Source,
        #[covariant]
        dependent: Batch,
    }
);

/// A chunk's (or a part's) [`Batch`], handed to the command, which may keep it past its handler: `score` writes its
/// lines on another thread while it scores the next chunk. Cloning it is cheap.
#[derive(Clone)]
pub struct Handed(Arc<Owned>);

impl Handed {
    pub fn batch(&self) -> &Batch<'_> {
        self.0.borrow_dependent()
    }

    /// About how much memory keeping the batch keeps: the bytes of its chunk and the items parsed from it (many
    /// more than its records when its values are tiny: `1 1 … {}`).
    pub fn size(&self) -> usize {
        self.0.borrow_owner().part().map_or(0, |part| {
            part.borrow_owner().chunk.bytes.len() + part.borrow_dependent().items.len() * size_of::<Item>()
        })
    }

    /// A batch of no records: while input is awaited, or at an input's end (`ended`).
    pub fn empty(ended: Option<usize>) -> Handed {
        Handed(Arc::new(Owned::new(Source::Nothing, |_| Batch { ended, ..Batch::default() })))
    }
}

/// What a batch borrows from: a chunk's first part parsed ahead (with its calls found) or a part parsed in order.
enum Source {
    Nothing,
    Ahead(Extracted),
    InOrder(ParsedChunk),
}

impl Source {
    /// The part of a chunk parsed, if any.
    fn part(&self) -> Option<&ParsedChunk> {
        match self {
            Source::Nothing => None,
            Source::Ahead(parsed) => Some(parsed.borrow_owner()),
            Source::InOrder(parsed) => Some(parsed),
        }
    }
}

/// A record's text and what became of it.
pub struct Passed<'a> {
    pub text: &'a [u8],
    pub fate: Fate,
}

/// What became of a record.
pub enum Fate {
    /// A call: its index in [`Batch::calls`].
    Call(usize),
    /// Not a call, and why: excluded (a temporary key…), skipped (an Insights event), unusable, or not CloudTrail.
    Excluded(Cow<'static, str>),
}

/// The number of threads to use when none is asked for: one per core.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Reads every input in order and gives the records of each chunk to `handle`, on the calling thread, in input order
/// (with `filter.dedup`, less the repeats), the last part of each with the calls of the next chunk when they are
/// found already ([`Next`]). An input that cannot be read is reported and the run goes on with the next
/// (with `strict`, it stops). `threads` (at least 1) is how many inputs are read at once and how many chunks are parsed
/// at once.
pub fn run(
    inputs: &[Input],
    filter: &Filter,
    strict: bool,
    threads: usize,
    limits: Limits,
    report: &mut Report,
    handle: &mut dyn FnMut(&Handed, Next, &mut Report) -> Result<()>,
) -> Result<()> {
    let threads = threads.max(1);
    let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().context("cannot start threads")?;
    // The workers find each record's call as they parse: it depends on no other record.
    let shared = Arc::new(filter.clone());
    let mut feed = Feed::new(start_readers(inputs, threads, limits, &shared));
    report.expect(filter);
    let mut run = Run { filter, strict, limits, report, handle, tally: Tally::default(), open: None, in_lists: None };
    let mut ahead = VecDeque::new();
    let mut stopped = None;
    // Once stopped, only the end of an input whose chunks are all in hand is taken, if it is there already:
    // that input is then recorded as done (`--checkpoint`), not read again. Any other piece ends the taking.
    let mut taking = true;
    loop {
        stopped = stopped.or_else(stop::requested);
        // Wait for input only when nothing is in hand: what is ready is handled first.
        while taking && ahead.len() < AHEAD_PARSED * threads {
            let (index, piece) = match feed.next(ahead.is_empty() && stopped.is_none()) {
                Ok(next) => next,
                Err(Missing::Idle) => {
                    (run.handle)(&Handed::empty(None), Next::NONE, run.report)?;
                    stopped = stop::requested();
                    continue;
                }
                Err(Missing::Empty | Missing::Done) => break,
            };
            if stopped.is_some() && !matches!(piece, Piece::End(..)) {
                taking = false;
                break;
            }
            ahead.push_back(match piece {
                Piece::Chunk(chunk) if run.in_lists != Some(index) => {
                    let (parsed, receiver) = mpsc::sync_channel(1);
                    let filter = Arc::clone(&shared);
                    pool.spawn(move || {
                        let _ = parsed.send(Extracted::ahead(chunk, &filter, run.limits));
                    });
                    Ahead::Parsing(index, receiver)
                }
                piece => Ahead::Piece(index, piece),
            });
        }
        match ahead.pop_front() {
            None => break,
            Some(Ahead::Piece(index, piece)) => {
                let ends = matches!(piece, Piece::Unopened(_) | Piece::End(..));
                run.piece(inputs, index, piece, peek(&mut ahead))?;
                if ends {
                    (run.handle)(&Handed::empty(Some(index)), Next::NONE, run.report)?;
                }
            }
            Some(Ahead::Parsing(index, receiver)) => {
                let parsed = receiver.recv().context("a parser thread stopped")?;
                run.guessed(inputs, index, parsed, peek(&mut ahead))?;
            }
        }
    }
    if let Some(signal) = stopped {
        run.report.note(&format!("{signal}: stopped after the records read so far"));
        return Ok(());
    }
    Ok(())
}

/// Reads every input and learns its calls into an in-memory delta. The delta comes back even when the run
/// stopped early, so that what was learned before a failure can be kept.
pub fn learn(
    inputs: &[Input],
    filter: &Filter,
    strict: bool,
    threads: usize,
    limits: Limits,
    report: &mut Report,
) -> (Profiles, Result<()>) {
    let mut learner = Learner::default();
    let outcome = run(inputs, filter, strict, threads, limits, report, &mut |handed, _, report| {
        let batch = handed.batch();
        batch.calls.iter().for_each(|call| learner.observe(call));
        report.learned(batch.calls.len());
        Ok(())
    });
    (learner.profiles, outcome)
}

/// What a reader thread sends about its input, in order: a failure to open it, or its chunks then its end.
enum Piece {
    Unopened(io::Error),
    Chunk(Chunk),
    /// A whole input in one chunk (a log file of a tree), parsed by its reader: that costs no hand-over.
    Parsed(Extracted),
    /// The input is read: the error that ended it early, if any, and the line reached.
    End(io::Result<()>, u64),
}

/// Held by the reader of stdin while it reads it.
static STDIN: Mutex<()> = Mutex::new(());

/// Starts `count` reader threads that take the inputs in order and cut each into chunks. Gives one receiver
/// per input, in input order. The threads stop when the receivers are dropped (a run that stops early); one
/// that waits on a live stdin is left to end with the process.
fn start_readers(inputs: &[Input], count: usize, limits: Limits, filter: &Arc<Filter>) -> Receiver<Receiver<Piece>> {
    let (order, receivers) = mpsc::sync_channel(OPEN_AHEAD.max(count));
    let next = Arc::new(Mutex::new((VecDeque::from(inputs.to_vec()), order)));
    for _ in 0..count {
        let next = Arc::clone(&next);
        let filter = Arc::clone(filter);
        std::thread::spawn(move || {
            loop {
                // Taking an input and queueing its receiver under one lock keeps the receivers in input order.
                let (input, pieces, _stdin) = {
                    let mut next = next.lock().unwrap_or_else(PoisonError::into_inner);
                    let (inputs, order) = &mut *next;
                    let Some(input) = inputs.pop_front() else { return };
                    // Stdin named twice is read by one reader after the other, as one thread would: the
                    // second finds it at its end.
                    let stdin = (input == Input::Stdin).then(|| STDIN.lock().unwrap_or_else(PoisonError::into_inner));
                    let (pieces, receiver) = mpsc::sync_channel(AHEAD);
                    if order.send(receiver).is_err() {
                        return;
                    }
                    (input, pieces, stdin)
                };
                read_input(&input, limits, &filter, &pieces);
            }
        });
    }
    receivers
}

/// Cuts one input into chunks and sends them, then its end; returns early when nobody listens any more.
fn read_input(input: &Input, limits: Limits, filter: &Filter, pieces: &SyncSender<Piece>) {
    let mut reader = match ChunkReader::open(input, limits) {
        Ok(reader) => reader,
        Err(err) => {
            let _ = pieces.send(Piece::Unopened(err));
            return;
        }
    };
    let mut chunk = Chunk { first_line: 1, first_column: 1, ..Chunk::default() };
    // Each chunk is sent whole: whether its end is unfinished is for the parser to find, in order.
    while reader.refill(&mut chunk, 0) {
        parse::mend(&mut chunk.bytes);
        // A small file's chunk would otherwise hold a whole chunk's memory while it waits its turn.
        if chunk.bytes.capacity() > 2 * chunk.bytes.len() {
            chunk.bytes.shrink_to_fit();
        }
        let end = chunk.bytes.len();
        let next = Chunk {
            // Room for a chunk like this one, read into without growing; none after the last.
            bytes: if chunk.last { Vec::new() } else { Vec::with_capacity(end + (256 << 10)) },
            first_line: chunk.line_at(end),
            first_column: chunk.column_at(end),
            last: chunk.last,
            live: chunk.live,
        };
        let whole = chunk.last && chunk.first_line == 1 && chunk.first_column == 1;
        let read = std::mem::replace(&mut chunk, next);
        let piece = if whole { Piece::Parsed(Extracted::ahead(read, filter, limits)) } else { Piece::Chunk(read) };
        if pieces.send(piece).is_err() {
            return;
        }
    }
    let line = chunk.line_at(chunk.bytes.len());
    let _ = pieces.send(Piece::End(reader.finish(), line));
}

/// The readers' pieces, input after input.
struct Feed {
    inputs: Receiver<Receiver<Piece>>,
    /// The input being received, and its index.
    current: Option<(usize, Receiver<Piece>)>,
    opened: usize,
}

impl Feed {
    fn new(inputs: Receiver<Receiver<Piece>>) -> Feed {
        Feed { inputs, current: None, opened: 0 }
    }

    /// The next piece, in input order; with `wait`, waits for it up to [`IDLE`].
    fn next(&mut self, wait: bool) -> Result<(usize, Piece), Missing> {
        let (index, pieces) = match self.current.take() {
            Some(current) => current,
            None => {
                let pieces = take(&self.inputs, wait)?;
                self.opened += 1;
                (self.opened - 1, pieces)
            }
        };
        let piece = match take(&pieces, wait) {
            Ok(piece) => piece,
            // A reader always ends with `End`, unless it panicked.
            Err(Missing::Done) => Piece::End(Err(io::Error::other("the reader thread stopped")), 0),
            Err(missing) => {
                self.current = Some((index, pieces));
                return Err(missing);
            }
        };
        if !matches!(piece, Piece::Unopened(_) | Piece::End(..)) {
            self.current = Some((index, pieces));
        }
        Ok((index, piece))
    }
}

/// Why no piece came.
enum Missing {
    /// Nothing was ready.
    Empty,
    /// Nothing came within [`IDLE`].
    Idle,
    /// Every input has been received.
    Done,
}

/// What `receiver` has ready, or with `wait`, what it gets within [`IDLE`].
fn take<T>(receiver: &Receiver<T>, wait: bool) -> Result<T, Missing> {
    if wait {
        receiver.recv_timeout(IDLE).map_err(|err| match err {
            RecvTimeoutError::Timeout => Missing::Idle,
            RecvTimeoutError::Disconnected => Missing::Done,
        })
    } else {
        receiver.try_recv().map_err(|err| match err {
            TryRecvError::Empty => Missing::Empty,
            TryRecvError::Disconnected => Missing::Done,
        })
    }
}

/// A piece taken from the readers, in the order it is to be handled: as it came, or being parsed ahead.
enum Ahead {
    Piece(usize, Piece),
    Parsing(usize, Receiver<Extracted>),
}

/// The calls found ahead in the first part of the next chunk to be handed over, if its parse is ready: a guess at the
/// calls of the next [`Batch`], which can differ (`--dedup` drops repeats; a chunk that turns out to start inside a
/// log file is parsed again). `score` asks the store for their profiles while it scores the batch handed with it.
#[derive(Clone, Copy)]
pub struct Next<'a>(&'a [(usize, Call<'a>)]);

impl<'a> Next<'a> {
    /// No guess: the next chunk is not parsed yet, or there is none.
    pub const NONE: Next<'static> = Next(&[]);

    /// The profiles the next chunk's calls belong to, with repeats.
    pub fn owners(self) -> impl Iterator<Item = &'a str> {
        self.0.iter().map(|(_, call)| call.owner)
    }
}

/// The calls of the first chunk in `ahead` (past the ends of inputs), taking its parse if it is ready; never waits,
/// so that a live feed's batch is handed over at once.
fn peek(ahead: &mut VecDeque<Ahead>) -> Next<'_> {
    let Some(at) = ahead.iter().position(|next| !matches!(next, Ahead::Piece(_, Piece::Unopened(_) | Piece::End(..))))
    else {
        return Next::NONE;
    };
    if let Ahead::Parsing(index, receiver) = &ahead[at]
        && let Ok(parsed) = receiver.try_recv()
    {
        ahead[at] = Ahead::Piece(*index, Piece::Parsed(parsed));
    }
    match &ahead[at] {
        Ahead::Piece(_, Piece::Parsed(parsed)) => Next(parsed.borrow_dependent()),
        _ => Next::NONE,
    }
}

/// One part of a chunk parsed (at most about [`parse::PART_ITEMS`] items): its items, where the parse stopped,
/// and where the parser was then.
struct Parsed<'a> {
    items: Vec<Item<'a>>,
    reach: Reach,
    cursor: Cursor,
}

/// A chunk, shared by the batches of its parts, and where a part of it starts.
struct Part {
    chunk: Arc<Chunk>,
    from: usize,
}

self_cell::self_cell!(
    /// A part of a chunk and what a parser found in it.
    struct ParsedChunk {
        owner: Part,
        #[covariant]
        dependent: Parsed,
    }
);

/// The calls `extract` found in a chunk's records, each with the ordinal of its record (depth first through
/// documents opened from envelopes, as `Run::walk` meets them). Only calls are kept: a record that is not one
/// costs little to look at again, and a chunk of tiny records then takes no more memory than its items.
type Calls<'a> = Vec<(usize, Call<'a>)>;

self_cell::self_cell!(
    /// A chunk parsed ahead, with the calls of its records: what a worker (or a reader) sends.
    struct Extracted {
        owner: ParsedChunk,
        #[covariant]
        dependent: Calls,
    }
);

impl Extracted {
    /// Parses the first part of `chunk` as if it started between documents, and finds the calls of its records.
    fn ahead(chunk: Chunk, filter: &Filter, limits: Limits) -> Extracted {
        let parsed =
            ParsedChunk::new(Part { chunk: Arc::new(chunk), from: 0 }, |p| Parsed::of(p, Cursor::default(), limits));
        Extracted::new(parsed, |parsed| {
            let mut calls = Vec::new();
            find_calls(&parsed.borrow_dependent().items, filter, &mut calls, &mut 0);
            calls
        })
    }
}

/// Adds the calls of the records of `items` to `calls`, counting the records from `ordinal`.
fn find_calls<'a>(items: &'a [Item<'a>], filter: &Filter, calls: &mut Calls<'a>, ordinal: &mut usize) {
    for item in items {
        match item {
            Item::Record(record, _) => {
                if let Outcome::Call(call) = extract::extract(record, filter) {
                    calls.push((*ordinal, call));
                }
                *ordinal += 1;
            }
            Item::Opened(opened, _) => find_calls(opened.borrow_dependent(), filter, calls, ordinal),
            Item::Skipped(..) | Item::Malformed(_) => {}
        }
    }
}

/// The calls found ahead in a chunk, taken in turn as `Run::walk` meets their records.
struct Found<'c, 'i> {
    calls: std::iter::Peekable<std::slice::Iter<'c, (usize, Call<'i>)>>,
    ordinal: usize,
}

impl<'c, 'i> Found<'c, 'i> {
    fn new(calls: &'c [(usize, Call<'i>)]) -> Found<'c, 'i> {
        Found { calls: calls.iter().peekable(), ordinal: 0 }
    }

    /// What `extract` makes of the next record: its call, if found ahead; else it looks at the record now.
    fn outcome(&mut self, record: &'i Record<'i>, filter: &Filter) -> Outcome<'i> {
        match self.pass() {
            Some(call) => Outcome::Call(call.clone()),
            None => extract::extract(record, filter),
        }
    }

    /// Passes over the next record; gives its call, if found ahead.
    fn pass(&mut self) -> Option<&'c Call<'i>> {
        let ordinal = self.ordinal;
        self.ordinal += 1;
        self.calls.next_if(|(at, _)| *at == ordinal).map(|(_, call)| call)
    }
}

impl<'a> Parsed<'a> {
    /// Parses `part` from where the parser stands, `cursor`.
    fn of(part: &'a Part, mut cursor: Cursor, limits: Limits) -> Parsed<'a> {
        let (bytes, more_follows) = (&part.chunk.bytes, !part.chunk.last);
        let mut items = Vec::new();
        let reach = parse::part(bytes, part.from, more_follows, &mut cursor, limits, &mut |item| items.push(item));
        Parsed { items, reach, cursor }
    }
}

/// The input being handed over: its place in the list and the parser's place in it.
struct Open {
    index: usize,
    name: String,
    /// The tally when the input started, to tell what it held.
    before: Tally,
    cursor: Cursor,
    /// The bytes the parser could not finish, to go in front of the next chunk.
    carry: Option<Chunk>,
    /// How big `carry` was when the parser last gave up on it: it is parsed again once it has doubled.
    carried: usize,
    /// The input was stopped at a value longer than [`Limits::record`]: what is left of it is passed over.
    stopped: bool,
}

impl Open {
    /// Keeps what the parser could not finish for the next chunk.
    fn keep(&mut self, carry: Option<Chunk>) {
        self.carried = carry.as_ref().map_or(0, |carry| carry.bytes.len());
        self.carry = carry;
    }
}

/// The in-order half of a run: everything that counts, reports or hands over.
struct Run<'r> {
    filter: &'r Filter,
    strict: bool,
    limits: Limits,
    report: &'r mut Report,
    handle: &'r mut dyn FnMut(&Handed, Next, &mut Report) -> Result<()>,
    tally: Tally,
    open: Option<Open>,
    /// The last input seen to end a chunk inside a log file or array: its chunks are not parsed ahead.
    in_lists: Option<usize>,
}

impl Run<'_> {
    /// The input `index` is about to be handed over: when it is a new one, it is counted and opened.
    fn start(&mut self, inputs: &[Input], index: usize) {
        if self.open.as_ref().is_none_or(|open| open.index != index) {
            self.report.input();
            let name = inputs[index].name();
            self.open = Some(Open {
                index,
                name,
                before: self.tally.clone(),
                cursor: Cursor::default(),
                carry: None,
                carried: 0,
                stopped: false,
            });
        }
    }

    /// Takes a chunk parsed ahead: its parse stands if the chunk starts between documents. `next` goes with the
    /// batch of its last part.
    fn guessed(&mut self, inputs: &[Input], index: usize, parsed: Extracted, next: Next) -> Result<()> {
        self.start(inputs, index);
        let Some(open) = self.open.as_mut().filter(|open| !open.stopped) else { return Ok(()) };
        if open.cursor != Cursor::default() || open.carry.is_some() {
            return self.in_order(parsed.into_owner().into_owner().chunk, next);
        }
        self.parts(Source::Ahead(parsed), next)
    }

    /// Takes the next piece of input `index` that was not parsed ahead; `next` goes with the batch of its last part,
    /// if it has one.
    fn piece(&mut self, inputs: &[Input], index: usize, piece: Piece, next: Next) -> Result<()> {
        self.start(inputs, index);
        let Some(open) = self.open.as_ref().filter(|open| !open.stopped) else { return Ok(()) };
        let why = match piece {
            Piece::Unopened(err) => match &inputs[index] {
                Input::Unreadable(..) => err.to_string(),
                _ => format!("cannot open: {err}"),
            },
            Piece::Chunk(chunk) => return self.in_order(Arc::new(chunk), next),
            Piece::Parsed(parsed) => return self.guessed(inputs, index, parsed, next),
            Piece::End(Err(err), line) => {
                format!("cannot read past line {line}: {err}; the records before it were used")
            }
            Piece::End(Ok(()), _) => {
                let (before, now) = (&open.before, &self.tally);
                if now.cloudtrail > before.cloudtrail {
                    return Ok(());
                } else if now.foreign > before.foreign {
                    "no CloudTrail record in it: its JSON is of another kind".to_string()
                } else if now.broken > before.broken {
                    "nothing in it could be read as JSON".to_string()
                } else {
                    return Ok(());
                }
            }
        };
        self.report.failed_input(&open.name, &why);
        if self.strict {
            bail!("stopped at {} (--strict)", open.name);
        }
        Ok(())
    }

    /// Parses `chunk` where the parser stands in its input, after what the last chunk left unfinished.
    fn in_order(&mut self, chunk: Arc<Chunk>, next: Next) -> Result<()> {
        let Some(open) = self.open.as_mut().filter(|open| !open.stopped) else { return Ok(()) };
        let whole = match open.carry.take() {
            Some(mut carry) => {
                carry.bytes.extend_from_slice(&chunk.bytes);
                carry.last = chunk.last;
                if carry.bytes.len() as u64 > self.limits.record {
                    open.stopped = true;
                    let why = format!(
                        "the value at line {}, column {} is longer than {} ({}); the rest of the input is skipped, \
                         the records before it were used",
                        carry.first_line,
                        carry.first_column,
                        crate::config::Size(self.limits.record),
                        self.limits.record_flag
                    );
                    self.report.failed_input(&open.name, &why);
                    if self.strict {
                        bail!("stopped at {} (--strict)", open.name);
                    }
                    return Ok(());
                }
                // Growing what is kept at least twofold since it was last parsed keeps a value longer than a
                // chunk from being parsed over and over, and parses it again as soon as that much has come, so
                // that neither memory nor the wait for an answer grows with what follows the value.
                if !carry.last && carry.bytes.len() < 2 * open.carried {
                    open.carry = Some(carry);
                    return Ok(());
                }
                Arc::new(carry)
            }
            None => chunk,
        };
        let (cursor, limits) = (open.cursor.clone(), self.limits);
        let parsed = ParsedChunk::new(Part { chunk: whole, from: 0 }, |p| Parsed::of(p, cursor, limits));
        self.parts(Source::InOrder(parsed), next)
    }

    /// Hands over the first part of a chunk, parsed where the parser stands in its input, then parses and
    /// hands over its further parts, one at a time: a chunk of tiny values takes the memory of a part's items,
    /// not of all of them. What the last part could not finish is kept for the next chunk. `next` goes with the last
    /// part's batch: the load that follows it is the next chunk's, which `next` guesses.
    fn parts(&mut self, mut source: Source, next: Next) -> Result<()> {
        while let Some(parsed) = source.part() {
            let Some(open) = self.open.as_mut() else { return Ok(()) };
            let chunk = Arc::clone(&parsed.borrow_owner().chunk);
            let Parsed { reach, cursor, .. } = parsed.borrow_dependent();
            let (reach, cursor) = (*reach, cursor.clone());
            if !reach.full {
                // The chunk's last part: the next chunk goes on where it stopped.
                open.keep(leftover(&chunk, reach.end));
                if cursor != Cursor::default() {
                    self.in_lists = Some(open.index);
                }
                open.cursor = cursor;
                return self.chunk(source, next);
            }
            self.chunk(source, Next::NONE)?;
            let limits = self.limits;
            let rest = Part { chunk, from: reach.end };
            source = Source::InOrder(ParsedChunk::new(rest, |p| Parsed::of(p, cursor, limits)));
        }
        Ok(())
    }

    /// Extracts the calls of one parsed part of a chunk (or takes those found ahead), counts and reports the
    /// rest, and hands the batch over, with `next`.
    fn chunk(&mut self, source: Source, next: Next) -> Result<()> {
        let mut stop = None;
        let handed = Handed(Arc::new(Owned::new(source, |source| {
            let (chunk, items, found) = match source {
                Source::Nothing => return Batch::default(),
                Source::Ahead(parsed) => (
                    &*parsed.borrow_owner().borrow_owner().chunk,
                    &parsed.borrow_owner().borrow_dependent().items[..],
                    &parsed.borrow_dependent()[..],
                ),
                Source::InOrder(parsed) => {
                    (&*parsed.borrow_owner().chunk, &parsed.borrow_dependent().items[..], &[][..])
                }
            };
            let mut batch = Batch {
                calls: Vec::with_capacity(items.len()),
                records: Vec::with_capacity(items.len()),
                ended: None,
                live: chunk.live,
            };
            stop = self.walk(chunk, items, &mut Found::new(found), &mut Vec::new(), &mut batch);
            batch
        })));
        (self.handle)(&handed, next, self.report)?;
        match stop {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    /// Adds the items of a chunk, or of a document opened from an envelope in it (`trail`: the envelopes
    /// around them, outermost first), to `batch`; counts and reports the rest. Gives the error that stops a
    /// `--strict` run, if one does.
    fn walk<'i>(
        &mut self,
        chunk: &Chunk,
        items: &'i [Item<'i>],
        found: &mut Found<'_, 'i>,
        trail: &mut Vec<(Pos, &'i str)>,
        batch: &mut Batch<'i>,
    ) -> Option<anyhow::Error> {
        for item in items {
            if let Item::Record(record, _) = item {
                let id = &record.user_identity;
                for name in [&id.access_key_id, &id.issuer_arn, &id.arn] {
                    self.report.carried(name.as_str());
                }
                if self.report.duplicate(record) {
                    found.pass();
                    self.tally.cloudtrail += 1;
                    continue;
                }
            }
            let unusable;
            let (pos, why, error_at) = match item {
                Item::Record(record, pos) => match found.outcome(record, self.filter) {
                    Outcome::Call(call) => {
                        self.tally.cloudtrail += 1;
                        self.report.read(None);
                        batch.records.push(Passed { text: record.text, fate: Fate::Call(batch.calls.len()) });
                        batch.calls.push(call);
                        continue;
                    }
                    Outcome::Excluded(why) => {
                        self.tally.cloudtrail += 1;
                        self.report.read(Some(why));
                        batch.records.push(Passed { text: record.text, fate: Fate::Excluded(why.label().into()) });
                        continue;
                    }
                    Outcome::Unusable(why) => {
                        self.tally.cloudtrail += 1;
                        batch.records.push(Passed { text: record.text, fate: Fate::Excluded(why.clone().into()) });
                        unusable = why;
                        (pos, unusable.as_str(), None)
                    }
                    Outcome::Foreign(why) => {
                        self.tally.foreign += 1;
                        batch.records.push(Passed { text: record.text, fate: Fate::Excluded(why.into()) });
                        (pos, why, None)
                    }
                },
                Item::Skipped(skip, text) => {
                    self.tally.cloudtrail += 1;
                    self.report.skipped(*skip);
                    if let Some(text) = text {
                        batch.records.push(Passed { text, fate: Fate::Excluded(skip.label().into()) });
                    }
                    continue;
                }
                Item::Malformed(bad) => {
                    self.tally.broken += 1;
                    if let Some(text) = bad.text {
                        batch.records.push(Passed { text, fate: Fate::Excluded(bad.why.clone()) });
                    }
                    (&bad.pos, &bad.why[..], bad.error_at)
                }
                Item::Opened(opened, pos) => {
                    trail.push((*pos, opened.borrow_owner().path.as_str()));
                    let stop = self.walk(chunk, opened.borrow_dependent(), found, trail, batch);
                    trail.pop();
                    match stop {
                        Some(err) => return Some(err),
                        None => continue,
                    }
                }
            };
            // Built only when printed: finding a line number means counting the chunk's newlines.
            let message = || {
                let input = self.open.as_ref().map_or("", |open| open.name.as_str());
                format!("{}: {why}{}", place(input, chunk, trail, pos), at(chunk, trail, pos, error_at))
            };
            if self.strict {
                return Some(self.report.stop(message()));
            }
            self.report.unusable(message);
        }
        None
    }
}

/// Where the record or document at `pos` is: the input and line (of the outermost envelope, for a document
/// opened from one), then the path through each envelope (`awslogs.data, logEvents[3].message`), each
/// followed by the index of the record within it, if any.
fn place(input: &str, chunk: &Chunk, trail: &[(Pos, &str)], pos: &Pos) -> String {
    let outer = trail.first().map_or(pos, |(outer, _)| outer);
    let mut text = Place { input, line: chunk.line_at(outer.offset), index: outer.index }.to_string();
    let inner = trail.iter().skip(1).map(|(pos, _)| pos).chain(std::iter::once(pos));
    for ((_, path), pos) in trail.iter().zip(inner) {
        text.push_str(", ");
        text.push_str(path);
        if let Some(index) = pos.index {
            text.push_str(&format!(" (record {index})"));
        }
    }
    text
}

/// Where in the record or document at `pos` the JSON parser stopped, if it did: as a line and column of the
/// input, or within the record when it was opened from an envelope.
fn at(chunk: &Chunk, trail: &[(Pos, &str)], pos: &Pos, error_at: Option<(usize, usize)>) -> String {
    match error_at {
        None => String::new(),
        Some((line, column)) if !trail.is_empty() => format!(" at line {line}, column {column} of it"),
        // The parser counts from the start of the value; on the value's first line, add its column.
        Some((1, column)) => format!(" at column {}", chunk.column_at(pos.offset) + column as u64 - 1),
        Some((line, column)) => format!(" at line {}, column {column}", chunk.line_at(pos.offset) + line as u64 - 1),
    }
}

/// What the parser left of `chunk` after `consumed` bytes, with its place in the input.
fn leftover(chunk: &Chunk, consumed: usize) -> Option<Chunk> {
    (consumed < chunk.bytes.len()).then(|| Chunk {
        bytes: chunk.bytes[consumed..].to_vec(),
        first_line: chunk.line_at(consumed),
        first_column: chunk.column_at(consumed),
        last: chunk.last,
        live: chunk.live,
    })
}
