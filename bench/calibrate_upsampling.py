"""NUFFT force error against the spreading width, shape and upsampling (the rule of design §2.4).

    python bench/calibrate_upsampling.py [--upsampling 2 1.5 1.25]

The NUFFT rule picks a spreading width w and a Kaiser-Bessel shape beta = b w for a tolerance,
on a grid upsampled by sigma (grid points per kept mode per dimension). This measures, with the
torch layer in float64, the relative force error ||F - F_ref|| / ||F_ref|| of the k-space part
against the same modes at w = 16, b = 2.75, sigma = 2 (the transform converged to round-off),
for each sigma, b and w: the data from which a rule's b and its error bound 10^(a - s w) are
read. Cases (as in §2.4): the SOG Coulomb k-space kernel of molten NaCl (3,000 ions, --ions) at two
tolerances, and a two-channel, three-Gaussian kernel on 2,000 random charges in a triclinic
cell. Nothing is appended to RESULTS.md: the rule's text in docs/design.md quotes the result.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import torch
from bench_scaling import coulomb_gaussians, random_ions

from openmm_sog.kernel import SOGKernel
from openmm_sog.long_range import SOGLongRange


def nacl_case(tolerance: float, num_ions: int):
    edge, positions, charges = random_ions(num_ions)
    gaussians = coulomb_gaussians(tolerance)
    weights = torch.tensor([[g[0] for g in gaussians]], dtype=torch.float64)
    widths = torch.tensor([[g[1] for g in gaussians]], dtype=torch.float64)
    cell = torch.eye(3, dtype=torch.float64) * edge
    q = torch.tensor(charges, dtype=torch.float64).unsqueeze(-1)
    return SOGKernel(weights, widths), torch.tensor(positions), q, cell


def random_case():
    rng = np.random.default_rng(4)
    cell = torch.tensor([[4.0, 0.0, 0.0], [1.3, 3.6, 0.0], [-0.9, 1.1, 3.8]], dtype=torch.float64)
    fractional = torch.tensor(rng.uniform(0, 1, size=(2000, 3)))
    positions = fractional @ cell
    q = torch.tensor(rng.uniform(-1, 1, size=(2000, 2)))
    weights = torch.tensor([[1.0, 0.5, 0.2], [-0.3, 0.8, 0.1]], dtype=torch.float64)
    widths = torch.tensor([[0.25, 0.6, 1.1], [0.4, 0.7, 1.5]], dtype=torch.float64)
    return SOGKernel(weights, widths), positions, q, cell


def set_rule(layer: SOGLongRange, width: int, beta_per_point: float, upsampling: float) -> None:
    nufft = layer.nufft
    nufft.width = width
    nufft.half_width = 0.5 * width
    nufft.beta = beta_per_point * width
    nufft.peak = float(torch.special.i0(torch.tensor(nufft.beta, dtype=torch.float64))) - 1.0
    nufft.upsampling = upsampling


def forces(layer: SOGLongRange, positions, charges, cell) -> torch.Tensor:
    r = positions.clone().requires_grad_(True)
    energy = layer(r, charges, cell).sum()
    (grad,) = torch.autograd.grad(energy, r)
    return -grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upsampling", type=float, nargs="+", default=[2.0, 1.5, 1.25])
    parser.add_argument("--betas", type=float, nargs="+", default=[1.9, 2.1, 2.3, 2.5, 2.75])
    parser.add_argument("--widths", type=int, nargs="+", default=[4, 5, 6, 7, 8, 9, 10])
    parser.add_argument("--ions", type=int, default=3000, help="molten NaCl cases")
    args = parser.parse_args()
    cases = {
        "NaCl Coulomb, tol 6.25e-3": (nacl_case(6.25e-3, args.ions), 6.25e-3),
        "NaCl Coulomb, tol 1e-3": (nacl_case(1e-3, args.ions), 1e-3),
        "2 channels, triclinic, tol 1e-3": (random_case(), 1e-3),
    }
    for name, ((kernel, positions, charges, cell), tolerance) in cases.items():
        layer = SOGLongRange(kernel, tolerance)
        set_rule(layer, 16, 2.75, 2.0)
        reference = forces(layer, positions, charges, cell)
        norm = float(torch.linalg.norm(reference))
        half, grid = layer._grid(cell.unsqueeze(0))
        print(f"\n{name}: modes K = {half}, rule's grid {grid}")
        for sigma in args.upsampling:
            set_rule(layer, 8, 2.75, sigma)
            _, grid = layer._grid(cell.unsqueeze(0))
            print(f"  upsampling {sigma}: grid {grid}")
            print("    b \\ w " + "".join(f"{w:>9d}" for w in args.widths))
            table = {}
            for b in args.betas:
                for w in args.widths:
                    set_rule(layer, w, b, sigma)
                    difference = forces(layer, positions, charges, cell) - reference
                    table[b, w] = float(torch.linalg.norm(difference)) / norm
                print(f"    {b:5.2f}  " + "".join(f"{table[b, w]:9.1e}" for w in args.widths))
            # the best b at each width, and log10 of its error fitted as a line in w
            best = [min(table[b, w] for b in args.betas) for w in args.widths]
            logs = [math.log10(e) for e in best]
            slope, offset = np.polyfit(args.widths, logs, 1)
            print(f"    best over b: log10 error = {offset:.2f} {slope:+.3f} w")


if __name__ == "__main__":
    main()
