//! Which input files a run has finished, kept across runs (`--checkpoint PATH`). Takes the paths of files
//! whose output has been written and flushed, and answers whether a path is done. It never reads the files
//! it names and never decides what to read: `follow.rs` and `cmd/score.rs` ask it.
//!
//! The file is append-only: a header line, then one absolute path a line (`\` and newline escaped). A record is
//! written as soon as its file is done, so a killed run loses none, and `fsync`ed at least once a [`SYNC_EVERY`]
//! and when the caller asks ([`Checkpoint::sync`], at the end of a pass), not once a file: that cost 1.5 ms a
//! file, seven times the time of scoring a small log file. A file is recorded only after its output is
//! flushed, so what a crash of the machine loses (the records of the last second) makes those files be read
//! again, never skipped; a line cut short is removed at the next open. In memory a done path is a 64-bit hash (about 16 bytes a file with the
//! set's overhead, so a million files cost some 16 MB, where the paths would cost ten times that); two
//! paths sharing a hash, about one chance in 10^8 among a million files, would make the second look done.
//! The file is locked while a run holds it, so two runs cannot both append to it; removed or replaced while a
//! run holds it, it is started again at its path before the next record.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::report;

const HEADER: &[u8] = b"keywatcher checkpoint 1\n";

/// The longest a written record waits for its `fsync`.
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// The files finished so far: this run's, and with a file behind it, every earlier run's.
#[derive(Debug, Default)]
pub struct Checkpoint {
    done: HashSet<u64>,
    /// The checkpoint file; none keeps the record in memory only.
    file: Option<Disk>,
}

/// The checkpoint file, opened for appending and locked.
#[derive(Debug)]
struct Disk {
    file: File,
    name: PathBuf,
    /// The hash of its own path: kept inside a tree it records, it is never an input of that tree.
    itself: u64,
    /// When records were last made durable, and whether some were written since.
    synced: Instant,
    unsynced: bool,
}

impl Checkpoint {
    /// A record kept in memory only: a run without `--checkpoint` still reads each file once.
    pub fn memory() -> Checkpoint {
        Checkpoint::default()
    }

    /// Opens the checkpoint at `path`, creating it if it does not exist, and reads what it records.
    pub fn open(path: &Path) -> Result<Checkpoint> {
        let named = || format!("checkpoint {}", path.display());
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .with_context(|| format!("cannot open {}", named()))?;
        if file.try_lock().is_err() {
            bail!("{} is in use by another keywatcher: give each run its own --checkpoint", named());
        }
        let cannot_read = || format!("cannot read {}", named());
        let mut reader = BufReader::new(&file);
        let mut head = Vec::new();
        reader.by_ref().take(HEADER.len() as u64).read_to_end(&mut head).with_context(cannot_read)?;
        let mut done = HashSet::new();
        if head.len() < HEADER.len() && HEADER.starts_with(&head) {
            // New, or cut short while its header was written.
            file.set_len(0)
                .and_then(|()| (&file).write_all(HEADER))
                .and_then(|()| file.sync_data())
                .with_context(|| format!("cannot write {}", named()))?;
        } else if head != HEADER {
            bail!("{} is not a keywatcher checkpoint: name a new file, or the one an earlier run wrote", named());
        } else {
            // Read a line at a time: a checkpoint of millions of files is never held whole.
            let mut whole = HEADER.len() as u64;
            let mut line = Vec::new();
            while reader.read_until(b'\n', &mut line).with_context(cannot_read)? > 0 {
                // A line without its newline was being written when a run stopped: its file was not done.
                let Some(path) = line.strip_suffix(b"\n") else { break };
                whole += line.len() as u64;
                if !path.is_empty() {
                    done.insert(hash(path));
                }
                line.clear();
            }
            if whole < file.metadata().with_context(cannot_read)?.len() {
                file.set_len(whole).with_context(|| format!("cannot cut the unfinished last line of {}", named()))?;
            }
        }
        let itself = hash(&line(path));
        let disk = Disk { file, name: path.to_path_buf(), itself, synced: Instant::now(), unsynced: false };
        Ok(Checkpoint { done, file: Some(disk) })
    }

    /// Whether `path` was finished, in this run or (with a file) an earlier one; the checkpoint file itself
    /// counts as done, so that one kept inside the tree it records is not read as CloudTrail.
    pub fn is_done(&self, path: &Path) -> bool {
        let path = hash(&line(path));
        self.done.contains(&path) || self.file.as_ref().is_some_and(|disk| disk.itself == path)
    }

    /// How many files are recorded as done.
    pub fn count(&self) -> usize {
        self.done.len()
    }

    /// Records `path` as finished: its output must already be written and flushed.
    pub fn record(&mut self, path: &Path) -> Result<()> {
        self.record_all(&[path])
    }

    /// Records every one of `paths` as finished, in one write.
    pub fn record_all(&mut self, paths: &[&Path]) -> Result<()> {
        let lines: Vec<Vec<u8>> = paths.iter().map(|path| line(path)).collect();
        self.keep_in_place()?;
        if let Some(disk) = &mut self.file {
            let bytes: Vec<u8> = lines.iter().flat_map(|line| line.iter().chain(b"\n")).copied().collect();
            disk.file.write_all(&bytes).with_context(|| {
                let first = paths.first().map_or_else(String::new, |path| path.display().to_string());
                format!(
                    "cannot record {first} as done in checkpoint {}: it and the files after it will be read again",
                    disk.name.display()
                )
            })?;
            disk.unsynced = true;
            if disk.synced.elapsed() >= SYNC_EVERY {
                self.sync()?;
            }
        }
        self.done.extend(lines.iter().map(|line| hash(line)));
        Ok(())
    }

    /// Makes the records written so far durable (`fsync`).
    pub fn sync(&mut self) -> Result<()> {
        let Some(disk) = self.file.as_mut().filter(|disk| disk.unsynced) else { return Ok(()) };
        disk.file.sync_data().with_context(|| {
            format!("cannot save checkpoint {}: the files it last recorded may be read again", disk.name.display())
        })?;
        disk.synced = Instant::now();
        disk.unsynced = false;
        Ok(())
    }

    /// Starts the checkpoint file again at its path if it was removed or replaced while the run held it (by a
    /// cleaner of `/tmp`, or a person), so that what is done from then on is kept. The files it recorded before
    /// are not in the new one: a run started again on it reads them again. A stat of the path and of the file,
    /// once a file: a few microseconds beside the reading of it.
    fn keep_in_place(&mut self) -> Result<()> {
        let Some(disk) = self.file.as_mut().filter(|disk| !disk.in_place()) else { return Ok(()) };
        let name = disk.name.clone();
        report::say(format_args!(
            "checkpoint {} was removed or replaced while this run used it: recording in a new one there. The {} \
             file(s) done before are not in it, so a run started again on it reads them again",
            name.display(),
            self.done.len()
        ));
        let mut fresh = Checkpoint::open(&name)?;
        self.done.extend(fresh.done.drain());
        self.file = fresh.file.take();
        Ok(())
    }
}

impl Disk {
    /// Whether the checkpoint's path still names the file this run appends to.
    fn in_place(&self) -> bool {
        match (std::fs::metadata(&self.name), self.file.metadata()) {
            (Ok(there), Ok(ours)) => (there.dev(), there.ino()) == (ours.dev(), ours.ino()),
            _ => false,
        }
    }
}

impl Drop for Checkpoint {
    /// A run that ends with an error has not asked for the last `fsync`; it is made here, as best it can be.
    fn drop(&mut self) {
        let _ = self.sync();
    }
}

/// A path as one checkpoint line: made absolute (so that a run started from another directory knows it),
/// its bytes with `\` and newline escaped.
fn line(path: &Path) -> Vec<u8> {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut line = Vec::new();
    for &b in path.as_os_str().as_bytes() {
        match b {
            b'\\' => line.extend_from_slice(b"\\\\"),
            b'\n' => line.extend_from_slice(b"\\n"),
            _ => line.push(b),
        }
    }
    line
}

fn hash(line: &[u8]) -> u64 {
    // SipHash with fixed keys: the same line gives the same hash in every run.
    let mut hasher = DefaultHasher::new();
    line.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reopened_checkpoint_knows_what_was_done() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        let odd = Path::new("/logs/a\nb\\c.json");
        {
            let mut checkpoint = Checkpoint::open(&path).unwrap();
            assert!(!checkpoint.is_done(Path::new("/logs/1.json")));
            checkpoint.record(Path::new("/logs/1.json")).unwrap();
            checkpoint.record(odd).unwrap();
            assert!(checkpoint.is_done(odd));
        }
        let checkpoint = Checkpoint::open(&path).unwrap();
        assert_eq!(checkpoint.count(), 2);
        assert!(checkpoint.is_done(Path::new("/logs/1.json")) && checkpoint.is_done(odd));
        assert!(!checkpoint.is_done(Path::new("/logs/a")), "an escaped newline is not a line of its own");
    }

    #[test]
    fn a_line_cut_short_by_a_crash_is_not_done_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        std::fs::write(&path, [HEADER, b"/logs/1.json\n/logs/2.js"].concat()).unwrap();
        let mut checkpoint = Checkpoint::open(&path).unwrap();
        assert!(checkpoint.is_done(Path::new("/logs/1.json")));
        assert!(!checkpoint.is_done(Path::new("/logs/2.js")));
        checkpoint.record(Path::new("/logs/2.json")).unwrap();
        drop(checkpoint);
        assert_eq!(std::fs::read(&path).unwrap(), [HEADER, b"/logs/1.json\n/logs/2.json\n"].concat());
        std::fs::write(&path, &HEADER[..10]).unwrap();
        assert_eq!(Checkpoint::open(&path).unwrap().count(), 0, "cut short while it was being made");
        assert_eq!(std::fs::read(&path).unwrap(), HEADER);
    }

    #[test]
    fn a_checkpoint_removed_while_in_use_is_started_again_at_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint");
        let mut checkpoint = Checkpoint::open(&path).unwrap();
        checkpoint.record(Path::new("/logs/1.json")).unwrap();
        checkpoint.sync().unwrap();
        std::fs::remove_file(&path).unwrap();
        checkpoint.record(Path::new("/logs/2.json")).unwrap();
        checkpoint.sync().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), [HEADER, b"/logs/2.json\n"].concat(), "a new one, from then on");
        assert!(checkpoint.is_done(Path::new("/logs/1.json")) && checkpoint.is_done(Path::new("/logs/2.json")));
        let err = Checkpoint::open(&path).unwrap_err().to_string();
        assert!(err.contains("is in use by another keywatcher"), "the new one is held too: {err}");
    }

    #[test]
    fn another_file_or_a_file_in_use_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let other = dir.path().join("profiles");
        std::fs::write(&other, "{}\n").unwrap();
        let err = Checkpoint::open(&other).unwrap_err().to_string();
        assert!(
            err.ends_with("is not a keywatcher checkpoint: name a new file, or the one an earlier run wrote"),
            "{err}"
        );
        assert_eq!(std::fs::read(&other).unwrap(), b"{}\n", "left as it was");
        let path = dir.path().join("checkpoint");
        let _held = Checkpoint::open(&path).unwrap();
        let err = Checkpoint::open(&path).unwrap_err().to_string();
        assert!(err.contains("is in use by another keywatcher"), "{err}");
    }
}
