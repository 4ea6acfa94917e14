#!/usr/bin/env python3
"""The detection scenario suite: seeded CloudTrail for scripts/evaluate.py.

    scripts/scenarios.py [--seed 7] [--out target/scenarios]

Writes one folder per scenario, each with
  baseline.ndjson  six weeks of an organisation's normal use (2026-09-20 .. 2026-11-01)
  scored.ndjson    the next week, normal use plus the scenario's twist
  labels.tsv       eventID <TAB> attacker|normal for every record of scored.ndjson

The organisation: a CI key, a Python service, three developers, a Terraform key, an IPv6 Go service, a Java
service behind a VPC endpoint, and a role its services assume. Each key has its own addresses, client,
regions and a long tail of API calls (so some normal calls in the scored week are new to the key, as in life).
The twists: seven attacks and eight kinds of benign drift (the issue's list, plus a key leaked while its
profile is young, a key rotated, an attacker inside the victim's cloud /24, a key made for a backdoor user, and
profiles learned a month before the scored week). Labels live outside the records,
so keywatcher sees only what it would see in production.
"""

import argparse
import json
import random
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ctrecord import record

ACCOUNT = "123456789012"
SCORED = datetime(2026, 11, 1, tzinfo=timezone.utc)
BASELINE = SCORED - timedelta(days=42)
END = SCORED + timedelta(days=7)
OFFICE = "198.51.96.0/21"
LEASE = "lease"  # in a Habit's ips: an address the office DHCP hands out for the day, somewhere in OFFICE
# APIs a developer or Terraform reaches for now and then: most are new to the key when they come.
EXPLORE = [f"{svc}:{name}" for svc, names in {
    "ec2": "DescribeImages DescribeSnapshots DescribeVolumes DescribeKeyPairs DescribeNatGateways DescribeRouteTables "
           "DescribeNetworkInterfaces DescribeAddresses CreateSnapshot DescribeLaunchTemplates",
    "iam": "ListPolicies GetPolicyVersion ListGroups ListInstanceProfiles GetAccountSummary ListMFADevices",
    "s3": "GetBucketLifecycleConfiguration GetBucketVersioning GetBucketTagging PutBucketTagging ListObjectVersions",
    "lambda": "GetFunction GetFunctionConfiguration ListLayers Invoke ListEventSourceMappings",
    "cloudformation": "ListStacks GetTemplate DescribeStackEvents ValidateTemplate",
    "dynamodb": "DescribeTable ListTables DescribeContinuousBackups", "sqs": "GetQueueAttributes PurgeQueue",
    "logs": "DescribeLogGroups GetLogEvents StartQuery", "ecs": "ListClusters ListTasks DescribeTasks",
    "kms": "DescribeKey ListAliases", "sns": "ListSubscriptions", "route53": "ListResourceRecordSets",
    "acm": "ListCertificates DescribeCertificate", "apigateway": "GetRestApis", "events": "ListRules",
    "states": "ListStateMachines", "cloudtrail": "LookupEvents", "config": "DescribeConfigRules",
}.items() for name in names.split()]

CLI = "aws-cli/{v} Python/3.11.8 Darwin/23.1.0 exe/arm64 prompt/off command/{cmd}"
CI_CLI = "aws-cli/{v} Python/3.11.4 Linux/5.15.0-1051-aws exe/x86_64.ubuntu.22 prompt/off command/{cmd}"
BOTO = ("Boto3/{v} md/Botocore#{b} ua/2.0 os/linux#5.10.205-195.807.amzn2.x86_64 md/arch#x86_64 lang/python#3.11.6 "
        "md/pyimpl#CPython cfg/retry-mode#legacy Botocore/{b}")
GO = "aws-sdk-go-v2/{v} os/linux lang/go#{g} md/GOOS#linux md/GOARCH#amd64 api/{svc}#1.21.5"
TF = ("APN/1.0 HashiCorp/1.0 Terraform/{v} (+https://www.terraform.io) terraform-provider-aws/{p} "
      "(+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go-v2/1.21.0 os/macos lang/go#1.21.1 "
      "md/GOOS#darwin md/GOARCH#arm64 api/{svc}#1.118.0")
JAVA = ("aws-sdk-java/{v} Linux/5.10.205-195.807.amzn2.x86_64 OpenJDK_64-Bit_Server_VM/17.0.8+7-LTS Java/17.0.8 "
        "vendor/Amazon.com_Inc. io/sync http/Apache cfg/retry-mode/legacy")


def ev(spec):
    """'ecs:UpdateService' → ('ecs.amazonaws.com', 'UpdateService')."""
    service, name = spec.split(":")
    return f"{service}.amazonaws.com", name


def kebab(name):
    return "".join("-" + c.lower() if c.isupper() else c for c in name).lstrip("-")


@dataclass
class Habit:
    """How one key (or role) is normally used."""
    key: str
    user: str
    agent: str          # a template: {v} version, {cmd} CLI command, {svc} service, other version fields in `versions`
    versions: dict
    ips: list           # (address, weight)
    regions: list       # (region, weight)
    events: list        # 'service:Name', most frequent first; the tail is rarely used
    per_day: int
    hours: tuple = (0, 24)
    weekdays_only: bool = False
    vpc_endpoint: str = None
    identity_type: str = "IAMUser"
    role: str = None    # the role ARN, for a role's session credentials
    explore: float = 0.0  # how often a call is one of EXPLORE instead of a usual one
    active: tuple = (BASELINE, END)

    def agent_for(self, source, name):
        svc = source.split(".")[0]
        return self.agent.format(cmd=f"{svc}.{kebab(name)}", svc=svc, **self.versions)


def organisation():
    """The organisation's keys and their habits."""
    dev_events = ["s3:ListBuckets", "s3:GetObject", "ec2:DescribeInstances", "logs:FilterLogEvents",
                  "sts:GetCallerIdentity", "s3:PutObject", "ecs:DescribeServices", "lambda:ListFunctions",
                  "cloudwatch:GetMetricData", "dynamodb:Scan", "iam:GetUser", "ssm:GetParameter",
                  "ec2:DescribeSecurityGroups", "rds:DescribeDBInstances", "sqs:ListQueues", "sns:ListTopics",
                  "cloudformation:DescribeStacks", "ecr:DescribeRepositories", "kms:ListKeys", "route53:ListHostedZones",
                  "elasticloadbalancing:DescribeLoadBalancers", "secretsmanager:ListSecrets", "athena:StartQueryExecution",
                  "glue:GetTables", "eks:ListClusters", "iam:ListRoles", "ec2:DescribeVpcs", "s3:GetBucketPolicy"]
    devs = [
        Habit(f"AKIAEXAMPLEDEV{n:06d}", name, CLI, {"v": "2.15.30"},
              [(f"198.51.100.{10 + n}", 6), (f"198.51.100.{40 + n}", 3), (home, 2)],
              [("us-east-1", 8), ("eu-west-1", 2)], dev_events, 18, (8, 19), True, explore=0.03)
        for n, (name, home) in enumerate([("alice", "81.2.69.142"), ("bob", "92.40.17.8"), ("chen", "86.12.201.77")])
    ]
    return [
        Habit("AKIAEXAMPLECIDEPLOY1", "ci-deploy", CI_CLI, {"v": "2.13.5"}, [("203.0.113.10", 1)], [("us-east-1", 1)],
              ["ecr:GetAuthorizationToken", "ecs:UpdateService", "ecs:DescribeServices", "s3:PutObject",
               "cloudfront:CreateInvalidation", "ecs:RegisterTaskDefinition", "ssm:GetParameter"], 24),
        Habit("AKIAEXAMPLEAPPSVC001", "orders-app", BOTO, {"v": "1.28.57", "b": "1.31.57"},
              [("54.228.16.10", 3), ("54.228.16.11", 2)], [("eu-west-1", 1)],
              ["s3:GetObject", "s3:PutObject", "sqs:SendMessage", "sqs:ReceiveMessage", "dynamodb:PutItem",
               "dynamodb:GetItem", "s3:ListBucket", "kms:Decrypt", "sns:Publish"], 48),
        *devs,
        Habit("AKIAEXAMPLETERRAFRM1", "terraform", TF, {"v": "1.5.7", "p": "5.17.0"}, [("198.51.100.10", 1)],
              [("us-east-1", 3), ("eu-west-1", 1)],
              ["ec2:DescribeInstances", "ec2:DescribeVpcs", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups",
               "iam:GetRole", "s3:GetBucketPolicy", "rds:DescribeDBInstances", "elasticloadbalancing:DescribeLoadBalancers",
               "ec2:AuthorizeSecurityGroupIngress", "iam:PutRolePolicy", "ec2:CreateTags", "lambda:UpdateFunctionCode"],
              30, (9, 18), True, explore=0.02),
        Habit("AKIAEXAMPLEGOV6SVC01", "search-indexer", GO, {"v": "1.21.0", "g": "1.21.1"},
              [("2600:1f18:61d4:a300:5c1e:8a2f:11b0:9e01", 1)], [("us-east-1", 1)],
              ["dynamodb:Query", "dynamodb:BatchWriteItem", "s3:GetObject", "sqs:ReceiveMessage", "sqs:DeleteMessage"],
              36),
        Habit("AKIAEXAMPLEJAVAVPCE1", "billing-batch", JAVA, {"v": "2.20.162"},
              [(f"10.0.{subnet}.{host}", 1) for subnet in (1, 2) for host in (23, 57, 88, 141, 200)],
              [("us-east-1", 1)], ["s3:GetObject", "s3:PutObject", "kms:GenerateDataKey", "kms:Decrypt",
                                   "sqs:SendMessage"], 24, vpc_endpoint="vpce-0a1b2c3d4e5f60718"),
        Habit("arn:aws:iam::123456789012:role/orders-app", "orders-app", BOTO, {"v": "1.28.57", "b": "1.31.57"},
              [("54.228.16.10", 3), ("54.228.16.11", 2)], [("eu-west-1", 1)],
              ["s3:GetObject", "dynamodb:GetItem", "sqs:ReceiveMessage", "kms:Decrypt"], 24,
              identity_type="AssumedRole", role="arn:aws:iam::123456789012:role/orders-app"),
    ]


def weighted(rng, pairs):
    return rng.choices([v for v, _ in pairs], [w for _, w in pairs])[0]


def pick_event(rng, events):
    """Zipf-like: the first events are the usual ones, the tail is rare."""
    return rng.choices(events, [1 / (i + 1) ** 1.4 for i in range(len(events))])[0]


def session_key(rng):
    return "ASIA" + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def normal_calls(habit, start, end, rng):
    """The key's normal calls from `start` to `end`: (time, record-kwargs)."""
    day = start.replace(hour=0, minute=0, second=0)
    lo, hi = habit.active
    while day < end:
        if not (habit.weekdays_only and day.weekday() >= 5):
            for _ in range(habit.per_day):
                t = day + timedelta(seconds=rng.uniform(habit.hours[0] * 3600, habit.hours[1] * 3600))
                if start <= t < end and lo <= t < hi:
                    yield t, call(habit, t, rng)
        day += timedelta(days=1)


def call(habit, t, rng, **override):
    usual = rng.choice(EXPLORE) if rng.random() < habit.explore else pick_event(rng, habit.events)
    source, name = ev(override.pop("event", None) or usual)
    ip = weighted(rng, habit.ips)
    if ip == LEASE:
        lease = random.Random(f"{habit.user} {t.date()}")
        ip = f"198.51.{lease.randrange(96, 104)}.{lease.randrange(2, 254)}"
    key = session_key(random.Random(int(t.timestamp()) // 3600)) if habit.role else habit.key
    kwargs = dict(key=key, user=habit.user, account=ACCOUNT, ip=ip,
                  agent=habit.agent_for(source, name), region=weighted(rng, habit.regions), source=source, name=name,
                  time=t, identity_type=habit.identity_type, vpc_endpoint=habit.vpc_endpoint,
                  session_issuer=habit.role)
    kwargs.update(override)
    return kwargs


# --- the twists -------------------------------------------------------------------------------------------------

RECON = ["sts:GetCallerIdentity", "iam:ListUsers", "iam:ListAttachedUserPolicies", "s3:ListBuckets",
         "ec2:DescribeInstances", "iam:ListRoles", "secretsmanager:ListSecrets", "ec2:DescribeRegions"]
ABUSE = ["ec2:RunInstances", "iam:CreateUser", "iam:CreateAccessKey", "s3:GetObject", "lambda:CreateFunction"]


def attack(habit, rng, at, ip, agent, regions, events, denied=0.0, count=30):
    """An attacker's session with `habit`'s key: `count` labelled calls from `ip`, starting at `at`."""
    out = []
    for i in range(count):
        t = at + timedelta(seconds=20 * i + rng.uniform(0, 15))
        spec = events[i] if i < len(events) and i < 2 else rng.choice(events)
        source, name = ev(spec)
        out.append((t, call(habit, t, rng, event=spec, ip=ip, agent=agent(source, name) if callable(agent) else agent,
                            region=rng.choice(regions), vpc_endpoint=None,
                            error="AccessDenied" if rng.random() < denied else None), "attacker"))
    return out


def by_user(habits, user):
    return next(h for h in habits if h.user == user and not h.role and h.active[1] == END)


def leaked_new_ip_new_tool(habits, rng):
    ci, bob = by_user(habits, "ci-deploy"), by_user(habits, "bob")
    kali = "aws-cli/1.18.69 Python/2.7.18 Linux/5.4.0-kali3-amd64 botocore/1.17.6"
    return habits, habits, [
        *attack(ci, rng, SCORED + timedelta(days=2, hours=3), "185.220.101.47", kali,
                ["us-east-1", "ap-east-1", "sa-east-1"], RECON + ABUSE, denied=0.3, count=40),
        *attack(bob, rng, SCORED + timedelta(days=4, hours=22), "45.137.21.9", "TruffleHog", ["us-east-1"],
                ["sts:GetCallerIdentity"], count=1),
        *attack(bob, rng, SCORED + timedelta(days=5, hours=1), "45.137.21.9",
                "Boto3/1.26.0 Python/3.10.12 Linux/6.2.0-39-generic Botocore/1.29.0", ["us-east-1", "us-west-2"],
                ["s3:ListBuckets", "s3:GetObject", "ec2:DescribeInstances", "ec2:RunInstances"], count=30),
    ]


def leaked_same_region_same_tool(habits, rng):
    app, alice = by_user(habits, "orders-app"), by_user(habits, "alice")
    # From EC2 in the victim's own region (same /16 as the service, another /24), with the victim's own client.
    return habits, habits, [
        *attack(app, rng, SCORED + timedelta(days=3, hours=2), "54.228.93.201", app.agent_for,
                ["eu-west-1"], ["s3:ListBucket", "s3:GetObject", "s3:GetObject", "dynamodb:GetItem"], count=40),
        *attack(alice, rng, SCORED + timedelta(days=1, hours=11), "3.91.172.40", alice.agent_for,
                ["us-east-1"], ["s3:ListBuckets", "s3:GetObject", "ec2:DescribeInstances", "ssm:GetParameter"],
                count=25),
    ]


def leaked_same_cloud_network(habits, rng):
    app = by_user(habits, "orders-app")
    # From another tenant's EC2 instance inside the service's own /24 of Elastic IPs, with the service's client.
    return habits, habits, attack(app, rng, SCORED + timedelta(days=3, hours=2), "54.228.16.201", app.agent_for,
                                  ["eu-west-1"], ["s3:ListBucket", "s3:GetObject", "dynamodb:GetItem"], count=40)


def backdoor_key(habits, rng):
    bob = by_user(habits, "bob")
    at, desk = SCORED + timedelta(days=3, hours=10), bob.ips[0][0]
    backdoor = replace(bob, key="AKIAEXAMPLEBACKDOOR1", user="backdoor")
    # Malware on bob's laptop makes a user and a key for it, with bob's key, client and address, then works
    # with the new key from the same laptop: only the key's maker and user tell it apart from bob.
    made = [
        (at, call(bob, at, rng, event="iam:CreateUser", ip=desk, request={"userName": "backdoor"}), "attacker"),
        (at + timedelta(seconds=30),
         call(bob, at + timedelta(seconds=30), rng, event="iam:CreateAccessKey", ip=desk,
              request={"userName": "backdoor"},
              response={"accessKey": {"accessKeyId": backdoor.key, "status": "Active", "userName": "backdoor"}}),
         "attacker"),
    ]
    return habits, habits, made + attack(backdoor, rng, at + timedelta(minutes=5), desk, bob.agent_for,
                                         ["us-east-1"], bob.events[:8], count=40)


def dormant_key_wakes(habits, rng):
    old = Habit("AKIAEXAMPLEOLDBACKUP", "backup-2024", CLI, {"v": "2.15.30"}, [("198.51.100.77", 1)],
                [("us-east-1", 1)], ["s3:PutObject", "s3:ListBucket", "s3:GetObject"], 12,
                active=(BASELINE, BASELINE + timedelta(days=6)))
    # Found in an old laptop backup: used six weeks later, with the same client, for what it always did.
    habits = habits + [old]
    return habits, habits, attack(old, rng, SCORED + timedelta(days=2, hours=14), "102.129.153.6", old.agent_for,
                                  ["us-east-1"], ["s3:ListBucket", "s3:GetObject"], count=30)


def stolen_role_credentials(habits, rng):
    role = next(h for h in habits if h.role)
    t = SCORED + timedelta(days=3, hours=5)
    thief = replace(role, ips=[("104.28.55.91", 1)])
    # The session credentials of the service's role, lifted from the instance and used from outside.
    return habits, habits, attack(thief, rng, t, "104.28.55.91", role.agent_for, ["eu-west-1"],
                          ["sts:GetCallerIdentity", "s3:ListBuckets", "s3:GetObject", "dynamodb:Scan"], count=30)


def rotate(habits, user, new_key, at):
    """`user`'s key replaced by `new_key` at `at`: the new key's profile holds only what came after."""
    old = by_user(habits, user)
    new = replace(old, key=new_key, active=(at, END))
    return [replace(old, active=(BASELINE, at)) if h is old else h for h in habits] + [new], new


def leaked_fresh_key(habits, rng):
    # CI's new key, two days old, pushed to a public repository by mistake; a scanner tries it, then its owner
    # works through the account from the same address. The key's profile is still warming.
    habits, new = rotate(habits, "ci-deploy", "AKIAEXAMPLECIDEPLOY2", SCORED - timedelta(days=1, hours=12))
    t = SCORED + timedelta(days=2, hours=9)
    boto = "Boto3/1.26.0 Python/3.10.12 Linux/6.2.0-39-generic Botocore/1.29.0"
    return habits, habits, [
        *attack(new, rng, t, "45.137.21.9", "TruffleHog", ["us-east-1"], ["sts:GetCallerIdentity"], count=1),
        *attack(new, rng, t + timedelta(minutes=40), "45.137.21.9", boto, ["us-east-1", "eu-central-1"],
                RECON[1:] + ABUSE, denied=0.2, count=40),
    ]


def key_rotated(habits, rng):
    # Alice rotated her key three days before the scored week: the new key's profile is small. Bob rotates his
    # on the Tuesday, from his desk, with his old key (iam:CreateAccessKey), and switches to the new one.
    habits, _ = rotate(habits, "alice", "AKIAEXAMPLEDEV000100", SCORED - timedelta(days=3))
    at = SCORED + timedelta(days=2, hours=10)
    bob = by_user(habits, "bob")
    after, new = rotate(habits, "bob", "AKIAEXAMPLEDEV000101", at)
    made = call(bob, at - timedelta(minutes=1), rng, event="iam:CreateAccessKey", ip=bob.ips[0][0],
                response={"accessKey": {"accessKeyId": new.key, "status": "Active", "userName": "bob"}})
    return habits, after, [(at - timedelta(minutes=1), made, "normal")]


def baseline_a_month_old(habits, rng):
    # The profiles were learned a month before scoring resumed: a cron job that learns weekly stopped, while
    # scoring kept running. The CI and service keys are in daily use all along; the month between is scored
    # (normal calls before the week), so dormancy must count the calls of the run, not the stored profile only.
    learned = SCORED - timedelta(days=34)
    kept = [by_user(habits, "ci-deploy"), by_user(habits, "orders-app")]
    before = [replace(h, active=(BASELINE, learned)) if h in kept else h for h in habits]
    month = [(t, kw, "normal") for h in kept for t, kw in normal_calls(h, learned, SCORED, rng)]
    return before, habits, month


def sdk_and_cli_upgrades(habits, rng):
    newer = {CLI: {"v": "2.17.4"}, CI_CLI: {"v": "2.15.30"}, BOTO: {"v": "1.34.100", "b": "1.34.100"},
             GO: {"v": "1.30.3", "g": "1.22.5"}, TF: {"v": "1.6.6", "p": "5.40.0"}, JAVA: {"v": "2.25.40"}}
    return habits, [replace(h, versions=newer[h.agent]) for h in habits], []


def new_address_same_network(habits, rng):
    moved = {
        "ci-deploy": [("203.0.113.57", 1)],                                   # NAT gateway replaced
        "orders-app": [("54.228.16.10", 1), ("54.228.16.74", 2)],             # a new Elastic IP in the same /24
        "search-indexer": [(f"2600:1f18:61d4:a300:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}::{n}", 1)
                           for n in range(1, 6)],                             # IPv6 addresses rotating in the /64
    }
    return habits, [replace(h, ips=moved.get(h.user, h.ips)) if not h.role else h for h in habits], []


def new_region_adopted(habits, rng):
    def widen(h):
        if h.user in ("alice", "bob", "chen", "orders-app", "terraform") and not h.role:
            return replace(h, regions=h.regions + [("ap-southeast-2", sum(w for _, w in h.regions))])
        return h
    return habits, [widen(h) for h in habits], []


def new_api_call(habits, rng):
    ci = by_user(habits, "ci-deploy")
    new = replace(ci, events=ci.events[:3] + ["lambda:UpdateFunctionCode", "cloudformation:DescribeStacks",
                                              "lambda:PublishVersion"] + ci.events[3:])
    return habits, [new if h is ci else h for h in habits], []


def dhcp_churn(habits, rng):
    # The office hands out a new address every day, anywhere in its /21, before and during the scored week.
    def churn(h):
        return replace(h, ips=[(LEASE, 8), h.ips[-1]]) if h.user in ("alice", "bob", "chen") else h
    churned = [churn(h) for h in habits]
    return churned, churned, []


def vpc_endpoint_churn(habits, rng):
    java = by_user(habits, "billing-batch")
    moved = replace(java, ips=[(f"10.0.{subnet}.{rng.randrange(2, 254)}", 1) for subnet in (3, 4) for _ in range(8)])
    return habits, [moved if h is java else h for h in habits], []


# Each twist takes the organisation's habits and gives the habits of the baseline, those of the scored week, and
# extra labelled calls (time, record fields, "attacker" or "normal") of the scored week.
SCENARIOS = {
    "leaked-new-ip-new-tool": leaked_new_ip_new_tool,
    "leaked-same-region-same-tool": leaked_same_region_same_tool,
    "dormant-key-wakes": dormant_key_wakes,
    "stolen-role-credentials": stolen_role_credentials,
    "leaked-fresh-key": leaked_fresh_key,
    "key-rotated": key_rotated,
    "sdk-and-cli-upgrades": sdk_and_cli_upgrades,
    "new-address-same-network": new_address_same_network,
    "new-region-adopted": new_region_adopted,
    "new-api-call": new_api_call,
    "dhcp-churn-in-office-range": dhcp_churn,
    "vpc-endpoint-churn": vpc_endpoint_churn,
    # Added after the first measurements; last, so that the scenarios above keep their seeds.
    "leaked-same-cloud-network": leaked_same_cloud_network,
    "backdoor-key-for-another-user": backdoor_key,
    "baseline-a-month-old": baseline_a_month_old,
}


def write(path, calls, rng):
    with open(path, "w") as out:
        labels = []
        for t, kwargs, label in sorted(calls, key=lambda c: c[0]):
            rec = record(rng=rng, **kwargs)
            out.write(json.dumps(rec, separators=(",", ":")) + "\n")
            labels.append(f"{rec['eventID']}\t{label}\n")
        return labels


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("target/scenarios"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for n, (name, twist) in enumerate(SCENARIOS.items()):
        rng = random.Random(args.seed * 1000 + n)
        before, after, extra = twist(organisation(), rng)
        baseline = [(t, kw, "normal") for h in before for t, kw in normal_calls(h, BASELINE, SCORED, rng)]
        scored = [(t, kw, "normal") for h in after for t, kw in normal_calls(h, SCORED, END, rng)]
        scored += extra
        folder = args.out / name
        folder.mkdir(exist_ok=True)
        write(folder / "baseline.ndjson", baseline, rng)
        labels = write(folder / "scored.ndjson", scored, rng)
        (folder / "labels.tsv").write_text("".join(labels))
        attackers = sum(1 for _, _, label in scored if label == "attacker")
        print(f"{name}: {len(baseline)} baseline records, {len(scored)} scored ({attackers} attacker)")


if __name__ == "__main__":
    main()
