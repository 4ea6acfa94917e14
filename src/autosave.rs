//! `score --learn`: calls learned as they are scored, and saved now and then. Each call it is given is added at
//! once to the profiles the scorer reads, so the calls after it are scored against what it taught, and to a
//! delta of what was learned since the last save. The delta is merged into the store (the same order-free
//! merge as `learn`, so several scorers may share one store) once `--save-every` has passed or `--save-records`
//! calls have been learned, and at the end. It never chooses what to learn: the caller gives it only the
//! calls that were not suspicious, and the calls whose address goes on probation.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::extract::Call;
use crate::learn;
use crate::profile::{self, Profile, Profiles, Seen};
use crate::report;
use crate::store::Store;

/// What `score --learn` has learned and not yet saved, and when to save it.
#[derive(Debug)]
pub struct Autosave {
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
    scratch: String,
}

impl Autosave {
    /// Saves at least every `every`, and whenever `every_calls` calls have been learned since the last save.
    pub fn new(every: Duration, every_calls: u64) -> Autosave {
        Autosave {
            delta: Profiles::new(),
            calls: 0,
            every,
            every_calls: every_calls.max(1),
            tried: Instant::now(),
            failed: false,
            scratch: String::new(),
        }
    }

    /// Learns `call` into `known`, the profiles being scored against, and into the delta to save.
    pub fn learn(&mut self, call: &Call, known: &mut Profiles) {
        learn::observe(known, &mut self.scratch, call);
        learn::observe(&mut self.delta, &mut self.scratch, call);
        self.calls += 1;
    }

    /// Puts the address of `call` on probation (`score.rs`) in `known` and in the delta to save: remembered
    /// across runs, it is not yet one of the key's addresses.
    pub fn put_on_probation(&mut self, call: &Call, known: &mut Profiles) {
        for profiles in [known, &mut self.delta] {
            let profile = profiles.entry(call.owner.to_string()).or_insert_with(|| Profile::new(call.owner));
            profile::add_value(&mut profile.probation, call.ip, &Seen::at(call.time));
        }
        self.calls += 1;
    }

    /// Saves the delta if it is time to. A store that fails is named on stderr (even with `-q`) and tried
    /// again after `every`: a live run outlives a Redis restart without losing what it learned.
    pub fn save_if_due(&mut self, store: &mut dyn Store) {
        let due = self.tried.elapsed() >= self.every || (self.calls >= self.every_calls && !self.failed);
        if self.calls == 0 || !due {
            return;
        }
        // A clone, so that a failed merge loses nothing; saves are minutes or many calls apart.
        match store.merge(self.delta.clone()) {
            Ok(()) => self.saved_now(),
            Err(err) => {
                report::say(format_args!("{err:#}; what was learned is kept, to be saved again in {:?}", self.every));
                self.tried = Instant::now();
                self.failed = true;
            }
        }
    }

    /// Saves what is left, at the end of the run. When that fails, the error says how much was lost with it: the
    /// input is gone, so running again would not learn it again.
    pub fn save(&mut self, store: &mut dyn Store) -> Result<()> {
        if self.calls > 0 {
            let calls = self.calls;
            store
                .merge(std::mem::take(&mut self.delta))
                .with_context(|| format!("{calls} call(s) learned since the last save could not be saved"))?;
            self.saved_now();
        }
        Ok(())
    }

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
        let mut autosave = Autosave::new(Duration::from_secs(3600), 2);
        autosave.learn(&Call::example(), &mut known);
        assert_eq!(known["AKIAEXAMPLE1"].events.values().map(|s| s.count).sum::<u64>(), 1, "seen at once");
        autosave.save_if_due(store.as_mut());
        assert!(store.is_empty().unwrap(), "one call of two: not yet due");
        autosave.learn(&Call::example(), &mut known);
        autosave.save_if_due(store.as_mut());
        let stored = store.load(&["AKIAEXAMPLE1"]).unwrap();
        assert_eq!(stored["AKIAEXAMPLE1"], known["AKIAEXAMPLE1"], "the store has what the scorer has");
        assert_eq!(autosave.calls, 0, "nothing left once saved");
    }

    #[test]
    fn what_a_failed_save_held_is_saved_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("not-yet");
        let mut store = store::open(Some(folder.join("profiles").to_str().unwrap())).unwrap();
        let mut known = Profiles::new();
        let mut autosave = Autosave::new(Duration::ZERO, 1);
        autosave.learn(&Call::example(), &mut known);
        autosave.save_if_due(store.as_mut());
        assert_eq!(autosave.calls, 1, "kept after the store failed");
        std::fs::create_dir(&folder).unwrap();
        autosave.save_if_due(store.as_mut());
        assert_eq!(autosave.calls, 0);
        assert_eq!(store.load(&["AKIAEXAMPLE1"]).unwrap()["AKIAEXAMPLE1"], known["AKIAEXAMPLE1"]);
    }
}
