#!/usr/bin/env bash
# CPU seconds of each thread of a command, beside its wall-clock time: the thread that scores in input order (the
# process's first thread) bounds a run's speed whatever the other threads do, and its CPU time moves far less than
# wall-clock time on a machine shared with other work.
#
#   scripts/thread-cpu.sh COMMAND [ARGS...]     (its stdout goes to /dev/null)
#   scripts/thread-cpu.sh target/release/keywatcher score -q --store redis://127.0.0.1:6379 records.ndjson
#
# Prints the wall time, the first thread's CPU time, then each other thread name's total (threads named by
# keywatcher: `writer`, `redis-ahead`; unnamed ones, the readers and parsers, share the command's name). Reads
# /proc/PID/task/*/stat every 20 ms until the command exits, so a thread that ends sooner is counted as last seen.
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 COMMAND [ARGS...]" >&2; exit 2; }
tick=$(getconf CLK_TCK)
start=$(date +%s%N)
"$@" >/dev/null &
pid=$!
declare -A ticks names
while kill -0 "$pid" 2>/dev/null; do
    for task in /proc/"$pid"/task/*; do
        # A thread that ends between the two reads keeps what was last read of it.
        name=$(cat "$task/comm" 2>/dev/null) && stat=$(cat "$task/stat" 2>/dev/null) || continue
        read -ra fields <<<"${stat##*) }"
        tid=${task##*/}
        # After the name: state is field 0, utime 11, stime 12.
        ticks[$tid]=$((fields[11] + fields[12]))
        names[$tid]=$name
    done
    sleep 0.02
done
wait "$pid" || { echo "$1 failed" >&2; exit 1; }
end=$(date +%s%N)
declare -A by_name
for tid in "${!ticks[@]}"; do
    [ "$tid" = "$pid" ] && continue
    by_name[${names[$tid]}]=$((${by_name[${names[$tid]}]:-0} + ticks[$tid]))
done
seconds() { awk -v t="$1" -v hz="$tick" 'BEGIN { printf "%.2f", t / hz }'; }
printf 'wall %s s, first thread %s s' "$(awk -v ns=$((end - start)) 'BEGIN { printf "%.2f", ns / 1e9 }')" \
    "$(seconds "${ticks[$pid]:-0}")"
for name in "${!by_name[@]}"; do printf ', %s %s s' "$name" "$(seconds "${by_name[$name]}")"; done
echo
