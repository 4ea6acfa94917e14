//! The command line as clap sees it: subcommands, flags, their help and examples, and the old script's
//! command names with their word order (`update_profile "1 hour ago" AKIA…`). Only flags live here; turning
//! them into checked settings is `config.rs`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Size;
use crate::extract::Owner;
use crate::score::{AgentMatch, IpMatch};

#[derive(Debug, Parser)]
#[command(
    name = "keywatcher",
    version,
    about = "Learn how each long-term AWS access key is used, from CloudTrail, and flag the calls that do not fit",
    long_about = "Learn how each long-term AWS access key (AKIA…) and each role is used, from CloudTrail records: from \
which source IPs, with which user agents, in which regions, for which API calls. Then score new calls against that \
profile and flag those that do not fit; a role session's temporary credentials are scored against its role.\n\nReads CloudTrail as log files ({\"Records\":[…]}), NDJSON, JSON arrays or \
pretty-printed records, gzipped or not, from stdin, files or directory trees; records in EventBridge events, \
lookup-events output, CloudWatch Logs subscription data (decoded or awslogs.data), Fluent Bit or Vector \
events (log, message) and SQS or SNS messages are taken out of them. Writes scored NDJSON on stdout; \
diagnostics and a summary go to stderr.",
    after_help = "Examples:\n  \
$ keywatcher learn archive/2026/10/\n  \
$ aws s3 cp s3://trail/AWSLogs/…/x.json.gz - | keywatcher score --only-suspicious\n  \
$ keywatcher score --baseline archive/2026/10 archive/2026/11/01\n  \
$ keywatcher score records.json | keywatcher report -o incident.html\n  \
$ keywatcher profile show AKIA\n\n\
Exit status: 0 done; 1 with --exit-code when a call was suspicious; 2 usage, input or store error.\n\
The old script's commands still work: update_profile, score_request (score_requst), show_profile, \
delete_profile, export_profile, import_profile."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Learn profiles from CloudTrail records and merge them into the store
    #[command(after_help = "Examples:\n  \
$ keywatcher learn archive/2026/10/                      # a whole tree, gzipped or not\n  \
$ zcat *.json.gz | keywatcher learn --since 2026-10-01 --until 2026-11-01\n  \
$ keywatcher learn --store /srv/kw/profiles --key AKIAEXAMPLEKEY1 records.ndjson\n  \
$ aws cloudtrail lookup-events --max-results 50 | keywatcher learn --dedup 1000\n  \
$ keywatcher learn --checkpoint /var/lib/kw/learned /srv/cloudtrail/   # cron: each file once")]
    Learn(LearnArgs),
    /// Score CloudTrail records against the profiles; one JSON line per call (a table on a terminal)
    #[command(after_help = "Examples:\n  \
$ aws s3 cp s3://trail/AWSLogs/…/x.json.gz - | keywatcher score\n  \
$ keywatcher score --only-suspicious --since \"1 hour ago\" /var/log/cloudtrail/\n  \
$ keywatcher score --baseline archive/2026/10 archive/2026/11/0[1-3]   # no store touched\n  \
$ keywatcher score --frozen records.json   # against the stored profiles only, as before\n  \
$ keywatcher score --weights ip=50,agent=20,region=20,event=10 --threshold 80 records.json\n  \
$ keywatcher score --passthrough --dedup 10000 -   # exec stage: records back, enriched\n  \
$ keywatcher score --follow --checkpoint /var/lib/kw/done /srv/cloudtrail/   # new files, once\n\n\
Each output line has CloudTrail's fields (eventTime, eventID, accessKeyId, accountId, userType, userName, \
awsRegion, sourceIPAddress, userAgent, eventSource, eventName) and score, threshold, suspicious, profile \
(known|warming|unknown), matched {ip, agent, region, event} and reasons. With --passthrough each line is \
the record as read, with a keywatcher member holding score to reasons, or excluded and why.\n\n\
A call that was not suspicious is learned in memory at once, so the calls after it are scored against it; \
--learn also saves it into the store, --frozen scores against the stored profiles only. Role sessions are scored against their role once `learn` has seen it.\n\n\
--scoring legacy gives the old script's exact matching, by key and frozen; the standard scoring was chosen on the \
scenario suite (scripts/evaluate.py, README \"How well it detects\").")]
    Score(ScoreArgs),
    /// Show, delete, export or import stored profiles
    #[command(
        subcommand,
        after_help = "Examples:\n  \
$ keywatcher profile show\n  \
$ keywatcher profile export -o profiles.jsonl"
    )]
    Profile(ProfileCommand),
    /// Write an HTML incident report from scored lines: per-key summary, timeline, table of suspicious calls
    #[command(after_help = "Examples:\n  \
$ keywatcher score --baseline archive/2026/10 archive/2026/11/08 > scored.ndjson\n  \
$ keywatcher report scored.ndjson -o incident.html\n  \
$ keywatcher score --key AKIAEXAMPLECIDEPLOY1 records.json | keywatcher report -o ci-deploy.html\n\n\
The page is one file with nothing to fetch: mail it or attach it to a ticket. Every value from the records is \
shown as text.")]
    Report(ReportArgs),
    /// Print a shell completion script
    #[command(after_help = "Examples:\n  \
$ keywatcher completions bash > ~/.local/share/bash-completion/completions/keywatcher\n  \
$ keywatcher completions zsh > ~/.zfunc/_keywatcher\n  \
$ keywatcher completions fish > ~/.config/fish/completions/keywatcher.fish")]
    Completions(CompletionsArgs),
    /// Print the manual page (roff)
    #[command(after_help = "Examples:\n  \
$ keywatcher man > ~/.local/share/man/man1/keywatcher.1\n  \
$ keywatcher man | man -l -")]
    Man,

    /// The old script's `update_profile [PERIOD] [KEY]`: learn records from stdin (default period "1 day ago")
    #[command(name = "update_profile", hide = true)]
    UpdateProfile(LegacyLearnArgs),
    /// The old script's `score_request [PERIOD] [KEY]`: score records from stdin (default period "10 min ago")
    #[command(name = "score_request", alias = "score_requst", hide = true)]
    ScoreRequest(LegacyScoreArgs),
    /// The old script's `show_profile`: `profile show`
    #[command(name = "show_profile", hide = true)]
    ShowProfile(ShowArgs),
    /// The old script's `delete_profile`: `profile delete`
    #[command(name = "delete_profile", hide = true)]
    DeleteProfile(DeleteArgs),
    /// The old script's `export_profile`: `profile export`
    #[command(name = "export_profile", hide = true)]
    ExportProfile(ExportArgs),
    /// The old script's `import_profile`: `profile import`
    #[command(name = "import_profile", hide = true)]
    ImportProfile(ImportArgs),
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the stored keys and their profiles (alias: show_profile)
    #[command(after_help = "Examples:\n  \
$ keywatcher profile show\n  \
$ keywatcher profile show ci-deploy          # keys whose key, user or account contains it\n  \
$ keywatcher profile show AKIAEXAMPLEKEY1    # one key: each value with its count, first and last seen\n  \
$ keywatcher profile show --json AKIAEXAMPLEKEY1 | jq .ips")]
    Show(ShowArgs),
    /// Delete the profiles of some keys, or of all (alias: delete_profile)
    #[command(after_help = "Examples:\n  \
$ keywatcher profile delete AKIAEXAMPLEKEY1 AKIAEXAMPLEKEY2\n  \
$ keywatcher profile delete --all")]
    Delete(DeleteArgs),
    /// Write every profile as JSON Lines, one key per line (alias: export_profile)
    #[command(after_help = "Examples:\n  \
$ keywatcher profile export -o profiles.jsonl\n  \
$ keywatcher profile export --store old/profiles | keywatcher profile import --store new/profiles")]
    Export(ExportArgs),
    /// Remove from the stored profiles the values not seen for a while (in event time)
    #[command(after_help = "Examples:\n  \
$ keywatcher profile prune                        # values last seen more than 90 days ago\n  \
$ keywatcher profile prune --forget-after 30 --now 2026-11-01")]
    Prune(PruneArgs),
    /// Merge profiles from JSON Lines, or from the old script's export or listing (alias: import_profile)
    #[command(after_help = "Examples:\n  \
$ keywatcher profile import profiles.jsonl\n  \
$ keywatcher profile import --replace profiles.jsonl\n  \
$ keywatcher profile import profile-2016-09-09-10:00     # the old script's export, read as data, never run\n  \
$ keywatcher profile import --from-old-redis --store redis://localhost:6379   # the old script's Redis keys")]
    Import(ImportArgs),
}

/// Flags every command that reads records takes.
#[derive(Debug, Args, Clone, Default)]
pub struct CommonArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Only records whose eventTime is at or after T (RFC 3339, a date, @EPOCH, or "1 hour ago", 2h, 7d)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub since: Option<String>,
    /// Only records whose eventTime is before T (same forms as --since)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub until: Option<String>,
    /// The time that "1 hour ago" and the like count back from (default: the clock)
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub now: Option<String>,
    /// Only calls made with this access key (repeatable)
    #[arg(long = "key", value_name = "KEY")]
    pub keys: Vec<String>,
    /// How many threads read, decompress and parse [default: one per core]. The output is the same with any number
    #[arg(long, value_name = "N")]
    pub threads: Option<std::num::NonZeroUsize>,
    /// Stop reading an input at a record or document longer than SIZE, or a line with no record end in SIZE
    /// bytes, so that memory stays bounded (K, M, G: powers of 1024) [default: 16M]
    #[arg(long, value_name = "SIZE")]
    pub max_record_bytes: Option<Size>,
    /// Stop reading a gzip input once it has decompressed to SIZE (a gzip bomb); the other inputs are still
    /// read [default: 4G]
    #[arg(long, value_name = "SIZE")]
    pub max_decompressed_bytes: Option<Size>,
    /// Keep a profile per long-term access key and per role (`key-and-role`: a role session's temporary
    /// credentials, ASIA…, are scored against its role's habits once `learn` has seen the role), per access
    /// `key` only, or per `principal`: per IAM user (whichever of its keys) and per role [default: key-and-role;
    /// key with --scoring legacy and the old script's commands]
    #[arg(long, value_enum, value_name = "WHAT")]
    pub identity: Option<Owner>,
    /// Stop with exit status 2 at the first record or input that cannot be read, instead of skipping it
    #[arg(long)]
    pub strict: bool,
    /// Drop a record whose eventID was among the last N event IDs seen (CloudTrail and pipelines may deliver
    /// a record twice); counted in the summary. 0 keeps every record
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub dedup: usize,
    /// Print no summary and no per-record warnings on stderr (errors are still printed)
    #[arg(short, long)]
    pub quiet: bool,
}

/// Where profiles are kept.
#[derive(Debug, Args, Clone, Default)]
pub struct StoreArgs {
    /// Profile store: a snapshot file PATH (or file:PATH), redis://[USER:PASSWORD@]HOST:PORT[/DB], rediss://… (TLS)
    /// or redis+cluster://HOST:PORT,HOST:PORT,… [default: $XDG_STATE_HOME/keywatcher/profiles]. A Redis password
    /// may instead be in KEYWATCHER_REDIS_PASSWORD or REDISCLI_AUTH; a Redis URL may end in ?timeout=SECONDS, the
    /// longest wait for a reply (default 30)
    #[arg(long = "store", value_name = "URL", env = "KEYWATCHER_STORE", hide_env_values = true)]
    pub store: Option<String>,
}

#[derive(Debug, Args)]
pub struct LearnArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Skip the input files PATH records, and record the files read once their profiles are stored: a cron
    /// run over a growing tree learns each file once
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Files or directories of CloudTrail records, gzipped or not; `-` or none for stdin
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Args, Clone)]
pub struct ScoreOptions {
    /// A call scoring below N is suspicious
    #[arg(long, value_name = "N", default_value_t = 70)]
    pub threshold: u32,
    /// Weight of each factor that matches the profile
    #[arg(long, value_name = "W", default_value = "ip=40,agent=25,region=25,event=10")]
    pub weights: String,
    /// Write only the suspicious calls
    #[arg(long)]
    pub only_suspicious: bool,
    /// Learn the calls in INPUT made before --since (all of them without --since) into an in-memory profile
    /// and score against it; no store is read or written. Repeat it for each path: in `--baseline a* b`, a
    /// shell glob gives only its first path to --baseline
    #[arg(long = "baseline", value_name = "INPUT")]
    pub baseline: Vec<PathBuf>,
    /// Exit with status 1 when at least one call was suspicious
    #[arg(long)]
    pub exit_code: bool,
    /// Save into the store what the run learns: each call that was not suspicious, learned at once in memory
    /// (the calls after it are scored against it), is saved every --save-every, every --save-records calls
    /// and at the end. A key with no profile scores as suspicious, so it is never learned here: learn it first
    #[arg(long)]
    pub learn: bool,
    /// With --learn, save what was learned at least this often: a span such as 60s, 5m or 1h, or seconds
    #[arg(long, value_name = "SPAN", default_value = "60s", value_parser = crate::config::interval, requires = "learn")]
    pub save_every: std::time::Duration,
    /// With --learn, save whenever N calls have been learned since the last save
    #[arg(long, value_name = "N", default_value_t = 100_000, requires = "learn")]
    pub save_records: u64,
    /// Score every call against the stored profiles only; nothing seen in this run counts. Without it, a
    /// call that was not suspicious is learned in memory at once (saved only with --learn). Implied by
    /// --scoring legacy and the old script's commands
    #[arg(long, conflicts_with = "learn")]
    pub frozen: bool,
    /// With the standard scoring, a call that misses only on its address, an address in one of the key's own
    /// networks (/24, /64), is flagged and the address put on probation; a call like it from the same address
    /// SPAN or more (in event time) after the first is learned. 0: no probation, such addresses are flagged
    /// until `learn` takes them in [default: 24h]
    #[arg(long, value_name = "SPAN", value_parser = crate::config::probation, conflicts_with = "frozen")]
    pub probation: Option<jiff::SignedDuration>,
    /// Write every record back as read, one a line, with a `keywatcher` member added: score, threshold,
    /// suspicious, profile, matched and reasons, or `excluded` and why (temporary key, AWS service…)
    #[arg(long)]
    pub passthrough: bool,
    /// How calls are judged: `standard` compares agent families and networks and adds per-key signals;
    /// `legacy` is the old script's exact matching without signals. The flags below change one part of it
    #[arg(long, value_enum, value_name = "HOW", default_value_t = Scoring::Standard)]
    pub scoring: Scoring,
    /// Compare user agents as exact strings or by family (`aws-cli/2`, `Boto3/1`) [default: by --scoring]
    #[arg(long, value_enum, value_name = "HOW")]
    pub agent_match: Option<AgentMatch>,
    /// Compare source addresses exactly, or `near`: in a /24 or /64 the key used, or behind a VPC endpoint
    /// it used [default: by --scoring]
    #[arg(long, value_enum, value_name = "HOW")]
    pub ip_match: Option<IpMatch>,
    /// Addresses in these CIDR blocks (one a line, # comments) count as every key's own: VPN egress, offices
    #[arg(long, value_name = "FILE")]
    pub trusted_networks: Option<PathBuf>,
    /// Values a key has not shown for N days before a call no longer count for it; 0 never forgets
    /// [default: 90 with --scoring standard, never with legacy]
    #[arg(long, value_name = "N")]
    pub forget_after: Option<u32>,
    /// Per-key signals: dormant key, GetCallerIdentity probe, attack tool, AccessDenied burst, marked
    /// address, warming profile [default: by --scoring]
    #[arg(long, value_enum, value_name = "ON_OFF")]
    pub signals: Option<Switch>,
    /// A profile with fewer calls than N is warming (`"profile":"warming"`): new values are to be expected
    /// [default: 20]
    #[arg(long, value_name = "N")]
    pub warm_calls: Option<u64>,
    /// A profile spanning fewer than N days is warming [default: 2]
    #[arg(long, value_name = "N")]
    pub warm_days: Option<u64>,
    /// A key silent for more than N days before a call is dormant [default: 30]
    #[arg(long, value_name = "N")]
    pub dormant_days: Option<u64>,
    /// N AccessDenied calls from one new address within 10 minutes are a burst [default: 5]
    #[arg(long, value_name = "N")]
    pub denied_burst: Option<usize>,
    /// json: one JSON line per call, for programs; table: aligned columns for a person
    /// [default: table when stdout is a terminal, else json]
    #[arg(long, value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Colour the table: auto (when stdout is a terminal and NO_COLOR is not set), always or never. Only
    /// the table is coloured: with JSON output (the default into a pipe) it changes nothing
    #[arg(long, value_enum, value_name = "WHEN", default_value_t = Color::Auto)]
    pub color: Color,
}

/// The two scorings `--scoring` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scoring {
    Standard,
    Legacy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// How `score` writes its verdicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Json,
    Table,
}

/// When the terminal table is coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub options: ScoreOptions,
    #[command(flatten)]
    pub follow: FollowArgs,
    /// Files or directories of CloudTrail records, gzipped or not; `-` or none for stdin
    #[arg(value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
}

/// Reading directories as they fill, and remembering which files were read.
#[derive(Debug, Args, Clone, Default)]
pub struct FollowArgs {
    /// Keep watching the INPUT directories and score each file that appears in them, once it is complete
    /// (unchanged for --poll-interval), in path order, until stopped. Download names (`.*`, `*.tmp`,
    /// `*.part`, aws s3 sync's `NAME.1a2b3c4d`) are left alone
    #[arg(long)]
    pub follow: bool,
    /// Time between looks at the --follow directories: a span such as 500ms, 2s or 1m, or seconds (0.5)
    /// [default: 2s]
    #[arg(long, value_name = "SPAN", value_parser = crate::config::interval, requires = "follow")]
    pub poll_interval: Option<std::time::Duration>,
    /// Record in PATH each input file once its lines are written, and skip the files it records: a
    /// restarted --follow or a cron run over a tree neither repeats nor misses a file
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LegacyLearnArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How far back to read, e.g. "1 hour ago" [default: "1 day ago"]
    #[arg(value_parser = crate::config::period)]
    pub period: Option<String>,
    /// Only this access key
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct LegacyScoreArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub options: ScoreOptions,
    /// How far back to read, e.g. "15 min ago" [default: "10 min ago"]
    #[arg(value_parser = crate::config::period)]
    pub period: Option<String>,
    /// Only this access key
    pub key: Option<String>,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Write the profiles as JSON Lines instead of a table
    #[arg(long)]
    pub json: bool,
    /// Only keys whose access key, user name or account contains PATTERN; a stored access key given whole
    /// shows that key's values, each with its count and first and last seen
    #[arg(value_name = "KEY|PATTERN")]
    pub pattern: Option<String>,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Write the page to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Stop reading an input at a line longer than SIZE, so that memory stays bounded [default: 16M]
    #[arg(long, value_name = "SIZE")]
    pub max_line_bytes: Option<Size>,
    /// Stop reading a gzip input once it has decompressed to SIZE (a gzip bomb) [default: 4G]
    #[arg(long, value_name = "SIZE")]
    pub max_decompressed_bytes: Option<Size>,
    /// Lines written by `keywatcher score`; `-` or none for stdin
    #[arg(value_name = "SCORED")]
    pub inputs: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Delete every profile
    #[arg(long, conflicts_with = "keys")]
    pub all: bool,
    /// Access keys whose profiles to delete
    #[arg(value_name = "KEY", required_unless_present = "all")]
    pub keys: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Remove the values last seen more than N days before --now; 0 never forgets (prunes nothing)
    #[arg(long, value_name = "N", default_value_t = crate::score::FORGET_AFTER_DAYS as u32)]
    pub forget_after: u32,
    /// The time the days count back from (RFC 3339, a date, @EPOCH) [default: the clock]
    #[arg(long, value_name = "T", allow_hyphen_values = true)]
    pub now: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Write to FILE instead of stdout
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Replace every stored profile with the imported ones instead of merging them in
    #[arg(long)]
    pub replace: bool,
    /// JSON Lines, or the old script's export or listing; `-` or none for stdin
    #[arg(conflicts_with = "from_old_redis")]
    pub file: Option<PathBuf>,
    /// Read the old script's keys (`[Key]AKIA…:[Ip]…`) from the Redis of --store instead, leaving them there
    #[arg(long)]
    pub from_old_redis: bool,
}

impl LegacyLearnArgs {
    /// The same run in today's words: `learn --since PERIOD --key KEY`, records on stdin, by key.
    pub fn into_learn(self) -> LearnArgs {
        LearnArgs {
            common: legacy_common(self.common, self.period, self.key, "1 day ago"),
            checkpoint: None,
            inputs: Vec::new(),
        }
    }
}

impl LegacyScoreArgs {
    /// The same run in today's words: `score --since PERIOD --key KEY`, records on stdin, by key and frozen
    /// (unless --learn), as the old script scored.
    pub fn into_score(self) -> ScoreArgs {
        let frozen = !self.options.learn;
        ScoreArgs {
            common: legacy_common(self.common, self.period, self.key, "10 min ago"),
            options: ScoreOptions { frozen, ..self.options },
            follow: FollowArgs::default(),
            inputs: Vec::new(),
        }
    }
}

fn legacy_common(mut common: CommonArgs, period: Option<String>, key: Option<String>, default: &str) -> CommonArgs {
    if common.since.is_none() {
        common.since = Some(period.unwrap_or_else(|| default.to_string()));
    }
    common.keys.extend(key.filter(|k| !k.is_empty()));
    common.identity.get_or_insert(Owner::Key);
    common
}
