"""MD with SOG Coulomb: NVE energy conservation and NPT with OpenMM's Monte Carlo barostats.

The melt is the docs/design.md §8 toy system; its Lennard-Jones is truncated at 0.7 nm
without a shift, so total energy jumps a little whenever a pair crosses the cutoff: the NVE test
compares SOG Coulomb with PME on the same trajectory start rather than against zero.
"""

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
unit = openmm.unit
try:
    from openmm_sog import use_sog_coulomb
    from openmm_sog.plugin import SOGForce
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)
from openmm_sog.systems import molten_nacl  # noqa: E402


def _thermal_state(num_ions, seed, steps=1000):
    """Positions and velocities of the PME melt after minimisation and Langevin MD at 1300 K."""
    system, positions, _ = molten_nacl(num_ions, seed=seed)
    integrator = openmm.LangevinMiddleIntegrator(1300, 5, 0.002)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 200)
    context.setVelocitiesToTemperature(1300, seed)
    integrator.step(steps)
    state = context.getState(getPositions=True, getVelocities=True)
    return state.getPositions(asNumpy=True), state.getVelocities(asNumpy=True)


def _nve_energies(system, positions, velocities, steps, report):
    integrator = openmm.VerletIntegrator(0.001)
    context = openmm.Context(system, integrator, openmm.Platform.getPlatformByName("CPU"))
    context.setPositions(positions)
    context.setVelocities(velocities)
    energies = []
    for _ in range(steps // report):
        integrator.step(report)
        state = context.getState(getEnergy=True)
        energies.append(
            (state.getPotentialEnergy() + state.getKineticEnergy()).value_in_unit(
                unit.kilojoule_per_mole
            )
        )
    return np.array(energies)


@pytest.mark.slow
def test_nve_energy_conservation_matches_pme():
    num_ions, steps, report = 1000, 300, 10
    positions, velocities = _thermal_state(num_ions, seed=21)
    pme_system, _, _ = molten_nacl(num_ions, seed=21, ewald_error_tolerance=1e-6)
    sog_system, _, _ = molten_nacl(num_ions, seed=21)
    use_sog_coulomb(sog_system, tolerance=1e-6)
    results = {}
    for name, system in (("PME", pme_system), ("SOG", sog_system)):
        energies = _nve_energies(system, positions, velocities, steps, report)
        time_ps = np.arange(1, len(energies) + 1) * report * 0.001
        slope = np.polyfit(time_ps, energies, 1)[0]  # kJ/mol/ps
        results[name] = (abs(slope) / num_ions, np.std(energies) / num_ions)
        print(
            f"NVE {name}: drift {1e3 * results[name][0]:.3f} J/mol/ps per ion, "
            f"fluctuation {1e3 * results[name][1]:.3f} J/mol per ion over {steps} fs"
        )
    # SOG Coulomb conserves energy as well as PME on the same start (LJ truncation dominates).
    assert results["SOG"][1] <= 2.0 * results["PME"][1] + 1e-4
    assert results["SOG"][0] <= 2.0 * results["PME"][0] + 1e-3


BAROSTATS = {
    "isotropic": lambda: openmm.MonteCarloBarostat(1.0, 1300, 5),
    "anisotropic": lambda: openmm.MonteCarloAnisotropicBarostat(
        openmm.Vec3(1.0, 1.0, 1.0), 1300, True, True, True, 5
    ),
    "flexible": lambda: openmm.MonteCarloFlexibleBarostat(1.0, 1300, 5),
}


@pytest.mark.slow
@pytest.mark.parametrize("barostat", sorted(BAROSTATS))
def test_npt_with_monte_carlo_barostats(barostat):
    """The box changes; afterwards the energy equals a fresh Context's at the same state."""
    num_ions = 512
    positions, velocities = _thermal_state(num_ions, seed=5, steps=500)
    system, _, _ = molten_nacl(num_ions, seed=5)
    use_sog_coulomb(system, tolerance=1e-5)
    system.addForce(BAROSTATS[barostat]())
    platform = openmm.Platform.getPlatformByName("CPU")
    integrator = openmm.LangevinMiddleIntegrator(1300, 5, 0.002)
    context = openmm.Context(system, integrator, platform)
    context.setPositions(positions)
    context.setVelocities(velocities)
    volumes = []
    for _ in range(10):
        integrator.step(20)
        volumes.append(context.getState().getPeriodicBoxVolume().value_in_unit(unit.nanometer**3))
    assert len(set(np.round(volumes, 12))) > 1, "the barostat never changed the volume"
    state = context.getState(getPositions=True, getEnergy=True, enforcePeriodicBox=False)
    fresh = openmm.Context(system, openmm.VerletIntegrator(0.001), platform)
    fresh.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    fresh.setPositions(state.getPositions())
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    fresh_energy = (
        fresh.getState(getEnergy=True).getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    )
    assert energy == pytest.approx(fresh_energy, rel=1e-6)


def _charged_gas(num_particles=16, box=2.5, seed=3):
    """Neutral point charges with a soft LJ repulsion (periodic cutoff) in a small box."""
    rng = np.random.default_rng(seed)
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*(box * np.eye(3)[i])) for i in range(3)))
    sog = SOGForce()
    sog.addGaussian(138.935 * 0.2, 0.3)
    sog.addGaussian(138.935 * 0.1, 0.6)
    sog.setTolerance(1e-6)
    lj = openmm.NonbondedForce()
    lj.setNonbondedMethod(openmm.NonbondedForce.CutoffPeriodic)
    lj.setCutoffDistance(0.9)
    for i in range(num_particles):
        system.addParticle(20.0)
        sog.addParticle(1.0 if i % 2 == 0 else -1.0)
        lj.addParticle(0.0, 0.3, 0.5)
    system.addForce(sog)
    system.addForce(lj)
    grid = np.stack(np.meshgrid(*[np.arange(3)] * 3, indexing="ij"), -1).reshape(-1, 3)
    positions = (grid[rng.permutation(len(grid))[:num_particles]] + 0.5) * box / 3
    return system, positions


@pytest.mark.slow
def test_npt_growth_past_the_device_grid_on_opencl():
    """A Monte Carlo barostat at low pressure expands a hot gas far beyond the 10 % room of the
    OpenCL grid: the Common kernel chooses larger grids as it goes (no error), and the energy at
    the end equals a fresh Reference Context's at the same state."""
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    if "OpenCL" not in names:
        pytest.skip("no OpenCL platform")
    system, positions = _charged_gas()
    barostat = openmm.MonteCarloBarostat(1.0, 3000, 1)
    barostat.setRandomNumberSeed(11)
    system.addForce(barostat)
    integrator = openmm.LangevinMiddleIntegrator(3000, 5, 0.002)
    integrator.setRandomNumberSeed(13)
    platform = openmm.Platform.getPlatformByName("OpenCL")
    context = openmm.Context(system, integrator, platform, {"Precision": "double"})
    context.setPositions(positions)
    context.setVelocitiesToTemperature(3000, 7)
    start = context.getState().getPeriodicBoxVolume().value_in_unit(unit.nanometer**3)
    integrator.step(400)
    state = context.getState(getPositions=True, getEnergy=True, enforcePeriodicBox=False)
    volume = state.getPeriodicBoxVolume().value_in_unit(unit.nanometer**3)
    print(f"volume {start:.2f} -> {volume:.2f} nm^3")
    assert volume > 1.1**3 * start, f"the box grew only from {start:.2f} to {volume:.2f} nm^3"
    reference = openmm.Context(
        system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference")
    )
    reference.setPeriodicBoxVectors(*state.getPeriodicBoxVectors())
    reference.setPositions(state.getPositions())
    energy = state.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
    expected = reference.getState(getEnergy=True).getPotentialEnergy()
    assert energy == pytest.approx(expected.value_in_unit(unit.kilojoule_per_mole), rel=1e-6)
