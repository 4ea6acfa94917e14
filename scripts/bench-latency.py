#!/usr/bin/env python3
"""Latency of keywatcher as an exec stage, beside its bulk throughput, in one run of one binary.

    cargo build --release && scripts/bench-latency.py                 # 50 MB of records, 2000 one at a time
    scripts/bench-latency.py --size 200M --records 5000 --binary target/release/keywatcher

Latency: `keywatcher score` (then `score --learn`) reads a pipe that stays open; records are written into it
one at a time, each only after the line of the one before came back, and the time from the write to its
scored line is measured (median, p99, max). Bulk: the same binary scores the whole file from the file
itself (the baseline: a regular file, which is never taken for a live feed) and through a pipe (`cat file |`,
read as a live feed and flushed whenever it has nothing more ready), with and without --learn, output to
/dev/null; runs of each kind interleaved, the best of --repeat shown, wall time and keywatcher's CPU time (on
a machine busy with other work, wall time mostly measures the wait for a core). The data is scripts/gen.py's (seeded); profiles are learned
from the same file first, so most calls are known. Everything is written under /tmp/keywatcher-latency-* and
removed at the end.
"""

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, **kwargs):
    subprocess.run(cmd, check=True, **kwargs)


def live_calls(lines, wanted):
    """The first `wanted` lines that are calls keywatcher scores (long-term keys of IAM users, made by them)."""
    calls = []
    for line in lines:
        record = json.loads(line)
        who = record.get("userIdentity", {})
        ip = record.get("sourceIPAddress", "")
        if (
            who.get("type") == "IAMUser"
            and who.get("accessKeyId", "").startswith("AKIA")
            and "invokedBy" not in who
            and not ip.endswith(".amazonaws.com")
        ):
            calls.append(line)
            if len(calls) == wanted:
                break
    return calls


def latency(binary, store, calls, threads, learn):
    """Milliseconds from each record's write to its scored line."""
    cmd = [binary, "score", "-q", "--store", store, "--threads", str(threads)] + (["--learn"] if learn else [])
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    out = proc.stdout
    times = []
    for line in calls:
        start = time.perf_counter()
        proc.stdin.write(line)
        answer = out.readline()
        times.append((time.perf_counter() - start) * 1000)
        if not answer:
            sys.exit(f"keywatcher stopped answering: {' '.join(cmd)}")
    proc.send_signal(signal.SIGTERM)
    if proc.wait(timeout=60) != 0:
        sys.exit(f"keywatcher exited {proc.returncode} on SIGTERM: {' '.join(cmd)}")
    return times


def bulk(binary, store, path, threads, learn, piped):
    """Seconds to score `path`, read from the file or through a pipe: wall time, and keywatcher's CPU time
    (user + system, without cat's), the steadier of the two on a machine busy with other work."""
    cmd = [binary, "score", "-q", "--store", store, "--threads", str(threads)] + (["--learn"] if learn else [])
    with open(os.devnull, "wb") as null:
        start = time.perf_counter()
        if piped:
            cat = subprocess.Popen(["cat", path], stdout=subprocess.PIPE)
            proc = subprocess.Popen(cmd, stdin=cat.stdout, stdout=null)
            cat.stdout.close()
        else:
            proc = subprocess.Popen(cmd + [path], stdout=null)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if piped:
            cat.wait()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"keywatcher failed: {' '.join(cmd)}")
        return wall, usage.ru_utime + usage.ru_stime


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(HERE, "..", "target", "release", "keywatcher"))
    parser.add_argument("--size", default="50M", help="bytes of generated NDJSON for the bulk runs")
    parser.add_argument("--records", type=int, default=2000, help="records sent one at a time")
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=2, help="bulk runs of each kind; the best is shown")
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        sys.exit(f"no keywatcher at {binary}: run `cargo build --release` first, or give --binary")

    work = tempfile.mkdtemp(prefix="keywatcher-latency-")
    try:
        data = os.path.join(work, "ct.ndjson")
        run([sys.executable, os.path.join(HERE, "gen.py"), "--size", args.size, "--out", data], stdout=subprocess.DEVNULL)
        learned = os.path.join(work, "learned")
        run([binary, "learn", "-q", "--store", learned, data])
        with open(data, "rb") as f:
            calls = live_calls(f, args.records)
        size = os.path.getsize(data)
        with open(data, "rb") as f:
            records = sum(1 for _ in f)

        def fresh_store():
            # --learn changes the store: every run starts from the same profiles.
            store = os.path.join(work, "store")
            shutil.copyfile(learned, store)
            return store

        load = os.getloadavg()[0]
        print(f"keywatcher {binary}, --threads {args.threads}, load {load:.1f}")
        print(f"latency: {len(calls)} records written one at a time into an open pipe, write → scored line")
        for learn in (False, True):
            times = sorted(latency(binary, fresh_store(), calls, args.threads, learn))
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            name = "score --learn" if learn else "score"
            print(f"  {name:<14} median {statistics.median(times):6.2f} ms   p99 {p99:6.2f} ms   max {times[-1]:7.2f} ms")
        print(f"bulk: {records} records, {size / 1e6:.0f} MB of NDJSON, output to /dev/null, best of {args.repeat}")
        print("  (CPU: keywatcher's user + system time; vs: its CPU time beside the first row's)")
        kinds = [(piped, learn) for piped in (False, True) for learn in (False, True)]
        best = {kind: (float("inf"), float("inf")) for kind in kinds}
        # Interleaved, so that a change in the machine's load falls on every kind alike.
        for _ in range(args.repeat):
            for kind in kinds:
                wall, cpu = bulk(binary, fresh_store(), data, args.threads, kind[1], kind[0])
                best[kind] = (min(best[kind][0], wall), min(best[kind][1], cpu))
        base_cpu = best[kinds[0]][1]
        for (piped, learn), (wall, cpu) in best.items():
            how = "cat file |" if piped else "file"
            name = "score --learn" if learn else "score"
            print(
                f"  {how:<11} {name:<14} {wall:6.2f} s  {size / 1e6 / wall:6.1f} MB/s  {records / wall:9.0f} records/s"
                f"   CPU {cpu:5.2f} s  vs {(cpu / base_cpu - 1) * 100:+6.1f} %"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
