//! What a person reads at a terminal: scored calls as aligned columns, suspicious rows marked with `!` and,
//! with colour, in bold red (`score --format table`); the `profile show` table of keys, and one key's values
//! with their counts and first and last seen. Every value from a record passes through [`terminal`], so a
//! control character or escape sequence it holds is shown as a visible escape and never drives the
//! terminal, and an invisible formatting character (a bidi override that would reverse what follows, a
//! zero-width space, a line separator) is shown too; the only escape sequences written are this file's own
//! colours. Columns are measured in terminal cells (a CJK character takes two). Writes into the writer it
//! is given; never decides a score.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::emit::{self, WriteVerdict};
use crate::extract::Call;
use crate::profile::{Profile, Values};
use crate::score::{Standing, Verdict};
use crate::signals::Signal;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

const BOLD_RED: &str = "\u{1b}[1;31m";
const DIM: &str = "\u{1b}[2m";
const RESET: &str = "\u{1b}[0m";

/// `s` with every [`hidden`] character (escape sequences among them) written as a visible escape: `\u{1b}`.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut shown = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if hidden(c) {
            shown.extend(c.escape_default());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// Whether a character from a record must be shown as an escape, to a terminal and in the HTML report alike:
/// control characters (Unicode category Cc: escape sequences, newlines, bells) act instead of showing, and
/// format characters (Cf) and line and paragraph separators (Zl, Zp) show as nothing while reordering,
/// hiding or breaking what follows (U+202E writes the rest of the line backwards). The Cf list is Unicode
/// 16's; the standard library knows only Cc.
pub fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{ad}'
                | '\u{600}'..='\u{605}'
                | '\u{61c}'
                | '\u{6dd}'
                | '\u{70f}'
                | '\u{890}'..='\u{891}'
                | '\u{8e2}'
                | '\u{180e}'
                | '\u{200b}'..='\u{200f}'
                | '\u{2028}'..='\u{202e}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{206f}'
                | '\u{feff}'
                | '\u{fff9}'..='\u{fffb}'
                | '\u{110bd}'
                | '\u{110cd}'
                | '\u{13430}'..='\u{1343f}'
                | '\u{1bca0}'..='\u{1bca3}'
                | '\u{1d173}'..='\u{1d17a}'
                | '\u{e0001}'
                | '\u{e0020}'..='\u{e007f}'
        )
}

/// How a value fits its column.
#[derive(Clone, Copy, PartialEq)]
enum Fit {
    /// Padded; a longer value is kept whole, up to [`LONGEST`], and pushes the rest of its row (times, keys,
    /// addresses: cutting them would change their meaning).
    Whole,
    /// Padded; a longer value is cut, ending with `…`.
    Cut,
    /// Right-aligned (numbers).
    Right,
}

/// The columns of the scored-call table, with their widths; the agent comes last, after them. The columns are
/// fixed, not measured, so that a live feed gets each row at once.
const COLUMNS: [(&str, usize, Fit); 9] = [
    ("", 1, Fit::Whole),
    ("TIME", 20, Fit::Whole),
    ("KEY", 20, Fit::Whole),
    ("USER", 16, Fit::Cut),
    ("SOURCE IP", 15, Fit::Whole),
    ("REGION", 14, Fit::Cut),
    ("EVENT", 30, Fit::Cut),
    ("SCORE", 5, Fit::Right),
    ("NEW", 21, Fit::Cut),
];

/// The most cells any value takes in a row of the scored-call table, the agent and the columns kept whole
/// alike; a longer one is cut, ending with `…`. Every value is a record's, an attacker's to choose: a user
/// agent of 10,000 characters would otherwise fill a screen with one row. Real agents fit (aws-cli's, with
/// its command, about 120 cells); JSON output always carries the whole value.
const LONGEST: usize = 200;

/// Scored calls as aligned rows under one header.
pub struct Table<W: Write> {
    out: W,
    color: bool,
    header: bool,
    line: String,
}

impl<W: Write> Table<W> {
    pub fn new(out: W, color: bool) -> Table<W> {
        Table { out, color, header: false, line: String::with_capacity(256) }
    }
}

impl<W: Write> WriteVerdict for Table<W> {
    fn verdict(&mut self, call: &Call, verdict: &Verdict) -> io::Result<()> {
        let line = &mut self.line;
        line.clear();
        if !self.header {
            self.header = true;
            let names: Vec<Cow<str>> = COLUMNS.iter().map(|c| Cow::Borrowed(c.0)).collect();
            row(line, &names, "AGENT");
            if self.color {
                *line = format!("{DIM}{}{RESET}\n", line.trim_end_matches('\n'));
            }
        }
        // The signals first: they are the strongest words, and the column is narrow.
        let mut new: Vec<&str> = verdict.signals.iter().map(Signal::label).collect();
        match verdict.standing {
            Standing::Unknown => new.push("no profile"),
            _ => new.extend(verdict.matched.missing()),
        }
        let event = emit::event(call.event_source, call.event_name).concat();
        let cells = [
            Cow::Borrowed(if verdict.suspicious { "!" } else { "" }),
            terminal(call.event_time),
            terminal(call.access_key),
            terminal(call.user_name),
            terminal(call.ip),
            terminal(call.region),
            Cow::Owned(terminal(&event).into_owned()),
            Cow::Owned(verdict.score.to_string()),
            Cow::Owned(new.join(",")),
        ];
        let start = line.len();
        row(line, &cells, &terminal(call.agent));
        if verdict.suspicious && self.color {
            let body = line.split_off(start);
            let _ = writeln!(line, "{BOLD_RED}{}{RESET}", body.trim_end_matches('\n'));
        }
        self.out.write_all(line.as_bytes())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Appends one row: each cell padded (or cut) to its column, then the last value, cut only past [`LONGEST`].
fn row(line: &mut String, cells: &[Cow<str>], last: &str) {
    for (&(_, columns, fit), cell) in COLUMNS.iter().zip(cells) {
        let length = cell.width();
        let padding = std::iter::repeat_n(' ', columns.saturating_sub(length));
        match fit {
            Fit::Cut if length > columns => cut(line, cell, columns),
            Fit::Whole if length > LONGEST => cut(line, cell, LONGEST),
            Fit::Right => {
                line.extend(padding);
                line.push_str(cell);
            }
            Fit::Whole | Fit::Cut => {
                line.push_str(cell);
                line.extend(padding);
            }
        }
        line.push_str("  ");
    }
    if last.width() > LONGEST {
        cut(line, last, LONGEST);
    } else {
        line.push_str(last);
    }
    line.push('\n');
}

/// Appends the start of `cell` that fits in `columns - 1` cells, then `…`: `columns` cells in all. Whole
/// characters only, measured in cells, so a wide character is never split across the cut.
fn cut(line: &mut String, cell: &str, columns: usize) {
    let mut used = 0;
    for c in cell.chars() {
        let cells = c.width().unwrap_or(0);
        if used + cells > columns - 1 {
            break;
        }
        used += cells;
        line.push(c);
    }
    // A wide character that did not fit leaves a cell to fill before the `…`.
    line.extend(std::iter::repeat_n(' ', columns - 1 - used));
    line.push('…');
}

/// Writes one row per profile: key, user, account, type, how many values of each kind, last seen.
pub fn profile_table<'p>(out: &mut impl Write, profiles: impl IntoIterator<Item = &'p Profile>) -> io::Result<()> {
    let header = ["KEY", "USER", "ACCOUNT", "TYPE", "IPS", "AGENTS", "REGIONS", "EVENTS", "LAST SEEN"];
    let mut rows = vec![header.map(String::from)];
    for p in profiles {
        rows.push([
            terminal(&p.access_key_id).into_owned(),
            terminal(&p.user_name).into_owned(),
            terminal(&p.account_id).into_owned(),
            terminal(&p.user_type).into_owned(),
            p.ips.len().to_string(),
            p.agents.len().to_string(),
            p.regions.len().to_string(),
            p.events.len().to_string(),
            time(p.last_seen),
        ]);
    }
    aligned(out, &rows)
}

/// Writes one key's profile: who it is, then each kind of value, most used first, with count and times; the
/// value comes last in its row, where its length moves nothing else.
pub fn profile_detail(out: &mut impl Write, p: &Profile) -> io::Result<()> {
    writeln!(out, "key      {}", terminal(&p.access_key_id))?;
    writeln!(out, "user     {} ({})", terminal(&p.user_name), terminal(&p.user_type))?;
    writeln!(out, "account  {}", terminal(&p.account_id))?;
    writeln!(out, "seen     {} to {}", time(p.first_seen), time(p.last_seen))?;
    for (name, values) in [("IP", &p.ips), ("AGENT", &p.agents), ("REGION", &p.regions), ("EVENT", &p.events)] {
        writeln!(out)?;
        aligned(out, &value_rows(name, values))?;
    }
    if !p.probation.is_empty() {
        writeln!(out)?;
        aligned(out, &value_rows("IP ON PROBATION", &p.probation))?;
    }
    Ok(())
}

fn value_rows(name: &str, values: &Values) -> Vec<[String; 4]> {
    let mut sorted: Vec<_> = values.iter().collect();
    sorted.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    let mut rows = vec![["COUNT", "FIRST SEEN", "LAST SEEN", name].map(String::from)];
    rows.extend(sorted.into_iter().map(|(value, seen)| {
        [seen.count.to_string(), time(seen.first), time(seen.last), terminal(value).into_owned()]
    }));
    rows
}

fn time(t: Option<jiff::Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// A measured column is at most this many cells wide: a longer value is kept whole and pushes the rest of
/// its own row, so one long user name does not widen every row.
const MAX_WIDTH: usize = 40;

/// Writes rows with every column as wide as its widest cell (up to [`MAX_WIDTH`]), two spaces apart.
fn aligned<const N: usize>(out: &mut impl Write, rows: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.width().min(MAX_WIDTH));
        }
    }
    let mut line = String::new();
    for row in rows {
        line.clear();
        for (cell, width) in row.iter().zip(widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width.saturating_sub(cell.width()) + 2));
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::score::Matched;

    #[test]
    fn terminal_text_shows_escape_sequences_and_invisible_formatting_harmlessly() {
        assert_eq!(terminal("plain ünïcode 山田"), "plain ünïcode 山田");
        assert_eq!(terminal("red\u{1b}[31m\n"), "red\\u{1b}[31m\\n");
        // A right-to-left override would show `evil.exe` as `exe.live`; separators and zero-width
        // characters would break or hide text.
        assert_eq!(terminal("a\u{202e}exe.live"), "a\\u{202e}exe.live");
        assert_eq!(terminal("x\u{2028}y\u{2029}z"), "x\\u{2028}y\\u{2029}z");
        assert_eq!(terminal("zero\u{200b}width\u{feff}\u{2066}"), "zero\\u{200b}width\\u{feff}\\u{2066}");
        assert!(['\u{ad}', '\u{61c}', '\u{e0041}', '\u{85}'].into_iter().all(hidden));
        assert!(!['a', '山', ' ', 'é', '\u{301}'].into_iter().any(hidden));
    }

    fn call<'a>(agent: &'a str, event_name: &'a str) -> Call<'a> {
        Call { agent, event_name, ..Call::example() }
    }

    /// The terminal cell at which `needle` starts in `line`.
    fn column_of(line: &str, needle: &str) -> usize {
        line[..line.find(needle).unwrap()].width()
    }

    #[test]
    fn wide_characters_take_two_cells_and_the_columns_stay_aligned() {
        let fine = Verdict::example();
        let mut table = Table::new(Vec::new(), false);
        table.verdict(&call("aws-cli/2", "RunInstances"), &fine).unwrap();
        table.verdict(&Call { user_name: "山田", ..call("boto3/1", "RunInstances") }, &fine).unwrap();
        table.verdict(&Call { user_name: "山田太郎のデプロイ用キー", ..call("sdk/3", "RunInstances") }, &fine).unwrap();
        let text = String::from_utf8(table.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let at = column_of(lines[0], "SOURCE IP");
        for (line, agent) in lines[1..].iter().zip(["aws-cli/2", "boto3/1", "sdk/3"]) {
            assert_eq!(column_of(line, "203.0.113.9"), at, "{text}");
            assert_eq!(column_of(line, agent), column_of(lines[0], "AGENT"), "{text}");
        }
        assert!(lines[3].contains("山田太郎のデプ …  "), "cut within 16 cells, `…` last: {text}");

        let profile = |user: &str| Profile {
            access_key_id: "AKIAEXAMPLE1".into(),
            user_name: user.into(),
            account_id: "123456789012".into(),
            ..Profile::default()
        };
        let mut out = Vec::new();
        profile_table(&mut out, &[profile("山田"), profile("yamada")]).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1..].iter().all(|l| column_of(l, "1234") == column_of(lines[0], "ACCOUNT")), "{text}");
    }

    #[test]
    fn one_long_value_lengthens_only_its_own_row() {
        let mut profile = Profile { access_key_id: "AKIAEXAMPLE1".into(), ..Profile::default() };
        let long = "a".repeat(100_000);
        for agent in ["aws-cli/2", long.as_str()] {
            profile.agents.insert(agent.to_string(), crate::profile::Seen { count: 1, first: None, last: None });
        }
        let mut out = Vec::new();
        profile_detail(&mut out, &profile).unwrap();
        let text = String::from_utf8(out).unwrap();
        let widest_other = text.lines().filter(|l| !l.contains(&long)).map(str::len).max().unwrap();
        assert!(widest_other < 80, "{widest_other}");
        assert!(text.lines().any(|l| l.ends_with(&long)), "the long value is shown whole, last");

        let profiles = [
            Profile { access_key_id: "AKIAEXAMPLE1".into(), user_name: long.clone(), ..Profile::default() },
            Profile { access_key_id: "AKIAEXAMPLE2".into(), user_name: "ci".into(), ..Profile::default() },
        ];
        let mut out = Vec::new();
        profile_table(&mut out, &profiles).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().filter(|l| !l.contains(&long)).all(|l| l.len() < 200), "{}", &text[..300]);
    }

    #[test]
    fn a_value_longer_than_any_real_one_is_cut_at_a_whole_character() {
        let fine = Verdict::example();
        // Two-cell, two-byte and one-cell characters, so that a cut by bytes or by characters would show.
        let agent = "山é-".repeat(2_500);
        let key = "K".repeat(10_000);
        let mut table = Table::new(Vec::new(), false);
        table.verdict(&call(&agent, "RunInstances"), &fine).unwrap();
        table.verdict(&Call { access_key: &key, ..call("aws-cli/2", "RunInstances") }, &fine).unwrap();
        let text = String::from_utf8(table.out).unwrap();
        let rows: Vec<&str> = text.lines().skip(1).collect();
        let agent_at = column_of(text.lines().next().unwrap(), "AGENT");
        let shown = rows[0].split_at(rows[0].find('山').unwrap()).1;
        assert_eq!(shown.width(), LONGEST, "{shown}");
        assert_eq!(column_of(rows[0], "山"), agent_at, "{text}");
        // 49 times `山é-` (4 cells) is 196 cells; the next `山` would end at 198, `é` at 199, then `…`.
        assert_eq!(shown, format!("{}山é…", "山é-".repeat(49)));
        assert!(rows[1].contains(&format!("  {}…  ", "K".repeat(LONGEST - 1))), "{}", rows[1]);
        assert!(rows[1].ends_with("aws-cli/2"), "the key is cut, the rest of its row kept: {}", rows[1]);
    }

    #[test]
    fn rows_line_up_and_suspicious_ones_are_marked_and_coloured() {
        let matched = Matched { ip: false, agent: true, region: true, event: true };
        let bad = Verdict {
            score: 60,
            suspicious: true,
            matched,
            signals: vec![Signal::CallerIdentityFirst],
            ..Verdict::example()
        };
        let good = Verdict::example();
        let mut table = Table::new(Vec::new(), false);
        table.verdict(&call("aws-cli/2", "RunInstances"), &bad).unwrap();
        table.verdict(&call("aws-cli/2", "DescribeInstancesWithAVeryLongNameIndeed"), &good).unwrap();
        let text = String::from_utf8(table.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("   TIME "), "{text}");
        assert!(lines[1].starts_with("!  2026-11-02T10:00:00Z  AKIAEXAMPLE1"), "{text}");
        assert!(lines[1].contains("ec2:RunInstances") && lines[1].contains("   60  probe,ip "), "{text}");
        assert!(lines[2].contains("ec2:DescribeInstancesWithAVer…    100"), "{text}");
        let agent_at = lines[0].chars().count() - "AGENT".len();
        assert!(lines.iter().all(|l| l.chars().skip(agent_at).collect::<String>().starts_with(['A', 'a'])), "{text}");

        let mut coloured = Table::new(Vec::new(), true);
        coloured.verdict(&call("evil\u{1b}[2J", "RunInstances"), &bad).unwrap();
        let text = String::from_utf8(coloured.out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert!(row.starts_with(BOLD_RED) && row.ends_with(&format!("evil\\u{{1b}}[2J{RESET}")), "{text:?}");
        assert_eq!(text.matches('\u{1b}').count(), 4, "only the table's own colours: {text:?}");
    }
}
