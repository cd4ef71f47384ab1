"""``sognet plot``: parity plot, learning curve and learned kernel as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sognet plot",
        description="Make figures: --log gives the learning curve, --model the learned kernel, "
        "--model with --data a parity plot.",
    )
    p.add_argument("--model", help="model file; with --data: parity plot; always: kernel plot")
    p.add_argument("--data", help="data file for the parity plot (needs --model)")
    p.add_argument("--select", default=None, help="structures of --data to plot, e.g. '80:100'")
    p.add_argument("--energy-key", default="energy", help="extxyz key of the energies, eV")
    p.add_argument("--forces-key", default="forces", help="extxyz key of the forces, eV/A")
    p.add_argument("--log", help="log.csv of a training run: learning curve")
    p.add_argument("-o", "--output-dir", default=".", help="folder for the PNG files")
    p.add_argument(
        "--device", default="cpu", help="where the parity plot's model runs: cpu, cuda, cuda:N"
    )
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.cli.eval import load_model_file
    from openmm_sog.training import plotting
    from openmm_sog.training.data import read_dataset, select_structures
    from openmm_sog.training.device import resolve_device
    from openmm_sog.training.errors import SognetError

    if args.data and not args.model:
        raise SognetError("--data makes a parity plot of a model: give --model MODEL.pt too")
    if not args.model and not args.log:
        raise SognetError(
            "nothing to plot: give --log RUN/log.csv (learning curve) and/or --model "
            "MODEL.pt (learned kernel; with --data DATA, a parity plot)"
        )
    if args.log and not Path(args.log).is_file():
        raise FileNotFoundError(f"log file not found: {args.log}")
    device = resolve_device(args.device, "--device")
    model = load_model_file(args.model) if args.model else None
    structures = None
    if args.data:
        structures = select_structures(
            read_dataset(args.data, energy_key=args.energy_key, forces_key=args.forces_key),
            args.select,
        )
    if model is not None and model.lr is None and structures is None and not args.log:
        raise SognetError(
            f"{args.model} is a short-range-only model: it has no kernel to plot; give --data "
            "for a parity plot or --log for the learning curve"
        )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if args.log:
        written.append(plotting.plot_learning_curve(args.log, out / "learning_curve.png"))
    if model is not None:
        if structures is not None:
            written.append(plotting.plot_parity(model.to(device), structures, out / "parity.png"))
        if model.lr is not None:
            written.append(plotting.plot_kernel(model, out / "kernel.png"))
    for path in written:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
