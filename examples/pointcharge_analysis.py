"""What the point-charge set's forces are, and whether a trained SOG-Net found it (issue 4 (b)).

Independent of the model: the stored forces are fitted, by linear least squares, as
``a * F_Coulomb + b * F_WCA(sigma)`` with a plain Ewald sum (numpy, no project code) for the
Coulomb part and a Weeks-Chandler-Andersen wall for a scan of sigma. The residual says how
exactly that decomposition holds; the Coulomb force left beyond the local cutoff is the part a
short-range model cannot see.

With ``--model``: the Coulomb prefactor the SOG-Net's kernel learned without any charge data,
``q+ q- ghat(k) k^2 / 4 pi`` at the box's smallest wave vectors and at longer wavelengths (the
true value is -a), and the whole model's Coulomb response per reciprocal shell, read off its
force errors on the 20 test configurations (:func:`coulomb_response`).

    python3 examples/pointcharge_analysis.py [--model reproduction/pointcharge_sognet/model_best.pt]

Reduced units throughout (the training reads them as Angstrom and eV).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import TYPE_CHECKING

import h5py
import numpy as np
from scipy.special import erfc

DATA = Path(__file__).resolve().parent.parent.parent / "shared/data/sognet/pointcharge_data_test.h5"
BOX = 10.0  # cubic box edge (the data set's README)
EWALD_ALPHA = 0.7  # 1/length: erfc(0.7 * 5) = 7e-7 at half the box
EWALD_NMAX = 10  # exp(-k^2 / 4 alpha^2) < 1e-7 beyond |n| = 10

if TYPE_CHECKING:
    from openmm_sog.model.sognet import SOGNet


def _minimum_image(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Displacements x_i - x_j and distances (diagonal set to infinity)."""
    d = x[:, None, :] - x[None, :, :]
    d -= BOX * np.round(d / BOX)
    r = np.linalg.norm(d, axis=-1)
    np.fill_diagonal(r, np.inf)
    return d, r


def _lattice(nmax: int) -> np.ndarray:
    """Integer wave-vector indices ``[M, 3]`` with every component in [-nmax, nmax]."""
    n = np.arange(-nmax, nmax + 1)
    return np.stack(np.meshgrid(n, n, n, indexing="ij"), -1).reshape(-1, 3)


def reciprocal_forces(
    x: np.ndarray, q: np.ndarray, k: np.ndarray, coefficient: np.ndarray
) -> np.ndarray:
    """Forces ``[N, 3]`` of E = sum over wave vectors ``k`` ``[M, 3]`` of coefficient(k)
    |S(k)|^2 / 2, with S(k) = sum_j q_j exp(i k . x_j)."""
    phase = x @ k.T
    structure = (q[:, None] * np.exp(1j * phase)).sum(0)
    per_k = coefficient[None, :] * np.imag(np.exp(-1j * phase) * structure[None, :])
    return -q[:, None] * (per_k @ k)


def ewald_forces(x: np.ndarray, q: np.ndarray, d: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Periodic Coulomb forces of unit prefactor (F_i = -dE/dx_i, E = sum q_i q_j / r_ij);
    ``d, r`` from :func:`_minimum_image` of ``x``."""
    a = EWALD_ALPHA
    radial = (
        q[:, None]
        * q[None, :]
        * (erfc(a * r) / r**2 + 2 * a / math.sqrt(math.pi) * np.exp(-((a * r) ** 2)) / r)
    )
    real = (radial[:, :, None] * d / r[:, :, None]).sum(1)
    k = _lattice(EWALD_NMAX)
    k = k[(k != 0).any(1)] * (2 * math.pi / BOX)
    k_sq = (k * k).sum(1)
    coefficient = 4 * math.pi / BOX**3 * np.exp(-k_sq / (4 * a * a)) / k_sq
    return real + reciprocal_forces(x, q, k, coefficient)


def truncated_coulomb_forces(
    q: np.ndarray, d: np.ndarray, r: np.ndarray, cutoff: float
) -> np.ndarray:
    """Unit-prefactor Coulomb forces of the minimum-image pairs closer than ``cutoff``."""
    radial = q[:, None] * q[None, :] / r**3 * (r < cutoff)
    return (radial[:, :, None] * d).sum(1)


def wca_forces(d: np.ndarray, r: np.ndarray, sigma: float) -> np.ndarray:
    """Forces of 4 [(sigma/r)^12 - (sigma/r)^6] + 1 cut at 2^(1/6) sigma (unit depth)."""
    s6 = (sigma / r) ** 6
    radial = 24 / r**2 * (2 * s6 * s6 - s6) * (r < 2 ** (1 / 6) * sigma)
    return (radial[:, :, None] * d).sum(1)


def decompose(frames: list[int], cutoff: float) -> None:
    with h5py.File(DATA) as f:
        points, forces, charges = f["points"][:], f["forces"][:], f["charges"][:]
    # Minimum-image geometry once per configuration, shared by every force below.
    geometry = {c: _minimum_image(points[:, :, c].T) for c in frames}
    coulomb = {c: ewald_forces(points[:, :, c].T, charges[:, c], *geometry[c]) for c in frames}
    target = np.concatenate([forces[:, :, c].T.ravel() for c in frames])
    rms = math.sqrt(float(np.mean(target**2)))
    print(f"{len(frames)} configurations, RMS force component {rms:.3f}")
    print(" sigma   a (Coulomb)   b (WCA)   residual RMS")
    best = (math.inf, 0.0, 0.0, 0.0)
    for sigma in (0.9, 0.95, 1.0, 1.05, 1.1):
        design = np.stack(
            [
                np.concatenate([coulomb[c].ravel() for c in frames]),
                np.concatenate([wca_forces(*geometry[c], sigma).ravel() for c in frames]),
            ],
            1,
        )
        (a, b), *_ = np.linalg.lstsq(design, target, rcond=None)
        residual = math.sqrt(float(np.mean((design @ np.array([a, b]) - target) ** 2)))
        print(f" {sigma:5.2f}   {a:11.5f}   {b:7.4f}   {residual:.2e}")
        best = min(best, (residual, sigma, a, b))
    _, sigma, a, _ = best
    print(f"best: sigma = {sigma}, Coulomb prefactor a = {a:.4f}")
    beyond = np.concatenate(
        [
            a * (coulomb[c] - truncated_coulomb_forces(charges[:, c], *geometry[c], cutoff))
            for c in frames
        ]
    )
    print(
        f"Coulomb force from pairs beyond the {cutoff} cutoff (invisible to a local model): "
        f"RMS {math.sqrt(float(np.mean(beyond**2))):.3f}; Coulomb total RMS "
        f"{a * math.sqrt(float(np.mean(np.concatenate(list(coulomb.values())) ** 2))):.3f}"
    )


def learned_prefactor(model: SOGNet) -> None:
    """The kernel's Coulomb prefactor and the latent charges of ``model`` (a loaded SOG-Net)."""
    import torch

    from openmm_sog.training.data import collate, read_dataset

    if model.lr is None:
        print("short-range model: no kernel, no latent charges")
        return
    structures = read_dataset(DATA)[80:84]
    batch = collate(structures)
    outputs = model.energy_components(
        batch.positions, batch.atomic_numbers, batch.cell, batch.pbc, batch.batch
    )
    charges = outputs["charges"][:, 0].detach()
    species = sorted(set(batch.atomic_numbers.tolist()))
    mean = [float(charges[batch.atomic_numbers == z].mean()) for z in species]
    spread = max(float(charges[batch.atomic_numbers == z].std()) for z in species)
    print(f"latent charges per species: {mean} (largest std {spread:.1e})")

    def prefactor(k: float) -> float:
        k_sq = torch.tensor([k * k], dtype=torch.float64)
        ghat = model.lr.kernel.fourier(k_sq)[..., 0].item()
        return mean[0] * mean[1] * ghat * k * k / (4 * math.pi)

    print("q+ q- ghat(k) k^2 / 4 pi (the true Coulomb's is -3.5 at every k):")
    for n_sq in (1, 2, 3, 4, 9):
        k = math.sqrt(n_sq) * 2 * math.pi / BOX
        print(f"  training box, |n|^2 = {n_sq}: {prefactor(k):.4f}")
    # At the training box's k the local model's short-range part (pair term, network) adds
    # to the response, so the kernel alone need not be -3.5 there; as k -> 0 that part
    # vanishes like k^2 and the kernel's value is the model's Coulomb tail.
    for boxes in (2, 10, 100):
        k = 2 * math.pi / (boxes * BOX)
        print(f"  long wavelength, k = 2 pi / ({boxes} L): {prefactor(k):.4f}")


def coulomb_response(model: SOGNet, frames: list[int], max_shell: int = 12) -> None:
    """The trained model's whole Coulomb response per reciprocal shell, from its force errors.

    The residual forces (labels - model) on ``frames`` are fitted by least squares as a sum
    over shells |n|^2 = 1..max_shell of c_s * (the reciprocal-space Coulomb force of that shell
    with the true charges and prefactor 3.5). A model that answers the shell's charge-density
    mode like 3.5 q q / r leaves c_s = 0; one that answers with a_s leaves c_s = 1 - a_s / 3.5.
    Unlike the kernel's own ghat(k), this counts everything the model does at that wave vector
    (kernel, latent charges and the local model together), which is what the forces fix.
    """
    from openmm_sog.training.data import collate, read_dataset

    structures = read_dataset(DATA)
    with h5py.File(DATA) as f:
        points, forces, charges = f["points"][:], f["forces"][:], f["charges"][:]
    lattice = _lattice(4)
    n_sq = (lattice**2).sum(1)
    shells = [s for s in sorted(set(n_sq.tolist())) if 0 < s <= max_shell]
    residuals, columns = [], []
    for c in frames:
        batch = collate([structures[c]])
        predicted = model(**batch.model_inputs(), compute_forces=True)["forces"].detach()
        residuals.append((forces[:, :, c].T - predicted.numpy()).ravel())
        x, q = points[:, :, c].T, charges[:, c]
        block = []
        for shell in shells:
            k = lattice[n_sq == shell] * (2 * math.pi / BOX)
            # E_s = 3.5 (4 pi / V) / k^2 sum_k |S(k)|^2 / 2 over the shell's wave vectors
            scale = 3.5 * 4 * math.pi / BOX**3 / (shell * (2 * math.pi / BOX) ** 2)
            block.append(reciprocal_forces(x, q, k, np.full(len(k), scale)).ravel())
        columns.append(np.stack(block, 1))
    residual = np.concatenate(residuals)
    design = np.concatenate(columns)
    coefficients, *_ = np.linalg.lstsq(design, residual, rcond=None)
    left = math.sqrt(float(np.mean((design @ coefficients - residual) ** 2)))
    print(
        f"the model's Coulomb response per shell on {len(frames)} configurations (force error "
        f"{1000 * math.sqrt(float(np.mean(residual**2))):.1f} meV/A, {1000 * left:.1f} left "
        "after the shells' fit):"
    )
    for shell, c in zip(shells[:4], coefficients[:4], strict=True):
        print(f"  |n|^2 = {shell}: prefactor {3.5 * (1 - c):.4f} (true 3.5; {100 * c:+.2f} % off)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="a trained point-charge SOG-Net (model_best.pt)")
    parser.add_argument("--cutoff", type=float, default=3.0, help="the local model's cutoff")
    args = parser.parse_args()
    decompose(list(range(0, 100, 10)), args.cutoff)
    if args.model:
        from openmm_sog.training.model_io import load_model

        model = load_model(args.model, "float64")
        learned_prefactor(model)
        coulomb_response(model, list(range(80, 100)))


if __name__ == "__main__":
    main()
