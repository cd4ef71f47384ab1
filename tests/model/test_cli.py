"""End-to-end ``sognet`` commands in tmp_path, data readers and configuration errors."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from openmm_sog.training.config import load_config
from openmm_sog.training.data import read_dataset, select_structures
from openmm_sog.training.loop import load_training_data

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def _run_in_tmp_path(tmp_path, monkeypatch):
    """Config paths are relative to the working directory: each test works in its tmp_path."""
    monkeypatch.chdir(tmp_path)


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "sognet"


def run_cli(launcher: list[str], args: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``python [LAUNCHER] -m openmm_sog.cli.main ARGS`` with this checkout on the path."""
    env = {
        "PYTHONPATH": str(SRC),
        "OMP_NUM_THREADS": "1",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    result = subprocess.run(
        [sys.executable, *launcher, "-m", "openmm_sog.cli.main", *args],
        capture_output=True,
        # Explicit: an OpenCL context (PoCL) earlier in the process resets the C locale, which
        # would make text mode decode the CLI's UTF-8 progress output as ASCII.
        encoding="utf-8",
        env=env,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def assert_export_reproduces_model(module, model, structure) -> None:
    """A periodic structure's energy and forces from an export equal the eager model's."""
    s = structure
    energy, forces = module(s.positions, s.atomic_numbers, s.cell, True)
    ref = model(
        s.positions,
        s.atomic_numbers,
        s.cell[None],
        torch.tensor([True]),
        torch.zeros(s.num_atoms, dtype=torch.long),
    )
    torch.testing.assert_close(energy, ref["energy"].detach())
    torch.testing.assert_close(forces, ref["forces"])


def sognet(*args: str) -> subprocess.CompletedProcess:
    """Run ``python -m openmm_sog.cli.main ARGS`` with this checkout on the path."""
    return run_cli([], list(args), timeout=300)


def write_toy_data(path: Path, frames: int = 8, seed: int = 0) -> None:
    """Periodic +-1 ions with Coulomb-free Born-Mayer-like labels (eV, A): a smooth pair sum."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    box = 8.0
    out = []
    for _ in range(frames):
        grid = np.stack(np.meshgrid(*[np.arange(2)] * 3, indexing="ij"), -1).reshape(-1, 3)
        pos = (grid + 0.5) * box / 2 + 0.3 * rng.standard_normal(grid.shape)
        energy, forces = 0.0, np.zeros_like(pos)
        for i in range(len(pos)):
            for j in range(i + 1, len(pos)):
                d = pos[j] - pos[i]
                d -= box * np.round(d / box)
                r = float(np.linalg.norm(d))
                if r < 3.9:
                    energy += 2.0 * math.exp(-r)
                    f = 2.0 * math.exp(-r) * d / r  # -dE/dr_j along d
                    forces[j] += f
                    forces[i] -= f
        atoms = ase.Atoms("NaCl" * 4, positions=pos, cell=np.eye(3) * box, pbc=True)
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        out.append(atoms)
    ase.io.write(str(path), out, format="extxyz")


def write_config(tmp_path: Path, **training: object) -> Path:
    """A tiny SOG-Net config in ``tmp_path`` for ``tmp_path/toy.xyz``, run into ``tmp_path/run``
    (absolute paths: config paths are relative to the working directory, not to the file)."""
    config = {
        "seed": 3,
        "data": {"train": str(tmp_path / "toy.xyz"), "validation_fraction": 0.25},
        "model": {
            "cutoff": 3.5,
            "inner_cutoff": 2.5,
            "embedding_sizes": [8, 8],
            "axis_features": 2,
            "fitting_sizes": [8],
            "charge_sizes": [8],
            "num_gaussians": 4,
        },
        "training": {
            "epochs": 2,
            "batch_size": 2,
            "progress": True,
            "num_threads": 1,
            # One composition (NaCl x 4): the least-squares fit would warn (undetermined).
            "reference_energies": "average",
            **training,
        },
        "output": {"directory": str(tmp_path / "run")},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_train_eval_export_end_to_end(tmp_path):
    write_toy_data(tmp_path / "toy.xyz")
    config = write_config(tmp_path)
    sognet("train", "--config", str(config))
    run = tmp_path / "run"
    rows = (run / "log.csv").read_text().strip().splitlines()
    assert rows[0].startswith("epoch,train_loss") and len(rows) == 3
    metrics = json.loads(
        sognet(
            "eval",
            "--model",
            str(run / "model_best.pt"),
            "--data",
            str(tmp_path / "toy.xyz"),
            "--json",
        ).stdout
    )
    assert metrics["num_structures"] == 8 and math.isfinite(metrics["forces_rmse_meV_per_A"])
    assert math.isfinite(metrics["energy_rmse_meV"])
    picked = json.loads(
        sognet(
            "eval", "--model", str(run / "model_best.pt"), "--data", str(tmp_path / "toy.xyz"),
            "--select", "1::2", "--json",
        ).stdout
    )  # fmt: skip
    assert picked["num_structures"] == 4
    exported = tmp_path / "model.ts"
    sognet(
        "export", "--model", str(run / "model_best.pt"), "-o", str(exported), "--dtype", "float64"
    )
    sognet(
        "plot",
        "--model",
        str(run / "model_best.pt"),
        "--data",
        str(tmp_path / "toy.xyz"),
        "--log",
        str(run / "log.csv"),
        "-o",
        str(tmp_path / "fig"),
    )
    assert (tmp_path / "fig" / "kernel.png").stat().st_size > 1000

    # The export reloads and reproduces energies and forces of the eager model.
    from openmm_sog.training.export import load_exported
    from openmm_sog.training.model_io import load_model

    module, meta = load_exported(exported)
    assert meta["units"]["energy"] == "eV" and meta["atomic_numbers"] == [11, 17]
    assert len(meta["sog"]["widths_nm"][0]) == 4
    model = load_model(run / "model_best.pt", "float64")
    s = read_dataset(tmp_path / "toy.xyz")[0]
    assert_export_reproduces_model(module, model, s)
    e_sr, charges = module.short_range_and_charges(s.positions, s.atomic_numbers, s.cell, True)
    assert charges.shape == (8, 1)

    # What training writes is a checked model file: format version and checksum, verified.
    from openmm_sog.training.integrity import weights_digest

    raw = torch.load(run / "model_best.pt", weights_only=True)
    assert raw["format_version"] >= 1
    assert raw["weights_sha256"] == weights_digest(raw["state_dict"].items())


def test_eval_in_float64_does_not_round_large_total_energies(tmp_path, capsys):
    """A float32 model with -300 eV per atom: labels = its own float64 predictions. Evaluated in
    float64 the energy error is zero to round-off; in the model's float32 the ~2400 eV totals
    are rounded to ~1e-4 eV, which is what ``--dtype float64`` (the default) removes."""
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    from openmm_sog.cli.eval import main as eval_main
    from openmm_sog.training.data import collate
    from openmm_sog.training.loop import train
    from openmm_sog.training.model_io import load_model, read_model_payload

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    train(load_config(write_config(tmp_path, epochs=1, progress=False, dtype="float32")))
    path = tmp_path / "run" / "model_best.pt"
    payload = read_model_payload(path)  # without the checksum, which the edit would break
    payload["state_dict"]["energy_shifts"] = torch.full_like(
        payload["state_dict"]["energy_shifts"], -300.0
    )
    torch.save(payload, path)
    model = load_model(path, "float64")
    labelled = []
    for atoms, structure in zip(
        ase.io.read(str(tmp_path / "toy.xyz"), ":"), read_dataset(tmp_path / "toy.xyz"), strict=True
    ):
        out = model(**collate([structure]).to(torch.float64).model_inputs())
        atoms.calc = SinglePointCalculator(
            atoms, energy=float(out["energy"].detach()[0]), forces=out["forces"].detach().numpy()
        )
        labelled.append(atoms)
    ase.io.write(str(tmp_path / "self.xyz"), labelled, format="extxyz")
    errors = {}
    for dtype in ("float64", "model"):
        eval_main(
            ["--model", str(path), "--data", str(tmp_path / "self.xyz"), "--json", "--dtype", dtype]
        )
        errors[dtype] = json.loads(capsys.readouterr().out)["energy_rmse_meV"]
    assert errors["float64"] < 1e-6
    assert errors["model"] > 1e-3  # float32 rounding of -2400 eV totals (ULP 2.4e-4 eV)


def test_resume_continues_from_checkpoint(tmp_path):
    write_toy_data(tmp_path / "toy.xyz", frames=4)
    from openmm_sog.training.loop import train

    config = load_config(write_config(tmp_path, epochs=1, progress=False))
    train(config)
    config.training.epochs = 2
    config.output.resume = True  # resuming is asked for, never the default
    summary = train(config)
    rows = (tmp_path / "run" / "log.csv").read_text().strip().splitlines()
    assert summary["epochs"] == 2 and [r.split(",")[0] for r in rows[1:]] == ["1", "2"]


def test_lbfgs_reduces_the_loss_and_checkpoints_are_written_at_the_end(tmp_path):
    write_toy_data(tmp_path / "toy.xyz", frames=4)
    from openmm_sog.training.loop import train

    path = write_config(
        tmp_path, epochs=4, optimizer="lbfgs", learning_rate=1.0, dtype="float64", progress=False
    )
    values = yaml.safe_load(path.read_text())
    values["output"]["checkpoint_interval_s"] = 1e9  # only the final write
    path.write_text(yaml.safe_dump(values))
    summary = train(load_config(path))
    rows = [r.split(",") for r in (tmp_path / "run" / "log.csv").read_text().split()[1:]]
    train_losses = [float(r[1]) for r in rows]
    assert summary["epochs"] == 4 and train_losses[-1] < 0.5 * train_losses[0]
    state = torch.load(tmp_path / "run" / "checkpoint_last.pt", weights_only=True)
    assert state["epoch"] == 4 and "state" in state["optimizer"]
    best = torch.load(tmp_path / "run" / "model_best.pt", weights_only=True)
    best_epoch = 1 + min(range(4), key=lambda k: float(rows[k][2]))
    # model_best.pt holds the weights of the best epoch, not those of the last one.
    if best_epoch != 4:
        last = state["model"]["state_dict"]
        assert any(not torch.equal(best["state_dict"][k], last[k]) for k in last)
    bad = write_config(tmp_path, optimizer="sgd")
    with pytest.raises(
        ValueError, match="training.optimizer: 'sgd' is not one of adam, adamw, lbfgs"
    ):
        load_config(bad)


def test_adamw_decays_weight_matrices_only_and_trains(tmp_path):
    """optimizer: adamw decays the networks' weight matrices by lr * weight_decay per step
    (decoupled: with a zero loss gradient nothing else moves), never biases or the SOG kernel."""
    from openmm_sog.training.loop import _optimizer, train
    from openmm_sog.training.model_io import build_model

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    config = load_config(
        write_config(tmp_path, optimizer="adamw", weight_decay=0.1, learning_rate=0.01)
    )
    model = build_model(config.model, read_dataset(tmp_path / "toy.xyz"))
    optimizer = _optimizer(config, model)
    assert isinstance(optimizer, torch.optim.AdamW)
    decay = {id(p) for g in optimizer.param_groups if g["weight_decay"] > 0 for p in g["params"]}
    grouped = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())  # each exactly once
    kernel = {id(p) for p in model.lr.parameters()}
    assert kernel and not kernel & decay
    for name, p in model.named_parameters():
        assert (id(p) in decay) == (p.dim() >= 2 and id(p) not in kernel), name
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()
    for name, p in model.named_parameters():
        factor = 1.0 - 0.01 * 0.1 if id(p) in decay else 1.0
        torch.testing.assert_close(p.detach(), before[name] * factor, rtol=1e-6, atol=0.0)
    summary = train(config)
    assert summary["epochs"] == 2 and math.isfinite(summary["best_validation_loss"])


def test_training_is_deterministic_for_a_seed(tmp_path, monkeypatch):
    from openmm_sog.training.loop import train

    states, logs = [], []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        folder = tmp_path / name
        folder.mkdir()
        monkeypatch.chdir(folder)
        write_toy_data(folder / "toy.xyz", frames=4)
        path = write_config(folder, epochs=2, progress=False)
        values = yaml.safe_load(path.read_text())
        values["seed"] = seed
        path.write_text(yaml.safe_dump(values))
        train(load_config(path))
        states.append(torch.load(folder / "run" / "model_best.pt", weights_only=True))
        rows = (folder / "run" / "log.csv").read_text().split()
        logs.append([row.split(",")[:3] for row in rows])
    assert logs[0] == logs[1] and logs[0] != logs[2]
    for key, value in states[0]["state_dict"].items():
        assert torch.equal(value, states[1]["state_dict"][key]), key
    assert any(
        not torch.equal(v, states[2]["state_dict"][k])
        for k, v in states[0]["state_dict"].items()
        if v.is_floating_point() and v.numel()
    )


@pytest.mark.parametrize("factor", [0.0, 1.0])
def test_kernel_learning_rate_factor(tmp_path, factor):
    from openmm_sog.model.long_range import coulomb_initial_kernel
    from openmm_sog.training.loop import train

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    train(load_config(write_config(tmp_path, epochs=2, progress=False, kernel_lr_factor=factor)))
    state = torch.load(tmp_path / "run" / "model_best.pt", weights_only=True)["state_dict"]
    initial = coulomb_initial_kernel(1, 3.5 / 2, 4, dtype=torch.float32)
    weights = state["lr.periodic.kernel.weights"]
    assert torch.equal(weights, initial.weights.detach()) == (factor == 0.0)


@pytest.mark.parametrize(
    ("key", "penalty"),
    [
        ("charge_weight", lambda q: (q * q).mean()),
        ("charge_l1_weight", lambda q: q.abs().mean()),
    ],
)
def test_charge_priors_add_their_penalty_exactly(tmp_path, key, penalty):
    """training.charge_weight w_q adds w_q mean(q^2) over the batch's latent charges (e^2) to
    the loss, training.charge_l1_weight w_1 adds w_1 mean(|q|) (e), over atoms and channels,
    exactly; with a short-range model (no charges) neither adds anything; a negative weight
    is named."""
    from openmm_sog.training.batches import DeviceData
    from openmm_sog.training.distributed import Context
    from openmm_sog.training.loop import _batch_loss
    from openmm_sog.training.model_io import build_model

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    structures = read_dataset(tmp_path / "toy.xyz")
    data = DeviceData(structures, torch.device("cpu"), torch.float64)

    def loss_and_model(weight: float, **model_keys: object) -> tuple[float, torch.nn.Module]:
        """The batch loss of a freshly built model (same seed) with the prior at ``weight``."""
        path = write_config(tmp_path, **{key: weight})
        values = yaml.safe_load(path.read_text())
        values["model"].update(model_keys)
        path.write_text(yaml.safe_dump(values))
        config = load_config(path)
        torch.manual_seed(1)
        model = build_model(config.model, structures, "float64")
        loss = _batch_loss(model, structures, data, config, Context(0, 1), False)
        return float(loss.detach()), model

    without, _ = loss_and_model(0.0, num_channels=2)
    with_prior, model = loss_and_model(3.0, num_channels=2)
    out = model(**data.batch(structures).model_inputs(), compute_forces=True)
    charges = out["charges"].detach()
    assert float(charges.abs().max()) > 0
    assert charges.shape[1] == 2  # the mean runs over atoms and channels
    expected = without + 3.0 * float(penalty(charges))
    assert with_prior == pytest.approx(expected, rel=1e-12)
    # A short-range-only model has no charges ([N, 0]): the prior adds nothing (not NaN).
    short_range_without, _ = loss_and_model(0.0, long_range=False)
    short_range_with, _ = loss_and_model(3.0, long_range=False)
    assert math.isfinite(short_range_with) and short_range_with == short_range_without
    path = write_config(tmp_path, **{key: -1.0})
    with pytest.raises(ValueError, match=f"training.{key}"):
        load_config(path)


@pytest.mark.parametrize("refit", [0, 1], ids=["fit once", "refit every epoch"])
def test_pair_term_fit_starts_training_from_the_least_squares_pair_term(tmp_path, refit):
    """training.pair_term_fit sets the pair weights before the first step to the fit of the
    freshly built model (recomputed here), says what it did, and pair_lr_factor: 0 keeps them
    there through training; with pair_term_refit_interval: 1 the saved model's pair term is
    the least-squares optimum for its own network (a further fit changes nothing). The toy
    labels are a pair sum, so the fit removes most of the force error (not all: they reach
    beyond the model's cutoff)."""
    from openmm_sog.training.data import collate
    from openmm_sog.training.loop import load_training_data
    from openmm_sog.training.model_io import build_model, load_model
    from openmm_sog.training.pair_fit import fit_pair_term, pair_force_columns

    write_toy_data(tmp_path / "toy.xyz")
    path = write_config(
        tmp_path,
        pair_term_fit=True,
        pair_lr_factor=0.0,
        pair_term_refit_interval=refit,
        epochs=3,
        learning_rate=0.01,
    )
    values = yaml.safe_load(path.read_text())
    values["model"]["pair_basis"] = 12  # width 0.32 A: well determined by the 6 frames
    path.write_text(yaml.safe_dump(values))
    out = sognet("train", "--config", str(path)).stdout
    line = next(x for x in out.splitlines() if x.startswith("pair term fitted"))
    before, after = (float(v) for v in line.split("RMSE ")[1].split(" meV")[0].split(" -> "))
    assert after < 0.5 * before
    config = load_config(path)
    torch.manual_seed(config.seed)
    train_set, _ = load_training_data(config)
    fresh = build_model(config.model, train_set, "float32")  # as trained: same seed, same draws
    trained = load_model(tmp_path / "run" / "model_best.pt", "float64")
    if refit:
        report = fit_pair_term(trained, train_set, config.training.batch_size)
        assert report["force_rmse_after"] == pytest.approx(report["force_rmse_before"], rel=1e-5)
    else:
        # Compared by the forces the pair term gives on the training structures: weights in
        # directions the few pair distances barely probe are set by rounding, not data.
        fit_pair_term(fresh, train_set, config.training.batch_size)
        assert float(fresh.pair_term.weights.detach().abs().max()) > 0
        for s in train_set:
            inputs = collate([s]).model_inputs()
            weights = (trained.pair_term.weights, fresh.pair_term.weights)
            saved, fitted = (
                torch.einsum(
                    "nxpk,pk->nx", pair_force_columns(trained, inputs), w.detach().double()
                )
                for w in weights
            )
            torch.testing.assert_close(saved, fitted, rtol=1e-4, atol=1e-5)


def test_unknown_config_key_is_an_error(tmp_path):
    path = write_config(tmp_path)
    values = yaml.safe_load(path.read_text())
    values["training"]["learning_rat"] = 0.1
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(ValueError, match="unknown config key.*learning_rat"):
        load_config(path)


def test_missing_files_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(FileNotFoundError, match="data file not found"):
        read_dataset(tmp_path / "nope.xyz")


def test_structure_selection(tmp_path):
    write_toy_data(tmp_path / "toy.xyz", frames=6)
    structures = read_dataset(tmp_path / "toy.xyz")
    pick = select_structures
    assert pick(structures, None) is structures and pick(structures, " ") is structures
    assert pick(structures, "1::2") == [structures[1], structures[3], structures[5]]
    assert pick(structures, "4:") == structures[4:]
    assert pick(structures, "0,5,-1") == [structures[0], structures[5], structures[5]]
    with pytest.raises(IndexError, match="index 6 out of range for 6"):
        pick(structures, "0,6")
    with pytest.raises(ValueError, match="bad structure selection 'a:b'"):
        pick(structures, "a:b")
    with pytest.raises(ValueError, match="picks none"):
        pick(structures, "10:")
    # The training file's selection is applied before the validation split.
    config = load_config(write_config(tmp_path))
    config.data.select, config.data.validation_fraction = "0:4", 0.25
    train, validation = load_training_data(config)
    assert len(train) == 3 and len(validation) == 1
    chosen = {float(s.positions.sum()) for s in train + validation}
    assert chosen == {float(s.positions.sum()) for s in structures[:4]}


def test_inconsistent_cell_and_pbc_are_errors(tmp_path):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    good = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[6, 6, 6], pbc=True)
    empty = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]], pbc=True)  # no cell
    for atoms in (good, empty):
        atoms.calc = SinglePointCalculator(atoms, energy=-1.0, forces=np.zeros((2, 3)))
    ase.io.write(str(tmp_path / "bad.xyz"), [good, empty], format="extxyz")
    with pytest.raises(ValueError, match=r"bad.xyz, frame 1: inconsistent cell and pbc"):
        read_dataset(tmp_path / "bad.xyz")
    partial = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]], cell=[6, 6, 6])
    partial.pbc = [True, True, False]
    ase.io.write(str(tmp_path / "slab.xyz"), [partial], format="extxyz")
    with pytest.raises(ValueError, match="partially periodic"):
        read_dataset(tmp_path / "slab.xyz")


def test_force_loss_without_forces_is_an_error(tmp_path):
    import ase
    import ase.io
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = ase.Atoms("NaCl", positions=[[0, 0, 0], [2.5, 0, 0]])
    atoms.calc = SinglePointCalculator(atoms, energy=-1.0)
    ase.io.write(str(tmp_path / "toy.xyz"), [atoms, atoms], format="extxyz")
    message = r"training.force_weight > 0 but \d+ of the \d+ training structures have no forces"
    with pytest.raises(ValueError, match=message):
        load_training_data(load_config(write_config(tmp_path)))


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared SOG-Net data not present (../shared)")
def test_readers_convert_units():
    spice = read_dataset(SHARED / "spice-dipep-dipolar.h5")
    assert len(spice) == 550 and not spice[0].pbc
    # Hartree/Bohr -> eV/A: forces of SPICE dipeptides are a few eV/A at most.
    assert 0.5 < float(spice[0].forces.abs().max()) < 20.0
    dimer = read_dataset(SHARED / "dimer0_CC_data.h5")
    assert len(dimer) == 13 and set(dimer[0].atomic_numbers.tolist()) <= {1, 6, 7, 8}
    point = read_dataset(SHARED / "pointcharge_data_test.h5")
    assert point[0].energy is None and point[0].pbc and point[0].num_atoms == 200


def test_initialize_from_with_ema_starts_the_average_at_the_starting_model(tmp_path):
    """With training.ema_decay, fine-tuning from a trained model judges that model at epoch 0
    (the average is made after the weights and scales are copied, not from the random
    initialisation), on data whose own energy scale differs from the source's."""
    from openmm_sog.training.loop import train
    from openmm_sog.training.model_io import load_model

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    base = write_config(tmp_path, epochs=3, progress=False, dtype="float64")
    values = yaml.safe_load(base.read_text())
    values["output"]["directory"] = "source"
    base.write_text(yaml.safe_dump(values))
    train(load_config(base))
    source = tmp_path / "source" / "model_best.pt"
    write_toy_data(tmp_path / "other.xyz", frames=4, seed=5)

    def epoch_zero(name: str, ema_decay: float | None) -> float:
        config = dict(values, output={"directory": name})
        config["data"] = dict(values["data"], train=str(tmp_path / "other.xyz"))
        config["training"] = dict(
            values["training"], epochs=1, initialize_from=str(source), ema_decay=ema_decay
        )
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        train(load_config(path))
        rows = [row.split(",") for row in (tmp_path / name / "log.csv").read_text().split()]
        assert rows[1][0] == "0"
        return float(rows[1][2])

    plain = epoch_zero("plain", None)
    averaged = epoch_zero("averaged", 0.9)
    assert averaged == pytest.approx(plain, rel=1e-10)
    assert load_model(tmp_path / "averaged" / "model_best.pt").energy_scale == pytest.approx(
        load_model(source).energy_scale, rel=1e-12
    )


def test_initialize_from_a_short_range_model(tmp_path):
    """A SOG-Net started from a trained short-range model carries that model's function."""
    from openmm_sog.training.data import collate
    from openmm_sog.training.loop import train
    from openmm_sog.training.model_io import build_model, initialize_from, load_model

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    base = write_config(tmp_path, epochs=3, progress=False, dtype="float64")
    values = yaml.safe_load(base.read_text())
    values["model"]["long_range"] = False
    values["output"]["directory"] = "shortrange"
    base.write_text(yaml.safe_dump(values))
    train(load_config(base))
    source = tmp_path / "shortrange" / "model_best.pt"

    def sognet_config(name: str, epochs: int, **model: object) -> Path:
        config = dict(values, output={"directory": name})
        config["model"] = dict(values["model"], long_range=True, **model)
        config["training"] = dict(values["training"], epochs=epochs, initialize_from=str(source))
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    # The started model itself: its local part is the short-range model, so its short-range
    # energy equals that model's energy, and with tiny charges so do its forces.
    config = load_config(sognet_config("started", 1, charge_init_scale=1e-6))
    structures = read_dataset(tmp_path / "toy.xyz")
    started = build_model(config.model, structures, "float64")
    report = initialize_from(started, config.model, source)
    assert {name.split(".")[0] for name in report["kept"]} == {
        "charge_head",
        "charge_offsets",
        "lr",
    }
    shortrange = load_model(source)
    assert started.energy_scale == shortrange.energy_scale
    batch = collate(structures).to(torch.float64)
    expected = shortrange(**batch.model_inputs(), compute_forces=True)
    got = started(**batch.model_inputs(), compute_forces=True)
    parts = started.energy_components(**batch.model_inputs())
    torch.testing.assert_close(parts["energy_sr"], expected["energy"], rtol=1e-12, atol=1e-12)
    assert 0.0 < float(parts["energy_lr"].detach().abs().max()) < 1e-6
    torch.testing.assert_close(got["forces"], expected["forces"], rtol=0.0, atol=1e-6)

    # Training on from there: the first epoch starts at the short-range model's loss.
    train(load_config(sognet_config("trained", 1, charge_init_scale=1e-6)))
    sr_rows = (tmp_path / "shortrange" / "log.csv").read_text().split()
    best_sr = min(float(row.split(",")[2]) for row in sr_rows[1:])
    rows = [row.split(",") for row in (tmp_path / "trained" / "log.csv").read_text().split()]
    # Epoch 0 is the starting model, validated before any step (no training loss).
    assert rows[1][0] == "0" and rows[1][1] == "nan" and float(rows[1][2]) > 0
    first = float(rows[2][1])
    assert first < 2.0 * best_sr

    with pytest.raises(ValueError, match=r"another local model: fitting_sizes \(\[8\]"):
        train(load_config(sognet_config("wider", 1, fitting_sizes=[12])))
    missing = sognet_config("missing", 1)
    text = missing.read_text().replace(str(source), str(tmp_path / "nope.pt"))
    missing.write_text(text)
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        train(load_config(missing))
    # A SOG-Net's charge head and kernel have no place in a short-range model.
    values["training"]["initialize_from"] = str(tmp_path / "trained" / "model_best.pt")
    values["output"]["directory"] = "back"
    base.write_text(yaml.safe_dump(values))
    with pytest.raises(ValueError, match="is a SOG-Net; its charge head and kernel have no place"):
        train(load_config(base))


def test_log_has_physical_rmses_and_old_logs_gain_the_columns(tmp_path):
    """log.csv: loss = w_E MSE(E/atom) + w_F MSE(F), so the RMSE columns (meV) reproduce it;
    a resumed run whose log predates the RMSE columns gets them (empty in the old rows)."""
    from openmm_sog.training.loop import LOG_FIELDS, train

    write_toy_data(tmp_path / "toy.xyz", frames=4)
    config = load_config(write_config(tmp_path, epochs=1, progress=False, dtype="float64"))
    train(config)
    log = tmp_path / "run" / "log.csv"
    rows = log.read_text().split()
    assert rows[0].split(",") == LOG_FIELDS
    row = dict(zip(LOG_FIELDS, map(float, rows[1].split(",")), strict=True))
    energy_ev = row["validation_energy_rmse_meV_per_atom"] / 1e3
    forces_ev = row["validation_forces_rmse_meV_per_A"] / 1e3
    assert row["validation_loss"] == pytest.approx(energy_ev**2 + 10.0 * forces_ev**2, rel=1e-9)
    old = ",".join(LOG_FIELDS[:5])
    log.write_text(old + "\n" + ",".join(rows[1].split(",")[:5]) + "\n")
    config.training.epochs, config.output.resume = 2, True
    train(config)
    rows = log.read_text().split()
    assert rows[0].split(",") == LOG_FIELDS and len(rows) == 3
    assert rows[1].split(",")[5:] == ["", "", "", ""] and "" not in rows[2].split(",")
