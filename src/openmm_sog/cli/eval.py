"""``sognet eval --model M --data D [--json]``: errors in meV/atom and meV/A."""

from __future__ import annotations

import argparse
import json


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sognet eval", description="Evaluate a model on data.")
    p.add_argument("--model", required=True, help="model file (model_best.pt) or checkpoint")
    p.add_argument("--data", required=True, help="data file (extxyz or HDF5)")
    p.add_argument("--format", default="auto", help="data format (default: from the file)")
    p.add_argument(
        "--select", default=None, help="structures to use, e.g. '80:100' or '1::2' (default: all)"
    )
    p.add_argument(
        "--energy-key", default="energy", help="extxyz key of the energies, eV (e.g. REF_energy)"
    )
    p.add_argument(
        "--forces-key", default="forces", help="extxyz key of the forces, eV/A (e.g. REF_forces)"
    )
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--dtype",
        choices=["float64", "float32", "model"],
        default="float64",
        help="precision of the evaluation (default float64: a float32 total energy of a few "
        "thousand eV is rounded to about 1 meV, which would floor small per-atom errors; "
        "'model' = the precision it was trained in)",
    )
    p.add_argument(
        "--device", default="cpu", help="where to evaluate: cpu (default), cuda or cuda:N"
    )
    p.add_argument("--json", action="store_true", help="print JSON only")
    return p


def load_model_file(path: str, dtype: str | None = None):
    """The model of a ``sognet train`` file, or a :class:`SognetError` that says what the file
    is instead (a TorchScript export, a text file, another pickle)."""
    import pickle
    import zipfile

    from openmm_sog.training.errors import SognetError
    from openmm_sog.training.model_io import load_model

    remedy = "give a model_best.pt or checkpoint_last.pt written by sognet train"
    try:
        return load_model(path, dtype)
    except (pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as error:
        raise SognetError(f"{path} is not a model file ({error}): {remedy}") from None
    except (KeyError, TypeError, AttributeError, RuntimeError) as error:
        if _is_torchscript(path):
            raise SognetError(
                f"{path} is a TorchScript export (sognet export), which sognet eval cannot "
                f"read: {remedy}, or use the export in OpenMM (create_sognet_force)"
            ) from None
        raise SognetError(
            f"{path} is not a SOG-Net model file ({type(error).__name__}: {error}): {remedy}"
        ) from None


def _is_torchscript(path: str) -> bool:
    """Whether ``path`` is a zip archive holding TorchScript code (``torch.jit.save``)."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return any(
                name.endswith((".py", "/code/", "constants.pkl")) for name in archive.namelist()
            )
    except (OSError, zipfile.BadZipFile):
        return False


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.data import read_dataset, select_structures
    from openmm_sog.training.device import resolve_device
    from openmm_sog.training.errors import SognetError
    from openmm_sog.training.metrics import evaluate

    if args.batch_size < 1:
        raise SognetError(f"--batch-size must be >= 1, got {args.batch_size}")
    device = resolve_device(args.device, "--device")
    dtype = None if args.dtype == "model" else args.dtype
    model = load_model_file(args.model, dtype)
    structures = select_structures(
        read_dataset(args.data, args.format, args.energy_key, args.forces_key), args.select
    )
    if all(s.energy is None and s.forces is None for s in structures):
        raise SognetError(
            f"{args.data}: the selected structures have no energy or force labels to compare "
            "with: choose labelled structures (--select) or name the labels' keys "
            "(--energy-key, --forces-key)"
        )
    metrics = evaluate(model.to(device), structures, args.batch_size)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>28}: {value:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
