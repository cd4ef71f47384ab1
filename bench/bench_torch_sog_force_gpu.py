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
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import openmm
import torch
from bench_long_range import machine

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.systems import molten_nacl, molten_nacl_model_inputs
from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

REPO = Path(__file__).resolve().parent.parent


def force_context(exported: Path, num_ions: int, platform: str, precision: str) -> openmm.Context:
    """A Context on ``platform`` with only the model's TorchSOGForce, at a melt's positions."""
    system, positions, species = molten_nacl(num_ions, seed=1)
    model_system = openmm.System()
    model_system.setDefaultPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
    for i in range(system.getNumParticles()):
        model_system.addParticle(system.getParticleMass(i))
    numbers = [11 if name == "Na" else 17 for name in species]
    model_system.addForce(create_sognet_force(exported, numbers, implementation="native"))
    context = openmm.Context(
        model_system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        {"Precision": precision},
    )
    context.setPositions(positions)
    return context


def libtorch_evaluation(exported: Path, num_ions: int, device: torch.device) -> Callable:
    """Energy and forces of the export's local part as TorchSOGForce calls it (float64 positions
    in Angstrom that require grad, ``local_energy_and_charges``, one backward pass)."""
    module = torch.jit.load(str(exported), map_location=device)
    inputs = molten_nacl_model_inputs(num_ions, seed=1, dtype=torch.float64)
    angstrom = inputs["positions"].to(device)
    numbers = inputs["atomic_numbers"].to(device)
    cell = inputs["cell"][0].to(device)

    def evaluate() -> None:
        r = angstrom.clone().requires_grad_(True)
        energy, _ = module.local_energy_and_charges(r, numbers, cell, True)
        torch.autograd.grad(energy.sum(), [r])

    return evaluate


def timed_interleaved(
    evaluations: dict[str, Callable], repeats: int, device: torch.device
) -> dict[str, float]:
    """Median wall time (s) of each evaluation, synchronised, the cases taking turns after
    three warm-up rounds (TorchScript optimises a method over its first calls)."""

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(3):
        for evaluate in evaluations.values():
            evaluate()
    times: dict[str, list[float]] = {label: [] for label in evaluations}
    for _ in range(repeats):
        for label, evaluate in evaluations.items():
            sync()
            t0 = time.perf_counter()
            evaluate()
            sync()
            times[label].append(time.perf_counter() - t0)
    return {label: statistics.median(values) for label, values in times.items()}


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
        context = force_context(exports["sognet"], num_ions, args.platform, args.precision)
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
