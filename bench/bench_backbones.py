"""Benchmark: cost of each local backbone, and of the SOG long range on top of it.

For every backbone (DeepPot-SE with the SPICE task's sizes, PaiNN and CACE with ``PAINN_MODEL``
and ``CACE_MODEL`` of examples/reproduce_paper.py) this builds the SOG-Net and its
short-range-only baseline (same backbone, same seed; timings do not depend on trained weights)
and times, side by side in one run:

* energy + forces (autograd) of molten NaCl boxes (periodic, 0.032 ions/A^3), and
* one training step (energy + forces with ``create_graph``, a force loss, backward) on a batch
  of four SPICE dipeptides (free space, 42-51 atoms), when ../shared/data is present.

Reported: milliseconds, each backbone's cost relative to DeepPot-SE, and the long range's
overhead (SOG-Net / short range - 1). Appended with date and machine to bench/RESULTS.md.

    python bench/bench_backbones.py                   # 128, 1024, 4096 ions + SPICE batch
    python bench/bench_backbones.py --sizes 128 --no-append
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import torch
from bench_long_range import machine, timed

from openmm_sog.model import SOGNet, SOGNetConfig
from openmm_sog.systems import molten_nacl_model_inputs

REPO = Path(__file__).resolve().parent.parent
SPICE = REPO.parent / "shared" / "data" / "sognet" / "spice-dipep-dipolar.h5"
sys.path.insert(0, str(REPO / "examples"))
from reproduce_paper import CACE_MODEL, PAINN_MODEL  # noqa: E402

#: The SPICE task's DeepPot-SE SOG-Net (examples/reproduce_paper.py), and PaiNN in its place.
DEEPPOT = {
    "cutoff": 5.0,
    "inner_cutoff": 3.5,
    "embedding_sizes": [16, 32],
    "fitting_sizes": [64, 64],
    "charge_sizes": [32],
    "min_width": 1.0,
    "neutralize": True,
}
BACKBONES = {
    "deeppot_se": DEEPPOT,
    "painn": {k: v for k, v in DEEPPOT.items() if k not in ("embedding_sizes", "inner_cutoff")}
    | {"backbone": "painn"}
    | PAINN_MODEL,
    "cace": {k: v for k, v in DEEPPOT.items() if k not in ("embedding_sizes", "inner_cutoff")}
    | {"backbone": "cace"}
    | CACE_MODEL,
}
# The same CACE with l <= 4 moments (the CACE papers' setting).
BACKBONES["cace_l4"] = BACKBONES["cace"] | {"max_l": 4}


def build(backbone: str, long_range: bool, numbers: list[int], dtype: torch.dtype) -> SOGNet:
    torch.manual_seed(0)
    config = SOGNetConfig(atomic_numbers=numbers, long_range=long_range, **BACKBONES[backbone])
    config.neighbor_normalization = 20.0
    return SOGNet(config, dtype=dtype)


def spice_batch(dtype: torch.dtype) -> dict[str, torch.Tensor] | None:
    if not SPICE.is_file():
        return None
    from openmm_sog.training.data import collate, read_dataset

    batch = collate(read_dataset(SPICE)[:4]).to(dtype)
    return batch


def training_step(model: SOGNet, batch) -> None:
    out = model(**batch.model_inputs(), create_graph=True)
    loss = (out["forces"] - batch.forces).pow(2).mean() + (out["energy"] - batch.energy).pow(
        2
    ).mean()
    loss.backward()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 1024, 4096])
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dtype = getattr(torch, args.dtype)
    print(f"machine: {machine()}")
    rows: list[tuple[str, str, float, float]] = []  # (case, backbone, SR s, SOG s)
    for n in args.sizes:
        inputs = molten_nacl_model_inputs(n, 1, dtype)
        for backbone in BACKBONES:
            sr, sog = (build(backbone, lr, [11, 17], dtype) for lr in (False, True))
            t = [timed(lambda m=m, x=inputs: m(**x), args.repeats) for m in (sr, sog)]
            rows.append((f"NaCl {n} ions, energy + forces", backbone, t[0], t[1]))
            print(f"{rows[-1][0]}, {backbone}: SR {1e3 * t[0]:.1f} ms, SOG {1e3 * t[1]:.1f} ms")
    batch = spice_batch(dtype)
    if batch is not None:
        numbers = sorted({int(z) for z in batch.atomic_numbers.tolist()})
        for backbone in BACKBONES:
            sr, sog = (build(backbone, lr, numbers, dtype) for lr in (False, True))
            t = [timed(lambda m=m, b=batch: training_step(m, b), args.repeats) for m in (sr, sog)]
            rows.append(("SPICE, 4 dipeptides, training step", backbone, t[0], t[1]))
            print(f"{rows[-1][0]}, {backbone}: SR {1e3 * t[0]:.1f} ms, SOG {1e3 * t[1]:.1f} ms")
    base = {case: sog for case, backbone, _, sog in rows if backbone == "deeppot_se"}
    lines = [
        f"\n## Backbones: cost and long-range overhead, {datetime.date.today().isoformat()}\n",
        f"Machine: {machine()}; `python bench/bench_backbones.py`, {args.dtype}, median CPU time "
        f"of a single-threaded process over {args.repeats} repeats. DeepPot-SE: the SPICE "
        f"task's sizes ({DEEPPOT['embedding_sizes']} embedding, {DEEPPOT['fitting_sizes']} "
        f"fitting); PaiNN: {PAINN_MODEL}; CACE: {CACE_MODEL} (cace_l4: max_l 4); all cutoff 5 A, "
        "SOG-Net with 24 Gaussians from 1 A. Overhead = SOG-Net / short range - 1.\n",
        "| case | backbone | short range (ms) | SOG-Net (ms) | overhead | SOG-Net / DeepPot-SE "
        "SOG-Net |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for case, backbone, t_sr, t_sog in rows:
        lines.append(
            f"| {case} | {backbone} | {1e3 * t_sr:.1f} | {1e3 * t_sog:.1f} | "
            f"{100 * (t_sog / t_sr - 1):.0f} % | {t_sog / base[case]:.1f} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        with (REPO / "bench" / "RESULTS.md").open("a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
