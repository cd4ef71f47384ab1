"""How pair-additive the short-range-only NaCl control set is (issue 4 (e)).

Fits the forces of the first 120 frames, by linear least squares, with one pair potential per
species pair (Na-Na, Na-Cl, Cl-Cl) expanded in Gaussians of r inside a cutoff, and reports the
force RMSE on the last 31 frames (the control's test frames). A small residual means the labels
are (nearly) a pair potential, the floor a local model with pair-additive radial features can
reach, and a yardstick for the trained models' errors. numpy and ASE only, no project code.

    python3 examples/nacl_pair_fit.py [--cutoff 5.0] [--basis 43] [--width 0.1]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import ase.io
import numpy as np

DATA = (
    Path(__file__).resolve().parent.parent.parent
    / "shared/data/sognet/nacl_shortrange_only_test.xyz"
)


def pair_design(atoms: ase.Atoms, centers: np.ndarray, width: float, cutoff: float) -> np.ndarray:
    """Force design matrix ``[3N, 3 * len(centers)]`` in eV/A per unit basis coefficient (eV).

    Column block t (0 Cl-Cl, 1 Na-Cl, 2 Na-Na), basis k: the forces of the pair potential
    phi_k(r) = exp(-((r - c_k) / width)^2) applied to the pairs of type t closer than cutoff.
    """
    x = atoms.positions
    box = np.diag(atoms.cell.array)
    d = x[:, None, :] - x[None, :, :]
    d -= box * np.round(d / box)  # minimum image (the frames are cubic boxes)
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, 10.0 * cutoff)  # self pairs: outside the cutoff, finite
    sodium = atoms.numbers == 11
    pair_type = sodium[:, None].astype(int) + sodium[None, :].astype(int)
    columns = []
    for t in range(3):
        inside = (r < cutoff) & (pair_type == t)
        for c in centers:
            z = (r - c) / width
            dphi_dr = np.where(inside, -2.0 * z / width * np.exp(-z * z), 0.0)
            columns.append((-(dphi_dr / r)[:, :, None] * d).sum(1).ravel())
    return np.stack(columns, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cutoff", type=float, default=5.0, help="pair cutoff, A")
    parser.add_argument("--basis", type=int, default=43, help="Gaussians per species pair")
    parser.add_argument("--width", type=float, default=0.1, help="Gaussian width, A")
    parser.add_argument("--r-min", type=float, default=0.8, help="first Gaussian centre, A")
    args = parser.parse_args()
    frames = ase.io.read(str(DATA), ":")
    centers = np.linspace(args.r_min, args.cutoff, args.basis)
    train, test = frames[:120], frames[120:]

    def system(group: list) -> tuple[np.ndarray, np.ndarray]:
        design = np.concatenate([pair_design(a, centers, args.width, args.cutoff) for a in group])
        return design, np.concatenate([a.get_forces().ravel() for a in group])

    a_train, f_train = system(train)
    coefficients, *_ = np.linalg.lstsq(a_train, f_train, rcond=None)
    a_test, f_test = system(test)

    def rmse(values: np.ndarray) -> float:
        return 1000.0 * math.sqrt(float(np.mean(values**2)))

    print(f"RMS force component (test frames): {rmse(f_test):.1f} meV/A")
    print(
        f"pair fit ({args.basis} Gaussians of width {args.width} A per species pair, cutoff "
        f"{args.cutoff} A): train {rmse(a_train @ coefficients - f_train):.1f} meV/A, "
        f"test {rmse(a_test @ coefficients - f_test):.1f} meV/A"
    )


if __name__ == "__main__":
    main()
