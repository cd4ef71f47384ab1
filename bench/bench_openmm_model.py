"""Benchmark: a SOG-Net in OpenMM, native TorchSOGForce against the all-torch PythonForce.

The shipped SOG-Net of the ionic toy system (``models/electrolyte_sognet.pt``) and its
short-range-only twin (``models/electrolyte_shortrange.pt``) are exported and evaluated as
OpenMM forces on molten NaCl boxes of several sizes, side by side in one run:

* SOG-Net as ``TorchSOGForce`` (libtorch model + the plugin's C++ long range),
* SOG-Net as ``TorchSOGForce`` from an AOTInductor package (``sognet export --format
  aotinductor``: the model compiled, neighbour pairs from the plugin's C++ cell list),
* SOG-Net as ``PythonForce`` (the whole model in torch, long range by the torch NUFFT),
* the short-range model as ``PythonForce`` (no long range at all),
* the short-range model's export called through libtorch exactly as ``TorchSOGForce`` calls a
  model (``local_energy_and_charges`` on float64 positions, then one backward pass), without
  OpenMM: the same model without Gaussians, so that SOG-Net TorchSOGForce / this is what the
  long range adds (issue 17, target 2).

Printed: CPU time per force evaluation (median, one thread for torch and OpenMM, so that other
work on a shared machine does not distort it; the cases take turns) and the ratios native /
Python, SOG-Net / short range (PythonForce and libtorch), and AOTInductor / TorchScript. Results
are appended with the date and the machine to ``bench/RESULTS.md``.

    python bench/bench_openmm_model.py                    # 128, 1024, 4096 ions
    python bench/bench_openmm_model.py --sizes 128 1024
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import tempfile
import time
from pathlib import Path

import openmm
import torch
from bench_long_range import machine

from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.systems import molten_nacl, molten_nacl_model_inputs
from openmm_sog.training.compiled_export import export_compiled
from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

REPO = Path(__file__).resolve().parent.parent


def force_context(
    exported: Path,
    num_ions: int,
    implementation: str,
    platform: str = "CPU",
    properties: dict[str, str] | None = None,
) -> openmm.Context:
    """A Context with only the model's force, at a melt's positions: by default on the CPU
    platform with one thread."""
    system, positions, species = molten_nacl(num_ions, seed=1)
    model_system = openmm.System()
    model_system.setDefaultPeriodicBoxVectors(*system.getDefaultPeriodicBoxVectors())
    for i in range(system.getNumParticles()):
        model_system.addParticle(system.getParticleMass(i))
    numbers = [11 if name == "Na" else 17 for name in species]
    force = create_sognet_force(exported, numbers, implementation=implementation)
    model_system.addForce(force)
    context = openmm.Context(
        model_system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName(platform),
        {"Threads": "1"} if properties is None else properties,
    )
    context.setPositions(positions)
    for _ in range(3):  # TorchScript optimises a method over its first calls
        context.getState(getForces=True)
    return context


def timed_interleaved(evaluations: dict, repeats: int, device: torch.device | None = None) -> dict:
    """Median time (s) of each evaluation, the evaluations taking turns (one each per round,
    after one warm-up round): this machine's speed drifts by tens of percent over seconds,
    which timing one case after the other turns into differences between them. CPU time by
    default; on a CUDA ``device``, wall time with the device synchronised around each call."""
    on_gpu = device is not None and device.type == "cuda"
    clock = time.perf_counter if on_gpu else time.process_time

    def sync() -> None:
        if on_gpu:
            torch.cuda.synchronize(device)

    for evaluate in evaluations.values():
        evaluate()
    times: dict = {label: [] for label in evaluations}
    for _ in range(repeats):
        for label, evaluate in evaluations.items():
            sync()
            t0 = clock()
            evaluate()
            sync()
            times[label].append(clock() - t0)
    return {label: statistics.median(values) for label, values in times.items()}


def libtorch_evaluation(exported: Path, num_ions: int, device: torch.device | None = None):
    """A function that evaluates the export's energy and forces as TorchSOGForce's libtorch
    path does (float64 positions in Angstrom that require grad, ``local_energy_and_charges``,
    one backward pass of the summed energy), at a melt's positions, on ``device`` (default
    the CPU)."""
    device = device or torch.device("cpu")
    module = torch.jit.load(str(exported), map_location=device)
    inputs = molten_nacl_model_inputs(num_ions, seed=1, dtype=torch.float64)
    angstrom, numbers = inputs["positions"].to(device), inputs["atomic_numbers"].to(device)
    cell = inputs["cell"][0].to(device)

    def evaluate() -> None:
        r = angstrom.clone().requires_grad_(True)
        energy, _ = module.local_energy_and_charges(r, numbers, cell, True)
        torch.autograd.grad(energy.sum(), [r])

    for _ in range(3):  # TorchScript optimises a method over its first calls
        evaluate()
    return evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024, 4096])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument(
        "--sognet",
        default=str(REPO / "models" / "electrolyte_sognet.pt"),
        help="SOG-Net model file (a NaCl model; default: the shipped one)",
    )
    parser.add_argument(
        "--shortrange",
        default=str(REPO / "models" / "electrolyte_shortrange.pt"),
        help="the same backbone's short-range-only model file",
    )
    parser.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = Path(tempfile.mkdtemp())
    exports = {}
    models = {"sognet": load_model(args.sognet), "shortrange": load_model(args.shortrange)}
    for name, model in models.items():
        exports[name] = folder / f"{name}.pt"
        export_model(model, exports[name])
    exports["sognet_pt2"] = folder / "sognet.pt2"
    export_compiled(models["sognet"], exports["sognet_pt2"])
    backbone = models["sognet"].backbone_name
    cases = {
        "SOG-Net TorchSOGForce": (exports["sognet"], "native"),
        "SOG-Net TorchSOGForce AOTI": (exports["sognet_pt2"], "native"),
        "SOG-Net PythonForce": (exports["sognet"], "python"),
        "short range PythonForce": (exports["shortrange"], "python"),
    }
    libtorch_label = "short range libtorch"
    header = "| ions | " + " | ".join(f"{c} (ms)" for c in cases)
    header += f" | {libtorch_label} (ms) | native / Python | native / short range | "
    header += "native / short range libtorch | AOTI / TorchScript |"
    lines = [header, "|" + "---:|" * (len(cases) + 6)]
    print(f"machine: {machine()}")
    print(header)
    for num_ions in args.sizes:
        contexts = {
            label: force_context(exported, num_ions, implementation)
            for label, (exported, implementation) in cases.items()
        }
        evaluations = {
            label: (lambda c=context: c.getState(getForces=True))
            for label, context in contexts.items()
        }
        evaluations[libtorch_label] = libtorch_evaluation(exports["shortrange"], num_ions)
        medians = timed_interleaved(evaluations, args.repeats)
        times = {label: 1e3 * t for label, t in medians.items()}
        del contexts, evaluations
        native = times["SOG-Net TorchSOGForce"]
        row = f"| {num_ions} | " + " | ".join(f"{t:.1f}" for t in times.values())
        row += f" | {native / times['SOG-Net PythonForce']:.2f}"
        row += f" | {native / times['short range PythonForce']:.2f}"
        row += f" | {native / times[libtorch_label]:.2f}"
        row += f" | {times['SOG-Net TorchSOGForce AOTI'] / native:.2f} |"
        print(row, flush=True)
        lines.append(row)
    if not args.no_record:
        today = datetime.date.today().isoformat()
        text = (
            f"\n## SOG-Net in OpenMM: TorchSOGForce (TorchScript, AOTInductor) vs PythonForce, "
            f"{today}\n\n"
            f"Machine: {machine()}; OpenMM {openmm.__version__} CPU platform, one thread; "
            "`python bench/bench_openmm_model.py`. CPU time per force evaluation (median of "
            f"{args.repeats}, the cases taking turns), "
            f"electrolyte models {Path(args.sognet).name} / {Path(args.shortrange).name} "
            f"(backbone {backbone}), molten NaCl at the docs/design.md §8 density.\n\n"
            + "\n".join(lines)
            + "\n"
        )
        with open(REPO / "bench" / "RESULTS.md", "a") as results:
            results.write(text)


if __name__ == "__main__":
    main()
