"""``sognet plot``: parity plot, learning curve and learned kernel as PNG files."""

from __future__ import annotations

import argparse
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="sognet plot", description="Make figures.")
    p.add_argument("--model", help="model file; with --data: parity plot; always: kernel plot")
    p.add_argument("--data", help="data file for the parity plot")
    p.add_argument("--select", default=None, help="structures of --data to plot, e.g. '80:100'")
    p.add_argument("--log", help="log.csv of a training run: learning curve")
    p.add_argument("-o", "--output-dir", default=".", help="folder for the PNG files")
    return p


def run(args: argparse.Namespace) -> int:
    from openmm_sog.training import plotting
    from openmm_sog.training.data import read_dataset, select_structures
    from openmm_sog.training.model_io import load_model

    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if args.log:
        written.append(plotting.plot_learning_curve(args.log, out / "learning_curve.png"))
    if args.model:
        model = load_model(args.model)
        if args.data:
            structures = select_structures(read_dataset(args.data), args.select)
            written.append(plotting.plot_parity(model, structures, out / "parity.png"))
        if model.lr is not None:
            written.append(plotting.plot_kernel(model, out / "kernel.png"))
    for path in written:
        print(path)
    return 0 if written else 2


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
