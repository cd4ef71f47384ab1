"""``sognet train --config CONFIG.yaml`` (also under ``torchrun``, see ``docs/training.md``)."""

from __future__ import annotations

import argparse
import json

EPILOG = """run folders (output.directory, relative to the current directory):
  a fresh run refuses a folder that already holds a run; --resume continues it (the config
  must be the same apart from epochs, time cap, patience and progress), --overwrite replaces
  it. The folder keeps the run's config in config.yaml.

data-parallel training on N CPU processes (gloo, DistributedDataParallel):
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
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in output.directory from its checkpoint (config output.resume)",
    )
    mode.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in output.directory with a fresh one (config output.overwrite)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.config import load_config, validate_config
    from openmm_sog.training.distributed import is_main_process
    from openmm_sog.training.loop import train

    config = load_config(args.config)
    if args.resume:
        config.output.resume, config.output.overwrite = True, False
    if args.overwrite:
        config.output.resume, config.output.overwrite = False, True
    summary = train(validate_config(config))
    if is_main_process():
        print(json.dumps(summary, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
