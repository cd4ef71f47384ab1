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
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--dtype",
        choices=["float64", "float32", "model"],
        default="float64",
        help="precision of the evaluation (default float64: a float32 total energy of a few "
        "thousand eV is rounded to about 1 meV, which would floor small per-atom errors; "
        "'model' = the precision it was trained in)",
    )
    p.add_argument("--json", action="store_true", help="print JSON only")
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.data import read_dataset, select_structures
    from openmm_sog.training.metrics import evaluate
    from openmm_sog.training.model_io import load_model

    structures = select_structures(read_dataset(args.data, args.format), args.select)
    dtype = None if args.dtype == "model" else args.dtype
    metrics = evaluate(load_model(args.model, dtype), structures, args.batch_size)
    if args.json:
        print(json.dumps(metrics))
    else:
        for key, value in metrics.items():
            print(f"{key:>28}: {value:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
