"""``sognet export --model M -o FILE``: TorchScript file with metadata."""

from __future__ import annotations

import argparse
import json


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sognet export", description="Export to TorchScript.")
    p.add_argument("--model", required=True, help="model file (model_best.pt)")
    p.add_argument("-o", "--output", required=True, help="output .pt file")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None)
    p.add_argument(
        "--periodic",
        choices=["true", "false"],
        default=None,
        help="record that the model is for periodic (true) or non-periodic (false) systems; "
        "default: as recorded in the model file from its training data (unknown in files "
        "written before openmm-sog recorded it, which OpenMM then runs periodic)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    import warnings

    from openmm_sog.training.export import export_model
    from openmm_sog.training.model_io import load_model

    model = load_model(args.model, args.dtype)
    if args.periodic is not None:
        periodic = args.periodic == "true"
        trained = getattr(model, "trained_periodic", None)
        if trained is not None and trained != periodic:
            warnings.warn(
                f"{args.model} was trained on {'periodic' if trained else 'non-periodic'} "
                f"structures; recording --periodic {args.periodic} anyway",
                UserWarning,
                stacklevel=2,
            )
        model.trained_periodic = periodic
    meta = export_model(model, args.output)
    keys = ("cutoff_angstrom", "atomic_numbers", "periodic", "units", "weights_sha256")
    print(json.dumps({k: meta[k] for k in keys}))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
