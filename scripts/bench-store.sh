#!/usr/bin/env bash
# Learn and score throughput with the profiles in a snapshot (the baseline), in one Redis and in a 3-master Redis
# Cluster, on the same generated input, in one invocation: records/s of each and its ratio to the snapshot.
#
#   scripts/bench-store.sh [RECORDS [KEYS]]     (default 200000 records over 2000 access keys)
#
# Needs redis-server and redis-cli; starts its own servers on free loopback ports and stops them at the end.
# Each figure is the best of 3 runs; every learn starts from an empty store.
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-200000}
keys=${2:-2000}
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

cargo build --release --locked --quiet
kw=$PWD/target/release/keywatcher

# The input: RECORDS calls spread over KEYS keys, each key with a few addresses, agents, regions and events.
PYTHONPATH=scripts python3 - "$records" "$keys" >"$work/input.ndjson" <<'EOF'
import json, random, sys
from datetime import datetime, timedelta, timezone
from ctrecord import record
records, keys = int(sys.argv[1]), int(sys.argv[2])
rng, start, out = random.Random(7), datetime(2026, 11, 1, tzinfo=timezone.utc), sys.stdout
names = ["GetObject", "PutObject", "ListBuckets", "DescribeInstances", "RunInstances", "AssumeRole"]
for n in range(records):
    k = rng.randrange(keys)
    out.write(json.dumps(record(key=f"AKIA{k:016d}", user=f"user{k}", account="123456789012",
        ip=f"198.51.{k % 200}.{rng.randrange(4)}", agent=f"aws-cli/2.{rng.randrange(3)} Python/3.11 Linux",
        region=rng.choice(["us-east-1", "eu-west-1"]), source="s3.amazonaws.com", name=rng.choice(names),
        time=start + timedelta(seconds=n * 3), rng=rng)) + "\n")
EOF

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
start_redis() { # PORT DIR [ARGS...]
    local port=$1 dir=$2
    shift 2
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save "" --dir "$dir" "$@" >/dev/null &
    pids+=($!)
    until redis-cli -p "$port" ping >/dev/null 2>&1; do sleep 0.05; done
}

single=$(free_port)
start_redis "$single" "$work/single"
cluster_ports=()
for n in 1 2 3; do
    port=$(free_port)
    while [ $((port + 10000)) -gt 65535 ]; do port=$(free_port); done
    start_redis "$port" "$work/cluster-$n" --cluster-enabled yes --cluster-config-file nodes.conf
    cluster_ports+=("$port")
done
redis-cli --cluster create "${cluster_ports[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes >/dev/null
for port in "${cluster_ports[@]}"; do
    until redis-cli -p "$port" cluster info | grep -q cluster_state:ok; do sleep 0.1; done
done
nodes=$(printf '127.0.0.1:%s,' "${cluster_ports[@]}")

empty() { # STORE: delete every profile
    case $1 in
        redis*) "$kw" profile delete --store "$1" --all 2>/dev/null ;;
        *) rm -f "$1" ;;
    esac
}
# Best of 3 wall-clock seconds of COMMAND, each run after PREPARE.
best() { # PREPARE COMMAND...
    local prepare=$1 best= start end
    shift
    for _ in 1 2 3; do
        eval "$prepare"
        start=$(date +%s%N)
        "$@" >/dev/null
        end=$(date +%s%N)
        t=$(((end - start) / 1000000))
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then best=$t; fi
    done
    echo "$best"
}

printf 'keywatcher %s, %s records over %s keys (%s MB), best of 3\n' "$($kw --version | cut -d' ' -f2)" \
    "$records" "$keys" "$(($(stat -c %s "$work/input.ndjson") / 1000000))"
printf '%-26s %8s %10s %12s\n' "store" "command" "records/s" "vs snapshot"
declare -A base
for store in "$work/profiles" "redis://127.0.0.1:$single" "redis+cluster://${nodes%,}"; do
    case $store in
        redis://*) name="Redis" ;;
        redis+cluster://*) name="Redis Cluster (3 masters)" ;;
        *) name="snapshot" ;;
    esac
    learn_ms=$(best "empty '$store'" "$kw" learn -q --store "$store" "$work/input.ndjson")
    score_ms=$(best ":" "$kw" score -q --store "$store" "$work/input.ndjson")
    for command in learn score; do
        ms=${command}_ms
        rate=$((records * 1000 / ${!ms}))
        base[$command]=${base[$command]:-$rate}
        printf '%-26s %8s %10s %11s%%\n' "$name" "$command" "$rate" "$((rate * 100 / ${base[$command]}))"
    done
done
