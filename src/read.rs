//! Inputs → chunks of bytes. Takes the INPUT arguments (files, directories walked recursively in sorted
//! path order, `-` for stdin), opens each, recognises gzip by its magic bytes (all members, as `zcat` does)
//! and cuts the decoded bytes into [`Chunk`]s of about [`CHUNK_SIZE`]. A chunk ends at a newline; inside a
//! line longer than a chunk, after a `}` (no number or literal can straddle it); and sooner when a live feed
//! has nothing more ready. What the parser could not finish is handed back and kept at the front of the next
//! chunk. It never parses JSON. A read error (a truncated gzip, a disk error, a [`Limits`] passed) ends the
//! input; the bytes read before it are still delivered, and the error is returned by [`ChunkReader::finish`].

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use flate2::{Decompress, FlushDecompress, Status};

/// How many bytes a chunk holds before it is cut at the next newline.
pub const CHUNK_SIZE: usize = 1 << 20;

/// How much one input may make its reader hold or decode. Input is written by whoever can write to the trail
/// bucket or spoof a client: without these, a line with no place to cut it, or a gzip bomb, would take memory
/// or time without end. Set by `--max-record-bytes` and `--max-decompressed-bytes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of one unfinished thing (a record, a document, a line) held at once. CloudTrail's
    /// records are at most a few hundred KiB; the default is far above that and far below a machine's memory.
    pub record: u64,
    /// The flag that sets `record`, named when it is passed (`--max-record-bytes`, `--max-line-bytes`).
    pub record_flag: &'static str,
    /// The most bytes a gzip input may decode to; CloudTrail's log files decode to megabytes.
    pub decompressed: u64,
}

impl Limits {
    pub const DEFAULT: Limits = Limits { record: 16 << 20, record_flag: "--max-record-bytes", decompressed: 4 << 30 };
}

/// One thing to read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
    /// Something under a directory that could not be listed or looked at, and why; reported in its turn.
    Unreadable(PathBuf, String),
}

impl Input {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(path) | Input::Unreadable(path, _) => path.display().to_string(),
        }
    }
}

/// Turns INPUT arguments into the list of inputs to read: none means stdin, `-` is stdin, a directory
/// stands for every regular file under it (symbolic links followed, each directory once), in sorted path
/// order. A named input that does not exist is an error; a part of a tree that cannot be read becomes an
/// [`Input::Unreadable`] so that the rest is still read.
pub fn expand(args: &[PathBuf]) -> Result<Vec<Input>> {
    if args.is_empty() {
        return Ok(vec![Input::Stdin]);
    }
    let mut inputs = Vec::new();
    let mut seen = HashSet::new();
    for arg in args {
        // Names of stdin are stdin, so that it is never read twice as if it were a file.
        if ["-", "/dev/stdin", "/dev/fd/0", "/proc/self/fd/0"].iter().any(|name| arg.as_os_str() == *name) {
            inputs.push(Input::Stdin);
            continue;
        }
        let meta = fs::metadata(arg).with_context(|| format!("cannot read input {}", arg.display()))?;
        if meta.is_dir() {
            walk(arg, &mut inputs, &mut seen);
        } else {
            inputs.push(Input::File(arg.clone()));
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, inputs: &mut Vec<Input>, seen: &mut HashSet<PathBuf>) {
    if !seen.insert(fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())) {
        return;
    }
    let entries = fs::read_dir(dir).and_then(|entries| entries.collect::<io::Result<Vec<_>>>());
    let mut entries = match entries {
        Ok(entries) => entries,
        Err(err) => return inputs.push(Input::Unreadable(dir.to_path_buf(), format!("cannot list directory: {err}"))),
    };
    entries.sort_by_cached_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        // The type the listing gave costs no system call; a symbolic link is followed. (A `stat` of each of
        // 5,432 files was 6 % of the thread that scores, spent before any file was read.)
        let kind = match entry.file_type() {
            Ok(kind) if !kind.is_symlink() => Ok(kind),
            _ => fs::metadata(&path).map(|meta| meta.file_type()),
        };
        match kind {
            Ok(kind) if kind.is_dir() => walk(&path, inputs, seen),
            Ok(kind) if kind.is_file() => inputs.push(Input::File(path)),
            // Sockets, FIFOs and devices hold no archived records.
            Ok(_) => {}
            Err(err) => inputs.push(Input::Unreadable(path, format!("cannot read: {err}"))),
        }
    }
}

/// Bytes read from input files so far, before decompression, by every reader of this process: the progress
/// bar's measure of how far a run has come (file sizes are its total).
pub static FILE_BYTES_READ: AtomicU64 = AtomicU64::new(0);

/// A file whose reads add to [`FILE_BYTES_READ`].
struct Counted(File);

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.0.read(buf)?;
        FILE_BYTES_READ.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// Bytes of input that end at a newline, after a `}` inside a very long line, or at the end of the input.
#[derive(Debug, Default)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// The 1-based line number of `bytes[0]` in the input.
    pub first_line: u64,
    /// The 1-based column (in bytes) of `bytes[0]` on its line: a chunk can start inside a long line.
    pub first_column: u64,
    /// True when nothing follows this chunk in the input.
    pub last: bool,
    /// True when the input is a live feed (a pipe, a terminal, a socket): someone may be waiting for what
    /// its records make, as soon as they arrive.
    pub live: bool,
}

impl Chunk {
    /// The 1-based input line number of the byte at `offset`. Counts newlines, so it is for messages only.
    pub fn line_at(&self, offset: usize) -> u64 {
        let end = offset.min(self.bytes.len());
        self.first_line + memchr::memchr_iter(b'\n', &self.bytes[..end]).count() as u64
    }

    /// The 1-based column (in bytes) of the byte at `offset` on its line.
    pub fn column_at(&self, offset: usize) -> u64 {
        let end = offset.min(self.bytes.len());
        match memchr::memrchr(b'\n', &self.bytes[..end]) {
            Some(newline) => (end - newline) as u64,
            None => self.first_column + end as u64,
        }
    }
}

/// Reads one input as a series of chunks.
pub struct ChunkReader {
    source: Source,
    /// Whether the input is a pipe, a terminal or a socket, whose reads may stop short because nothing more
    /// is ready yet (a live feed), rather than a regular file, whose short reads mean nothing.
    live: bool,
    /// The last read gave less than it was offered: from a regular file, the end is likely near.
    short: bool,
    /// Bytes read past the last newline of the previous chunk.
    rest: Vec<u8>,
    started: bool,
    ended: bool,
    error: Option<io::Error>,
    limits: Limits,
    gzip: bool,
    /// Bytes the input has given so far, after decompression.
    decoded: u64,
}

impl ChunkReader {
    /// Opens an input; gzip is recognised by its first two bytes, whatever the file is called.
    pub fn open(input: &Input, limits: Limits) -> io::Result<ChunkReader> {
        const BUFFER: usize = 256 << 10;
        let (mut raw, live, buffer): (Box<dyn Read>, bool, usize) = match input {
            Input::Stdin => {
                let live = io::stdin().as_fd().try_clone_to_owned().map_or(true, |fd| !regular(&File::from(fd)));
                (Box::new(io::stdin()), live, BUFFER)
            }
            Input::File(path) => {
                let file = File::open(path)?;
                let size = file.metadata().ok().filter(|meta| meta.is_file()).map(|meta| meta.len());
                // A small file gets a buffer its size: the buffer is zeroed when first filled, and 256 KiB of
                // zeroes for each small log file of a tree was 5 % of reading it (perf, 5,432 files).
                let buffer = size.map_or(BUFFER, |size| usize::try_from(size).unwrap_or(BUFFER).clamp(8 << 10, BUFFER));
                (Box::new(Counted(file)), size.is_none(), buffer)
            }
            Input::Unreadable(_, why) => return Err(io::Error::other(why.clone())),
        };
        let mut head = [0; 2];
        let mut got = 0;
        while got < head.len() {
            match raw.read(&mut head[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        let buffered = BufReader::with_capacity(buffer, io::Cursor::new(head[..got].to_vec()).chain(raw));
        let gzip = head[..got] == GZIP_MAGIC;
        let source =
            if gzip { Source::Gzip(Box::new(Members::new(buffered))) } else { Source::Plain(Box::new(buffered)) };
        Ok(ChunkReader {
            source,
            live,
            short: false,
            rest: Vec::new(),
            started: false,
            ended: false,
            error: None,
            limits,
            gzip,
            decoded: 0,
        })
    }

    /// Drops the first `consumed` bytes of `chunk`, keeps the rest at its front (a value the parser could not
    /// finish), and appends input until the chunk ends at a newline (or a `}`, in a very long line) and either holds [`CHUNK_SIZE`] bytes
    /// (twice what it kept, when that is more) or the input has nothing more ready just now, or the input
    /// ends. Returns false when there is nothing more to parse. What it kept, or a stretch with no place to
    /// cut, longer than [`Limits::record`] ends the input with an error, and is dropped.
    pub fn refill(&mut self, chunk: &mut Chunk, consumed: usize) -> bool {
        let consumed = consumed.min(chunk.bytes.len());
        chunk.first_line = chunk.line_at(consumed);
        chunk.first_column = chunk.column_at(consumed);
        chunk.bytes.drain(..consumed);
        if chunk.bytes.len() as u64 > self.limits.record {
            self.too_long(chunk, 0);
        }
        chunk.live = self.live;
        let kept = chunk.bytes.len();
        // Growing geometrically keeps a long document from being parsed again after every small refill.
        let target = CHUNK_SIZE.max(kept * 2);
        chunk.bytes.append(&mut self.rest);
        let mut search_from = kept;
        loop {
            if !self.ended && chunk.bytes.len() < target {
                let want = target - chunk.bytes.len();
                let short = self.read_some(&mut chunk.bytes, want) && self.live;
                // A live feed: cut what has arrived rather than wait for a full chunk, once the chunk has at
                // least doubled what it kept (so a long value is not parsed again for every small read).
                let cut_now =
                    short && chunk.bytes.len() >= 2 * kept && memchr::memchr(b'\n', &chunk.bytes[kept..]).is_some();
                if !cut_now {
                    continue;
                }
            }
            if self.ended {
                break;
            }
            match memchr::memrchr(b'\n', &chunk.bytes[search_from..]) {
                Some(at) => {
                    let cut = search_from + at + 1;
                    self.rest.extend_from_slice(&chunk.bytes[cut..]);
                    chunk.bytes.truncate(cut);
                    break;
                }
                // A line longer than a chunk (a whole log file on one line): cut after its last `}`, which no
                // number or literal can straddle, so memory stays at a chunk; the parser carries the rest.
                None => match memchr::memrchr(b'}', &chunk.bytes[kept..]) {
                    Some(at) => {
                        let cut = kept + at + 1;
                        self.rest.extend_from_slice(&chunk.bytes[cut..]);
                        chunk.bytes.truncate(cut);
                        break;
                    }
                    None if (chunk.bytes.len() - kept) as u64 > self.limits.record => self.too_long(chunk, kept),
                    None => {
                        search_from = chunk.bytes.len();
                        self.read_some(&mut chunk.bytes, CHUNK_SIZE);
                    }
                },
            }
        }
        if !self.started {
            self.started = true;
            if chunk.bytes.starts_with(BOM) {
                chunk.bytes.drain(..BOM.len());
            }
        }
        let was_last = chunk.last;
        chunk.last = self.ended && self.rest.is_empty();
        // The chunk that first meets the end of the input is always parsed, even with nothing new in it, so
        // that a value or a log file left unfinished there is reported.
        chunk.bytes.len() > kept || (chunk.last && !was_last)
    }

    /// Ends the input at a line (or what was kept of one) longer than [`Limits::record`]: drops `chunk`'s
    /// bytes from `from` on, and what was read past them.
    fn too_long(&mut self, chunk: &mut Chunk, from: usize) {
        chunk.bytes.truncate(from);
        self.rest.clear();
        self.error = Some(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a line holds more than {} with nowhere to cut it ({})",
                crate::config::Size(self.limits.record),
                self.limits.record_flag
            ),
        ));
        self.ended = true;
    }

    /// Reads once into the end of `buf`, up to `want` bytes; true when the read gave less than it was
    /// offered (from a live feed: nothing more was ready). It offers at least 64 KiB, and at most what `buf`
    /// already holds (up to 256 KiB), so a small file costs a small buffer: zeroing a fresh chunk's worth for
    /// each of thousands of small log files was most of the time of reading a tree of them. After a short
    /// read from a regular file it offers 4 KiB, which finds whether that was the end without growing and
    /// zeroing the buffer for nothing (that, and the copy when it grew, was ~10 % of reading such a tree).
    fn read_some(&mut self, buf: &mut Vec<u8>, want: usize) -> bool {
        let start = buf.len();
        let offered = match self.short && !self.live {
            true => 4 << 10,
            false => start.clamp(64 << 10, 256 << 10).min(want.max(64 << 10)),
        };
        loop {
            match self.source.read_into(buf, offered) {
                Ok(0) => self.ended = true,
                Ok(n) if self.gzip && self.decoded + n as u64 > self.limits.decompressed => {
                    self.error = Some(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "the gzip data decompresses to more than {} (--max-decompressed-bytes): a gzip bomb, \
                             or raise the limit",
                            crate::config::Size(self.limits.decompressed)
                        ),
                    ));
                    self.ended = true;
                }
                Ok(n) => {
                    self.decoded += n as u64;
                    buf.truncate(start + n);
                    self.short = n < offered;
                    return self.short;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.error = Some(err);
                    self.ended = true;
                }
            }
            buf.truncate(start);
            return true;
        }
    }

    /// The error that ended the input early, if any.
    pub fn finish(self) -> io::Result<()> {
        match self.error {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }
}

/// Whether `file` is a regular file (not a pipe, terminal, socket or device); when that cannot be told, it
/// is taken for a live feed, which only means smaller chunks.
fn regular(file: &File) -> bool {
    file.metadata().is_ok_and(|meta| meta.is_file())
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const BOM: &[u8] = b"\xef\xbb\xbf";

/// An input's bytes, buffered, with the first two (read to tell gzip) put back in front.
type Buffered = BufReader<io::Chain<io::Cursor<Vec<u8>>, Box<dyn Read>>>;

/// An input as read: as it is, or decompressed.
enum Source {
    Plain(Box<Buffered>),
    Gzip(Box<Members<Buffered>>),
}

impl Source {
    /// Appends to `buf` what one read gives, about `offered` bytes at most; 0 at the end.
    fn read_into(&mut self, buf: &mut Vec<u8>, offered: usize) -> io::Result<usize> {
        match self {
            Source::Plain(source) => {
                let start = buf.len();
                buf.resize(start + offered, 0);
                let read = source.read(&mut buf[start..]);
                buf.truncate(start + read.as_ref().map_or(0, |n| *n));
                read
            }
            Source::Gzip(members) => members.read_into(buf, offered),
        }
    }
}

/// Every gzip member of a stream, one after another, as `zcat` reads them. Zero bytes after a member are
/// padding (as `gzip` accepts them); any other bytes that do not start a member are an error. It inflates
/// into a buffer's spare room, which is not zeroed first: zeroing the room offered for each small file of
/// a tree was an eighth of the instructions of reading it (callgrind, 189 files of 38 KB: `memset` 17.4 M of
/// 155 M).
struct Members<R: BufRead> {
    inner: R,
    /// The member being inflated, if one has started and not ended.
    member: Option<Decompress>,
}

impl<R: BufRead> Members<R> {
    fn new(inner: R) -> Members<R> {
        Members { inner, member: None }
    }

    /// Appends to `out` what inflating the input gives, at least one byte unless the stream has ended: up to
    /// `offered` bytes, or more when `out` already has the room.
    fn read_into(&mut self, out: &mut Vec<u8>, offered: usize) -> io::Result<usize> {
        if out.capacity() - out.len() < offered {
            out.reserve_exact(offered);
        }
        loop {
            let input = self.inner.fill_buf()?;
            let Some(member) = &mut self.member else {
                if input.is_empty() {
                    return Ok(0);
                } else if input.starts_with(&GZIP_MAGIC) || input == &GZIP_MAGIC[..1] {
                    self.member = Some(Decompress::new_gzip(15));
                } else if input.iter().all(|&b| b == 0) {
                    let n = input.len();
                    self.inner.consume(n);
                } else {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "bytes after the gzip data are not gzip"));
                }
                continue;
            };
            if input.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the gzip data ends early: the file is truncated",
                ));
            }
            let (taken, given) = (member.total_in(), out.len());
            let status = member.decompress_vec(input, out, FlushDecompress::None).map_err(|err| {
                io::Error::new(io::ErrorKind::InvalidData, format!("the gzip data is damaged: {err}"))
            })?;
            let used = (member.total_in() - taken) as usize;
            self.inner.consume(used);
            let inflated = out.len() - given;
            if status == Status::StreamEnd {
                self.member = None;
            } else if used == 0 && inflated == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "the gzip data is damaged: it stopped inflating",
                ));
            }
            if inflated > 0 {
                return Ok(inflated);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn chunks_of(bytes: &[u8]) -> Vec<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        File::create(&path).unwrap().write_all(bytes).unwrap();
        let mut reader = ChunkReader::open(&Input::File(path), Limits::DEFAULT).unwrap();
        let mut chunk = Chunk { first_line: 1, first_column: 1, ..Chunk::default() };
        let mut out = Vec::new();
        let mut consumed = 0;
        while reader.refill(&mut chunk, consumed) {
            if chunk.bytes.is_empty() {
                continue;
            }
            out.push(chunk.bytes.clone());
            consumed = chunk.bytes.len();
        }
        reader.finish().unwrap();
        out
    }

    #[test]
    fn chunks_end_at_newlines_and_keep_every_byte() {
        let line = b"{\"eventName\":\"DescribeInstances\"}\n";
        let input: Vec<u8> = line.iter().copied().cycle().take(line.len() * 100_000).collect();
        let chunks = chunks_of(&input);
        assert!(chunks.len() > 2);
        for chunk in &chunks {
            assert_eq!(chunk.last(), Some(&b'\n'));
        }
        let one_line: Vec<u8> = line.iter().copied().filter(|&b| b != b'\n').cycle().take(3 << 20).collect();
        let long = chunks_of(&one_line);
        assert!(long.len() >= 3 && long.iter().all(|c| c.len() < 2 * CHUNK_SIZE), "a long line is cut after a brace");
        assert!(long.concat() == one_line);
        assert!(chunks.len() < 10, "a file is read in full chunks: {}", chunks.len());
        assert!(chunks.concat() == input);
    }

    #[test]
    fn chunks_of_a_pipe_are_live_and_of_a_file_not() {
        let dir = tempfile::tempdir().unwrap();
        let (file, fifo) = (dir.path().join("file"), dir.path().join("fifo"));
        std::fs::write(&file, b"{}\n").unwrap();
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let feeding = fifo.clone();
        let feeder = std::thread::spawn(move || File::create(feeding).unwrap().write_all(b"{}\n").unwrap());
        for (path, live) in [(file, false), (fifo, true)] {
            let mut reader = ChunkReader::open(&Input::File(path.clone()), Limits::DEFAULT).unwrap();
            let mut chunk = Chunk::default();
            assert!(reader.refill(&mut chunk, 0));
            assert_eq!((chunk.bytes.as_slice(), chunk.live), (&b"{}\n"[..], live), "{path:?}");
        }
        feeder.join().unwrap();
    }

    #[test]
    fn gzip_with_several_members_is_read_whole() {
        let mut input = Vec::new();
        for part in [&b"first\n"[..], b"second\n"] {
            let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            gz.write_all(part).unwrap();
            input.extend(gz.finish().unwrap());
        }
        assert_eq!(chunks_of(&input).concat(), b"first\nsecond\n");
    }

    #[test]
    fn gzip_padding_garbage_and_truncation() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(b"one\ntwo\n").unwrap();
        let member = gz.finish().unwrap();
        let read = |bytes: &[u8]| {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("input");
            std::fs::write(&path, bytes).unwrap();
            let mut reader = ChunkReader::open(&Input::File(path), Limits::DEFAULT).unwrap();
            let mut chunk = Chunk::default();
            let mut got = Vec::new();
            let mut consumed = 0;
            while reader.refill(&mut chunk, consumed) {
                got.extend_from_slice(&chunk.bytes);
                consumed = chunk.bytes.len();
            }
            (got, reader.finish().map_err(|e| e.to_string()))
        };
        let padded = [member.clone(), vec![0; 512]].concat();
        assert_eq!(read(&padded), (b"one\ntwo\n".to_vec(), Ok(())));
        let garbage = [member.clone(), b"junk".to_vec()].concat();
        assert_eq!(read(&garbage).1, Err("bytes after the gzip data are not gzip".to_string()));
        let (_, cut) = read(&member[..member.len() - 6]);
        assert!(cut.unwrap_err().contains("truncated"));
    }

    #[test]
    fn a_byte_order_mark_is_dropped() {
        assert_eq!(chunks_of(b"\xef\xbb\xbf{}\n").concat(), b"{}\n");
    }

    #[test]
    fn line_numbers_follow_the_chunk() {
        let chunk = Chunk { bytes: b"a\nbc\nd".to_vec(), first_line: 10, first_column: 7, last: true, live: false };
        assert_eq!((chunk.line_at(0), chunk.column_at(0)), (10, 7));
        assert_eq!((chunk.line_at(3), chunk.column_at(3)), (11, 2));
        assert_eq!((chunk.line_at(5), chunk.column_at(5)), (12, 1));
    }
}
