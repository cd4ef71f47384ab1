"""Adversarial files: every way a model file, checkpoint or export can be unsafe, damaged, too
new or of the wrong kind, through every path that reads one. Each is refused with an exception
of the documented type whose message names the problem (and no pickled code ever runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import openmm
import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "model"))
from file_helpers import flip_bit_in_largest_tensor, rewrite_metadata  # noqa: E402
from model_helpers import TRICLINIC, make_model, random_structure, small_config  # noqa: E402

from openmm_sog.openmm_model import create_sognet_force  # noqa: E402
from openmm_sog.training.checkpoint import (  # noqa: E402
    CHECKPOINT_FORMAT_VERSION,
    CheckpointIO,
    TrainingState,
)
from openmm_sog.training.export import export_model, load_exported  # noqa: E402
from openmm_sog.training.integrity import CorruptFileError, FileFormatError  # noqa: E402
from openmm_sog.training.model_io import (  # noqa: E402
    MODEL_FORMAT_VERSION,
    initialize_from,
    load_model,
    read_model_payload,
    save_model,
)
from openmm_sog.units import NM_PER_ANGSTROM  # noqa: E402

NUMBERS = [11, 17, 11, 17]
UNSAFE = "pickled Python objects .* could run code"


class _WritesMarker:
    """Unpickling this calls ``open(marker, "w")``: the file appears if the pickle ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _ExecsMarker(_WritesMarker):
    """Unpickling this runs Python source that writes the marker."""

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A good model file, checkpoint and export of one small model."""
    folder = tmp_path_factory.mktemp("files")
    model = make_model(seed=2)
    model.trained_periodic = True
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)  # a state with tensors to check
    model.energy_components(**random_structure(4, TRICLINIC))["energy_sr"].sum().backward()
    optimizer.step()
    save_model(model, small_config(), "float64", folder / "model_best.pt")
    payload = read_model_payload(folder / "model_best.pt")
    rng = torch.get_rng_state()
    CheckpointIO(folder).save(
        TrainingState(payload, optimizer.state_dict(), None, 3, 0.5, 0, 1.0, rng)
    )
    export_model(model, folder / "export.pt")
    return folder


@pytest.fixture
def malicious(tmp_path):
    """A model file and a checkpoint whose pickles would create ``marker`` when loaded."""
    marker = tmp_path / "MARKER"
    model = tmp_path / "malicious_model.pt"
    torch.save({"config": _WritesMarker(marker), "state_dict": {}}, model)
    run = tmp_path / "run"
    run.mkdir()
    torch.save({"model": {}, "optimizer": _WritesMarker(marker)}, run / "checkpoint_last.pt")
    legacy = tmp_path / "legacy_format.pt"  # torch's pre-zip serialization
    torch.save(_WritesMarker(marker), legacy, _use_new_zipfile_serialization=False)
    source = tmp_path / "exec.pt"
    torch.save({"config": {}, "state_dict": {"w": _ExecsMarker(marker)}}, source)
    yield {"model": model, "run": run, "legacy": legacy, "exec": source}
    assert not marker.exists(), "a pickle ran code"


# --- unsafe pickles: refused on every path, never executed ---------------------------------


def test_malicious_model_file_is_refused_by_load_model(malicious):
    with pytest.raises(
        FileFormatError, match=f"malicious_model.pt is not a SOG-Net model .*{UNSAFE}"
    ):
        load_model(malicious["model"])
    with pytest.raises(FileFormatError, match="io.open was not an allowed global"):
        read_model_payload(malicious["legacy"])
    with pytest.raises(FileFormatError, match="GLOBAL exec was not an allowed global"):
        load_model(malicious["exec"])


def test_malicious_model_file_is_refused_by_initialize_from(malicious):
    with pytest.raises(FileFormatError, match=UNSAFE):
        initialize_from(make_model(), small_config(), malicious["model"])


def test_malicious_checkpoint_is_refused_on_resume(malicious):
    with pytest.raises(FileFormatError, match=f"not a training checkpoint .*{UNSAFE}"):
        CheckpointIO(malicious["run"]).load()
    with pytest.raises(FileFormatError, match=UNSAFE):  # a checkpoint is also a model file
        read_model_payload(malicious["run"] / "checkpoint_last.pt")


def test_malicious_file_is_not_an_export(malicious):
    with pytest.raises(FileFormatError, match="is not a SOG-Net export"):
        create_sognet_force(malicious["model"], NUMBERS)


@pytest.mark.parametrize("command", ["eval", "export", "plot"])
def test_malicious_model_file_is_refused_by_the_cli(malicious, tmp_path, command):
    import ase
    import ase.io

    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]], cell=np.eye(3) * 8, pbc=True)
    atoms.info["energy"] = -1.0
    ase.io.write(str(tmp_path / "data.xyz"), atoms, format="extxyz")
    extra = {
        "eval": ["--data", str(tmp_path / "data.xyz")],
        "export": ["-o", str(tmp_path / "out.pt")],
        "plot": ["--data", str(tmp_path / "data.xyz"), "-o", str(tmp_path / "plots")],
    }[command]
    result = subprocess.run(
        [sys.executable, "-m", "openmm_sog.cli.main", command, "--model", str(malicious["model"])]
        + extra,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "could run code" in result.stderr, result.stderr
    assert not (tmp_path / "out.pt").exists()


# --- corruption: one flipped bit -----------------------------------------------------------


def test_flipped_bit_in_a_model_file(files, tmp_path):
    bad = tmp_path / "model_best.pt"
    flip_bit_in_largest_tensor(files / "model_best.pt", bad)
    with pytest.raises(
        CorruptFileError, match="model file checksum mismatch: the file is corrupted"
    ):
        load_model(bad)
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        initialize_from(make_model(), small_config(), bad)


def test_flipped_bit_in_a_checkpoint(files, tmp_path):
    (tmp_path / "checkpoint_last.pt").write_bytes((files / "checkpoint_last.pt").read_bytes())
    assert CheckpointIO(tmp_path).load().epoch == 3  # the good one resumes
    flip_bit_in_largest_tensor(files / "checkpoint_last.pt", tmp_path / "checkpoint_last.pt")
    with pytest.raises(
        CorruptFileError, match="checkpoint checksum mismatch: the file is corrupted"
    ):
        CheckpointIO(tmp_path).load()
    with pytest.raises(CorruptFileError, match="checksum mismatch"):
        load_model(tmp_path / "checkpoint_last.pt")


def test_flipped_bit_in_an_export(files, tmp_path):
    bad = tmp_path / "export.pt"
    flip_bit_in_largest_tensor(files / "export.pt", bad, bit=3)
    with pytest.raises(CorruptFileError, match="export checksum mismatch: the file is corrupted"):
        load_exported(bad)
    with pytest.raises(CorruptFileError, match="export checksum mismatch"):
        create_sognet_force(bad, NUMBERS, implementation="python")


def test_sognet_eval_of_a_corrupted_checkpoint_fails(files, tmp_path):
    """Was: exit status 0 and an energy RMSE of 3.7e26 meV from a silently wrong model."""
    import ase
    import ase.io

    flip_bit_in_largest_tensor(files / "checkpoint_last.pt", tmp_path / "checkpoint_last.pt", 6)
    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]], cell=np.eye(3) * 8, pbc=True)
    atoms.info["energy"] = -1.0
    ase.io.write(str(tmp_path / "data.xyz"), atoms, format="extxyz")
    result = subprocess.run(
        [sys.executable, "-m", "openmm_sog.cli.main", "eval", "--model"]
        + [str(tmp_path / "checkpoint_last.pt"), "--data", str(tmp_path / "data.xyz")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "checksum mismatch: the file is corrupted" in result.stderr, result.stderr


def test_removed_checksum_is_a_mismatch(files, tmp_path):
    payload = torch.load(files / "model_best.pt", weights_only=True)
    del payload["weights_sha256"]
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(CorruptFileError, match="it was written with None"):
        load_model(tmp_path / "model.pt")


# --- versions ------------------------------------------------------------------------------


def test_newer_model_file_and_checkpoint_are_refused(files, tmp_path):
    for name, kind, supported in (
        ("model_best.pt", "model file", MODEL_FORMAT_VERSION),
        ("checkpoint_last.pt", "checkpoint", CHECKPOINT_FORMAT_VERSION),
    ):
        payload = torch.load(files / name, weights_only=True)
        payload["format_version"] = 7
        torch.save(payload, tmp_path / name)
        with pytest.raises(
            FileFormatError, match=f"{kind} format_version 7 is newer than the {supported}"
        ):
            read_model_payload(tmp_path / name)
    with pytest.raises(FileFormatError, match="checkpoint format_version 7 is newer"):
        CheckpointIO(tmp_path).load()


def test_newer_and_invalid_export_versions_are_refused(files, tmp_path):
    rewrite_metadata(
        files / "export.pt", tmp_path / "newer.pt", lambda m: m.update(format_version=2)
    )
    with pytest.raises(
        FileFormatError, match=r"export format_version 2 is newer than the 1 .*0\.1"
    ):
        load_exported(tmp_path / "newer.pt")
    rewrite_metadata(
        files / "export.pt", tmp_path / "bad.pt", lambda m: m.update(format_version="1")
    )
    with pytest.raises(FileFormatError, match="invalid format_version '1'"):
        create_sognet_force(tmp_path / "bad.pt", NUMBERS)


def test_format_0_model_file_loads_unchecked(files, tmp_path):
    """A model file from before format_version (as the models shipped until then)."""
    payload = torch.load(files / "model_best.pt", weights_only=True)
    for key in ("format_version", "openmm_sog_version", "weights_sha256", "periodic"):
        del payload[key]
    torch.save(payload, tmp_path / "old.pt")
    old, new = load_model(tmp_path / "old.pt"), load_model(files / "model_best.pt")
    assert old.trained_periodic is None and new.trained_periodic is True
    for name, value in new.state_dict().items():
        assert torch.equal(old.state_dict()[name], value)


# --- truncated, text, wrong kind, missing --------------------------------------------------


def test_truncated_files(files, tmp_path):
    for name in ("model_best.pt", "export.pt"):
        data = (files / name).read_bytes()
        (tmp_path / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(FileFormatError, match="model_best.pt is not a SOG-Net model file"):
        load_model(tmp_path / "model_best.pt")
    with pytest.raises(FileFormatError, match="export.pt is not a SOG-Net export"):
        create_sognet_force(tmp_path / "export.pt", NUMBERS)


def test_text_files(tmp_path):
    text = tmp_path / "notes.pt"
    text.write_text("cutoff: 5.0\nthis is a YAML config, not a model\n")
    with pytest.raises(
        FileFormatError,
        match=r"notes.pt is not a SOG-Net model file \(the model_.*neither a torch file",
    ):
        load_model(text)
    with pytest.raises(FileFormatError, match="notes.pt is not a SOG-Net export: .*sognet export"):
        create_sognet_force(text, NUMBERS)


def test_export_where_a_model_file_is_expected(files):
    with pytest.raises(FileFormatError, match=r"is a TorchScript export \(`sognet export`\), not"):
        load_model(files / "export.pt")


def test_model_file_where_an_export_is_expected(files):
    with pytest.raises(
        FileFormatError, match="not a SOG-Net export but a model file .*sognet export"
    ):
        create_sognet_force(files / "model_best.pt", NUMBERS)


def test_torchscript_module_that_is_not_a_sog_net(tmp_path):
    torch.jit.script(torch.nn.Linear(3, 1)).save(str(tmp_path / "linear.pt"))
    with pytest.raises(FileFormatError, match="without SOG-Net metadata.json; export one with"):
        create_sognet_force(tmp_path / "linear.pt", NUMBERS)


def test_pickle_without_a_state_dict(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "weights.pt")
    with pytest.raises(FileFormatError, match="not a SOG-Net model file .*: it has no state_dict"):
        load_model(tmp_path / "weights.pt")


def test_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="not found: .*missing.pt"):
        load_model(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="SOG-Net export not found"):
        create_sognet_force(tmp_path / "missing.pt", NUMBERS)
    assert CheckpointIO(tmp_path).load() is None  # nothing to resume: a fresh run


# --- a good file used wrongly -------------------------------------------------------------


def test_wrong_species(files):
    with pytest.raises(ValueError, match=r"atomic numbers \[1, 8\] are not among .*\[11, 17\]"):
        create_sognet_force(files / "export.pt", [11, 8, 1])


def test_periodic_model_run_non_periodic_warns(files):
    with pytest.warns(UserWarning, match="trained on periodic structures but is run non-periodic"):
        force = create_sognet_force(files / "export.pt", NUMBERS, periodic=False)
    assert not force.usesPeriodicBoundaryConditions()


def test_atoms_at_the_same_position_are_named(files):
    structure = random_structure(6, TRICLINIC, seed=3)
    numbers = structure["atomic_numbers"].tolist()
    positions = structure["positions"].numpy() * NM_PER_ANGSTROM
    positions[4] = positions[1] + np.array(TRICLINIC[2]) * NM_PER_ANGSTROM  # a periodic image
    positions[5] = positions[1]
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        *(openmm.Vec3(*row) for row in np.array(TRICLINIC) * NM_PER_ANGSTROM)
    )
    for _ in numbers:
        system.addParticle(20.0)
    system.addForce(create_sognet_force(files / "export.pt", numbers, implementation="python"))
    context = openmm.Context(
        system, openmm.VerletIntegrator(1e-3), openmm.Platform.getPlatformByName("Reference")
    )
    context.setPositions(positions)
    with pytest.raises(openmm.OpenMMException, match="atoms 1 and 4 are at the same position"):
        context.getState(getEnergy=True, getForces=True)
