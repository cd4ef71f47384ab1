"""Export a trained SOG-Net to a TorchScript file with metadata.

The file holds :class:`ExportedSOGNet` (torch-side units: Angstrom, eV, e) and an extra file
``metadata.json``. For OpenMM (nm, kJ/mol, e) convert at the boundary, once:

* positions/cell: multiply nm by 10 to get Angstrom before calling the model;
* energies: multiply eV by ``KJ_PER_MOL_PER_EV`` (96.485...) to get kJ/mol;
* forces: multiply eV/Angstrom by 964.85... (96.485 * 10) to get kJ/mol/nm;
* SOG kernel: weights eV/e^2 * 96.485 -> kJ/mol/e^2; widths Angstrom * 0.1 -> nm.

The metadata records ``format_version``, the writing package's version, ``weights_sha256``
(the checksum of integrity.py over the scripted module's named parameters and buffers,
verified by :func:`load_exported` and by the C++ ``TorchSOGForce`` when it loads the file) and
``periodic``: whether the model was trained on periodic structures (``null`` when unknown,
as in the exports of format 0, or mixed), which ``create_sognet_force`` follows.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from ..model import SOGNet
from ..units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM
from .integrity import (
    FileFormatError,
    check_format_version,
    package_version,
    verify_digest,
    weights_digest,
)

__all__ = ["EXPORT_FORMAT_VERSION", "ExportedSOGNet", "export_model", "load_exported"]

#: layout of the export's metadata.json: 1 adds format_version, openmm_sog_version,
#: weights_sha256 and periodic; exports without format_version are format 0. The C++
#: TorchSOGForce (SOGTorchModel.cpp) refuses versions above its own copy of this number.
EXPORT_FORMAT_VERSION = 1
_EXPORT = "a SOG-Net export"


class ExportedSOGNet(nn.Module):
    """One periodic (or non-periodic) structure in, energies/forces or (E_sr, q) out.

    ``forward(positions [N,3] A, atomic_numbers [N], cell [3,3] A, pbc)`` returns
    ``(energy [1] eV, forces [N,3] eV/A)``, long range included (torch NUFFT layer).
    ``short_range_and_charges`` returns ``(E_sr [1] eV, charges [N,P] e)``.
    ``local_energy_and_charges`` returns ``(E_local [1] eV, charges [N,P] e)`` of a periodic
    structure, where E_local is E_sr plus the real-space part of the long range: what a native
    long-range engine (the OpenMM ``TorchSOGForce``) needs, which adds the lattice sum of the
    Gaussians flagged in the metadata's ``sog.kspace`` and back-propagates dE/dq through it.
    """

    def __init__(self, model: SOGNet) -> None:
        super().__init__()
        self.model = model

    def _inputs(self, positions: Tensor, cell: Tensor, pbc: bool) -> tuple[Tensor, Tensor, Tensor]:
        dtype = self.model.descriptor_mean.dtype
        batch = torch.zeros(positions.shape[0], dtype=torch.long, device=positions.device)
        cells = cell.to(dtype).reshape(1, 3, 3)
        if not pbc:
            cells = torch.zeros_like(cells)
        periodic = torch.tensor([pbc], device=positions.device)
        return batch, cells, periodic

    def forward(
        self, positions: Tensor, atomic_numbers: Tensor, cell: Tensor, pbc: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Energy ``[1]`` (eV) and forces ``[N, 3]`` (eV/A) of one structure."""
        batch, cells, periodic = self._inputs(positions, cell, pbc)
        dtype = self.model.descriptor_mean.dtype
        out = self.model(positions.to(dtype), atomic_numbers, cells, periodic, batch)
        return out["energy"].detach(), out["forces"]

    @torch.jit.export
    def short_range_and_charges(
        self, positions: Tensor, atomic_numbers: Tensor, cell: Tensor, pbc: bool = True
    ) -> tuple[Tensor, Tensor]:
        """Short-range energy ``[1]`` (eV) and latent charges ``[N, P]`` (e), differentiable."""
        out = self._components(positions, atomic_numbers, cell, pbc, False)
        return out["energy_sr"], out["charges"]

    @torch.jit.export
    def local_energy_and_charges(
        self, positions: Tensor, atomic_numbers: Tensor, cell: Tensor, pbc: bool = True
    ) -> tuple[Tensor, Tensor]:
        """``E_sr`` plus the long range's real-space part ``[1]`` (eV), and the latent charges
        ``[N, P]`` (e), differentiable: the model's energy but for the k-space lattice sum of the
        Gaussians in the metadata's ``sog.kspace``."""
        out = self._components(positions, atomic_numbers, cell, pbc, True)
        return out["energy_sr"] + out["energy_lr"], out["charges"]

    def _components(
        self,
        positions: Tensor,
        atomic_numbers: Tensor,
        cell: Tensor,
        pbc: bool,
        real_space_only: bool,
    ) -> dict[str, Tensor]:
        """``energy_components`` of one structure, positions cast to the model's dtype."""
        batch, cells, periodic = self._inputs(positions, cell, pbc)
        dtype = self.model.descriptor_mean.dtype
        # The cast is differentiable: a caller's float64 positions get float64 gradients.
        return self.model.energy_components(
            positions.to(dtype), atomic_numbers, cells, periodic, batch, None, real_space_only
        )


def export_metadata(model: SOGNet) -> dict:
    """Units, cutoff, species and SOG parameters (torch-side and OpenMM-side units)."""
    meta: dict = {
        "format": "openmm-sog SOG-Net TorchScript v1",
        "format_version": EXPORT_FORMAT_VERSION,
        "openmm_sog_version": package_version(),
        "periodic": getattr(model, "trained_periodic", None),
        "units": {"length": "Angstrom", "energy": "eV", "charge": "e", "forces": "eV/Angstrom"},
        "openmm_conversion": {
            "nm_per_angstrom": NM_PER_ANGSTROM,
            "kj_per_mol_per_ev": KJ_PER_MOL_PER_EV,
            "note": "positions_A = 10 * positions_nm; E_kJmol = 96.485 * E_eV; "
            "F_kJmol_nm = 964.85 * F_eV_A",
        },
        "cutoff_angstrom": model.cutoff,
        "atomic_numbers": list(model.atomic_numbers),
        "long_range": model.long_range,
        "num_channels": model.num_channels,
    }
    if model.lr is not None:
        kernel = model.lr.kernel
        weights = kernel.weights.detach().double()
        widths = kernel.widths().detach().double()
        mask = model.lr.periodic.kspace_mask()
        kspace = torch.ones_like(widths, dtype=torch.bool) if mask is None else mask
        meta["sog"] = {
            "formula": "g_c(r) = sum_l w_{c,l} exp(-r^2 / sigma_{c,l}^2)",
            "weights_ev_per_e2": weights.tolist(),
            "widths_angstrom": widths.tolist(),
            "weights_kj_per_mol_per_e2": (weights * KJ_PER_MOL_PER_EV).tolist(),
            "widths_nm": (widths * NM_PER_ANGSTROM).tolist(),
            "tolerance": model.lr.periodic.tolerance,
            # Gaussians of the periodic k-space sum; the others (narrower than
            # real_space_width_angstrom) are in local_energy_and_charges' energy.
            "kspace": kspace.tolist(),
            "real_space_width_angstrom": model.lr.real_space_width,
        }
    return meta


def module_digest(module: torch.jit.ScriptModule | nn.Module) -> str:
    """Checksum of a module's named parameters and buffers (what TorchSOGForce recomputes).

    Shared tensors count under every name (``remove_duplicate=False``), as libtorch lists them.
    """
    return weights_digest(
        [
            *module.named_parameters(remove_duplicate=False),
            *module.named_buffers(remove_duplicate=False),
        ]
    )


def export_model(model: SOGNet, path: str | Path) -> dict:
    """Script and save ``model`` with ``metadata.json``; returns the metadata."""
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    scripted = torch.jit.script(ExportedSOGNet(model))
    meta = export_metadata(model)
    meta["weights_sha256"] = module_digest(scripted)
    torch.jit.save(scripted, str(path), _extra_files={"metadata.json": json.dumps(meta)})
    return meta


def load_exported(path: str | Path) -> tuple[torch.jit.ScriptModule, dict]:
    """Load an exported file and its metadata, checking its format version and checksum.

    :raises FileNotFoundError: no such file.
    :raises FileFormatError: not a SOG-Net export (a model file, another TorchScript module,
        anything else) or from a newer openmm-sog; ``CorruptFileError`` (a subclass) when the
        weights do not match the recorded checksum.
    """
    import zipfile

    import vesin_torch  # noqa: F401  (registers the neighbour-list TorchScript class)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SOG-Net export not found: {path}")
    remedy = "export one with `sognet export --model model_best.pt -o FILE`"
    extra = {"metadata.json": ""}
    try:
        module = torch.jit.load(str(path), _extra_files=extra)
    except (RuntimeError, ValueError) as error:
        names = zipfile.ZipFile(path).namelist() if zipfile.is_zipfile(path) else []
        if any(name.endswith("/data.pkl") for name in names):
            raise FileFormatError(
                f"{path} is not {_EXPORT} but a model file (the kind `sognet train` writes); "
                + remedy
            ) from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FileFormatError(f"{path} is not {_EXPORT}: {reason}; {remedy}") from None
    try:
        meta = json.loads(extra["metadata.json"])
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or "atomic_numbers" not in meta:
        raise FileFormatError(
            f"{path} is not {_EXPORT}: a TorchScript file without SOG-Net metadata.json; " + remedy
        )
    version = check_format_version(
        "export", path, meta.get("format_version"), EXPORT_FORMAT_VERSION
    )
    if version >= 1:
        verify_digest("export", path, meta.get("weights_sha256"), module_digest(module))
    return module, meta
