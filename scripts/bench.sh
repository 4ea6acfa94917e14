#!/usr/bin/env bash
# End-to-end throughput, memory and start-up, on data made by scripts/gen.py, beside the baselines run in
# the same invocation: `jq -r` extracting the old script's nine fields, and `zcat` of the same gzipped tree.
# "vs baseline" is the ratio of throughputs (MB/s): to jq for plain JSON, to zcat for the gzipped tree.
#
#   scripts/bench.sh            # 200 MB, plus 1 GB for peak RSS
#   SIZE=50M BIG=200M scripts/bench.sh   # a quick look
#   KEYWATCHER=/tmp/kw-main scripts/bench.sh   # another build (e.g. main's), on the same data
#
# Needs jq, zcat, python3 and /usr/bin/time (GNU). Data goes to $BENCH_DIR (default /tmp/keywatcher-bench)
# and is kept between runs (same seed, same bytes). Prints a table; wall-clock seconds are the best of $RUNS.
set -euo pipefail
cd "$(dirname "$0")/.."
SIZE=${SIZE:-200M}
BIG=${BIG:-1G}
RUNS=${RUNS:-2}
DIR=${BENCH_DIR:-/tmp/keywatcher-bench}
for tool in jq zcat python3 /usr/bin/time; do
    command -v "$tool" > /dev/null || { echo "bench.sh: $tool is needed" >&2; exit 2; }
done
if [ -n "${KEYWATCHER:-}" ]; then
    KW=$KEYWATCHER
else
    cargo build --release --quiet
    KW=$PWD/target/release/keywatcher
fi
mkdir -p "$DIR"

make() { # FORMAT SIZE PATH
    [ -e "$3" ] || scripts/gen.py --format "$1" --size "$2" --out "$3"
}
make ndjson "$SIZE" "$DIR/records-$SIZE.ndjson"
make tree "$SIZE" "$DIR/tree-$SIZE"
make records "$SIZE" "$DIR/log-file-$SIZE.json"
make ndjson "$BIG" "$DIR/records-$BIG.ndjson"
NDJSON=$DIR/records-$SIZE.ndjson
TREE=$DIR/tree-$SIZE
BYTES=$(stat -c %s "$NDJSON")
RECORDS=$(wc -l < "$NDJSON")
TREE_BYTES=$(find "$TREE" -type f -name '*.gz' -print0 | sort -z | xargs -0 zcat | wc -c)
TREE_RECORDS=$RECORDS # the tree holds the same records as the NDJSON file

# best SECONDS, and the RSS (KB) and CPU seconds (user + system) of that run, of RUNS runs of a command
# (stdout to /dev/null). CPU time tells more than wall time when other work shares the machine.
best() {
    local best_s="" best_kb="" best_cpu=""
    for _ in $(seq "$RUNS"); do
        local start end s kb cpu
        start=$(date +%s.%N)
        /usr/bin/time -f "%M %U %S" -o "$DIR/rss" "$@" > /dev/null
        end=$(date +%s.%N)
        s=$(echo "$end - $start" | bc -l)
        read -r kb user sys < "$DIR/rss"
        cpu=$(echo "$user + $sys" | bc -l)
        if [ -z "$best_s" ] || (( $(echo "$s < $best_s" | bc -l) )); then best_s=$s best_kb=$kb best_cpu=$cpu; fi
    done
    echo "$best_s $best_kb $best_cpu"
}

row() { # NAME BYTES RECORDS SECONDS KB CPU_SECONDS BASELINE_BYTES_PER_SECOND
    local mbs rps ratio
    mbs=$(echo "$2 / $4 / 1000000" | bc -l)
    rps=$(echo "$3 / $4" | bc -l)
    ratio=$(echo "$2 / $4 / $7" | bc -l)
    printf '| %-44s | %7.2f s | %6.2f s | %7.0f MB/s | %10.0f rec/s | %6s MB | %.1f× |\n' "$1" "$4" "$6" "$mbs" "$rps" \
        "$(($5 / 1024))" "$ratio"
}

STORE=$DIR/profiles
rm -f "$STORE" "$STORE.lock"
JQ='[.userIdentity.accessKeyId, .recipientAccountId, .userIdentity.type, .userIdentity.userName, .awsRegion,
    .sourceIPAddress, .userAgent, .eventSource, .eventName] | join(":")'
echo "keywatcher bench: $KW, $(nproc) cores, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $NDJSON ($BYTES bytes, $RECORDS records); $TREE ($(find "$TREE" -type f | wc -l) files, $TREE_BYTES bytes unzipped)"
echo
echo "| run | time | CPU | throughput | records | peak RSS | vs baseline |"
echo "|---|---|---|---|---|---|---|"
read -r JQ_S kb cpu < <(best jq -r "$JQ" "$NDJSON")
JQ_RATE=$(echo "$BYTES / $JQ_S" | bc -l)
row "jq -r nine fields, NDJSON (baseline)" "$BYTES" "$RECORDS" "$JQ_S" "$kb" "$cpu" "$JQ_RATE"
read -r s kb cpu < <(best "$KW" learn -q --store "$STORE.scratch" "$NDJSON")
row "keywatcher learn, NDJSON" "$BYTES" "$RECORDS" "$s" "$kb" "$cpu" "$JQ_RATE"
"$KW" learn -q --store "$STORE" "$NDJSON"
read -r s kb cpu < <(best "$KW" score -q --store "$STORE" "$NDJSON")
row "keywatcher score, NDJSON" "$BYTES" "$RECORDS" "$s" "$kb" "$cpu" "$JQ_RATE"
read -r s kb cpu < <(best "$KW" score -q --threads 1 --store "$STORE" "$NDJSON")
row "keywatcher score --threads 1, NDJSON" "$BYTES" "$RECORDS" "$s" "$kb" "$cpu" "$JQ_RATE"
read -r s kb cpu < <(best "$KW" score -q --store "$STORE" "$DIR/log-file-$SIZE.json")
row "keywatcher score, one {\"Records\":[…]} file" "$(stat -c %s "$DIR/log-file-$SIZE.json")" "$RECORDS" "$s" "$kb" "$cpu" "$JQ_RATE"
read -r ZCAT_S kb cpu < <(best sh -c "find '$TREE' -type f -name '*.gz' -print0 | sort -z | xargs -0 zcat")
ZCAT_RATE=$(echo "$TREE_BYTES / $ZCAT_S" | bc -l)
row "zcat of the gzipped tree (baseline)" "$TREE_BYTES" "$TREE_RECORDS" "$ZCAT_S" "$kb" "$cpu" "$ZCAT_RATE"
read -r s kb cpu < <(best "$KW" score -q --store "$STORE" "$TREE")
row "keywatcher score, gzipped tree" "$TREE_BYTES" "$TREE_RECORDS" "$s" "$kb" "$cpu" "$ZCAT_RATE"
read -r s kb cpu < <(best "$KW" score -q --store "$STORE" "$DIR/records-$BIG.ndjson")
row "keywatcher score, NDJSON $BIG (peak RSS)" "$(stat -c %s "$DIR/records-$BIG.ndjson")" \
    "$(wc -l < "$DIR/records-$BIG.ndjson")" "$s" "$kb" "$cpu" "$JQ_RATE"
rm -f "$STORE.scratch" "$STORE.scratch.lock"

# Start-up: one record scored against a snapshot of 10,000 keys, and against an empty one.
python3 - "$DIR/keys-10k.ndjson" <<'EOF'
import json, sys
with open(sys.argv[1], "w") as out:
    for n in range(10000):
        out.write(json.dumps({"eventTime": "2026-11-01T00:00:00Z", "eventSource": "s3.amazonaws.com",
                              "eventName": "GetObject", "awsRegion": "us-east-1", "sourceIPAddress": f"198.51.{n // 256}.{n % 256}",
                              "userAgent": "aws-cli/2.13.5", "userIdentity": {"type": "IAMUser", "accessKeyId": f"AKIA{n:016d}",
                              "accountId": "123456789012", "userName": f"user-{n}"}}) + "\n")
EOF
rm -f "$DIR/keys-10k" "$DIR/keys-10k.lock" "$DIR/keys-0" "$DIR/keys-0.lock"
"$KW" learn -q --store "$DIR/keys-10k" "$DIR/keys-10k.ndjson"
head -1 "$DIR/keys-10k.ndjson" > "$DIR/one.ndjson"
: > "$DIR/keys-0"
startup() { # STORE: best of 10, in ms
    local best=""
    for _ in $(seq 10); do
        local start end
        start=$(date +%s%N)
        "$KW" score -q --store "$1" "$DIR/one.ndjson" > /dev/null
        end=$(date +%s%N)
        local ms=$(((end - start) / 1000000))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}
echo
echo "start-up, one record scored (best of 10): empty snapshot $(startup "$DIR/keys-0") ms;" \
    "10,000-key snapshot ($(stat -c %s "$DIR/keys-10k") bytes) $(startup "$DIR/keys-10k") ms"
