"""openmm-sog main job: the most complete end-to-end run the code supports.

Stage 1, the long-range layer: a molten-NaCl-like box (DESIGN.md section 8) with SOG Coulomb
(long-range Gaussians through the NUFFT layer + real-space complement) checked against
OpenMM's Ewald, the layer's accuracy against the exact lattice sum across tolerances, a mixed
batch of structures, and the timing of energy + forces for growing boxes.

Run: ``python examples/main_job.py`` (after ``bash scripts/setup.sh``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import openmm
import torch
from openmm import unit

from openmm_sog import SOGKernel, SOGLongRange, units
from openmm_sog.real_space import real_space_energy
from openmm_sog.reference import lattice_sum_energy

DENSITY_PER_A3 = 0.032  # ions per A^3 (DESIGN.md section 8)


def stage(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def melt_like_ions(num_ions: int, seed: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Na+/Cl- on a jittered cubic lattice at melt density; positions in Angstrom."""
    rng = np.random.default_rng(seed)
    box = (num_ions / DENSITY_PER_A3) ** (1 / 3)
    per_side = math.ceil(num_ions ** (1 / 3))
    sites = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), -1).reshape(-1, 3)
    sites = sites[rng.permutation(len(sites))[:num_ions]]
    positions = (sites + 0.5 + rng.uniform(-0.3, 0.3, sites.shape)) * box / per_side
    charges = np.where(np.arange(num_ions) % 2 == 0, 1.0, -1.0)
    return positions, charges, box


def openmm_ewald(positions_a: np.ndarray, charges: np.ndarray, box_a: float) -> tuple[float, np.ndarray]:
    """Energy (eV) and forces (eV/A) from OpenMM NonbondedForce Ewald, Reference platform."""
    system = openmm.System()
    box_nm = box_a * units.NM_PER_ANGSTROM
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(box_nm * np.eye(3)[d])) for d in range(3)))
    force = openmm.NonbondedForce()
    force.setNonbondedMethod(openmm.NonbondedForce.Ewald)
    force.setCutoffDistance(0.7)
    force.setEwaldErrorTolerance(1e-7)
    for q in charges:
        system.addParticle(1.0)
        force.addParticle(float(q), 0.1, 0.0)
    system.addForce(force)
    platform = openmm.Platform.getPlatformByName("Reference")
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), platform)
    context.setPositions(positions_a * units.NM_PER_ANGSTROM)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    forces = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    return energy / units.KJ_PER_MOL_PER_EV, forces / units.KJ_PER_MOL_PER_EV * units.NM_PER_ANGSTROM


def sog_coulomb(positions_a: np.ndarray, charges: np.ndarray, box_a: float, tolerance: float):
    """SOG Coulomb energy (eV) and forces (eV/A): NUFFT long range + real-space complement."""
    cutoff = min(9.0, 0.49 * box_a)
    kernel = SOGKernel.coulomb(units.COULOMB_EV_ANGSTROM_PER_E2, cutoff, tolerance=0.1 * tolerance)
    layer = SOGLongRange(kernel, tolerance=tolerance)
    positions = torch.tensor(positions_a, requires_grad=True)
    q = torch.tensor(charges)[:, None]
    cell = torch.eye(3, dtype=torch.float64) * box_a
    energy = layer(positions, q, cell)[0] + real_space_energy(
        positions, q, cell, kernel.short_range, cutoff
    )
    (grad,) = torch.autograd.grad(energy, positions)
    return float(energy.detach()), -grad.numpy(), kernel.num_gaussians


def openmm_md_with_sog_coulomb(summary: list[str]) -> None:
    """OpenMM MD of the 1,000-ion NaCl melt with SOG Coulomb (SOGForce + real-space complement)."""
    from openmm_sog.coulomb import use_sog_coulomb
    from openmm_sog.systems import molten_nacl

    platform = openmm.Platform.getPlatformByName("CPU")
    system, positions, _ = molten_nacl(1000, seed=3)
    reference = openmm.Context(system, openmm.VerletIntegrator(1e-3), platform)
    reference.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(reference, 10.0, 300)
    positions = reference.getState(getPositions=True).getPositions(asNumpy=True)
    ref_state = reference.getState(getEnergy=True, getForces=True)
    ref_forces = ref_state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)

    sog_system, _, _ = molten_nacl(1000, seed=3)
    use_sog_coulomb(sog_system, tolerance=1e-5)
    integrator = openmm.LangevinMiddleIntegrator(1300 * unit.kelvin, 5 / unit.picosecond, 2 * unit.femtosecond)
    context = openmm.Context(sog_system, integrator, platform)
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True)
    forces = state.getForces(asNumpy=True).value_in_unit(unit.kilojoule_per_mole / unit.nanometer)
    error = np.linalg.norm(forces - ref_forces) / np.linalg.norm(ref_forces)
    print(f"  SOG Coulomb (tolerance 1e-5) vs PME (1e-6), minimised melt: rel. force RMS error {error:.1e}")
    context.setVelocitiesToTemperature(1300 * unit.kelvin, 1)
    steps, report = 2000, 250
    t0 = time.perf_counter()
    dof = 3 * sog_system.getNumParticles() - 3
    for done in range(report, steps + 1, report):
        integrator.step(report)
        st = context.getState(getEnergy=True)
        temperature = 2 * st.getKineticEnergy() / (dof * unit.MOLAR_GAS_CONSTANT_R)
        print(f"  step {done:5d}: potential {st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole):12.1f} kJ/mol, "
              f"T {temperature.value_in_unit(unit.kelvin):7.1f} K", flush=True)
    elapsed = time.perf_counter() - t0
    ns_per_day = steps * 2e-6 / elapsed * 86400
    print(f"  {steps} steps of 2 fs in {elapsed:.1f} s: {ns_per_day:.2f} ns/day (CPU platform)")
    summary.append(f"OpenMM MD, 1,000-ion melt with SOG Coulomb: force error vs PME {error:.1e}, "
                   f"{ns_per_day:.2f} ns/day on the CPU platform")


def main() -> None:
    t_start = time.perf_counter()
    summary: list[str] = []

    stage("1/4 SOG Coulomb vs OpenMM Ewald (1,000-ion NaCl-like melt)")
    positions, charges, box = melt_like_ions(1000, seed=1)
    ref_e, ref_f = openmm_ewald(positions, charges, box)
    print(f"box {box:.3f} A, OpenMM Ewald energy {ref_e:.6f} eV")
    for tol in [1e-3, 1e-5, 1e-7]:
        e, f, m = sog_coulomb(positions, charges, box, tol)
        ferr = np.linalg.norm(f - ref_f) / np.linalg.norm(ref_f)
        eerr = abs(e - ref_e) / abs(ref_e)
        print(f"  tolerance {tol:.0e}: {m:3d} Gaussians, energy {e:.6f} eV, "
              f"rel. energy error {eerr:.1e}, rel. force RMS error {ferr:.1e}")
    summary.append(f"SOG Coulomb at tolerance 1e-7 vs OpenMM Ewald: force RMS error {ferr:.1e}")

    stage("2/4 learned-style kernel (P = 4) vs the exact lattice sum")
    gen = torch.Generator().manual_seed(0)
    kernel = SOGKernel(torch.randn(4, 6, generator=gen, dtype=torch.float64),
                       1.0 + 3.0 * torch.rand(4, 6, generator=gen, dtype=torch.float64))
    small_pos, _, small_box = melt_like_ions(128, seed=2)
    pos = torch.tensor(small_pos, requires_grad=True)
    q = torch.randn(128, 4, generator=gen, dtype=torch.float64)
    cell = torch.tensor([[small_box, 0, 0], [3.0, small_box, 0], [-2.0, 1.5, small_box]],
                        dtype=torch.float64)
    e_ref = lattice_sum_energy(pos, q, cell, kernel)
    (f_ref,) = torch.autograd.grad(e_ref, pos)
    for tol in [1e-3, 1e-5, 1e-7]:
        e = SOGLongRange(kernel, tol)(pos, q, cell)[0]
        (f,) = torch.autograd.grad(e, pos)
        print(f"  tolerance {tol:.0e}: rel. energy error "
              f"{abs(float(e.detach() - e_ref.detach())) / abs(float(e_ref.detach())):.1e}, "
              f"rel. force error {float((f - f_ref).norm() / f_ref.norm()):.1e}")

    stage("3/4 a mixed batch: 3 structures, different sizes and cells, one call")
    layer = SOGLongRange(kernel, 1e-6)
    sizes = [64, 128, 250]
    parts = [melt_like_ions(n, seed=10 + n) for n in sizes]
    positions_b = torch.tensor(np.concatenate([p[0] for p in parts]))
    charges_b = torch.randn(sum(sizes), 4, generator=gen, dtype=torch.float64)
    cells_b = torch.stack([torch.eye(3, dtype=torch.float64) * p[2] for p in parts])
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    energies = layer(positions_b, charges_b, cells_b, batch)
    print("  energies per structure (arbitrary units):", [f"{float(x):.6f}" for x in energies])

    stage("4/4 energy + forces timing vs size (tolerance 1e-5, CPU)")
    kernel_c = SOGKernel.coulomb(units.COULOMB_EV_ANGSTROM_PER_E2, 9.0, tolerance=1e-6)
    layer = SOGLongRange(kernel_c, 1e-5)
    for n in [1000, 8000, 27000]:
        p, c, b = melt_like_ions(n, seed=n)
        pos = torch.tensor(p, requires_grad=True)
        qq = torch.tensor(c)[:, None]
        cell = torch.eye(3, dtype=torch.float64) * b
        t0 = time.perf_counter()
        e = layer(pos, qq, cell)
        e.sum().backward()
        dt = time.perf_counter() - t0
        print(f"  N = {n:6d}: {1e3 * dt:8.1f} ms for long-range energy + forces")
    summary.append(f"27k-ion long-range energy + forces: {1e3 * dt:.0f} ms")

    stage("summary")
    for line in summary:
        print(" -", line)
    print(f" - total wall time {time.perf_counter() - t_start:.1f} s")
    print(" - OpenMM MD with SOG Coulomb and a shipped SOG-Net model: not available yet "
          "(plugin and model issues)")


if __name__ == "__main__":
    main()
