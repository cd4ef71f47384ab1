"""The paper-reproduction driver (examples/reproduce_paper.py) on one dimer, tiny budget."""

from __future__ import annotations

import math
import shutil

import pytest
import torch
import yaml
from script_modules import load_script

driver = load_script("examples/reproduce_paper.py")


@pytest.mark.skipif(not driver.SHARED.is_dir(), reason="shared data not present (../shared)")
@pytest.mark.skipif(shutil.which("sognet") is None, reason="the sognet command is not installed")
def test_dimer_pair_trains_and_reports(tmp_path):
    runs = driver.dimer_runs(tmp_path, minutes=0.1)
    assert len(runs) == 12 and runs[0].config["data"]["select"] == "0::2"
    results = {run.name: driver._train_and_evaluate(run, tmp_path) for run in runs[:2]}
    for result in results.values():
        held_out = result["tests"]["odd separations"]
        # 13 separations: 7 even ones train, the 6 odd ones are held out.
        assert held_out["num_structures"] == 6
        assert math.isfinite(held_out["forces_rmse_meV_per_A"])
    table = driver.table(results)
    assert "| dimer_CC | odd separations |" in table and "64.3 -> 3.8" in table

    # --warm-start: the short-range model goes on, the SOG-Net starts from its final weights.
    stage = driver.warm_start_runs(tmp_path, runs[:2], epochs=3)
    assert [run.name for run in stage] == ["dimer_CC_warm_shortrange", "dimer_CC_warm_sognet"]
    checkpoint = tmp_path / "dimer_CC_shortrange" / "checkpoint_last.pt"
    state = torch.load(checkpoint, weights_only=True)
    continued, started = stage[0].config, stage[1].config
    assert continued["output"] == {"directory": "dimer_CC_warm_shortrange", "resume": True}
    assert continued["training"]["epochs"] == state["epoch"] + 3
    assert started["training"]["initialize_from"] == str(checkpoint)
    assert started["training"]["learning_rate"] == state["optimizer"]["param_groups"][0]["lr"]
    assert started["training"]["epochs"] == 3 and started["model"]["long_range"]
    results.update({run.name: driver._train_and_evaluate(run, tmp_path) for run in stage})
    logs = {
        name: (tmp_path / name / "log.csv").read_text().split()[1:]
        for name in ("dimer_CC_warm_shortrange", "dimer_CC_warm_sognet")
    }
    assert len(logs["dimer_CC_warm_shortrange"]) == state["epoch"] + 3
    assert len(logs["dimer_CC_warm_sognet"]) == 1 + 3  # epoch 0: the starting model
    assert "| dimer_CC_warm | odd separations |" in driver.table(results)


def test_every_task_config_is_valid_with_every_backbone(tmp_path):
    """--backbone painn or cace swaps each task's DeepPot-SE sizes for that backbone's: the
    configs load."""
    from openmm_sog.training.config import load_config

    for task, (make, _) in driver.TASKS.items():
        if task == "electrolyte":
            continue  # generates its test frames with OpenMM first
        for backbone in ("deeppot_se", "painn", "cace"):
            for run in make(tmp_path, 0.1):
                config = dict(run.config, model=driver.with_backbone(run.config["model"], backbone))
                path = tmp_path / f"{run.name}_{backbone}.yaml"
                path.write_text(yaml.safe_dump(config))
                assert load_config(path).model.backbone == backbone


def test_large_local_model_decay_and_set_options(tmp_path, capsys):
    """--local large, --decay and --set reach every model's config, which loads; mismatched
    options fail with a message."""
    from openmm_sog.training.config import load_config

    args = driver.parse_arguments(
        ["--local", "large", "--decay", "0.998", "--epochs", "50", "--set",
         "model.charge_init_scale=0.01", "training.kernel_lr_factor=0.03"]
    )  # fmt: skip
    runs = driver.dimer_runs(tmp_path, 0.1, "paper")
    driver.configure(runs, args)
    for run in runs:
        path = tmp_path / f"{run.name}.yaml"
        path.write_text(yaml.safe_dump(run.config))
        loaded = load_config(path)
        assert loaded.model.radial_features and loaded.model.embedding_sizes == [32, 64]
        assert loaded.model.charge_init_scale == 0.01
        t = loaded.training
        assert (t.scheduler, t.scheduler_factor, t.kernel_lr_factor) == ("exponential", 0.998, 0.03)
        assert (t.epochs, t.max_time_s, t.early_stopping_patience) == (50, None, 50)
    for argv, message in (
        (["--local", "large", "--backbone", "painn"], "--local large sizes the DeepPot-SE"),
        (["--decay", "1.5"], "--decay must lie in (0, 1]"),
        (["--set", "charge_init_scale=0.01"], "expected SECTION.KEY=VALUE"),
        (["--set", "output.directory=x"], "expected SECTION.KEY=VALUE"),
    ):
        with pytest.raises(SystemExit):
            driver.parse_arguments(argv)
        assert message in capsys.readouterr().err


@pytest.mark.skipif(not driver.SHARED.is_dir(), reason="shared data not present (../shared)")
@pytest.mark.skipif(shutil.which("sognet") is None, reason="the sognet command is not installed")
def test_validation_and_external_test_file_are_both_reported(tmp_path, capsys):
    """A task that reports its validation split and an independent extxyz test file whose
    forces are under 'force' (as --spice-test does): both rows, evaluated on the right data."""
    from ase import Atoms
    from ase.io import write

    from openmm_sog.training.data import read_dimer

    path = driver.SHARED / driver.DIMER_FILES["CC"]
    frames = []
    for s in read_dimer(path)[10:13]:
        atoms = Atoms(numbers=s.atomic_numbers.tolist(), positions=s.positions.numpy())
        atoms.info["energy"] = s.energy
        atoms.arrays["force"] = s.forces.numpy()
        frames.append(atoms)
    external = tmp_path / "external.xyz"
    write(external, frames, format="extxyz")
    runs = driver.dimer_runs(tmp_path, minutes=0.05, protocol="paper")[:2]
    for run in runs:
        run.tests = {"validation": None, "test (external.xyz)": (str(external), None, "force")}
    results = {run.name: driver._train_and_evaluate(run, tmp_path) for run in runs}
    for result in results.values():
        assert result["tests"]["validation"] == result["validation"]
        assert result["tests"]["test (external.xyz)"]["num_structures"] == 3
    table = driver.table(results)
    assert "| dimer_paper_CC | validation |" in table
    assert "| dimer_paper_CC | test (external.xyz) |" in table

    # The option: the file must exist; spice_runs then reports both sets.
    with pytest.raises(SystemExit):
        driver.parse_arguments(["--spice-test", str(tmp_path / "missing.xyz")])
    assert "--spice-test" in capsys.readouterr().err
    spice = driver.spice_runs(tmp_path, 0.1, str(external))
    assert spice[0].tests == {
        "validation": None,
        "test (external.xyz)": (str(external), None, "force"),
    }
    assert driver.spice_runs(tmp_path, 0.1)[0].tests == {}
