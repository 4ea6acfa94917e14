//! The old keyWatcher script's profile formats, read as data. Its Redis held one string key per fact,
//! `[Key]AKIA…:[Ip]1.2.3.4`, `…:[Agent]aws-cli/1.16-Python/2.7`, `…:[Region]us-east-1`,
//! `…:[Eventname]DescribeInstances`, `…:[Account]123:[Username]bob`; `export_profile` wrote them as
//! `redis-cli set "<key>" 1` lines and `show_profile` listed them as `redis-cli keys` does (` 1) "<key>"`).
//! Each line becomes a one-key [`Profile`]. Nothing in a line is ever run: the old import ran the file with
//! `sh`, so a user agent holding `$(…)` ran a command. The old format kept no times, no service with the
//! event name and no spaces in agents (they became `-`); `score.rs` matches such values accordingly.

use crate::profile::{Profile, Seen};

/// Parses one line of the old export or listing into a profile holding that one fact.
pub fn parse_line(line: &str) -> Result<Profile, String> {
    let (entry, count) = entry_and_count(line)?;
    parse_entry(&entry, count).map_err(|why| why.unwrap_or_else(|| not_old_format(line)))
}

/// Parses one old key (`[Key]AKIA…:[Ip]1.2.3.4`) seen `count` times; `Err(None)` when it is not of the old
/// layout at all, for the caller to say where it came from.
pub fn parse_entry(entry: &str, count: u64) -> Result<Profile, Option<String>> {
    let rest = entry.strip_prefix("[Key]").ok_or(None)?;
    let (key, fact) = rest.split_once(":[").ok_or(None)?;
    let (label, value) = fact.split_once(']').ok_or(None)?;
    if key.is_empty() {
        return Err(Some("an old-format entry without an access key".into()));
    }
    let mut profile = Profile::new(key);
    let seen = Seen { count, first: None, last: None };
    let set = match label {
        "Ip" => &mut profile.ips,
        "Agent" => &mut profile.agents,
        "Region" => &mut profile.regions,
        "Eventname" => &mut profile.events,
        "Account" => {
            let (account, user) = value.split_once(":[Username]").unwrap_or((value, ""));
            profile.account_id = account.to_string();
            profile.user_name = user.to_string();
            return Ok(profile);
        }
        other => return Err(Some(format!("unknown old-format field [{other}]"))),
    };
    if !value.is_empty() {
        set.insert(value.to_string(), seen);
    }
    Ok(profile)
}

/// Strips the export's `redis-cli set "…" N` or the listing's ` 7) "…"`; a bare `[Key]…` line is also
/// accepted (`redis-cli --raw keys`). The export wrote keys raw between its quotes; the listing quotes them
/// as redis-cli does (`\"`, `\\`, `\n`, `\xNN`), which is undone here.
fn entry_and_count(line: &str) -> Result<(String, u64), String> {
    if let Some(rest) = line.strip_prefix("redis-cli set ") {
        let rest = rest.trim();
        let open = rest.strip_prefix('"').ok_or_else(|| not_old_format(line))?;
        let close = open.rfind('"').ok_or_else(|| not_old_format(line))?;
        let count = open[close + 1..].trim();
        let count =
            if count.is_empty() { 1 } else { count.parse().map_err(|_| format!("count '{count}' is not a number"))? };
        return Ok((open[..close].to_string(), count));
    }
    let listed = match line.split_once(") ") {
        Some((number, rest)) if !number.trim().is_empty() && number.trim().bytes().all(|b| b.is_ascii_digit()) => {
            rest.trim()
        }
        _ => line,
    };
    match listed.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => Ok((unquote(quoted), 1)),
        None => Ok((listed.to_string(), 1)),
    }
}

/// Undoes redis-cli's quoting of a key in its listing.
fn unquote(quoted: &str) -> String {
    let mut bytes = Vec::with_capacity(quoted.len());
    let mut rest = quoted.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'\\' {
            bytes.push(b);
            continue;
        }
        let Some((&escape, tail)) = rest.split_first() else {
            bytes.push(b);
            break;
        };
        rest = tail;
        match escape {
            b'n' => bytes.push(b'\n'),
            b'r' => bytes.push(b'\r'),
            b't' => bytes.push(b'\t'),
            b'a' => bytes.push(0x07),
            b'b' => bytes.push(0x08),
            b'x' if rest.len() >= 2 && rest[..2].iter().all(u8::is_ascii_hexdigit) => {
                let hex = std::str::from_utf8(&rest[..2]).unwrap_or("3f");
                bytes.push(u8::from_str_radix(hex, 16).unwrap_or(b'?'));
                rest = &rest[2..];
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn not_old_format(line: &str) -> String {
    let shown: String = line.chars().take(80).collect();
    format!(
        "not a profile: expected a JSON line, `redis-cli set \"[Key]…\" 1` or a `[Key]…` listing line, got {shown:?}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fact_of_the_old_format_is_read() {
        let ip = parse_line(r#"redis-cli set "[Key]AKIAOLD:[Ip]111.111.111.111" 1"#).unwrap();
        assert_eq!(ip.access_key_id, "AKIAOLD");
        assert!(ip.ips.contains_key("111.111.111.111"));
        let agent = parse_line(r#"redis-cli set "[Key]AKIAOLD:[Agent]aws-cli/1.10.1-Python/2.7.5" 1"#).unwrap();
        assert!(agent.agents.contains_key("aws-cli/1.10.1-Python/2.7.5"));
        let listed = parse_line(r#"10) "[Key]AKIAOLD:[Region]ap-southeast-2""#).unwrap();
        assert!(listed.regions.contains_key("ap-southeast-2"));
        let raw = parse_line("[Key]AKIAOLD:[Eventname]DescribeDBSnapshots").unwrap();
        assert_eq!(raw.events["DescribeDBSnapshots"].count, 1);
        let who = parse_line(r#" 5) "[Key]AKIAOLD:[Account]1234567890:[Username]jackie.chen""#).unwrap();
        assert_eq!((who.account_id.as_str(), who.user_name.as_str()), ("1234567890", "jackie.chen"));
    }

    #[test]
    fn the_listing_quoting_of_redis_cli_is_undone() {
        let p = parse_line(r#"3) "[Key]AKIAOLD:[Agent]say-\"hi\"-\\-\xc3\xa9""#).unwrap();
        assert!(p.agents.contains_key("say-\"hi\"-\\-é"), "{:?}", p.agents);
    }

    #[test]
    fn shell_in_a_value_stays_text() {
        let p = parse_line(r#"redis-cli set "[Key]AKIAOLD:[Agent]$(touch-pwned)`id`" 1"#).unwrap();
        assert!(p.agents.contains_key("$(touch-pwned)`id`"));
    }

    #[test]
    fn anything_else_is_refused() {
        assert!(parse_line("echo hello").unwrap_err().contains("not a profile"));
        assert!(parse_line(r#"redis-cli set "[Key]AKIAOLD:[Color]red" 1"#).unwrap_err().contains("[Color]"));
    }
}
