//! Record → Call. Takes a parsed CloudTrail [`Record`] and decides whether it is a call made with a long-term
//! access key that keywatcher profiles and scores; if so it gives a [`Call`], the facts that are learned and
//! scored, borrowed from the record. Otherwise it says why not: an [`Exclusion`] (counted by reason in the
//! summary) or a problem with the record itself. It never looks at profiles or decides a score.

use jiff::Timestamp;

use crate::parse::{Record, Text};
use crate::{agent, when};

/// The facts of one call, borrowed from its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Call<'a> {
    pub time: Timestamp,
    /// `eventTime` as the record wrote it.
    pub event_time: &'a str,
    pub event_id: &'a str,
    pub access_key: &'a str,
    /// Whose profile the call belongs to: its access key; for a role session (`--identity key-and-role` or
    /// `principal`) the issuing role's ARN; with `--identity principal` the IAM user's ARN.
    pub owner: &'a str,
    pub account: &'a str,
    pub user_type: &'a str,
    pub user_name: &'a str,
    pub region: &'a str,
    pub ip: &'a str,
    pub agent: &'a str,
    /// The attack tool `agent` names (`agent::attack_tool`): found here, where calls are extracted on the
    /// parsers' threads, not on the one thread that scores every call in order.
    pub attack_tool: Option<&'static str>,
    pub event_source: &'a str,
    pub event_name: &'a str,
    /// `errorCode`, empty when the call succeeded.
    pub error_code: &'a str,
    /// `vpcEndpointId`, empty when the call did not come through a VPC endpoint.
    pub vpc_endpoint: &'a str,
    /// The access key an `iam:CreateAccessKey` call made, and its user; none for every other call.
    pub made: Option<KeyFor<'a>>,
}

impl Call<'_> {
    /// Whether this is a role session's call, profiled by its role (`--identity key-and-role` or `principal`).
    pub fn by_role(&self) -> bool {
        self.user_type == "AssumedRole" && self.owner != self.access_key
    }
}

/// An access key and the IAM user it belongs to, as `iam:CreateAccessKey` answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyFor<'a> {
    pub key: &'a str,
    /// Empty when the answer did not say.
    pub user: &'a str,
}

#[cfg(test)]
impl Call<'static> {
    /// A call of `ci-deploy`'s key, for the tests of the rooms that take calls (learn, score, signals, emit, terminal).
    pub fn example() -> Call<'static> {
        Call {
            time: "2026-11-02T10:00:00Z".parse().unwrap(),
            event_time: "2026-11-02T10:00:00Z",
            event_id: "e-1",
            access_key: "AKIAEXAMPLE1",
            owner: "AKIAEXAMPLE1",
            account: "123456789012",
            user_type: "IAMUser",
            user_name: "ci-deploy",
            region: "us-east-1",
            ip: "203.0.113.9",
            agent: "aws-cli/2.13.5",
            attack_tool: None,
            event_source: "ec2.amazonaws.com",
            event_name: "RunInstances",
            error_code: "",
            vpc_endpoint: "",
            made: None,
        }
    }
}

/// Why a well-formed record is not profiled or scored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Exclusion {
    NoAccessKey,
    TemporaryKey,
    Identity(Identity),
    AwsService,
    OtherKey,
    OutsideWindow,
    /// A role session under `--identity key-and-role` whose role has no profile: decided by `score`, which
    /// knows the store, so that an upgraded store that has never learned a role does not flag its sessions.
    RoleNotProfiled,
}

/// The identity types whose calls never use a long-term key of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Identity {
    AssumedRole,
    SamlUser,
    WebIdentityUser,
    FederatedUser,
    AwsService,
    AwsAccount,
}

impl Exclusion {
    /// The reason as the run summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Exclusion::NoAccessKey => "no accessKeyId",
            Exclusion::TemporaryKey => "temporary key (ASIA)",
            Exclusion::Identity(Identity::AssumedRole) => "AssumedRole",
            Exclusion::Identity(Identity::SamlUser) => "SAMLUser",
            Exclusion::Identity(Identity::WebIdentityUser) => "WebIdentityUser",
            Exclusion::Identity(Identity::FederatedUser) => "FederatedUser",
            Exclusion::Identity(Identity::AwsService) => "AWSService",
            Exclusion::Identity(Identity::AwsAccount) => "AWSAccount",
            Exclusion::AwsService => "call by an AWS service",
            Exclusion::OtherKey => "other key (--key)",
            Exclusion::OutsideWindow => "outside --since/--until",
            Exclusion::RoleNotProfiled => "role session, role not profiled yet (learn it)",
        }
    }
}

/// What a profile is kept for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Owner {
    /// Each long-term access key (AKIA…); temporary credentials are not scored.
    Key,
    /// Each long-term access key, as `key`, and each role, whose sessions' temporary credentials (ASIA…) are
    /// scored against the role's habits once `learn` has seen the role: stores and exports by key keep working.
    #[default]
    KeyAndRole,
    /// Each IAM user (by ARN, whichever of its keys made the call) and each role, whose sessions'
    /// temporary credentials (ASIA…) are scored against the role's habits.
    Principal,
}

/// Which records to keep, besides the fixed exclusions, and whose profile each belongs to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
    /// Only these access keys or profiles (a role's ARN; by principal, an IAM user's too), when not empty.
    pub keys: Vec<String>,
    pub owner: Owner,
    /// `--dedup`: drop a record whose `eventID` was among the last this many event IDs; 0 keeps every record.
    pub dedup: usize,
}

/// What a record is to keywatcher.
// Boxing the call would cost an allocation per record on the hot path; an Outcome lives only from
// `extract` to the match on it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq)]
pub enum Outcome<'a> {
    Call(Call<'a>),
    Excluded(Exclusion),
    /// The record cannot be used, and why.
    Unusable(String),
    /// The JSON object is not a CloudTrail record at all.
    Foreign(&'static str),
}

/// Decides what `record` is. The exclusions come first (who made the call, then its key, then the time
/// window), so a record that would be excluded anyway is never reported as unusable for a field keywatcher
/// would not have read.
pub fn extract<'a>(record: &'a Record<'a>, filter: &Filter) -> Outcome<'a> {
    if !record.looks_like_cloudtrail() {
        return Outcome::Foreign("not a CloudTrail record (no eventTime, eventName or userIdentity)");
    }
    let id = &record.user_identity;
    let by_principal = filter.owner == Owner::Principal;
    let role_session =
        filter.owner != Owner::Key && id.kind.as_str() == "AssumedRole" && !id.issuer_arn.as_str().is_empty();
    // Who made the call first, so that a role session or a service is counted as such whatever key it
    // carries (role sessions use ASIA keys; services often none).
    if let Some(identity) = excluded_identity(id.kind.as_str()).filter(|_| !role_session) {
        return Outcome::Excluded(Exclusion::Identity(identity));
    }
    let ip = record.source_ip_address.as_str();
    if !id.invoked_by.as_str().is_empty() || is_service_origin(ip) {
        return Outcome::Excluded(Exclusion::AwsService);
    }
    let access_key = match &id.access_key_id {
        Text::Str(key) if !key.trim().is_empty() => key.as_ref(),
        Text::Wrong(kind) => {
            return Outcome::Unusable(format!("userIdentity.accessKeyId is {}, not a string", a(kind)));
        }
        _ => return Outcome::Excluded(Exclusion::NoAccessKey),
    };
    if access_key.starts_with("ASIA") && !by_principal && !role_session {
        return Outcome::Excluded(Exclusion::TemporaryKey);
    }
    let owner = match (filter.owner, id.arn.as_str()) {
        _ if role_session => id.issuer_arn.as_str(),
        (Owner::Principal, arn) if !arn.is_empty() => arn,
        _ => access_key,
    };
    // A role's sessions each carry a key of their own: `--key` takes the role's ARN, as `profile show` names it.
    if !filter.keys.is_empty() && !filter.keys.iter().any(|k| k == access_key || k == owner) {
        return Outcome::Excluded(Exclusion::OtherKey);
    }
    let event_time = match &record.event_time {
        Text::Str(time) if !time.is_empty() => time.as_ref(),
        Text::Wrong(kind) => return Outcome::Unusable(format!("eventTime is {}, not a string", a(kind))),
        _ => return Outcome::Unusable("no eventTime".to_string()),
    };
    let Some(time) = when::event_time(event_time) else {
        return Outcome::Unusable(format!("eventTime '{event_time}' is not a time"));
    };
    if filter.since.is_some_and(|since| time < since) || filter.until.is_some_and(|until| time >= until) {
        return Outcome::Excluded(Exclusion::OutsideWindow);
    }
    let fields = [
        ("eventID", &record.event_id),
        ("eventSource", &record.event_source),
        ("eventName", &record.event_name),
        ("awsRegion", &record.aws_region),
        ("sourceIPAddress", &record.source_ip_address),
        ("userAgent", &record.user_agent),
        ("recipientAccountId", &record.recipient_account_id),
        ("errorCode", &record.error_code),
        ("vpcEndpointId", &record.vpc_endpoint_id),
        ("userIdentity.type", &id.kind),
        ("userIdentity.accountId", &id.account_id),
        ("userIdentity.userName", &id.user_name),
        ("userIdentity.arn", &id.arn),
    ];
    if let Some((name, Text::Wrong(kind))) = fields.iter().find(|(_, text)| matches!(text, Text::Wrong(_))) {
        return Outcome::Unusable(format!("{name} is {}, not a string", a(kind)));
    }
    let user_type = id.kind.as_str();
    let user_name = match id.user_name.as_str() {
        "" if user_type == "Root" => "root",
        name => name,
    };
    let account = match id.account_id.as_str() {
        "" => record.recipient_account_id.as_str(),
        account => account,
    };
    Outcome::Call(Call {
        time,
        event_time,
        event_id: record.event_id.as_str(),
        access_key,
        owner,
        account,
        user_type,
        user_name,
        region: record.aws_region.as_str(),
        ip,
        agent: record.user_agent.as_str(),
        attack_tool: agent::attack_tool(record.user_agent.as_str()),
        event_source: record.event_source.as_str(),
        event_name: record.event_name.as_str(),
        error_code: record.error_code.as_str(),
        vpc_endpoint: record.vpc_endpoint_id.as_str(),
        made: match (record.event_source.as_str(), record.event_name.as_str()) {
            ("iam.amazonaws.com", "CreateAccessKey") => {
                Some(KeyFor { key: record.key_made.id.as_str(), user: record.key_made.user.as_str() })
            }
            _ => None,
        },
    })
}

/// "a number", "an array".
fn a(kind: &str) -> String {
    let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) { "an" } else { "a" };
    format!("{article} {kind}")
}

fn excluded_identity(kind: &str) -> Option<Identity> {
    Some(match kind {
        "AssumedRole" => Identity::AssumedRole,
        "SAMLUser" => Identity::SamlUser,
        "WebIdentityUser" => Identity::WebIdentityUser,
        "FederatedUser" => Identity::FederatedUser,
        "AWSService" => Identity::AwsService,
        "AWSAccount" => Identity::AwsAccount,
        _ => return None,
    })
}

/// True for a `sourceIPAddress` that names an AWS service instead of an address: `AWS Internal`, or a
/// service host name such as `ec2.amazonaws.com` (`.amazonaws.com.cn` in China).
pub fn is_service_origin(ip: &str) -> bool {
    ip == "AWS Internal"
        || ((ip.ends_with(".amazonaws.com") || ip.ends_with(".amazonaws.com.cn"))
            && ip.parse::<std::net::IpAddr>().is_err())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{self, Item, Limits};

    fn outcome(json: &str, filter: &Filter) -> String {
        let mut result = String::new();
        parse::chunk(json.as_bytes(), false, &mut parse::Cursor::default(), Limits::DEFAULT, &mut |item| {
            if let Item::Record(record, _) = item {
                result = match extract(&record, filter) {
                    Outcome::Call(call) => format!("call {} {} {}", call.access_key, call.user_name, call.account),
                    Outcome::Excluded(why) => format!("excluded {}", why.label()),
                    Outcome::Unusable(why) => format!("unusable {why}"),
                    Outcome::Foreign(why) => format!("foreign {why}"),
                };
            }
        });
        result
    }

    fn record(identity: &str, extra: &str) -> String {
        format!(
            r#"{{"eventTime":"2026-11-02T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"RunInstances","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.9","userAgent":"aws-cli/2.13.5","recipientAccountId":"123456789012","userIdentity":{{{identity}}}{extra}}}"#
        )
    }

    #[test]
    fn long_term_keys_are_calls_and_root_is_kept() {
        let all = Filter::default();
        let user =
            record(r#""type":"IAMUser","accessKeyId":"AKIAEXAMPLE1","accountId":"111122223333","userName":"ci""#, "");
        assert_eq!(outcome(&user, &all), "call AKIAEXAMPLE1 ci 111122223333");
        let root = record(r#""type":"Root","accessKeyId":"AKIAROOTKEY1""#, "");
        assert_eq!(outcome(&root, &all), "call AKIAROOTKEY1 root 123456789012");
    }

    #[test]
    fn each_exclusion_has_its_reason() {
        let all = Filter::default();
        let cases = [
            (record(r#""type":"IAMUser""#, ""), "excluded no accessKeyId"),
            (record(r#""type":"IAMUser","accessKeyId":"  ""#, ""), "excluded no accessKeyId"),
            (record(r#""type":"IAMUser","accessKeyId":"ASIAEXAMPLE1""#, ""), "excluded temporary key (ASIA)"),
            (record(r#""type":"AssumedRole","accessKeyId":"ASIAEXAMPLE1""#, ""), "excluded AssumedRole"),
            (record(r#""type":"AWSService""#, ""), "excluded AWSService"),
            (record(r#""type":"SAMLUser","accessKeyId":"AKIAEXAMPLE1""#, ""), "excluded SAMLUser"),
            (record(r#""type":"WebIdentityUser","accessKeyId":"AKIAEXAMPLE1""#, ""), "excluded WebIdentityUser"),
            (record(r#""type":"FederatedUser","accessKeyId":"AKIAEXAMPLE1""#, ""), "excluded FederatedUser"),
            (record(r#""type":"AWSService","accessKeyId":"AKIAEXAMPLE1""#, ""), "excluded AWSService"),
            (record(r#""type":"AWSAccount","accessKeyId":"AKIAEXAMPLE1""#, ""), "excluded AWSAccount"),
            (
                record(
                    r#""type":"IAMUser","accessKeyId":"AKIAEXAMPLE1","invokedBy":"cloudformation.amazonaws.com""#,
                    "",
                ),
                "excluded call by an AWS service",
            ),
        ];
        for (json, want) in cases {
            assert_eq!(outcome(&json, &all), want, "{json}");
        }
        let by_service =
            record(r#""type":"IAMUser","accessKeyId":"AKIAEXAMPLE1""#, "").replace("203.0.113.9", "AWS Internal");
        assert_eq!(outcome(&by_service, &all), "excluded call by an AWS service");
        let by_host =
            record(r#""type":"IAMUser","accessKeyId":"AKIAEXAMPLE1""#, "").replace("203.0.113.9", "ec2.amazonaws.com");
        assert_eq!(outcome(&by_host, &all), "excluded call by an AWS service");
    }

    #[test]
    fn each_identity_gives_users_keys_and_role_sessions_their_owner() {
        let principal = Filter { owner: Owner::Principal, ..Filter::default() };
        let by_key = Filter { owner: Owner::Key, ..Filter::default() };
        let key_and_role = Filter::default();
        let owner = |json: &str, filter: &Filter| {
            let mut result = String::new();
            parse::chunk(json.as_bytes(), false, &mut parse::Cursor::default(), Limits::DEFAULT, &mut |item| {
                if let Item::Record(record, _) = item {
                    result = match extract(&record, filter) {
                        Outcome::Call(call) => format!("{} {}", call.access_key, call.owner),
                        other => format!("{other:?}"),
                    };
                }
            });
            result
        };
        let user = record(
            r#""type":"IAMUser","accessKeyId":"AKIAEXAMPLE1","arn":"arn:aws:iam::111122223333:user/ci","userName":"ci""#,
            "",
        );
        assert_eq!(owner(&user, &by_key), "AKIAEXAMPLE1 AKIAEXAMPLE1");
        assert_eq!(owner(&user, &key_and_role), "AKIAEXAMPLE1 AKIAEXAMPLE1", "keys stay by key");
        assert_eq!(owner(&user, &principal), "AKIAEXAMPLE1 arn:aws:iam::111122223333:user/ci");
        let session = record(
            r#""type":"AssumedRole","accessKeyId":"ASIAEXAMPLE1","arn":"arn:aws:sts::111122223333:assumed-role/app/i-0abc","sessionContext":{"attributes":{"mfaAuthenticated":"false"},"sessionIssuer":{"type":"Role","arn":"arn:aws:iam::111122223333:role/app"}}"#,
            "",
        );
        assert_eq!(owner(&session, &by_key), "Excluded(Identity(AssumedRole))");
        assert_eq!(owner(&session, &key_and_role), "ASIAEXAMPLE1 arn:aws:iam::111122223333:role/app");
        assert_eq!(owner(&session, &principal), "ASIAEXAMPLE1 arn:aws:iam::111122223333:role/app");
        let issuerless = session.replace("sessionIssuer", "somethingElse");
        assert_eq!(owner(&issuerless, &principal), "Excluded(Identity(AssumedRole))");
        assert_eq!(owner(&issuerless, &key_and_role), "Excluded(Identity(AssumedRole))");
        let console = record(
            r#""type":"IAMUser","accessKeyId":"ASIAEXAMPLE2","arn":"arn:aws:iam::111122223333:user/ana","sessionContext":"odd""#,
            "",
        );
        assert_eq!(owner(&console, &principal), "ASIAEXAMPLE2 arn:aws:iam::111122223333:user/ana");
        assert_eq!(owner(&console, &key_and_role), "Excluded(TemporaryKey)", "a user's session, by key");
    }

    #[test]
    fn filters_and_bad_fields() {
        let json = record(r#""type":"IAMUser","accessKeyId":"AKIAEXAMPLE1""#, "");
        let other = Filter { keys: vec!["AKIAOTHER".into()], ..Filter::default() };
        assert_eq!(outcome(&json, &other), "excluded other key (--key)");
        let late = Filter { since: Some("2026-11-03T00:00:00Z".parse().unwrap()), ..Filter::default() };
        assert_eq!(outcome(&json, &late), "excluded outside --since/--until");
        let early = Filter { until: Some("2026-11-02T10:00:00Z".parse().unwrap()), ..Filter::default() };
        assert_eq!(outcome(&json, &early), "excluded outside --since/--until");
        let numeric = json.replace(r#""aws-cli/2.13.5""#, "42");
        assert_eq!(outcome(&numeric, &Filter::default()), "unusable userAgent is a number, not a string");
        let timeless = json.replace("2026-11-02T10:00:00Z", "soon");
        assert_eq!(outcome(&timeless, &Filter::default()), "unusable eventTime 'soon' is not a time");
        assert_eq!(outcome(&numeric, &late), "excluded outside --since/--until", "the window comes first");
    }
}
