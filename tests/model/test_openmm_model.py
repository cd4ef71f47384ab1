"""An exported SOG-Net inside OpenMM through PythonForce: units, consistency and bad input.

The native TorchSOGForce is tested in tests/model/test_torch_sog_force.py, damaged and unsafe
files in tests/adversarial/test_model_files.py."""

import copy
import warnings

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


def _energy(context, positions):
    context.setPositions(positions)
    state = context.getState(getEnergy=True)
    return state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)


def test_non_periodic_cluster_is_the_eager_model_and_minus_its_energy_gradient(tmp_path):
    """A model trained on clusters runs non-periodic by default (no box vectors asked for)."""
    model = make_model(seed=7)
    model.trained_periodic = False
    path = tmp_path / "cluster.pt"
    assert export_model(model, path)["periodic"] is False
    cluster = random_structure(10, None, seed=8)
    numbers = cluster["atomic_numbers"].tolist()
    force = create_sognet_force(path, numbers, implementation="python")
    assert isinstance(force, openmm.PythonForce) and not force.usesPeriodicBoundaryConditions()
    system = openmm.System()
    for _ in numbers:
        system.addParticle(20.0)
    system.addForce(force)
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    positions = cluster["positions"].numpy() * NM_PER_ANGSTROM
    context.setPositions(positions)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    forces = state.getForces(asNumpy=True).value_in_unit(
        openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
    )
    # Oracle: the eager float64 model on the free cluster (zero cell, pbc false).
    out = model(**cluster)
    assert energy == pytest.approx(float(out["energy"].detach()[0]) * KJ_PER_MOL_PER_EV, rel=1e-9)
    expected = out["forces"].detach().numpy() * KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM
    np.testing.assert_allclose(forces, expected, rtol=1e-8, atol=1e-8)
    assert np.abs(forces).max() > 1.0  # a real force field, not zeros
    h = 1e-5
    for i, d in [(0, 0), (4, 2), (9, 1)]:
        plus, minus = positions.copy(), positions.copy()
        plus[i, d] += h
        minus[i, d] -= h
        numeric = -(_energy(context, plus) - _energy(context, minus)) / (2 * h)
        assert forces[i, d] == pytest.approx(numeric, rel=1e-5, abs=1e-4)
    # A non-periodic model does not depend on a box: translating the cluster far away changes
    # nothing (a periodic evaluation in OpenMM's default 2 nm box would).
    assert _energy(context, positions + 7.3) == pytest.approx(energy, rel=1e-10)


@pytest.mark.parametrize("trained", [True, False, None])
def test_periodicity_follows_the_export_and_an_explicit_choice_warns(tmp_path, trained):
    model = make_model(seed=3)
    model.trained_periodic = trained
    path = tmp_path / "model.pt"
    assert export_model(model, path)["periodic"] is trained
    numbers = [11, 17]
    with warnings.catch_warnings():
        warnings.simplefilter(
            "error", UserWarning
        )  # the default takes the metadata's value silently
        default = create_sognet_force(path, numbers, implementation="python")
        # None (an export that does not say, e.g. from before the field existed): periodic
        assert default.usesPeriodicBoundaryConditions() == (trained is not False)
        if trained is not None:  # the same value as the metadata: silent too
            create_sognet_force(path, numbers, periodic=trained, implementation="python")
    for requested in (True, False):
        if trained is None or requested == trained:
            continue
        with pytest.warns(UserWarning, match="was trained on .*periodic=None to follow"):
            force = create_sognet_force(path, numbers, periodic=requested, implementation="python")
        assert force.usesPeriodicBoundaryConditions() == requested


def test_sognet_export_records_the_model_files_periodicity(tmp_path, capsys):
    from model_helpers import small_config

    from openmm_sog.cli.export import main as export_main
    from openmm_sog.training.export import load_exported
    from openmm_sog.training.model_io import save_model

    model = make_model(seed=4)
    model.trained_periodic = False  # as build_model records for a set of molecules
    save_model(model, small_config(), "float64", tmp_path / "model_best.pt")
    export_main(["--model", str(tmp_path / "model_best.pt"), "-o", str(tmp_path / "a.pt")])
    assert load_exported(tmp_path / "a.pt")[1]["periodic"] is False
    # --periodic overrides (for files that do not record it), with a warning when it differs.
    with pytest.warns(UserWarning, match="trained on non-periodic structures"):
        export_main(
            ["--model", str(tmp_path / "model_best.pt"), "-o", str(tmp_path / "b.pt")]
            + ["--periodic", "true"]
        )
    assert load_exported(tmp_path / "b.pt")[1]["periodic"] is True
    capsys.readouterr()


@pytest.mark.parametrize("pbc", [True, False])
def test_build_model_records_the_training_datas_periodicity(tmp_path, pbc):
    import ase
    import ase.io
    from model_helpers import small_config

    from openmm_sog.training.data import read_dataset
    from openmm_sog.training.model_io import build_model, read_model_payload, save_model

    frames = []
    for shift in (0.0, 0.3):
        atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.6 + shift, 0, 0]])
        if pbc:
            atoms.set_cell(np.eye(3) * 8.0)
            atoms.set_pbc(True)
        atoms.info["energy"] = -1.0 - shift
        frames.append(atoms)
    ase.io.write(str(tmp_path / "data.xyz"), frames, format="extxyz")
    model = build_model(small_config(), read_dataset(tmp_path / "data.xyz"), "float64")
    save_model(model, small_config(), "float64", tmp_path / "model_best.pt")
    assert read_model_payload(tmp_path / "model_best.pt")["periodic"] is pbc
    assert export_model(model, tmp_path / "export.pt")["periodic"] is pbc


def test_python_force_of_a_whole_system_survives_copy_and_xml(exported):
    """The PythonForce pickles its computation by the export's path (openmm-ml copies forces)."""
    system, positions, numbers = _system_and_positions(8)
    system.addForce(create_sognet_force(exported, numbers, implementation="python"))
    energies = []
    for candidate in (
        system,
        copy.deepcopy(system),
        openmm.XmlSerializer.deserialize(openmm.XmlSerializer.serialize(system)),
    ):
        context = openmm.Context(
            candidate, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
        )
        energies.append(_energy(context, positions))
    assert energies[1] == energies[0] and energies[2] == energies[0]
