"""Export a trained SOG-Net as an AOTInductor package (``.pt2``) for ``TorchSOGForce``.

TorchScript is deprecated upstream; this is the export that replaces it for OpenMM
(docs/export_formats.md has the investigation behind it). The package holds two compiled
programs, both for one structure with the neighbour pairs as inputs (the C++ force builds them):

* ``local_forward(positions [N,3] A f64, atomic_numbers [N] i64, cell [3,3] A f64, i [E] i64,
  j [E] i64, shifts [E,3] i64, charge_scale [N] f64) -> (E_local [1] eV, q [N,P] e)``;
* ``local_vjp(..., charge_scale, energy_weight [] f64, charge_grad [N,P] f64) -> (E_local,
  q, d/dr [N,3], d/d charge_scale [N])`` of ``energy_weight * E_local + sum(q * charge_grad)``:
  the backward pass of ``TorchSOGForce`` with dE/dq from its native long-range engine. Its
  units are those of ``charge_grad`` (per e) and ``energy_weight``; the force passes kJ/mol.

``E_local`` and ``q`` are those of ``ExportedSOGNet.local_energy_and_charges``: the short-range
energy plus, for a periodic structure, the real-space part of the long range. Autograd is
unrolled into plain operations by ``make_fx`` before ``torch.export`` (``torch.export`` cannot
trace ``autograd.grad``), with dynamic atom and pair counts, then compiled by AOTInductor for the
CPU. The weights become constants of the compiled code.

``metadata.json`` (an extra file of the package, read by the C++ force without libtorch) is
that of the TorchScript export with ``format`` :data:`COMPILED_FORMAT`, ``compiled``
(device, torch version, program names, periodicity) and ``package_sha256``: the checksum of every
other entry of the archive (:func:`package_digest`), which loading verifies in Python and C++.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import struct
import tempfile
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import Tensor, nn

from ..model import SOGNet
from ..model.descriptor import species_one_hot
from ..model.neighbors import pair_vectors
from .errors import SognetError
from .export import EXPORT_FORMAT_VERSION, export_metadata
from .integrity import CorruptFileError, FileFormatError, check_format_version

__all__ = [
    "COMPILED_FORMAT",
    "COMPILED_PROGRAMS",
    "LocalCore",
    "LocalForward",
    "LocalVJP",
    "compiled_export_available",
    "export_compiled",
    "load_compiled",
    "package_digest",
    "package_metadata",
    "read_compiled_metadata",
    "trace_with_make_fx",
]

#: metadata.json ``format`` of an AOTInductor package (same ``format_version`` as TorchScript)
COMPILED_FORMAT = "openmm-sog SOG-Net AOTInductor v1"
#: the OpenMP threads a package's loops are generated for unless export_compiled is told
#: otherwise (serial: the faster package where measured, see export_compiled)
DEFAULT_COMPILE_THREADS = 1
#: the programs of a package, by name (AOTIModelPackageLoader's model_name)
COMPILED_PROGRAMS = ("local_forward", "local_vjp")
_METADATA_ENTRY = "extra/metadata.json"


class LocalCore(nn.Module):
    """``(E_local [1] eV, q [N, P] e)`` of one structure with its neighbour pairs given.

    The model's own submodules and parameters, on a path without host synchronisations or
    data-dependent shapes, so that it traces: species are looked up without range checks (the
    C++ force checks them against the metadata before calling), neutralisation is a mean over
    the atoms (one structure), and the real-space Gaussians (those not in ``sog.kspace``) are
    chosen once here from the frozen widths instead of by a mask at every call.

    :param model: a frozen SOG-Net.
    :param periodic: the structure is periodic: the real-space part of the long range is added
        (a free cluster's long range is entirely the engine's exact pair sum).
    """

    def __init__(self, model: SOGNet, periodic: bool) -> None:
        super().__init__()
        self.m = model
        self.narrow: list[int] = []
        self.narrow_mask = torch.zeros(0)
        if model.lr is not None and periodic and model.lr.real_space_width > 0.0:
            mask = model.lr.periodic.kspace_mask()
            if mask is not None:
                narrow = (~mask).any(0)
                self.narrow = [int(k) for k in torch.nonzero(narrow).flatten()]
                weights = (~mask).to(model.energy_shifts.dtype)
                self.narrow_mask = weights[:, self.narrow].clone()

    def forward(
        self,
        positions: Tensor,
        numbers: Tensor,
        cell: Tensor,
        i: Tensor,
        j: Tensor,
        shifts: Tensor,
        charge_scale: Tensor,
    ) -> tuple[Tensor, Tensor]:
        m = self.m
        dtype = m.energy_shifts.dtype
        x = positions.to(dtype)
        h = cell.to(dtype)
        species = m.species_table.index_select(0, numbers)
        batch = torch.zeros_like(numbers)
        vectors = pair_vectors(x, h.unsqueeze(0), batch, i, j, shifts)
        features, backbone_energy = m.backbone(vectors, i, j, species)
        onehot = species_one_hot(species, len(m.atomic_numbers), dtype)
        features = torch.cat([features, onehot], -1)
        local = (m.fitting(features).squeeze(-1) + backbone_energy) * m.energy_scale
        local = local + m.energy_shifts.index_select(0, species)
        energy = local.sum()
        if m.lr is None:
            return energy.reshape(1), torch.zeros_like(x[:, :0])
        q = m.charge_head(features) + m.charge_offsets.index_select(0, species)
        if m.neutralize:
            q = q - q.mean(0, keepdim=True)
        q = q * charge_scale.to(dtype).unsqueeze(-1)
        if self.narrow:
            kernel = m.lr.kernel
            w = kernel.weights[:, self.narrow] * self.narrow_mask  # [P, M'] eV/e^2
            sigma = kernel.log_widths[:, self.narrow].exp()  # [P, M'] A
            r = torch.linalg.norm(vectors, dim=-1)
            g = (w * torch.exp(-(r * r)[:, None, None] / (sigma * sigma))).sum(-1)  # [E, P]
            keep = (r.detach() < m.lr.cutoff).to(dtype)
            pairs = 0.5 * (q.index_select(0, i) * q.index_select(0, j) * g).sum(-1) * keep
            total = q.sum(0)
            volume = torch.dot(h[0], torch.linalg.cross(h[1], h[2])).abs()
            ghat0 = (w * (torch.pi**1.5) * sigma**3).sum(-1)
            energy = energy + pairs.sum() - (total * total * ghat0).sum() / (2.0 * volume)
        return energy.reshape(1), q


class LocalForward(nn.Module):
    """The ``local_forward`` program: ``(E_local [1] eV, q [N, P] e)``, float64 out."""

    def __init__(self, core: LocalCore) -> None:
        super().__init__()
        self.core = core

    def forward(self, positions, numbers, cell, i, j, shifts, charge_scale):
        energy, q = self.core(positions, numbers, cell, i, j, shifts, charge_scale)
        return energy.double(), q.double()


class LocalVJP(nn.Module):
    """The ``local_vjp`` program: ``(E_local [1] eV, q [N,P] e, d/dr [N,3], d/ds [N])`` of
    ``energy_weight * E_local + sum(q * charge_grad)`` (units of ``energy_weight`` per eV and of
    ``charge_grad`` per e; per Angstrom for d/dr), float64 out."""

    def __init__(self, core: LocalCore) -> None:
        super().__init__()
        self.core = core

    def forward(
        self, positions, numbers, cell, i, j, shifts, charge_scale, energy_weight, charge_grad
    ):
        with torch.enable_grad():
            r = positions.detach().requires_grad_(True)
            s = charge_scale.detach().requires_grad_(True)
            energy, q = self.core(r, numbers, cell, i, j, shifts, s)
            objective = energy.double().sum() * energy_weight + (q.double() * charge_grad).sum()
            grad_r, grad_s = torch.autograd.grad([objective], [r, s], allow_unused=True)
        grad_r = torch.zeros_like(r) if grad_r is None else grad_r
        grad_s = torch.zeros_like(s) if grad_s is None else grad_s
        return energy.detach().double(), q.detach().double(), grad_r.double(), grad_s.double()


def compiled_export_available() -> str | None:
    """``None`` when this torch can write AOTInductor packages, else why not (one line)."""
    try:
        import torch._inductor  # noqa: F401
        from torch.export.pt2_archive._package import package_pt2  # noqa: F401
    except ImportError as error:  # older or stripped torch builds (tested by patching)
        return f"this torch ({torch.__version__}) has no AOTInductor packaging ({error})"
    import shutil

    if shutil.which(os.environ.get("CXX", "g++")) is None and shutil.which("c++") is None:
        return "AOTInductor compiles C++: no C++ compiler (g++ or $CXX) on PATH"
    return None


def _example_inputs(model: SOGNet, periodic: bool) -> tuple[Tensor, ...]:
    """A small structure to trace with: 37 atoms of the model's species in a cube twice the
    cutoff wide, all pairs within the cutoff (sizes unlike any weight's, so that nothing is
    specialised to them)."""
    generator = torch.Generator().manual_seed(0)
    n = 37
    side = 2.0 * float(model.cutoff) + 1.0
    positions = torch.rand(n, 3, generator=generator, dtype=torch.float64) * side
    species = torch.tensor(list(model.atomic_numbers), dtype=torch.long)
    numbers = species[torch.arange(n) % len(species)]
    cell = torch.eye(3, dtype=torch.float64) * side
    delta = positions[None, :, :] - positions[:, None, :]
    if periodic:
        delta = delta - side * torch.round(delta / side)
    distance = torch.linalg.norm(delta, dim=-1)
    close = (distance < float(model.cutoff)) & ~torch.eye(n, dtype=torch.bool)
    i, j = torch.nonzero(close, as_tuple=True)
    wrapped = positions[i] + delta[i, j]
    shifts = torch.round((wrapped - positions[j]) / side).to(torch.long)
    charge_scale = torch.ones(n, dtype=torch.float64)
    return positions, numbers, cell, i, j, shifts, charge_scale


def trace_with_make_fx(module: nn.Module, args: tuple[Tensor, ...]) -> torch.fx.GraphModule:
    """Autograd unrolled into aten operations, symbolic sizes (no duck shaping: a dynamic size
    equal to a weight's size must not be specialised)."""
    from torch.fx.experimental import _config as fx_config
    from torch.fx.experimental.proxy_tensor import make_fx

    old = fx_config.use_duck_shape
    fx_config.use_duck_shape = False
    try:
        return make_fx(
            module,
            tracing_mode="symbolic",
            _allow_non_fake_inputs=True,
            _error_on_data_dependent_ops=True,
        )(*[a.clone() for a in args])
    finally:
        fx_config.use_duck_shape = old


class _Graph(nn.Module):
    """A traced graph as a module with positional arguments (for torch.export)."""

    def __init__(self, graph: torch.fx.GraphModule) -> None:
        super().__init__()
        self.graph_module = graph

    def forward(self, *args):
        return self.graph_module(*args)


@contextlib.contextmanager
def _utf8_ctype() -> Iterator[None]:
    """A UTF-8 ``LC_CTYPE`` while AOTInductor runs: it reads its C++ templates with the locale's
    encoding, and an OpenCL (PoCL) context created earlier in the process resets ``LC_CTYPE`` to
    "C" (ASCII), where the templates fail to decode."""
    import locale

    previous = locale.setlocale(locale.LC_CTYPE)
    changed = False
    if "utf8" not in previous.lower().replace("-", ""):
        for name in ("C.UTF-8", "C.utf8", "en_US.UTF-8"):
            try:
                locale.setlocale(locale.LC_CTYPE, name)
            except locale.Error:
                continue
            changed = True
            break
    try:
        yield
    finally:
        if changed:
            locale.setlocale(locale.LC_CTYPE, previous)


def _compile(module: nn.Module, args: tuple[Tensor, ...], workdir: Path, threads: int) -> list:
    """make_fx, torch.export (dynamic atom and pair counts) and AOTInductor, its loops generated
    for ``threads`` OpenMP threads: the files."""
    from torch.export import Dim

    atoms = Dim("atoms", min=1, max=2**31 - 1)
    pairs = Dim("pairs", min=0, max=2**31 - 1)
    per_atom, per_pair = {0: atoms}, {0: pairs}
    dims: list[dict | None] = [per_atom, per_atom, None, per_pair, per_pair, per_pair, per_atom]
    if len(args) == 9:
        dims += [None, per_atom]
    options = {
        "aot_inductor.package": True,
        "aot_inductor.output_path": str(workdir),
        "cpp.threads": threads,
    }
    with warnings.catch_warnings(), _utf8_ctype():
        # torch's own deprecation notices from inside tracing, nothing a user can act on
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        program = torch.export.export(
            _Graph(trace_with_make_fx(module, args)),
            args,
            dynamic_shapes=(tuple(dims),),
            strict=False,
        )
        return torch._inductor.aot_compile(program.module(), args, options=options)


def export_compiled(
    model: SOGNet,
    path: str | Path,
    periodic: bool | None = None,
    threads: int = DEFAULT_COMPILE_THREADS,
) -> dict:
    """Compile ``model`` into an AOTInductor package at ``path``; returns its metadata.

    :param model: the SOG-Net (frozen in place).
    :param path: output file (``.pt2``).
    :param periodic: compile for periodic structures (the real-space part of the long range
        included) or free clusters; default: as the model was trained, periodic when unknown.
        A package runs one kind only: ``TorchSOGForce`` refuses the other.
    :param threads: the OpenMP threads the package's loops are generated for (>= 1; recorded
        in the metadata). Inductor otherwise takes the compiling process's torch thread count,
        and the default 1 (serial loops) is the faster package where measured: on a 2-core
        Intel Xeon, the shipped electrolyte model at 4,096 ions in ``TorchSOGForce`` took 66 ms
        per evaluation compiled for 1 thread, run on 1 or 2, against 214 ms (1 thread) and
        132 ms (2 threads, wall time) compiled for 2.
    :raises SognetError: this torch cannot write the package (the message says why), or
        ``threads`` is not a positive integer.
    """
    from .export import _frozen, runs_periodic

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise SognetError(
            f"threads must be a positive integer (the OpenMP threads the package's loops are "
            f"generated for), not {threads!r}"
        )
    problem = compiled_export_available()
    if problem is not None:
        raise SognetError(f"cannot write an AOTInductor package: {problem}")
    # Only now: in a torch without it this import is what the check above reports.
    from torch.export.pt2_archive._package import package_pt2

    if periodic is None:
        periodic = runs_periodic(getattr(model, "trained_periodic", None))
    model = _frozen(model)
    core = LocalCore(model, bool(periodic)).eval()
    args = _example_inputs(model, bool(periodic))
    vjp_args = (*args, torch.tensor(1.0, dtype=torch.float64),
                torch.zeros(args[0].shape[0], model.num_channels, dtype=torch.float64))  # fmt: skip
    files: dict[str, list] = {}
    with tempfile.TemporaryDirectory(prefix="sog_aoti_") as workdir:
        for name, module, inputs in (
            ("local_forward", LocalForward(core), args),
            ("local_vjp", LocalVJP(core), vjp_args),
        ):
            folder = Path(workdir) / name
            folder.mkdir()
            files[name] = _compile(module.eval(), inputs, folder, threads)
        meta = export_metadata(model)
        meta["format"] = COMPILED_FORMAT
        meta["periodic"] = bool(periodic)
        meta["compiled"] = {
            "device": "cpu",
            "threads": threads,
            "torch_version": torch.__version__,
            "programs": list(COMPILED_PROGRAMS),
            "periodic": bool(periodic),
            "inputs": "positions [N,3] A f64, atomic_numbers [N] i64, cell [3,3] A f64, "
            "i [E] i64, j [E] i64, shifts [E,3] i64 (r_j - r_i + shifts @ cell), "
            "charge_scale [N] f64[, energy_weight [] f64, charge_grad [N,P] f64]",
        }
        # Written in the temporary folder, moved into place complete.
        target = Path(path)
        partial = Path(workdir) / (target.stem + ".pt2")
        package_pt2(str(partial), aoti_files=files)
        # The checksum covers every entry; metadata.json, which records it, is appended after.
        meta["package_sha256"] = package_digest(partial)
        with zipfile.ZipFile(partial, "a", compression=zipfile.ZIP_STORED) as archive:
            prefix = archive.namelist()[0].split("/")[0]
            archive.writestr(f"{prefix}/{_METADATA_ENTRY}", json.dumps(meta))
        shutil.move(str(partial), str(target))
    return meta


def package_digest(path: str | Path) -> str:
    """SHA-256 of an archive's entries but its metadata.json, in name order: per entry the name,
    a NUL, the size (uint64 little-endian) and the bytes (what the C++ force recomputes)."""
    sha = hashlib.sha256()
    with zipfile.ZipFile(path) as archive:
        for info in sorted(archive.infolist(), key=lambda item: item.filename):
            if info.filename.endswith("/" + _METADATA_ENTRY) or info.is_dir():
                continue
            data = archive.read(info)
            sha.update(info.filename.encode() + b"\0" + struct.pack("<Q", len(data)) + data)
    return sha.hexdigest()


def package_metadata(path: str | Path) -> dict | None:
    """The metadata.json of a SOG-Net AOTInductor package, unchecked; ``None`` for any other
    file (a TorchScript export, a model file, not a zip archive)."""
    if not zipfile.is_zipfile(path):
        return None
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.endswith("/" + _METADATA_ENTRY)]
        if not names:
            return None
        try:
            meta = json.loads(archive.read(names[0]) or b"{}")
        except ValueError:
            return None
    return meta if isinstance(meta, dict) and meta.get("format") == COMPILED_FORMAT else None


def read_compiled_metadata(path: str | Path) -> dict:
    """A package's metadata after checking its format version and checksum.

    :raises FileNotFoundError: no such file.
    :raises FileFormatError: not a SOG-Net AOTInductor package, or from a newer openmm-sog.
    :raises CorruptFileError: its entries do not match the recorded ``package_sha256``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"SOG-Net package not found: {path}")
    meta = package_metadata(path)
    if meta is None:
        raise FileFormatError(
            f"{path} is not a SOG-Net AOTInductor package; write one with `sognet export "
            "--format aotinductor --model model_best.pt -o MODEL.pt2`"
        )
    check_format_version(
        "a SOG-Net package", path, meta.get("format_version"), EXPORT_FORMAT_VERSION
    )
    try:
        actual = package_digest(path)
    except zipfile.BadZipFile as error:
        raise CorruptFileError(
            f"{path}: the package is corrupted ({error}); restore it from a good copy or export "
            "it again with `sognet export --format aotinductor`"
        ) from None
    if actual != meta.get("package_sha256"):
        raise CorruptFileError(
            f"{path}: package checksum mismatch: the file is corrupted (SHA-256 of its entries "
            f"{actual}, written with {meta.get('package_sha256')}); restore it from a good copy "
            "or export it again with `sognet export --format aotinductor`"
        )
    return meta


def load_compiled(path: str | Path) -> tuple[dict[str, object], dict]:
    """A package's two programs (callables, by name) and its metadata, checked as
    :func:`read_compiled_metadata` checks it."""
    from torch._inductor.package import load_package

    meta = read_compiled_metadata(path)
    programs = {name: load_package(str(path), model_name=name) for name in COMPILED_PROGRAMS}
    return programs, meta
