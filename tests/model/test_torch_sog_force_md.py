"""TorchSOGForce in molecular dynamics: NVE energy conservation, checkpoints, two Contexts.

The shipped molten-NaCl SOG-Net (models/electrolyte_sognet.pt, float32) on 128 ions minimised
with the classical force field it was trained on. Energy conservation checks the forces
(the latent charges' chain rule included) against the energy along a real trajectory: a force
error of 1 % of the chain rule shows up as a drift many times the bound used here.
"""

from pathlib import Path

import numpy as np
import openmm
import pytest

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.systems import molten_nacl
from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

pytest.importorskip("openmm_sog.plugin")
SHIPPED = Path(__file__).resolve().parents[2] / "models" / "electrolyte_sognet.pt"
KJ = openmm.unit.kilojoule_per_mole
NUM_IONS = 128


def _platform_names():
    return {
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    }


@pytest.fixture(scope="module")
def melt(tmp_path_factory):
    """(System with the SOG-Net force, minimised positions in nm)."""
    exported = tmp_path_factory.mktemp("md") / "electrolyte_sognet_export.pt"
    export_model(load_model(SHIPPED), exported)
    classical, positions, species = molten_nacl(NUM_IONS, seed=3, ewald_error_tolerance=1e-5)
    context = openmm.Context(
        classical, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("CPU")
    )
    context.setPositions(positions)
    openmm.LocalEnergyMinimizer.minimize(context, 10.0, 200)
    positions = context.getState(getPositions=True).getPositions(asNumpy=True)
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*classical.getDefaultPeriodicBoxVectors())
    for i in range(NUM_IONS):
        system.addParticle(classical.getParticleMass(i))
    numbers = [11 if name == "Na" else 17 for name in species]
    system.addForce(create_sognet_force(exported, numbers, implementation="native"))
    return system, positions.value_in_unit(openmm.unit.nanometer)


def _context(system, platform, integrator, precision="double"):
    properties = {"Precision": precision} if platform in ("OpenCL", "CUDA") else {}
    return openmm.Context(
        system, integrator, openmm.Platform.getPlatformByName(platform), properties
    )


def test_nve_conserves_the_total_energy(melt):
    """500 Verlet steps of 0.5 fs at 1300 K: the drift of the total energy must stay far below
    its kinetic part's fluctuations (measured here: 1e-4 of them)."""
    system, positions = melt
    context = _context(system, "CPU", openmm.VerletIntegrator(0.0005))
    context.setPositions(positions)
    context.setVelocitiesToTemperature(1300.0, 3)
    totals, kinetic = [], []
    for _ in range(50):
        context.getIntegrator().step(10)
        state = context.getState(getEnergy=True)
        kinetic.append(state.getKineticEnergy().value_in_unit(KJ))
        totals.append(kinetic[-1] + state.getPotentialEnergy().value_in_unit(KJ))
    totals = np.array(totals)
    drift = np.polyfit(np.arange(len(totals)) * 10 * 0.0005, totals, 1)[0]  # kJ/mol/ps
    print(
        f"NVE: total energy std {totals.std():.3f} kJ/mol, kinetic std {np.std(kinetic):.1f}, "
        f"drift {drift:.3f} kJ/mol/ps ({drift * 1000 / NUM_IONS:.3f} kJ/mol/ns/atom)"
    )
    assert np.isfinite(totals).all()
    assert totals.std() < 1e-3 * np.std(kinetic)
    assert abs(drift) * 0.25 < 1e-3 * np.std(kinetic)  # over the 0.25 ps run


@pytest.mark.parametrize(
    "platform", ["CPU", *(["OpenCL"] if "OpenCL" in _platform_names() else [])]
)
def test_checkpoint_round_trip_continues_the_same_trajectory(melt, platform):
    system, positions = melt
    context = _context(system, platform, openmm.VerletIntegrator(0.001))
    context.setPositions(positions)
    context.setVelocitiesToTemperature(1300.0, 4)
    context.getIntegrator().step(5)
    checkpoint = context.createCheckpoint()
    context.getIntegrator().step(10)
    first = context.getState(getPositions=True, getEnergy=True)
    context.loadCheckpoint(checkpoint)
    context.getIntegrator().step(10)
    second = context.getState(getPositions=True, getEnergy=True)
    np.testing.assert_array_equal(
        first.getPositions(asNumpy=True)._value, second.getPositions(asNumpy=True)._value
    )
    assert first.getPotentialEnergy() == second.getPotentialEnergy()


def test_two_contexts_in_one_process_do_not_interfere(melt):
    """Two Contexts (two loaded models) on different platforms, used alternately, give what each
    gives alone."""
    system, positions = melt
    names = ["Reference", "OpenCL" if "OpenCL" in _platform_names() else "CPU"]
    contexts = [_context(system, name, openmm.VerletIntegrator(0.001)) for name in names]
    moved = positions + np.random.default_rng(5).normal(0.0, 0.002, positions.shape)
    energies = {}
    for round_ in range(4):
        for k, context in enumerate(contexts):
            which = (round_ + k) % 2
            context.setPositions(positions if which == 0 else moved)
            energy = context.getState(getEnergy=True).getPotentialEnergy().value_in_unit(KJ)
            energies.setdefault((k, which), []).append(energy)
    for values in energies.values():
        assert len(values) == 2 and values[0] == values[1]  # whatever the other Context did
    for which in range(2):  # the platforms agree (double precision, float32 model in both)
        assert energies[(0, which)][0] == pytest.approx(energies[(1, which)][0], rel=1e-7)
    assert energies[(0, 0)][0] != pytest.approx(energies[(0, 1)][0], rel=1e-9)
