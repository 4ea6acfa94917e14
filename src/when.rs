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
    if let Some(at) = utc(text) {
        return Some(at);
    }
    if let Ok(at) = text.parse::<Timestamp>() {
        return Some(at);
    }
    text.parse::<DateTime>().ok().and_then(|dt| dt.to_zoned_datetime(TimeZone::UTC).ok()).map(|z| z.timestamp())
}

/// Reads `2026-11-02T10:00:00Z`, the form CloudTrail writes, and `2026-11-02T10:00:00.000000000Z` (1 to 9
/// digits of a second), the form keywatcher's Redis store writes, without jiff's general parser: that took 1.7 %
/// of a reader's instructions (callgrind, a gzipped tree) and 8 % of a Redis-backed `score`'s (first and last
/// seen of every value). None for any other text, and for a day, hour, minute or second out of range (a leap
/// second's `:60` included): jiff then reads it, or says why not.
pub fn utc(text: &str) -> Option<Timestamp> {
    let b = text.as_bytes();
    let shaped = b.len() >= 20
        && b[b.len() - 1] == b'Z'
        && [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')].iter().all(|&(at, c)| b[at] == c);
    if !shaped {
        return None;
    }
    let number =
        |digits: &[u8]| digits.iter().try_fold(0i64, |n, &d| d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0')));
    let nanos = match &b[19..b.len() - 1] {
        [] => 0,
        [b'.', digits @ ..] if (1..=9).contains(&digits.len()) => number(digits)? * 10i64.pow(9 - digits.len() as u32),
        _ => return None,
    };
    let (year, month, day) = (number(&b[0..4])?, number(&b[5..7])?, number(&b[8..10])?);
    let (hour, minute, second) = (number(&b[11..13])?, number(&b[14..16])?, number(&b[17..19])?);
    // Date::new checks the month and the day in it (leap years included).
    Date::new(year as i16, month as i8, day as i8).ok()?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil), March-based years.
    let y = if month <= 2 { year - 1 } else { year };
    let (era, of_era) = (y.div_euclid(400), y.rem_euclid(400));
    let of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + of_era * 365 + of_era / 4 - of_era / 100 + of_year - 719_468;
    Timestamp::new(days * 86_400 + hour * 3_600 + minute * 60 + second, nanos as i32).ok()
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

    proptest::proptest! {
        #[test]
        fn utc_reads_what_jiff_reads(
            second in -62_135_596_800i64..253_402_300_800,
            nanos in 0i32..1_000_000_000,
            text in "[0-9:TZ-]{19}(\\.[0-9]{0,10})?Z",
        ) {
            let whole = Timestamp::from_second(second).unwrap();
            let written = whole.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
            proptest::prop_assert_eq!(utc(&written), Some(whole), "{}", written);
            let time = Timestamp::new(second, nanos).unwrap();
            let written = time.strftime("%Y-%m-%dT%H:%M:%S%.9fZ").to_string();
            proptest::prop_assert_eq!(utc(&written), Some(time), "{}", written);
            // Any other text of that length: the same instant as jiff's, or none.
            if let Some(read) = utc(&text) {
                proptest::prop_assert_eq!(text.parse::<Timestamp>().ok(), Some(read), "{}", text);
            }
        }
    }

    #[test]
    fn utc_leaves_every_other_form_to_jiff() {
        for text in [
            "2026-02-29T00:00:00Z",
            "2026-11-02T24:00:00Z",
            "2026-11-02T10:00:60Z",
            "2026-11-02T10:00:00.Z",
            "2026-11-02T10:00:00.1234567890Z",
            "2026-11-02T10:00:00.5",
            "2026-11-02 10:00:00Z",
            "2026-11-02T10:00:00+00:00",
            "2026-13-02T10:00:00Z",
            "+2026-11-02T10:00:00Z",
        ] {
            assert_eq!(utc(text), None, "{text}");
        }
        assert_eq!(utc("2024-02-29T23:59:59Z"), Some(at("2024-02-29T23:59:59Z")));
        assert_eq!(utc("0001-01-01T00:00:00Z"), Some(at("0001-01-01T00:00:00Z")));
        assert_eq!(utc("2020-09-14T00:44:20.5Z"), Some(at("2020-09-14T00:44:20.5Z")));
        assert_eq!(utc("1969-12-31T23:59:59.000000001Z"), Some(Timestamp::new(-1, 1).unwrap()));
        assert_eq!(utc("1969-12-31T23:59:59Z"), Some(Timestamp::from_second(-1).unwrap()));
    }

    #[test]
    fn event_times_in_export_spellings_parse() {
        assert_eq!(event_time("2021-05-20 15:53:47Z"), Some(at("2021-05-20T15:53:47Z")));
        assert_eq!(event_time("2021-05-20T15:53:47"), Some(at("2021-05-20T15:53:47Z")));
        assert_eq!(event_time("2020-09-14T00:44:20.000Z"), Some(at("2020-09-14T00:44:20Z")));
        assert_eq!(event_time("not a time"), None);
    }
}
