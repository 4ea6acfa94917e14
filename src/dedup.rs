//! `--dedup N`: the last N distinct `eventID`s, to drop a record CloudTrail (or a pipeline retrying)
//! delivers again. Takes records in input order and says whether each repeats one of the last N: the same
//! `eventID` and the same call (key, time, address, agent, region, event, error). The ID alone is not enough:
//! whoever can add a record to the input could send one with a real call's ID (which `lookup-events` shows
//! minutes before the log file is delivered) ahead of it, and the real call would be dropped unscored.
//! Bounded: a ring of the IDs in the order first seen and a map to look them up, the oldest forgotten when
//! the ring is full.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::rc::Rc;

use crate::parse::Record;

/// The last `window` event IDs seen, each once, with the call its first record made.
#[derive(Debug)]
pub struct Dedup {
    window: usize,
    order: VecDeque<Rc<str>>,
    seen: HashMap<Rc<str>, u64>,
    /// Keyed afresh in each run: no one can make a record whose call has the fingerprint of another's.
    calls: RandomState,
}

impl Dedup {
    /// None for a window of 0: nothing is dropped.
    pub fn new(window: usize) -> Option<Dedup> {
        (window > 0).then(|| Dedup { window, order: VecDeque::new(), seen: HashMap::new(), calls: RandomState::new() })
    }

    /// Whether `record` repeats a record seen within the window: its ID and its call; if its ID is new, it is
    /// remembered. A repeat is not remembered again, so a record delivered many times is dropped until N other
    /// event IDs have come since its first copy. A record without an ID (`""`) is never a repeat, nor is one
    /// whose ID was seen with another call: both are kept, as neither can be told to be the real one.
    pub fn repeated(&mut self, record: &Record) -> bool {
        let id = record.event_id.as_str();
        if id.is_empty() {
            return false;
        }
        let call = self.fingerprint(record);
        if let Some(&first) = self.seen.get(id) {
            return first == call;
        }
        if self.order.len() == self.window
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        let id: Rc<str> = Rc::from(id);
        self.order.push_back(Rc::clone(&id));
        self.seen.insert(id, call);
        false
    }

    /// What `record` says of its call, as one number: every field keywatcher reads of it.
    fn fingerprint(&self, record: &Record) -> u64 {
        let who = &record.user_identity;
        self.calls.hash_one([
            record.event_time.as_str(),
            who.access_key_id.as_str(),
            who.arn.as_str(),
            who.kind.as_str(),
            record.source_ip_address.as_str(),
            record.user_agent.as_str(),
            record.aws_region.as_str(),
            record.event_source.as_str(),
            record.event_name.as_str(),
            record.error_code.as_str(),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::{self, Cursor, Item, Limits};

    /// Whether each of `records` (NDJSON, one record a line) repeats one before it, under `dedup`.
    fn repeats(dedup: &mut Dedup, records: &str) -> Vec<bool> {
        let mut seen = Vec::new();
        parse::chunk(records.as_bytes(), false, &mut Cursor::default(), Limits::DEFAULT, &mut |item| {
            if let Item::Record(record, _) = item {
                seen.push(dedup.repeated(&record));
            }
        });
        seen
    }

    fn record(id: &str, ip: &str) -> String {
        format!(r#"{{"eventID":"{id}","eventName":"GetObject","sourceIPAddress":"{ip}"}}"#) + "\n"
    }

    #[test]
    fn a_repeat_within_the_window_is_dropped_and_one_after_it_is_kept() {
        let mut dedup = Dedup::new(2).unwrap();
        let ids = ["a", "b", "a", "", "", "c", "a", "c"];
        let records: String = ids.iter().map(|id| record(id, "192.0.2.1")).collect();
        // "a" again after "b": within the last 2. After "c" the window is b, c: "a" is new again.
        assert_eq!(repeats(&mut dedup, &records), [false, false, true, false, false, false, false, true]);
        assert!(Dedup::new(0).is_none());
    }

    #[test]
    fn a_record_with_a_known_id_but_another_call_is_kept() {
        let mut dedup = Dedup::new(10).unwrap();
        // A forged record ahead of the real one, with its ID: the real call is still scored; a copy of the
        // first record is dropped.
        let records = [record("a", "198.51.100.66"), record("a", "192.0.2.1"), record("a", "198.51.100.66")];
        assert_eq!(repeats(&mut dedup, &records.concat()), [false, false, true]);
    }
}
