"""openmm-sog main job: the most complete end-to-end run the code supports.

1. The long-range layer (PyTorch): SOG Coulomb through the NUFFT layer + real-space complement
   against OpenMM PME on the molten-NaCl toy system (docs/design.md §8); a learned-style
   P = 4 kernel against the exact lattice sum; a mixed batch; timing against system size.
2. OpenMM MD of the NaCl melt with SOG Coulomb (the native SOGForce plugin) with a Langevin
   thermostat at 1300 K on the CPU platform.
3. OpenMM MD of the shipped SOG-Net model (models/electrolyte_sognet.pt, exported with
   ``sognet export``) through the native TorchSOGForce (libtorch model + C++ long range),
   checked against the PythonForce path (the whole model in torch); the same model compiled
   into an AOTInductor package (``sognet export --format aotinductor``) checked against both.
4. NPT MD of the shipped SOG-Net model (the AOTInductor package of section 3, else the
   TorchScript export) on a larger melt (512 ions by default) on the best
   available platform (CUDA > OpenCL on a GPU > CPU): Langevin thermostat at 1300 K and a Monte
   Carlo barostat at 1 atm, a DCD trajectory and a CSV log in the output folder, ns/day, the mean
   density (against the same NPT run with the PME + LJ force field the model learned), then an
   NVE segment (Verlet) for the total-energy drift.

Run: ``python3 examples/main_job.py`` (after ``bash scripts/setup.sh``); ``--help`` lists the
options (``--steps``, ``--ions``, ``--output``, ``--platform``, ...; the defaults are the full run).
"""

from __future__ import annotations

import argparse
import functools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openmm
import torch
from openmm import app, unit
from tqdm import tqdm

from openmm_sog import SOGKernel, SOGLongRange, units, use_sog_coulomb
from openmm_sog.real_space import real_space_energy
from openmm_sog.reference import lattice_sum_energy
from openmm_sog.systems import MOLTEN_NACL_DENSITY_PER_NM3, molten_nacl

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


@functools.cache
def exported_shipped_model() -> Path:
    """The shipped SOG-Net model exported (``sognet export``) to a temporary file, once."""
    from openmm_sog.training.export import export_model
    from openmm_sog.training.model_io import load_model

    checkpoint = Path(__file__).resolve().parent.parent / "models" / "electrolyte_sognet.pt"
    exported = Path(tempfile.mkdtemp()) / "electrolyte_sognet_export.pt"
    export_model(load_model(checkpoint), exported)
    print(f"  exported {checkpoint.name} -> {exported} (TorchScript + metadata)")
    return exported


@functools.cache
def compiled_shipped_model() -> Path | None:
    """The shipped SOG-Net compiled (``sognet export --format aotinductor``) to a temporary
    ``.pt2`` package, once; ``None`` (with the reason printed) where this torch cannot."""
    from openmm_sog.training.compiled_export import compiled_export_available, export_compiled
    from openmm_sog.training.model_io import load_model

    problem = compiled_export_available()
    if problem is not None:
        print(f"  no AOTInductor package: {problem}")
        return None
    checkpoint = Path(__file__).resolve().parent.parent / "models" / "electrolyte_sognet.pt"
    package = Path(tempfile.mkdtemp()) / "electrolyte_sognet.pt2"
    start = time.perf_counter()
    export_compiled(load_model(checkpoint), package)
    print(
        f"  compiled {checkpoint.name} -> {package} (AOTInductor package) in "
        f"{time.perf_counter() - start:.0f} s"
    )
    return package


def openmm_md_with_sognet(summary: list[str]) -> None:
    stage("3. OpenMM MD of the shipped SOG-Net model (128-ion NaCl melt, native TorchSOGForce)")
    from openmm_sog.openmm_model import create_sognet_force

    exported = exported_shipped_model()

    positions = thermal_melt(128, seed=4)
    system, _, species = molten_nacl(128, seed=4)
    ref_forces = reference_forces(128, 4, positions, tolerance=1e-6)

    numbers = [11 if name == "Na" else 17 for name in species]
    package = compiled_shipped_model()
    contexts = {}
    cases = {"native": (exported, "native"), "python": (exported, "python")}
    if package is not None:
        cases["native, compiled"] = (package, "native")
    for implementation, (model_file, kind) in cases.items():
        ml_system = openmm.System()
        ml_system.setDefaultPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
        for i in range(system.getNumParticles()):
            ml_system.addParticle(system.getParticleMass(i))
        force = create_sognet_force(model_file, numbers, implementation=kind)
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
    compiled_text = ""
    if package is not None:
        compiled = forces_by_implementation["native, compiled"]
        difference = np.abs(compiled - forces).max() / np.sqrt(np.mean(forces**2))
        compiled_ms = _ms_per_force_evaluation(contexts["native, compiled"][0])
        print(
            f"  TorchSOGForce from the AOTInductor package: {compiled_ms:.0f} ms per force "
            f"evaluation, max force difference from the TorchScript export {difference:.1e} of "
            "the RMS force (float32 model)"
        )
        compiled_text = (
            f"; from the AOTInductor package {compiled_ms:.0f} ms per evaluation against "
            f"{native_ms:.0f} ms (TorchScript), forces equal to {difference:.0e} of the RMS"
        )
    context, integrator = contexts["native"]
    context.setVelocitiesToTemperature(1300, 3)
    steps = 200
    elapsed = run_md(context, integrator, steps, report=50)
    print(f"  {steps} steps in {elapsed:.1f} s ({1e3 * elapsed / steps:.0f} ms/step)")
    summary.append(
        f"SOG-Net MD in OpenMM (TorchSOGForce), 128 ions: force RMSE vs PME {1e3 * rmse:.1f} "
        f"meV/A, {1e3 * elapsed / steps:.0f} ms/step; agrees with the PythonForce path to "
        f"{agreement:.0e} of the RMS force{compiled_text}"
    )


def _ms_per_force_evaluation(context: openmm.Context, repeats: int = 10) -> float:
    """Median wall time of one force evaluation (ms)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        context.getState(getForces=True)
        times.append(time.perf_counter() - start)
    return 1e3 * float(np.median(times))


#: platforms in the order of preference for the NPT run of section 4
PLATFORM_PREFERENCE = ("CUDA", "OpenCL", "CPU")
#: time step of the NPT and NVE runs of section 4, fs
MD_TIME_STEP_FS = 2.0
#: temperature (K), friction (1/ps) and pressure (atm) of the NPT run of section 4
NPT_TEMPERATURE_K = 1300.0
NPT_FRICTION_PER_PS = 5.0
NPT_PRESSURE_ATM = 1.0
#: Monte Carlo barostat: steps between volume moves
BAROSTAT_INTERVAL = 25
#: u / nm^3 -> g / cm^3
AMU_PER_NM3_TO_G_PER_CM3 = 1e21 / 6.02214076e23


def opencl_device(platform: openmm.Platform) -> tuple[str, str]:
    """``(OpenCL platform name, device name)`` that OpenMM picks by default, from a tiny Context."""
    system = openmm.System()
    system.addParticle(1.0)
    context = openmm.Context(system, openmm.VerletIntegrator(1e-3), platform)
    names = (
        platform.getPropertyValue(context, "OpenCLPlatformName"),
        platform.getPropertyValue(context, "DeviceName"),
    )
    del context
    return names


def platform_candidates(requested: str) -> list[tuple[str, dict[str, str], str]]:
    """``(platform name, properties, why)`` to try in order: ``requested``, or for ``"auto"``
    CUDA, then OpenCL on a real accelerator, then CPU. OpenCL on a CPU device (PoCL here) is
    skipped by "auto": it is slower than the CPU platform on the same cores."""
    available = {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }
    gpu = {"Precision": "mixed"}
    if requested != "auto":
        if requested not in available:
            raise SystemExit(f"platform {requested} is not available (have {sorted(available)})")
        return [(requested, gpu if requested in ("CUDA", "OpenCL") else {}, "requested")]
    candidates = []
    for name in PLATFORM_PREFERENCE:
        if name not in available:
            continue
        if name == "OpenCL":
            try:
                cl_platform, device = opencl_device(openmm.Platform.getPlatformByName(name))
            except openmm.OpenMMException as error:
                print(f"  OpenCL: no usable device ({error})")
                continue
            on_cpu = "portable computing language" in cl_platform.lower() or (
                "cpu" in device.lower() or device.lower().startswith("pthread")
            )
            if on_cpu:
                print(f"  OpenCL: {device} ({cl_platform}) is a CPU device; skipped")
                continue
            candidates.append((name, gpu, f"{device} ({cl_platform})"))
        else:
            candidates.append((name, gpu if name == "CUDA" else {}, "best available"))
    return candidates


def nacl_topology(species: list[str], box_vectors) -> app.Topology:
    """A Topology of single-ion residues (NA / CL) for the trajectory files."""
    topology = app.Topology()
    chain = topology.addChain()
    for name in species:
        residue = topology.addResidue(name.upper(), chain)
        topology.addAtom(name, app.Element.getBySymbol(name), residue)
    topology.setPeriodicBoxVectors(
        [vector.value_in_unit(unit.nanometer) for vector in box_vectors] * unit.nanometer
    )
    return topology


def second_half_density(densities: list[float]) -> str:
    """``"mean +- standard error"`` (g/cm^3) over the second half of the density samples."""
    second_half = np.array(densities[len(densities) // 2 :])
    error = f"{block_standard_error(second_half):.4f}" if len(second_half) >= 5 else "n/a"
    return f"{second_half.mean():.4f} +- {error}"


def reference_npt_density(
    positions: np.ndarray, steps: int, report: int, platform: str, properties: dict[str, str]
) -> str:
    """Second-half density (g/cm^3) of the same NPT run with the force field the model learned
    (PME + LJ, docs/design.md §8) instead of the model."""
    system, _, _ = molten_nacl(len(positions), seed=5, ewald_error_tolerance=1e-5)
    system.addForce(
        openmm.MonteCarloBarostat(
            NPT_PRESSURE_ATM * unit.atmosphere, NPT_TEMPERATURE_K * unit.kelvin, BAROSTAT_INTERVAL
        )
    )
    integrator = openmm.LangevinMiddleIntegrator(
        NPT_TEMPERATURE_K * unit.kelvin,
        NPT_FRICTION_PER_PS / unit.picosecond,
        MD_TIME_STEP_FS * unit.femtosecond,
    )
    context = openmm.Context(
        system, integrator, openmm.Platform.getPlatformByName(platform), properties
    )
    context.setPositions(positions)
    context.setVelocitiesToTemperature(NPT_TEMPERATURE_K * unit.kelvin, 5)
    mass = sum(system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(len(positions)))
    densities = []
    for _ in range(max(1, steps // report)):
        integrator.step(report)
        volume = context.getState().getPeriodicBoxVolume().value_in_unit(unit.nanometer**3)
        densities.append(mass / volume * AMU_PER_NM3_TO_G_PER_CM3)
    return second_half_density(densities)


def block_standard_error(values: np.ndarray, blocks: int = 5) -> float:
    """Standard error of the mean of correlated samples from ``blocks`` block means."""
    means = np.array([block.mean() for block in np.array_split(values, blocks)])
    return float(means.std(ddof=1) / np.sqrt(blocks))


def npt_md_of_sognet(summary: list[str], args: argparse.Namespace) -> None:
    stage(f"4. NPT MD of the shipped SOG-Net model ({args.ions:,}-ion NaCl melt)")
    from openmm_sog.openmm_model import create_sognet_force

    # The package section 3 compiled (it costs about a minute to compile, which --md-only
    # skips), else the TorchScript export.
    package = None if args.md_only else compiled_shipped_model()
    exported = package or exported_shipped_model()
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    n = args.ions
    t0 = time.perf_counter()
    # The lattice start is far from the model's training data: minimise and melt it with the
    # classical force field the model was trained on (PME + LJ), then hand over to the model.
    positions = thermal_melt(n, seed=5, steps=args.melt_steps)
    print(
        f"  start: molten_nacl({n}) minimised and melted with PME + LJ "
        f"({args.melt_steps} steps at 1300 K) in {time.perf_counter() - t0:.1f} s"
    )
    classical, _, species = molten_nacl(n, seed=5)
    box_vectors = classical.getDefaultPeriodicBoxVectors()
    numbers = [11 if name == "Na" else 17 for name in species]

    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*box_vectors)
    for i in range(n):
        system.addParticle(classical.getParticleMass(i))
    force = create_sognet_force(exported, numbers)  # implementation "auto"
    system.addForce(force)
    barostat = openmm.MonteCarloBarostat(
        NPT_PRESSURE_ATM * unit.atmosphere, NPT_TEMPERATURE_K * unit.kelvin, BAROSTAT_INTERVAL
    )
    barostat.setRandomNumberSeed(5)
    barostat_index = system.addForce(barostat)
    total_mass = sum(system.getParticleMass(i).value_in_unit(unit.dalton) for i in range(n))
    topology = nacl_topology(species, box_vectors)
    dt = MD_TIME_STEP_FS * unit.femtosecond

    simulation = None
    platform_name, properties = "", {}
    for name, candidate_properties, why in platform_candidates(args.platform):
        integrator = openmm.LangevinMiddleIntegrator(
            NPT_TEMPERATURE_K * unit.kelvin, NPT_FRICTION_PER_PS / unit.picosecond, dt
        )
        integrator.setRandomNumberSeed(5)
        try:
            simulation = app.Simulation(
                topology,
                system,
                integrator,
                openmm.Platform.getPlatformByName(name),
                candidate_properties,
            )
            simulation.context.setPositions(positions)
            simulation.context.getState(getForces=True)
        except (openmm.OpenMMException, RuntimeError) as error:
            print(f"  {name}: cannot run the model ({error}); trying the next platform")
            simulation = None
            continue
        platform_name, properties = name, candidate_properties
        settings = "".join(f", {key} {value}" for key, value in properties.items())
        print(
            f"  platform {name} ({why}{settings}); force {type(force).__name__} from "
            f"{exported.name}"
        )
        break
    if simulation is None:
        raise SystemExit("no platform could run the SOG-Net force")
    context = simulation.context
    context.setVelocitiesToTemperature(NPT_TEMPERATURE_K * unit.kelvin, 5)
    energy = context.getState(getEnergy=True).getPotentialEnergy()
    print(
        f"  model energy at the start {energy.value_in_unit(unit.kilojoule_per_mole):.1f} kJ/mol; "
        f"NPT: LangevinMiddleIntegrator {NPT_TEMPERATURE_K:.0f} K, friction "
        f"{NPT_FRICTION_PER_PS:g}/ps, {MD_TIME_STEP_FS:g} fs; MonteCarloBarostat "
        f"{NPT_PRESSURE_ATM:g} atm every {BAROSTAT_INTERVAL} steps"
    )
    app.PDBFile.writeFile(topology, positions * unit.nanometer, str(output / "start.pdb"))
    report = args.report_interval
    simulation.reporters.append(app.DCDReporter(str(output / "npt.dcd"), report))
    simulation.reporters.append(
        app.StateDataReporter(
            str(output / "npt_log.csv"),
            report,
            step=True,
            time=True,
            potentialEnergy=True,
            kineticEnergy=True,
            totalEnergy=True,
            temperature=True,
            volume=True,
            density=True,
            speed=True,
        )
    )

    steps = args.steps
    chunks = max(1, steps // report)
    volumes = []
    bar = tqdm(total=chunks * report, unit="step", desc="  NPT", disable=None, file=sys.stderr)
    t0 = time.perf_counter()
    for chunk in range(1, chunks + 1):
        simulation.step(report)
        volumes.append(context.getState().getPeriodicBoxVolume().value_in_unit(unit.nanometer**3))
        density = total_mass / volumes[-1] * AMU_PER_NM3_TO_G_PER_CM3
        bar.update(report)
        bar.set_postfix(density=f"{density:.3f} g/cm3", refresh=False)
        if bar.disable and (chunk % max(1, chunks // 10) == 0 or chunk == chunks):
            print(
                f"  step {chunk * report:6d}: density {density:.4f} g/cm^3, "
                f"{time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    bar.close()
    elapsed = time.perf_counter() - t0
    steps = chunks * report
    ns_per_day = steps * MD_TIME_STEP_FS * 1e-6 / elapsed * 86400
    densities = total_mass / np.array(volumes) * AMU_PER_NM3_TO_G_PER_CM3
    density_text = second_half_density(list(densities))
    start_density = total_mass / (n / MOLTEN_NACL_DENSITY_PER_NM3) * AMU_PER_NM3_TO_G_PER_CM3
    print(
        f"  {steps} steps of {MD_TIME_STEP_FS:g} fs ({steps * MD_TIME_STEP_FS / 1000:g} ps) in "
        f"{elapsed:.1f} s: {ns_per_day:.3f} ns/day ({1e3 * elapsed / steps:.1f} ms/step, "
        "reporters and barostat included)"
    )
    print(
        f"  density: start {start_density:.4f}, mean over the second half "
        f"{density_text} g/cm^3 (standard error from 5 block means "
        f"of {len(densities) - len(densities) // 2} samples)"
    )
    t0 = time.perf_counter()
    reference_density = reference_npt_density(positions, steps, report, platform_name, properties)
    print(
        f"  the same NPT run with the force field the model learned (PME + LJ): density "
        f"{reference_density} g/cm^3 ({time.perf_counter() - t0:.1f} s)"
    )

    # NVE: the same state in a new Context with a VerletIntegrator and no barostat.
    state = context.getState(getPositions=True, getVelocities=True)
    system.removeForce(barostat_index)
    verlet = openmm.VerletIntegrator(dt)
    nve = openmm.Context(
        system, verlet, openmm.Platform.getPlatformByName(platform_name), properties
    )
    nve.setState(state)
    sample = args.nve_sample_interval
    times_ps, totals = [], []
    t0 = time.perf_counter()
    for done in tqdm(range(0, args.nve_steps + 1, sample), desc="  NVE", disable=None):
        if done:
            verlet.step(sample)
        energies = nve.getState(getEnergy=True)
        times_ps.append(done * MD_TIME_STEP_FS * 1e-3)
        totals.append(
            (energies.getPotentialEnergy() + energies.getKineticEnergy()).value_in_unit(
                unit.kilojoule_per_mole
            )
        )
    nve_elapsed = time.perf_counter() - t0
    totals_arr = np.array(totals)
    slope_per_ps = float(np.polyfit(np.array(times_ps), totals_arr, 1)[0])  # kJ/mol/ps
    drift = slope_per_ps * 1e3 / n  # kJ/mol/ns per atom
    dof = 3 * n - 3  # Verlet conserves the total momentum
    drift_dof = slope_per_ps * 1e3 / dof
    fluctuation = float(totals_arr.std()) / n
    print(
        f"  NVE: {args.nve_steps} Verlet steps of {MD_TIME_STEP_FS:g} fs "
        f"({args.nve_steps * MD_TIME_STEP_FS / 1000:g} ps) in {nve_elapsed:.1f} s, total energy "
        f"every {sample} steps"
    )
    print(
        f"  energy drift (slope of a least-squares line through the total energy against time): "
        f"{drift:+.3f} kJ/mol/ns per atom = {drift_dof:+.3f} kJ/mol/ns per degree of freedom "
        f"({dof}); RMS fluctuation of the total energy {fluctuation:.2e} kJ/mol per atom"
    )
    print(f"  written: {output}/start.pdb, npt.dcd ({chunks} frames), npt_log.csv")
    summary.append(
        f"SOG-Net NPT MD in OpenMM ({type(force).__name__} from {exported.suffix}, "
        f"{platform_name} platform), "
        f"{n:,} ions, 1300 K, {NPT_PRESSURE_ATM:g} atm: {steps * MD_TIME_STEP_FS / 1000:g} ps at "
        f"{ns_per_day:.3f} ns/day"
    )
    summary.append(
        f"SOG-Net NPT density (second half): {density_text} g/cm^3; PME + LJ reference "
        f"{reference_density}; start (the training density) {start_density:.4f}"
    )
    summary.append(
        f"SOG-Net NVE energy drift over {args.nve_steps * MD_TIME_STEP_FS / 1000:g} ps "
        f"({MD_TIME_STEP_FS:g} fs Verlet): {drift:+.3f} kJ/mol/ns per atom "
        f"({drift_dof:+.3f} per degree of freedom)"
    )
    summary.append(f"trajectory and log: {output}/npt.dcd, {output}/npt_log.csv")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=3000, help="NPT steps of section 4 (2 fs)")
    parser.add_argument("--ions", type=int, default=512, help="ions in section 4's melt (even)")
    parser.add_argument("--nve-steps", type=int, default=1000, help="NVE steps after the NPT run")
    parser.add_argument(
        "--output", default="main_job_output", help="folder for the trajectory and log"
    )
    parser.add_argument(
        "--platform",
        default="auto",
        choices=["auto", "CUDA", "OpenCL", "CPU", "Reference"],
        help="platform of section 4 (auto: CUDA > OpenCL on a GPU > CPU)",
    )
    parser.add_argument("--melt-steps", type=int, default=500, help=argparse.SUPPRESS)
    parser.add_argument("--report-interval", type=int, default=50, help=argparse.SUPPRESS)
    parser.add_argument("--nve-sample-interval", type=int, default=10, help=argparse.SUPPRESS)
    parser.add_argument(
        "--md-only", action="store_true", help="skip sections 1-3 (the checks); run section 4"
    )
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    t_start = time.perf_counter()
    summary: list[str] = []
    if not args.md_only:
        layer_demo(summary)
        openmm_md_with_sog_coulomb(summary)
        openmm_md_with_sognet(summary)
    npt_md_of_sognet(summary, args)
    stage("summary")
    for line in summary:
        print(" -", line)
    print(f" - total wall time {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
