"""``sognet train --config CONFIG.yaml`` (also under ``torchrun``, see ``docs/training.md``)."""

from __future__ import annotations

import argparse
import json

EPILOG = """data-parallel training on N CPU processes (gloo, DistributedDataParallel):
  OMP_NUM_THREADS=1 torchrun --standalone --nproc_per_node=N \\
      -m openmm_sog.cli.main train --config CONFIG.yaml

training.batch_size stays the global batch: each step's structures are split over the
ranks, so the result equals single-process training up to round-off. Only rank 0 writes
the log, checkpoints, model and progress output. See docs/training.md.
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sognet train",
        description="Train a SOG-Net.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--config", required=True, help="YAML training configuration")
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.config import load_config
    from openmm_sog.training.distributed import is_main_process
    from openmm_sog.training.loop import train

    summary = train(load_config(args.config))
    if is_main_process():
        print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
