"""An exported SOG-Net inside OpenMM through PythonForce: units, consistency and bad input.

The native TorchSOGForce is tested in tests/plugin/test_torch_sog_force.py."""

import numpy as np
import openmm
import pytest
import torch
from model_helpers import TRICLINIC, make_model, random_structure

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.training.export import export_model
from openmm_sog.units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(make_model(seed=3), path)
    return path


def _system_and_positions(num_atoms):
    structure = random_structure(num_atoms, TRICLINIC, seed=4)
    box_nm = np.array(TRICLINIC) * NM_PER_ANGSTROM
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for _ in range(num_atoms):
        system.addParticle(20.0)
    numbers = structure["atomic_numbers"].tolist()
    return system, structure["positions"].numpy() * NM_PER_ANGSTROM, numbers


def test_openmm_energy_and_forces_are_the_model_in_openmm_units(exported):
    system, positions, numbers = _system_and_positions(16)
    system.addForce(create_sognet_force(exported, numbers, implementation="python"))
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    forces = state.getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
    )
    model = torch.jit.load(str(exported))
    e_ev, f_ev_a = model(
        torch.tensor(positions / NM_PER_ANGSTROM),
        torch.tensor(numbers),
        torch.tensor(np.array(TRICLINIC)),
        True,
    )
    assert energy == pytest.approx(float(e_ev) * KJ_PER_MOL_PER_EV, rel=1e-9)
    np.testing.assert_allclose(
        forces,
        f_ev_a.detach().numpy() * KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM,
        rtol=1e-8,
        atol=1e-8,
    )
    # Forces are -dE/dx of OpenMM's own energy (central differences, 1e-5 nm).
    i, d, h = 3, 1, 1e-5
    energies = []
    for sign in (1, -1):
        shifted = positions.copy()
        shifted[i, d] += sign * h
        context.setPositions(shifted)
        energies.append(
            context.getState(getEnergy=True)
            .getPotentialEnergy()
            .value_in_unit(openmm.unit.kilojoule_per_mole)
        )
    assert forces[i, d] == pytest.approx(-(energies[0] - energies[1]) / (2 * h), rel=1e-5, abs=1e-4)


def test_bad_input(exported, tmp_path):
    with pytest.raises(FileNotFoundError, match="not found"):
        create_sognet_force(tmp_path / "missing.pt", [11])
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a SOG-Net export"):
        create_sognet_force(tmp_path / "junk.pt", [11])
    with pytest.raises(ValueError, match=r"atomic numbers \[8\]"):
        create_sognet_force(exported, [11, 8])
    system, positions, numbers = _system_and_positions(16)
    system.addForce(create_sognet_force(exported, numbers[:-1], implementation="python"))
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions)
    with pytest.raises(Exception, match="particles but the SOG-Net force was built for 15"):
        context.getState(getEnergy=True)
