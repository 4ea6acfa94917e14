//! Inputs → chunks of bytes. Takes the INPUT arguments (files, directories walked recursively in sorted path
//! order, `-` for stdin), opens each, recognises gzip by its magic bytes (all members, as `zcat` does) and
//! cuts the decoded bytes into [`Chunk`]s of about [`CHUNK_SIZE`] that end at a newline. It never looks
//! inside the JSON: a document the parser could not finish within a chunk is handed back and kept at the
//! front of the next one. A read error (a truncated gzip, a disk error) ends the input; the bytes read before
//! it are still delivered, and the error is returned by [`ChunkReader::finish`].

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// How many bytes a chunk holds before it is cut at the next newline.
pub const CHUNK_SIZE: usize = 1 << 20;

/// One thing to read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    /// The name used in messages.
    pub fn name(&self) -> String {
        match self {
            Input::Stdin => "<stdin>".to_string(),
            Input::File(path) => path.display().to_string(),
        }
    }
}

/// Turns INPUT arguments into the list of inputs to read: none means stdin, `-` is stdin, a directory
/// stands for every file under it, in sorted path order.
pub fn expand(args: &[PathBuf]) -> Result<Vec<Input>> {
    if args.is_empty() {
        return Ok(vec![Input::Stdin]);
    }
    let mut inputs = Vec::new();
    for arg in args {
        if arg.as_os_str() == "-" {
            inputs.push(Input::Stdin);
            continue;
        }
        let meta = fs::metadata(arg).with_context(|| format!("cannot read input {}", arg.display()))?;
        if meta.is_dir() {
            walk(arg, &mut inputs).with_context(|| format!("cannot list directory {}", arg.display()))?;
        } else {
            inputs.push(Input::File(arg.clone()));
        }
    }
    Ok(inputs)
}

fn walk(dir: &Path, inputs: &mut Vec<Input>) -> io::Result<()> {
    let mut entries = fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, inputs)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            inputs.push(Input::File(path));
        }
    }
    Ok(())
}

/// Bytes of input that end at a newline (or at the end of the input).
#[derive(Debug, Default)]
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// The 1-based line number of `bytes[0]` in the input.
    pub first_line: u64,
    /// True when nothing follows this chunk in the input.
    pub last: bool,
}

impl Chunk {
    /// The 1-based input line number of the byte at `offset`. Counts newlines, so it is for messages only.
    pub fn line_at(&self, offset: usize) -> u64 {
        let end = offset.min(self.bytes.len());
        self.first_line + memchr::memchr_iter(b'\n', &self.bytes[..end]).count() as u64
    }
}

/// Reads one input as a series of chunks.
pub struct ChunkReader {
    source: Box<dyn Read>,
    /// Bytes read past the last newline of the previous chunk.
    rest: Vec<u8>,
    ended: bool,
    error: Option<io::Error>,
}

impl ChunkReader {
    /// Opens an input; gzip is recognised by its first two bytes, whatever the file is called.
    pub fn open(input: &Input) -> io::Result<ChunkReader> {
        let raw: Box<dyn Read> = match input {
            Input::Stdin => Box::new(io::stdin()),
            Input::File(path) => Box::new(File::open(path)?),
        };
        let mut buffered = BufReader::with_capacity(256 << 10, raw);
        let gzip = {
            let head = buffered.fill_buf()?;
            head.len() >= 2 && head[0] == 0x1f && head[1] == 0x8b
        };
        let source: Box<dyn Read> =
            if gzip { Box::new(flate2::bufread::MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
        Ok(ChunkReader { source, rest: Vec::new(), ended: false, error: None })
    }

    /// Drops the first `consumed` bytes of `chunk`, keeps the rest at its front, and appends input until
    /// the chunk holds at least [`CHUNK_SIZE`] bytes ending at a newline, or the input ends. Returns false
    /// when there was nothing left to add.
    pub fn refill(&mut self, chunk: &mut Chunk, consumed: usize) -> bool {
        let consumed = consumed.min(chunk.bytes.len());
        chunk.first_line = chunk.line_at(consumed);
        chunk.bytes.drain(..consumed);
        let kept = chunk.bytes.len();
        chunk.bytes.append(&mut self.rest);
        let mut search_from = kept;
        loop {
            if !self.ended && chunk.bytes.len() < CHUNK_SIZE {
                let want = CHUNK_SIZE - chunk.bytes.len();
                self.read_some(&mut chunk.bytes, want);
                continue;
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
                // A line longer than a chunk: keep reading until it ends.
                None => {
                    search_from = chunk.bytes.len();
                    self.read_some(&mut chunk.bytes, CHUNK_SIZE);
                }
            }
        }
        chunk.last = self.ended && self.rest.is_empty();
        chunk.bytes.len() > kept
    }

    fn read_some(&mut self, buf: &mut Vec<u8>, want: usize) {
        let start = buf.len();
        buf.resize(start + want.max(64 << 10), 0);
        loop {
            match self.source.read(&mut buf[start..]) {
                Ok(0) => {
                    self.ended = true;
                    break;
                }
                Ok(n) => {
                    buf.truncate(start + n);
                    return;
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => {
                    self.error = Some(err);
                    self.ended = true;
                    break;
                }
            }
        }
        buf.truncate(start);
    }

    /// The error that ended the input early, if any.
    pub fn finish(self) -> io::Result<()> {
        match self.error {
            Some(err) => Err(err),
            None => Ok(()),
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
        let mut reader = ChunkReader::open(&Input::File(path)).unwrap();
        let mut chunk = Chunk { first_line: 1, ..Chunk::default() };
        let mut out = Vec::new();
        let mut consumed = 0;
        while reader.refill(&mut chunk, consumed) {
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
        assert_eq!(chunks.concat(), input);
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
    fn line_numbers_follow_the_chunk() {
        let chunk = Chunk { bytes: b"a\nb\nc".to_vec(), first_line: 10, last: true };
        assert_eq!(chunk.line_at(0), 10);
        assert_eq!(chunk.line_at(2), 11);
        assert_eq!(chunk.line_at(4), 12);
    }
}
