"""``sognet train --config CONFIG.yaml`` (also under ``torchrun``, see ``docs/training.md``)."""

from __future__ import annotations

import argparse
import json

EPILOG = """run folders (output.directory, relative to the current directory):
  a fresh run refuses a folder that already holds a run; --resume continues it (the config
  must be the same apart from epochs, time cap, patience and progress), --overwrite replaces
  it. The folder keeps the run's config in config.yaml.

data-parallel training on N processes (DistributedDataParallel; CPU processes with gloo, or
one GPU each with NCCL when training.device is cuda):
  sognet train --config CONFIG.yaml --nproc N
which launches torchrun itself, the same as
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
    p.add_argument(
        "--nproc",
        type=int,
        default=1,
        help="train data-parallel on N processes on this machine (launches torchrun; "
        "CPU processes, or one GPU each with training.device: cuda)",
    )
    return p


def _launch(args: argparse.Namespace, device: str) -> int:
    """Run this command under torchrun with ``args.nproc`` processes (single node)."""
    import os

    import torch
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import main as torchrun

    from openmm_sog.training.errors import SognetError

    if device != "cpu":
        if device != "cuda":
            raise SognetError(
                f"--nproc {args.nproc} with training.device {device!r}: every process needs "
                "its own GPU; use training.device: cuda (process k runs on cuda:k)"
            )
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if args.nproc > count:
            raise SognetError(
                f"--nproc {args.nproc} with training.device cuda needs {args.nproc} GPUs; "
                f"this machine has {count}"
            )
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the processes share the cores
    command = ["train", "--config", args.config]
    command += ["--resume"] if args.resume else []
    command += ["--overwrite"] if args.overwrite else []
    launcher = ["--standalone", f"--nproc_per_node={args.nproc}", "-m", "openmm_sog.cli.main"]
    try:
        torchrun([*launcher, *command])
    except ChildFailedError as error:
        raise SognetError(
            f"training failed in one of the {args.nproc} processes (see its error above): "
            f"{' '.join(str(error).split())[:300]}"
        ) from None
    return 0


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.config import load_config, validate_config
    from openmm_sog.training.distributed import is_main_process, launched_by_torchrun
    from openmm_sog.training.errors import SognetError
    from openmm_sog.training.loop import train

    if args.nproc < 1:
        raise SognetError(f"--nproc must be >= 1, got {args.nproc}")
    if args.nproc > 1 and launched_by_torchrun():
        raise SognetError(
            "--nproc under torchrun: torchrun already starts the processes; drop one of the two"
        )
    config = load_config(args.config)
    if args.nproc > 1:
        return _launch(args, config.training.device)
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
