"""Training and evaluation devices: ``training.device`` / ``--device`` (cpu, cuda, cuda:N).

Here (no GPU) the CPU path is checked for exactness and the GPU requests for their errors;
with a GPU the same training runs there and must reach the CPU's losses to round-off.
"""

from __future__ import annotations

import math

import pytest
import torch
from test_cli import run_cli, write_config, write_toy_data

from openmm_sog.training.batches import DeviceData
from openmm_sog.training.config import load_config
from openmm_sog.training.data import Structure, collate
from openmm_sog.training.device import resolve_device
from openmm_sog.training.errors import ConfigError, SognetError
from openmm_sog.training.loop import train
from openmm_sog.training.model_io import read_model_payload

HAS_GPU = torch.cuda.is_available()


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


def _structures() -> list[Structure]:
    gen = torch.Generator().manual_seed(2)
    out = []
    for k, n in enumerate((3, 5, 4)):
        periodic = k != 1
        out.append(
            Structure(
                positions=torch.rand(n, 3, generator=gen, dtype=torch.float64) * 5,
                atomic_numbers=torch.tensor([11, 17, 11, 17, 11][:n]),
                cell=torch.eye(3, dtype=torch.float64) * 6 if periodic else torch.zeros(3, 3),
                pbc=periodic,
                energy=None if k == 2 else -1.5 * (k + 1),
                forces=None if k == 0 else torch.randn(n, 3, generator=gen, dtype=torch.float64),
                stress=torch.randn(3, 3, generator=gen, dtype=torch.float64) if k == 2 else None,
                total_charge=float(k),
            )
        )
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_device_batches_equal_collate(dtype):
    """Batches assembled from the device-resident data equal collate(...).to(dtype), labels
    that are absent included (NaN), in any order and subset."""
    structures = _structures()
    data = DeviceData(structures, torch.device("cpu"), dtype)
    for chosen in ([0, 1, 2], [2, 0], [1]):
        picked = [structures[k] for k in chosen]
        got, expected = data.batch(picked), collate(picked).to(dtype)
        for field in expected.__dataclass_fields__:
            a, b = getattr(got, field), getattr(expected, field)
            assert a.dtype == b.dtype and a.shape == b.shape, field
            assert torch.equal(
                a.isnan() if a.is_floating_point() else a, b.isnan() if b.is_floating_point() else b
            ), field
            if a.is_floating_point():
                assert torch.equal(a.nan_to_num(7.0), b.nan_to_num(7.0)), field
    with pytest.raises(ValueError, match="not part of the data"):
        data.batch(_structures()[:1])


def test_device_names_are_checked(tmp_path):
    write_toy_data(tmp_path / "toy.xyz")
    with pytest.raises(ConfigError, match="training.device: must be 'cpu', 'cuda' or 'cuda:N'"):
        load_config(write_config(tmp_path, device="gpu"))
    with pytest.raises(ConfigError, match="training.device"):
        load_config(write_config(tmp_path, device="cuda:x"))
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(HAS_GPU, reason="checks the error on machines without a GPU")
def test_a_gpu_that_is_not_there_is_one_clear_error(tmp_path):
    write_toy_data(tmp_path / "toy.xyz")
    config = load_config(write_config(tmp_path, device="cuda", epochs=1, progress=False))
    with pytest.raises(
        SognetError, match="training.device is 'cuda' but torch .* (CPU-only|no usable GPU)"
    ):
        train(config)
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(SognetError, match="--device is 'cuda:1'"):
        resolve_device("cuda:1", "--device")
    # The command line: one line, exit status 1 (run_cli expects 0, so call it by hand).
    import subprocess
    import sys

    from test_cli import SRC

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "openmm_sog.cli.main",
            "eval",
            "--model",
            "m.pt",
            "--data",
            "d.xyz",
            "--device",
            "cuda",
        ],
        capture_output=True,
        encoding="utf-8",
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 1
    assert "--device is 'cuda'" in result.stderr and "Traceback" not in result.stderr


def test_cpu_training_writes_host_tensors_and_evaluates_with_device_flag(tmp_path):
    write_toy_data(tmp_path / "toy.xyz")
    summary = train(load_config(write_config(tmp_path, device="cpu", epochs=2, progress=False)))
    assert math.isfinite(summary["best_validation_loss"])
    result = run_cli(
        [],
        ["eval", "--model", summary["model"], "--data", "toy.xyz", "--device", "cpu", "--json"],
        300,
    )
    assert "forces_rmse_meV_per_A" in result.stdout


@pytest.mark.skipif(not HAS_GPU, reason="needs a CUDA GPU")
@pytest.mark.parametrize("backbone", ["deeppot_se", "painn", "cace"])
def test_gpu_training_matches_cpu_training(tmp_path, backbone):
    """The same seeded run on the GPU and on the CPU, in float64: the same losses to round-off,
    and the model file loads on the host."""
    write_toy_data(tmp_path / "toy.xyz")
    losses = {}
    for device in ("cpu", "cuda"):
        folder = tmp_path / device
        folder.mkdir()
        path = write_config(tmp_path, device=device, epochs=3, progress=False, dtype="float64")
        config = load_config(path)
        if backbone != "deeppot_se":
            config.model.backbone = backbone
            config.model.num_features = 8
            config.model.num_interactions = 2
        config.output.directory = str(folder / "run")
        summary = train(config)
        losses[device] = summary["best_validation_loss"]
        payload = read_model_payload(summary["model"])
        assert all(t.device.type == "cpu" for t in payload["state_dict"].values())
    assert losses["cuda"] == pytest.approx(losses["cpu"], rel=1e-8)


def test_ema_of_the_weights_is_validated_saved_and_resumed(tmp_path):
    """training.ema_decay: the checkpoint holds the averaged weights and the step count,
    model_best.pt is the average (not the raw weights), a resumed run continues the average,
    and the bad values are config errors."""
    from openmm_sog.training.checkpoint import CheckpointIO

    write_toy_data(tmp_path / "toy.xyz")
    config = load_config(write_config(tmp_path, epochs=2, progress=False, ema_decay=0.9))
    train(config)
    io = CheckpointIO(tmp_path / "run")
    state = io.load()
    steps = 2 * math.ceil(6 / 2)  # 6 training structures (8 frames, 25 % validation), batch 2
    assert state.ema is not None and state.ema["n_averaged"] == steps
    best = read_model_payload(io.best)["state_dict"]
    raw = state.model["state_dict"]
    averaged = state.ema["state_dict"]
    name = "fitting.0.weight"
    assert not torch.equal(raw[name], averaged[name])  # the average lags the weights
    if state.history[-1]["validation_loss"] <= min(r["validation_loss"] for r in state.history):
        assert torch.equal(best[name], averaged[name])
    resumed = load_config(write_config(tmp_path, epochs=3, progress=False, ema_decay=0.9))
    resumed.output.resume = True
    train(resumed)
    assert io.load().ema["n_averaged"] == steps + 3
    for bad, message in ((1.0, "must lie in \\(0, 1\\)"), (0.0, "must lie in \\(0, 1\\)")):
        with pytest.raises(ConfigError, match=message):
            load_config(write_config(tmp_path, ema_decay=bad))
    with pytest.raises(ConfigError, match="ema_decay is not supported with the lbfgs"):
        load_config(write_config(tmp_path, ema_decay=0.99, optimizer="lbfgs", learning_rate=1.0))
