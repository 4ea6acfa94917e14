//! The local profile snapshot: one file holding every profile. The first line names the format, its
//! version, a CRC-32 and the length of the body; the body is the JSON Lines export form. A change takes a
//! lock (`PATH.lock`), reads the file afresh, applies the change and replaces the file atomically (write a
//! temporary file, fsync, rename, fsync the folder), so two learners on one snapshot never lose each
//! other's updates and a crash leaves the old or the new snapshot, never half of one. A file that cannot be
//! read as a snapshot is an error and is never overwritten.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::ops::Range;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use foldhash::{HashMap, HashMapExt};

use super::Store;
use super::exchange;
use crate::profile::{self, Profiles};

const MAGIC: &str = "keywatcher profiles";
const VERSION: u32 = 1;

/// A snapshot file; its profiles are read once for look-ups, again when another process has replaced the file
/// since (a `score --learn` that runs for days then sees a key learned meanwhile), and afresh under the lock to
/// change it.
pub struct Snapshot {
    path: PathBuf,
    /// Whether missing folders above the file are created (for the default place, not for a path given).
    create_dirs: bool,
    cached: Option<Profiles>,
    /// For look-ups only: the checked body and where each key's lines are, so that only the profiles of
    /// the keys a run meets are decoded. Scoring one record against a snapshot of 10,000 keys took 146 ms
    /// over an empty one when every profile was decoded (scripts/bench.sh).
    index: Option<Index>,
    /// The file `cached` and `index` were read from, to tell when it has been replaced.
    read_from: Option<Stamp>,
}

/// Which file a path held when it was read: a replace (rename) gives a new inode, and a write a new time.
type Stamp = (u64, u64, Option<SystemTime>);

fn stamp(path: &Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|meta| (meta.ino(), meta.len(), meta.modified().ok()))
}

/// A snapshot's body and, for each access key, the byte ranges of its lines in it.
pub(crate) struct Index {
    body: String,
    lines: HashMap<String, Vec<Range<usize>>>,
}

impl Index {
    /// Finds each key's lines in `body`, decoding only their `accessKeyId`; or the (0-based) line that is
    /// not a profile, and why.
    pub(crate) fn of(body: String) -> Result<Index, (usize, String)> {
        let mut lines: HashMap<String, Vec<Range<usize>>> = HashMap::new();
        let mut start = 0;
        for (n, line) in body.split_inclusive('\n').enumerate() {
            let range = start..start + line.len();
            start = range.end;
            if line.trim().is_empty() {
                continue;
            }
            let key = exchange::key_of(line).map_err(|why| (n, why))?;
            lines.entry(key.into_owned()).or_default().push(range);
        }
        Ok(Index { body, lines })
    }

    /// The keys that have lines.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &str> {
        self.lines.keys().map(String::as_str)
    }

    /// The profiles of `keys` (those that have lines), decoded from their lines only; or the (0-based) line
    /// that is not a profile, and why.
    pub(crate) fn load(&self, keys: &[&str]) -> Result<Profiles, (usize, String)> {
        let mut found = Profiles::new();
        for range in keys.iter().filter_map(|key| self.lines.get(*key)).flatten() {
            let line = || self.body[..range.start].matches('\n').count();
            let profiles = exchange::parse_jsonl(&self.body[range.clone()]).map_err(|(_, why)| (line(), why))?;
            profile::merge_all(&mut found, profiles);
        }
        Ok(found)
    }
}

impl Snapshot {
    /// A snapshot at `path`; a symbolic link is followed, so that the file it points to is the one replaced
    /// (and locked) and the link stays.
    pub fn new(path: PathBuf, create_dirs: bool) -> Snapshot {
        let path = match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => match fs::canonicalize(&path) {
                Ok(target) => target,
                // A link to a snapshot not written yet: the file is created where it points.
                Err(_) => fs::read_link(&path).map(|target| parent(&path).join(target)).unwrap_or(path),
            },
            _ => path,
        };
        Snapshot { path, create_dirs, cached: None, index: None, read_from: None }
    }

    fn cached(&mut self) -> Result<&Profiles> {
        if self.cached.is_none() {
            self.read_from = stamp(&self.path);
            self.cached = Some(read(&self.path)?);
        }
        Ok(self.cached.get_or_insert_with(Profiles::new))
    }

    fn index(&mut self) -> Result<&Index> {
        if self.index.is_none() {
            self.read_from = stamp(&self.path);
            let body = read_body(&self.path)?;
            self.index = Some(Index::of(body).map_err(|(line, why)| damaged(&self.path, line, &why))?);
        }
        Ok(self.index.get_or_insert_with(|| Index { body: String::new(), lines: HashMap::new() }))
    }

    /// Opens (creating it if need be) and returns the lock file, after checking that the snapshot's folder
    /// exists (or creating it, for the default place) and that the snapshot is not read-only.
    fn lock_file(&self) -> Result<File> {
        let dir = parent(&self.path);
        if self.create_dirs {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        } else if !dir.is_dir() {
            bail!("cannot keep profiles in {}: the folder {} does not exist", self.path.display(), dir.display());
        }
        if fs::metadata(&self.path).is_ok_and(|meta| meta.permissions().readonly()) {
            bail!("profile snapshot {} is read-only; it was left as it is", self.path.display());
        }
        let lock_path = with_suffix(&self.path, ".lock");
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .with_context(|| format!("cannot open lock file {}", lock_path.display()))
    }

    /// Applies `change` to the current contents under the lock and writes the result.
    fn update<R>(&mut self, change: impl FnOnce(&mut Profiles) -> R) -> Result<R> {
        let lock = self.lock_file()?;
        lock.lock().with_context(|| format!("cannot lock {}", with_suffix(&self.path, ".lock").display()))?;
        remove_stale_temporaries(&self.path);
        let mut profiles = read(&self.path)?;
        let result = change(&mut profiles);
        write(&self.path, &profiles)
            .with_context(|| format!("cannot write profile snapshot {}", self.path.display()))?;
        self.cached = Some(profiles);
        self.index = None;
        self.read_from = stamp(&self.path);
        drop(lock);
        Ok(result)
    }
}

impl Store for Snapshot {
    fn location(&self) -> String {
        format!("snapshot {}", self.path.display())
    }

    fn load(&mut self, keys: &[&str]) -> Result<Profiles> {
        if stamp(&self.path) != self.read_from {
            self.cached = None;
            self.index = None;
        }
        if let Some(all) = &self.cached {
            return Ok(keys.iter().filter_map(|key| all.get(*key).map(|p| (key.to_string(), p.clone()))).collect());
        }
        let path = self.path.clone();
        self.index()?.load(keys).map_err(|(line, why)| damaged(&path, line, &why))
    }

    fn all(&mut self) -> Result<Profiles> {
        Ok(self.cached()?.clone())
    }

    fn is_empty(&mut self) -> Result<bool> {
        match &self.cached {
            Some(all) => Ok(all.is_empty()),
            None => Ok(self.index()?.lines.is_empty()),
        }
    }

    fn prepare_write(&mut self) -> Result<()> {
        self.cached()?;
        self.lock_file()?;
        // The replace writes a new file beside the snapshot: try that now, not after hours of input.
        let probe = with_suffix(&self.path, &format!(".tmp-{}", std::process::id()));
        create_new(&probe).with_context(|| format!("cannot write in the folder of {}", self.path.display()))?;
        let _ = fs::remove_file(&probe);
        Ok(())
    }

    fn file(&self) -> Option<&Path> {
        Some(&self.path)
    }

    fn merge(&mut self, delta: Profiles) -> Result<()> {
        self.update(|profiles| profile::merge_all(profiles, delta))
    }

    fn replace(&mut self, new: Profiles) -> Result<()> {
        self.update(|profiles| *profiles = new)
    }

    fn delete(&mut self, keys: Option<&[String]>) -> Result<usize> {
        if !self.path.exists() {
            return Ok(0);
        }
        self.update(|profiles| match keys {
            None => std::mem::take(profiles).len(),
            Some(keys) => keys.iter().filter(|key| profiles.remove(key.as_str()).is_some()).count(),
        })
    }
}

/// Reads a snapshot; a missing file is an empty one.
fn read(path: &Path) -> Result<Profiles> {
    let body = read_body(path)?;
    exchange::parse_jsonl(&body).map_err(|(line, why)| damaged(path, line, &why))
}

/// Reads a snapshot's body (JSON Lines) after checking its header, length and checksum; a missing file is
/// an empty one.
fn read_body(path: &Path) -> Result<String> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(String::new()),
        Err(err) => return Err(err).with_context(|| format!("cannot read profile snapshot {}", path.display())),
    };
    checked_body(&bytes).map(str::to_string).map_err(|why| unreadable(path, &why))
}

fn unreadable(path: &Path, why: &str) -> anyhow::Error {
    anyhow::anyhow!(
        "profile snapshot {} cannot be read: {why}. It was left as it is; restore it from a backup or move it \
         away, then learn again",
        path.display()
    )
}

/// The error for the (0-based) line of the body that is not a profile.
fn damaged(path: &Path, line: usize, why: &str) -> anyhow::Error {
    unreadable(path, &format!("line {} of its body: {why}", line + 1))
}

/// A snapshot file's body, once its header, length, checksum and encoding are checked; or why it is not one.
pub(crate) fn checked_body(bytes: &[u8]) -> Result<&str, String> {
    if bytes.is_empty() {
        // A file created empty (`touch`) to say where profiles go.
        return Ok("");
    }
    let newline = memchr::memchr(b'\n', bytes).ok_or("it is not a keywatcher snapshot (no header line)")?;
    let header = std::str::from_utf8(&bytes[..newline]).map_err(|_| "it is not a keywatcher snapshot")?;
    let body = &bytes[newline + 1..];
    let fields = header.strip_prefix(MAGIC).ok_or("it is not a keywatcher snapshot")?;
    let fields: Vec<&str> = fields.split_whitespace().collect();
    let [version, crc, len] = fields[..] else {
        return Err("its header line is damaged".into());
    };
    let version: u32 = version.strip_prefix('v').and_then(|v| v.parse().ok()).ok_or("its header line is damaged")?;
    if version != VERSION {
        return Err(format!(
            "it is format v{version}, written by another version of keywatcher (this one reads v{VERSION})"
        ));
    }
    let len: usize = len.parse().map_err(|_| "its header line is damaged")?;
    if body.len() != len {
        return Err(format!("it is {} bytes long where its header says {len} (truncated or appended to)", body.len()));
    }
    let crc = u32::from_str_radix(crc, 16).map_err(|_| "its header line is damaged")?;
    if crc32fast::hash(body) != crc {
        return Err("its checksum does not match (the file was damaged)".into());
    }
    std::str::from_utf8(body).map_err(|_| "its body is not UTF-8".to_string())
}

fn encode(profiles: &Profiles) -> Vec<u8> {
    let mut body = Vec::new();
    exchange::write_jsonl(&mut body, profiles.values()).expect("writing to a Vec cannot fail");
    frame(&body)
}

/// `body` under the header line that makes it a snapshot file: format, version, checksum, length.
pub(crate) fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = format!("{MAGIC} v{VERSION} {:08x} {}\n", crc32fast::hash(body), body.len()).into_bytes();
    out.extend_from_slice(body);
    out
}

/// Replaces the snapshot atomically. A new file is readable by its owner only (it names keys, users and
/// addresses); a replaced one keeps its permissions.
fn write(path: &Path, profiles: &Profiles) -> io::Result<()> {
    let tmp = with_suffix(path, &format!(".tmp-{}", std::process::id()));
    let permissions = fs::metadata(path).map(|meta| meta.permissions()).ok();
    let result = (|| {
        let mut file = create_new(&tmp)?;
        if let Some(permissions) = permissions {
            file.set_permissions(permissions)?;
        }
        file.write_all(&encode(profiles))?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(parent(path))?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Removes the temporary files that killed runs left beside the snapshot. Called under the lock: a run
/// writes its temporary file only while it holds the lock, so any there now belongs to a run that died.
fn remove_stale_temporaries(path: &Path) {
    let Some(name) = path.file_name().map(|name| format!("{}.tmp-", name.to_string_lossy())) else { return };
    let Ok(entries) = fs::read_dir(parent(path)) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Creates `path` afresh, readable by its owner only. Whatever was left there (by a run that crashed with
/// the same process id, or a link planted to make it write elsewhere) is removed first, never written through.
fn create_new(path: &Path) -> io::Result<File> {
    let _ = fs::remove_file(path);
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Profile, Seen};

    fn decode(bytes: &[u8]) -> Result<Profiles, String> {
        exchange::parse_jsonl(checked_body(bytes)?).map_err(|(_, why)| why)
    }

    #[test]
    fn look_ups_decode_only_the_keys_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles");
        let mut two = sample();
        let mut other = Profile::new("AKIAEXAMPLE2");
        other.user_name = "other".into();
        two.insert(other.access_key_id.clone(), other);
        fs::write(&path, encode(&two)).unwrap();
        let mut store = Snapshot::new(path.clone(), false);
        assert!(!store.is_empty().unwrap());
        assert_eq!(store.load(&["AKIAEXAMPLE1", "AKIANOTTHERE"]).unwrap(), sample());
        assert!(store.cached.is_none(), "a look-up decodes no other profile");
        // A line that is no profile is named by its line number when it is looked up.
        let body = "{\"accessKeyId\":\"AKIAEXAMPLE1\"}\n{\"accessKeyId\":\"AKIAEXAMPLE2\",\"ips\":7}\n";
        let header = format!("{MAGIC} v{VERSION} {:08x} {}\n", crc32fast::hash(body.as_bytes()), body.len());
        fs::write(&path, header + body).unwrap();
        let mut store = Snapshot::new(path, false);
        assert!(store.load(&["AKIAEXAMPLE1"]).is_ok());
        let err = store.load(&["AKIAEXAMPLE2"]).unwrap_err().to_string();
        assert!(err.contains("line 2 of its body"), "{err}");
    }

    #[test]
    fn a_look_up_sees_what_another_process_saved_since() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles");
        let mut scorer = Snapshot::new(path.clone(), false);
        scorer.prepare_write().unwrap();
        assert!(scorer.load(&["AKIAEXAMPLE1"]).unwrap().is_empty());
        Snapshot::new(path.clone(), false).merge(sample()).unwrap();
        assert_eq!(scorer.load(&["AKIAEXAMPLE1"]).unwrap(), sample(), "the file was created since");
        let other = Profile::new("AKIAEXAMPLE2");
        Snapshot::new(path, false).merge(Profiles::from([(other.access_key_id.clone(), other.clone())])).unwrap();
        assert_eq!(scorer.load(&["AKIAEXAMPLE2"]).unwrap()["AKIAEXAMPLE2"], other, "the file was replaced since");
    }

    fn sample() -> Profiles {
        let mut p = Profile::new("AKIAEXAMPLE1");
        p.user_name = "ci".into();
        p.ips.insert("198.51.100.1".into(), Seen::at("2026-11-02T10:00:00Z".parse().unwrap()));
        Profiles::from([(p.access_key_id.clone(), p)])
    }

    #[test]
    fn a_snapshot_reads_back_what_was_written() {
        assert_eq!(decode(&encode(&sample())), Ok(sample()));
        assert_eq!(decode(&encode(&Profiles::new())), Ok(Profiles::new()));
    }

    #[test]
    fn damage_is_detected() {
        let good = encode(&sample());
        let mut flipped = good.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
        assert!(decode(&good[..good.len() - 5]).unwrap_err().contains("truncated"));
        assert!(decode(b"{\"Records\":[]}\n").unwrap_err().contains("not a keywatcher snapshot"));
        let newer = String::from_utf8(good.clone()).unwrap().replacen(" v1 ", " v9 ", 1);
        assert!(decode(newer.as_bytes()).unwrap_err().contains("v9"));
    }

    #[test]
    fn a_damaged_snapshot_is_refused_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles");
        fs::write(&path, b"not a snapshot\n").unwrap();
        let mut store = Snapshot::new(path.clone(), true);
        let err = store.merge(sample()).unwrap_err().to_string();
        assert!(err.contains("left as it is"), "{err}");
        assert_eq!(fs::read(&path).unwrap(), b"not a snapshot\n");
    }

    #[test]
    fn permissions_and_links_survive_a_replace() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("profiles");
        Snapshot::new(path.clone(), true).merge(sample()).unwrap();
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        Snapshot::new(link.clone(), true).merge(sample()).unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o640);
        assert_eq!(Snapshot::new(path, true).all().unwrap()["AKIAEXAMPLE1"].ips["198.51.100.1"].count, 2);
    }

    #[test]
    fn temporary_files_never_write_through_a_planted_link() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("profiles");
        let planted = with_suffix(&path, &format!(".tmp-{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        let mut store = Snapshot::new(path.clone(), false);
        store.prepare_write().unwrap();
        std::os::unix::fs::symlink(&victim, &planted).unwrap();
        store.merge(sample()).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!planted.exists());
    }

    #[test]
    fn merges_accumulate_under_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/profiles");
        Snapshot::new(path.clone(), true).merge(sample()).unwrap();
        Snapshot::new(path.clone(), true).merge(sample()).unwrap();
        let all = Snapshot::new(path, true).all().unwrap();
        assert_eq!(all["AKIAEXAMPLE1"].ips["198.51.100.1"].count, 2);
    }
}
