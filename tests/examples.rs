//! The examples in `examples/` (Fluent Bit, Vector, cron) do not rot: every keywatcher command line in them is
//! given to the binary with `--help` after it, which clap accepts only when every flag and value before it is
//! one keywatcher takes. The Fluent Bit input is also checked for what a command that runs for days needs there.

use std::path::{Path, PathBuf};

const SUBCOMMANDS: [&str; 4] = ["score", "learn", "profile", "report"];

/// Every file under `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { found.extend(files(&path)) } else { found.push(path) }
    }
    found
}

/// Splits shell words (single and double quotes, no expansion) up to the first redirection, pipe or list.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut in_word = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    let end = words.iter().position(|w| ["<", ">", ">>", "|", "&&", "||", ";", "2>", "2>&1"].contains(&w.as_str()));
    words.truncate(end.unwrap_or(words.len()));
    words
}

/// The keywatcher command lines of one example file: arguments after `keywatcher`, which must start with a
/// subcommand. A TOML `command = [...]` array is read as the list it is.
fn command_lines(text: &str) -> Vec<Vec<String>> {
    let mut commands = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.starts_with('#')) {
        let words: Vec<String> = match line.strip_prefix("command = ") {
            Some(array) => serde_json::from_str(array).unwrap_or_else(|e| panic!("{e}: {line}")),
            None => shell_words(line),
        };
        for (at, _) in words.iter().enumerate().filter(|(_, w)| *w == "keywatcher") {
            if words.get(at + 1).is_some_and(|next| SUBCOMMANDS.contains(&next.as_str())) {
                commands.push(words[at + 1..].to_vec());
            }
        }
    }
    commands
}

#[test]
fn every_keywatcher_command_in_the_examples_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut checked = Vec::new();
    for file in files(&dir) {
        let text = std::fs::read_to_string(&file).unwrap();
        for args in command_lines(&text) {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_keywatcher"))
                .args(&args)
                .arg("--help")
                .env_remove("KEYWATCHER_STORE")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}: keywatcher {}\n{}",
                file.display(),
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            checked.push((file.file_name().unwrap().to_string_lossy().into_owned(), args));
        }
    }
    let count = |name: &str| checked.iter().filter(|(file, _)| file == name).count();
    assert_eq!(
        [count("fluent-bit.conf"), count("vector.toml"), count("keywatcher"), count("score-new-files")],
        [1, 1, 1, 1],
        "each example's commands were found: {checked:?}"
    );
    assert!(
        checked.iter().filter(|(_, args)| args[0] == "score").all(|(_, args)| args.contains(&"--learn".to_string())),
        "the live examples learn: {checked:?}"
    );
}

#[test]
fn a_flag_keywatcher_does_not_take_is_caught() {
    let args = &command_lines("command = [\"keywatcher\", \"score\", \"--lern\"]")[0];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_keywatcher")).args(args).arg("--help").output().unwrap();
    assert!(!out.status.success(), "--help must not hide a wrong flag before it");
    assert_eq!(
        command_lines("*/5 * * * * kw  xargs -d '\\n' keywatcher score -q < \"$new\" >> \"$out\""),
        vec![vec!["score".to_string(), "-q".to_string()]]
    );
}

/// The `[INPUT]` sections of a Fluent Bit classic configuration, each as its keys (lower case) and values.
fn fluent_bit_inputs(text: &str) -> Vec<Vec<(String, String)>> {
    let mut inputs = Vec::new();
    let mut section = None;
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        if line.starts_with('[') {
            inputs.extend(section.take());
            section = (line.eq_ignore_ascii_case("[INPUT]")).then(Vec::new);
        } else if let Some(keys) = &mut section {
            let (key, value) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            keys.push((key.to_ascii_lowercase(), value.trim().to_ascii_lowercase()));
        }
    }
    inputs.extend(section);
    inputs
}

#[test]
fn the_fluent_bit_exec_input_runs_in_its_own_thread() {
    // Fluent Bit's exec input reads a Oneshot command until it exits; on the engine's thread that blocks every
    // flush for as long as keywatcher runs (days), so nothing scored would reach an output before shutdown
    // (fluent/fluent-bit#6947; the maintainers' answer is `Threaded on`).
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/fluent-bit.conf")).unwrap();
    let inputs = fluent_bit_inputs(&text);
    let is = |keys: &[(String, String)], key: &str, values: &[&str]| {
        keys.iter().any(|(k, v)| k == key && values.contains(&v.as_str()))
    };
    let oneshot: Vec<_> =
        inputs.iter().filter(|keys| is(keys, "name", &["exec"]) && is(keys, "oneshot", &["true", "on"])).collect();
    assert!(!oneshot.is_empty(), "the example has a Oneshot exec input: {inputs:?}");
    for keys in oneshot {
        assert!(is(keys, "threaded", &["true", "on"]), "a Oneshot exec input without `Threaded on`: {keys:?}");
    }
}
