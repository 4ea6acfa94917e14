//! Which input files to read, and when: all of them at once (the usual run), each file not yet in the
//! `--checkpoint` (a cron run over a tree), or, with `--follow`, every file that appears in the watched
//! trees, for as long as the run lasts. Takes the inputs, the [`Checkpoint`] and a stop check; gives the
//! caller one input at a time to read (and, while following waits between looks, a turn for its timed work),
//! and records a file as done only once the caller has returned from it (its output written and flushed). It
//! never reads a file's contents and starts no thread.
//!
//! Following polls, which works on any file system and with whatever fills the trees (`aws s3 sync`, an SQS
//! downloader, rsync). A file is taken once its size and modification time are the same at two looks a
//! `--poll-interval` apart, or at first sight when it was last modified longer ago than that: a file still
//! being written is not read half-way. Names that downloaders write to before renaming are never taken:
//! hidden names (`.name.XXXXXX`, as rsync writes), `*.tmp`, `*.temp`, `*.part`, `*.partial`, `*.crdownload`,
//! `*~`, and a name ending in a dot and 8 hex digits after an extension (`x.json.gz.1a2B3c4D`, as `aws s3
//! sync` and `aws s3 cp` download, s3transfer's `random_file_extension`). Each look stats every directory
//! but lists only those whose modification time changed (a file created, removed or renamed in a directory
//! changes its time), so a tree of millions of done files costs one `stat` per directory a look, plus one
//! per file still waiting; done files are checked by hash, never statted. A directory modified within
//! [`SETTLE`] of a look is listed again at the next, since a file created in the same clock tick as the
//! listing would not change the time the listing saw.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};

use crate::checkpoint::Checkpoint;
use crate::read::Input;
use crate::report;

/// How recently a directory may have changed for its listing still to be taken again without a look.
const SETTLE: Duration = Duration::from_secs(2);

/// The longest a stop request waits while following sleeps between looks.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// How a run takes its inputs.
pub enum Plan {
    /// Every input, in one go (no checkpoint).
    All(Vec<Input>),
    /// The files of a run with a checkpoint, those it holds already left out, read in one go, each recorded
    /// when done.
    Once { inputs: Vec<Input>, done: Checkpoint },
    /// Every file that appears in the watched trees, until stopped.
    Follow { watch: Watch, done: Checkpoint },
}

impl Plan {
    /// A run over `inputs` that skips and records the files `done` holds. Gives the plan and how many
    /// files were left out.
    pub fn once(mut inputs: Vec<Input>, done: Checkpoint) -> (Plan, usize) {
        let all = inputs.len();
        inputs.retain(|input| !matches!(input, Input::File(path) if done.is_done(path)));
        let skipped = all - inputs.len();
        (Plan::Once { inputs, done }, skipped)
    }

    /// Records every file of a run with a checkpoint as done, for `learn`, whose files count as done only once
    /// what was learned from all of them is stored.
    pub fn all_done(&mut self) -> Result<()> {
        match self {
            Plan::Once { inputs, done } => {
                let files: Vec<&Path> = inputs
                    .iter()
                    .filter_map(|input| match input {
                        Input::File(path) => Some(path.as_path()),
                        _ => None,
                    })
                    .collect();
                done.record_all(&files)?;
                done.sync()
            }
            Plan::All(_) | Plan::Follow { .. } => Ok(()),
        }
    }

    /// The inputs known before the run starts (none when following): what a progress bar measures.
    pub fn inputs(&self) -> &[Input] {
        match self {
            Plan::All(inputs) | Plan::Once { inputs, .. } => inputs,
            Plan::Follow { .. } => &[],
        }
    }

    /// Hands the inputs to `work` as the plan says, until they are all read or until `stop` says so (it is asked
    /// before each look and while following waits between looks; `work` itself ends early when it says so, and a
    /// file it did not read to its end is not recorded). While following waits between
    /// looks, `work` is given [`Step::Wait`] every [`STOP_CHECK`], for the caller's timed work (`score --learn`
    /// saving). An error from `work` or the checkpoint ends the run; the file it came from is not recorded as done.
    pub fn run(&mut self, stop: &dyn Fn() -> bool, work: &mut dyn FnMut(Step) -> Result<()>) -> Result<()> {
        let outcome = self.pass(stop, work);
        let saved = match self {
            Plan::Once { done, .. } | Plan::Follow { done, .. } => done.sync(),
            Plan::All(_) => Ok(()),
        };
        outcome.and(saved)
    }

    fn pass(&mut self, stop: &dyn Fn() -> bool, work: &mut dyn FnMut(Step) -> Result<()>) -> Result<()> {
        match self {
            Plan::All(inputs) => work(Step::Read(inputs, &mut |_| Ok(()))),
            Plan::Once { inputs, done } => read_and_record(inputs, done, work),
            Plan::Follow { watch, done } => loop {
                if stop() {
                    return Ok(());
                }
                let inputs: Vec<Input> = watch.look(done).into_iter().map(Input::File).collect();
                if !inputs.is_empty() {
                    read_and_record(&inputs, done, work)?;
                }
                done.sync()?;
                let next = Instant::now() + watch.interval;
                while let Some(left) = next.checked_duration_since(Instant::now()).filter(|left| !left.is_zero()) {
                    if stop() {
                        return Ok(());
                    }
                    work(Step::Wait)?;
                    std::thread::sleep(left.min(STOP_CHECK));
                }
            },
        }
    }
}

/// Hands `inputs` to `work` in one go, and records each file as `work` says it has ended (all that came of
/// it written out). A file that a stop cut short never ends, so it is read again next time. A part of a tree
/// that could not be listed is reported by the reader, and not recorded, so that it is tried again.
fn read_and_record(inputs: &[Input], done: &mut Checkpoint, work: &mut dyn FnMut(Step) -> Result<()>) -> Result<()> {
    work(Step::Read(inputs, &mut |index| match &inputs[index] {
        Input::File(path) => done.record(path),
        _ => Ok(()),
    }))
}

/// What [`Plan::run`] asks of its caller.
pub enum Step<'a> {
    /// Read these inputs, writing out all that comes of them, and call the function with each input's index
    /// once all that came of it is written out.
    Read(&'a [Input], &'a mut dyn FnMut(usize) -> Result<()>),
    /// Nothing to read yet: a turn for timed work.
    Wait,
}

/// The trees being followed, and what the last look found in them.
pub struct Watch {
    roots: Vec<PathBuf>,
    interval: Duration,
    /// Every directory seen at the last look, with what its listing found.
    dirs: HashMap<PathBuf, Listing>,
    /// Files seen and not yet taken, with their size and time at the last look.
    waiting: BTreeMap<PathBuf, Stamp>,
    /// Places whose problem has been reported, so that a look every few seconds does not repeat it.
    told: HashSet<PathBuf>,
}

struct Listing {
    modified: SystemTime,
    /// Whether the directory had not changed for [`SETTLE`] when it was listed: only then is it not listed again.
    settled: bool,
    subdirs: Vec<PathBuf>,
}

/// What a look at a file saw: when its size and time stay the same for an interval, it is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: SystemTime,
}

/// What one look gathers while it walks the trees.
#[derive(Default)]
struct Walk {
    dirs: HashMap<PathBuf, Listing>,
    /// Directories by device and inode, so that a symbolic link loop is walked once.
    visited: HashSet<(u64, u64)>,
    found: Vec<PathBuf>,
    problems: Vec<(PathBuf, String)>,
}

impl Watch {
    /// Follows the directories `roots`; each must be a directory.
    pub fn new(roots: &[PathBuf], interval: Duration) -> Result<Watch> {
        if roots.is_empty() {
            bail!("--follow watches directories: name at least one DIR");
        }
        for root in roots {
            let meta = fs::metadata(root).with_context(|| format!("cannot follow {}", root.display()))?;
            if !meta.is_dir() {
                bail!("cannot follow {}: --follow watches directories, and this is not one", root.display());
            }
        }
        Ok(Watch {
            roots: roots.to_vec(),
            interval,
            dirs: HashMap::new(),
            waiting: BTreeMap::new(),
            told: HashSet::new(),
        })
    }

    /// Looks at the trees once: gives the files now complete and not done, in path order.
    fn look(&mut self, done: &Checkpoint) -> Vec<PathBuf> {
        let now = SystemTime::now();
        let mut walk = Walk::default();
        for root in &self.roots {
            visit(root, true, now, &self.dirs, done, &mut walk);
        }
        self.dirs = walk.dirs;
        for (path, why) in walk.problems {
            if self.told.insert(path.clone()) {
                report::say(format_args!("{}: {why}; looking again every {:?}", path.display(), self.interval));
            }
        }
        let mut ready = BTreeSet::new();
        for (path, before) in std::mem::take(&mut self.waiting) {
            match stamp(&path) {
                Some(stamp) if stamp == before => {
                    ready.insert(path);
                }
                Some(stamp) => {
                    self.waiting.insert(path, stamp);
                }
                // Renamed or removed while it waited.
                None => {}
            }
        }
        for path in walk.found {
            if ready.contains(&path) || self.waiting.contains_key(&path) {
                continue;
            }
            let Some(stamp) = stamp(&path) else { continue };
            let quiet = now.duration_since(stamp.modified).is_ok_and(|age| age >= self.interval);
            if quiet {
                ready.insert(path);
            } else {
                self.waiting.insert(path, stamp);
            }
        }
        ready.into_iter().collect()
    }
}

/// Walks `dir` (a watched `root`, or a directory under one): lists it again unless it is unchanged since a
/// settled listing in `before`, and goes down into its subdirectories. Files not `done` are gathered in
/// `walk.found`.
fn visit(
    dir: &Path,
    root: bool,
    now: SystemTime,
    before: &HashMap<PathBuf, Listing>,
    done: &Checkpoint,
    walk: &mut Walk,
) {
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(err) => return trouble(walk, dir, root, "cannot look at directory", err),
    };
    if !walk.visited.insert((meta.dev(), meta.ino())) {
        return;
    }
    let Ok(modified) = meta.modified() else {
        return walk.problems.push((dir.to_path_buf(), "the file system gives no modification times".to_string()));
    };
    let subdirs = match before.get(dir) {
        Some(listing) if listing.settled && listing.modified == modified => listing.subdirs.clone(),
        _ => match list(dir, done, &mut walk.found) {
            Ok(subdirs) => subdirs,
            Err(err) => return trouble(walk, dir, root, "cannot list directory", err),
        },
    };
    let settled = now.duration_since(modified).is_ok_and(|age| age >= SETTLE);
    walk.dirs.insert(dir.to_path_buf(), Listing { modified, settled, subdirs: subdirs.clone() });
    for sub in subdirs {
        visit(&sub, false, now, before, done, walk);
    }
}

/// Notes that `dir` could not be looked at, unless it is a subdirectory that is gone: removed since its parent
/// was listed (by a cleaner, or `aws s3 sync --delete`), it is no longer followed, and that is no problem. A
/// watched root that is gone is one.
fn trouble(walk: &mut Walk, dir: &Path, root: bool, what: &str, err: std::io::Error) {
    if root || err.kind() != std::io::ErrorKind::NotFound {
        walk.problems.push((dir.to_path_buf(), format!("{what}: {err}")));
    }
}

/// Lists `dir`: its files that could be CloudTrail (not a download's temporary name) and are not `done` go
/// into `found` (a first look at a tree of a million done files holds none of their paths), and its
/// subdirectories are returned, in name order.
fn list(dir: &Path, done: &Checkpoint, found: &mut Vec<PathBuf>) -> std::io::Result<Vec<PathBuf>> {
    let mut entries = fs::read_dir(dir)?.collect::<std::io::Result<Vec<_>>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    let mut subdirs = Vec::new();
    for entry in entries {
        let path = entry.path();
        // The type from the listing costs nothing; a symbolic link is followed to what it names.
        let (is_dir, is_file) = match entry.file_type() {
            Ok(kind) if kind.is_symlink() => fs::metadata(&path).map_or((false, false), |m| (m.is_dir(), m.is_file())),
            Ok(kind) => (kind.is_dir(), kind.is_file()),
            Err(_) => continue,
        };
        if is_dir {
            subdirs.push(path);
        } else if is_file && !temporary(&entry.file_name().to_string_lossy()) && !done.is_done(&path) {
            found.push(path);
        }
    }
    Ok(subdirs)
}

/// Whether `name` is one that downloaders write to before renaming the file to its real name.
fn temporary(name: &str) -> bool {
    const SUFFIXES: [&str; 7] = [".tmp", ".temp", ".part", ".partial", ".crdownload", ".download", "~"];
    if name.starts_with('.') || SUFFIXES.iter().any(|suffix| name.ends_with(suffix)) {
        return true;
    }
    // s3transfer downloads to the real name plus `.` and 8 random hex digits, then renames.
    match name.rsplit_once('.') {
        Some((stem, last)) => stem.contains('.') && last.len() == 8 && last.bytes().all(|b| b.is_ascii_hexdigit()),
        None => false,
    }
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = fs::metadata(path).ok()?;
    Some(Stamp { len: meta.len(), modified: meta.modified().ok()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_names_are_not_taken() {
        for name in [
            "x.json.gz.1a2B3c4D",
            ".x.json.gz.Xa81kq",
            "x.json.gz.tmp",
            "x.json.part",
            "x.json.gz.partial",
            "x.json~",
            "x.json.crdownload",
        ] {
            assert!(temporary(name), "{name}");
        }
        for name in [
            "123456789012_CloudTrail_us-east-1_20261102T1005Z_AbCdEfGh12345678.json.gz",
            "records.ndjson",
            "cloudtrail.20261102",
            "trail",
        ] {
            assert!(!temporary(name), "{name}");
        }
    }

    fn set_modified(path: &Path, ago: Duration) {
        let file = fs::File::options().write(true).open(path).unwrap();
        file.set_modified(SystemTime::now() - ago).unwrap();
    }

    #[test]
    fn a_file_is_taken_once_it_stops_changing_and_once_only() {
        let dir = tempfile::tempdir().unwrap();
        let interval = Duration::from_secs(60);
        let mut watch = Watch::new(&[dir.path().to_path_buf()], interval).unwrap();
        let mut done = Checkpoint::memory();
        let old = dir.path().join("b/old.json");
        fs::create_dir(dir.path().join("b")).unwrap();
        fs::write(&old, "{}").unwrap();
        set_modified(&old, 2 * interval);
        let new = dir.path().join("a.json");
        fs::write(&new, "{").unwrap();
        fs::write(dir.path().join("a.json.0123abcd"), "{").unwrap();
        assert_eq!(watch.look(&done), vec![old.clone()], "quiet for an interval already: taken at first sight");
        done.record(&old).unwrap();
        fs::write(&new, "{}").unwrap();
        assert_eq!(watch.look(&done), Vec::<PathBuf>::new(), "it grew since the last look");
        assert_eq!(watch.look(&done), vec![new.clone()], "unchanged between two looks");
        done.record(&new).unwrap();
        assert_eq!(watch.look(&done), Vec::<PathBuf>::new(), "nothing is taken twice");
    }

    #[test]
    fn files_in_an_unchanged_directory_are_not_looked_at_again() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("2026/11/02");
        fs::create_dir_all(&sub).unwrap();
        let file = sub.join("a.json");
        fs::write(&file, "{}").unwrap();
        set_modified(&file, Duration::from_secs(600));
        let settled = fs::File::open(&sub).unwrap();
        settled.set_modified(SystemTime::now() - Duration::from_secs(600)).unwrap();
        let mut watch = Watch::new(&[dir.path().to_path_buf()], Duration::from_secs(1)).unwrap();
        // Not recorded as done: only a fresh listing would find it again.
        assert_eq!(watch.look(&Checkpoint::memory()), vec![file.clone()]);
        assert_eq!(watch.look(&Checkpoint::memory()), Vec::<PathBuf>::new(), "the settled directory was not listed");
        let later = sub.join("b.json");
        fs::write(&later, "{}").unwrap();
        set_modified(&later, Duration::from_secs(600));
        assert_eq!(watch.look(&Checkpoint::memory()), vec![file, later], "a new file changes the directory");
    }

    #[test]
    fn a_directory_removed_since_its_parent_was_listed_is_no_problem_but_a_root_removed_is() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("trail");
        let (parent, sub) = (root.join("2026/11"), root.join("2026/11/01"));
        fs::create_dir_all(&sub).unwrap();
        let listed = SystemTime::now() - Duration::from_secs(600);
        fs::File::open(&parent).unwrap().set_modified(listed).unwrap();
        let mut watch = Watch::new(std::slice::from_ref(&root), Duration::from_secs(1)).unwrap();
        watch.look(&Checkpoint::memory());
        // Removed between the parent's look and its own: the parent's time is the one its listing saw.
        fs::remove_dir(&sub).unwrap();
        fs::File::open(&parent).unwrap().set_modified(listed).unwrap();
        watch.look(&Checkpoint::memory());
        assert!(watch.told.is_empty(), "{:?}", watch.told);
        fs::remove_dir_all(&root).unwrap();
        watch.look(&Checkpoint::memory());
        assert_eq!(watch.told, HashSet::from([root]));
    }

    #[test]
    fn a_stop_ends_following_and_a_file_not_read_to_its_end_is_not_recorded() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.json", "b.json", "c.json"] {
            fs::write(dir.path().join(name), "{}").unwrap();
            set_modified(&dir.path().join(name), Duration::from_secs(7200));
        }
        let started = Instant::now();
        // The reader ends two of the three files when a stop comes; then it ends all three, and a stop is asked
        // at the third turn between looks.
        for (ending, stop_at_wait) in [(2, 0), (3, 3)] {
            // Looks an hour apart: only a stop asked while waiting ends the run in time.
            let watch = Watch::new(&[dir.path().to_path_buf()], Duration::from_secs(3600)).unwrap();
            let mut plan = Plan::Follow { watch, done: Checkpoint::memory() };
            let (reads, waits) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
            let mut work = |step: Step| {
                match step {
                    Step::Read(inputs, ended) => {
                        assert_eq!(inputs.len(), 3, "the files of one look are read in one go");
                        reads.set(reads.get() + 1);
                        (0..ending).try_for_each(ended)?;
                    }
                    Step::Wait => waits.set(waits.get() + 1),
                }
                Ok(())
            };
            // The clock only keeps a broken stop from hanging the test.
            let stop =
                || (reads.get() == 1 && waits.get() == stop_at_wait) || started.elapsed() > Duration::from_secs(60);
            plan.run(&stop, &mut work).unwrap();
            assert_eq!((reads.get(), waits.get()), (1, stop_at_wait));
            let Plan::Follow { done, .. } = plan else { unreachable!() };
            assert_eq!(done.count(), ending, "each file read to its end is recorded, not the one the stop cut short");
        }
    }

    #[test]
    fn only_directories_are_followed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("x.json");
        fs::write(&file, "{}").unwrap();
        let err = Watch::new(&[file], Duration::from_secs(1)).err().unwrap().to_string();
        assert!(err.ends_with("--follow watches directories, and this is not one"), "{err}");
    }
}
