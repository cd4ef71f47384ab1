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

:func:`export_openmm_torch` writes the other kind of export, for openmm-torch's ``TorchForce``:
:class:`OpenMMTorchSOGNet` (or :class:`OpenMMTorchSOGNetWithForces`) with the System's atomic
numbers baked in, OpenMM's units outside (nm, kJ/mol), the same metadata and checksum, and
``"format": "openmm-torch"``; read it back with :func:`load_openmm_torch_export`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from ..model import SOGNet
from ..units import KJ_PER_MOL_PER_EV, NM_PER_ANGSTROM
from .errors import SognetError
from .integrity import (
    FileFormatError,
    check_format_version,
    package_version,
    verify_digest,
    weights_digest,
)

__all__ = [
    "EXPORT_FORMAT_VERSION",
    "OPENMM_TORCH_FORMAT",
    "ExportedSOGNet",
    "OpenMMTorchSOGNet",
    "OpenMMTorchSOGNetWithForces",
    "export_model",
    "export_openmm_torch",
    "load_exported",
    "load_openmm_torch_export",
    "runs_periodic",
]

#: layout of the export's metadata.json: 1 adds format_version, openmm_sog_version,
#: weights_sha256 and periodic; exports without format_version are format 0. The C++
#: TorchSOGForce (SOGTorchModel.cpp) refuses versions above its own copy of this number.
EXPORT_FORMAT_VERSION = 1
#: metadata.json ``format`` of the exports for openmm-torch's TorchForce (same format_version)
OPENMM_TORCH_FORMAT = "openmm-torch"
_EXPORT = "a SOG-Net export"
_OPENMM_TORCH_EXPORT = "a SOG-Net export for openmm-torch"


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
        dtype = self.model.energy_shifts.dtype
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
        dtype = self.model.energy_shifts.dtype
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
        self,
        positions: Tensor,
        atomic_numbers: Tensor,
        cell: Tensor,
        pbc: bool = True,
        charge_scale: Tensor | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``E_sr`` plus the long range's real-space part ``[1]`` (eV), and the latent charges
        ``[N, P]`` (e), differentiable: the model's energy but for the k-space lattice sum of the
        Gaussians in the metadata's ``sog.kspace`` (for a periodic structure; a non-periodic one
        gets ``E_sr`` alone, the engine adding the whole free-space sum).

        ``charge_scale`` ``[N]`` (dimensionless, optional) multiplies the latent charges in the
        long range (its real-space part here, and the returned charges that the engine sums),
        not in the short range: what an alchemical charge-scale parameter of ``TorchSOGForce``
        passes, differentiably, so that the engine gets dU/dlambda by the chain rule."""
        out = self._components(positions, atomic_numbers, cell, pbc, True, charge_scale)
        return out["energy_sr"] + out["energy_lr"], out["charges"]

    @torch.jit.export
    def short_range_energy_and_charges(
        self,
        positions: Tensor,
        atomic_numbers: Tensor,
        cell: Tensor,
        pbc: bool = True,
        charge_scale: Tensor | None = None,
    ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``E_sr`` alone ``[1]`` (eV) and the latent charges ``[N, P]`` (e), differentiable,
        with ``charge_scale`` as in :meth:`local_energy_and_charges`, and the model's neighbour
        pairs ``i``, ``j`` ``[E]`` with their separations ``r_j - r_i + S h`` ``[E, 3]``
        (Angstrom, detached; each pair in both orders, some may lie beyond the cutoff): for an
        engine that sums the real-space Gaussians over those pairs itself (TorchSOGForce on
        the Reference and CPU platforms)."""
        out = self._components(positions, atomic_numbers, cell, pbc, True, charge_scale, False)
        return (
            out["energy_sr"],
            out["charges"],
            out["pair_i"],
            out["pair_j"],
            out["pair_vectors"],
        )

    def _components(
        self,
        positions: Tensor,
        atomic_numbers: Tensor,
        cell: Tensor,
        pbc: bool,
        real_space_only: bool,
        charge_scale: Tensor | None = None,
        include_long_range: bool = True,
    ) -> dict[str, Tensor]:
        """``energy_components`` of one structure, positions cast to the model's dtype."""
        batch, cells, periodic = self._inputs(positions, cell, pbc)
        dtype = self.model.energy_shifts.dtype
        # The cast is differentiable: a caller's float64 positions get float64 gradients.
        return self.model.energy_components(
            positions.to(dtype),
            atomic_numbers,
            cells,
            periodic,
            batch,
            None,
            real_space_only,
            charge_scale,
            include_long_range,
        )


class _OpenMMTorchBase(nn.Module):
    """The whole model of one fixed System in OpenMM's units (shared by the two TorchForce kinds).

    :param model: the SOG-Net.
    :param atomic_numbers: atomic number of every particle of the System, in order.
    :param periodic: the System is periodic: ``forward`` takes OpenMM's box ``[3, 3]`` (nm) as
        its second argument; else the particles are a free cluster and ``forward`` takes none.
    """

    def __init__(self, model: SOGNet, atomic_numbers: Sequence[int], periodic: bool) -> None:
        super().__init__()
        self.model = model
        self.periodic = bool(periodic)
        numbers = torch.tensor([int(z) for z in atomic_numbers], dtype=torch.long)
        # A buffer: it follows the module to TorchForce's device and is in the checksum.
        self.register_buffer("particle_atomic_numbers", numbers)
        self.num_particles = int(numbers.numel())
        self.nm_per_angstrom = NM_PER_ANGSTROM
        self.kj_per_mol_per_ev = KJ_PER_MOL_PER_EV

    def _energy(self, positions: Tensor, box: Tensor | None) -> Tensor:
        """Energy (kJ/mol, float64 scalar) of ``positions`` ``[N, 3]`` (nm) in ``box`` (nm)."""
        n = self.num_particles
        if positions.dim() != 2 or positions.shape[0] != n or positions.shape[1] != 3:
            raise ValueError(
                f"SOG-Net openmm-torch export: positions of shape {list(positions.shape)}, but "
                f"the export holds the atomic numbers of a System of {n} particles (expects "
                f"[{n}, 3] nm); export again for this System with `sognet export --format "
                "openmm-torch --structure FILE` or `--atomic-numbers Z1,Z2,...`"
            )
        device = positions.device
        dtype = self.model.energy_shifts.dtype
        if self.periodic:
            if box is None:
                raise ValueError(
                    "SOG-Net openmm-torch export: this model is periodic and needs the box; "
                    "call setUsesPeriodicBoundaryConditions(True) on the TorchForce"
                )
            if box.shape != (3, 3):
                raise ValueError(
                    f"SOG-Net openmm-torch export: box of shape {list(box.shape)}; expects the "
                    "periodic box vectors as rows of a [3, 3] tensor (nm)"
                )
            cell = (box / self.nm_per_angstrom).to(dtype).reshape(1, 3, 3)
        else:
            if box is not None:
                raise ValueError(
                    "SOG-Net openmm-torch export: this export is non-periodic (a free cluster) "
                    "but was given a box; do not call setUsesPeriodicBoundaryConditions(True), "
                    "or export with `--periodic true` for a periodic System"
                )
            cell = torch.zeros(1, 3, 3, dtype=dtype, device=device)
        # The cast is differentiable: TorchForce's positions get gradients of their own dtype.
        angstrom = (positions / self.nm_per_angstrom).to(dtype)
        batch = torch.zeros(n, dtype=torch.long, device=device)
        pbc = torch.tensor([self.periodic], device=device)
        out = self.model.energy_components(
            angstrom, self.particle_atomic_numbers, cell, pbc, batch, None, False
        )
        return out["energy"].sum().to(torch.float64) * self.kj_per_mol_per_ev


class OpenMMTorchSOGNet(_OpenMMTorchBase):
    """A SOG-Net for openmm-torch's ``TorchForce``: ``forward(positions, box=None) -> energy``.

    ``positions`` ``[N, 3]`` (nm) of the System the export was made for (its atomic numbers are
    baked in), ``box`` ``[3, 3]`` (nm, rows are the periodic box vectors; given by TorchForce
    after ``setUsesPeriodicBoundaryConditions(True)``, required for a periodic model and refused
    for a non-periodic one). Returns the energy, a float64 scalar tensor (kJ/mol), long range
    included (torch NUFFT layer), differentiable: TorchForce takes the forces by autograd.
    """

    def forward(self, positions: Tensor, box: Tensor | None = None) -> Tensor:
        """Energy (kJ/mol, scalar) of ``positions`` ``[N, 3]`` (nm) in ``box`` ``[3, 3]`` (nm)."""
        return self._energy(positions, box)


class OpenMMTorchSOGNetWithForces(_OpenMMTorchBase):
    """As :class:`OpenMMTorchSOGNet`, for a TorchForce with ``setOutputsForces(True)``.

    ``forward(positions, box=None) -> (energy, forces)``: energy (kJ/mol, float64 scalar,
    detached) and forces ``[N, 3]`` (kJ/mol/nm, -dE/dr in the positions' dtype), computed by one
    backward pass inside the module (call it with autograd enabled, as TorchForce does).
    """

    def forward(self, positions: Tensor, box: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Energy (kJ/mol, scalar) and forces ``[N, 3]`` (kJ/mol/nm)."""
        if not torch.is_grad_enabled():  # TorchScript has no enable_grad() to turn it on
            raise RuntimeError(
                "SOG-Net openmm-torch export: the forces need autograd, which is disabled "
                "(torch.no_grad()); call the module with gradients enabled"
            )
        leaf = positions.detach().requires_grad_(True)
        energy = self._energy(leaf, box)
        grads = torch.autograd.grad([energy], [leaf], allow_unused=True)
        gradient = grads[0]
        forces = torch.zeros_like(leaf) if gradient is None else -gradient
        return energy.detach(), forces.detach()


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
        "backbone": model.backbone_name,
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


def runs_periodic(trained: object) -> bool:
    """Whether an export runs periodic by default: as its model was trained (the metadata's
    ``periodic``), and periodic when that is not recorded (format 0, or mixed training data)."""
    return True if trained is None else bool(trained)


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
    model = _frozen(model)
    return _save(torch.jit.script(ExportedSOGNet(model)), export_metadata(model), path)


def export_openmm_torch(
    model: SOGNet,
    path: str | Path,
    atomic_numbers: Sequence[int],
    periodic: bool | None = None,
    outputs_forces: bool = False,
) -> dict:
    """Save ``model`` for openmm-torch's ``TorchForce(path)``, for one System; returns the metadata.

    :param model: the SOG-Net (its dtype is the export's).
    :param path: output file.
    :param atomic_numbers: atomic number of every particle of the System, in order (TorchForce
        passes only positions and box, so the species are fixed here).
    :param periodic: the System is periodic (TorchForce with
        ``setUsesPeriodicBoundaryConditions(True)``); default ``None``: as the model was trained
        (``model.trained_periodic``), periodic when not recorded.
    :param outputs_forces: write :class:`OpenMMTorchSOGNetWithForces` (for
        ``setOutputsForces(True)``) instead of :class:`OpenMMTorchSOGNet`.
    :return: the metadata: that of :func:`export_model`, with ``format`` ``"openmm-torch"``,
        the module's units (nm, kJ/mol), ``particle_atomic_numbers`` and ``openmm_torch``
        (``uses_periodic_boundary_conditions``, ``outputs_forces``, ``num_particles``).
    :raises SognetError: no atomic numbers, or species the model does not know.
    """
    numbers = [int(z) for z in atomic_numbers]
    if not numbers:
        raise SognetError(
            "an openmm-torch export needs the System's atomic numbers (one per particle, in "
            "order); give --structure FILE or --atomic-numbers Z1,Z2,..."
        )
    unknown = sorted(set(numbers) - set(model.atomic_numbers))
    if unknown:
        raise SognetError(
            f"atomic numbers {unknown} are not among the model's species "
            f"{sorted(model.atomic_numbers)}; check the structure or the list of atomic numbers"
        )
    if periodic is None:
        periodic = runs_periodic(getattr(model, "trained_periodic", None))
    model = _frozen(model)
    kind = OpenMMTorchSOGNetWithForces if outputs_forces else OpenMMTorchSOGNet
    scripted = torch.jit.script(kind(model, numbers, periodic))
    meta = export_metadata(model)
    box = ", box [3,3] nm" if periodic else ""
    returns = "(energy kJ/mol, forces [N,3] kJ/mol/nm)" if outputs_forces else "energy kJ/mol"
    meta.update(
        {
            "format": OPENMM_TORCH_FORMAT,
            "units": {"length": "nm", "energy": "kJ/mol", "charge": "e", "forces": "kJ/mol/nm"},
            "openmm_conversion": {
                "nm_per_angstrom": NM_PER_ANGSTROM,
                "kj_per_mol_per_ev": KJ_PER_MOL_PER_EV,
                "note": "done inside the module: it takes nm and returns kJ/mol (kJ/mol/nm)",
            },
            "particle_atomic_numbers": numbers,
            "openmm_torch": {
                "forward": f"forward(positions [N,3] nm{box}) -> {returns}",
                "num_particles": len(numbers),
                "uses_periodic_boundary_conditions": bool(periodic),
                "outputs_forces": bool(outputs_forces),
            },
        }
    )
    return _save(scripted, meta, path)


def _frozen(model: SOGNet) -> SOGNet:
    """``model`` in eval mode without parameter gradients (in place)."""
    model = model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _save(scripted: torch.jit.ScriptModule, meta: dict, path: str | Path) -> dict:
    """Save ``scripted`` with ``meta`` (plus its checksum) as ``metadata.json``."""
    meta["weights_sha256"] = module_digest(scripted)
    torch.jit.save(scripted, str(path), _extra_files={"metadata.json": json.dumps(meta)})
    return meta


def load_exported(path: str | Path) -> tuple[torch.jit.ScriptModule, dict]:
    """Load an exported file and its metadata, checking its format version and checksum.

    :raises FileNotFoundError: no such file.
    :raises FileFormatError: not a SOG-Net export (a model file, another TorchScript module,
        an export for openmm-torch, anything else) or from a newer openmm-sog;
        ``CorruptFileError`` (a subclass) when the weights do not match the recorded checksum.
    """
    module, meta = _load_checked(path, _EXPORT, "`sognet export --model model_best.pt -o FILE`")
    if meta.get("format") == OPENMM_TORCH_FORMAT:
        raise FileFormatError(
            f"{path} is an export for openmm-torch's TorchForce (`sognet export --format "
            "openmm-torch`), which takes nm and kJ/mol for one System; load it with "
            "openmmtorch.TorchForce, or export with `--format torchscript` (the default) for "
            "create_sognet_force, TorchSOGForce and SOGNetCalculator"
        )
    return module, meta


def load_openmm_torch_export(path: str | Path) -> tuple[torch.jit.ScriptModule, dict]:
    """Load an export of :func:`export_openmm_torch` and its metadata, checked as
    :func:`load_exported` checks its files (format version, checksum).

    :raises FileNotFoundError: no such file.
    :raises FileFormatError: not an openmm-torch export (another SOG-Net export, a model file,
        anything else) or from a newer openmm-sog; ``CorruptFileError`` on a checksum mismatch.
    """
    remedy = "`sognet export --format openmm-torch --model model_best.pt -o FILE --structure XYZ`"
    module, meta = _load_checked(path, _OPENMM_TORCH_EXPORT, remedy)
    if meta.get("format") != OPENMM_TORCH_FORMAT:
        raise FileFormatError(
            f"{path} is {_EXPORT} for create_sognet_force (Angstrom, eV, species as input), "
            f"not for openmm-torch's TorchForce; write one with {remedy}"
        )
    return module, meta


def _load_checked(
    path: str | Path, expected: str, command: str
) -> tuple[torch.jit.ScriptModule, dict]:
    """A TorchScript file with SOG-Net metadata, its format version and checksum checked."""
    import zipfile

    import vesin_torch  # noqa: F401  (registers the neighbour-list TorchScript class)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SOG-Net export not found: {path}")
    remedy = f"export one with {command}"
    extra = {"metadata.json": ""}
    try:
        module = torch.jit.load(str(path), _extra_files=extra)
    except (RuntimeError, ValueError) as error:
        names = zipfile.ZipFile(path).namelist() if zipfile.is_zipfile(path) else []
        if any(name.endswith("/data.pkl") for name in names):
            raise FileFormatError(
                f"{path} is not {expected} but a model file (the kind `sognet train` writes); "
                + remedy
            ) from None
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise FileFormatError(f"{path} is not {expected}: {reason}; {remedy}") from None
    try:
        meta = json.loads(extra["metadata.json"])
    except json.JSONDecodeError:
        meta = None
    if not isinstance(meta, dict) or "atomic_numbers" not in meta:
        raise FileFormatError(
            f"{path} is not {expected}: a TorchScript file without SOG-Net metadata.json; " + remedy
        )
    version = check_format_version(
        "export", path, meta.get("format_version"), EXPORT_FORMAT_VERSION
    )
    if version >= 1:
        verify_digest("export", path, meta.get("weights_sha256"), module_digest(module))
    return module, meta
