"""Benchmark: what the long range adds to a SOG-Net in OpenMM on a GPU platform (issue 17, 2).

The shipped SOG-Net of the ionic toy system (``models/electrolyte_sognet.pt``) is exported and
run as a ``TorchSOGForce`` on the CUDA (or OpenCL) platform, molten NaCl boxes of several sizes.
Side by side in one run, the cases taking turns:

* ``TorchSOGForce``: energy and forces of the whole SOG-Net in OpenMM (model on the GPU through
  libtorch, long range in the plugin's device kernel, forces read back),
* ``local``: the same export's ``local_energy_and_charges`` with one backward pass, through
  libtorch on the same device, float64 positions as the kernel passes them: the model without
  its Gaussians, so ``TorchSOGForce / local - 1`` is the long range's cost,
* ``short range``: the short-range-only model (``electrolyte_shortrange.pt``) the same way.

Times are synchronised wall-clock milliseconds (median). On OpenCL the model runs on the host
(TorchSOGForce's OpenCL path), so the libtorch cases run on the CPU there.

    python bench/bench_torch_sog_force_gpu.py --platform CUDA --sizes 3000 24000
"""

from __future__ import annotations

import argparse
import datetime
import tempfile
from pathlib import Path

import openmm
import torch
from bench_long_range import machine
from bench_openmm_model import force_context, libtorch_evaluation, timed_interleaved

from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default="CUDA", choices=["CUDA", "OpenCL"])
    parser.add_argument("--precision", default="mixed", choices=["single", "mixed", "double"])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3000, 24000])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--sognet", default=str(REPO / "models" / "electrolyte_sognet.pt"))
    parser.add_argument("--shortrange", default=str(REPO / "models" / "electrolyte_shortrange.pt"))
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda" if args.platform == "CUDA" else "cpu")
    if device.type == "cuda" and not torch.cuda.is_available():
        parser.error("--platform CUDA needs a CUDA build of torch and a GPU")
    folder = Path(tempfile.mkdtemp())
    exports = {}
    for name, path in (("sognet", args.sognet), ("shortrange", args.shortrange)):
        exports[name] = folder / f"{name}.pt"
        export_model(load_model(path), exports[name])
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "host"
    print(f"machine: {machine()}; {args.platform} ({gpu}), precision {args.precision}")
    header = (
        "| ions | TorchSOGForce (ms) | local, no Gaussians (ms) | short range (ms) "
        "| TorchSOGForce / local - 1 | TorchSOGForce / short range - 1 |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|"]
    print(header, flush=True)
    for num_ions in args.sizes:
        context = force_context(
            exports["sognet"], num_ions, "native", args.platform, {"Precision": args.precision}
        )
        evaluations = {
            "native": lambda c=context: c.getState(getForces=True),
            "local": libtorch_evaluation(exports["sognet"], num_ions, device),
            "short": libtorch_evaluation(exports["shortrange"], num_ions, device),
        }
        ms = {k: 1e3 * t for k, t in timed_interleaved(evaluations, args.repeats, device).items()}
        del context, evaluations
        row = (
            f"| {num_ions} | {ms['native']:.2f} | {ms['local']:.2f} | {ms['short']:.2f} "
            f"| {ms['native'] / ms['local'] - 1:+.0%} | {ms['native'] / ms['short'] - 1:+.0%} |"
        )
        print(row, flush=True)
        lines.append(row)
    if not args.no_append:
        text = (
            f"\n## SOG-Net TorchSOGForce on {args.platform} vs its model without Gaussians, "
            f"{datetime.date.today().isoformat()}\n\n"
            f"Machine: {machine()}; {args.platform} ({gpu}), {args.precision} precision, "
            f"OpenMM {openmm.__version__}; `python bench/bench_torch_sog_force_gpu.py "
            f"--platform {args.platform}`. Synchronised wall time per force evaluation (median "
            f"of {args.repeats}, the cases taking turns), models {Path(args.sognet).name} / "
            f"{Path(args.shortrange).name}, molten NaCl at the docs/design.md §8 density.\n\n"
            + "\n".join(lines)
            + "\n"
        )
        with open(REPO / "bench" / "RESULTS.md", "a") as results:
            results.write(text)


if __name__ == "__main__":
    main()
