//! `--dedup N`: the last N distinct `eventID`s, to drop a record CloudTrail (or a pipeline retrying)
//! delivers again. Takes event IDs in input order and says whether each was among the last N; bounded: a ring
//! of the IDs in the order first seen and a set to look them up, the oldest forgotten when the ring is full.
//! Never looks at anything but the ID.

use std::collections::{HashSet, VecDeque};
use std::rc::Rc;

/// The last `window` event IDs seen, each once.
#[derive(Debug)]
pub struct Dedup {
    window: usize,
    order: VecDeque<Rc<str>>,
    seen: HashSet<Rc<str>>,
}

impl Dedup {
    /// None for a window of 0: nothing is dropped.
    pub fn new(window: usize) -> Option<Dedup> {
        (window > 0).then(|| Dedup { window, order: VecDeque::new(), seen: HashSet::new() })
    }

    /// Whether `id` was seen within the window; if not, it is remembered. A repeat is not remembered again,
    /// so a record delivered many times is dropped until N other event IDs have come since its first copy.
    /// A record without an ID (`""`) is never a repeat.
    pub fn repeated(&mut self, id: &str) -> bool {
        if id.is_empty() || self.seen.contains(id) {
            return !id.is_empty();
        }
        if self.order.len() == self.window
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        let id: Rc<str> = Rc::from(id);
        self.order.push_back(Rc::clone(&id));
        self.seen.insert(id);
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeat_within_the_window_is_dropped_and_one_after_it_is_kept() {
        let mut dedup = Dedup::new(2).unwrap();
        let seen: Vec<bool> = ["a", "b", "a", "", "", "c", "a", "c"].iter().map(|id| dedup.repeated(id)).collect();
        // "a" again after "b": within the last 2. After "c" the window is b, c: "a" is new again.
        assert_eq!(seen, [false, false, true, false, false, false, false, true]);
        assert!(Dedup::new(0).is_none());
    }
}
