"""MD with SOG Coulomb: NVE energy conservation and NPT with OpenMM's Monte Carlo barostats.

The melt is the DESIGN.md section 8 toy system; its Lennard-Jones is truncated at 0.7 nm
without a shift, so total energy jumps a little whenever a pair crosses the cutoff: the NVE test
compares SOG Coulomb with PME on the same trajectory start rather than against zero.
"""

import numpy as np
import pytest

openmm = pytest.importorskip("openmm")
unit = openmm.unit
try:
    from openmm_sog import use_sog_coulomb
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
