//! What a person reads at a terminal: scored calls as aligned columns, suspicious rows marked with `!` and,
//! with colour, in bold red (`score --format table`); the `profile show` table of keys, and one key's values
//! with their counts and first and last seen. Every value from a record passes through [`terminal`], so a
//! control character or escape sequence it holds is shown as a visible escape and never drives the
//! terminal; the only escape sequences written are this file's own colours. Writes into the writer it is
//! given; never decides a score.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use crate::emit::{self, WriteVerdict};
use crate::extract::Call;
use crate::profile::{Profile, Values};
use crate::score::Verdict;

const BOLD_RED: &str = "\u{1b}[1;31m";
const DIM: &str = "\u{1b}[2m";
const RESET: &str = "\u{1b}[0m";

/// `s` with control characters (escape sequences among them) written as visible escapes.
pub fn terminal(s: &str) -> Cow<'_, str> {
    if !s.chars().any(char::is_control) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(s.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect())
}

/// How a value fits its column.
#[derive(Clone, Copy, PartialEq)]
enum Fit {
    /// Padded; a longer value is kept whole and pushes the rest of its row (times, keys, addresses: cutting
    /// them would change their meaning).
    Whole,
    /// Padded; a longer value is cut, ending with `…`.
    Cut,
    /// Right-aligned (numbers).
    Right,
}

/// The columns of the scored-call table, with their widths; the agent comes last, whole, after them. The
/// columns are fixed, not measured, so that a live feed gets each row at once.
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
        let new = if verdict.known { verdict.matched.missing() } else { vec!["no profile"] };
        let service = emit::service(call.event_source);
        let event =
            if service.is_empty() { call.event_name.to_string() } else { format!("{service}:{}", call.event_name) };
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

/// Appends one row: each cell padded (or cut) to its column, then the last value whole.
fn row(line: &mut String, cells: &[Cow<str>], last: &str) {
    for (&(_, width, fit), cell) in COLUMNS.iter().zip(cells) {
        let length = cell.chars().count();
        let padding = std::iter::repeat_n(' ', width.saturating_sub(length));
        match fit {
            Fit::Cut if length > width => {
                line.extend(cell.chars().take(width - 1));
                line.push('…');
            }
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
    line.push_str(last);
    line.push('\n');
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

/// Writes one key's profile: who it is, then each kind of value, most used first, with count and times.
pub fn profile_detail(out: &mut impl Write, p: &Profile) -> io::Result<()> {
    writeln!(out, "key      {}", terminal(&p.access_key_id))?;
    writeln!(out, "user     {} ({})", terminal(&p.user_name), terminal(&p.user_type))?;
    writeln!(out, "account  {}", terminal(&p.account_id))?;
    writeln!(out, "seen     {} to {}", time(p.first_seen), time(p.last_seen))?;
    for (name, values) in [("IP", &p.ips), ("AGENT", &p.agents), ("REGION", &p.regions), ("EVENT", &p.events)] {
        writeln!(out)?;
        aligned(out, &value_rows(name, values))?;
    }
    Ok(())
}

fn value_rows(name: &str, values: &Values) -> Vec<[String; 4]> {
    let mut sorted: Vec<_> = values.iter().collect();
    sorted.sort_by(|a, b| b.1.count.cmp(&a.1.count).then_with(|| a.0.cmp(b.0)));
    let mut rows = vec![[name, "COUNT", "FIRST SEEN", "LAST SEEN"].map(String::from)];
    rows.extend(sorted.into_iter().map(|(value, seen)| {
        [terminal(value).into_owned(), seen.count.to_string(), time(seen.first), time(seen.last)]
    }));
    rows
}

fn time(t: Option<jiff::Timestamp>) -> String {
    t.map_or_else(|| "-".to_string(), |t| t.to_string())
}

/// Writes rows with every column as wide as its widest cell, two spaces apart.
fn aligned<const N: usize>(out: &mut impl Write, rows: &[[String; N]]) -> io::Result<()> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            line.push_str(cell);
            line.extend(std::iter::repeat_n(' ', width - cell.chars().count() + 2));
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
    fn terminal_text_shows_escape_sequences_harmlessly() {
        assert_eq!(terminal("plain"), "plain");
        assert_eq!(terminal("red\u{1b}[31m\n"), "red\\u{1b}[31m\\n");
    }

    fn call<'a>(agent: &'a str, event_name: &'a str) -> Call<'a> {
        Call {
            time: "2026-11-02T10:00:00Z".parse().unwrap(),
            event_time: "2026-11-02T10:00:00Z",
            event_id: "e-1",
            access_key: "AKIAEXAMPLE1",
            account: "123456789012",
            user_type: "IAMUser",
            user_name: "ci-deploy",
            region: "us-east-1",
            ip: "203.0.113.9",
            agent,
            event_source: "ec2.amazonaws.com",
            event_name,
        }
    }

    #[test]
    fn rows_line_up_and_suspicious_ones_are_marked_and_coloured() {
        let matched = Matched { ip: false, agent: true, region: true, event: true };
        let bad = Verdict { score: 60, threshold: 70, suspicious: true, known: true, matched };
        let good = Verdict { score: 100, suspicious: false, matched: Matched { ip: true, ..matched }, ..bad };
        let mut table = Table::new(Vec::new(), false);
        table.verdict(&call("aws-cli/2", "RunInstances"), &bad).unwrap();
        table.verdict(&call("aws-cli/2", "DescribeInstancesWithAVeryLongNameIndeed"), &good).unwrap();
        let text = String::from_utf8(table.out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("   TIME "), "{text}");
        assert!(lines[1].starts_with("!  2026-11-02T10:00:00Z  AKIAEXAMPLE1"), "{text}");
        assert!(lines[1].contains("ec2:RunInstances") && lines[1].contains("   60  ip "), "{text}");
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
