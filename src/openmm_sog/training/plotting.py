"""Figures: parity plots, learning curve, learned g(r) and ghat(k) against Coulomb's 1/r."""

from __future__ import annotations

import copy
import csv
import math
from pathlib import Path

import torch

from ..model import SOGNet
from ..units import COULOMB_EV_ANGSTROM_PER_E2
from .data import Structure, collate

__all__ = ["plot_kernel", "plot_learning_curve", "plot_parity"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curve(log_csv: str | Path, output: str | Path) -> Path:
    """Training and validation curves per epoch from ``log.csv``: the weighted loss and, where
    the log has them, the energy RMSE (meV/atom) and force RMSE (meV/A)."""
    plt = _pyplot()
    with Path(log_csv).open() as f:
        rows = list(csv.DictReader(f))
    if not rows or "epoch" not in rows[0]:
        raise ValueError(f"{log_csv}: not a sognet training log (no epoch rows)")

    def column(name: str) -> list[float]:
        return [float(r[name]) if r.get(name) not in (None, "") else math.nan for r in rows]

    panels = [("loss", "weighted loss")]
    for quantity, label in (
        ("energy_rmse_meV_per_atom", "energy RMSE (meV/atom)"),
        ("forces_rmse_meV_per_A", "force RMSE (meV/A)"),
    ):
        values = column(f"validation_{quantity}") if f"validation_{quantity}" in rows[0] else []
        values += column(f"train_{quantity}") if f"train_{quantity}" in rows[0] else []
        if any(math.isfinite(v) for v in values):
            panels.append((quantity, label))
    epochs = [int(r["epoch"]) for r in rows]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 3.5), squeeze=False)
    for ax, (quantity, label) in zip(axes[0], panels, strict=True):
        for split in ("train", "validation"):
            name = f"{split}_{quantity}"
            if name in rows[0]:
                ax.semilogy(epochs, column(name), label=split)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_ylabel(label)
        ax.legend()
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return Path(output)


def plot_parity(model: SOGNet, structures: list[Structure], output: str | Path) -> Path:
    """Predicted vs reference energies per atom (eV/atom) and force components (eV/A),
    evaluated where the model is."""
    plt = _pyplot()
    parameter = next(model.parameters())
    dtype, device = parameter.dtype, parameter.device
    e_ref, e_pred, f_ref, f_pred = [], [], [], []
    for start in range(0, len(structures), 8):
        batch = collate(structures[start : start + 8]).to(dtype, device)
        out = model(**batch.model_inputs())
        atoms = batch.num_atoms.to(dtype)
        e_ref.append(batch.energy / atoms)
        e_pred.append(out["energy"].detach() / atoms)
        f_ref.append(batch.forces.reshape(-1))
        f_pred.append(out["forces"].detach().reshape(-1))
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, ref, pred, label in (
        (axes[0], e_ref, e_pred, "energy (eV/atom)"),
        (axes[1], f_ref, f_pred, "force component (eV/A)"),
    ):
        x, y = torch.cat(ref).double().cpu().numpy(), torch.cat(pred).double().cpu().numpy()
        ax.plot(x, y, ".", ms=2)
        lo, hi = min(x.min(), y.min()), max(x.max(), y.max())
        ax.plot([lo, hi], [lo, hi], "k-", lw=0.5)
        ax.set_xlabel(f"reference {label}")
        ax.set_ylabel(f"SOG-Net {label}")
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return Path(output)


def plot_kernel(model: SOGNet, output: str | Path) -> Path:
    """Learned g_c(r) (eV/e^2) and ghat_c(k) against Coulomb's 1/r and 4 pi / k^2."""
    plt = _pyplot()
    if model.lr is None:
        raise ValueError("the model has no long-range kernel (short-range-only baseline)")
    kernel = model.lr.kernel
    r = torch.linspace(0.05, 30.0, 400, dtype=torch.float64)
    k = torch.linspace(0.05, 4.0, 400, dtype=torch.float64)
    with torch.no_grad():
        # A float64 host copy: Module.double() would convert the model's own kernel in place.
        kernel64 = copy.deepcopy(kernel).to("cpu", torch.float64)
        g = kernel64.value(r).numpy()
        ghat = kernel64.fourier(k * k).numpy()
        kernel.to(next(model.parameters()).dtype)
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for c in range(g.shape[1]):
        axes[0].plot(r, g[:, c], label=f"g_{c}")
        axes[1].semilogy(k, abs(ghat[:, c]) + 1e-30, label=f"|ghat_{c}|")
    axes[0].plot(r, COULOMB_EV_ANGSTROM_PER_E2 / r, "k--", label="14.4/r")
    axes[0].set_ylim(-5, 10)
    axes[0].set_xlabel("r (A)")
    axes[0].set_ylabel("g(r) (eV/e^2)")
    axes[1].semilogy(
        k, 4 * math.pi * COULOMB_EV_ANGSTROM_PER_E2 / (k * k), "k--", label="4 pi 14.4/k^2"
    )
    axes[1].set_xlabel("k (1/A)")
    axes[1].set_ylabel("ghat(k) (eV A^3/e^2)")
    for ax in axes:
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(output, dpi=120)
    plt.close(fig)
    return Path(output)
