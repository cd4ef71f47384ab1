"""SOG Coulomb against OpenMM PME: MD throughput at matched force error, real systems, every
platform present. The one command for issue 17's comparison.

Systems: TIP3P and TIP4P-Ew water boxes (OpenMM's force fields, built here with Modeller),
alanine dipeptide in water and DHFR in water (JAC, 23,558 atoms; Amber files from the optional
benchmark dependency openmmtools: ``pip install --no-deps openmmtools``, only its data files are
read; both skipped without it) and the 24,000-ion NaCl melt (docs/design.md §8). Bonds to
hydrogen and water are rigid; 2 fs LangevinMiddle steps.

Accuracy is matched once per system on the CPU platform, as in bench_cpu_real_space.py: PME at
``--pme-tolerance`` (OpenMM's default 5e-4) and SOG at the largest tolerance (steps of sqrt 2)
whose electrostatic force error against PME at 1e-6 (Reference platform) is no larger than
PME's. SOG Coulomb uses the native real-space complement (``real_space="native"``), which also
takes over Lennard-Jones where it shares the Coulomb cutoff, as PME's NonbondedForce computes
both. On each platform (CPU, OpenCL, CUDA: those this OpenMM has, or ``--platforms``; each in
its default precision) PME and SOG runs take turns, ``--md-repeats`` of each, for about
``--md-seconds`` each; the table gives medians and their ratio. Appends the table, dated and
with the machine, to bench/RESULTS.md unless ``--no-append``.

    python bench/bench_md.py                       # everything, about 30 min on 2 CPU cores
    python bench/bench_md.py --systems tip3p dhfr --platforms CPU
"""

from __future__ import annotations

import argparse
import datetime
import functools
import statistics
import time

import numpy as np
import openmm
from bench_cpu_real_space import (
    context,
    dhfr,
    matched_tolerance,
    md_ns_per_day,
    nacl,
    openmmtools_amber,
    pme,
    sog,
)
from bench_openmm import append_results, device_name, machine
from openmm import app, unit

#: the platforms the comparison runs on when they exist (Reference is far too slow for MD)
PLATFORMS = ("CPU", "OpenCL", "CUDA")
SYSTEMS = ("tip3p", "tip4pew", "alanine", "dhfr", "nacl")


def water_box(model: str, edge_nm: float, cutoff_nm: float):
    """A cubic box of ``model`` water (tip3p or tip4pew; OpenMM's force field files) with edge
    ``edge_nm``, as (build, temperature K). The tiled water is relaxed once by an energy
    minimisation (PME at 5e-4, CPU platform) so that the MD runs start without clashes."""
    forcefield = app.ForceField(f"{model}.xml")
    modeller = app.Modeller(app.Topology(), [])
    modeller.addSolvent(forcefield, model=model, boxSize=openmm.Vec3(edge_nm, edge_nm, edge_nm))

    def create(tolerance: float) -> openmm.System:
        return forcefield.createSystem(
            modeller.topology,
            nonbondedMethod=app.PME,
            nonbondedCutoff=cutoff_nm * unit.nanometer,
            constraints=app.HBonds,
            ewaldErrorTolerance=tolerance,
        )

    relax = context(create(5e-4), np.array(modeller.positions.value_in_unit(unit.nanometer)), "CPU")
    openmm.LocalEnergyMinimizer.minimize(relax, 10.0, 200)
    positions = relax.getState(getPositions=True).getPositions(asNumpy=True)
    positions = np.array(positions.value_in_unit(unit.nanometer))
    del relax

    def build(tolerance: float):
        return create(tolerance), positions

    return build, 300.0


@functools.cache
def platform_label(platform: str) -> str:
    """The platform's name, with its device for OpenCL and CUDA (PoCL's OpenCL runs on the CPU),
    read once per platform from a Context of one particle."""
    system = openmm.System()
    system.addParticle(1.0)
    integrator = openmm.VerletIntegrator(1e-3)
    device = device_name(
        openmm.Context(system, integrator, openmm.Platform.getPlatformByName(platform))
    )
    return platform if device == "CPU" else f"{platform} ({device})"


def md_steps_for(build, tolerance: float, temperature: float, platform: str, seconds: float) -> int:
    """The number of PME steps that take about ``seconds`` on ``platform`` (at least 20)."""
    trial = 10
    rate = md_ns_per_day(*pme(build, tolerance), temperature, trial, platform)
    seconds_per_step = 0.002e-3 * 86400.0 / rate
    return max(20, int(seconds / seconds_per_step))


def compare(name: str, build, temperature: float, platforms: list[str], args) -> list[dict]:
    tol, err_pme, err_sog = matched_tolerance(build, args.pme_tolerance)
    atoms = build(args.pme_tolerance)[0].getNumParticles()
    print(
        f"{name} ({atoms} atoms): PME {args.pme_tolerance:g} -> force error {err_pme:.1e}; "
        f"SOG {tol:.2e} -> {err_sog:.1e}",
        flush=True,
    )
    rows = []
    for platform in platforms:
        steps = md_steps_for(build, args.pme_tolerance, temperature, platform, args.md_seconds)
        md_pme, md_sog = [], []
        for _ in range(args.md_repeats):  # interleaved, so that machine load hits both alike
            pme_run = pme(build, args.pme_tolerance)
            md_pme.append(md_ns_per_day(*pme_run, temperature, steps, platform))
            md_sog.append(md_ns_per_day(*sog(build, tol, "native"), temperature, steps, platform))
        row = {
            "name": name,
            "atoms": atoms,
            "platform": platform_label(platform),
            "tol": tol,
            "err_pme": err_pme,
            "err_sog": err_sog,
            "steps": steps,
            "md_pme": statistics.median(md_pme),
            "md_sog": statistics.median(md_sog),
        }
        print(
            f"  {row['platform']}: {steps} steps x {args.md_repeats}; ns/day PME "
            f"{row['md_pme']:.2f}, SOG {row['md_sog']:.2f} ({row['md_sog'] / row['md_pme']:.2f}x)",
            flush=True,
        )
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument(
        "--platforms", nargs="+", help="default: those of " + ", ".join(PLATFORMS) + " present"
    )
    parser.add_argument("--pme-tolerance", type=float, default=5e-4)
    parser.add_argument(
        "--cutoff",
        type=float,
        default=1.0,
        help="nonbonded cutoff of the water and Amber systems, nm",
    )
    parser.add_argument(
        "--nacl-cutoff",
        type=float,
        default=0.7,
        help="Coulomb cutoff of the NaCl melt, nm (0.7: its Lennard-Jones cutoff; at any other "
        "cutoff Lennard-Jones is a CustomNonbondedForce of its own in both Systems)",
    )
    parser.add_argument("--water-box", type=float, default=5.0, help="water box edge, nm")
    parser.add_argument("--md-seconds", type=float, default=3.0, help="length of one MD run, s")
    parser.add_argument("--md-repeats", type=int, default=5)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    present = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    if args.platforms:
        missing = sorted(set(args.platforms) - present)
        if missing:
            parser.error(
                f"platform(s) {', '.join(missing)} not in this OpenMM "
                f"(it has {', '.join(sorted(present))})"
            )
        platforms = args.platforms
    else:
        platforms = [p for p in PLATFORMS if p in present]
    print(f"machine: {machine()}; platforms: {', '.join(platforms)}", flush=True)
    started = time.perf_counter()
    builders = {
        "tip3p": lambda: water_box("tip3p", args.water_box, args.cutoff),
        "tip4pew": lambda: water_box("tip4pew", args.water_box, args.cutoff),
        "alanine": lambda: openmmtools_amber(
            "alanine-dipeptide-explicit",
            "alanine-dipeptide.prmtop",
            "alanine-dipeptide.crd",
            args.cutoff,
        ),
        "dhfr": lambda: dhfr(args.cutoff),
        "nacl": lambda: nacl(24000, args.nacl_cutoff),
    }
    names = {
        "tip3p": f"TIP3P water, {args.water_box:g} nm box",
        "tip4pew": f"TIP4P-Ew water, {args.water_box:g} nm box",
        "alanine": "alanine dipeptide in water",
        "dhfr": "DHFR in water",
        "nacl": "molten NaCl",
    }
    rows = []
    for key in args.systems:
        built = builders[key]()  # (build, temperature K), or None without openmmtools
        if built is None:
            print(f"openmmtools is not installed: {names[key]} skipped", flush=True)
            continue
        rows += compare(names[key], *built, platforms, args)
    minutes = (time.perf_counter() - started) / 60.0
    print(f"done in {minutes:.1f} min", flush=True)
    if args.no_append or not rows:
        return
    command = " ".join(
        ["python bench/bench_md.py", "--systems", *args.systems, "--platforms", *platforms]
    )
    lines = [
        "\n## SOG Coulomb vs PME: MD throughput on real systems, "
        f"{datetime.date.today().isoformat()}\n",
        f"Machine: {machine()}; `{command}` ({minutes:.0f} min). Cutoff {args.cutoff:g} nm "
        f"(water, Amber systems), {args.nacl_cutoff:g} nm (NaCl); PME ewaldErrorTolerance "
        f"{args.pme_tolerance:g} against SOG Coulomb (native real space) at the tolerance matched "
        "to its electrostatic force error (relative to PME at 1e-6, CPU platform); each "
        "platform in its default precision. Throughput: median of "
        f"{args.md_repeats} runs of about {args.md_seconds:g} s each (LangevinMiddle, 2 fs), "
        "PME and SOG taking turns.\n",
        "| system | atoms | platform | SOG tol (force err) | PME force err | steps per run | "
        "MD PME (ns/day) | MD SOG (ns/day) | SOG / PME throughput |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['atoms']} | {r['platform']} | {r['tol']:.2e} ({r['err_sog']:.1e}) "
            f"| {r['err_pme']:.1e} | {r['steps']} | {r['md_pme']:.2f} | {r['md_sog']:.2f} | "
            f"{r['md_sog'] / r['md_pme']:.2f} |"
        )
    append_results(lines)


if __name__ == "__main__":
    main()
