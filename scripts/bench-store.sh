#!/usr/bin/env bash
# Learn and score throughput with the profiles in a snapshot (the baseline), in one Redis and in a 3-master Redis
# Cluster, on the same generated input, in one invocation: records/s of each and its ratio to the snapshot. Each
# size is a number of records over a number of access keys; few keys measure the per-record work, many keys the
# per-key round trips and scripts.
#
#   scripts/bench-store.sh [RECORDS KEYS]...     (default: 200000 2000 200000 80000)
#   KEYWATCHER=path/to/keywatcher scripts/bench-store.sh ...   (measure another build, such as an older one)
#
# Needs redis-server, redis-cli and GNU time (/usr/bin/time); starts its own servers on free loopback ports and
# stops them at the end. Each figure is the best of 3 runs; every learn starts from an empty store. "CPU s" is the
# CPU time of that best run, keywatcher's and the servers'.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(200000 2000 200000 80000)
[ $((${#sizes[@]} % 2)) -eq 0 ] || { echo "usage: $0 [RECORDS KEYS]..." >&2; exit 2; }
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

kw=${KEYWATCHER:-}
if [ -z "$kw" ]; then
    cargo build --release --locked --quiet
    kw=$PWD/target/release/keywatcher
fi

# The input: RECORDS calls spread over KEYS keys, each key with a few addresses, agents, regions and events.
generate() { # RECORDS KEYS
    PYTHONPATH=scripts python3 - "$1" "$2" >"$work/input.ndjson" <<'EOF'
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
}

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
# Milliseconds of CPU time every server has used so far.
server_cpu() {
    for port in "$single" "${cluster_ports[@]}"; do redis-cli -p "$port" info cpu; done |
        awk -F: '/^used_cpu_(user|sys):/ { s += $2 } END { printf "%d", s * 1000 }'
}
# Best of 3 wall-clock milliseconds of COMMAND, each run after PREPARE, and the CPU milliseconds of that run:
# keywatcher's (user + system) plus the servers'. On a machine shared with other work the CPU time moves less
# than the wall-clock time.
best() { # PREPARE COMMAND...
    local prepare=$1 best= cpu= start end before t
    shift
    for _ in 1 2 3; do
        eval "$prepare"
        before=$(server_cpu)
        start=$(date +%s%N)
        /usr/bin/time -o "$work/time" -f "%U %S" "$@" >/dev/null
        end=$(date +%s%N)
        t=$(((end - start) / 1000000))
        if [ -z "$best" ] || [ "$t" -lt "$best" ]; then
            best=$t
            cpu=$(awk -v server=$(($(server_cpu) - before)) '{ printf "%d", ($1 + $2) * 1000 + server }' "$work/time")
        fi
    done
    echo "$best $cpu"
}

for ((i = 0; i < ${#sizes[@]}; i += 2)); do
    records=${sizes[i]} keys=${sizes[i + 1]}
    generate "$records" "$keys"
    printf '\nkeywatcher %s, %s records over %s keys (%s MB), best of 3\n' "$($kw --version | cut -d' ' -f2)" \
        "$records" "$keys" "$(($(stat -c %s "$work/input.ndjson") / 1000000))"
    printf '%-26s %8s %10s %12s %8s\n' "store" "command" "records/s" "vs snapshot" "CPU s"
    declare -A base=()
    for store in "$work/profiles" "redis://127.0.0.1:$single" "redis+cluster://${nodes%,}"; do
        case $store in
            redis://*) name="Redis" ;;
            redis+cluster://*) name="Redis Cluster (3 masters)" ;;
            *) name="snapshot" ;;
        esac
        read -r learn_ms learn_cpu <<<"$(best "empty '$store'" "$kw" learn -q --store "$store" "$work/input.ndjson")"
        read -r score_ms score_cpu <<<"$(best ":" "$kw" score -q --store "$store" "$work/input.ndjson")"
        for command in learn score; do
            ms=${command}_ms cpu=${command}_cpu
            rate=$((records * 1000 / ${!ms}))
            base[$command]=${base[$command]:-$rate}
            printf '%-26s %8s %10s %11s%% %8s\n' "$name" "$command" "$rate" "$((rate * 100 / ${base[$command]}))" \
                "$(awk -v ms="${!cpu}" 'BEGIN { printf "%.2f", ms / 1000 }')"
        done
    done
done
