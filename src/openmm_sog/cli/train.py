"""``sognet train --config CONFIG.yaml``."""

from __future__ import annotations

import argparse
import json


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sognet train", description="Train a SOG-Net.")
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
