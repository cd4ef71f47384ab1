"""``sognet train`` under ``torchrun``: two gloo CPU ranks reproduce single-process training."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import torch
import yaml
from test_cli import run_cli, write_config, write_toy_data

from openmm_sog.training.config import load_config
from openmm_sog.training.data import read_dataset
from openmm_sog.training.distributed import Context, label_counts
from openmm_sog.training.loop import train

#: Float64 training; the ranks sum their loss shares and DDP averages gradients in another
#: order than one process sums a batch, so results differ by round-off (~1e-16 relative per
#: step, seen ~1e-15 after three Adam steps); 1e-9 leaves room and still fails on any real
#: difference (a wrong shard weight or a lost structure changes losses at the 1e-2 level).
RTOL = 1e-9


#: Extra training keys per case: both charge priors; the pair term's least-squares fit with a
#: refit after epoch 2 (every rank fits on the whole training set and must agree).
EXTRAS: dict[str, dict] = {
    "": {},
    "priors": {"charge_weight": 0.3, "charge_l1_weight": 0.2},
    "pair": {"pair_term_fit": True, "pair_term_refit_interval": 2, "pair_lr_factor": 0.5},
}


def _setup(folder: Path, energies: bool, optimizer: str = "adam", extra: str = "") -> Path:
    """6 structures: 5 train (global batches 3 + 2, split 2/1 and 1/1), 1 validation;
    ``extra``: a key of EXTRAS."""
    folder.mkdir()
    write_toy_data(folder / "toy.xyz", frames=6)
    if not energies:
        _drop_energies(folder / "toy.xyz")
    config = write_config(
        folder,
        epochs=3,
        batch_size=3,
        progress=True,
        dtype="float64",
        energy_weight=1.0 if energies else 0.0,
        optimizer=optimizer,
        learning_rate=1.0 if optimizer == "lbfgs" else 1e-3,
        lbfgs_iterations=4,
        **EXTRAS[extra],
    )
    values = yaml.safe_load(config.read_text())
    if extra == "pair":
        values["model"]["pair_basis"] = 12
    values["data"]["validation_fraction"] = 0.2  # one structure: rank 1 holds none
    # Config paths are relative to the working directory, which is not ``folder`` here.
    values["data"]["train"] = str(folder / "toy.xyz")
    values["output"]["directory"] = str(folder / "run")
    config.write_text(yaml.safe_dump(values))
    return config


def _drop_energies(path: Path) -> None:
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    frames = ase.io.read(str(path), ":")
    for atoms in frames:
        atoms.calc = SinglePointCalculator(atoms, forces=atoms.get_forces())
    ase.io.write(str(path), frames, format="extxyz")


def _torchrun(config: Path, launch: str = "torchrun") -> subprocess.CompletedProcess:
    if launch == "nproc":  # sognet train --nproc 2 launches torchrun itself
        return run_cli([], ["train", "--config", str(config), "--nproc", "2"], timeout=240)
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    return run_cli(launcher, ["train", "--config", str(config)], timeout=240)


def _log(run: Path) -> list[list[float]]:
    rows = (run / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,train_loss") and rows.count(rows[0]) == 1
    return [[float(x) for x in row.split(",")[:4]] for row in rows[1:]]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("energies", "optimizer", "launch", "extra"),
    [
        (True, "adam", "torchrun", ""),
        (False, "adam", "torchrun", ""),
        (True, "lbfgs", "torchrun", ""),
        (True, "adam", "nproc", ""),
        (True, "adam", "torchrun", "priors"),
        (True, "adam", "torchrun", "pair"),
    ],
    ids=[
        "energy+forces",
        "forces-only",
        "lbfgs",
        "sognet-train-nproc",
        "charge-priors",
        "pair-term-refit",
    ],
)
def test_two_ranks_match_single_process(tmp_path, energies, optimizer, launch, extra):
    single = train(load_config(_setup(tmp_path / "single", energies, optimizer, extra)))
    config = _setup(tmp_path / "ddp", energies, optimizer, extra)
    result = _torchrun(config, launch)

    # Rank-0-only outputs: one summary on stdout, one log, one set of files, one progress bar.
    assert result.stdout.count('"best_validation_loss"') == 1
    assert result.stdout.count("epoch 1: train") == 1
    run = tmp_path / "ddp" / "run"
    assert sorted(p.name for p in run.iterdir()) == [
        "checkpoint_last.pt",
        "config.yaml",
        "log.csv",
        "model_best.pt",
    ]
    summary = json.loads(result.stdout[result.stdout.index("{") :])

    # Same losses per epoch, same best model, same validation metrics.
    expected, got = _log(tmp_path / "single" / "run"), _log(run)
    assert len(got) == len(expected) == 3
    torch.testing.assert_close(torch.tensor(got), torch.tensor(expected), rtol=RTOL, atol=0.0)
    assert summary["epochs"] == single["epochs"]
    for key, value in single["validation_metrics"].items():
        assert summary["validation_metrics"][key] == pytest.approx(value, rel=RTOL, nan_ok=True)
    reference = torch.load(tmp_path / "single" / "run" / "model_best.pt", weights_only=True)
    trained = torch.load(run / "model_best.pt", weights_only=True)
    assert trained["config"] == reference["config"]
    for name, value in reference["state_dict"].items():
        atol = 1e-12
        if name == "pair_term.weights":
            # The refit solves normal equations conditioned up to 1 / RIDGE = 1e9: the ranks'
            # round-off differences (~1e-15) come out up to ~1e-6 of the largest weight (seen:
            # 4e-10 absolute on an Intel Xeon, below 1e-12 on an AMD EPYC).
            atol = max(atol, 1e9 * 1e-15 * float(value.abs().max()))
        torch.testing.assert_close(trained["state_dict"][name], value, rtol=RTOL, atol=atol)


def test_single_process_context_is_the_identity(tmp_path):
    write_toy_data(tmp_path / "toy.xyz", frames=3)
    structures = read_dataset(tmp_path / "toy.xyz")
    ctx = Context()
    assert not ctx.enabled and ctx.is_main and ctx.shard(structures) is structures
    terms = {"energy": torch.tensor(2.0)}
    assert ctx.share_terms(terms, structures[:1], structures) is terms
    assert ctx.sum(1.5) == 1.5 and ctx.broadcast({"a": 1}) == {"a": 1}


def test_shard_weights_sum_to_one(tmp_path):
    write_toy_data(tmp_path / "toy.xyz", frames=5)
    structures = read_dataset(tmp_path / "toy.xyz")
    ranks = [Context(rank, 3) for rank in range(3)]
    shards = [ctx.shard(structures) for ctx in ranks]
    assert sorted(len(s) for s in shards) == [1, 2, 2]
    assert sorted(id(s) for shard in shards for s in shard) == sorted(map(id, structures))
    assert label_counts(structures) == {
        "energy": 5,
        "forces": 5 * 8 * 3,
        "stress": 0,
        "charges": 5 * 8,
        "charges_l1": 5 * 8,
    }
    one = {k: torch.tensor(1.0, dtype=torch.float64) for k in ("energy", "forces")}
    total = {
        k: sum(
            float(c.share_terms(one, s, structures)[k]) for c, s in zip(ranks, shards, strict=True)
        )
        for k in one
    }
    assert total == pytest.approx({"energy": 1.0, "forces": 1.0}, rel=1e-15)
    empty = Context(4, 5).share_terms(one, [], structures[:3])
    assert all(float(v) == 0.0 for v in empty.values())


@pytest.mark.parametrize(
    ("variables", "fragments"),
    [
        ({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}, ["RANK=2", "WORLD_SIZE=2"]),
        ({"RANK": "0", "WORLD_SIZE": "two", "LOCAL_RANK": "0"}, ["WORLD_SIZE='two'", "integer"]),
        (
            {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "1"},
            ["LOCAL_RANK=1", "LOCAL_WORLD_SIZE=1"],
        ),
    ],
)
def test_an_inconsistent_torchrun_environment_is_named(monkeypatch, variables, fragments):
    from openmm_sog.training.distributed import distributed_context
    from openmm_sog.training.errors import SognetError

    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SognetError) as error, distributed_context("gloo"):
        pass
    for fragment in fragments:
        assert fragment in str(error.value)


@pytest.mark.skipif(torch.cuda.device_count() > 1, reason="needs a machine with at most 1 GPU")
def test_more_nccl_processes_than_gpus_is_named(monkeypatch):
    from openmm_sog.training.distributed import check_torchrun_environment
    from openmm_sog.training.errors import SognetError

    for name, value in {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SognetError, match="started 2 processes on this node but it has"):
        check_torchrun_environment("nccl")
