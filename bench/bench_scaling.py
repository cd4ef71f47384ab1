"""Benchmark: cost of the host long-range engine against system size, 1k to 1M atoms.

Issue 17's target 4: at fixed density the cost of SOGForce, and of TorchSOGForce's long range,
should grow like N^a with a <= 1.1 on the CPU (the NUFFT is O(N) spreading and gathering plus an
O(N log N) FFT). Both forces run the same host engine (``ReferenceSOGIxn``; on the CPU platform
in single precision at these tolerances), so it is timed through a ``SOGForce`` alone with two
kernels:

* **SOG Coulomb**: the Gaussians ``use_sog_coulomb`` gives SOGForce for a 0.9 nm cutoff at
  ``--coulomb-tolerance`` (the tolerance matched to PME 5e-4 in bench_cpu_real_space.py);
* **SOG-Net**: the k-space Gaussians, channels and NUFFT tolerance of the shipped electrolyte
  model's export (``models/electrolyte_sognet.pt``), i.e. exactly what its TorchSOGForce hands
  the engine, with charges of +-1 e standing in for the latent charges (the cost does not depend
  on their values).

OpenMM PME's reciprocal part (ewaldErrorTolerance 5e-4, same cutoff) is timed side by side.
Systems: random positions at the molten-NaCl density (32 ions/nm^3), alternating charges +-1 e.
Times are the process CPU time of one force evaluation on the CPU platform with one thread
(robust on a shared machine), median of ``--repeats``; the exponent is the least-squares slope
of log time against log N. Appends a table to bench/RESULTS.md unless ``--no-append``.

    python bench/bench_scaling.py
"""

from __future__ import annotations

import argparse
import datetime
import math
import statistics
import time
from pathlib import Path

import numpy as np
import openmm
from bench_openmm import EMPTY_GROUP, machine
from openmm import unit

from openmm_sog import use_sog_coulomb
from openmm_sog.plugin import SOGForce

DENSITY_PER_NM3 = 32.0  # molten NaCl, docs/design.md §8
CUTOFF_NM = 0.9
PME_TOLERANCE = 5e-4
REPO = Path(__file__).resolve().parent.parent


def random_ions(num_ions: int, seed: int = 11) -> tuple[float, np.ndarray, list[float]]:
    """Box edge (nm), positions (nm) and charges (e) of a random neutral ion cube."""
    edge = (num_ions / DENSITY_PER_NM3) ** (1.0 / 3.0)
    positions = np.random.default_rng(seed).uniform(0.0, edge, size=(num_ions, 3))
    charges = [1.0 if i % 2 == 0 else -1.0 for i in range(num_ions)]
    return edge, positions, charges


def nonbonded_system(
    edge: float, charges: list[float]
) -> tuple[openmm.System, openmm.NonbondedForce]:
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(edge, 0, 0), openmm.Vec3(0, edge, 0), openmm.Vec3(0, 0, edge)
    )
    nb = openmm.NonbondedForce()
    nb.setNonbondedMethod(openmm.NonbondedForce.PME)
    nb.setCutoffDistance(CUTOFF_NM)
    nb.setEwaldErrorTolerance(PME_TOLERANCE)
    for q in charges:
        system.addParticle(22.99 if q > 0 else 35.45)
        nb.addParticle(q, 0.3, 0.0)
    system.addForce(nb)
    return system, nb


def coulomb_gaussians(tolerance: float) -> list[tuple[float, float, int]]:
    """(weight kJ/mol/e^2, width nm, channel) of SOG Coulomb's k-space part at ``tolerance``."""
    edge, _, charges = random_ions(1000)
    system, _ = nonbonded_system(edge, charges)
    sog = use_sog_coulomb(system, tolerance=tolerance).sog
    return [tuple(sog.getGaussianParameters(k)) for k in range(sog.getNumGaussians())]


def sognet_kernel() -> tuple[list[tuple[float, float, int]], float, int]:
    """The shipped electrolyte SOG-Net's k-space Gaussians (OpenMM units), tolerance, channels:
    what its export's metadata hands TorchSOGForce (the narrower Gaussians are summed in real
    space by the model itself)."""
    from openmm_sog.training.model_io import load_model
    from openmm_sog.units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

    model = load_model(REPO / "models" / "electrolyte_sognet.pt")
    weights = model.lr.kernel.weights.detach().double()
    widths = model.lr.kernel.widths().detach().double()
    mask = model.lr.periodic.kspace_mask()
    gaussians = [
        (float(weights[c, k]) * KJ_PER_MOL_PER_EV, float(widths[c, k]) * NM_PER_ANGSTROM, c)
        for c in range(weights.shape[0])
        for k in range(weights.shape[1])
        if mask is None or bool(mask[c, k])
    ]
    return gaussians, float(model.lr.periodic.tolerance), int(weights.shape[0])


def sog_system(edge: float, charges: list[float], gaussians, tolerance: float, channels: int):
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(edge, 0, 0), openmm.Vec3(0, edge, 0), openmm.Vec3(0, 0, edge)
    )
    force = SOGForce(channels)
    for weight, width, channel in gaussians:
        force.addGaussian(weight, width, channel)
    force.setTolerance(tolerance)
    for q in charges:
        system.addParticle(23.0)
        force.addParticle([q] * channels)
    system.addForce(force)
    return system


def time_per_force(
    system: openmm.System,
    positions: np.ndarray,
    repeats: int,
    platform: str = "CPU",
    group: int = 0,
) -> float:
    """Median seconds of one force evaluation of force group ``group``: process CPU time on the
    CPU platform (one thread); on a GPU platform the device time of one, from integrator steps."""
    if platform != "CPU":
        return device_time_per_force(system, positions, repeats, platform, group)
    context = openmm.Context(
        system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        {"Threads": "1"},
    )
    context.setPositions(positions * unit.nanometer)
    context.getState(getForces=True, groups={group})  # warm-up: grids, plans, neighbour list
    times = []
    for _ in range(repeats):
        context.setPositions(positions * unit.nanometer)
        start = time.process_time()
        context.getState(getForces=True, groups={group})
        times.append(time.process_time() - start)
    return statistics.median(times)


def device_time_per_force(
    system: openmm.System, positions: np.ndarray, repeats: int, platform: str, group: int
) -> float:
    """Seconds per force evaluation of ``group`` on a GPU platform (mixed precision).

    Timing getState() would time the position upload and force download too, which at 1M
    atoms outweigh the work and do not subtract out reliably. Instead a CustomIntegrator step
    that reads only f<group> (and moves the atoms by ~1e-12 nm, so that forces are recomputed)
    runs many times back to back on the device; the same step reading the empty group
    EMPTY_GROUP is subtracted (its per-atom updates and launch costs). Median of ``repeats``.
    """
    integrators = openmm.CompoundIntegrator()
    for g in (group, EMPTY_GROUP):
        step = openmm.CustomIntegrator(1e-6)
        step.addComputePerDof("v", f"v+dt*f{g}/m")
        step.addComputePerDof("x", "x+dt*v")
        integrators.addIntegrator(step)
    context = openmm.Context(
        system, integrators, openmm.Platform.getPlatformByName(platform), {"Precision": "mixed"}
    )
    context.setPositions(positions * unit.nanometer)

    def seconds_per_step(index: int, steps: int) -> float:
        integrators.setCurrentIntegrator(index)
        context.getState(getEnergy=True, groups={EMPTY_GROUP})  # waits for the device
        start = time.perf_counter()
        integrators.step(steps)
        context.getState(getEnergy=True, groups={EMPTY_GROUP})
        return (time.perf_counter() - start) / steps

    seconds_per_step(1, 3)  # warm-up: kernel compilation, grids, plans
    seconds_per_step(0, 3)
    steps = max(5, min(2000, int(0.2 / max(seconds_per_step(0, 3), 1e-6))))  # ~0.2 s per timing
    nets = [seconds_per_step(0, steps) - seconds_per_step(1, steps) for _ in range(repeats)]
    return max(statistics.median(nets), 0.0)


def exponent(sizes: list[int], times: list[float]) -> float:
    """Least-squares slope of log time against log N over the sizes that ran."""
    kept = [(n, t) for n, t in zip(sizes, times, strict=True) if math.isfinite(t)]
    if len(kept) < 2:
        return math.nan
    return float(np.polyfit(np.log([n for n, _ in kept]), np.log([t for _, t in kept]), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 4000, 16000, 64000, 256000, 1000000]
    )
    parser.add_argument("--coulomb-tolerance", type=float, default=6.25e-3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--platform", default="CPU", help="OpenMM platform: CPU (one thread), CUDA or OpenCL"
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    coulomb = coulomb_gaussians(args.coulomb_tolerance)
    sognet, sognet_tolerance, sognet_channels = sognet_kernel()
    columns = {"SOG Coulomb": [], "SOG-Net long range": [], "PME reciprocal": []}
    for n in args.sizes:
        edge, positions, charges = random_ions(n)
        row = {
            "SOG Coulomb": sog_system(edge, charges, coulomb, args.coulomb_tolerance, 1),
            "SOG-Net long range": sog_system(
                edge, charges, sognet, sognet_tolerance, sognet_channels
            ),
        }
        times = {}
        for label, system in row.items():
            try:
                times[label] = time_per_force(system, positions, args.repeats, args.platform)
            except openmm.OpenMMException as error:  # a grid beyond the memory limit
                print(f"N={n}, {label}: refused: {str(error)[:200]}", flush=True)
                times[label] = math.nan
        pme, nb = nonbonded_system(edge, charges)
        nb.setReciprocalSpaceForceGroup(1)
        times["PME reciprocal"] = time_per_force(
            pme, positions, args.repeats, args.platform, group=1
        )
        for label, t in times.items():
            columns[label].append(t)
        print(f"N={n}: " + ", ".join(f"{k} {1e3 * v:.1f} ms" for k, v in times.items()), flush=True)

    slopes = {label: exponent(args.sizes, t) for label, t in columns.items()}
    header = "| N | " + " | ".join(f"{label} (ms)" for label in columns) + " | SOG Coulomb / PME |"
    lines = [header, "|---:|" + "---:|" * (len(columns) + 1)]
    for k, n in enumerate(args.sizes):
        cells = " | ".join(
            f"{1e3 * columns[label][k]:.1f}" if math.isfinite(columns[label][k]) else "refused"
            for label in columns
        )
        ratio = columns["SOG Coulomb"][k] / columns["PME reciprocal"][k]
        lines.append(f"| {n} | {cells} | {ratio:.2f} |")
    lines.append(
        "| fitted exponent a (t ~ N^a) | "
        + " | ".join(f"**{slopes[label]:.2f}**" for label in columns)
        + " | |"
    )
    table = "\n".join(lines)
    print(table)
    if args.no_append:
        return
    date = datetime.date.today().isoformat()
    text = (
        f"\n## Long-range cost against size (issue 17 target 4), {date}\n\n"
        f"Machine: {machine()}; `python bench/bench_scaling.py --platform {args.platform}`. "
        + (
            "Process CPU time of one force evaluation, CPU platform with one thread, median of "
            if args.platform == "CPU"
            else f"Device time of one force evaluation on {args.platform} (mixed precision): "
            "back-to-back integrator steps that read only that force group, net of the same "
            "steps reading an empty group, median of "
        )
        + f"{args.repeats}; random neutral ions at {DENSITY_PER_NM3:g} /nm^3. SOG Coulomb: "
        "SOGForce "
        f"with use_sog_coulomb's k-space Gaussians (cutoff {CUTOFF_NM} nm, tolerance "
        f"{args.coulomb_tolerance:g}); SOG-Net long range: SOGForce with the shipped electrolyte "
        f"model's k-space kernel ({len(sognet)} Gaussians, tolerance {sognet_tolerance:g}), the "
        "engine and inputs its TorchSOGForce uses; PME reciprocal: OpenMM NonbondedForce, "
        f"ewaldErrorTolerance {PME_TOLERANCE:g}. 'refused': the grid exceeds SOGForce's memory "
        f"limit (its error says so and names the remedy).\n\n{table}\n"
    )
    with open(Path(__file__).with_name("RESULTS.md"), "a") as f:
        f.write(text)
    print(f"appended to {Path(__file__).with_name('RESULTS.md')}")


if __name__ == "__main__":
    main()
