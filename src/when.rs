//! Time expressions → instants. Takes what users write after `--since`, `--until` and `--now` (RFC 3339, a
//! date, `@EPOCH`, or a span such as `"1 hour ago"`, `30min`, `7d`, counted back from `now`) and CloudTrail's
//! own `eventTime`, and gives [`Timestamp`]s in UTC. It never reads the clock itself: `now` is passed in, so a
//! replay of old archives gives the same answer on any day.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

/// Parses a time given on the command line. A span, with or without `ago`, means that long before `now`.
pub fn parse(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Some(epoch) = text.strip_prefix('@') {
        return epoch
            .parse::<i64>()
            .ok()
            .and_then(|secs| Timestamp::from_second(secs).ok())
            .ok_or_else(|| format!("'{text}' is not a number of seconds since 1970"));
    }
    if let Some(at) = absolute(text) {
        return Ok(at);
    }
    if let Ok(span) = text.parse::<Span>() {
        return now
            .to_zoned_datetime(TimeZone::UTC)
            .checked_sub(span.abs())
            .map(|zoned| zoned.timestamp())
            .map_err(|err| format!("'{text}' reaches too far back: {err}"));
    }
    Err(format!(
        "'{text}' is not a time: use RFC 3339 (2026-11-01T00:00:00Z), a date (2026-11-01), @EPOCH, \
         or a span such as \"1 hour ago\", 30min or 7d"
    ))
}

/// Parses a CloudTrail `eventTime`: RFC 3339 (`2026-11-02T10:00:00Z`), also with a space instead of `T`
/// or without a zone (taken as UTC), as some exports write it.
pub fn event_time(text: &str) -> Option<Timestamp> {
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    text.parse::<DateTime>().ok().and_then(|dt| dt.to_zoned_datetime(TimeZone::UTC).ok()).map(|z| z.timestamp())
}

fn absolute(text: &str) -> Option<Timestamp> {
    if let Some(at) = event_time(text) {
        return Some(at);
    }
    let date = text.parse::<Date>().ok()?;
    date.to_zoned_datetime(TimeZone::UTC).ok().map(|z| z.timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    #[test]
    fn every_documented_form_parses() {
        let now = at("2026-11-27T12:00:00Z");
        let cases = [
            ("2026-11-01T00:00:00Z", "2026-11-01T00:00:00Z"),
            ("2026-11-01T02:00:00+02:00", "2026-11-01T00:00:00Z"),
            ("2026-11-01", "2026-11-01T00:00:00Z"),
            ("@0", "1970-01-01T00:00:00Z"),
            ("1 hour ago", "2026-11-27T11:00:00Z"),
            ("30 min ago", "2026-11-27T11:30:00Z"),
            ("10 min ago", "2026-11-27T11:50:00Z"),
            ("1 day ago", "2026-11-26T12:00:00Z"),
            ("2h", "2026-11-27T10:00:00Z"),
            ("7d", "2026-11-20T12:00:00Z"),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, now), Ok(at(want)), "{text}");
        }
    }

    #[test]
    fn nonsense_is_refused_with_the_accepted_forms() {
        let err = parse("yesterday-ish", Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(err.contains("RFC 3339"), "{err}");
        assert!(parse("@soon", Timestamp::UNIX_EPOCH).is_err());
    }

    #[test]
    fn event_times_in_export_spellings_parse() {
        assert_eq!(event_time("2021-05-20 15:53:47Z"), Some(at("2021-05-20T15:53:47Z")));
        assert_eq!(event_time("2021-05-20T15:53:47"), Some(at("2021-05-20T15:53:47Z")));
        assert_eq!(event_time("2020-09-14T00:44:20.000Z"), Some(at("2020-09-14T00:44:20Z")));
        assert_eq!(event_time("not a time"), None);
    }
}
