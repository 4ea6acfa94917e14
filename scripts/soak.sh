#!/usr/bin/env bash
# Soak: one `keywatcher score` fed a live stream on stdin for MINUTES (default 30), as an exec stage of Fluent
# Bit or Vector would run it, with its resident memory (VmRSS) sampled every INTERVAL seconds (default 5) and
# printed as a curve beside the records fed so far. The stream is the records of scripts/gen.py (seeded),
# written again and again at RATE records/s (default 5000); the first half of them was learned into a
# snapshot first, so every key has a profile. Memory should rise while the first pass meets the keys, then
# stay flat: a curve that keeps climbing is a leak.
#
#   scripts/soak.sh                 # 30 minutes
#   MINUTES=5 scripts/soak.sh       # a quick look
#
# Needs python3. Data goes to $SOAK_DIR (default /tmp/keywatcher-soak) and is kept between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${MINUTES:-30}
INTERVAL=${INTERVAL:-5}
RATE=${RATE:-5000}
SIZE=${SIZE:-20M}
DIR=${SOAK_DIR:-/tmp/keywatcher-soak}
cargo build --release --quiet
KW=$PWD/target/release/keywatcher
mkdir -p "$DIR"
[ -e "$DIR/records-$SIZE.ndjson" ] || scripts/gen.py --format ndjson --size "$SIZE" --out "$DIR/records-$SIZE.ndjson"
records=$DIR/records-$SIZE.ndjson
lines=$(wc -l < "$records")
rm -f "$DIR/profiles" "$DIR/fed"
head -n $((lines / 2)) "$records" | "$KW" learn -q --store "$DIR/profiles"

# The feeder: the file's lines, over and over, at RATE a second, for MINUTES; it counts what it wrote in $DIR/fed.
feed() {
    python3 - "$records" "$RATE" "$MINUTES" "$DIR/fed" <<'EOF'
import os, sys, time
path, rate, minutes, fed_path = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
lines = open(path, "rb").read().splitlines(keepends=True)
out, start, fed = sys.stdout.buffer, time.monotonic(), 0
batch = max(1, rate // 20)
while (now := time.monotonic()) - start < minutes * 60:
    due = int((now - start) * rate)
    while fed < due:
        chunk = [lines[(fed + i) % len(lines)] for i in range(min(batch, due - fed))]
        out.writelines(chunk)
        fed += len(chunk)
    out.flush()
    with open(fed_path + ".new", "w") as f:
        f.write(str(fed))
    os.replace(fed_path + ".new", fed_path)
    time.sleep(0.05)
EOF
}

"$KW" score -q --store "$DIR/profiles" - < <(feed) > /dev/null &
pid=$!
start=$(date +%s)
printf '%8s  %10s  %12s\n' "seconds" "RSS (MB)" "records fed"
while kill -0 "$pid" 2> /dev/null; do
    rss=$(awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status" 2> /dev/null || true)
    fed=$(cat "$DIR/fed" 2> /dev/null || true)
    if [ -n "$rss" ]; then
        printf '%8d  %10s  %12s\n' $(($(date +%s) - start)) "$rss" "${fed:-0}"
    fi
    sleep "$INTERVAL"
done
wait "$pid"
