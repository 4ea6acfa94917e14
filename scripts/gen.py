#!/usr/bin/env python3
"""Realistic CloudTrail at any size, seeded, for benchmarks and soak tests.

    scripts/gen.py --size 200M --format ndjson  --out /tmp/ct.ndjson
    scripts/gen.py --size 200M --format records --out /tmp/ct.json      # one {"Records":[…]} log file
    scripts/gen.py --size 200M --format tree    --out /tmp/ct-tree      # AWSLogs/<acct>/CloudTrail/<region>/YYYY/MM/DD/*.json.gz

The same seed and size give the same bytes. What is in it: long-term IAM user keys (AKIA…), each with stable
habits (one or two source IPs, one user agent, one or two regions, a handful of API calls); role sessions
with temporary ASIA keys; calls made by AWS services on a user's behalf (invokedBy); and, in the last fifth of
the time span, a leaked-key episode: one user's key used from an address, agent and region it never used,
for reconnaissance and persistence calls.

Speed: each habit is rendered to JSON once (scripts/ctrecord.py) with markers where the time and the two
UUIDs go; each record is then one string formatting. About 1 GB of NDJSON in under a minute on one core; the
gzipped tree is compressed on every core.
"""

import argparse
import gzip
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone
from multiprocessing import Pool

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctrecord import record  # noqa: E402

START = datetime(2026, 11, 1, tzinfo=timezone.utc)
# Records per second of event time: a busy account, so that 1 GB spans about a week.
RATE = 2
ACCOUNTS = ["123456789012", "210987654321", "555566667777"]
REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
AGENTS = [
    "aws-cli/2.13.5 Python/3.11.4 Linux/5.15.0-1041-aws exe/x86_64.ubuntu.22 prompt/off command/{cmd}",
    "Boto3/1.28.40 md/Botocore#1.31.40 ua/2.0 os/linux#5.10.186 md/arch#x86_64 lang/python#3.11.4 cfg/retry-mode#legacy Botocore/1.31.40",
    "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.118.0",
    "terraform/1.5.7 (+https://www.terraform.io) terraform-provider-aws/5.17.0 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-go/1.45.12",
    "aws-sdk-java/1.12.540 Linux/5.10.186 OpenJDK_64-Bit_Server_VM/17.0.8+7-LTS java/17.0.8 vendor/Amazon.com_Inc. exec-env/AWS_ECS_FARGATE",
]
CALLS = [
    ("ec2.amazonaws.com", "DescribeInstances"), ("ec2.amazonaws.com", "RunInstances"),
    ("ec2.amazonaws.com", "DescribeSecurityGroups"), ("s3.amazonaws.com", "GetObject"),
    ("s3.amazonaws.com", "PutObject"), ("s3.amazonaws.com", "ListBuckets"), ("ecr.amazonaws.com", "GetAuthorizationToken"),
    ("ecs.amazonaws.com", "UpdateService"), ("ecs.amazonaws.com", "DescribeServices"), ("sts.amazonaws.com", "GetCallerIdentity"),
    ("lambda.amazonaws.com", "UpdateFunctionCode20150331v2"), ("logs.amazonaws.com", "PutLogEvents"),
    ("dynamodb.amazonaws.com", "DescribeTable"), ("kms.amazonaws.com", "Decrypt"), ("ssm.amazonaws.com", "GetParameter"),
    ("cloudformation.amazonaws.com", "DescribeStacks"), ("iam.amazonaws.com", "ListRoles"), ("rds.amazonaws.com", "DescribeDBInstances"),
]
SERVICES = ["cloudformation.amazonaws.com", "autoscaling.amazonaws.com", "elasticmapreduce.amazonaws.com"]
LEAK = {
    "ip": "185.220.101.47",
    "agent": "aws-cli/1.18.69 Python/2.7.18 Linux/5.18.0-kali7-amd64 botocore/1.16.19",
    "region": "eu-north-1",
    "calls": [("sts.amazonaws.com", "GetCallerIdentity"), ("iam.amazonaws.com", "ListUsers"),
              ("s3.amazonaws.com", "ListBuckets"), ("iam.amazonaws.com", "CreateUser"),
              ("iam.amazonaws.com", "CreateAccessKey"), ("ec2.amazonaws.com", "DescribeRegions")],
}
# Markers rendered into the JSON where each record's own values go.
TIME, REQUEST, EVENT = "@TIME@", "@REQUEST@", "@EVENT@"


def key(rng, prefix):
    return prefix + "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16))


def template(**fields):
    """A record rendered once, with %s where its time, request ID and event ID go."""
    out = record(time=START, **fields)
    out["eventTime"], out["requestID"], out["eventID"] = TIME, REQUEST, EVENT
    text = json.dumps(out, separators=(",", ":")).replace("%", "%%")
    for marker in (TIME, REQUEST, EVENT):
        text = text.replace(f'"{marker}"', '"%s"', 1)
    return text


def population(rng):
    """The habits: (weight, template, region) of every kind of call in the data, and the leak's templates."""
    habits = []
    users = []
    for n in range(200):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        user = f"svc-{n:03d}"
        k = key(rng, "AKIA")
        ips = [f"203.0.{113 + n % 3}.{rng.randrange(1, 255)}" for _ in range(rng.choice([1, 1, 2]))]
        agent = rng.choice(AGENTS).format(cmd=rng.choice(["ec2.describe-instances", "s3.cp", "ecs.update-service"]))
        regions = rng.sample(REGIONS, rng.choice([1, 1, 2]))
        calls = rng.sample(CALLS, rng.randrange(3, 9))
        weight = rng.choice([1, 2, 5, 20])
        users.append((k, user, account))
        for source, name in calls:
            for ip in ips:
                region = rng.choice(regions)
                habits.append((weight, template(key=k, user=user, account=account, ip=ip, agent=agent, region=region,
                                                source=source, name=name, rng=rng), region))
    for n in range(40):
        account = ACCOUNTS[n % len(ACCOUNTS)]
        role = f"arn:aws:iam::{account}:role/app-{n:02d}"
        region = rng.choice(REGIONS)
        for source, name in rng.sample(CALLS, 4):
            habits.append((10, template(key=key(rng, "ASIA"), user=f"app-{n:02d}", account=account,
                                        ip=f"10.{n}.{rng.randrange(256)}.{rng.randrange(1, 255)}", agent=rng.choice(AGENTS).format(cmd="x"),
                                        region=region, source=source, name=name, rng=rng, identity_type="AssumedRole",
                                        session_issuer=role), region))
    for n in range(30):
        k, user, account = users[n]
        service = rng.choice(SERVICES)
        region = rng.choice(REGIONS)
        source, name = rng.choice(CALLS)
        habits.append((8, template(key=k, user=user, account=account, ip=service, agent=service, region=region,
                                   source=source, name=name, rng=rng, invoked_by=service), region))
    k, user, account = users[7]
    leak = [template(key=k, user=user, account=account, ip=LEAK["ip"], agent=LEAK["agent"], region=LEAK["region"],
                     source=source, name=name, rng=rng) for source, name in LEAK["calls"]]
    return habits, leak


def records(seed, size):
    """(eventTime, region, JSON text) of records in time order until `size` bytes of NDJSON."""
    rng = random.Random(seed)
    habits, leak = population(rng)
    deck = [(t, region) for weight, t, region in habits for _ in range(weight)]
    total = 0
    i = 0
    leak_at = None
    stamp, second = "", -1
    getrandbits = rng.getrandbits
    while total < size:
        s = i // RATE
        if s != second:
            second = s
            stamp = (START + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%SZ")
        if leak_at is None and total >= size * 0.8:
            leak_at = i
        if leak_at is not None and i - leak_at < 600 and i % 20 == 0:
            text, region = leak[(i // 20) % len(leak)], LEAK["region"]
        else:
            text, region = deck[getrandbits(30) % len(deck)]
        h = "%032x" % getrandbits(128)
        r = h[::-1]
        line = text % (stamp, f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", f"{r[:8]}-{r[8:12]}-{r[12:16]}-{r[16:20]}-{r[20:]}")
        total += len(line) + 1
        i += 1
        yield stamp, region, line


def write_tree(job):
    """Writes one gzipped log file: (path, record lines)."""
    path, lines = job
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # No name and no time in the gzip header, so that the same seed gives the same bytes.
    with open(path, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as out:
        out.write(('{"Records":[' + ",".join(lines) + "]}").encode())
    return len(lines)


def tree_jobs(seed, size, root):
    """One log file per account, region and five minutes, as CloudTrail delivers them."""
    batches = {}
    current = None
    for stamp, region, line in records(seed, size):
        minute = stamp[:15] + str(int(stamp[15]) // 5 * 5)  # YYYY-MM-DDTHH:M0 or M5
        if minute != current:
            for (account, reg), lines in sorted(batches.items()):
                yield path_of(root, account, reg, current, seed), lines
            batches, current = {}, minute
        account = line[line.index('"accountId":"') + 13:][:12]
        batches.setdefault((account, region), []).append(line)
    for (account, reg), lines in sorted(batches.items()):
        yield path_of(root, account, reg, current, seed), lines


def path_of(root, account, region, minute, seed):
    day = minute[:10].replace("-", "/")
    stamp = minute.replace("-", "").replace(":", "")
    name = f"{account}_CloudTrail_{region}_{stamp}Z_{random.Random(f'{seed}{account}{region}{minute}').getrandbits(64):016x}.json.gz"
    return os.path.join(root, "AWSLogs", account, "CloudTrail", region, day, name)


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", default="200M", help="bytes of records (as NDJSON), e.g. 200M, 1G")
    parser.add_argument("--format", choices=["ndjson", "records", "tree"], default="ndjson")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", required=True, help="file (ndjson, records) or folder (tree)")
    args = parser.parse_args()
    size = parse_size(args.size)
    if args.format == "tree":
        with Pool() as pool:
            n = sum(pool.imap(write_tree, tree_jobs(args.seed, size, args.out), chunksize=8))
    else:
        n = 0
        with open(args.out, "w", buffering=1 << 20) as out:
            first = True
            if args.format == "records":
                out.write('{"Records":[')
            for _, _, line in records(args.seed, size):
                if args.format == "ndjson":
                    out.write(line + "\n")
                else:
                    out.write(line if first else "," + line)
                    first = False
                n += 1
            if args.format == "records":
                out.write("]}\n")
    print(f"{n} records written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
