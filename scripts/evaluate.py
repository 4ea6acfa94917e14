#!/usr/bin/env python3
"""How well keywatcher detects, on the scenario suite (scripts/scenarios.py), per scoring configuration.

    scripts/evaluate.py [--seed 7] [--bin target/release/keywatcher] [--markdown] [--probation 0,24h,...]

Generates the suite into target/scenarios/seed-N, then for each scenario and each configuration learns the
baseline weeks and scores the next week (`keywatcher score --baseline baseline.ndjson scored.ndjson`), and
prints, per scenario and overall:
  recall     attacker calls flagged suspicious / attacker calls (a call keywatcher never scores is missed)
  FP rate    normal calls of profiled keys flagged / normal calls of profiled keys scored
  precision  attacker calls flagged / all calls flagged
and, after the table, how many normal calls of keys with no profile (a key made or rotated during the week)
each configuration flagged: the FP rate leaves them out, so they are counted here instead of hidden.
Without --bin it builds the release binary first. The configurations add one part at a time to the old
scoring (exact strings, by key, frozen), then the standard scoring frozen and by key (the default before
plain `score` learned within its run and role sessions were scored), learning within the run, by key, with
any address of a known /24 counted as the key's, without probation, then the default (by key and role),
profiling by principal instead, and both as a live pipeline runs them (`score --learn`: the baseline learned
into a store first, and what the week teaches saved as it goes).
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CONFIGS = {
    "legacy": ["--scoring", "legacy"],
    "+family": ["--scoring", "legacy", "--agent-match", "family"],
    "+near": ["--scoring", "legacy", "--agent-match", "family", "--ip-match", "near"],
    "standard --frozen, by key (the old default)": ["--frozen", "--identity", "key"],
    "standard, by key": ["--identity", "key"],
    "standard, --ip-match network": ["--ip-match", "network"],
    "standard, --probation 0": ["--probation", "0"],
    "standard (default)": [],
    "standard, by principal": ["--identity", "principal"],
    "standard, --learn": ["--learn"],
    "by principal, --learn": ["--identity", "principal", "--learn"],
}


def score(binary, folder, flags):
    """eventID → (suspicious, profile) for every call keywatcher scored. With --learn, the baseline is learned
    into a snapshot of its own first (--learn saves into a store, so it does not go with --baseline), and the
    calls of the scored week that were not suspicious are learned as the week goes."""
    if "--learn" in flags:
        with tempfile.TemporaryDirectory() as tmp:
            store = ["--store", Path(tmp) / "profiles.kw"]
            identity = flags[flags.index("--identity"):][:2] if "--identity" in flags else []
            subprocess.run([binary, "learn", "-q", *store, *identity, folder / "baseline.ndjson"], check=True)
            out = subprocess.run([binary, "score", "-q", *store, *flags, folder / "scored.ndjson"],
                                 check=True, capture_output=True, text=True).stdout
    else:
        out = subprocess.run([binary, "score", "-q", "--baseline", folder / "baseline.ndjson", *flags,
                              folder / "scored.ndjson"], check=True, capture_output=True, text=True).stdout
    return {v["eventID"]: (v["suspicious"], v["profile"]) for v in map(json.loads, out.splitlines())}


def counts(labels, verdicts):
    """(attackers, caught, normal profiled, false alarms, flagged, normal of unknown keys, its false alarms).
    A call never scored (a role session's, by key or before its role is learned) is in none of the normal
    counts."""
    c = [0] * 7
    for event_id, label in labels.items():
        suspicious, profile = verdicts.get(event_id, (False, None))
        if label == "attacker":
            c[0] += 1
            c[1] += suspicious
        elif profile in ("known", "warming"):
            c[2] += 1
            c[3] += suspicious
        elif profile == "unknown":
            c[5] += 1
            c[6] += suspicious
        c[4] += suspicious
    return c


def figures(c):
    attackers, caught, normal, false, flagged, _, _ = c
    recall = f"{caught / attackers:.2f}" if attackers else "—"
    fp = f"{100 * false / normal:.2f}%" if normal else "—"
    precision = f"{caught / flagged:.2f}" if flagged else "—"
    return f"{recall} / {fp} / {precision}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--bin", help="keywatcher binary (default: build target/release/keywatcher)")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--probation", metavar="SPAN,...",
                    help="instead of the configurations above, the default with `--probation SPAN` for each span")
    args = ap.parse_args()
    configs = CONFIGS
    if args.probation:
        configs = {f"--probation {span}": ["--probation", span] for span in args.probation.split(",")}
    binary = args.bin
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--locked", "--quiet"], cwd=ROOT, check=True)
        binary = ROOT / "target" / "release" / "keywatcher"
    suite = ROOT / "target" / "scenarios" / f"seed-{args.seed}"
    subprocess.run([sys.executable, ROOT / "scripts" / "scenarios.py", "--seed", str(args.seed), "--out", suite],
                   check=True, stdout=subprocess.DEVNULL)
    scenarios = sorted(p for p in suite.iterdir() if p.is_dir())
    total = {name: [0] * 7 for name in configs}
    rows = []
    for folder in scenarios:
        labels = dict(line.split("\t") for line in (folder / "labels.tsv").read_text().splitlines())
        row = [folder.name]
        for name, flags in configs.items():
            c = counts(labels, score(binary, folder, flags))
            total[name] = [a + b for a, b in zip(total[name], c)]
            row.append(figures(c))
        rows.append(row)
    rows.append(["overall"] + [figures(total[name]) for name in configs])
    header = ["scenario (recall / FP rate / precision)"] + list(configs)
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(r[i]) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    first = next(iter(total.values()))
    print(f"\nseed {args.seed}; {first[0]} attacker calls, {first[2]} normal calls of profiled keys", file=sys.stderr)
    for name, c in total.items():
        print(f"{name}: {c[6]} of {c[5]} normal calls of keys without a profile ('unknown') flagged", file=sys.stderr)


if __name__ == "__main__":
    main()
