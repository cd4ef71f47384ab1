"""``sognet export --format openmm-torch``: a module that openmm-torch's TorchForce loads as it is.

TorchForce calls ``forward(positions [N,3] nm[, box [3,3] nm])`` and takes the energy in kJ/mol
(and the forces by autograd, or from the module with ``setOutputsForces(True)``). The export is
checked against the PythonForce of the same model and System (OpenMM Reference platform) and
against the eager model; openmm-torch itself runs it where it is importable."""

from __future__ import annotations

import ase
import ase.io
import numpy as np
import openmm
import pytest
import torch
from file_helpers import flip_bit_in_largest_tensor
from model_helpers import TRICLINIC, make_model, random_structure, small_config

from openmm_sog.cli.export import parse_atomic_numbers
from openmm_sog.cli.main import main as sognet
from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.training.errors import SognetError
from openmm_sog.training.export import (
    OPENMM_TORCH_FORMAT,
    export_model,
    export_openmm_torch,
    load_exported,
    load_openmm_torch_export,
    module_digest,
)
from openmm_sog.training.integrity import CorruptFileError, FileFormatError
from openmm_sog.training.model_io import save_model
from openmm_sog.units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM

NUM_ATOMS = 16
KJ_PER_MOL_PER_NM = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer


@pytest.fixture(scope="module")
def model():
    model = make_model(seed=3)
    model.trained_periodic = True
    return model


@pytest.fixture(scope="module")
def structure():
    return random_structure(NUM_ATOMS, TRICLINIC, seed=4)


@pytest.fixture(scope="module")
def files(tmp_path_factory, model, structure):
    """The torchscript export (for the PythonForce) and the openmm-torch exports of one System."""
    folder = tmp_path_factory.mktemp("openmm_torch")
    numbers = structure["atomic_numbers"].tolist()
    export_model(model, folder / "sognet.pt")
    export_openmm_torch(model, folder / "tf.pt", numbers)
    export_openmm_torch(model, folder / "tf_forces.pt", numbers, outputs_forces=True)
    export_openmm_torch(model, folder / "tf_cluster.pt", numbers, periodic=False)
    return folder


def _box_nm() -> np.ndarray:
    return np.array(TRICLINIC) * NM_PER_ANGSTROM


def _python_force_reference(
    export: str, numbers: list[int], positions_nm: np.ndarray, periodic: bool
) -> tuple[float, np.ndarray]:
    """Energy (kJ/mol) and forces (kJ/mol/nm) of the PythonForce on the Reference platform."""
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in _box_nm()))
    for _ in numbers:
        system.addParticle(20.0)
    system.addForce(
        create_sognet_force(export, numbers, periodic=periodic, implementation="python")
    )
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions_nm)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    return energy, state.getForces(asNumpy=True).value_in_unit(KJ_PER_MOL_PER_NM)


def _torch_force_call(module, positions_nm: np.ndarray, box_nm: np.ndarray | None):
    """As TorchForce calls it: energy = forward(positions[, box]), forces = -dE/d positions."""
    positions = torch.tensor(positions_nm, dtype=torch.float64, requires_grad=True)
    args = [positions] if box_nm is None else [positions, torch.tensor(box_nm)]
    energy = module(*args)
    energy.backward()
    return energy.detach(), -positions.grad.numpy()


def test_the_file_loads_with_torch_jit_load_and_has_torchforces_signature(files, structure):
    module = torch.jit.load(str(files / "tf.pt"))
    schema = module.forward.schema
    assert [a.name for a in schema.arguments] == ["self", "positions", "box"]
    assert [str(r.type) for r in schema.returns] == ["Tensor"]
    energy = module(structure["positions"] * NM_PER_ANGSTROM, torch.tensor(_box_nm()))
    assert energy.shape == () and energy.dtype == torch.float64
    with_forces = torch.jit.load(str(files / "tf_forces.pt")).forward.schema
    assert [str(r.type) for r in with_forces.returns] == ["Tuple[Tensor, Tensor]"]
    cluster = torch.jit.load(str(files / "tf_cluster.pt"))
    assert cluster(structure["positions"] * NM_PER_ANGSTROM).shape == ()


def test_metadata_and_checksum(files, structure):
    module, meta = load_openmm_torch_export(files / "tf.pt")
    assert meta["format"] == OPENMM_TORCH_FORMAT
    assert meta["units"] == {
        "length": "nm",
        "energy": "kJ/mol",
        "charge": "e",
        "forces": "kJ/mol/nm",
    }
    assert meta["particle_atomic_numbers"] == structure["atomic_numbers"].tolist()
    assert meta["atomic_numbers"] == [11, 17]  # the model's species, as in every export
    assert meta["openmm_torch"] == {
        "forward": "forward(positions [N,3] nm, box [3,3] nm) -> energy kJ/mol",
        "num_particles": NUM_ATOMS,
        "uses_periodic_boundary_conditions": True,
        "outputs_forces": False,
    }
    assert meta["format_version"] == 1 and meta["weights_sha256"] == module_digest(module)
    # Same model, same SOG kernel metadata as the torchscript export.
    assert meta["sog"] == load_exported(files / "sognet.pt")[1]["sog"]
    cluster = load_openmm_torch_export(files / "tf_cluster.pt")[1]["openmm_torch"]
    assert cluster["uses_periodic_boundary_conditions"] is False
    assert cluster["forward"] == "forward(positions [N,3] nm) -> energy kJ/mol"


def test_energy_and_forces_equal_the_python_force_and_the_eager_model(files, model, structure):
    numbers = structure["atomic_numbers"].tolist()
    positions_nm = structure["positions"].numpy() * NM_PER_ANGSTROM
    energy, forces = _python_force_reference(str(files / "sognet.pt"), numbers, positions_nm, True)
    module = torch.jit.load(str(files / "tf.pt"))
    tf_energy, tf_forces = _torch_force_call(module, positions_nm, _box_nm())
    assert float(tf_energy) == pytest.approx(energy, rel=1e-9)
    np.testing.assert_allclose(tf_forces, forces, rtol=1e-9, atol=1e-9 * np.abs(forces).max())
    eager = model(**structure)
    assert float(tf_energy) == pytest.approx(
        float(eager["energy"].detach()) * KJ_PER_MOL_PER_EV, rel=1e-9
    )
    np.testing.assert_allclose(
        tf_forces,
        eager["forces"].detach().numpy() * KJ_PER_MOL_PER_EV / NM_PER_ANGSTROM,
        rtol=1e-9,
        atol=1e-9 * np.abs(forces).max(),
    )
    # The long range matters here: without it the energy would be far off.
    assert abs(float(model.energy_components(**structure)["energy_lr"].detach())) > 1e-3
    # setOutputsForces(True) kind: the same energy and forces, from the module.
    with_forces = torch.jit.load(str(files / "tf_forces.pt"))
    energy_2, forces_2 = with_forces(torch.tensor(positions_nm), torch.tensor(_box_nm()))
    assert float(energy_2) == pytest.approx(energy, rel=1e-9)
    assert not energy_2.requires_grad and not forces_2.requires_grad
    np.testing.assert_allclose(forces_2.numpy(), tf_forces, rtol=1e-12, atol=1e-12)


def test_non_periodic_export_equals_the_cluster_python_force(files, structure):
    numbers = structure["atomic_numbers"].tolist()
    positions_nm = structure["positions"].numpy() * NM_PER_ANGSTROM
    with pytest.warns(UserWarning, match="trained on periodic"):
        energy, forces = _python_force_reference(
            str(files / "sognet.pt"), numbers, positions_nm, False
        )
    module = torch.jit.load(str(files / "tf_cluster.pt"))
    tf_energy, tf_forces = _torch_force_call(module, positions_nm, None)
    assert float(tf_energy) == pytest.approx(energy, rel=1e-9)
    np.testing.assert_allclose(tf_forces, forces, rtol=1e-9, atol=1e-9 * np.abs(forces).max())
    periodic = torch.jit.load(str(files / "tf.pt"))(
        torch.tensor(positions_nm), torch.tensor(_box_nm())
    )
    assert abs(float(periodic) - energy) > 1e-6  # the box matters


def test_float32_positions_get_float32_gradients(files, structure):
    """TorchForce's single/mixed precision platforms pass float32 positions."""
    module = torch.jit.load(str(files / "tf.pt"))
    positions = (structure["positions"] * NM_PER_ANGSTROM).float().requires_grad_(True)
    energy = module(positions, torch.tensor(_box_nm(), dtype=torch.float32))
    energy.backward()
    assert positions.grad.dtype == torch.float32 and torch.isfinite(positions.grad).all()


def test_bad_calls_are_clear_errors(files, structure):
    module = torch.jit.load(str(files / "tf.pt"))
    positions = structure["positions"] * NM_PER_ANGSTROM
    box = torch.tensor(_box_nm())
    with pytest.raises(torch.jit.Error, match=r"shape \[15, 3\].*System of 16 particles"):
        module(positions[:15], box)
    with pytest.raises(torch.jit.Error, match="setUsesPeriodicBoundaryConditions\\(True\\)"):
        module(positions)
    with pytest.raises(torch.jit.Error, match=r"box of shape \[3\]"):
        module(positions, box[0])
    cluster = torch.jit.load(str(files / "tf_cluster.pt"))
    with pytest.raises(torch.jit.Error, match="non-periodic .* was given a box"):
        cluster(positions, box)
    with_forces = torch.jit.load(str(files / "tf_forces.pt"))
    with torch.no_grad(), pytest.raises(torch.jit.Error, match="forces need autograd"):
        with_forces(positions, box)


def test_export_refuses_unknown_species_and_no_atoms(model, tmp_path):
    with pytest.raises(SognetError, match=r"atomic numbers \[8\] are not among .*\[11, 17\]"):
        export_openmm_torch(model, tmp_path / "x.pt", [11, 8, 17])
    with pytest.raises(SognetError, match="needs the System's atomic numbers"):
        export_openmm_torch(model, tmp_path / "x.pt", [])
    assert not (tmp_path / "x.pt").exists()


def test_each_loader_refuses_the_other_kind_and_corruption(files, tmp_path, structure):
    with pytest.raises(
        FileFormatError, match="for openmm-torch's TorchForce.*--format torchscript"
    ):
        load_exported(files / "tf.pt")
    with pytest.raises(FileFormatError, match="for openmm-torch's TorchForce"):
        create_sognet_force(files / "tf.pt", structure["atomic_numbers"].tolist())
    with pytest.raises(FileFormatError, match="not for openmm-torch.*--format openmm-torch"):
        load_openmm_torch_export(files / "sognet.pt")
    bad = tmp_path / "bad.pt"
    flip_bit_in_largest_tensor(files / "tf.pt", bad, bit=3)
    with pytest.raises(CorruptFileError, match="export checksum mismatch"):
        load_openmm_torch_export(bad)


# --- the command line --------------------------------------------------------------------


@pytest.fixture(scope="module")
def model_file(tmp_path_factory, model):
    path = tmp_path_factory.mktemp("cli") / "model_best.pt"
    save_model(model, small_config(), "float64", path)
    return path


def test_cli_without_atomic_numbers_is_a_one_line_error(model_file, tmp_path, capsys):
    args = ["export", "--format", "openmm-torch", "--model", str(model_file)]
    assert sognet([*args, "-o", str(tmp_path / "tf.pt")]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("sognet export: error: ")
    assert "--structure" in error and "--atomic-numbers" in error
    assert (
        sognet(["export", "--model", str(model_file), "-o", "x.pt", "--atomic-numbers", "11"]) == 1
    )
    assert "only apply to --format openmm-torch" in capsys.readouterr().err
    assert not (tmp_path / "tf.pt").exists()


def test_cli_writes_the_export_from_a_structure_or_a_list(model_file, tmp_path, structure, capsys):
    numbers = structure["atomic_numbers"].tolist()
    atoms = ase.Atoms(
        numbers=numbers, positions=structure["positions"].numpy(), cell=TRICLINIC, pbc=True
    )
    ase.io.write(tmp_path / "system.xyz", atoms, format="extxyz")
    base = ["export", "--format", "openmm-torch", "--model", str(model_file)]
    assert (
        sognet([*base, "-o", str(tmp_path / "a.pt"), "--structure", str(tmp_path / "system.xyz")])
        == 0
    )
    listed = "11*1,Cl," + ",".join(str(z) for z in numbers[2:])
    assert sognet([*base, "-o", str(tmp_path / "b.pt"), "--atomic-numbers", listed]) == 0
    capsys.readouterr()
    (module_a, meta_a), (_, meta_b) = (
        load_openmm_torch_export(tmp_path / name) for name in ("a.pt", "b.pt")
    )
    assert meta_a["particle_atomic_numbers"] == meta_b["particle_atomic_numbers"] == numbers
    assert meta_a["weights_sha256"] == meta_b["weights_sha256"]
    energy = module_a(structure["positions"] * NM_PER_ANGSTROM, torch.tensor(_box_nm()))
    reference = make_model(seed=3)(**structure)["energy"].detach()
    assert float(energy) == pytest.approx(float(reference) * KJ_PER_MOL_PER_EV, rel=1e-9)


def test_atomic_numbers_option_syntax():
    assert parse_atomic_numbers("11*2, Cl,17") == [11, 11, 17, 17]
    for bad in ("0", "11*0", "Xx", "11,,17", "119"):
        with pytest.raises(SognetError, match="--atomic-numbers: cannot read"):
            parse_atomic_numbers(bad)


# --- openmm-torch itself -----------------------------------------------------------------


def test_runs_inside_openmm_torchs_torchforce(files, structure):
    openmmtorch = pytest.importorskip(
        "openmmtorch",
        reason="openmm-torch is not installed (its PyPI wheel needs CUDA torch; conda-forge "
        "has it); the module's contract is checked above by calling it as TorchForce does",
    )
    numbers = structure["atomic_numbers"].tolist()
    positions_nm = structure["positions"].numpy() * NM_PER_ANGSTROM
    energy, forces = _python_force_reference(str(files / "sognet.pt"), numbers, positions_nm, True)
    for name, outputs_forces in (("tf.pt", False), ("tf_forces.pt", True)):
        load_openmm_torch_export(files / name)  # imports vesin_torch, which the module needs
        system = openmm.System()
        system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in _box_nm()))
        for _ in numbers:
            system.addParticle(20.0)
        force = openmmtorch.TorchForce(str(files / name))
        force.setUsesPeriodicBoundaryConditions(True)
        force.setOutputsForces(outputs_forces)
        system.addForce(force)
        context = openmm.Context(
            system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
        )
        context.setPositions(positions_nm)
        state = context.getState(getEnergy=True, getForces=True)
        tf_energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
        tf_forces = state.getForces(asNumpy=True).value_in_unit(KJ_PER_MOL_PER_NM)
        assert tf_energy == pytest.approx(energy, rel=1e-9)
        np.testing.assert_allclose(tf_forces, forces, rtol=1e-9, atol=1e-9 * np.abs(forces).max())
