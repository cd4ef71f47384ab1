"""Labelled frames of the docs/design.md §8 molten-NaCl toy system, from OpenMM MD.

Na+ / Cl- with Joung-Cheatham SPC/E LJ parameters (Lorentz-Berthelot), LJ truncated at 0.7 nm
without shift, switching or dispersion correction, Coulomb by PME (ewaldErrorTolerance 1e-6),
number density 0.032 ions/A^3, 1300 K. Dynamics: Langevin on the CPU platform; labels: the
Reference platform in double precision. Output: extxyz with energy (eV) and forces (eV/A).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

__all__ = ["build_system", "generate_electrolyte"]

#: (charge e, mass u, sigma nm, epsilon kJ/mol)
ION_PARAMETERS = {"Na": (1.0, 22.99, 0.2160, 1.4755), "Cl": (-1.0, 35.45, 0.4830, 0.0535)}
NUMBER_DENSITY_PER_A3 = 0.032
LJ_CUTOFF_NM = 0.7


def build_system(num_ions: int):
    """OpenMM System and box length (nm) of ``num_ions`` ions (half Na, half Cl)."""
    import openmm
    import openmm.unit as u

    if num_ions % 2 or num_ions < 2:
        raise ValueError(f"num_ions must be even and >= 2, got {num_ions}")
    box_nm = (num_ions / NUMBER_DENSITY_PER_A3) ** (1.0 / 3.0) * NM_PER_ANGSTROM
    if 2 * LJ_CUTOFF_NM > box_nm:
        raise ValueError(f"{num_ions} ions give a {box_nm:.3f} nm box: too small for 0.7 nm")
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box_nm, 0, 0), openmm.Vec3(0, box_nm, 0), openmm.Vec3(0, 0, box_nm)
    )
    force = openmm.NonbondedForce()
    force.setNonbondedMethod(openmm.NonbondedForce.PME)
    force.setCutoffDistance(LJ_CUTOFF_NM * u.nanometer)
    force.setEwaldErrorTolerance(1e-6)
    force.setUseDispersionCorrection(False)
    force.setUseSwitchingFunction(False)
    names = ["Na", "Cl"] * (num_ions // 2)
    for name in names:
        charge, mass, sigma, epsilon = ION_PARAMETERS[name]
        system.addParticle(mass)
        force.addParticle(charge, sigma, epsilon)
    system.addForce(force)
    return system, box_nm, names


def _initial_positions(num_ions: int, box_nm: float, rng: np.random.Generator) -> np.ndarray:
    """Ions on a jittered simple-cubic lattice (no overlaps), alternating species; nm."""
    per_side = math.ceil(num_ions ** (1.0 / 3.0))
    spacing = box_nm / per_side
    sites = np.array(
        [(i, j, k) for i in range(per_side) for j in range(per_side) for k in range(per_side)]
    )
    sites = sites[np.argsort((sites.sum(1) % 2), kind="stable")]  # mix parities
    chosen = sites[rng.permutation(len(sites))[:num_ions]]
    return (chosen + 0.5 + 0.1 * rng.standard_normal(chosen.shape)) * spacing


def generate_electrolyte(
    output: str | Path,
    num_frames: int = 100,
    num_ions: int = 128,
    temperature_k: float = 1300.0,
    equilibration_ps: float = 10.0,
    interval_ps: float = 0.5,
    timestep_fs: float = 2.0,
    seed: int = 0,
    progress: bool = False,
) -> Path:
    """Run MD and write ``num_frames`` labelled frames (eV, Angstrom) to extxyz ``output``.

    :param progress: show a progress bar (equilibration, then one tick per frame) on stderr.
    """
    import ase
    import ase.io
    import openmm
    import openmm.unit as u
    from ase.calculators.singlepoint import SinglePointCalculator
    from tqdm import tqdm

    rng = np.random.default_rng(seed)
    system, box_nm, names = build_system(num_ions)
    integrator = openmm.LangevinMiddleIntegrator(
        temperature_k * u.kelvin, 5.0 / u.picosecond, timestep_fs * u.femtosecond
    )
    integrator.setRandomNumberSeed(seed + 1)
    md = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    md.setPositions(_initial_positions(num_ions, box_nm, rng) * u.nanometer)
    openmm.LocalEnergyMinimizer.minimize(md, 10.0, 200)
    md.setVelocitiesToTemperature(temperature_k * u.kelvin, seed + 2)
    steps_per_frame = max(1, round(interval_ps * 1000.0 / timestep_fs))
    bar = tqdm(total=num_frames + 1, desc="equilibration", unit="step", disable=not progress)
    integrator.step(max(0, round(equilibration_ps * 1000.0 / timestep_fs)))
    bar.update()
    bar.set_description("frames")
    label = openmm.Context(
        system, openmm.VerletIntegrator(1.0), openmm.Platform.getPlatformByName("Reference")
    )
    box_a = box_nm / NM_PER_ANGSTROM
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    frames = []
    for _ in range(num_frames):
        integrator.step(steps_per_frame)
        positions = md.getState(getPositions=True).getPositions(asNumpy=True)
        label.setPositions(positions)
        state = label.getState(getEnergy=True, getForces=True)
        energy_ev = state.getPotentialEnergy().value_in_unit(u.kilojoule_per_mole)
        energy_ev /= KJ_PER_MOL_PER_EV
        forces = state.getForces(asNumpy=True).value_in_unit(u.kilojoule_per_mole / u.nanometer)
        forces_ev_a = np.asarray(forces) * NM_PER_ANGSTROM / KJ_PER_MOL_PER_EV
        atoms = ase.Atoms(
            names,
            positions=np.asarray(positions.value_in_unit(u.nanometer)) / NM_PER_ANGSTROM,
            cell=np.eye(3) * box_a,
            pbc=True,
        )
        atoms.wrap()
        atoms.calc = SinglePointCalculator(atoms, energy=energy_ev, forces=forces_ev_a)
        frames.append(atoms)
        bar.update()
    bar.close()
    ase.io.write(str(output), frames, format="extxyz")
    return output
