"""Does reduced-precision training hold a SOG-Net's accuracy? (issue 16: optional mixed precision)

Trains one configuration for a fixed number of epochs once per precision mode, same seed and
data, then evaluates every ``model_best.pt`` the same way: per-species energy shifts refitted
by least squares in float32 (what ``sognet train`` does after training), errors in float64 on a
test file or, without one, on the run's seeded validation split. Modes:

* ``float32``: the reference (``training.dtype: float32``, full float32 matrix products);
* ``bfloat16`` / ``float16``: every network of the model (``descriptor.mlp``: the DeepPot-SE
  embedding, the fitting and charge networks, PaiNN's message and update networks) under
  ``torch.autocast`` to that type, the rest in float32;
* ``bfloat16-hidden``: as ``bfloat16`` but each network's output layer in float32;
* ``tf32``: every float32 matrix product (mm, addmm, bmm, baddbmm) with its inputs rounded to
  TF32's 10 mantissa bits, round to nearest even, accumulated in float32 -- what a CUDA GPU
  with TF32 enabled computes -- except 3 x 3 geometry products (fractional coordinates, cell
  shifts), which a TF32 option would have to keep in float32 (rounding a 20 A coordinate to 10
  bits moves it by 0.01 A). Emulated on any processor, backward passes included.

Only accuracy is measured here: on a CPU these modes are not faster (bfloat16 was 16 % slower
per epoch on an AMD EPYC with AVX-512 BF16). The speed that would justify them is a GPU's.

    python3 examples/mixed_precision_study.py --config models/electrolyte_sognet.yaml \\
        --epochs 120 --test data/electrolyte/test.xyz --modes float32 bfloat16 --output mp
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

import openmm_sog.model.descriptor as descriptor
import openmm_sog.model.painn as painn
import openmm_sog.model.sognet as sognet
from openmm_sog.training.config import load_config
from openmm_sog.training.data import read_dataset
from openmm_sog.training.loop import load_training_data, train
from openmm_sog.training.metrics import evaluate
from openmm_sog.training.model_io import load_model, refit_energy_shifts

MODES = ("float32", "bfloat16", "bfloat16-hidden", "float16", "tf32")
AUTOCAST = {"bfloat16": torch.bfloat16, "bfloat16-hidden": torch.bfloat16, "float16": torch.float16}
#: aten matrix products and the positions of their two factors.
PRODUCTS = {
    torch.ops.aten.mm.default: (0, 1),
    torch.ops.aten.addmm.default: (1, 2),
    torch.ops.aten.bmm.default: (0, 1),
    torch.ops.aten.baddbmm.default: (1, 2),
}


class AutocastNetwork(nn.Sequential):
    """A network (Linear / SiLU layers) evaluated under autocast; float32 out."""

    def __init__(self, layers: nn.Sequential, dtype: torch.dtype, output_full: bool) -> None:
        super().__init__(*layers)
        self.autocast_dtype = dtype
        self.output_full = output_full

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = list(self)
        reduced = layers[:-1] if self.output_full else layers
        with torch.autocast(x.device.type, dtype=self.autocast_dtype):
            for layer in reduced:
                x = layer(x)
        x = x.to(torch.float32)
        return layers[-1](x) if self.output_full else x


def round_to_tf32(t: torch.Tensor) -> torch.Tensor:
    """float32 values rounded to 10 mantissa bits (nearest, ties to even); others unchanged."""
    if t.dtype != torch.float32:
        return t
    bits = t.contiguous().view(torch.int32)
    lowest_kept = (bits >> 13) & 1
    return ((bits + 0xFFF + lowest_kept) & ~0x1FFF).view(torch.float32).view_as(t)


class TF32Products(TorchDispatchMode):
    """Every float32 matrix product with a contraction longer than 3 takes TF32 inputs."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        factors = PRODUCTS.get(func)
        if factors is not None and args[factors[1]].shape[-2] > 3:
            args = list(args)
            for k in factors:
                args[k] = round_to_tf32(args[k])
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def precision(mode: str) -> Iterator[None]:
    """Models built inside use ``mode`` while they train (see the module docstring)."""
    if mode == "tf32":
        with TF32Products():
            yield
        return
    if mode == "float32":
        yield
        return
    plain = descriptor.mlp

    def reduced(sizes: list[int], final_scale: float = 1.0) -> nn.Sequential:
        return AutocastNetwork(plain(sizes, final_scale), AUTOCAST[mode], mode.endswith("hidden"))

    modules = (descriptor, painn, sognet)
    for module in modules:
        module.mlp = reduced
    try:
        yield
    finally:
        for module in modules:
            module.mlp = plain


def run(
    config_path: str,
    mode: str,
    epochs: int,
    output: Path,
    test: str | None,
    seed: int | None = None,
) -> dict:
    config = load_config(config_path)
    if seed is not None:  # also reseeds the validation split
        config.seed = seed
    t = config.training
    t.epochs, t.max_time_s, t.progress = epochs, None, False
    t.early_stopping_patience = epochs  # the same number of epochs for every mode
    t.refit_energy_shifts = False  # done below in float32 for every mode alike
    config.output.directory = str(output / f"{mode}_seed{config.seed}")
    config.output.overwrite = True
    with precision(mode):
        summary = train(config)
    train_set, validation = load_training_data(config)
    model = load_model(summary["model"])  # plain float32 networks again
    refit_energy_shifts(model, train_set)
    model = model.to(torch.float64)
    keys = {"energy_key": config.data.energy_key, "forces_key": config.data.forces_key}
    held_out = read_dataset(Path(test), "auto", **keys) if test else validation
    metrics = evaluate(model, held_out)
    log = (Path(config.output.directory) / "log.csv").read_text().splitlines()
    elapsed = float(log[-1].split(",")[4])
    return {
        "mode": mode,
        "seed": config.seed,
        "epochs": epochs,
        "training_s": elapsed,
        "held_out": test or "validation split",
        "forces_rmse_meV_per_A": metrics["forces_rmse_meV_per_A"],
        "energy_rmse_meV_per_atom": metrics["energy_rmse_meV_per_atom"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a sognet train YAML configuration")
    parser.add_argument("--epochs", type=int, required=True)
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    parser.add_argument("--test", help="held-out data file (default: the validation split)")
    parser.add_argument("--output", default="mixed_precision_study")
    parser.add_argument("--seed", type=int, help="overrides the config's seed (weights and split)")
    args = parser.parse_args()
    output = Path(args.output)
    for mode in args.modes:
        result = run(args.config, mode, args.epochs, output, args.test, args.seed)
        (output / f"{mode}_seed{result['seed']}.json").write_text(json.dumps(result, indent=1))
        print(
            f"{mode:16s} seed {result['seed']}  forces {result['forces_rmse_meV_per_A']:8.2f} "
            f"meV/A  energy {result['energy_rmse_meV_per_atom']:8.3f} meV/atom  "
            f"({result['training_s']:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
