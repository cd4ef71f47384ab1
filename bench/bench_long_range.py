"""Benchmark: SOGLongRange energy + forces vs system size, against a dense k-space sum and
torch-pme (its PME and P3M calculators over a CombinedPotential of the same Gaussians) at
matched accuracy.

All timings are taken side by side in one run on the same machine. Results are printed and
appended with the date and the machine to ``bench/RESULTS.md``.

    python bench/bench_long_range.py                    # 1k .. 256k atoms, tolerance 1e-4
    python bench/bench_long_range.py --sizes 1000 8000  # quicker
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from openmm_sog import SOGKernel, SOGLongRange
from openmm_sog.reference import kspace_sum_energy

DENSITY_PER_A3 = 0.1  # atoms per A^3: liquid water
CUTOFF_A = 9.0  # real-space cutoff of the Coulomb split (0.9 nm)
PREFACTOR = 14.399645  # eV A / e^2


def system(num_atoms: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random neutral charges at liquid density in a cubic box (Angstrom, e)."""
    gen = torch.Generator().manual_seed(seed)
    box = (num_atoms / DENSITY_PER_A3) ** (1 / 3)
    positions = torch.rand(num_atoms, 3, generator=gen, dtype=torch.float64) * box
    charges = torch.randn(num_atoms, 1, generator=gen, dtype=torch.float64)
    return positions, charges - charges.mean(), torch.eye(3, dtype=torch.float64) * box


def timed(fn, repeats: int) -> float:
    """Median CPU time of ``fn()`` in seconds after one warm-up call.

    CPU time of a single-threaded process (see ``--threads``) is robust to other work on a
    shared machine, which wall time is not.
    """
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def time_energy_forces(energy_fn, system_: tuple, repeats: int) -> float:
    """Median time of energy + forces for ``energy_fn(positions, charges, cell)``."""
    positions, charges, cell = system_
    return timed(
        lambda: energy_and_forces(lambda p: energy_fn(p, charges, cell), positions), repeats
    )


def energy_and_forces(energy_fn, positions: torch.Tensor) -> tuple[float, torch.Tensor]:
    pos = positions.detach().clone().requires_grad_()
    energy = energy_fn(pos)
    (grad,) = torch.autograd.grad(energy, pos)
    return float(energy.detach()), -grad


#: torch-pme's mesh calculators compared: name -> class name in torchpme
TORCHPME_METHODS = {"PME": "PMECalculator", "P3M": "P3MCalculator"}
#: the interpolation orders tried for each (torch-pme 0.5 takes 3-6 for PME, 1-5 for P3M)
TORCHPME_NODES = {"PME": (4, 5, 6), "P3M": (3, 4, 5)}


def torchpme_calculator(kernel: SOGKernel, mesh_spacing: float, nodes: int, method: str = "PME"):
    """torch-pme's ``method`` (PME or P3M) over a CombinedPotential with one Gaussian potential
    per SOG term."""
    import torchpme

    class GaussianPotential(torchpme.potentials.Potential):
        """exp(-r^2/sigma^2) taken whole into k-space (no real-space part)."""

        def __init__(self, width: float):
            super().__init__(smearing=width)
            self.width = width

        def from_dist(self, dist, pair_mask=None):
            return torch.exp(-((dist / self.width) ** 2))

        def lr_from_dist(self, dist, pair_mask=None):
            return self.from_dist(dist)

        def lr_from_k_sq(self, k_sq):
            return math.pi**1.5 * self.width**3 * torch.exp(-0.25 * self.width**2 * k_sq)

        def self_contribution(self):
            return torch.tensor(1.0, dtype=torch.float64)

        def background_correction(self):
            return torch.tensor(0.5 * math.pi**1.5 * self.width**3, dtype=torch.float64)

    widths = kernel.widths().detach()[0].tolist()
    weights = kernel.weights.detach()[0]
    # Drop Gaussians whose k-space part underflows at the smallest k (as our layer does).
    keep = [i for i, s in enumerate(widths) if s < 200.0]
    potential = torchpme.potentials.CombinedPotential(
        [GaussianPotential(widths[i]) for i in keep],
        initial_weights=weights[keep],
        learnable_weights=False,
        smearing=min(widths),
    )
    calculator = getattr(torchpme, TORCHPME_METHODS[method])
    calc = calculator(potential, mesh_spacing=mesh_spacing, interpolation_nodes=nodes)
    calc.to(torch.float64)
    # Gaussians beyond the kept ones only add g(0) to the self term.
    extra_self = float(weights[[i for i in range(len(widths)) if i not in keep]].sum())

    def energy(positions: torch.Tensor, charges: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
        # torch-pme's potentials carry the 1/2 of the pair double counting already.
        potentials = calc._compute_kspace(charges, cell, positions)
        return (charges * potentials).sum() - 0.5 * extra_self * (charges**2).sum()

    return energy


def calibrate_torchpme(
    kernel: SOGKernel, target_error: float, reference, positions, charges, cell, method: str = "PME"
):
    """Cheapest (mesh spacing, interpolation nodes) of torch-pme's ``method`` with force error
    <= target_error.

    For each interpolation order, bisect (in log spacing) for the coarsest mesh that reaches
    the target; then keep the fastest of the orders.
    """
    _, f_ref = reference

    def error(spacing: float, nodes: int) -> float:
        calc = torchpme_calculator(kernel, spacing, nodes, method)
        _, f = energy_and_forces(lambda p: calc(p, charges, cell), positions)
        return float((f - f_ref).norm() / f_ref.norm())

    best = None
    for nodes in TORCHPME_NODES[method]:
        fine, coarse = 0.15, 1.5
        if error(fine, nodes) > target_error:
            continue
        for _ in range(6):
            mid = math.sqrt(fine * coarse)
            if error(mid, nodes) <= target_error:
                fine = mid
            else:
                coarse = mid
        calc = torchpme_calculator(kernel, fine, nodes, method)
        t = timed(
            lambda calc=calc: energy_and_forces(lambda p: calc(p, charges, cell), positions), 2
        )
        print(
            f"  torch-pme {method}, {nodes} nodes: mesh spacing {fine:.3f} A reaches the target, "
            f"{1e3 * t:.0f} ms",
            flush=True,
        )
        if best is None or t < best[2]:
            best = (fine, nodes, t, error(fine, nodes))
    return best


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = torch.get_num_threads()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} ({threads} threads)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000],
    )
    parser.add_argument("--tolerance", type=float, default=1e-4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--dense-max", type=int, default=8000, help="largest N for the O(N K^3) dense k-space sum"
    )
    parser.add_argument("--no-torchpme", action="store_true")
    parser.add_argument(
        "--pme-max",
        type=int,
        default=64000,
        help="largest N for torch-pme (its fine meshes get slow)",
    )
    parser.add_argument("--no-append", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    kernel = SOGKernel.coulomb(PREFACTOR, CUTOFF_A, tolerance=0.1 * args.tolerance)
    layer = SOGLongRange(kernel, args.tolerance)
    print(f"machine: {machine()}")
    print(
        f"kernel: Coulomb long range, cutoff {CUTOFF_A} A, {kernel.num_gaussians} Gaussians; "
        f"tolerance {args.tolerance:g}; NUFFT width {layer.nufft.width}"
    )

    # Calibration on 2,000 atoms against the dense k-space sum (no NUFFT error).
    pos_c, q_c, cell_c = system(2000, seed=1)
    half, _ = layer._grid(cell_c[None])
    reference = energy_and_forces(lambda p: kspace_sum_energy(p, q_c, cell_c, kernel, half), pos_c)
    _, f_ours = energy_and_forces(lambda p: layer(p, q_c, cell_c)[0], pos_c)
    our_error = float((f_ours - reference[1]).norm() / reference[1].norm())
    print(f"calibration (2,000 atoms): our force error vs dense sum {our_error:.2e}")
    calculators: dict = {}
    settings = {method: "not run" for method in TORCHPME_METHODS}
    if not args.no_torchpme:
        for method in TORCHPME_METHODS:
            # Both methods must reach the same target: half the requested tolerance.
            best = calibrate_torchpme(
                kernel, 0.5 * args.tolerance, reference, pos_c, q_c, cell_c, method
            )
            if best is None:
                print(f"torch-pme {method}: no mesh reached the matched accuracy")
                settings[method] = "no mesh reached the matched accuracy"
                continue
            spacing, nodes, _, err = best
            print(
                f"torch-pme {method} matched: mesh spacing {spacing:.3f} A, {nodes} "
                f"interpolation nodes, force error {err:.2e}"
            )
            calculators[method] = torchpme_calculator(kernel, spacing, nodes, method)
            settings[method] = f"mesh spacing {spacing:.3f} A, {nodes} nodes, force error {err:.1e}"

    rows = []
    for n in args.sizes:
        positions, charges, cell = system(n, seed=n)
        t_ours = time_energy_forces(
            lambda p, q, h: layer(p, q, h)[0], (positions, charges, cell), args.repeats
        )
        t_dense = float("nan")
        if n <= args.dense_max:
            half, _ = layer._grid(cell[None])
            t_dense = time_energy_forces(
                lambda p, q, h, half=half: kspace_sum_energy(p, q, h, kernel, half),
                (positions, charges, cell),
                1,
            )
        t_mesh = {}
        for method in TORCHPME_METHODS:
            t_mesh[method] = float("nan")
            if method in calculators and n <= args.pme_max:
                t_mesh[method] = time_energy_forces(
                    calculators[method], (positions, charges, cell), args.repeats
                )
        rows.append((n, t_ours, t_dense, t_mesh["PME"], t_mesh["P3M"]))
        print(
            f"N = {n:7d}: ours {1e3 * t_ours:9.1f} ms | dense {1e3 * t_dense:9.1f} ms "
            f"(x{t_dense / t_ours:6.1f}) | torch-pme PME {1e3 * t_mesh['PME']:9.1f} ms "
            f"(x{t_mesh['PME'] / t_ours:5.2f}) | P3M {1e3 * t_mesh['P3M']:9.1f} ms "
            f"(x{t_mesh['P3M'] / t_ours:5.2f})",
            flush=True,
        )

    sizes = np.array([r[0] for r in rows], dtype=float)
    times = np.array([r[1] for r in rows])
    exponent = float(np.polyfit(np.log(sizes), np.log(times), 1)[0]) if len(rows) > 1 else math.nan
    print(f"fitted scaling exponent (time ~ N^a): a = {exponent:.2f}")

    if args.no_append:
        return
    lines = [
        f"\n## SOGLongRange energy + forces, {datetime.date.today().isoformat()}\n",
        f"Machine: {machine()}. Coulomb long-range kernel (cutoff {CUTOFF_A} A, "
        f"{kernel.num_gaussians} Gaussians), random neutral charges at {DENSITY_PER_A3} atoms/A^3, "
        f"float64, tolerance {args.tolerance:g} (force error vs dense sum {our_error:.1e}). "
        "torch-pme tuned to the same target (force error <= tolerance/2): PME "
        f"{settings['PME']}; P3M {settings['P3M']}. "
        "Times are CPU seconds of a single-threaded process (robust on a shared machine); "
        "ratios are the other method's time over ours (> 1: ours is faster).\n",
        "| N | ours (ms) | dense k-space sum (ms) | dense / ours | torch-pme PME (ms) "
        "| torch-pme PME / ours | torch-pme P3M (ms) | torch-pme P3M / ours |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def fmt(t: float) -> str:
        return "—" if math.isnan(t) else f"{1e3 * t:.1f}"

    def ratio(t: float, t_ours: float) -> str:
        return "—" if math.isnan(t) else f"{t / t_ours:.2f}"

    for n, t_ours, t_dense, t_pme, t_p3m in rows:
        lines.append(
            f"| {n} | {1e3 * t_ours:.1f} | {fmt(t_dense)} | {ratio(t_dense, t_ours)} | "
            f"{fmt(t_pme)} | {ratio(t_pme, t_ours)} | {fmt(t_p3m)} | {ratio(t_p3m, t_ours)} |"
        )
    lines.append(
        f"\nFitted scaling exponent of ours: **{exponent:.2f}** (time ~ N^a, "
        f"{int(sizes[0])}-{int(sizes[-1])} atoms).\n"
    )
    path = Path(__file__).with_name("RESULTS.md")
    if not path.exists():
        path.write_text("# Benchmark results\n\nAppended by the scripts in bench/.\n")
    with path.open("a") as fh:
        fh.write("\n".join(lines))
    print(f"appended to {path}")


if __name__ == "__main__":
    main()
