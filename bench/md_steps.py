"""Run a few MD steps of the molten-NaCl benchmark system, for a kernel profiler to watch.

    ncu --metrics gpu__time_duration.sum --csv python bench/md_steps.py sog 192000 --steps 30

Same systems as bench_openmm.py: ``pme`` (OpenMM PME) or ``sog`` (SOG Coulomb at the SOG
tolerance given by ``--sog-tolerance``, by default the one that bench_openmm.py matches to PME's
default accuracy), CUDA in mixed precision unless ``--platform`` says otherwise.
"""

from __future__ import annotations

import argparse

import openmm
from bench_openmm import CUTOFF_NM, platform_properties, pme_system, sog_system


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("method", choices=["pme", "sog"])
    parser.add_argument("num_ions", type=int)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--platform", default="CUDA")
    parser.add_argument("--pme-tolerance", type=float, default=5e-4)
    parser.add_argument("--sog-tolerance", type=float, default=3.13e-3)
    parser.add_argument("--real-space", default="native", choices=["native", "custom"])
    args = parser.parse_args()
    system, positions = pme_system(args.num_ions, args.pme_tolerance)
    if args.method == "sog":
        system = sog_system(args.num_ions, args.sog_tolerance, args.real_space)
    integrator = openmm.LangevinMiddleIntegrator(1300, 5, 0.002)
    platform = openmm.Platform.getPlatformByName(args.platform)
    ctx = openmm.Context(system, integrator, platform, platform_properties(args.platform))
    ctx.setPositions(positions)
    integrator.step(args.steps)
    energy = ctx.getState(getEnergy=True).getPotentialEnergy()
    print(f"{args.method}, {args.num_ions} ions ({CUTOFF_NM} nm): {args.steps} steps, {energy}")


if __name__ == "__main__":
    main()
