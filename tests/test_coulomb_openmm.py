"""Coulomb preset + real-space complement against OpenMM's NonbondedForce Ewald.

Oracle 3 of docs/design.md §6: a random neutral 2,000-ion system, OpenMM Ewald with
ewaldErrorTolerance 1e-7 on the Reference platform (double precision).
"""

import math

import numpy as np
import openmm
import pytest
import torch
from openmm import unit

from openmm_sog import SOGKernel, SOGLongRange, units
from openmm_sog.real_space import real_space_energy

NUM_IONS = 2000
DENSITY_PER_A3 = 0.032


def _jittered_ions(seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Neutral ions on a jittered cubic lattice (no overlaps), positions in Angstrom."""
    rng = np.random.default_rng(seed)
    box = (NUM_IONS / DENSITY_PER_A3) ** (1 / 3)
    per_side = math.ceil(NUM_IONS ** (1 / 3))
    spacing = box / per_side
    sites = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = sites[rng.permutation(len(sites))[:NUM_IONS]]
    positions = (sites + 0.5 + rng.uniform(-0.3, 0.3, sites.shape)) * spacing
    charges = np.where(np.arange(NUM_IONS) % 2 == 0, 1.0, -1.0)
    return positions, charges, box


def _openmm_ewald(positions_a, charges, box_a, cutoff_nm):
    system = openmm.System()
    box_nm = box_a * units.NM_PER_ANGSTROM
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(box_nm, 0, 0), openmm.Vec3(0, box_nm, 0), openmm.Vec3(0, 0, box_nm)
    )
    force = openmm.NonbondedForce()
    force.setNonbondedMethod(openmm.NonbondedForce.Ewald)
    force.setCutoffDistance(cutoff_nm)
    force.setEwaldErrorTolerance(1e-7)
    for q in charges:
        system.addParticle(23.0)
        force.addParticle(float(q), 0.1, 0.0)
    system.addForce(force)
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions_a * units.NM_PER_ANGSTROM)
    state = context.getState(getEnergy=True, getForces=True)
    energy_ev = (
        state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole) / units.KJ_PER_MOL_PER_EV
    )
    forces = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    forces_ev_a = forces / units.KJ_PER_MOL_PER_EV * units.NM_PER_ANGSTROM
    return energy_ev, forces_ev_a


@pytest.mark.slow
def test_sog_coulomb_matches_openmm_ewald():
    positions_a, charges_np, box_a = _jittered_ions(seed=2025)
    ref_energy, ref_forces = _openmm_ewald(positions_a, charges_np, box_a, cutoff_nm=1.0)

    cutoff_a = 9.0  # our own real-space cutoff, independent of OpenMM's
    kernel = SOGKernel.coulomb(units.COULOMB_EV_ANGSTROM_PER_E2, cutoff_a, tolerance=1e-7)
    layer = SOGLongRange(kernel, tolerance=1e-6)
    positions = torch.tensor(positions_a, dtype=torch.float64, requires_grad=True)
    charges = torch.tensor(charges_np, dtype=torch.float64)[:, None]
    cell = torch.eye(3, dtype=torch.float64) * box_a
    energy = layer(positions, charges, cell)[0] + real_space_energy(
        positions, charges, cell, kernel.short_range, cutoff_a
    )
    (grad,) = torch.autograd.grad(energy, positions)
    forces = -grad.numpy()
    force_error = np.linalg.norm(forces - ref_forces) / np.linalg.norm(ref_forces)
    energy_error = abs(float(energy.detach()) - ref_energy) / abs(ref_energy)
    print(f"SOG Coulomb vs OpenMM Ewald: force RMS {force_error:.2e}, energy {energy_error:.2e}")
    assert force_error <= 1e-5, f"relative force RMS error {force_error:.2e}"
    assert energy_error <= 1e-5, f"relative energy error {energy_error:.2e}"
