//! User agents → the client that sent them. Takes a `userAgent` string and gives its family — the product and
//! its major version (`aws-cli/2`, `Boto3/1`, `aws-sdk-go-v2/1`, `terraform/1`, `console`) — with the
//! platform, the minor and patch versions and the per-request tokens (`command/s3.cp`, `md/…`) left out, so
//! that an SDK or CLI upgrade, or a new command, is not a new client. It also names the user agents of known
//! attack tools. It never looks at profiles or decides a score.

use std::borrow::Cow;
use std::cell::RefCell;

use crate::recent::Recent;

/// The family of `agent`: the first `product/version` token as `product/MAJOR`, with a few products that wrap
/// an SDK (Terraform, the console) named by what the user ran. Without such a token, the text before the
/// first token that starts with a digit (`S3 Browser 11.5.7 …` → `S3 Browser`). Old exports turned spaces into
/// `-` (`aws-cli/1.10.1-Python/2.7.5`), which gives the same family as the original.
pub fn family(agent: &str) -> Cow<'_, str> {
    let agent = agent.trim().trim_start_matches('[');
    if let Some(at) = find_ignore_case(agent, "terraform/") {
        let version = &agent[at + "terraform/".len()..];
        return Cow::Owned(format!("terraform/{}", major(version)));
    }
    let first = agent.split_whitespace().next().unwrap_or("");
    if is_console(first) {
        return Cow::Borrowed("console");
    }
    if let Some((product, version)) = first.split_once('/') {
        let major = major(version);
        if !product.is_empty() && !major.is_empty() {
            // Usually `product/MAJOR` is where the token starts: no copy (scoring asks on every new agent).
            let prefix = &first[..product.len() + 1 + major.len()];
            return match prefix.ends_with(major) {
                true => Cow::Borrowed(prefix),
                false => Cow::Owned(format!("{product}/{major}")),
            };
        }
    }
    let end = agent
        .split_whitespace()
        .find(|token| token.starts_with(|c: char| c.is_ascii_digit()))
        .map_or(agent.len(), |token| token.as_ptr() as usize - agent.as_ptr() as usize);
    Cow::Borrowed(agent[..end].trim_end())
}

/// The attack tool `agent` names, if any: TruffleHog and Pacu say so in a product token of their own
/// (`TruffleHog`, `trufflehog/3.63.2`, Pacu's `Pacu` suffix on boto's agent); Kali, Parrot and Pentoo builds
/// of the CLI and SDKs carry the distribution in their platform token (`Linux/5.4.0-kali3-amd64`,
/// `os/linux#6.1.0-parrot1-amd64`). Only those tokens are looked at, so an application named `app/pacu-sync`
/// or `kali-ingest/1.0` is not a tool (GuardDuty's PenTest findings look for the same words, and are as easy
/// to evade by changing the user agent).
pub fn attack_tool(agent: &str) -> Option<&'static str> {
    RECENT.with_borrow_mut(|recent| recent.answer(agent, find_attack_tool))
}

thread_local! {
    /// Each thread's last answers of [`attack_tool`]: it is asked for every call, on the threads that extract
    /// them, and a key's calls mostly come from a few agents (on the generated tree, 61 % of calls repeat one of
    /// the last four agents of their thread). An empty agent names no tool.
    static RECENT: RefCell<Recent<String, Option<&'static str>, 4>> = RefCell::new(Recent::new(|| (String::new(), None)));
}

fn find_attack_tool(agent: &str) -> Option<&'static str> {
    const TOOLS: [(&str, &str); 2] = [("trufflehog", "TruffleHog"), ("pacu", "Pacu")];
    const SYSTEMS: [(&str, &str); 3] = [("kali", "Kali Linux"), ("parrot", "Parrot OS"), ("pentoo", "Pentoo")];
    // One pass over the tokens, a tool anywhere before a system: scoring asks for every call, and two
    // passes splitting with `split_once` took a quarter of the instructions of the thread that scores and
    // writes (callgrind, 362 gzipped log files).
    let mut system = None;
    for token in agent.split_ascii_whitespace() {
        let (name, rest) = match token.bytes().position(|b| b == b'/') {
            Some(at) => (&token[..at], &token[at + 1..]),
            None => (token, ""),
        };
        if let Some((_, tool)) = TOOLS.iter().find(|(word, _)| name.eq_ignore_ascii_case(word)) {
            return Some(tool);
        }
        if system.is_none()
            && let Some(release) = linux_release(name, rest)
        {
            system = SYSTEMS.iter().find(|(word, _)| contains_word(release, word)).map(|(_, name)| *name);
        }
    }
    system
}

/// The kernel release of a Linux platform token split at its first `/`: `Linux`/`5.4.0-kali3-amd64`, or
/// `os`/`linux#6.1.0-parrot1-amd64` in the newer SDKs' form.
fn linux_release<'a>(name: &str, rest: &'a str) -> Option<&'a str> {
    let linux = name.eq_ignore_ascii_case("linux")
        || name.eq_ignore_ascii_case("os") && rest.get(..6).is_some_and(|os| os.eq_ignore_ascii_case("linux#"));
    linux.then_some(rest)
}

/// True for the console's own agents (`console.amazonaws.com`, `signin.amazonaws.com`, `console.ec2.amazonaws.com`,
/// `AWS Internal`-style console paths).
fn is_console(token: &str) -> bool {
    let host = token.to_ascii_lowercase();
    (host.starts_with("console.") || host.starts_with("signin.")) && host.contains(".amazonaws.com")
}

/// The digits a version starts with: `2.13.5` → `2`, `1.10.1-Python/2.7.5` → `1`, `v2` → `2`.
fn major(version: &str) -> &str {
    let version = version.strip_prefix(['v', 'V']).unwrap_or(version);
    let end = version.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(version.len());
    &version[..end]
}

fn find_ignore_case(haystack: &str, needle: &str) -> Option<usize> {
    haystack.as_bytes().windows(needle.len()).position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// True when `word` occurs in `text`, ignoring case, not inside a longer run of letters (so `pacu` is not
/// found in `pacus` and `kali` is found in `5.4.0-kali3-amd64`).
fn contains_word(text: &str, word: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = find_ignore_case(&text[from..], word) {
        let start = from + at;
        let end = start + word.len();
        let letter = |i: Option<&u8>| i.is_some_and(u8::is_ascii_alphabetic);
        if !letter(start.checked_sub(1).and_then(|i| bytes.get(i))) && !letter(bytes.get(end)) {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_drop_minor_versions_platforms_and_request_tokens() {
        let cases = [
            (
                "aws-cli/2.13.5 Python/3.11.4 Linux/5.15.0-1051-aws exe/x86_64.ubuntu.22 prompt/off command/ecs.update-service",
                "aws-cli/2",
            ),
            ("aws-cli/2.15.30 Python/3.11.8 Darwin/23.1.0 exe/arm64 prompt/off command/s3.ls", "aws-cli/2"),
            ("aws-cli/1.18.69 Python/2.7.18 Linux/5.4.0 botocore/1.16.19", "aws-cli/1"),
            ("aws-cli/1.10.1-Python/2.7.5", "aws-cli/1"),
            ("[aws-cli/2.13.5 Python/3.11.4]", "aws-cli/2"),
            (
                "Boto3/1.28.57 md/Botocore#1.31.57 ua/2.0 os/linux#5.15 md/arch#x86_64 lang/python#3.11.4 cfg/retry-mode#legacy Botocore/1.31.57",
                "Boto3/1",
            ),
            (
                "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux md/GOARCH#amd64 api/s3#1.38.5",
                "aws-sdk-go-v2/1",
            ),
            ("aws-sdk-js/3.400.0 ua/2.0 os/linux#5.15 lang/js md/nodejs#18.17.1 api/s3#3.400.0", "aws-sdk-js/3"),
            (
                "APN/1.0 HashiCorp/1.0 Terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.17.0 aws-sdk-go-v2/1.21.0",
                "terraform/1",
            ),
            ("console.amazonaws.com", "console"),
            ("signin.amazonaws.com", "console"),
            ("S3 Browser 11.5.7 https://s3browser.com", "S3 Browser"),
            ("", ""),
        ];
        for (agent, want) in cases {
            assert_eq!(family(agent), want, "{agent}");
        }
        assert_ne!(family("aws-sdk-js/2.1400.0"), family("aws-sdk-js/3.400.0"), "a major upgrade is a new client");
    }

    #[test]
    fn an_agent_is_cut_into_tokens_at_any_ascii_whitespace() {
        assert_eq!(attack_tool("\tBoto3/1.9.0  Python/3.7\n Linux/5.10-parrot1 \t"), Some("Parrot OS"));
        assert_eq!(attack_tool("Boto3/1.9.0\u{c}Pacu"), Some("Pacu"), "a form feed is whitespace");
        assert_eq!(attack_tool("Boto3/1.9.0\u{a0}Pacu"), None, "a no-break space is not ASCII whitespace");
        assert_eq!(attack_tool("日本語/1 trufflehog"), Some("TruffleHog"));
        for nothing in ["", "   ", "/pacu", "pacu/", "//", "Linux/", "os/linux#"] {
            assert_eq!(attack_tool(nothing), if nothing == "pacu/" { Some("Pacu") } else { None }, "{nothing:?}");
        }
    }

    #[test]
    fn attack_tools_are_named_by_word_not_by_substring() {
        assert_eq!(attack_tool("TruffleHog"), Some("TruffleHog"));
        assert_eq!(
            attack_tool("aws-cli/1.18.69 Python/2.7.18 Linux/5.4.0-kali3-amd64 botocore/1.16.19"),
            Some("Kali Linux")
        );
        assert_eq!(attack_tool("Boto3/1.9.0 Python/3.7 Linux/5.10-parrot1 Botocore/1.12 Pacu"), Some("Pacu"));
        assert_eq!(attack_tool("aws-cli/2.13.5 Python/3.11.4 Linux/5.15 exe/x86_64.ubuntu.22"), None);
        assert_eq!(attack_tool("pacus/1.0 kalimba/2"), None);
        assert_eq!(attack_tool("trufflehog/3.63.2"), Some("TruffleHog"));
        assert_eq!(attack_tool("aws-sdk-go-v2/1.21.0 os/linux#6.1.0-parrot1-amd64 lang/go#1.21.1"), Some("Parrot OS"));
        for app in ["app/parrot-sync", "app/kali-ingest", "app/pacu-fish-tracker", "kali-ingest/1.0 Linux/5.15"] {
            assert_eq!(attack_tool(&format!("Boto3/1.28.57 Python/3.11.6 {app} Botocore/1.31.57")), None, "{app}");
        }
    }
}
