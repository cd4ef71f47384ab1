"""A/B of the spreading width on the CPU platform: SOGForce's k-space part at w and at w + 1 on
the same grid, against PME's reciprocal part.

The systems and matched tolerances are those of bench_cpu_real_space.py (molten NaCl, 24,000
ions; DHFR in water when openmmtools is installed). The B case is the same System with the
SOGForce's tolerance lowered to ``--wider-tolerance``, which the width rule
(SOGForceImpl::calcSpreadWidth) maps to one more point per dimension while the k-space cutoff,
and so the grid, stay the same (checked, and reported). Times are wall-clock medians of
``--repeats`` evaluations of the k-space force group, all contexts taking turns, at 1 and 2
threads. Appends a table to bench/RESULTS.md unless ``--no-append``.

    python bench/bench_spread_width.py
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time

import openmm
from bench_cpu_real_space import KSPACE, dhfr, nacl, pme, sog
from bench_openmm import append_results, machine

from openmm_sog import SOGForce

#: the matched SOG tolerances of bench_cpu_real_space.py (2026-12-03 tables)
MATCHED = {"molten NaCl": 6.25e-3, "DHFR in water": 1.25e-2}


def sog_force(system: openmm.System) -> SOGForce:
    return next(SOGForce.cast(f) for f in system.getForces() if SOGForce.isinstance(f))


def measure(name: str, build, threads: int, wider: float, repeats: int) -> dict:
    platform = openmm.Platform.getPlatformByName("CPU")
    tolerance = MATCHED[name]
    cases = {"pme": pme(build, 5e-4), "narrow": sog(build, tolerance, "native")}
    cases["wide"] = sog(build, tolerance, "native")
    sog_force(cases["wide"][0]).setTolerance(wider)
    contexts, grids = {}, {}
    for key, (system, positions) in cases.items():
        context = openmm.Context(
            system, openmm.VerletIntegrator(1e-3), platform, {"Threads": str(threads)}
        )
        context.setPositions(positions)
        context.getState(getForces=True, groups={KSPACE})
        contexts[key] = context
        if key != "pme":
            grids[key] = sog_force(system).getGridParametersInContext(context)
    _, w_narrow, *grid = grids["narrow"]
    _, w_wide, *grid_wide = grids["wide"]
    if grid != grid_wide or w_wide != w_narrow + 1:
        raise SystemExit(f"{name}: the B case is not w + 1 on the same grid: {grids}")
    times = {key: [] for key in contexts}
    for _ in range(repeats):
        for key, context in contexts.items():
            start = time.perf_counter()
            context.getState(getForces=True, groups={KSPACE})
            times[key].append(time.perf_counter() - start)
    ms = {key: 1e3 * statistics.median(values) for key, values in times.items()}
    print(f"{name}, {threads} threads, w = {w_narrow} / {w_wide} on {grid}: {ms}", flush=True)
    return {"name": name, "threads": threads, "w": w_narrow, "grid": grid, **ms}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wider-tolerance", type=float, default=5e-3)
    parser.add_argument("--repeats", type=int, default=11)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    systems = [("molten NaCl", nacl()[0])]
    if (protein := dhfr()) is not None:
        systems.append(("DHFR in water", protein[0]))
    rows = [
        measure(name, build, threads, args.wider_tolerance, args.repeats)
        for threads in (1, 2)
        for name, build in systems
    ]
    if args.no_append:
        return
    lines = [
        f"\n## Spreading width A/B on the CPU platform, {datetime.date.today().isoformat()}\n",
        f"Machine: {machine()}; `python bench/bench_spread_width.py`. SOGForce's k-space group "
        "at the matched tolerance of bench_cpu_real_space.py (w) and at tolerance "
        f"{args.wider_tolerance:g} (w + 1, same grid), PME's reciprocal group at 5e-4; "
        f"wall-clock medians of {args.repeats} evaluations, all contexts taking turns.\n",
        "| system | threads | grid | k-space w (ms) | k-space w + 1 (ms) | ratio | "
        "PME reciprocal (ms) | SOG (w) / PME |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        grid = "x".join(str(n) for n in r["grid"])
        lines.append(
            f"| {r['name']} | {r['threads']} | {grid} (w = {r['w']}) | {r['narrow']:.1f} | "
            f"{r['wide']:.1f} | {r['narrow'] / r['wide']:.2f} | {r['pme']:.1f} | "
            f"{r['narrow'] / r['pme']:.2f} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
