#!/usr/bin/env python3
"""Summarises the reports bench/ab wrote into OUT: for each pair of builds,
file system and case, the median over runs of A's and B's medians (min-max),
and of the per-run ratio B / A (paired: both from the same run). Times in µs,
the concurrent case in ms.

    bench/ab-summary.py OUT
"""
import collections
import pathlib
import re
import statistics
import sys

CASES = {
    "VERSION": "VERSION (start-up only)",
    "ADD, empty": "ADD, empty /24",
    "DEL, empty": "DEL, empty /24",
    "CHECK, empty": "CHECK, empty /24",
    "ADD, 3000": "ADD, 3000 held",
    "DEL, 3000": "DEL, 3000 held",
    "CHECK, 3000": "CHECK, 3000 held",
    "480 ADDs by": "480 concurrent ADDs (ms)",
    "480 ADDs (9": "480 concurrent ADDs, 9 rounds (ms)",
}


def spread(xs, digits=0):
    return f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    pairs = collections.defaultdict(list)  # (a, b, fs, case) -> [(a µs, b µs)]
    runs = collections.Counter()
    for report in sorted(pathlib.Path(sys.argv[1]).glob("*-first.md")):
        m = re.fullmatch(r"(.+)-vs-(.+)-(\w+)-run\d+-([AB])-first\.md", report.name)
        text = report.read_text()
        if not m or ("| case |" not in text and "median of 9" not in text):
            continue
        a_name, b_name, fs, first = m.groups()
        runs[(a_name, b_name, fs)] += 1
        for line in text.splitlines():
            # --concurrent-only prints one line instead of the table.
            c = re.match(r"concurrent ADDs \(wall, median of 9\): podlease (\d+) µs, host-local (\d+) µs", line)
            if c:
                line = f"| 480 ADDs (9 rounds) | {c[1]} | {c[2]} |"
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            name = next((v for k, v in CASES.items() if cells[0].startswith(k)), None)
            if not name or len(cells) < 3:
                continue
            try:
                x, y = float(cells[1]), float(cells[2])
            except ValueError:
                continue
            a, b = (x, y) if first == "A" else (y, x)
            if name.endswith("(ms)"):
                a, b = a / 1000, b / 1000
            pairs[(a_name, b_name, fs, name)].append((a, b))

    for a_name, b_name, fs in sorted(runs):
        n = runs[(a_name, b_name, fs)]
        print(f"\n{a_name} vs {b_name} on {fs}, {n} runs: medians over runs (min–max)\n")
        print(f"| case | {a_name} | {b_name} | {b_name} / {a_name} |")
        print("|---|---:|---:|---:|")
        for name in CASES.values():
            d = pairs.get((a_name, b_name, fs, name))
            if d:
                a, b = [p[0] for p in d], [p[1] for p in d]
                ratio = [p[1] / p[0] for p in d]
                print(f"| {name} | {spread(a)} | {spread(b)} | {spread(ratio, 2)} |")


main()
