//! Where profiles live. [`Store`] is what every command asks of a place that keeps profiles: load some
//! keys, list them all, merge a learned delta in, replace, delete. [`open`] turns a `--store` value into
//! one: a path (or `file:PATH`) for the local snapshot (`snapshot.rs`), the default being
//! `$XDG_STATE_HOME/keywatcher/profiles`, or a `redis://`, `rediss://`, `redis+cluster://` or `rediss+cluster://`
//! URL for Redis (`redis.rs`). `exchange.rs` and `legacy.rs` hold the portable JSON Lines form and the old
//! script's formats. Only this folder reads or writes the stored profiles; `profile export -o` and `profile
//! import` move their JSON Lines form in and out of files.

pub(crate) mod exchange;
pub(crate) mod legacy;
mod redis;
pub(crate) mod snapshot;

use std::path::PathBuf;

use anyhow::{Result, bail};

use crate::profile::Profiles;

use self::redis::Redis;
pub use exchange::{parse_import, write_jsonl};
use snapshot::Snapshot;

/// The URL schemes of a Redis store.
const REDIS_SCHEMES: [&str; 4] = ["redis", "rediss", "redis+cluster", "rediss+cluster"];

/// A place that keeps profiles.
pub trait Store {
    /// Where the profiles are, as messages name it (never with a password).
    fn location(&self) -> String;
    /// The profiles of these keys, where there are any.
    fn load(&mut self, keys: &[&str]) -> Result<Profiles>;
    /// Asks for the profiles of these keys, which the next [`Store::load`] is expected to want, without waiting
    /// for them: a store across a network then answers while the caller works. A failure to load them shows at
    /// the load that wants them. Only called on a store that [`Store::loads_ahead`].
    fn prefetch(&mut self, _keys: &[&str]) -> Result<()> {
        Ok(())
    }
    /// Whether [`Store::prefetch`] does anything: a local store has nothing to gain, so its caller need not work
    /// out which keys to ask for.
    fn loads_ahead(&self) -> bool {
        false
    }
    /// Every profile.
    fn all(&mut self) -> Result<Profiles>;
    /// Whether no profile is stored.
    fn is_empty(&mut self) -> Result<bool>;
    /// Checks, before a long run, that the store can be read and then written.
    fn prepare_write(&mut self) -> Result<()>;
    /// The local file that holds the profiles, for a store that is one.
    fn file(&self) -> Option<&std::path::Path>;
    /// Merges `delta` into the stored profiles (union, add, min, max), so that concurrent learners lose
    /// nothing.
    fn merge(&mut self, delta: Profiles) -> Result<()>;
    /// Replaces every stored profile with `profiles`.
    fn replace(&mut self, profiles: Profiles) -> Result<()>;
    /// Deletes the profiles of `keys`, or all of them; returns how many were deleted.
    fn delete(&mut self, keys: Option<&[String]>) -> Result<usize>;
}

/// Opens the store that `spec` names (`--store` or `KEYWATCHER_STORE`); `None` or empty is the default
/// snapshot. Messages name only the scheme of a URL, never the rest (it may hold a password).
pub fn open(spec: Option<&str>) -> Result<Box<dyn Store>> {
    let Some(spec) = spec.map(str::trim).filter(|spec| !spec.is_empty()) else {
        return Ok(Box::new(Snapshot::new(default_path()?, true)));
    };
    if let Some(path) = spec.strip_prefix("file:") {
        anyhow::ensure!(!path.is_empty(), "--store file: needs a path after it (file:PATH)");
        return Ok(Box::new(Snapshot::new(PathBuf::from(path), false)));
    }
    if let Some((scheme, rest)) = spec.split_once(':')
        && REDIS_SCHEMES.contains(&scheme)
        && !rest.starts_with("//")
    {
        bail!("--store {scheme}:…: a Redis store is a URL that starts with {scheme}:// (such as {scheme}://host:port)");
    }
    if let Some((scheme, _)) = spec.split_once("://")
        && !scheme.is_empty()
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    {
        match scheme {
            _ if REDIS_SCHEMES.contains(&scheme) => return Ok(Box::new(Redis::new(spec)?)),
            _ => bail!(
                "--store {scheme}://…: profiles are kept in a local snapshot file (a path, or file:PATH), in Redis \
                 (redis://, rediss://) or in a Redis Cluster (redis+cluster://, rediss+cluster://); {scheme}:// is \
                 not a store keywatcher can use"
            ),
        }
    }
    Ok(Box::new(Snapshot::new(PathBuf::from(spec), false)))
}

/// The old script's profiles, read from its keys in the Redis that `spec` names (`profile import
/// --from-old-redis`), and that Redis as the store to import them into, merging by content so that a second import
/// of the same keys adds nothing; the old keys are left as they are.
pub fn old_redis(spec: Option<&str>) -> Result<(Box<dyn Store>, Profiles)> {
    match spec.map(str::trim) {
        Some(spec) if spec.split_once("://").is_some_and(|(scheme, _)| REDIS_SCHEMES.contains(&scheme)) => {
            let mut redis = Redis::new(spec)?;
            let profiles = redis.old_layout()?;
            Ok((Box::new(redis.merging_by_content()), profiles))
        }
        _ => bail!("--from-old-redis reads the old script's keys from the Redis of --store: give --store redis://…"),
    }
}

/// `$XDG_STATE_HOME/keywatcher/profiles`, else `~/.local/state/keywatcher/profiles`.
pub fn default_path() -> Result<PathBuf> {
    let state = match std::env::var_os("XDG_STATE_HOME").filter(|dir| !dir.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|dir| !dir.is_empty()) {
            Some(home) => PathBuf::from(home).join(".local/state"),
            None => {
                bail!("cannot find where to keep profiles: neither XDG_STATE_HOME nor HOME is set; use --store PATH")
            }
        },
    };
    Ok(state.join("keywatcher").join("profiles"))
}
