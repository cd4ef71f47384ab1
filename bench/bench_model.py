"""Benchmark: cost of SOG-Net's long-range part over its short-range-only baseline.

The shipped models of the ionic toy system (``models/electrolyte_sognet.pt`` and
``models/electrolyte_shortrange.pt``: the same local network, with and without latent charges
and the SOG layer) evaluate energies and forces of molten NaCl boxes (docs/design.md §8
density) side by side in one run. The ratio SOG-Net / short-range is what the paper quotes as
the long-range overhead (10-40 % on CPU). Results are printed and appended with the date and
the machine to ``bench/RESULTS.md``.

    python bench/bench_model.py                      # 128 .. 32768 ions
    python bench/bench_model.py --sizes 128 1024     # quicker
"""

from __future__ import annotations

import argparse
import datetime
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from bench_long_range import machine, timed

from openmm_sog.systems import molten_nacl_model_inputs
from openmm_sog.training.model_io import load_model

REPO = Path(__file__).resolve().parent.parent


def timed_on(device: torch.device, fn: Callable[[], object], repeats: int) -> float:
    """Median time of ``fn()`` in seconds: CPU time on the CPU, synchronised wall time on a GPU."""
    if device.type == "cpu":
        return timed(fn, repeats)
    fn()
    times = []
    for _ in range(repeats):
        torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize(device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def describe(device: torch.device) -> str:
    if device.type == "cpu":
        return machine()
    return f"{torch.cuda.get_device_name(device)} (torch {torch.__version__}), host {machine()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024, 8192, 32768])
    parser.add_argument("--sognet", default=str(REPO / "models" / "electrolyte_sognet.pt"))
    parser.add_argument("--shortrange", default=str(REPO / "models" / "electrolyte_shortrange.pt"))
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument(
        "--profile", action="store_true", help="print torch.profiler's top operators of SOG-Net"
    )
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    device = torch.device(args.device)
    sognet = load_model(args.sognet, args.dtype).to(device)
    shortrange = load_model(args.shortrange, args.dtype).to(device)
    assert sognet.lr is not None and shortrange.lr is None
    kernel = sognet.lr.kernel
    print(f"machine: {describe(device)}")
    print(
        f"SOG-Net: cutoff {sognet.cutoff} A, {kernel.num_gaussians} Gaussians from "
        f"{kernel.min_width():.2f} A, NUFFT tolerance {sognet.lr.periodic.tolerance:g}; "
        f"{args.dtype}"
    )

    rows = []
    for n in args.sizes:
        inputs = {k: v.to(device) for k, v in molten_nacl_model_inputs(n, 1, dtype).items()}
        times = {}
        for name, model in (("shortrange", shortrange), ("sognet", sognet)):
            times[name] = timed_on(
                device, lambda model=model, inputs=inputs: model(**inputs), args.repeats
            )
        ratio = times["sognet"] / times["shortrange"]
        rows.append((n, times["shortrange"], times["sognet"], ratio))
        print(
            f"N={n:6d}: short-range {1e3 * times['shortrange']:9.1f} ms, SOG-Net "
            f"{1e3 * times['sognet']:9.1f} ms, SOG-Net / short-range {ratio:.3f}",
            flush=True,
        )

    if args.profile:
        activities = [torch.profiler.ProfilerActivity.CPU]
        if device.type == "cuda":
            activities.append(torch.profiler.ProfilerActivity.CUDA)
        with torch.profiler.profile(activities=activities) as prof:
            sognet(**inputs)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
        print(f"SOG-Net, {args.sizes[-1]} ions, one evaluation:")
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))
        if device.type == "cuda":
            print(prof.key_averages().table(sort_by="self_device_time_total", row_limit=15))
        # What makes a step launch- or sync-bound: operators, kernel launches, host waits.
        counts = {e.key: e.count for e in prof.key_averages()}
        launches = sum(n for k, n in counts.items() if k in ("cudaLaunchKernel", "cuLaunchKernel"))
        syncs = sum(
            n
            for k, n in counts.items()
            if k in ("cudaStreamSynchronize", "cudaDeviceSynchronize", "aten::_local_scalar_dense")
        )
        operators = sum(n for k, n in counts.items() if k.startswith("aten::"))
        print(f"ATen operators {operators}, kernel launches {launches}, host waits {syncs}")
    timing = (
        "CPU time of a single-threaded process"
        if device.type == "cpu"
        else "wall time (synchronised) on the GPU"
    )
    lines = [
        f"\n## SOG-Net vs its short-range-only baseline, {datetime.date.today().isoformat()}\n",
        f"Machine: {describe(device)}. Shipped models of the ionic toy system (local cutoff "
        f"{sognet.cutoff} A; SOG-Net adds one latent-charge channel and {kernel.num_gaussians} "
        f"Gaussians from {kernel.min_width():.2f} A, NUFFT tolerance "
        f"{sognet.lr.periodic.tolerance:g}), {args.dtype}, energy + forces (autograd) of molten "
        f"NaCl boxes at 0.032 ions/A^3; median {timing} over {args.repeats} evaluations. "
        "Overhead = SOG-Net / short-range - 1 (paper: 10-40 % on "
        "CPU).\n",
        "| ions | short-range (ms) | SOG-Net (ms) | SOG-Net / short-range | overhead |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n, t_sr, t_sog, ratio in rows:
        lines.append(
            f"| {n} | {1e3 * t_sr:.1f} | {1e3 * t_sog:.1f} | {ratio:.3f} | "
            f"{100 * (ratio - 1):.0f} % |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        with (REPO / "bench" / "RESULTS.md").open("a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
