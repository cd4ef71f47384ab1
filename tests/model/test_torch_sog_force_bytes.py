"""TorchSOGForce carries its model: the file's bytes are read when the force is created, held by
it and written into its XML (base64), so a saved System runs where the file is not.

The kernel loads the model from those bytes and still checks the weights against the SHA-256 in
the export's metadata.json, so a bit flipped in the XML's model is refused like one in a file.
XML of version 1 (the path alone) is still read, from the path.
"""

import base64
import copy
import re
import subprocess
import sys
import textwrap

import numpy as np
import openmm
import pytest
from file_helpers import flip_bit_in_largest_tensor
from model_helpers import TRICLINIC, make_model, random_structure

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.training.export import export_model
from openmm_sog.units import NM_PER_ANGSTROM

try:
    from openmm_sog.plugin import TorchSOGForce
except ImportError as error:
    pytest.skip(f"the openmm_sog native plugin is not built: {error}", allow_module_level=True)

KJ_NM = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
NUM_ATOMS = 16
MODEL_ELEMENT = re.compile(r'<Model base64="([^"]*)" size="(\d+)"/>')


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "model.pt"
    export_model(make_model(seed=5), path)
    return path


@pytest.fixture(scope="module")
def structure():
    return random_structure(NUM_ATOMS, TRICLINIC, seed=6)


def _system(force):
    """A System of the test's box holding ``force``, which it then owns: keep the System while the
    force is used."""
    system = openmm.System()
    box_nm = np.array(TRICLINIC) * NM_PER_ANGSTROM
    system.setDefaultPeriodicBoxVectors(*(openmm.Vec3(*row) for row in box_nm))
    for _ in range(NUM_ATOMS):
        system.addParticle(20.0)
    system.addForce(force)
    return system


def _evaluate(system, positions_nm, platform="Reference"):
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName(platform)
    )
    context.setPositions(positions_nm)
    state = context.getState(getEnergy=True, getForces=True)
    energy = state.getPotentialEnergy().value_in_unit(openmm.unit.kilojoule_per_mole)
    return energy, state.getForces(asNumpy=True).value_in_unit(KJ_NM)


def _positions(structure):
    return structure["positions"].numpy() * NM_PER_ANGSTROM


def _native_force(path, structure):
    numbers = structure["atomic_numbers"].tolist()
    return create_sognet_force(path, numbers, implementation="native", tolerance=1e-9)


def _model_text(xml):
    """The base64 text of the model in a TorchSOGForce's XML."""
    (text,) = [match.group(1) for match in MODEL_ELEMENT.finditer(xml)]
    return text


def _version_1(xml):
    """The XML as version 1 wrote it: the path alone, no <Model>."""
    old, count = MODEL_ELEMENT.subn("", xml)
    assert count == 1
    old, count = re.subn(r'(type="TorchSOGForce" version=)"3"', r'\1"1"', old)
    assert count == 1
    return old


def test_the_force_holds_the_file_bytes(exported, structure):
    force = _native_force(exported, structure)
    assert isinstance(force.getModelBytes(), bytes)
    assert force.getModelBytes() == exported.read_bytes()
    assert force.getFile() == str(exported.resolve())
    # The XML and copies (openmm-ml deep-copies its Systems) carry the bytes too.
    xml = openmm.XmlSerializer.serialize(force)
    assert base64.b64decode(_model_text(xml), validate=True) == exported.read_bytes()
    copied = copy.deepcopy(_system(force))
    assert TorchSOGForce.cast(copied.getForce(0)).getModelBytes() == exported.read_bytes()


def test_a_force_from_bytes_equals_one_from_the_file(exported, structure):
    from_file = _native_force(exported, structure)
    numbers = structure["atomic_numbers"].tolist()
    system = _system(from_file)
    results = [_evaluate(system, _positions(structure))]
    for data in (exported.read_bytes(), bytearray(exported.read_bytes())):
        from_bytes = TorchSOGForce.fromBytes(data, numbers, from_file.getNumChannels())
        assert from_bytes.getFile() == ""
        assert from_bytes.getModelBytes() == exported.read_bytes()
        for i in range(from_file.getNumGaussians()):
            from_bytes.addGaussian(*from_file.getGaussianParameters(i))
        from_bytes.setTolerance(from_file.getTolerance())
        results.append(_evaluate(_system(from_bytes), _positions(structure)))
    for energy, forces in results[1:]:
        assert energy == results[0][0]
        np.testing.assert_array_equal(forces, results[0][1])
    named = TorchSOGForce.fromBytes(exported.read_bytes(), numbers, 2, "/elsewhere/model.pt")
    assert named.getFile() == "/elsewhere/model.pt"


def test_bytes_in_must_be_bytes(exported):
    with pytest.raises(TypeError, match="TorchSOGForce: modelBytes must be bytes .* not str"):
        TorchSOGForce.fromBytes(str(exported), [11, 17], 1)
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce: the model bytes are empty"):
        TorchSOGForce.fromBytes(b"", [11, 17], 1)


def test_a_saved_system_runs_without_the_model_file(exported, structure, tmp_path):
    """Saved, the file deleted, then loaded in a fresh process: the same energy and forces."""
    moved = tmp_path / "moved.pt"
    moved.write_bytes(exported.read_bytes())
    system = _system(_native_force(moved, structure))
    energy, forces = _evaluate(system, _positions(structure))
    (tmp_path / "system.xml").write_text(openmm.XmlSerializer.serialize(system))
    np.save(tmp_path / "positions.npy", _positions(structure))
    moved.unlink()
    platforms = ["Reference"]
    names = [
        openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())
    ]
    if "OpenCL" in names:
        platforms.append("OpenCL")
    script = textwrap.dedent(
        f"""
        import numpy as np, openmm
        import openmm_sog  # registers the vesin neighbour list type the model uses
        system = openmm.XmlSerializer.deserialize(open({str(tmp_path / "system.xml")!r}).read())
        for name in {platforms!r}:
            properties = {{"Precision": "double"}} if name == "OpenCL" else {{}}
            context = openmm.Context(system, openmm.VerletIntegrator(1e-3),
                                     openmm.Platform.getPlatformByName(name), properties)
            context.setPositions(np.load({str(tmp_path / "positions.npy")!r}))
            state = context.getState(getEnergy=True, getForces=True)
            unit = openmm.unit.kilojoule_per_mole / openmm.unit.nanometer
            np.save({str(tmp_path)!r} + "/forces_" + name + ".npy",
                    state.getForces(asNumpy=True).value_in_unit(unit))
            print("energy", name, repr(state.getPotentialEnergy().value_in_unit(
                openmm.unit.kilojoule_per_mole)))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    lines = [line.split() for line in result.stdout.splitlines() if line.startswith("energy ")]
    energies = {name: float(value) for _, name, value in lines}
    assert sorted(energies) == sorted(platforms)
    scale = np.sqrt(np.mean(forces**2))
    assert energies["Reference"] == pytest.approx(energy, rel=1e-12)
    reference_forces = np.load(tmp_path / "forces_Reference.npy")
    np.testing.assert_allclose(reference_forces, forces, rtol=0, atol=1e-12 * scale)
    if "OpenCL" in platforms:  # double precision: the checks of test_torch_sog_force.py
        assert energies["OpenCL"] == pytest.approx(energy, rel=1e-7)
        assert np.abs(np.load(tmp_path / "forces_OpenCL.npy") - forces).max() < 1e-6 * scale


def test_version_1_xml_is_read_from_the_path(exported, structure, tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(exported.read_bytes())
    force = _native_force(path, structure)
    new = openmm.XmlSerializer.serialize(force)
    old = _version_1(new)
    restored = TorchSOGForce.cast(openmm.XmlSerializer.deserialize(old))
    assert restored.getModelBytes() == exported.read_bytes()
    assert restored.getFile() == str(path.resolve())
    positions = _positions(structure)
    assert _evaluate(_system(restored), positions)[0] == _evaluate(_system(force), positions)[0]
    path.unlink()
    with pytest.raises(
        openmm.OpenMMException,
        match="TorchSOGForce XML: version 1 stores the model by its path: cannot open the model "
        "file '.*model.pt'.*put the file there",
    ):
        openmm.XmlSerializer.deserialize(old)
    # XML of the current version, written while the file was there, holds the model still.
    again = TorchSOGForce.cast(openmm.XmlSerializer.deserialize(new))
    assert again.getModelBytes() == exported.read_bytes()


def test_a_bit_flipped_in_the_xml_model_is_refused(exported, structure, tmp_path):
    force = _native_force(exported, structure)
    xml = openmm.XmlSerializer.serialize(_system(force))
    corrupted = tmp_path / "corrupted.pt"
    flip_bit_in_largest_tensor(exported, corrupted)
    text = _model_text(xml)
    damaged = base64.b64encode(corrupted.read_bytes()).decode()
    assert len(damaged) == len(text) and damaged != text
    system = openmm.XmlSerializer.deserialize(xml.replace(text, damaged))
    with pytest.raises(
        openmm.OpenMMException,
        match="TorchSOGForce: '.*model.pt': export checksum mismatch: the file is corrupted",
    ):
        _evaluate(system, _positions(structure))
    # From bytes without a name, the message says so.
    numbers = structure["atomic_numbers"].tolist()
    unnamed = TorchSOGForce.fromBytes(corrupted.read_bytes(), numbers, 2)
    unnamed.addGaussian(1.0, 0.3, 0)
    message = "TorchSOGForce: the given model bytes: export checksum mismatch"
    with pytest.raises(openmm.OpenMMException, match=message):
        _evaluate(_system(unnamed), _positions(structure))


def test_damaged_base64_is_refused_with_its_cause(exported, structure):
    xml = openmm.XmlSerializer.serialize(_native_force(exported, structure))
    text = _model_text(xml)
    size = len(exported.read_bytes())
    where = "TorchSOGForce XML, <Model>: "
    cases = [
        (
            text[:-1],
            f"{where}the model's base64 text has {len(text) - 1} characters, not a "
            "multiple of 4 \\(the XML is truncated or was edited",
        ),
        (
            text[: len(text) // 2 // 4 * 4],
            f"{where}the base64 text decodes to \\d+ bytes but the "
            f"model has {size} \\(the XML is truncated",
        ),
        (
            text[:10] + "*" + text[11:],
            f"{where}the model's base64 text has an invalid character '\\*' at position 10",
        ),
    ]
    for replacement, message in cases:
        with pytest.raises(openmm.OpenMMException, match=message):
            openmm.XmlSerializer.deserialize(xml.replace(text, replacement))
    with pytest.raises(openmm.OpenMMException, match="TorchSOGForce XML: missing element <Model>"):
        openmm.XmlSerializer.deserialize(MODEL_ELEMENT.sub("", xml))


@pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
def test_copies_of_the_force_are_working_forces(exported, structure, how):
    """copy, deepcopy and pickle give a TorchSOGForce (openmm.Force's own copy gave a proxy
    whose methods raised TypeError) with the same model and the same energy."""
    import pickle

    original = _native_force(exported, structure)
    duplicate = {
        "copy": copy.copy,
        "deepcopy": copy.deepcopy,
        "pickle": lambda force: pickle.loads(pickle.dumps(force)),
    }[how](original)
    assert isinstance(duplicate, TorchSOGForce)
    assert duplicate.getModelBytes() == original.getModelBytes()
    energy, forces = _evaluate(_system(duplicate), _positions(structure))
    reference, reference_forces = _evaluate(_system(original), _positions(structure))
    assert energy == reference
    np.testing.assert_array_equal(forces, reference_forces)
