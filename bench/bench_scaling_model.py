"""Benchmark: cost of TorchSOGForce's long range against system size, 1k to 1M atoms.

Issue 17's target 4 for the SOG-Net force (bench_scaling.py times the same host engine through
a bare SOGForce). Here the long range is timed inside ``TorchSOGForce`` itself, on the CPU
platform with one thread: the force's own timers (``OPENMM_SOG_PROFILE``, one JSON line per
Context with the median wall time of each part of an evaluation) give its k-space engine and
the narrow Gaussians' sum over the model's neighbour pairs, next to the model's forward pass
(which includes selecting those pairs) and backward pass. A difference of two whole timings
(the force against its model alone) was tried first: on this shared machine the model part's
time varies by 10-25 % from one evaluation to the next, more than the long range itself.

The model is a *probe*: the shipped electrolyte SOG-Net's long range (its 28 learned Gaussians,
NUFFT tolerance, 5 A cutoff, one neutralised channel, so the same k-space grid and the same
real-space pairs) on the narrowest local network the configuration allows (widths 2, random
weights), which needs less memory at 1M atoms; the long range's cost does not depend on the
local network or on the charges' values.

Systems: random positions at the molten-NaCl density (32 ions/nm^3), alternating Na and Cl.
``--repeats`` evaluations after two warm-up ones; the exponent is the least-squares slope of
log time against log N. Appends a table to bench/RESULTS.md unless ``--no-append``.

    python bench/bench_scaling_model.py             # 1k ... 1M atoms
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import openmm
import torch
from bench_openmm import append_results, machine
from bench_scaling import exponent, random_ions
from openmm import unit

from openmm_sog.model.sognet import SOGNet, SOGNetConfig
from openmm_sog.openmm_model import create_sognet_force
from openmm_sog.training.export import export_model
from openmm_sog.training.model_io import load_model

REPO = Path(__file__).resolve().parent.parent


def probe_model(shipped: Path) -> SOGNet:
    """The shipped model's long range (kernel, tolerance, cutoff, channels) on the narrowest
    local network: random weights (seeded), widths 2."""
    reference = load_model(shipped)
    stored = torch.load(shipped, weights_only=True)["config"]
    config = SOGNetConfig(**stored)
    config.embedding_sizes = [2, 2]
    config.axis_features = 1
    config.fitting_sizes = [2]
    config.charge_sizes = [2]
    config.radial_features = False
    torch.manual_seed(0)
    model = SOGNet(config, reference.energy_shifts.double(), 1.0)
    kernel = {k: v for k, v in reference.state_dict().items() if k.startswith("lr.")}
    model.load_state_dict(kernel, strict=False)
    return model


def force_context(exported: Path, positions: np.ndarray, edge: float, numbers: list[int]):
    system = openmm.System()
    system.setDefaultPeriodicBoxVectors(
        openmm.Vec3(edge, 0, 0), openmm.Vec3(0, edge, 0), openmm.Vec3(0, 0, edge)
    )
    for number in numbers:
        system.addParticle(22.99 if number == 11 else 35.45)
    system.addForce(create_sognet_force(exported, numbers, implementation="native"))
    context = openmm.Context(
        system,
        openmm.VerletIntegrator(1e-3),
        openmm.Platform.getPlatformByName("CPU"),
        {"Threads": "1"},
    )
    context.setPositions(positions * unit.nanometer)
    return context


def time_size(exported: Path, n: int, repeats: int) -> dict:
    """The median wall time (ms) of each part of a TorchSOGForce evaluation of ``n`` random
    ions, from the force's OPENMM_SOG_PROFILE record, and of the whole getState() call. Runs in
    a ``--measure`` process of its own, whose environment it sets."""
    edge, positions, _ = random_ions(n)
    numbers = [11 if i % 2 == 0 else 17 for i in range(n)]
    record = Path(tempfile.mkdtemp()) / "profile.jsonl"
    os.environ["OPENMM_SOG_PROFILE"] = str(record)
    context = force_context(exported, positions, edge, numbers)
    whole = []
    for k in range(repeats + 2):  # two warm-ups, which the profile leaves out too
        context.setPositions(positions * unit.nanometer)
        start = time.perf_counter()
        context.getState(getForces=True)
        if k >= 2:
            whole.append(1e3 * (time.perf_counter() - start))
    del context  # the kernel writes its record as it goes, with the Context
    gc.collect()
    parts = json.loads(record.read_text().splitlines()[-1])["median_ms"]
    parts["whole"] = statistics.median(whole)
    parts["long range"] = parts["long range k-space"] + parts["long range real space"]
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[1000, 4000, 16000, 64000, 256000, 1000000]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default=str(REPO / "models" / "electrolyte_sognet.pt"))
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument(
        "--measure", nargs=2, metavar=("EXPORT", "N"), help=argparse.SUPPRESS
    )  # one size, in a process of its own: prints its parts as JSON
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.measure is not None:
        print(json.dumps(time_size(Path(args.measure[0]), int(args.measure[1]), args.repeats)))
        return
    exported = Path(tempfile.mkdtemp()) / "probe.pt"
    export_model(probe_model(Path(args.model)), exported)
    rows = []
    for n in args.sizes:
        # One process per size: a size beyond this machine's memory is killed alone.
        command = [sys.executable, __file__, "--measure", str(exported), str(n)]
        done = subprocess.run(command + ["--repeats", str(args.repeats)], capture_output=True)
        lines = done.stdout.decode().strip().splitlines()
        if done.returncode != 0 or not lines:
            why = "killed: out of memory" if done.returncode == -9 else done.stderr.decode()[-300:]
            print(f"N={n}: not run ({why.strip()})", flush=True)
            continue
        parts = json.loads(lines[-1])
        print(f"N={n}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in parts.items()), flush=True)
        rows.append((n, parts))
    sizes = [n for n, _ in rows]
    columns = ["whole", "model forward", "model backward", "long range k-space",
               "long range real space", "long range"]  # fmt: skip
    slopes = {name: exponent(sizes, [parts[name] for _, parts in rows]) for name in columns}
    lines = [
        "| N | TorchSOGForce (ms) | model forward (ms) | model backward (ms) | k-space (ms) "
        "| real space (ms) | long range (ms) | long range / whole |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, parts in rows:
        cells = " | ".join(f"{parts[name]:.1f}" for name in columns)
        lines.append(f"| {n} | {cells} | {parts['long range'] / parts['whole']:.3f} |")
    cells = " | ".join(f"**{slopes[name]:.2f}**" for name in columns)
    lines.append(f"| fitted exponent a (t ~ N^a) | {cells} | |")
    table = "\n".join(lines)
    print(table)
    if args.no_append:
        return
    text = (
        f"\n## TorchSOGForce's long range against size (issue 17 target 4), "
        f"{datetime.date.today().isoformat()}\n\n"
        f"Machine: {machine()}; `python bench/bench_scaling_model.py`. Wall time, CPU "
        f"platform with one thread, median of {args.repeats} force evaluations, the parts "
        "from the force's own timers "
        "(OPENMM_SOG_PROFILE); random ions at 32 /nm^3; a probe model: the shipped "
        "electrolyte SOG-Net's long range (28 Gaussians, tolerance 1e-4, 5 A cutoff) on the "
        "narrowest local network (widths 2). Long range = k-space engine + the narrow "
        "Gaussians' sum over the model's pairs (their selection is in the model's forward "
        f"pass).\n\n{table}\n"
    )
    append_results([text])


if __name__ == "__main__":
    main()
