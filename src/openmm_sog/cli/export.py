"""``sognet export --model M -o FILE``: TorchScript file or AOTInductor package with metadata.

``--format torchscript`` (default): the model for ``create_sognet_force``, ``TorchSOGForce`` and
``SOGNetCalculator`` (Angstrom, eV; species given at run time). ``--format aotinductor``: the
model compiled for the CPU as a ``.pt2`` package for ``TorchSOGForce`` (TorchScript's successor;
periodic or free structures, as ``--periodic`` or the training data say). ``--format
openmm-torch``: the model of one System for openmm-torch's ``TorchForce`` (nm, kJ/mol), its
atomic numbers taken from ``--structure FILE`` or ``--atomic-numbers``.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ase

FORMATS = ("torchscript", "aotinductor", "openmm-torch")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sognet export", description="Export to TorchScript or AOTInductor."
    )
    p.add_argument("--model", required=True, help="model file (model_best.pt)")
    p.add_argument("-o", "--output", required=True, help="output .pt file")
    p.add_argument("--dtype", choices=["float32", "float64"], default=None)
    p.add_argument(
        "--periodic",
        choices=["true", "false"],
        default=None,
        help="record that the model is for periodic (true) or non-periodic (false) systems; "
        "default: as recorded in the model file from its training data (unknown in files "
        "written before openmm-sog recorded it, which OpenMM then runs periodic)",
    )
    p.add_argument(
        "--format",
        choices=FORMATS,
        default="torchscript",
        help="torchscript (default): for create_sognet_force, TorchSOGForce and the ASE "
        "calculator (Angstrom, eV); aotinductor: a .pt2 package compiled for the CPU with "
        "this torch, for TorchSOGForce (create_sognet_force(implementation='native')), "
        "periodic or free structures as --periodic says (needs a C++ compiler; about a "
        "minute); openmm-torch: for openmm-torch's TorchForce, "
        "forward(positions nm, box nm) -> energy kJ/mol, for one System whose atomic numbers "
        "are given by --structure or --atomic-numbers",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="aotinductor: the OpenMP threads the package's loops are generated for (default "
        "1, serial loops: the faster package where measured, docs/training.md)",
    )
    p.add_argument(
        "--structure",
        default=None,
        help="openmm-torch: a file ASE reads (extxyz, ...) whose atoms are the System's "
        "particles, in order; its first frame gives the atomic numbers",
    )
    p.add_argument(
        "--atomic-numbers",
        default=None,
        help="openmm-torch: the System's atomic numbers in order, comma-separated numbers or "
        "symbols, Z*COUNT for repeats (e.g. 11*64,17*64 or Na,Cl,Na,Cl)",
    )
    p.add_argument(
        "--outputs-forces",
        action="store_true",
        help="openmm-torch: forward returns (energy kJ/mol, forces kJ/mol/nm), for a "
        "TorchForce with setOutputsForces(True)",
    )
    return p


def parse_atomic_numbers(text: str) -> list[int]:
    """``"11*2,Cl,17"`` -> ``[11, 11, 17, 17]``: numbers or symbols, ``*COUNT`` for repeats."""
    from ase.data import atomic_numbers as by_symbol

    from openmm_sog.training.errors import SognetError

    numbers: list[int] = []
    for item in text.split(","):
        item = item.strip()
        name, _, count = item.partition("*")
        name = name.strip()
        try:
            repeat = int(count) if count else 1
            number = int(name) if name.lstrip("-").isdigit() else by_symbol[name]
        except (KeyError, ValueError):
            repeat, number = -1, -1
        if repeat < 1 or not 1 <= number <= 118:
            raise SognetError(
                f"--atomic-numbers: cannot read {item!r}; give comma-separated atomic numbers "
                "(1-118) or element symbols, with *COUNT for repeats, e.g. 11*64,17*64"
            )
        numbers += [number] * repeat
    return numbers


def structure_atoms(path: str) -> ase.Atoms:
    """The first frame of an ASE-readable file."""
    from pathlib import Path

    import ase.io

    from openmm_sog.training.errors import SognetError

    if not Path(path).is_file():
        raise FileNotFoundError(f"--structure: file not found: {path}")
    try:
        return ase.io.read(path, index=0)
    except Exception as error:  # ASE raises many kinds for unreadable files
        reason = " ".join(str(error).split()) or type(error).__name__
        raise SognetError(
            f"--structure: ASE cannot read {path} ({reason}); give an extxyz file (or another "
            "format ASE reads) whose atoms are the System's particles, in order"
        ) from None


def run(args: argparse.Namespace) -> int:
    import warnings

    from openmm_sog.training.errors import SognetError
    from openmm_sog.training.export import export_model, export_openmm_torch
    from openmm_sog.training.model_io import load_model

    openmm_torch = args.format == "openmm-torch"
    options = {
        "--structure": args.structure,
        "--atomic-numbers": args.atomic_numbers,
        "--outputs-forces": args.outputs_forces,
    }
    given = [option for option, value in options.items() if value]
    if not openmm_torch and given:
        raise SognetError(f"{' and '.join(given)} only apply to --format openmm-torch")
    if args.threads is not None and args.format != "aotinductor":
        raise SognetError("--threads only applies to --format aotinductor")
    if openmm_torch and not (args.structure or args.atomic_numbers):
        raise SognetError(
            "--format openmm-torch needs the System's atomic numbers (TorchForce passes only "
            "positions and box): give --structure FILE (its atoms in the System's order) or "
            "--atomic-numbers Z1,Z2,..."
        )
    if args.structure and args.atomic_numbers:
        raise SognetError("give --structure or --atomic-numbers, not both")
    numbers: list[int] = []
    structure_pbc = None
    if args.structure:
        atoms = structure_atoms(args.structure)
        numbers = [int(z) for z in atoms.numbers]
        structure_pbc = [bool(p) for p in atoms.pbc]
    elif args.atomic_numbers:
        numbers = parse_atomic_numbers(args.atomic_numbers)

    model = load_model(args.model, args.dtype)
    if args.periodic is not None:
        periodic = args.periodic == "true"
        trained = getattr(model, "trained_periodic", None)
        if trained is not None and trained != periodic:
            warnings.warn(
                f"{args.model} was trained on {'periodic' if trained else 'non-periodic'} "
                f"structures; recording --periodic {args.periodic} anyway",
                UserWarning,
                stacklevel=2,
            )
        model.trained_periodic = periodic
    if args.format == "aotinductor":
        from openmm_sog.training.compiled_export import DEFAULT_COMPILE_THREADS, export_compiled

        threads = DEFAULT_COMPILE_THREADS if args.threads is None else args.threads
        meta = export_compiled(model, args.output, threads=threads)
        keys = ("format", "cutoff_angstrom", "atomic_numbers", "periodic", "package_sha256")
        print(json.dumps({k: meta[k] for k in keys}))
        return 0
    if not openmm_torch:
        meta = export_model(model, args.output)
        keys = ("cutoff_angstrom", "atomic_numbers", "periodic", "units", "weights_sha256")
        print(json.dumps({k: meta[k] for k in keys}))
        return 0
    meta = export_openmm_torch(model, args.output, numbers, outputs_forces=args.outputs_forces)
    runs_periodic = meta["openmm_torch"]["uses_periodic_boundary_conditions"]
    if structure_pbc is not None and structure_pbc != [runs_periodic] * 3:
        warnings.warn(
            f"{args.structure} has pbc {structure_pbc} but the export is "
            f"{'periodic' if runs_periodic else 'non-periodic'} (as the model's training data; "
            "--periodic true|false sets it)",
            UserWarning,
            stacklevel=2,
        )
    keys = ("format", "units", "openmm_torch", "weights_sha256")
    print(json.dumps({k: meta[k] for k in keys}))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run(parser().parse_args(argv))
