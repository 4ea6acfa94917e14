//! Commands written straight in RESP, the form Redis reads them in, into a byte buffer: an array header, then
//! each argument as a bulk string whose parts are copied in place, with no `String` or `Vec` per argument. The
//! merge of a learn sends one command per key with two arguments per value; built through `redis::Cmd` (an
//! allocation per field, a `format!` per time, the command copied twice more), merging 73,458 profiles cost
//! keywatcher about 1.3 CPU s, as much as parsing their 200,000 records; written here, about 0.5 s less (perf
//! samples and CPU time, README "Performance"). Also the fixed-width text of a time, written on the stack.

use std::io::Write;

use jiff::Timestamp;
use jiff::tz::Offset;

use crate::recent::Recent;

/// Writes the header of a command of `args` arguments.
pub(super) fn array(out: &mut Vec<u8>, args: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(args).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Writes one argument, the concatenation of `parts`: as many as each caller has, so that its loops are unrolled
/// (a slice of parts cost 3 % more instructions for the whole learn).
pub(super) fn bulk<const N: usize>(out: &mut Vec<u8>, parts: &[&[u8]; N]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(parts.iter().map(|part| part.len()).sum::<usize>()).as_bytes());
    out.extend_from_slice(b"\r\n");
    parts.iter().for_each(|part| out.extend_from_slice(part));
    out.extend_from_slice(b"\r\n");
}

/// A time as the merge script compares it, `2026-11-02T10:00:00.000000000Z` (what jiff writes with `{:.9}`):
/// fixed width for the years 0 to 9999, so that text order is time order; a year before 0 is jiff's longer
/// `-000001-…`, which the script orders itself. Empty for no time.
#[derive(Clone, Copy)]
pub(super) struct TimeText {
    bytes: [u8; 40],
    len: usize,
}

impl TimeText {
    pub(super) fn new(time: Option<Timestamp>) -> TimeText {
        let mut text = TimeText { bytes: [0; 40], len: 0 };
        let Some(time) = time else { return text };
        let at = Offset::UTC.to_datetime(time);
        let Ok(year) = u16::try_from(at.year()) else {
            // A year before 0 is written by jiff, as it always was; the buffer holds its longest form.
            let mut rest = &mut text.bytes[..];
            let _ = write!(rest, "{time:.9}");
            text.len = 40 - rest.len();
            return text;
        };
        let digits = |n: u32, width: usize, into: &mut [u8]| {
            let mut n = n;
            for byte in into[..width].iter_mut().rev() {
                *byte = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        let b = &mut text.bytes;
        digits(year.into(), 4, &mut b[0..]);
        digits(at.month().unsigned_abs().into(), 2, &mut b[5..]);
        digits(at.day().unsigned_abs().into(), 2, &mut b[8..]);
        digits(at.hour().unsigned_abs().into(), 2, &mut b[11..]);
        digits(at.minute().unsigned_abs().into(), 2, &mut b[14..]);
        digits(at.second().unsigned_abs().into(), 2, &mut b[17..]);
        digits(at.subsec_nanosecond().unsigned_abs(), 9, &mut b[20..]);
        for (at, byte) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':'), (19, b'.'), (29, b'Z')] {
            b[at] = byte;
        }
        text.len = 30;
        text
    }

    pub(super) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// The texts of the last few times written. A profile's times repeat: a call's time is the first or last seen of each
/// of its values, so a profile holds a few times over and over. Working each out once per profile: writing the merge of
/// a learn of 200,000 records over 80,000 keys spent 125 M instructions on times instead of 268 M (callgrind).
pub(super) struct Times(Recent<Option<Timestamp>, TimeText, 4>);

impl Default for Times {
    fn default() -> Times {
        Times(Recent::new(|| (None, TimeText::new(None))))
    }
}

impl Times {
    pub(super) fn text(&mut self, time: Option<Timestamp>) -> TimeText {
        self.0.answer(&time, |&time| TimeText::new(time))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_as_jiff_writes_them() {
        let mut times: Vec<Timestamp> = ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "2026-11-02T10:00:00.5Z"]
            .iter()
            .map(|t| t.parse().unwrap())
            .collect();
        times.extend([Timestamp::MIN, Timestamp::MAX, "-000001-12-31T23:59:59.999999999Z".parse().unwrap()]);
        // Spread over the years a CloudTrail record can carry, with every fraction width.
        let mut seconds = 0x0005_DEEC_E66D_u64;
        for _ in 0..2000 {
            seconds = seconds.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let (secs, nanos) = ((seconds >> 20) % 8_000_000_000, (seconds % 1_000_000_000) as i32);
            times.push(Timestamp::new(secs as i64 - 2_000_000_000, nanos / 10i32.pow((seconds % 10) as u32)).unwrap());
        }
        for time in times {
            assert_eq!(std::str::from_utf8(TimeText::new(Some(time)).as_bytes()).unwrap(), format!("{time:.9}"));
        }
        assert_eq!(TimeText::new(None).as_bytes(), b"");
    }

    proptest::proptest! {
        /// Any time jiff can hold, with any fraction, is written as jiff writes it.
        #[test]
        fn every_time_is_written_as_jiff_writes_it(
            seconds in Timestamp::MIN.as_second()..=Timestamp::MAX.as_second(),
            nanos in 0..1_000_000_000i32,
            digits in 0..10u32,
        ) {
            let time = Timestamp::new(seconds, nanos / 10i32.pow(digits)).unwrap();
            let text = TimeText::new(Some(time));
            proptest::prop_assert_eq!(std::str::from_utf8(text.as_bytes()).unwrap(), format!("{time:.9}"));
        }
    }

    #[test]
    fn remembered_times_are_written_as_new_ones() {
        let mut times = Times::default();
        let known: Vec<Option<Timestamp>> =
            (0..7).map(|hour| Some(Timestamp::from_second(hour * 3600).unwrap())).chain([None]).collect();
        // Repeats, and more times than it remembers, so that some are forgotten and worked out again.
        for n in [0, 1, 0, 7, 2, 3, 4, 5, 0, 6, 7, 1, 1, 5, 7] {
            assert_eq!(times.text(known[n]).as_bytes(), TimeText::new(known[n]).as_bytes(), "{:?}", known[n]);
        }
    }

    #[test]
    fn arguments_are_bulk_strings() {
        let mut out = Vec::new();
        array(&mut out, 2);
        bulk(&mut out, &[b"GET"]);
        bulk(&mut out, &[b"kw:{", "AKIA€".as_bytes(), b"}"]);
        assert_eq!(out, redis::cmd("GET").arg("kw:{AKIA€}").get_packed_command());
    }
}
