"""ML/MM with openmm-ml: a few ions of a molten-NaCl box modelled by the shipped SOG-Net.

The MM System is the toy system of docs/design.md §8 (PME Coulomb + Lennard-Jones, the force
field the shipped model was trained on). `MLPotential("sognet")` replaces the interactions
among the chosen ions (the ML region: the ions nearest to one ion) by the model, through
`createMixedSystem(..., interpolate=True)`, whose global parameter `lambda_interpolate` goes from
the MM description (0) to the ML one (1). The script

1. melts the MM box (Langevin, 1300 K),
2. checks that lambda_interpolate = 0 gives the MM System's energy,
3. prints the energy at lambda_interpolate = 0, 0.5, 1 (the ML region's MM-to-ML difference),
4. runs Langevin MD at lambda_interpolate = 1 and reports ns/day.

Run: `python3 examples/mlmm_nacl.py [--ions 512] [--ml-ions 8] [--steps 500]` (units: nm, kJ/mol).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import openmm
import openmm.app
from openmmml import MLPotential

from openmm_sog.systems import molten_nacl
from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

KJ = openmm.unit.kilojoule_per_mole
SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "models" / "electrolyte_sognet.pt"
TEMPERATURE_K = 1300.0
STEP_PS = 0.002


def topology_of(species: list[str], box_nm: np.ndarray) -> openmm.app.Topology:
    """One residue per ion, with the box of the System."""
    topology = openmm.app.Topology()
    chain = topology.addChain()
    for symbol in species:
        element = openmm.app.Element.getBySymbol(symbol)
        topology.addAtom(symbol, element, topology.addResidue(symbol, chain))
    topology.setPeriodicBoxVectors([openmm.Vec3(*row) for row in box_nm])
    return topology


def nearest_ions(positions_nm: np.ndarray, box_nm: np.ndarray, count: int) -> list[int]:
    """Ion 0 and its ``count - 1`` nearest neighbours (minimum image in a cubic box)."""
    lengths = np.diag(box_nm)
    delta = positions_nm - positions_nm[0]
    delta -= lengths * np.round(delta / lengths)
    return sorted(np.argsort(np.linalg.norm(delta, axis=1))[:count].tolist())


def energy_kj(context: openmm.Context) -> float:
    return context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ions", type=int, default=512, help="ions in the MM box (even)")
    parser.add_argument("--ml-ions", type=int, default=8, help="ions modelled by SOG-Net")
    parser.add_argument("--melt-steps", type=int, default=500, help="MM Langevin steps first")
    parser.add_argument("--steps", type=int, default=500, help="ML/MM Langevin steps (2 fs)")
    parser.add_argument("--platform", default="CPU", help="OpenMM platform name")
    args = parser.parse_args(argv)
    if not 1 <= args.ml_ions <= args.ions:
        parser.error(f"--ml-ions must lie in 1..{args.ions}, got {args.ml_ions}")
    platform = openmm.Platform.getPlatformByName(args.platform)

    print(f"1. melting the MM box ({args.ions} ions, PME + Lennard-Jones, {TEMPERATURE_K} K)")
    mm_system, positions, species = molten_nacl(args.ions, seed=7, ewald_error_tolerance=1e-5)
    box_nm = np.array(
        [v.value_in_unit(openmm.unit.nanometer) for v in mm_system.getDefaultPeriodicBoxVectors()]
    )
    melt = openmm.Context(
        mm_system, openmm.LangevinMiddleIntegrator(TEMPERATURE_K, 5.0, STEP_PS), platform
    )
    melt.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(melt, 10.0, 200)
    melt.setVelocitiesToTemperature(TEMPERATURE_K, 7)
    melt.getIntegrator().step(args.melt_steps)
    state = melt.getState(getPositions=True, getVelocities=True, getEnergy=True)
    positions = state.getPositions(asNumpy=True).value_in_unit(openmm.unit.nanometer)
    mm_energy = state.getPotentialEnergy().value_in_unit(KJ)

    ml_atoms = nearest_ions(positions, box_nm, args.ml_ions)
    print(f"   ML region: ions {ml_atoms} ({', '.join(species[i] for i in ml_atoms)})")
    with tempfile.TemporaryDirectory() as folder:
        exported = Path(folder) / "electrolyte_sognet_export.pt"
        export_model(load_model(SHIPPED_MODEL), exported)
        potential = MLPotential("sognet", modelPath=str(exported))
        mixed = potential.createMixedSystem(
            topology_of(species, box_nm), mm_system, ml_atoms, interpolate=True
        )
        integrator = openmm.LangevinMiddleIntegrator(TEMPERATURE_K, 5.0, STEP_PS)
        context = openmm.Context(mixed, integrator, platform)
        context.setPositions(positions)
        context.setVelocities(state.getVelocities())

        context.setParameter("lambda_interpolate", 0.0)
        at_zero = energy_kj(context)
        difference = abs(at_zero - mm_energy)
        print(
            f"2. lambda_interpolate = 0: {at_zero:.6f} kJ/mol, the MM System {mm_energy:.6f} "
            f"kJ/mol (difference {difference:.2e}; openmm-ml restores the ML region's "
            "Lennard-Jones without a cutoff, so ions beyond it add a small difference)"
        )
        print("3. energy along lambda_interpolate (MM -> SOG-Net for the ML region):")
        for lam in (0.0, 0.5, 1.0):
            context.setParameter("lambda_interpolate", lam)
            print(f"   lambda_interpolate = {lam:.1f}: {energy_kj(context):.3f} kJ/mol")

        print(f"4. {args.steps} steps of ML/MM Langevin MD at lambda_interpolate = 1")
        start = time.perf_counter()
        for done in range(0, args.steps, max(1, args.steps // 5)):
            chunk = min(max(1, args.steps // 5), args.steps - done)
            integrator.step(chunk)
            temperature = context.getState(getEnergy=True).getKineticEnergy()
            print(
                f"   step {done + chunk:5d}: potential {energy_kj(context):.1f} kJ/mol, "
                f"kinetic {temperature.value_in_unit(KJ):.1f} kJ/mol"
            )
        elapsed = time.perf_counter() - start
        ns_per_day = args.steps * STEP_PS * 1e-3 / elapsed * 86400.0
        final = energy_kj(context)
        if not np.isfinite(final):
            raise RuntimeError(f"the ML/MM run ended with a non-finite energy {final}")
        print(f"   {ns_per_day:.2f} ns/day on {args.platform} ({elapsed:.1f} s)")
    print("done: lambda_interpolate = 0 equals the MM energy to", f"{difference:.1e} kJ/mol")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
