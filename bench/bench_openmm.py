"""Benchmark: SOG Coulomb (SOGForce k-space + real-space complement) against OpenMM PME.

Both run on the same platform, in their own force group, at matched force accuracy: PME at the
requested ``ewaldErrorTolerance`` (OpenMM's default 5e-4) and SOGForce at the SOG tolerance
whose total Coulomb force error (real space + k-space, against tight PME) is no worse. The
systems are the molten-NaCl toy system (docs/design.md §8) with 3k, 24k and 192k ions.
Prints the ratios and appends them with the date and the machine to ``bench/RESULTS.md``.

    python bench/bench_openmm.py --platforms CPU OpenCL
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import statistics
import time
from pathlib import Path

import numpy as np
import openmm
from openmm import unit

from openmm_sog import use_sog_coulomb
from openmm_sog.systems import molten_nacl

KJ_NM = unit.kilojoule_per_mole / unit.nanometer
CUTOFF_NM = 0.9


def pme_system(num_ions: int, tolerance: float) -> tuple[openmm.System, np.ndarray]:
    system, positions, _ = molten_nacl(
        num_ions, seed=7, ewald_error_tolerance=tolerance, coulomb_cutoff_nm=CUTOFF_NM
    )
    nb = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    nb.setReciprocalSpaceForceGroup(1)
    return system, positions


def sog_system(num_ions: int, tolerance: float, real_space: str) -> openmm.System:
    """SOG Coulomb with the complement as ``real_space`` says (``use_sog_coulomb``): "native"
    (one SOGCoulombRealSpaceForce) or "custom" (CustomNonbondedForce + CustomBondForce)."""
    system, _, _ = molten_nacl(num_ions, seed=7, coulomb_cutoff_nm=CUTOFF_NM)
    forces = use_sog_coulomb(system, tolerance=tolerance, real_space=real_space)
    forces.sog.setForceGroup(1)
    # Real-space Coulomb in a group of its own (LJ is in molten_nacl's LJ_FORCE_GROUP = 2).
    forces.complement.setForceGroup(3)
    return system


def platform_properties(platform: str) -> dict[str, str]:
    """Mixed precision on the GPU platforms (OpenMM's default there is single)."""
    return {"Precision": "mixed"} if platform in ("OpenCL", "CUDA") else {}


def context(system: openmm.System, platform: str, positions: np.ndarray) -> openmm.Context:
    ctx = openmm.Context(
        system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        platform_properties(platform),
    )
    ctx.setPositions(positions)
    return ctx


def forces(ctx: openmm.Context, groups: int = -1) -> np.ndarray:
    state = ctx.getState(getForces=True, groups=groups)
    return state.getForces(asNumpy=True).value_in_unit(KJ_NM)


EMPTY_GROUP = 31  # no force is in it: its time is the cost of a force evaluation itself


def time_group(ctx: openmm.Context, group: int | set[int], repeats: int) -> float:
    """Median wall time of a force evaluation of force group(s) ``group``, seconds.

    It includes the upload of the positions and the download of the forces, which on a GPU
    outweigh a small system's work: subtract the time of :data:`EMPTY_GROUP` for the net cost.
    """
    groups = {group} if isinstance(group, int) else group
    ctx.getState(getForces=True, groups=groups)  # warm-up (and kernel compilation)
    times = []
    for _ in range(repeats):
        # Moving the atoms invalidates any cached forces.
        ctx.setPositions(ctx.getState(getPositions=True).getPositions())
        t0 = time.perf_counter()
        ctx.getState(getForces=True, groups=groups)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def md_ns_per_day(system: openmm.System, platform: str, positions: np.ndarray, steps: int) -> float:
    """MD throughput of the whole system (LJ + Coulomb), Langevin at 1300 K with 2 fs steps."""
    integrator = openmm.LangevinMiddleIntegrator(1300, 5, 0.002)
    device = openmm.Platform.getPlatformByName(platform)
    ctx = openmm.Context(system, integrator, device, platform_properties(platform))
    ctx.setPositions(positions)
    ctx.setVelocitiesToTemperature(1300, 1)
    integrator.step(20)  # warm-up: kernel compilation, neighbour list sizing
    ctx.getState(getEnergy=True)
    t0 = time.perf_counter()
    integrator.step(steps)
    ctx.getState(getEnergy=True)  # waits for the device to finish
    elapsed = time.perf_counter() - t0
    return steps * 0.002e-3 / elapsed * 86400.0


def matched_sog_tolerance(
    pme_tolerance: float, num_ions: int, real_space: str
) -> tuple[float, float, float]:
    """SOG tolerance whose total force error is at most PME's; returns (tol, err_pme, err_sog)."""
    system, positions = pme_system(num_ions, 1e-8)
    reference = forces(context(system, "Reference", positions))
    system, _ = pme_system(num_ions, pme_tolerance)
    f = forces(context(system, "CPU", positions))
    err_pme = np.linalg.norm(f - reference) / np.linalg.norm(reference)
    tol = 1e-1
    while True:
        tol /= math.sqrt(2.0)
        f = forces(context(sog_system(num_ions, tol, real_space), "CPU", positions))
        err_sog = np.linalg.norm(f - reference) / np.linalg.norm(reference)
        if err_sog <= err_pme or tol < 1e-9:
            return tol, err_pme, err_sog


def device_name(ctx: openmm.Context) -> str:
    """The accelerator an OpenCL or CUDA context runs on (PoCL's OpenCL runs on the CPU)."""
    platform = ctx.getPlatform()
    if platform.getName() not in ("OpenCL", "CUDA"):
        return "CPU"
    return platform.getPropertyValue(ctx, "DeviceName").strip()


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return f"{cpu}, {os.cpu_count()} cores, OpenMM {openmm.__version__}"


def append_results(lines: list[str]) -> None:
    """Append a dated table (its lines) to bench/RESULTS.md, creating the file if needed."""
    path = Path(__file__).with_name("RESULTS.md")
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by the scripts in bench/.\n")
    with path.open("a") as fh:
        fh.write("\n".join(lines) + "\n")
    print(f"appended to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 24000, 192000])
    parser.add_argument("--platforms", nargs="+", default=["CPU", "OpenCL"])
    parser.add_argument("--pme-tolerance", type=float, default=5e-4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--md-steps", type=int, default=0, help="also time this many MD steps of each system"
    )
    parser.add_argument(
        "--real-space",
        choices=["native", "custom"],
        default="native",
        help="how use_sog_coulomb evaluates the real-space complement (default: native)",
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()

    tol, err_pme, err_sog = matched_sog_tolerance(args.pme_tolerance, 3000, args.real_space)
    print(f"machine: {machine()}")
    print(
        f"matched accuracy on 3,000 ions: PME ewaldErrorTolerance {args.pme_tolerance:g} -> "
        f"force error {err_pme:.1e}; SOG tolerance {tol:.2e} -> {err_sog:.1e}",
        flush=True,
    )
    rows = []
    devices = {}
    for platform in args.platforms:
        for n in args.sizes:
            system, positions = pme_system(n, args.pme_tolerance)
            pme_context = context(system, platform, positions)
            devices[platform] = device_name(pme_context)
            sog_context = context(sog_system(n, tol, args.real_space), platform, positions)
            empty = time_group(pme_context, EMPTY_GROUP, args.repeats)
            t_pme = time_group(pme_context, 1, args.repeats) - empty
            t_sog = time_group(sog_context, 1, args.repeats) - empty
            # Real-space Coulomb: PME's erfc part (the NonbondedForce: LJ is apart at this
            # cutoff) vs the SOG complement (and a NonbondedForce if use_sog_coulomb kept one).
            direct_pme = time_group(pme_context, 0, args.repeats) - empty
            direct_sog = time_group(sog_context, {0, 3}, args.repeats) - empty
            # Every force group at once, as an MD step evaluates them (Lennard-Jones included):
            # what the parts above leave out (neighbour lists, the forces' own overheads).
            whole_pme = time_group(pme_context, set(range(EMPTY_GROUP)), args.repeats) - empty
            whole_sog = time_group(sog_context, set(range(EMPTY_GROUP)), args.repeats) - empty
            md = (float("nan"), float("nan"))
            if args.md_steps:
                md = (
                    md_ns_per_day(system, platform, positions, args.md_steps),
                    md_ns_per_day(
                        sog_system(n, tol, args.real_space), platform, positions, args.md_steps
                    ),
                )
            whole = (whole_pme, whole_sog)
            rows.append((platform, n, t_pme, t_sog, direct_pme, direct_sog, *whole, md))
            print(
                f"{platform:7s} N = {n:7d}: k-space PME {1e3 * t_pme:8.3f} ms, SOG "
                f"{1e3 * t_sog:8.3f} ms ({t_sog / t_pme:5.2f}x) | real space PME "
                f"{1e3 * direct_pme:8.3f} ms, SOG {1e3 * direct_sog:8.3f} ms "
                f"({direct_sog / direct_pme:5.2f}x) | all forces PME {1e3 * whole_pme:8.3f} ms, "
                f"SOG {1e3 * whole_sog:8.3f} ms | evaluation overhead {1e3 * empty:.3f} ms"
                + (f" | MD ns/day PME {md[0]:.1f}, SOG {md[1]:.1f}" if args.md_steps else ""),
                flush=True,
            )
    if args.no_append:
        return
    lines = [
        f"\n## SOG Coulomb vs OpenMM PME, {datetime.date.today().isoformat()}\n",
        f"Machine: {machine()}. Molten NaCl (0.032 ions/A^3), Coulomb cutoff {CUTOFF_NM} nm; "
        f"PME ewaldErrorTolerance {args.pme_tolerance:g} (total force error {err_pme:.1e}) vs "
        f"SOGForce tolerance {tol:.2e} (total force error {err_sog:.1e}), each in its own force "
        "group, median of repeated evaluations (wall time net of an evaluation of an empty force "
        "group, i.e. of the position upload and force download; OpenCL and CUDA in mixed "
        "precision). Real space: the real-space Coulomb of each (PME's erfc term in the "
        "NonbondedForce; the SOG complement, "
        + (
            "one native SOGCoulombRealSpaceForce"
            if args.real_space == "native"
            else "a CustomNonbondedForce and a CustomBondForce"
        )
        + f", use_sog_coulomb(real_space={args.real_space!r})); Lennard-Jones (cutoff "
        "0.7 nm, its own CustomNonbondedForce) is the same in both and timed in neither. "
        "Devices: " + "; ".join(f"{p} on {d}" for p, d in devices.items()) + ".\n",
        "| platform | N | k-space PME (ms) | k-space SOG (ms) | SOG / PME | real space PME (ms) "
        "| real space SOG (ms) | SOG / PME | all forces PME (ms) | all forces SOG (ms) |"
        + (" MD PME (ns/day) | MD SOG (ns/day) | SOG / PME throughput |" if args.md_steps else ""),
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        + ("---:|---:|---:|" if args.md_steps else ""),
    ]
    for platform, n, t_pme, t_sog, d_pme, d_sog, w_pme, w_sog, md in rows:
        line = (
            f"| {platform} | {n} | {1e3 * t_pme:.3f} | {1e3 * t_sog:.3f} | {t_sog / t_pme:.2f} | "
            f"{1e3 * d_pme:.3f} | {1e3 * d_sog:.3f} | {d_sog / d_pme:.2f} | "
            f"{1e3 * w_pme:.3f} | {1e3 * w_sog:.3f} |"
        )
        if args.md_steps:
            line += f" {md[0]:.1f} | {md[1]:.1f} | {md[1] / md[0]:.2f} |"
        lines.append(line)
    if args.md_steps:
        lines.append(
            f"\nMD: whole system (LJ, real-space Coulomb, k-space), LangevinMiddleIntegrator "
            f"1300 K, 2 fs, {args.md_steps} steps after 20 warm-up steps."
        )
    append_results(lines)


if __name__ == "__main__":
    main()
