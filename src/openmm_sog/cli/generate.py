"""``sognet generate electrolyte -o FILE``: labelled molten-NaCl frames (docs/design.md §8)."""

from __future__ import annotations

import argparse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sognet generate", description="Generate labelled data.")
    sub = p.add_subparsers(dest="system", required=True)
    e = sub.add_parser("electrolyte", help="molten-NaCl toy system, OpenMM PME labels")
    e.add_argument("-o", "--output", required=True, help="output extxyz file")
    e.add_argument("--frames", type=int, default=100)
    e.add_argument("--ions", type=int, default=128)
    e.add_argument("--temperature", type=float, default=1300.0, help="K")
    e.add_argument("--equilibration", type=float, default=10.0, help="ps")
    e.add_argument("--interval", type=float, default=0.5, help="ps between frames")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training.electrolyte import generate_electrolyte
    from openmm_sog.training.errors import SognetError

    checks = (
        (args.frames >= 1, f"--frames must be >= 1, got {args.frames}"),
        (args.temperature > 0, f"--temperature must be > 0 K, got {args.temperature}"),
        (args.equilibration >= 0, f"--equilibration must be >= 0 ps, got {args.equilibration}"),
        (args.interval > 0, f"--interval must be > 0 ps, got {args.interval}"),
    )
    for ok, message in checks:
        if not ok:
            raise SognetError(message)

    path = generate_electrolyte(
        args.output,
        args.frames,
        args.ions,
        args.temperature,
        args.equilibration,
        args.interval,
        seed=args.seed,
        progress=not args.no_progress,
    )
    print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
