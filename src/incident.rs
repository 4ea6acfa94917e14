//! Scored lines (what `keywatcher score` writes, verdict lines or `--passthrough` records) → an [`Incident`]:
//! per access key, how many calls it made and when, and what its suspicious calls brought that its profile did
//! not hold (new source IPs, agents, regions, events, read from each line's `matched`); and the suspicious
//! calls themselves (the earliest [`MAX_ROWS`] of them, whatever order they come in). It reads only the fields
//! `score` writes (of a passthrough record, the CloudTrail fields a verdict line names), never a store, and
//! renders nothing (that is `html.rs`).

use std::collections::{BTreeMap, BinaryHeap, HashMap};

use jiff::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::score::Matched;
use crate::{emit, when};

/// One line of `keywatcher score` output, as the report needs it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scored {
    pub event_time: String,
    #[serde(rename = "eventID", default)]
    pub event_id: String,
    pub access_key_id: String,
    #[serde(default)]
    pub account_id: String,
    #[serde(default)]
    pub user_name: String,
    #[serde(default)]
    pub aws_region: String,
    #[serde(rename = "sourceIPAddress", default)]
    pub source_ip: String,
    #[serde(default)]
    pub user_agent: String,
    #[serde(default)]
    pub event_source: String,
    #[serde(default)]
    pub event_name: String,
    pub score: u32,
    pub suspicious: bool,
    #[serde(default)]
    pub profile: String,
    pub matched: Matched,
}

impl Scored {
    /// What the call brought that its key's profile did not hold: `ip, agent`, or `no profile`.
    pub fn new_factors(&self) -> String {
        if self.profile == "unknown" { "no profile".to_string() } else { self.matched.missing().join(", ") }
    }

    /// The event as the reasons name it: `ec2:RunInstances`.
    pub fn event(&self) -> String {
        emit::event(&self.event_source, &self.event_name).concat()
    }
}

/// What the suspicious calls of one key brought that its profile did not hold, each value with how many
/// suspicious calls carried it.
#[derive(Debug, Default)]
pub struct New {
    pub ips: BTreeMap<String, u64>,
    pub agents: BTreeMap<String, u64>,
    pub regions: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
}

/// One access key's part in the incident.
#[derive(Debug, Default)]
pub struct KeyStory {
    pub key: String,
    pub user: String,
    pub account: String,
    pub calls: u64,
    pub suspicious: u64,
    /// True when some call was scored against no profile at all.
    pub unknown: bool,
    /// The key's latest call, which names its user and account (as in a profile).
    pub latest: Option<Timestamp>,
    /// First and last suspicious call.
    pub first: Option<Timestamp>,
    pub last: Option<Timestamp>,
    pub new: New,
    /// Calls per minute (seconds since the epoch / 60): all of them, and the suspicious ones.
    pub minutes: BTreeMap<i64, (u64, u64)>,
}

/// Everything a report shows.
#[derive(Debug, Default)]
pub struct Incident {
    /// Keys with suspicious calls first (most first), then the others, by key.
    pub keys: Vec<KeyStory>,
    /// The earliest [`MAX_ROWS`] suspicious calls, by time (calls at the same time in the order read).
    pub suspicious: Vec<Scored>,
    /// How many suspicious calls there were in all.
    pub suspicious_total: u64,
    /// Earliest and latest call.
    pub span: Option<(Timestamp, Timestamp)>,
    pub calls: u64,
}

/// Suspicious calls kept for the table: a browser lays out some thousands of rows in a second or two, 15,000
/// in about 18 s (measured with headless Chromium here). The counts, summaries and timeline cover them all.
pub const MAX_ROWS: usize = 5000;

/// A suspicious call held for the table, ordered by time, then by when it was read.
#[derive(Debug)]
struct Row {
    time: Timestamp,
    read: u64,
    call: Scored,
}

impl PartialEq for Row {
    fn eq(&self, other: &Row) -> bool {
        (self.time, self.read) == (other.time, other.read)
    }
}

impl Eq for Row {}

impl PartialOrd for Row {
    fn partial_cmp(&self, other: &Row) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Row {
    fn cmp(&self, other: &Row) -> std::cmp::Ordering {
        (self.time, self.read).cmp(&(other.time, other.read))
    }
}

/// Builds an [`Incident`] one line at a time.
#[derive(Debug, Default)]
pub struct Builder {
    keys: HashMap<String, KeyStory>,
    /// The earliest suspicious calls so far, the latest of them on top: a later call never displaces one, an
    /// earlier one displaces the top once [`MAX_ROWS`] are held, so memory stays at the table's size.
    suspicious: BinaryHeap<Row>,
    span: Option<(Timestamp, Timestamp)>,
    calls: u64,
}

impl Builder {
    /// Adds one scored line; says why when it is not one.
    /// Adds one scored line; says why when it is not one. A `--passthrough` record that was not scored
    /// (`"keywatcher":{"excluded":…}`) is no call: it adds nothing and is no problem.
    pub fn add(&mut self, line: &str) -> Result<(), String> {
        let call = match serde_json::from_str::<Scored>(line) {
            Ok(call) => call,
            Err(err) => match passed(line) {
                Some(Ok(Some(call))) => call,
                Some(Ok(None)) => return Ok(()),
                Some(Err(why)) => return Err(why),
                None => return Err(format!("not a line of `keywatcher score` output: {err}")),
            },
        };
        let time = when::event_time(&call.event_time)
            .ok_or_else(|| format!("eventTime {:?} is not a time", call.event_time))?;
        self.calls += 1;
        self.span = Some(self.span.map_or((time, time), |(first, last)| (first.min(time), last.max(time))));
        let story = self
            .keys
            .entry(call.access_key_id.clone())
            .or_insert_with(|| KeyStory { key: call.access_key_id.clone(), ..KeyStory::default() });
        if story.latest.is_none_or(|latest| time >= latest) {
            story.latest = Some(time);
            story.user.clone_from(&call.user_name);
            story.account.clone_from(&call.account_id);
        }
        story.calls += 1;
        let minute = story.minutes.entry(time.as_second().div_euclid(60)).or_default();
        minute.0 += 1;
        if call.suspicious {
            minute.1 += 1;
            story.suspicious += 1;
            story.unknown |= call.profile == "unknown";
            story.first = Some(story.first.map_or(time, |first| first.min(time)));
            story.last = Some(story.last.map_or(time, |last| last.max(time)));
            let m = call.matched;
            let new = &mut story.new;
            for (hit, values, value) in [
                (m.ip, &mut new.ips, call.source_ip.clone()),
                (m.agent, &mut new.agents, call.user_agent.clone()),
                (m.region, &mut new.regions, call.aws_region.clone()),
                (m.event, &mut new.events, call.event()),
            ] {
                if !hit && !value.is_empty() {
                    *values.entry(value).or_default() += 1;
                }
            }
            let row = Row { time, read: self.calls, call };
            if self.suspicious.len() < MAX_ROWS {
                self.suspicious.push(row);
            } else if self.suspicious.peek().is_some_and(|latest| row < *latest) {
                self.suspicious.pop();
                self.suspicious.push(row);
            }
        }
        Ok(())
    }

    pub fn finish(self) -> Incident {
        let mut keys: Vec<KeyStory> = self.keys.into_values().collect();
        keys.sort_by(|a, b| b.suspicious.cmp(&a.suspicious).then_with(|| a.key.cmp(&b.key)));
        let suspicious_total = keys.iter().map(|k| k.suspicious).sum();
        let suspicious = self.suspicious.into_sorted_vec().into_iter().map(|row| row.call).collect();
        Incident { keys, suspicious, suspicious_total, span: self.span, calls: self.calls }
    }
}

/// A line of `score --passthrough`, a record with a `keywatcher` object, as the verdict line `score` would have
/// written for it; `Some(Ok(None))` for a record that was not scored, None for a line of another kind. The
/// record's other members are skipped unread, so a number in them that no float holds (`1e999`, which a caller
/// may put in `requestParameters`) cannot keep its call out of the report; a record `score` nested under
/// `record` (it had a `keywatcher` member of its own) is read there.
fn passed(line: &str) -> Option<Result<Option<Scored>, String>> {
    let top = members(line)?;
    let verdict: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(top.get("keywatcher")?.get()).ok()?;
    if verdict.contains_key("excluded") {
        return Some(Ok(None));
    }
    let record = top
        .get("record")
        .copied()
        .and_then(|record| members(record.get()))
        .filter(|record| record.contains_key("keywatcher"))
        .unwrap_or(top);
    let mut line = verdict;
    for (name, path) in [
        ("eventTime", &["eventTime"][..]),
        ("eventID", &["eventID"]),
        ("accessKeyId", &["userIdentity", "accessKeyId"]),
        ("userName", &["userIdentity", "userName"]),
        ("awsRegion", &["awsRegion"]),
        ("sourceIPAddress", &["sourceIPAddress"]),
        ("userAgent", &["userAgent"]),
        ("eventSource", &["eventSource"]),
        ("eventName", &["eventName"]),
    ] {
        line.insert(name.into(), text_at(&record, path).unwrap_or_default().into());
    }
    let account =
        text_at(&record, &["userIdentity", "accountId"]).or_else(|| text_at(&record, &["recipientAccountId"]));
    line.insert("accountId".into(), account.unwrap_or_default().into());
    Some(serde_json::from_value(line.into()).map(Some).map_err(|e| format!("not a scored record: {e}")))
}

/// The members of the JSON object `text`, each as its raw text, unparsed: of a name repeated, the last, as
/// `jq` reads it. None when `text` is not an object.
fn members(text: &str) -> Option<HashMap<String, &RawValue>> {
    serde_json::from_str(text).ok()
}

/// The string at `path` in `object` (`["userIdentity", "accessKeyId"]`); None when there is none.
fn text_at(object: &HashMap<String, &RawValue>, path: &[&str]) -> Option<String> {
    let (name, rest) = path.split_first()?;
    let value = object.get(*name)?.get();
    match rest {
        [] => serde_json::from_str(value).ok(),
        _ => text_at(&members(value)?, rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(key: &str, time: &str, ip: &str, suspicious: bool, ip_known: bool) -> String {
        serde_json::json!({
            "eventTime": time, "eventID": "e", "accessKeyId": key, "accountId": "123456789012", "userType": "IAMUser",
            "userName": "ci", "awsRegion": "us-east-1", "sourceIPAddress": ip, "userAgent": "aws-cli/2",
            "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances", "score": 60, "threshold": 70,
            "suspicious": suspicious, "profile": "known",
            "matched": {"ip": ip_known, "agent": true, "region": true, "event": !suspicious}, "reasons": []
        })
        .to_string()
    }

    #[test]
    fn a_passthrough_record_is_read_as_its_verdict_line() {
        let verdict = serde_json::from_str::<serde_json::Value>(&line(
            "AKIAA",
            "2026-11-08T10:00:00Z",
            "192.0.2.66",
            true,
            false,
        ))
        .unwrap();
        let keep = ["score", "threshold", "suspicious", "profile", "matched", "reasons"];
        let judged: serde_json::Map<_, _> = keep.iter().map(|k| (k.to_string(), verdict[k].clone())).collect();
        let record = serde_json::json!({
            "eventVersion": "1.09", "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIAA", "userName": "ci"},
            "eventTime": "2026-11-08T10:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "RunInstances",
            "awsRegion": "us-east-1", "sourceIPAddress": "192.0.2.66", "userAgent": "aws-cli/2", "eventID": "e",
            "recipientAccountId": "123456789012", "keywatcher": judged
        });
        let mut builder = Builder::default();
        builder.add(&record.to_string()).unwrap();
        builder.add(r#"{"eventName":"X","keywatcher":{"excluded":"temporary key (ASIA)"}}"#).unwrap();
        assert!(
            builder
                .add(r#"{"eventName":"X","keywatcher":{"score":"high"}}"#)
                .unwrap_err()
                .contains("not a scored record")
        );
        let incident = builder.finish();
        assert_eq!((incident.calls, incident.suspicious_total), (1, 1));
        let call = &incident.suspicious[0];
        assert_eq!((call.access_key_id.as_str(), call.account_id.as_str()), ("AKIAA", "123456789012"));
        assert_eq!((call.source_ip.as_str(), call.user_name.as_str()), ("192.0.2.66", "ci"));
    }

    #[test]
    fn a_key_story_counts_calls_and_names_what_was_new() {
        let mut builder = Builder::default();
        builder.add(&line("AKIAB", "2026-11-08T10:00:30Z", "10.0.0.1", false, true)).unwrap();
        builder.add(&line("AKIAA", "2026-11-08T10:00:00Z", "10.0.0.1", false, true)).unwrap();
        builder.add(&line("AKIAA", "2026-11-08T10:05:00Z", "192.0.2.66", true, false)).unwrap();
        builder.add(&line("AKIAA", "2026-11-08T10:01:00Z", "192.0.2.66", true, false)).unwrap();
        assert!(builder.add("{\"eventTime\":1}").is_err());
        let incident = builder.finish();
        assert_eq!(incident.calls, 4);
        let a = &incident.keys[0];
        assert_eq!((a.key.as_str(), a.calls, a.suspicious), ("AKIAA", 3, 2));
        assert_eq!(a.first.unwrap().to_string(), "2026-11-08T10:01:00Z");
        assert_eq!(a.last.unwrap().to_string(), "2026-11-08T10:05:00Z");
        assert_eq!(a.new.ips, BTreeMap::from([("192.0.2.66".to_string(), 2)]));
        assert_eq!(a.new.events, BTreeMap::from([("ec2:RunInstances".to_string(), 2)]));
        assert!(a.new.agents.is_empty() && a.new.regions.is_empty());
        assert_eq!(a.minutes.values().map(|m| m.1).sum::<u64>(), 2);
        assert_eq!(incident.keys[1].key, "AKIAB");
        assert_eq!((incident.suspicious.len(), incident.suspicious_total), (2, 2));
        assert_eq!(incident.suspicious[0].event_time, "2026-11-08T10:01:00Z", "by time");
    }

    #[test]
    fn the_table_keeps_the_earliest_suspicious_calls_whatever_order_they_come_in() {
        let mut builder = Builder::default();
        // Seconds 0..MAX_ROWS+100, read latest first but with every tenth call read early, out of order.
        let total = MAX_ROWS + 100;
        let mut order: Vec<usize> = (0..total).rev().collect();
        order.sort_by_key(|i| i % 10 != 0);
        for i in order {
            let time = format!("2026-11-08T{:02}:{:02}:{:02}Z", i / 3600, i / 60 % 60, i % 60);
            builder.add(&line("AKIAA", &time, "192.0.2.66", true, false)).unwrap();
        }
        let incident = builder.finish();
        assert_eq!((incident.suspicious.len(), incident.suspicious_total), (MAX_ROWS, total as u64));
        assert_eq!(incident.suspicious[0].event_time, "2026-11-08T00:00:00Z");
        let last = MAX_ROWS - 1;
        let expected = format!("2026-11-08T{:02}:{:02}:{:02}Z", last / 3600, last / 60 % 60, last % 60);
        assert_eq!(incident.suspicious[last].event_time, expected);
        let times: Vec<_> = incident.suspicious.iter().map(|c| when::event_time(&c.event_time).unwrap()).collect();
        assert!(times.is_sorted());
    }
}
