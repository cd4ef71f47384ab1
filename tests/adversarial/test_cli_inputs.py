"""Adversarial inputs to the ``sognet`` command line and the training config.

Each bad input must end with a nonzero exit status and one line on stderr,
``sognet <command>: error: <message>``, that names the problem (the key, the value or the
file) and, where there is one, the remedy -- no traceback. Most cases call
``openmm_sog.cli.main.main`` in-process (fast); two run the real command in a subprocess.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from openmm_sog.cli.main import main as sognet
from openmm_sog.training.config import ConfigError, load_config
from openmm_sog.training.errors import RunFolderError
from openmm_sog.training.reference_energies import reference_energies


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Config paths are relative to the working directory: every test works in its tmp_path."""
    monkeypatch.chdir(tmp_path)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # 2 shared cores
    yield
    torch.set_num_threads(previous)


def write_data(
    path: Path, frames: int = 4, energy_key: str = "energy", forces_key: str = "forces"
) -> Path:
    """Periodic Na4Cl4 frames with a smooth pair energy (eV) and its forces (eV/A), labelled
    under ``energy_key`` / ``forces_key`` (ASE keeps non-standard keys in info / arrays)."""
    import ase
    import ase.io

    rng = np.random.default_rng(0)
    box = 8.0
    grid = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
    out = []
    for _ in range(frames):
        pos = (grid + 0.5) * box / 2 + 0.3 * rng.standard_normal(grid.shape)
        d = pos[None] - pos[:, None]
        d -= box * np.round(d / box)
        r = np.linalg.norm(d, axis=-1) + np.eye(len(pos))
        pair = np.where(np.eye(len(pos)) > 0, 0.0, 2.0 * np.exp(-r))
        energy = 0.5 * float(pair.sum())
        forces = -((pair / r)[..., None] * d).sum(1)  # F_i = -dE/dr_i, d_ij = r_j - r_i
        atoms = ase.Atoms("NaCl" * 4, positions=pos, cell=np.eye(3) * box, pbc=True)
        atoms.info[energy_key] = energy
        atoms.arrays[forces_key] = forces
        out.append(atoms)
    ase.io.write(str(path), out, format="extxyz")
    return path


def config_values(**sections: dict) -> dict:
    """A tiny SOG-Net config (one training epoch of a few ms), with ``sections`` merged in."""
    values = {
        "seed": 0,
        "data": {"train": "toy.xyz", "validation_fraction": 0.25},
        "model": {
            "cutoff": 3.5,
            "inner_cutoff": 2.5,
            "embedding_sizes": [4, 4],
            "axis_features": 2,
            "fitting_sizes": [4],
            "charge_sizes": [4],
            "num_gaussians": 3,
        },
        "training": {
            "epochs": 1,
            "batch_size": 2,
            "progress": False,
            "num_threads": 1,
            "reference_energies": "average",
        },
        "output": {"directory": "run"},
    }
    for name, values_of_section in sections.items():
        values[name] = (
            dict(values[name], **values_of_section)
            if isinstance(values_of_section, dict)
            else values_of_section
        )
    return values


def write_config(values: dict, name: str = "config.yaml") -> str:
    Path(name).write_text(yaml.safe_dump(values))
    return name


def fails(capsys, argv: list[str], *fragments: str, status: int = 1) -> str:
    """Run ``sognet ARGV``; assert the exit status and one error line naming ``fragments``."""
    assert sognet(argv) == status
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"sognet {argv[0]}: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


def train_fails(capsys, values: dict, *fragments: str) -> str:
    write_data(Path("toy.xyz"))
    return fails(capsys, ["train", "--config", write_config(values)], *fragments)


# ----------------------------------------------------------------- config keys and types


def test_unknown_key_names_it_and_the_close_match(capsys):
    values = config_values(training={"learning_rat": 0.01})
    train_fails(capsys, values, "unknown config key 'training.learning_rat'", "learning_rate")


def test_bad_process_counts_are_one_line(capsys, monkeypatch):
    write_data(Path("toy.xyz"))
    config = write_config(config_values())
    fails(capsys, ["train", "--config", config, "--nproc", "0"], "--nproc must be >= 1, got 0")
    cuda = write_config(config_values(training={"device": "cuda:0"}))
    fails(capsys, ["train", "--config", cuda, "--nproc", "2"], "every process needs its own GPU")
    if not torch.cuda.is_available():
        gpus = write_config(config_values(training={"device": "cuda"}))
        fails(
            capsys, ["train", "--config", gpus, "--nproc", "2"], "needs 2 GPUs; this machine has 0"
        )
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "0")
    fails(capsys, ["train", "--config", config, "--nproc", "2"], "--nproc under torchrun")


def test_a_device_this_machine_lacks_is_one_line(capsys):
    if torch.cuda.is_available() and torch.cuda.device_count() > 9:
        pytest.skip("this machine has a GPU 9")
    values = config_values(training={"device": "cuda:9"})
    train_fails(capsys, values, "training.device is 'cuda:9' but torch")
    values = config_values(training={"device": "tpu"})
    train_fails(capsys, values, "training.device: must be 'cpu', 'cuda' or 'cuda:N'")
    values = config_values(training={"gpu": True})
    train_fails(capsys, values, "unknown config key 'training.gpu'", "training.device")


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("training", "learning_rate", "fast", "expected a number, got 'fast' (str)"),
        ("training", "epochs", 2.5, "expected an integer, got 2.5 (float)"),
        ("training", "batch_size", "4", "expected an integer, got '4' (str)"),
        ("training", "progress", "yes", "expected true/false, got 'yes'"),
        ("model", "embedding_sizes", 16, "expected a list of (an integer), got 16"),
        ("model", "cutoff", [5.0], "expected a number, got [5.0] (list)"),
        ("model", "initial_charges", {"Na": 1.0}, "(key 'Na'): expected an integer"),
        ("data", "train", 12, "expected a string, got 12 (int)"),
    ],
)
def test_wrong_types_name_key_value_and_type(capsys, section, key, value, expected):
    values = config_values(**{section: {key: value}})
    train_fails(capsys, values, f"config key {section}.{key}", expected)


@pytest.mark.parametrize(
    ("section", "key", "value", "expected"),
    [
        ("training", "epochs", -3, "training.epochs: must be >= 1, got -3"),
        ("training", "batch_size", 0, "training.batch_size: must be >= 1, got 0"),
        ("training", "learning_rate", -1e-3, "training.learning_rate: must be > 0"),
        ("training", "force_weight", -1.0, "training.force_weight: must be >= 0"),
        ("training", "scheduler", "cosine", "'cosine' is not one of plateau, exponential, none"),
        ("training", "dtype", "float16", "training.dtype: 'float16' is not one of float32"),
        ("training", "reference_energies", "median", "'median' is not one of fit, average"),
        ("data", "format", "xyz", "data.format: 'xyz' is not one of auto, extxyz"),
        ("data", "validation_fraction", 1.0, "data.validation_fraction: must lie in [0, 1)"),
        ("model", "inner_cutoff", 4.0, "model.inner_cutoff: must lie in [0, cutoff = 3.5)"),
        ("model", "axis_features", 9, "model.axis_features: must not exceed the last embedding"),
        ("model", "neighbor_list", "kdtree", "'kdtree' is not one of vesin, brute_force"),
    ],
)
def test_values_out_of_range_name_key_and_bound(capsys, section, key, value, expected):
    values = config_values(**{section: {key: value}})
    train_fails(capsys, values, expected)


def test_yaml_1_1_float_string_is_accepted():
    """PyYAML reads ``1e-3`` (no dot) as a string; a number field takes it as the number."""
    Path("c.yaml").write_text(
        yaml.safe_dump(config_values()).replace("epochs: 1", "epochs: 1\n  learning_rate: 1e-3")
    )
    assert load_config("c.yaml").training.learning_rate == 1e-3


def test_section_that_is_not_a_mapping(capsys):
    train_fails(capsys, config_values(training=5), "config section 'training' must be a mapping")


def test_top_level_list_and_invalid_yaml(capsys):
    Path("list.yaml").write_text("- data\n- model\n")
    fails(capsys, ["train", "--config", "list.yaml"], "'top level' must be a mapping")
    Path("bad.yaml").write_text("training:\n  epochs: [1, 2\n")
    fails(capsys, ["train", "--config", "bad.yaml"], "bad.yaml is not valid YAML", "line")


def test_missing_config_file_and_data_file(capsys):
    fails(capsys, ["train", "--config", "nope.yaml"], "config file not found: nope.yaml")
    values = config_values(data={"train": "missing.xyz"})
    fails(capsys, ["train", "--config", write_config(values)], "data file not found: missing.xyz")
    assert not Path("run").exists()  # a failed start leaves no run folder behind
    values = config_values()
    del values["data"]["train"]
    fails(capsys, ["train", "--config", write_config(values)], "data.train", "required")


def test_paths_are_relative_to_the_working_directory(tmp_path, capsys):
    """A config in a sub-folder names data relative to where sognet runs, not to itself."""
    write_data(tmp_path / "toy.xyz")
    Path("configs").mkdir()
    values = config_values(output={"directory": "out/run"})
    assert sognet(["train", "--config", write_config(values, "configs/c.yaml")]) == 0
    assert (tmp_path / "out" / "run" / "model_best.pt").is_file()
    assert not (tmp_path / "configs" / "out").exists()
    capsys.readouterr()


# ----------------------------------------------------------------- labels and their keys


def test_train_on_ref_keys_without_naming_them(capsys):
    write_data(Path("toy.xyz"), energy_key="REF_energy", forces_key="REF_forces")
    values = config_values()
    line = fails(capsys, ["train", "--config", write_config(values)], "'REF_energy'")
    assert "--energy-key" in line and "data.energy_key" in line


def test_train_and_eval_with_the_keys_named(capsys):
    write_data(Path("toy.xyz"), energy_key="REF_energy", forces_key="REF_forces")
    keys = {"energy_key": "REF_energy", "forces_key": "REF_forces"}
    assert sognet(["train", "--config", write_config(config_values(data=keys))]) == 0
    capsys.readouterr()
    model = "run/model_best.pt"
    fails(capsys, ["eval", "--model", model, "--data", "toy.xyz"], "'REF_energy'", "--energy-key")
    argv = ["eval", "--model", model, "--data", "toy.xyz", "--json"]
    assert sognet([*argv, "--energy-key", "REF_energy", "--forces-key", "REF_forces"]) == 0
    import json

    metrics = json.loads(capsys.readouterr().out)
    assert math.isfinite(metrics["energy_rmse_meV_per_atom"])
    assert math.isfinite(metrics["forces_rmse_meV_per_A"])


def test_data_without_any_labels(capsys):
    import ase
    import ase.io

    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[6, 6, 6], pbc=True)
    ase.io.write("bare.xyz", [atoms, atoms], format="extxyz")
    values = config_values(data={"train": "bare.xyz"})
    fails(
        capsys, ["train", "--config", write_config(values)], "bare.xyz: no labels", "--forces-key"
    )


def test_forces_under_another_key_than_named(capsys):
    write_data(Path("toy.xyz"), forces_key="REF_forces")
    values = config_values(data={"forces_key": "nothing_here"})
    line = fails(capsys, ["train", "--config", write_config(values)], "'REF_forces'")
    assert "'nothing_here'" in line and "data.forces_key" in line


def test_some_structures_without_forces(capsys):
    import ase.io

    write_data(Path("toy.xyz"))
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = ase.io.read("toy.xyz", ":")
    energy = frames[0].get_potential_energy()
    frames[0].calc = SinglePointCalculator(frames[0], energy=energy)  # no forces in frame 0
    ase.io.write("toy.xyz", frames, format="extxyz")
    values = config_values(data={"validation_fraction": 0.0})
    fails(
        capsys,
        ["train", "--config", write_config(values)],
        "training.force_weight > 0 but 1 of the 4 training structures have no forces",
        "training.force_weight: 0",
    )


# ----------------------------------------------------------------- eval, plot, version


@pytest.fixture
def trained(capsys) -> Path:
    """A tiny trained run in ./run (model_best.pt, checkpoint_last.pt, log.csv)."""
    write_data(Path("toy.xyz"))
    assert sognet(["train", "--config", write_config(config_values())]) == 0
    capsys.readouterr()
    return Path("run")


def test_eval_on_a_text_file(capsys):
    write_data(Path("toy.xyz"))
    Path("notes.txt").write_text("not a model\n")
    line = fails(capsys, ["eval", "--model", "notes.txt", "--data", "toy.xyz"], "notes.txt")
    assert "model file" in line


def test_eval_on_a_missing_model_file(capsys):
    write_data(Path("toy.xyz"))
    fails(capsys, ["eval", "--model", "nope.pt", "--data", "toy.xyz"], "nope.pt", "not found")


def test_eval_on_an_export(capsys, trained):
    assert sognet(["export", "--model", str(trained / "model_best.pt"), "-o", "ts.pt"]) == 0
    capsys.readouterr()
    fails(capsys, ["eval", "--model", "ts.pt", "--data", "toy.xyz"], "ts.pt", "TorchScript")


def test_eval_bad_selection_and_batch_size(capsys, trained):
    model = str(trained / "model_best.pt")
    fails(capsys, ["eval", "--model", model, "--data", "toy.xyz", "--select", "a:b"], "'a:b'")
    fails(capsys, ["eval", "--model", model, "--data", "toy.xyz", "--batch-size", "0"], ">= 1")


def test_plot_without_anything_to_plot(capsys):
    fails(capsys, ["plot"], "nothing to plot", "--log", "--model")
    fails(capsys, ["plot", "--data", "toy.xyz"], "--data", "give --model")
    fails(capsys, ["plot", "--log", "missing.csv"], "log file not found: missing.csv")


def test_plot_learning_curve_has_physical_units(capsys, trained):
    header = (trained / "log.csv").read_text().splitlines()[0].split(",")
    assert "validation_energy_rmse_meV_per_atom" in header
    assert "train_forces_rmse_meV_per_A" in header
    assert sognet(["plot", "--log", str(trained / "log.csv"), "-o", "fig"]) == 0
    assert Path("fig/learning_curve.png").stat().st_size > 1000
    capsys.readouterr()


def test_version_unknown_command_and_conflicting_flags(capsys):
    assert sognet(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("sognet ") and "torch " in out and "openmm " in out
    assert sognet(["fit"]) == 2
    assert "unknown command 'fit'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        sognet(["train", "--config", "c.yaml", "--resume", "--overwrite"])
    assert exit_info.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [("--frames", "0", "--frames must be >= 1"), ("--interval", "-1", "--interval must be > 0")],
)
def test_generate_bad_numbers(capsys, option, value, expected):
    fails(capsys, ["generate", "electrolyte", "-o", "x.xyz", option, value], expected)
    assert not Path("x.xyz").exists()


def test_generate_odd_number_of_ions(capsys):
    fails(capsys, ["generate", "electrolyte", "-o", "x.xyz", "--ions", "7"], "even", "got 7")


def test_debug_keeps_the_traceback():
    with pytest.raises(ConfigError, match="training.learning_rate"):
        sognet(
            [
                "--debug",
                "train",
                "--config",
                write_config(config_values(training={"learning_rate": "x"})),
            ]
        )


# ----------------------------------------------------------------- run folders and resume


def test_resume_with_a_changed_cutoff_is_refused(capsys, trained):
    values = config_values(model={"cutoff": 3.2}, training={"epochs": 2})
    line = fails(capsys, ["train", "--config", write_config(values), "--resume"], "model.cutoff")
    assert "3.5 in the folder, 3.2 now" in line and "new output.directory" in line


def test_resume_with_changed_layer_sizes_is_refused(capsys, trained):
    values = config_values(model={"fitting_sizes": [6]}, training={"epochs": 2})
    line = fails(capsys, ["train", "--config", write_config(values), "--resume"], "fitting_sizes")
    assert "size mismatch" not in line


def test_fresh_run_into_a_used_folder_is_refused(capsys, trained):
    """A changed config names what changed; the same config says the run finished, and
    nothing is re-printed as if it had trained."""
    values = config_values(model={"cutoff": 3.0})
    line = fails(capsys, ["train", "--config", write_config(values)], "already holds a run")
    assert "model.cutoff (3.5 in the folder, 3.0 now)" in line
    assert "--resume" in line and "--overwrite" in line
    line = fails(capsys, ["train", "--config", write_config(config_values())], "finished")
    assert capsys.readouterr().out == ""


def test_resume_a_finished_run_and_resume_with_more_epochs(capsys, trained):
    config = write_config(config_values())
    fails(capsys, ["train", "--config", config, "--resume"], "nothing to resume", "training.epochs")
    more = write_config(config_values(training={"epochs": 2}))
    assert sognet(["train", "--config", more, "--resume"]) == 0
    assert "resuming the run in" in capsys.readouterr().err
    rows = (trained / "log.csv").read_text().split()
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2"]


def test_cutoff_below_every_neighbour_distance(capsys):
    """The toy's ions are ~4 A apart: at a 3 A cutoff the descriptor is zero everywhere, which
    used to surface as 'charges contain NaN' in the first epoch."""
    values = config_values(model={"cutoff": 3.0})
    train_fails(capsys, values, "no atom", "neighbour within model.cutoff = 3 A", "raise")


def test_resume_without_a_checkpoint_keeps_a_model_best(capsys, trained):
    """A folder with model_best.pt but no checkpoint is not replaced by --resume."""
    (trained / "checkpoint_last.pt").unlink()
    more = write_config(config_values(training={"epochs": 2}))
    fails(capsys, ["train", "--config", more, "--resume"], "already holds a run", "--overwrite")
    assert (trained / "model_best.pt").is_file()


def test_resume_into_an_empty_folder_starts_a_new_run(capsys):
    write_data(Path("toy.xyz"))
    assert sognet(["train", "--config", write_config(config_values()), "--resume"]) == 0
    assert "nothing to resume" in capsys.readouterr().err
    assert Path("run/model_best.pt").is_file()


def test_overwrite_replaces_the_run(capsys, trained):
    values = config_values(model={"cutoff": 3.8})
    assert sognet(["train", "--config", write_config(values), "--overwrite"]) == 0
    stored = yaml.safe_load((trained / "config.yaml").read_text())
    assert stored["model"]["cutoff"] == 3.8
    capsys.readouterr()


def test_resume_and_overwrite_exclude_each_other_in_the_config():
    values = config_values(output={"resume": True, "overwrite": True})
    with pytest.raises(ConfigError, match="exclude each other"):
        load_config(write_config(values))


# ----------------------------------------------------------------- reference energies


def test_reference_energies_missing_a_species(capsys):
    values = config_values(training={"reference_energies": {11: -1.2}})
    train_fails(capsys, values, "training.reference_energies", "Cl (17)")
    values = config_values(training={"reference_energies": {"Xx": -1.0, 17: -2.0}})
    train_fails(capsys, values, "'Xx' is neither an atomic number nor a chemical symbol")


def test_undetermined_reference_energies_warn_on_stderr(capsys):
    write_data(Path("toy.xyz"))
    values = config_values(training={"reference_energies": "fit"})
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        assert sognet(["train", "--config", write_config(values)]) == 0
    err = capsys.readouterr().err
    assert "sognet train: warning: per-species reference energies are undetermined" in err
    assert "training.reference_energies" in err


def test_given_reference_energies_reach_the_model(capsys):
    """E0s given per symbol or number are the model's energy shifts (buffers: not trained)."""
    from openmm_sog.training.model_io import read_model_payload

    write_data(Path("toy.xyz"))
    values = config_values(
        training={"reference_energies": {"Na": -1.5, 17: -2.5}, "refit_energy_shifts": False}
    )
    assert sognet(["train", "--config", write_config(values)]) == 0
    shifts = read_model_payload("run/model_best.pt")["state_dict"]["energy_shifts"]
    assert shifts.tolist() == [-1.5, -2.5]
    capsys.readouterr()


def test_given_reference_energies_are_used(tmp_path):
    from openmm_sog.training.data import read_dataset

    structures = read_dataset(write_data(tmp_path / "toy.xyz"))
    given = reference_energies(structures, [11, 17], {"Na": -1.5, 17: -2.5})
    assert given.tolist() == [-1.5, -2.5]
    with pytest.warns(UserWarning, match="undetermined"):
        reference_energies(structures, [11, 17], "fit")


# ----------------------------------------------------------------- fine-tuning


def test_fine_tuning_at_a_destructive_learning_rate(capsys, trained):
    """The starting model is validated as epoch 0; a first epoch far worse warns, and
    model_best.pt stays the starting model."""
    from openmm_sog.training.model_io import read_model_payload

    values = config_values(
        training={
            "epochs": 2,
            "learning_rate": 0.5,
            "initialize_from": str(trained / "model_best.pt"),
            "refit_energy_shifts": False,
        },
        output={"directory": "tuned"},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("default")  # printed by sognet as one line on stderr
        assert sognet(["train", "--config", write_config(values, "tune.yaml")]) == 0
    err = capsys.readouterr().err
    assert "sognet train: warning: fine-tuning: the validation loss after the first epoch" in err
    assert "training.learning_rate: 0.05" in err
    rows = [r.split(",") for r in Path("tuned/log.csv").read_text().split()[1:]]
    start = float(rows[0][2])
    assert rows[0][0] == "0" and all(float(r[2]) > start for r in rows[1:])
    best = read_model_payload("tuned/model_best.pt")["state_dict"]
    source = read_model_payload(trained / "model_best.pt")["state_dict"]
    for name, value in source.items():
        assert torch.equal(best[name], value), name


def test_initialize_from_a_missing_file(capsys):
    values = config_values(training={"initialize_from": "nope.pt"})
    train_fails(capsys, values, "nope.pt")


# ----------------------------------------------------------------- real processes


def _subprocess(*args: str) -> subprocess.CompletedProcess:
    """``python -m openmm_sog.cli.main ARGS``: the same (installed) package as in-process."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        [sys.executable, "-m", "openmm_sog.cli.main", *args],
        capture_output=True,
        encoding="utf-8",
        env=env,
        timeout=120,
    )


def test_subprocess_config_error_is_one_line():
    config = write_config(config_values(training={"learning_rate": "fast"}))
    result = _subprocess("train", "--config", config)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "sognet train: error: config key training.learning_rate: expected a number, "
        "got 'fast' (str)"
    ]


def test_subprocess_eval_on_a_text_file():
    Path("model.pt").write_text("hello\n")
    write_data(Path("toy.xyz"))
    result = _subprocess("eval", "--model", "model.pt", "--data", "toy.xyz")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("sognet eval: error: model.pt")


def test_run_folder_error_is_a_value_error(tmp_path):
    """API users catch the same errors: RunFolderError is a ValueError."""
    assert issubclass(RunFolderError, ValueError) and issubclass(ConfigError, ValueError)
