//! The portable form of profiles: JSON Lines, one profile per line with the fields of [`Profile`]
//! (`accessKeyId`, `accountId`, `userName`, `userType`, `firstSeen`, `lastSeen`, and `ips`, `agents`,
//! `regions`, `events`, each value → `{count, first, last}`). `profile export` writes it, the snapshot's body
//! is it, and `profile import` reads it, line by line together with the old script's lines (`legacy.rs`).

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Deserialize;

use crate::profile::{self, Profile, Profiles};

use super::legacy;

/// Writes one line per profile.
pub fn write_jsonl<'p>(out: &mut impl Write, profiles: impl IntoIterator<Item = &'p Profile>) -> io::Result<()> {
    for profile in profiles {
        serde_json::to_writer(&mut *out, profile)?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// Reads JSON Lines; blank lines are allowed. On error, the 0-based line and why.
pub fn parse_jsonl(text: &str) -> Result<Profiles, (usize, String)> {
    let mut profiles = Profiles::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let profile = one_jsonl(line).map_err(|why| (n, why))?;
        add(&mut profiles, profile);
    }
    Ok(profiles)
}

/// The `accessKeyId` of one JSON Lines profile, found without decoding the rest of it; or why the line is
/// not a profile. A line as keywatcher writes it starts with its key: taken from there, the rest of the line
/// is read only when the profile is looked up (reading every line to its end took 84 M of the 110 M
/// instructions of scoring one record against a 10,000-key snapshot; callgrind).
pub fn key_of(line: &str) -> Result<Cow<'_, str>, String> {
    let written = line.strip_prefix(r#"{"accessKeyId":""#).and_then(|rest| rest.split_once('"'));
    if let Some((key, _)) = written.filter(|(key, _)| !key.is_empty() && !key.contains('\\')) {
        return Ok(Cow::Borrowed(key));
    }
    #[derive(Deserialize)]
    struct Key<'a> {
        #[serde(borrow, rename = "accessKeyId")]
        key: Cow<'a, str>,
    }
    match serde_json::from_str::<Key>(line) {
        Ok(Key { key }) if !key.is_empty() && is_object(line) => Ok(key),
        // The full decode says best what is wrong.
        _ => one_jsonl(line).and(Err("a profile without accessKeyId".into())),
    }
}

/// Whether a line holds a JSON object. serde's derive also reads a struct from an array of its fields in order,
/// which no export writes: a snapshot line `["AKIA…"]` was a profile when read whole and damage when read by
/// key (found by `cargo fuzz run snapshot`).
fn is_object(line: &str) -> bool {
    line.trim_start().starts_with('{')
}

fn one_jsonl(line: &str) -> Result<Profile, String> {
    if !is_object(line) {
        return Err("not a profile: a profile is a JSON object, one a line".into());
    }
    let profile: Profile = serde_json::from_str(line).map_err(|err| {
        let hint = if line.contains("\"eventTime\"") || line.contains("\"Records\"") {
            " (this looks like CloudTrail records: learn them with `keywatcher learn`)"
        } else {
            ""
        };
        format!("not a profile: {err}{hint}")
    })?;
    if profile.access_key_id.is_empty() {
        return Err("a profile without accessKeyId".into());
    }
    Ok(profile)
}

/// Reads what `profile import` is given: JSON Lines, the old script's export (`redis-cli set "…" 1`) or its
/// profile listing, mixed freely, one entry per line. The text is data: nothing in it is ever run. Blank
/// lines and `#` comments are skipped; any other line that is none of these is an error naming it, and
/// then nothing is imported.
pub fn parse_import(text: &str) -> Result<Profiles, String> {
    let mut profiles = Profiles::new();
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let parsed = if trimmed.starts_with('{') { one_jsonl(trimmed) } else { legacy::parse_line(trimmed) };
        let profile = parsed.map_err(|why| format!("line {}: {why}", n + 1))?;
        add(&mut profiles, profile);
    }
    Ok(profiles)
}

fn add(profiles: &mut Profiles, profile: Profile) {
    profile::merge_all(profiles, Profiles::from([(profile.access_key_id.clone(), profile)]));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Seen;

    #[test]
    fn jsonl_round_trips() {
        let mut p = Profile::new("AKIAEXAMPLE1");
        p.account_id = "111122223333".into();
        p.agents.insert("aws-cli/2 \"quoted\"\n".into(), Seen::at("2026-11-02T10:00:00Z".parse().unwrap()));
        p.events.insert("DescribeDBSnapshots".into(), Seen { count: 3, first: None, last: None });
        let profiles = Profiles::from([(p.access_key_id.clone(), p)]);
        let mut out = Vec::new();
        write_jsonl(&mut out, profiles.values()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert_eq!(parse_jsonl(&text), Ok(profiles.clone()));
        assert_eq!(parse_import(&text), Ok(profiles));
    }

    #[test]
    fn an_array_of_the_fields_is_not_a_profile() {
        for line in [r#"["AKIAEXAMPLE1","",""]"#, r#"["AKIAEXAMPLE1"]"#] {
            assert_eq!(parse_jsonl(line).unwrap_err().1, "not a profile: a profile is a JSON object, one a line");
            assert!(key_of(line).is_err(), "{line}");
        }
    }

    #[test]
    fn the_key_of_a_line_is_the_one_it_decodes_to() {
        let mut out = Vec::new();
        write_jsonl(&mut out, [&Profile::new("AKIAEXAMPLE1")]).unwrap();
        let written = String::from_utf8(out).unwrap();
        let cases = [
            (written.trim_end(), Ok("AKIAEXAMPLE1")),
            (r#"{ "accessKeyId": "AKIAEXAMPLE1" }"#, Ok("AKIAEXAMPLE1")),
            (r#"{"accessKeyId":"AKIAEXAMPLE1"}"#, Ok("AKIAEXAMPLE1")),
            (r#"{"accountId":"1","accessKeyId":"AKIAEXAMPLE1"}"#, Ok("AKIAEXAMPLE1")),
            (r#"{"accessKeyId":""}"#, Err(())),
            (r#"{"accessKeyId":"AKIAEXAMPLE1"#, Err(())),
        ];
        for (line, key) in cases {
            assert_eq!(key_of(line).as_deref().map_err(drop), key, "{line}");
            if let Ok(profiles) = parse_jsonl(line) {
                assert!(profiles.keys().eq(key.ok()), "{line}");
            }
        }
        // Only a look-up reads past the key: what follows it is checked then (`Index::load`).
        let cut = r#"{"accessKeyId":"AKIAEXAMPLE1","ips":"#;
        assert_eq!(key_of(cut).as_deref(), Ok("AKIAEXAMPLE1"));
        assert!(parse_jsonl(cut).is_err());
    }

    #[test]
    fn an_unknown_line_names_its_number() {
        let err = parse_import("# a comment\n\nrm -rf /\n").unwrap_err();
        assert!(err.starts_with("line 3: "), "{err}");
    }
}
