"""Sum Nsight Compute's per-launch kernel durations (``ncu --csv``) by kernel name.

    ncu --csv --metrics gpu__time_duration.sum ... > launches.csv
    python bench/kernel_times.py launches.csv

Times are per MD step: the number of steps is the number of launches of the integrator's first
kernel among the profiled ones.
"""

from __future__ import annotations

import argparse
import collections
import csv
import io

UNITS_IN_US = {"nsecond": 1e-3, "ns": 1e-3, "usecond": 1.0, "us": 1.0, "msecond": 1e3, "ms": 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv_file")
    parser.add_argument("--step-kernel", default="integrateLangevinMiddlePart1")
    args = parser.parse_args()
    text = open(args.csv_file).read()
    start = text.find('"ID"')
    if start < 0:
        raise SystemExit(f"no ncu CSV table in {args.csv_file}:\n{text[-2000:]}")
    totals: dict[str, float] = collections.defaultdict(float)
    counts: dict[str, int] = collections.Counter()
    for row in csv.DictReader(io.StringIO(text[start:])):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        value = float(row["Metric Value"].replace(",", ""))
        scale = UNITS_IN_US[row["Metric Unit"]]
        name = row["Kernel Name"].split("(")[0][:60]
        totals[name] += value * scale
        counts[name] += 1
    total = sum(totals.values())
    steps = max(1, counts.get(args.step_kernel, 0))
    print(f"{steps} MD steps profiled")
    print(f"{'kernel':60s} {'launches':>8s} {'us/step':>10s} {'share':>6s}")
    for name, t in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{name:60s} {counts[name]:8d} {t / steps:10.1f} {100 * t / total:5.1f}%")
    print(f"{'total':60s} {sum(counts.values()):8d} {total / steps:10.1f}")


if __name__ == "__main__":
    main()
