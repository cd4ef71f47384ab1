"""Benchmark on the CPU platform: SOG Coulomb's native real-space complement against the
Custom-force one and PME's real space, and MD throughput of SOG Coulomb against PME.

Systems: molten NaCl (24,000 ions, Coulomb cutoff 0.9 nm as in bench_openmm.py, or
``--nacl-cutoff``) and, when the optional benchmark dependency openmmtools is installed (``pip
install --no-deps openmmtools``: only its data files are read), DHFR in water (JAC, 23,558
atoms, amber99sb/TIP3P, cutoff 0.9 nm or ``--dhfr-cutoff``, bonds to hydrogen constrained).
Accuracy is matched as in bench_openmm.py: PME at ``--pme-tolerance`` and SOG at the largest
tolerance (steps of sqrt 2) whose electrostatic force error against PME at 1e-6 (Reference
platform) is no larger than PME's. Every time is the median
of ``--repeats`` measurements; the MD rows are medians of ``--md-repeats`` runs of
``--md-steps`` steps. Appends a table to bench/RESULTS.md unless ``--no-append``.

    python bench/bench_cpu_real_space.py
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import os
import statistics
import time

import numpy as np
import openmm
from bench_openmm import EMPTY_GROUP, append_results, machine
from openmm import app, unit

from openmm_sog import SOGCoulombRealSpaceForce, use_sog_coulomb
from openmm_sog.systems import molten_nacl

KJ_NM = unit.kilojoule_per_mole / unit.nanometer
CUTOFF_NM = 0.9
#: force groups: the NonbondedForce (PME: real space only), PME's reciprocal part or the
#: SOGForce, the SOG real-space complement; everything else stays in group 0.
NONBONDED, KSPACE, COMPLEMENT = 1, 2, 3


def nacl(num_ions: int = 24000, cutoff_nm: float = CUTOFF_NM):
    """Molten NaCl at 1300 K. At a Coulomb cutoff other than its Lennard-Jones cutoff (0.7 nm)
    Lennard-Jones is a CustomNonbondedForce of its own (group 0 here), common to both Systems;
    at 0.7 nm it is in the NonbondedForce, which the native SOG force then takes over."""

    def build(tolerance: float):
        system, positions, _ = molten_nacl(
            num_ions, seed=7, ewald_error_tolerance=tolerance, coulomb_cutoff_nm=cutoff_nm
        )
        for force in system.getForces():
            force.setForceGroup(0)
        return system, positions

    return build, 1300.0


def openmmtools_amber(folder: str, prmtop: str, inpcrd: str, cutoff_nm: float):
    """An Amber system from openmmtools' data files, as (build, temperature K), or None if
    openmmtools is not installed: build(tolerance) gives the System with PME at that
    ewaldErrorTolerance (bonds to hydrogen constrained) and the positions (nm)."""
    spec = importlib.util.find_spec("openmmtools")
    if spec is None:
        return None
    folder = os.path.join(os.path.dirname(spec.origin), "data", folder)
    topology = app.AmberPrmtopFile(os.path.join(folder, prmtop))
    coordinates = app.AmberInpcrdFile(os.path.join(folder, inpcrd))

    def build(tolerance: float):
        system = topology.createSystem(
            nonbondedMethod=app.PME,
            nonbondedCutoff=cutoff_nm * unit.nanometer,
            constraints=app.HBonds,
            ewaldErrorTolerance=tolerance,
        )
        system.setDefaultPeriodicBoxVectors(*coordinates.boxVectors)
        return system, np.array(coordinates.positions.value_in_unit(unit.nanometer))

    return build, 300.0


def dhfr(cutoff_nm: float = CUTOFF_NM):
    """DHFR in water (JAC, 23,558 atoms) from openmmtools' data files (None without openmmtools)."""
    return openmmtools_amber("dhfr", "JAC.prmtop", "JAC.inpcrd", cutoff_nm)


def pme(build, tolerance: float):
    system, positions = build(tolerance)
    nb = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    nb.setForceGroup(NONBONDED)
    nb.setReciprocalSpaceForceGroup(KSPACE)
    return system, positions


def sog(build, tolerance: float, real_space: str):
    system, positions = build(1e-6)
    forces = use_sog_coulomb(
        system, tolerance=tolerance, real_space=real_space, force_group=COMPLEMENT
    )
    forces.sog.setForceGroup(KSPACE)
    if forces.exceptions is not None:
        forces.exceptions.setForceGroup(COMPLEMENT)
    if forces.nonbonded is not None:
        forces.nonbonded.setForceGroup(NONBONDED)
    return system, positions


def context(system, positions, platform: str, integrator=None) -> openmm.Context:
    ctx = openmm.Context(
        system,
        integrator or openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
    )
    ctx.setPositions(positions)
    return ctx


def electrostatic_forces(system, positions, platform: str) -> np.ndarray:
    """Forces of the electrostatics (NonbondedForce or native SOGCoulombRealSpaceForce with its
    Lennard-Jones switched off, or the other SOG forces), kJ/mol/nm."""
    system = openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system))
    for force in system.getForces():
        if SOGCoulombRealSpaceForce.isinstance(force):
            force = SOGCoulombRealSpaceForce.cast(force)
            force.setUseDispersionCorrection(False)
            for i in range(force.getNumParticles()):
                force.setParticleLennardJonesParameters(i, 0.0, 0.0)
            for k in range(force.getNumExceptions()):
                force.setExceptionLennardJonesParameters(k, 0.0, 0.0)
        if isinstance(force, openmm.NonbondedForce):
            force.setUseDispersionCorrection(False)
            for i in range(force.getNumParticles()):
                q, sigma, _ = force.getParticleParameters(i)
                force.setParticleParameters(i, q, sigma, 0.0)
            for k in range(force.getNumExceptions()):
                i, j, qq, sigma, _ = force.getExceptionParameters(k)
                force.setExceptionParameters(k, i, j, qq, sigma, 0.0)
    state = context(system, positions, platform).getState(
        getForces=True, groups={NONBONDED, KSPACE, COMPLEMENT}
    )
    return state.getForces(asNumpy=True).value_in_unit(KJ_NM)


def matched_tolerance(build, pme_tolerance: float) -> tuple[float, float, float]:
    """(SOG tolerance, PME's and SOG's relative electrostatic force error) on the CPU."""
    # PME at 1e-6 as the reference: 1e-8 would need a grid of ~1e9 points for these boxes.
    reference = electrostatic_forces(*pme(build, 1e-6), "Reference")

    def error(f):
        return np.linalg.norm(f - reference) / np.linalg.norm(reference)

    err_pme = error(electrostatic_forces(*pme(build, pme_tolerance), "CPU"))
    tol = 1e-1
    while True:
        tol /= math.sqrt(2.0)
        err_sog = error(electrostatic_forces(*sog(build, tol, "native"), "CPU"))
        if err_sog <= err_pme or tol < 1e-9:
            return tol, err_pme, err_sog


def md_ns_per_day(
    system, positions, temperature: float, steps: int, platform: str = "CPU"
) -> float:
    """Throughput (ns/day) of ``steps`` LangevinMiddle steps of 2 fs after a warm-up."""
    integrator = openmm.LangevinMiddleIntegrator(temperature, 5.0, 0.002)
    ctx = context(system, positions, platform, integrator)
    ctx.setVelocitiesToTemperature(temperature, 1)
    integrator.step(10)  # warm-up: neighbour list, grids, kernel compilation
    ctx.getState(getEnergy=True)
    t0 = time.perf_counter()
    integrator.step(steps)
    ctx.getState(getEnergy=True)
    return steps * 0.002e-3 / (time.perf_counter() - t0) * 86400.0


def time_groups_interleaved(cases: dict, repeats: int) -> dict:
    """Median wall time (s) of one force evaluation of each ``(context, group)`` in ``cases``,
    net of the same context's empty group. The cases take turns, one evaluation each per round,
    so that the shared machine's speed, which drifts over seconds, hits them alike (timing one
    case after the other made ratios vary by up to 1.5x between runs)."""
    keys = list(cases)
    contexts = {id(ctx): ctx for ctx, _ in cases.values()}
    for ctx, group in cases.values():
        ctx.getState(getForces=True, groups={group})  # warm-up
    samples: dict = {key: [] for key in keys}
    empty: dict = {key: [] for key in contexts}
    for _ in range(repeats):
        for key in list(contexts) + keys:
            ctx, group = (contexts[key], EMPTY_GROUP) if key in contexts else cases[key]
            # Moving the atoms invalidates any cached forces.
            ctx.setPositions(ctx.getState(getPositions=True).getPositions())
            start = time.perf_counter()
            ctx.getState(getForces=True, groups={group})
            (empty[key] if key in contexts else samples[key]).append(time.perf_counter() - start)
    return {
        key: statistics.median(samples[key]) - statistics.median(empty[id(cases[key][0])])
        for key in keys
    }


def measure(name: str, build, temperature: float, args) -> dict:
    tol, err_pme, err_sog = matched_tolerance(build, args.pme_tolerance)
    print(
        f"{name}: PME {args.pme_tolerance:g} -> force error {err_pme:.1e}; SOG {tol:.2e} -> "
        f"{err_sog:.1e}",
        flush=True,
    )
    pme_ctx = context(*pme(build, args.pme_tolerance), "CPU")
    native_ctx = context(*sog(build, tol, "native"), "CPU")
    custom_ctx = context(*sog(build, tol, "custom"), "CPU")
    times = time_groups_interleaved(
        {
            # PME's real space: the NonbondedForce without its reciprocal part (for DHFR it
            # holds Lennard-Jones too).
            "pme_real": (pme_ctx, NONBONDED),
            "pme_kspace": (pme_ctx, KSPACE),
            # For DHFR it holds Lennard-Jones too: one pair pass, as PME's real space.
            "native": (native_ctx, COMPLEMENT),
            "custom": (custom_ctx, COMPLEMENT),
            "sog_kspace": (native_ctx, KSPACE),
        },
        args.repeats,
    )
    row = {
        "name": name,
        "atoms": pme_ctx.getSystem().getNumParticles(),
        "tol": tol,
        "err_pme": err_pme,
        "err_sog": err_sog,
        **times,
    }
    if any(isinstance(f, openmm.NonbondedForce) for f in native_ctx.getSystem().getForces()):
        raise RuntimeError(
            "use_sog_coulomb(real_space='native') kept a NonbondedForce: the native force was "
            "expected to take over Lennard-Jones (same cutoff)"
        )
    del pme_ctx, native_ctx, custom_ctx
    md_pme, md_sog = [], []
    for _ in range(args.md_repeats):  # interleaved, so that machine load hits both alike
        md_pme.append(md_ns_per_day(*pme(build, args.pme_tolerance), temperature, args.md_steps))
        md_sog.append(md_ns_per_day(*sog(build, tol, "native"), temperature, args.md_steps))
    row["md_pme"] = statistics.median(md_pme)
    row["md_sog"] = statistics.median(md_sog)
    ms = {k: 1e3 * v for k, v in row.items() if isinstance(v, float) and k[:2] not in ("md", "er")}
    print(
        f"{name} ({row['atoms']} atoms): real space PME {ms['pme_real']:.1f} ms, SOG native "
        f"{ms['native']:.1f} ms, SOG Custom {ms['custom']:.1f} ms; k-space PME "
        f"{ms['pme_kspace']:.1f} ms, SOG {ms['sog_kspace']:.1f} ms; MD ns/day PME "
        f"{row['md_pme']:.2f}, SOG {row['md_sog']:.2f} ({row['md_sog'] / row['md_pme']:.2f}x)",
        flush=True,
    )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pme-tolerance", type=float, default=5e-4)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--md-steps", type=int, default=50)
    parser.add_argument("--md-repeats", type=int, default=5)
    parser.add_argument(
        "--nacl-cutoff",
        type=float,
        default=CUTOFF_NM,
        help="Coulomb cutoff of the NaCl melt, nm (0.7: its Lennard-Jones cutoff, so that "
        "Lennard-Jones joins the NonbondedForce / the native SOG pair pass)",
    )
    parser.add_argument(
        "--dhfr-cutoff", type=float, default=CUTOFF_NM, help="nonbonded cutoff of DHFR, nm"
    )
    parser.add_argument("--systems", nargs="+", choices=["nacl", "dhfr"], default=["nacl", "dhfr"])
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    print(f"machine: {machine()}", flush=True)
    systems = []
    if "nacl" in args.systems:
        systems.append(
            (f"molten NaCl, cutoff {args.nacl_cutoff:g} nm", *nacl(24000, args.nacl_cutoff))
        )
    if "dhfr" not in args.systems:
        pass
    elif (protein := dhfr(args.dhfr_cutoff)) is not None:
        systems.append((f"DHFR in water, cutoff {args.dhfr_cutoff:g} nm", *protein))
    else:
        print("openmmtools is not installed: DHFR skipped", flush=True)
    rows = [measure(name, build, temperature, args) for name, build, temperature in systems]
    if args.no_append:
        return
    lines = [
        f"\n## SOG Coulomb real space on the CPU platform, {datetime.date.today().isoformat()}\n",
        f"Machine: {machine()} (CPU platform, 2 threads); `python bench/bench_cpu_real_space.py "
        f"--systems {' '.join(args.systems)} --nacl-cutoff {args.nacl_cutoff:g} "
        f"--dhfr-cutoff {args.dhfr_cutoff:g}`. "
        f"PME ewaldErrorTolerance {args.pme_tolerance:g} vs SOG at the tolerance matched to its "
        "electrostatic force error (against PME 1e-6). Times: median of "
        f"{args.repeats} force evaluations of one force group, net of the same Context's empty "
        "group, all groups of all Contexts taking turns (one evaluation each per round); MD: "
        f"median of {args.md_repeats} runs of {args.md_steps} LangevinMiddle steps of 2 fs, "
        "PME and SOG interleaved. Real space: PME's NonbondedForce without its reciprocal part "
        "(erfc Coulomb; for DHFR also Lennard-Jones), the SOG complement with its exceptions "
        "(native SOGCoulombRealSpaceForce or CustomNonbondedForce + CustomBondForce); for DHFR "
        "the native force also computes Lennard-Jones in the same pair pass (the SOG System "
        "has no NonbondedForce, so the native column compares like with like to PME's), while "
        "the Custom column is the complement alone (Lennard-Jones stays in a NonbondedForce, "
        "not timed).\n",
        "| system | atoms | SOG tol (force err) | PME force err | real space PME (ms) | "
        "SOG native (ms) | SOG Custom (ms) | native / PME | "
        "k-space PME (ms) | k-space SOG (ms) | MD PME (ns/day) | MD SOG (ns/day) | "
        "SOG / PME throughput |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['atoms']} | {r['tol']:.2e} ({r['err_sog']:.1e}) | "
            f"{r['err_pme']:.1e} | {1e3 * r['pme_real']:.1f} | {1e3 * r['native']:.1f} | "
            f"{1e3 * r['custom']:.1f} | {r['native'] / r['pme_real']:.2f} | "
            f"{1e3 * r['pme_kspace']:.1f} | "
            f"{1e3 * r['sog_kspace']:.1f} | {r['md_pme']:.2f} | {r['md_sog']:.2f} | "
            f"{r['md_sog'] / r['md_pme']:.2f} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
