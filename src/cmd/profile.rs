//! `keywatcher profile show|delete|export|import|prune` (old names `show_profile`, `delete_profile`,
//! `export_profile`, `import_profile`): look at, move and prune stored profiles. `show` lists the keys as a
//! table; `show KEY`, naming a stored access key whole, shows that key's values with their counts and
//! times. Import reads its file as data, whatever it holds, and writes nothing unless every line of it could
//! be read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::process::ExitCode;

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};

use crate::cli::{DeleteArgs, ExportArgs, ImportArgs, PruneArgs, ShowArgs};
use crate::emit;
use crate::profile::{Profile, Profiles};
use crate::report;
use crate::store;
use crate::terminal;
use crate::when;

pub fn show(args: ShowArgs) -> Result<ExitCode> {
    let mut store = store::open(args.store.store.as_deref())?;
    let all = store.all()?;
    let pattern = args.pattern.unwrap_or_default();
    let wanted = |p: &&Profile| {
        [&p.access_key_id, &p.user_name, &p.account_id].iter().any(|field| field.contains(pattern.as_str()))
    };
    // The detail is for a key the user named whole; a pattern gets the table, however many keys it matches.
    let named = all.get(&pattern);
    let shown: Vec<&Profile> = match named {
        Some(profile) => vec![profile],
        None => all.values().filter(wanted).collect(),
    };
    if shown.is_empty() {
        report::say(format_args!(
            "no profiles{} in {}",
            if pattern.is_empty() { String::new() } else { format!(" matching '{pattern}'") },
            store.location()
        ));
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = emit::stdout();
    match named {
        _ if args.json => store::write_jsonl(&mut out, shown)?,
        Some(profile) => terminal::profile_detail(&mut out, profile)?,
        None => terminal::profile_table(&mut out, shown)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

pub fn delete(args: DeleteArgs) -> Result<ExitCode> {
    let mut store = store::open(args.store.store.as_deref())?;
    let keys = (!args.all).then_some(args.keys.as_slice());
    let deleted = store.delete(keys)?;
    report::say(format_args!("deleted {deleted} profile(s) from {}", store.location()));
    if let Some(keys) = keys.filter(|keys| deleted < keys.len()) {
        report::say(format_args!("{} of the given key(s) had no profile", keys.len() - deleted));
    }
    Ok(ExitCode::SUCCESS)
}

/// Removes the values last seen before `--now` minus `--forget-after` days. The profiles themselves stay, with
/// their first and last seen, so a key that wakes up later is still known to have been dormant.
/// `--forget-after 0` means never forget, as in `score`: nothing is removed.
pub fn prune(args: PruneArgs) -> Result<ExitCode> {
    if args.forget_after == 0 {
        report::say(format_args!("--forget-after 0 means never forget: nothing to prune"));
        return Ok(ExitCode::SUCCESS);
    }
    let now = match &args.now {
        Some(text) => when::parse(text, Timestamp::now()).map_err(anyhow::Error::msg).context("invalid --now")?,
        None => Timestamp::now(),
    };
    let cutoff = now
        .checked_sub(SignedDuration::from_hours(24 * i64::from(args.forget_after)))
        .context("--forget-after reaches before the earliest time keywatcher can count")?;
    let mut store = store::open(args.store.store.as_deref())?;
    let mut all = store.all()?;
    let removed: usize = all.values_mut().map(|profile| profile.forget_before(cutoff)).sum();
    if removed > 0 {
        store.replace(all)?;
    }
    report::say(format_args!("removed {removed} value(s) last seen before {cutoff} from {}", store.location()));
    Ok(ExitCode::SUCCESS)
}

pub fn export(args: ExportArgs) -> Result<ExitCode> {
    let mut store = store::open(args.store.store.as_deref())?;
    let all = store.all()?;
    match &args.output {
        Some(path) if store.file().is_some_and(|file| same_file(file, path)) => {
            anyhow::bail!("-o {} is the profile snapshot itself; export to another file", path.display())
        }
        Some(path) => {
            let mut file =
                io::BufWriter::new(File::create(path).with_context(|| format!("cannot create {}", path.display()))?);
            store::write_jsonl(&mut file, all.values())
                .and_then(|()| file.flush())
                .with_context(|| format!("cannot write {}", path.display()))?;
            report::say(format_args!("exported {} profile(s) to {}", all.len(), path.display()));
        }
        None => {
            let mut out = emit::stdout();
            store::write_jsonl(&mut out, all.values())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn same_file(a: &std::path::Path, b: &std::path::Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

pub fn import(args: ImportArgs) -> Result<ExitCode> {
    let (name, profiles, mut store) = if args.from_old_redis {
        let (store, profiles) = store::old_redis(args.store.store.as_deref())?;
        ("the old script's keys".to_string(), profiles, store)
    } else {
        let (name, profiles) = read_import(args.file.as_deref())?;
        (name, profiles, store::open(args.store.store.as_deref())?)
    };
    let count = profiles.len();
    anyhow::ensure!(
        count > 0 || !args.replace,
        "{name} holds no profiles; --replace would delete every stored profile (use `profile delete --all` for that)"
    );
    if args.replace {
        store.replace(profiles)?;
    } else {
        store.merge(profiles)?;
    }
    report::say(format_args!(
        "imported {count} profile(s) from {name} into {}{}",
        store.location(),
        if args.replace { ", replacing what was there" } else { "" }
    ));
    Ok(ExitCode::SUCCESS)
}

/// The profiles in an import file (or stdin), and how to name it.
fn read_import(file: Option<&std::path::Path>) -> Result<(String, Profiles)> {
    let (name, mut source): (String, Box<dyn Read>) = match file {
        None => ("<stdin>".into(), Box::new(io::stdin())),
        Some(path) if path.as_os_str() == "-" => ("<stdin>".into(), Box::new(io::stdin())),
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            (path.display().to_string(), Box::new(file))
        }
    };
    let mut text = String::new();
    source.read_to_string(&mut text).with_context(|| format!("cannot read {name} as UTF-8 text"))?;
    let profiles = store::parse_import(&text).map_err(|why| anyhow::anyhow!("{name}: {why}; nothing was imported"))?;
    Ok((name, profiles))
}
