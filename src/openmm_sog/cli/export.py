"""``sognet export --model M -o FILE``: TorchScript file with metadata."""

from __future__ import annotations

import argparse
import json


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sognet export", description="Export to TorchScript.")
    p.add_argument("--model", required=True, help="model file (model_best.pt)")
    p.add_argument("-o", "--output", required=True, help="output .pt file")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None)
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.export import export_model
    from openmm_sog.training.model_io import load_model

    meta = export_model(load_model(args.model, args.dtype), args.output)
    print(json.dumps({k: meta[k] for k in ("cutoff_angstrom", "atomic_numbers", "units")}))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
