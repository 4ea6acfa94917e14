#!/usr/bin/env bash
# End-to-end throughput, memory and start-up, on data made by scripts/gen.py, beside the baselines run in
# the same invocation: `jq -r` extracting the old script's nine fields, and `zcat` of the same gzipped tree.
#
#   scripts/bench.sh            # 200 MB, plus 1 GB for peak RSS
#   SIZE=50M BIG=200M scripts/bench.sh   # a quick look
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
cargo build --release --quiet
KW=$PWD/target/release/keywatcher
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

# best SECONDS and the RSS (KB) of that run, of RUNS runs of a command (stdout to /dev/null)
best() {
    local best_s="" best_kb=""
    for _ in $(seq "$RUNS"); do
        local start end s kb
        start=$(date +%s.%N)
        /usr/bin/time -f %M -o "$DIR/rss" "$@" > /dev/null
        end=$(date +%s.%N)
        s=$(echo "$end - $start" | bc -l)
        kb=$(cat "$DIR/rss")
        if [ -z "$best_s" ] || (( $(echo "$s < $best_s" | bc -l) )); then best_s=$s best_kb=$kb; fi
    done
    echo "$best_s $best_kb"
}

JQ_S=""
row() { # NAME BYTES RECORDS SECONDS KB [BASELINE_SECONDS_FOR_RATIO]
    local mbs rps ratio
    mbs=$(echo "$2 / $4 / 1000000" | bc -l)
    rps=$(echo "$3 / $4" | bc -l)
    ratio=$([ -n "${6:-}" ] && echo "$6 / $4" | bc -l || echo "")
    printf '| %-44s | %7.2f s | %7.0f MB/s | %10.0f rec/s | %6s MB | %s |\n' "$1" "$4" "$mbs" "$rps" "$(($5 / 1024))" \
        "$([ -n "$ratio" ] && printf '%.1f×' "$ratio")"
}

STORE=$DIR/profiles
rm -f "$STORE" "$STORE.lock"
JQ='[.userIdentity.accessKeyId, .recipientAccountId, .userIdentity.type, .userIdentity.userName, .awsRegion,
    .sourceIPAddress, .userAgent, .eventSource, .eventName] | join(":")'
echo "keywatcher bench: $(nproc) cores, $(date -u +%FT%TZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "data: $NDJSON ($BYTES bytes, $RECORDS records); $TREE ($(find "$TREE" -type f | wc -l) files, $TREE_BYTES bytes unzipped)"
echo
echo "| run | time | throughput | records | peak RSS | vs baseline |"
echo "|---|---|---|---|---|---|"
read -r JQ_S kb < <(best jq -r "$JQ" "$NDJSON")
row "jq -r nine fields, NDJSON (baseline)" "$BYTES" "$RECORDS" "$JQ_S" "$kb" "$JQ_S"
read -r s kb < <(best "$KW" learn -q --store "$STORE.scratch" "$NDJSON")
row "keywatcher learn, NDJSON" "$BYTES" "$RECORDS" "$s" "$kb" "$JQ_S"
"$KW" learn -q --store "$STORE" "$NDJSON"
read -r s kb < <(best "$KW" score -q --store "$STORE" "$NDJSON")
row "keywatcher score, NDJSON" "$BYTES" "$RECORDS" "$s" "$kb" "$JQ_S"
read -r s kb < <(best "$KW" score -q --threads 1 --store "$STORE" "$NDJSON")
row "keywatcher score --threads 1, NDJSON" "$BYTES" "$RECORDS" "$s" "$kb" "$JQ_S"
read -r s kb < <(best "$KW" score -q --store "$STORE" "$DIR/log-file-$SIZE.json")
row "keywatcher score, one {\"Records\":[…]} file" "$(stat -c %s "$DIR/log-file-$SIZE.json")" "$RECORDS" "$s" "$kb" "$JQ_S"
read -r ZCAT_S kb < <(best sh -c "find '$TREE' -type f -name '*.gz' -print0 | sort -z | xargs -0 zcat")
row "zcat of the gzipped tree (baseline)" "$TREE_BYTES" "$TREE_RECORDS" "$ZCAT_S" "$kb" "$ZCAT_S"
read -r s kb < <(best "$KW" score -q --store "$STORE" "$TREE")
row "keywatcher score, gzipped tree" "$TREE_BYTES" "$TREE_RECORDS" "$s" "$kb" "$ZCAT_S"
read -r s kb < <(best "$KW" score -q --store "$STORE" "$DIR/records-$BIG.ndjson")
row "keywatcher score, NDJSON $BIG (peak RSS)" "$(stat -c %s "$DIR/records-$BIG.ndjson")" \
    "$(wc -l < "$DIR/records-$BIG.ndjson")" "$s" "$kb" "$JQ_S"
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
