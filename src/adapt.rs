//! What a `score` run learns from its calls as it goes (all but `--frozen` runs). Each call it is given is
//! learned at once into the profiles the scorer reads, so the calls after it are scored against what it
//! taught: a new region is learned with its first call, and an address on probation is remembered from its
//! first call to the one that serves its span. Only with `--learn` does any of it reach the store: what was
//! learned also goes into a delta that is merged into the store (the same order-free merge as `learn`, so
//! several scorers may share one store) once `--save-every` has passed or `--save-records` calls have been
//! learned, and at the end. It never chooses what to learn: the caller gives it only the calls that were not
//! suspicious, and the calls whose address goes on probation.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::extract::Call;
use crate::learn;
use crate::profile::Profiles;
use crate::report;
use crate::store::Store;

/// What a `score` run learns in memory, and (with `--learn`) what it has not saved yet.
#[derive(Debug)]
pub struct Adaptation {
    scratch: String,
    /// With `--learn`: what to save, and when.
    saving: Option<Saving>,
}

/// What `score --learn` has learned and not yet saved, and when to save it.
#[derive(Debug)]
struct Saving {
    /// Learned since the last save.
    delta: Profiles,
    /// Calls in `delta`.
    calls: u64,
    every: Duration,
    every_calls: u64,
    /// When the last save was tried.
    tried: Instant,
    /// Whether it failed: then only `every` brings the next try, not every chunk once `every_calls` is reached.
    failed: bool,
}

impl Adaptation {
    /// Learns in memory only: the store is never written.
    pub fn in_memory() -> Adaptation {
        Adaptation { scratch: String::new(), saving: None }
    }

    /// Learns in memory and saves at least every `every`, and whenever `every_calls` calls have been learned
    /// since the last save.
    pub fn saving(every: Duration, every_calls: u64) -> Adaptation {
        let saving = Saving {
            delta: Profiles::new(),
            calls: 0,
            every,
            every_calls: every_calls.max(1),
            tried: Instant::now(),
            failed: false,
        };
        Adaptation { saving: Some(saving), ..Adaptation::in_memory() }
    }

    /// Whether what is learned is saved into the store (`--learn`).
    pub fn saves(&self) -> bool {
        self.saving.is_some()
    }

    /// Learns `call` into `known`, the profiles being scored against, and into the delta to save, if any.
    pub fn learn(&mut self, call: &Call, known: &mut Profiles) {
        learn::observe(known, &mut self.scratch, call);
        if let Some(saving) = &mut self.saving {
            learn::observe(&mut saving.delta, &mut self.scratch, call);
            saving.calls += 1;
        }
    }

    /// Puts the address of `call` on probation (`score.rs`) in `known` and in the delta to save, if any:
    /// remembered, it is not yet one of the key's addresses.
    pub fn put_on_probation(&mut self, call: &Call, known: &mut Profiles) {
        learn::put_on_probation(known, call);
        if let Some(saving) = &mut self.saving {
            learn::put_on_probation(&mut saving.delta, call);
            saving.calls += 1;
        }
    }

    /// Saves the delta if it is time to. A store that fails is named on stderr (even with `-q`) and tried
    /// again after `every`: a live run outlives a Redis restart without losing what it learned.
    pub fn save_if_due(&mut self, store: &mut dyn Store) {
        let Some(saving) = &mut self.saving else { return };
        let due = saving.tried.elapsed() >= saving.every || (saving.calls >= saving.every_calls && !saving.failed);
        if saving.calls == 0 || !due {
            return;
        }
        // A clone, so that a failed merge loses nothing; saves are minutes or many calls apart.
        match store.merge(saving.delta.clone()) {
            Ok(()) => saving.saved_now(),
            Err(err) => {
                report::say(format_args!("{err:#}; what was learned is kept, to be saved again in {:?}", saving.every));
                saving.tried = Instant::now();
                saving.failed = true;
            }
        }
    }

    /// Saves what is left, at the end of the run (nothing without `--learn`). When that fails, the error says
    /// how much was lost with it: the input is gone, so running again would not learn it again.
    pub fn save(&mut self, store: &mut dyn Store) -> Result<()> {
        let Some(saving) = self.saving.as_mut().filter(|saving| saving.calls > 0) else { return Ok(()) };
        let calls = saving.calls;
        store
            .merge(std::mem::take(&mut saving.delta))
            .with_context(|| format!("{calls} call(s) learned since the last save could not be saved"))?;
        saving.saved_now();
        Ok(())
    }
}

impl Saving {
    fn saved_now(&mut self) {
        self.delta.clear();
        self.calls = 0;
        self.tried = Instant::now();
        self.failed = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store;

    #[test]
    fn learned_calls_are_seen_at_once_and_saved_by_count() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store::open(Some(dir.path().join("profiles").to_str().unwrap())).unwrap();
        let mut known = Profiles::new();
        let mut adapt = Adaptation::saving(Duration::from_secs(3600), 2);
        adapt.learn(&Call::example(), &mut known);
        assert_eq!(known["AKIAEXAMPLE1"].events.values().map(|s| s.count).sum::<u64>(), 1, "seen at once");
        adapt.save_if_due(store.as_mut());
        assert!(store.is_empty().unwrap(), "one call of two: not yet due");
        adapt.learn(&Call::example(), &mut known);
        adapt.save_if_due(store.as_mut());
        let stored = store.load(&["AKIAEXAMPLE1"]).unwrap();
        assert_eq!(stored["AKIAEXAMPLE1"], known["AKIAEXAMPLE1"], "the store has what the scorer has");
        assert_eq!(adapt.saving.as_ref().unwrap().calls, 0, "nothing left once saved");
    }

    #[test]
    fn what_a_failed_save_held_is_saved_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("not-yet");
        let mut store = store::open(Some(folder.join("profiles").to_str().unwrap())).unwrap();
        let mut known = Profiles::new();
        let mut adapt = Adaptation::saving(Duration::ZERO, 1);
        adapt.learn(&Call::example(), &mut known);
        adapt.save_if_due(store.as_mut());
        assert_eq!(adapt.saving.as_ref().unwrap().calls, 1, "kept after the store failed");
        std::fs::create_dir(&folder).unwrap();
        adapt.save_if_due(store.as_mut());
        assert_eq!(adapt.saving.as_ref().unwrap().calls, 0);
        assert_eq!(store.load(&["AKIAEXAMPLE1"]).unwrap()["AKIAEXAMPLE1"], known["AKIAEXAMPLE1"]);
    }

    #[test]
    fn in_memory_learning_never_writes_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store::open(Some(dir.path().join("profiles").to_str().unwrap())).unwrap();
        let mut known = Profiles::new();
        let mut adapt = Adaptation::in_memory();
        adapt.learn(&Call::example(), &mut known);
        adapt.put_on_probation(&Call { ip: "203.0.113.10", ..Call::example() }, &mut known);
        assert!(known["AKIAEXAMPLE1"].probation.contains_key("203.0.113.10"), "remembered in memory");
        adapt.save_if_due(store.as_mut());
        adapt.save(store.as_mut()).unwrap();
        assert!(store.is_empty().unwrap());
    }
}
