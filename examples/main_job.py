"""openmm-sog main job: the most complete end-to-end run the code supports.

1. The long-range layer (PyTorch): SOG Coulomb through the NUFFT layer + real-space complement
   against OpenMM PME on the molten-NaCl toy system (docs/design.md §8); a learned-style
   P = 4 kernel against the exact lattice sum; a mixed batch; timing against system size.
2. OpenMM MD of the NaCl melt with SOG Coulomb (the native SOGForce plugin) with a Langevin
   thermostat at 1300 K on the CPU platform.
3. OpenMM MD of the shipped SOG-Net model (models/electrolyte_sognet.pt, exported with
   ``sognet export``) through the native TorchSOGForce (libtorch model + C++ long range),
   checked against the PythonForce path (the whole model in torch).

Run: ``python3 examples/main_job.py`` (after ``bash scripts/setup.sh``).
"""

from __future__ import annotations

import time

import numpy as np
import openmm
import torch
from openmm import unit

from openmm_sog import SOGKernel, SOGLongRange, units, use_sog_coulomb
from openmm_sog.real_space import real_space_energy
from openmm_sog.reference import lattice_sum_energy
from openmm_sog.systems import molten_nacl

KJ_NM = unit.kilojoule_per_mole / unit.nanometer


def stage(title: str) -> None:
    print(f"\n=== {title} ===", flush=True)


def reproducible_cpu_context(system: openmm.System, integrator: openmm.Integrator):
    """A one-thread CPU context: with several threads the order of the force sums varies, and
    the minimiser and chaotic MD amplify that into different states from run to run."""
    platform = openmm.Platform.getPlatformByName("CPU")
    return openmm.Context(system, integrator, platform, {"Threads": "1"})


def minimised_melt(num_ions: int, seed: int) -> np.ndarray:
    """Minimised positions of the molten-NaCl System (PME 1e-5 suffices for this), nm."""
    system, positions, _ = molten_nacl(num_ions, seed=seed, ewald_error_tolerance=1e-5)
    context = reproducible_cpu_context(system, openmm.VerletIntegrator(1e-3))
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 300)
    return context.getState(getPositions=True).getPositions(asNumpy=True)._value


def thermal_melt(num_ions: int, seed: int, steps: int = 1000) -> np.ndarray:
    """Positions of the melt after minimisation and Langevin MD at 1300 K (PME 1e-5), nm."""
    system, _, _ = molten_nacl(num_ions, seed=seed, ewald_error_tolerance=1e-5)
    integrator = openmm.LangevinMiddleIntegrator(1300, 5, 0.002)
    integrator.setRandomNumberSeed(seed)  # a reproducible state to compare forces on
    context = reproducible_cpu_context(system, integrator)
    context.setPositions(minimised_melt(num_ions, seed))
    context.setVelocitiesToTemperature(1300, seed)
    integrator.step(steps)
    return context.getState(getPositions=True).getPositions(asNumpy=True)._value


def reference_forces(num_ions: int, seed: int, positions_nm: np.ndarray, tolerance: float):
    """Forces (kJ/mol/nm) of the melt with PME at ``tolerance``, Reference platform (double)."""
    system, _, _ = molten_nacl(num_ions, seed=seed, ewald_error_tolerance=tolerance)
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions_nm)
    return context.getState(getForces=True).getForces(asNumpy=True).value_in_unit(KJ_NM)


def coulomb_forces_pme(system: openmm.System, positions_nm: np.ndarray) -> np.ndarray:
    """PME Coulomb forces alone (Lennard-Jones switched off), kJ/mol/nm, Reference platform.

    Reference, not CPU: the CPU platform's single-precision PME is only good to ~1e-5.
    """
    nb = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    coulomb = openmm.System()
    coulomb.setDefaultPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
    copy = openmm.NonbondedForce()
    copy.setNonbondedMethod(openmm.NonbondedForce.PME)
    copy.setCutoffDistance(nb.getCutoffDistance())
    copy.setEwaldErrorTolerance(nb.getEwaldErrorTolerance())
    for i in range(nb.getNumParticles()):
        coulomb.addParticle(system.getParticleMass(i))
        copy.addParticle(nb.getParticleParameters(i)[0], 0.1, 0.0)
    coulomb.addForce(copy)
    context = openmm.Context(
        coulomb, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions_nm)
    return context.getState(getForces=True).getForces(asNumpy=True).value_in_unit(KJ_NM)


def run_md(context: openmm.Context, integrator, steps: int, report: int) -> float:
    """Run ``steps`` steps, printing potential energy and temperature; returns wall seconds."""
    dof = 3 * context.getSystem().getNumParticles() - 3
    t0 = time.perf_counter()
    for done in range(report, steps + 1, report):
        integrator.step(report)
        state = context.getState(getEnergy=True)
        temperature = 2 * state.getKineticEnergy() / (dof * unit.MOLAR_GAS_CONSTANT_R)
        potential = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        print(
            f"  step {done:5d}: potential {potential:12.1f} kJ/mol, "
            f"T {temperature.value_in_unit(unit.kelvin):7.1f} K",
            flush=True,
        )
    return time.perf_counter() - t0


def layer_demo(summary: list[str]) -> None:
    stage("1a. SOG Coulomb in PyTorch vs OpenMM PME (1,000-ion NaCl melt)")
    positions_nm = minimised_melt(1000, seed=1)
    system, _, _ = molten_nacl(1000, seed=1, ewald_error_tolerance=1e-7)
    ref = coulomb_forces_pme(system, positions_nm)
    nb = next(f for f in system.getForces() if isinstance(f, openmm.NonbondedForce))
    charges = torch.tensor(
        [nb.getParticleParameters(i)[0]._value for i in range(nb.getNumParticles())]
    )[:, None].double()
    box_a = system.getDefaultPeriodicBoxVectors()[0][0]._value / units.NM_PER_ANGSTROM
    cell = torch.eye(3, dtype=torch.float64) * box_a
    cutoff_a = 7.0
    for tol in [1e-3, 1e-5, 1e-7]:
        kernel = SOGKernel.coulomb(units.COULOMB_EV_ANGSTROM_PER_E2, cutoff_a, 0.1 * tol)
        layer = SOGLongRange(kernel, tol)
        pos = torch.tensor(positions_nm / units.NM_PER_ANGSTROM, requires_grad=True)
        energy = layer(pos, charges, cell)[0] + real_space_energy(
            pos, charges, cell, kernel.short_range, cutoff_a
        )
        (grad,) = torch.autograd.grad(energy, pos)
        forces = -grad.numpy() * units.KJ_PER_MOL_PER_EV / units.NM_PER_ANGSTROM
        error = np.linalg.norm(forces - ref) / np.linalg.norm(ref)
        print(
            f"  tolerance {tol:.0e}: {kernel.num_gaussians:3d} Gaussians, NUFFT width "
            f"{layer.nufft.width:2d}, relative force RMS error vs PME {error:.1e}"
        )
    summary.append(f"PyTorch SOG Coulomb (tolerance 1e-7) vs OpenMM PME: force error {error:.1e}")

    stage("1b. a learned-style kernel (P = 4) vs the exact lattice sum, triclinic cell")
    gen = torch.Generator().manual_seed(0)
    kernel = SOGKernel(
        torch.randn(4, 6, generator=gen, dtype=torch.float64),
        1.0 + 3.0 * torch.rand(4, 6, generator=gen, dtype=torch.float64),
    )
    cell = torch.tensor([[16.0, 0, 0], [3.0, 15.0, 0], [-2.0, 1.5, 16.5]], dtype=torch.float64)
    pos = (torch.rand(128, 3, generator=gen, dtype=torch.float64) @ cell).requires_grad_()
    q = torch.randn(128, 4, generator=gen, dtype=torch.float64)
    e_ref = lattice_sum_energy(pos, q, cell, kernel)
    (f_ref,) = torch.autograd.grad(e_ref, pos)
    for tol in [1e-3, 1e-5, 1e-7]:
        e = SOGLongRange(kernel, tol)(pos, q, cell)[0]
        (f,) = torch.autograd.grad(e, pos)
        e_err = abs(float(e.detach() - e_ref.detach())) / abs(float(e_ref.detach()))
        print(
            f"  tolerance {tol:.0e}: relative energy error {e_err:.1e}, "
            f"relative force error {float((f - f_ref).norm() / f_ref.norm()):.1e}"
        )

    stage("1c. a mixed batch: 3 structures of different sizes and cells in one call")
    layer = SOGLongRange(kernel, 1e-6)
    sizes = [64, 128, 250]
    cells = torch.stack([torch.eye(3, dtype=torch.float64) * (n / 0.032) ** (1 / 3) for n in sizes])
    positions = torch.cat(
        [
            torch.rand(n, 3, generator=gen, dtype=torch.float64) @ c
            for n, c in zip(sizes, cells, strict=True)
        ]
    )
    charges_b = torch.randn(sum(sizes), 4, generator=gen, dtype=torch.float64)
    batch = torch.cat([torch.full((n,), i) for i, n in enumerate(sizes)])
    with torch.no_grad():
        energies = layer(positions, charges_b, cells, batch)
        singles = [
            layer(positions[batch == i], charges_b[batch == i], cells[i])[0] for i in range(3)
        ]
    print("  batched:", " ".join(f"{float(e):.8f}" for e in energies), "(eV)")
    print("  one by one:", " ".join(f"{float(e):.8f}" for e in singles), "(eV)")

    stage("1d. long-range energy + forces vs size (tolerance 1e-5, float64, CPU)")
    kernel = SOGKernel.coulomb(units.COULOMB_EV_ANGSTROM_PER_E2, 9.0, 1e-6)
    layer = SOGLongRange(kernel, 1e-5)
    for n in [1000, 8000, 27000]:
        box = (n / 0.1) ** (1 / 3)
        pos = (torch.rand(n, 3, generator=gen, dtype=torch.float64) * box).requires_grad_()
        qq = torch.randn(n, 1, generator=gen, dtype=torch.float64)
        cell = torch.eye(3, dtype=torch.float64) * box
        layer(pos, qq, cell).sum().backward()  # warm-up
        t0 = time.perf_counter()
        layer(pos, qq, cell).sum().backward()
        dt = time.perf_counter() - t0
        print(f"  N = {n:6d}: {1e3 * dt:8.1f} ms")
    summary.append(f"PyTorch layer, 27,000 atoms: {1e3 * dt:.0f} ms for energy + forces")


def openmm_md_with_sog_coulomb(summary: list[str]) -> None:
    stage("2. OpenMM MD of the 1,000-ion NaCl melt with SOG Coulomb (SOGForce, CPU platform)")
    platform = openmm.Platform.getPlatformByName("CPU")
    positions = thermal_melt(1000, seed=3)
    ref_forces = reference_forces(1000, 3, positions, tolerance=1e-7)

    sog_system, _, _ = molten_nacl(1000, seed=3)
    use_sog_coulomb(sog_system, tolerance=1e-5)
    integrator = openmm.LangevinMiddleIntegrator(
        1300 * unit.kelvin, 5 / unit.picosecond, 2 * unit.femtosecond
    )
    context = openmm.Context(sog_system, integrator, platform)
    context.setPositions(positions)
    forces = context.getState(getForces=True).getForces(asNumpy=True).value_in_unit(KJ_NM)
    error = np.linalg.norm(forces - ref_forces) / np.linalg.norm(ref_forces)
    print(
        f"  SOG Coulomb (tolerance 1e-5) + LJ vs PME (1e-7) + LJ at a 1300 K state: "
        f"relative force RMS error "
        f"{error:.1e}"
    )
    context.setVelocitiesToTemperature(1300 * unit.kelvin, 1)
    steps = 1000
    elapsed = run_md(context, integrator, steps, report=125)
    ns_per_day = steps * 2e-6 / elapsed * 86400
    print(f"  {steps} steps of 2 fs in {elapsed:.1f} s: {ns_per_day:.2f} ns/day")
    summary.append(
        f"OpenMM MD with SOG Coulomb, 1,000 ions: force error vs PME {error:.1e}, "
        f"{ns_per_day:.2f} ns/day (CPU platform, 2 cores)"
    )


def openmm_md_with_sognet(summary: list[str]) -> None:
    stage("3. OpenMM MD of the shipped SOG-Net model (128-ion NaCl melt, native TorchSOGForce)")
    import tempfile
    from pathlib import Path

    from openmm_sog.openmm_model import create_sognet_force
    from openmm_sog.training.export import export_model
    from openmm_sog.training.model_io import load_model

    checkpoint = Path(__file__).resolve().parent.parent / "models" / "electrolyte_sognet.pt"
    exported = Path(tempfile.mkdtemp()) / "electrolyte_sognet_export.pt"
    export_model(load_model(checkpoint), exported)
    print(f"  exported {checkpoint.name} -> {exported} (TorchScript + metadata)")

    positions = thermal_melt(128, seed=4)
    system, _, species = molten_nacl(128, seed=4)
    ref_forces = reference_forces(128, 4, positions, tolerance=1e-6)

    numbers = [11 if name == "Na" else 17 for name in species]
    contexts = {}
    for implementation in ("native", "python"):
        ml_system = openmm.System()
        ml_system.setDefaultPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
        for i in range(system.getNumParticles()):
            ml_system.addParticle(system.getParticleMass(i))
        force = create_sognet_force(exported, numbers, implementation=implementation)
        ml_system.addForce(force)
        integrator = openmm.LangevinMiddleIntegrator(1300, 5, 0.002)
        cpu = openmm.Platform.getPlatformByName("CPU")
        contexts[implementation] = (openmm.Context(ml_system, integrator, cpu), integrator)
        print(f"  {implementation}: {type(force).__name__}")
    forces_by_implementation = {}
    for implementation, (context, _) in contexts.items():
        context.setPositions(positions)
        state = context.getState(getForces=True)
        forces_by_implementation[implementation] = state.getForces(asNumpy=True).value_in_unit(
            KJ_NM
        )
    forces = forces_by_implementation["native"]
    rmse = np.sqrt(np.mean((forces - ref_forces) ** 2)) / 964.853  # kJ/mol/nm -> eV/A
    agreement = np.abs(forces - forces_by_implementation["python"]).max() / np.sqrt(
        np.mean(forces**2)
    )
    print(f"  force RMSE vs the PME reference at a 1300 K state: {1e3 * rmse:.1f} meV/A")
    print(
        f"  TorchSOGForce vs PythonForce (torch NUFFT): max force difference {agreement:.1e} "
        "of the RMS force"
    )
    python_ms = _ms_per_force_evaluation(contexts["python"][0])
    native_ms = _ms_per_force_evaluation(contexts["native"][0])
    print(f"  force evaluation: TorchSOGForce {native_ms:.0f} ms, PythonForce {python_ms:.0f} ms")
    context, integrator = contexts["native"]
    context.setVelocitiesToTemperature(1300, 3)
    steps = 200
    elapsed = run_md(context, integrator, steps, report=50)
    print(f"  {steps} steps in {elapsed:.1f} s ({1e3 * elapsed / steps:.0f} ms/step)")
    summary.append(
        f"SOG-Net MD in OpenMM (TorchSOGForce), 128 ions: force RMSE vs PME {1e3 * rmse:.1f} "
        f"meV/A, {1e3 * elapsed / steps:.0f} ms/step; agrees with the PythonForce path to "
        f"{agreement:.0e} of the RMS force"
    )


def _ms_per_force_evaluation(context: openmm.Context, repeats: int = 10) -> float:
    """Median wall time of one force evaluation (ms)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        context.getState(getForces=True)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


def main() -> None:
    t_start = time.perf_counter()
    summary: list[str] = []
    layer_demo(summary)
    openmm_md_with_sog_coulomb(summary)
    openmm_md_with_sognet(summary)
    stage("summary")
    for line in summary:
        print(" -", line)
    print(f" - total wall time {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
