"""Integrity of the files openmm-sog writes: format versions and a checksum of the weights.

Every model file, training checkpoint and TorchScript export records

* ``format_version``: an integer, raised when the layout changes; a reader refuses files from
  a newer version instead of misreading them (files without one are format 0, from before this
  field existed, and load as they always did, unchecked);
* ``openmm_sog_version``: the package version that wrote it (for the error messages);
* ``weights_sha256``: the SHA-256 of a canonical byte stream of the tensors, so that a flipped
  bit in a weight is an error instead of a silently different model.

The canonical stream (the C++ ``TorchSOGForce`` computes the same one, SOGTorchModel.cpp): for
each tensor in ascending order of its name, the UTF-8 name, a zero byte, the dtype name
(``float32``, ``float64``, ``int64``, ``bool``, ...), a zero byte, the shape as decimal sizes
joined by ``,`` (empty for a scalar), a zero byte, the number of data bytes as an unsigned
64-bit little-endian integer, then the tensor's contiguous CPU bytes (little-endian).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from .errors import SognetError

__all__ = [
    "INTEGRITY_KEYS",
    "CorruptFileError",
    "FileFormatError",
    "check_format_version",
    "package_version",
    "seal",
    "verify_digest",
    "verify_sealed",
    "weights_digest",
    "without_integrity",
]

#: the fields :func:`seal` adds to a payload
INTEGRITY_KEYS = ("format_version", "openmm_sog_version", "weights_sha256")


class FileFormatError(SognetError):
    """A file that is not what the caller expects (wrong kind, unsafe, or too new).

    A :class:`ValueError` (through ``SognetError``): ``sognet`` prints it as one line."""


class CorruptFileError(FileFormatError):
    """A file whose weights do not match the checksum recorded when it was written."""


def package_version() -> str:
    """The version of the installed openmm-sog."""
    from .. import __version__

    return __version__


def tensor_name(dtype: torch.dtype) -> str:
    """The canonical dtype name of the checksum stream (``torch.float32`` -> ``float32``)."""
    return str(dtype).removeprefix("torch.")


def weights_digest(tensors: Iterable[tuple[str, torch.Tensor]]) -> str:
    """Hex SHA-256 of the canonical byte stream of named tensors (see the module docstring)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tensors, key=lambda item: item[0]):
        flat = tensor.detach().cpu().contiguous().reshape(-1)
        data = flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""
        shape = ",".join(str(size) for size in tensor.shape)
        header = f"{name}\0{tensor_name(tensor.dtype)}\0{shape}\0".encode()
        digest.update(header + struct.pack("<Q", len(data)))
        digest.update(data)
    return digest.hexdigest()


def check_format_version(kind: str, path: str | Path, found: object, supported: int) -> int:
    """The file's ``format_version`` (0 when absent); refuses newer or malformed ones."""
    if found is None:
        return 0
    if not isinstance(found, int) or isinstance(found, bool) or found < 0:
        raise FileFormatError(f"{path}: {kind} has an invalid format_version {found!r}")
    if found > supported:
        raise FileFormatError(
            f"{path}: {kind} format_version {found} is newer than the {supported} this "
            f"openmm-sog {package_version()} reads; upgrade openmm-sog to read it"
        )
    return found


def verify_digest(kind: str, path: str | Path, recorded: object, actual: str) -> None:
    """Raise :class:`CorruptFileError` unless the recorded checksum is the actual one."""
    if recorded != actual:
        raise CorruptFileError(
            f"{path}: {kind} checksum mismatch: the file is corrupted (the SHA-256 of its "
            f"weights is {actual}, it was written with {recorded}); restore it from a good "
            "copy or write it again"
        )


def without_integrity(payload: dict) -> dict:
    """``payload`` without the fields of :func:`seal`."""
    return {k: v for k, v in payload.items() if k not in INTEGRITY_KEYS}


def seal(
    payload: dict,
    format_version: int,
    tensors: Callable[[dict], Iterable[tuple[str, torch.Tensor]]],
) -> dict:
    """``payload`` (its old integrity fields dropped) with the format version, the package
    version and the checksum of ``tensors(payload)``, the named tensors the checksum covers."""
    body = without_integrity(payload)
    return {
        "format_version": format_version,
        "openmm_sog_version": package_version(),
        "weights_sha256": weights_digest(tensors(body)),
        **body,
    }


def verify_sealed(
    kind: str,
    path: str | Path,
    payload: dict,
    supported: int,
    tensors: Callable[[dict], Iterable[tuple[str, torch.Tensor]]],
) -> None:
    """Refuse a payload of :func:`seal` from a newer format or whose checksum does not match
    (format 0, without the fields, is not checked)."""
    version = check_format_version(kind, path, payload.get("format_version"), supported)
    if version >= 1:
        actual = weights_digest(tensors(without_integrity(payload)))
        verify_digest(kind, path, payload.get("weights_sha256"), actual)


def flatten_tensors(value: object, prefix: str = "") -> list[tuple[str, torch.Tensor]]:
    """Every tensor inside nested dicts, lists and tuples, named by its dotted path."""
    if isinstance(value, torch.Tensor):
        return [(prefix, value)]
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return []
    found = []
    for key, item in items:
        found += flatten_tensors(item, f"{prefix}.{key}" if prefix else str(key))
    return found


def safe_load(path: str | Path, expected: str) -> object:
    """``torch.load`` of a file that may only hold tensors, numbers, strings, lists and dicts.

    ``weights_only=True`` refuses pickled classes and callables, whose unpickling could run
    arbitrary code; here that and every other unreadable file becomes a
    :class:`FileFormatError` naming the file and ``expected`` (what the caller wanted).
    """
    import pickle
    import zipfile

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{expected} not found: {path}")
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
        if any(name.split("/", 2)[1:2] == ["code"] for name in names):
            raise FileFormatError(
                f"{path} is a TorchScript export (`sognet export`), not {expected}"
            )
    else:
        with open(path, "rb") as handle:
            head = handle.read(1)
        # torch.save writes a zip archive, or (legacy) a pickle of protocol >= 2, which starts
        # with the PROTO opcode 0x80; anything else (text, other formats) is not one of ours.
        if head != b"\x80":
            raise FileFormatError(
                f"{path} is not {expected}: it is neither a torch file (zip archive) nor a "
                f"torch pickle (first byte {head!r})"
            )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "Weights only load failed" not in str(error):
            raise FileFormatError(f"{path} is not {expected}: {error}") from None
        reason = _unpickler_reason(str(error))
        raise FileFormatError(
            f"{path} is not {expected}: it holds pickled Python objects other than tensors, "
            "numbers, strings, lists and dicts, which are not loaded because unpickling them "
            "could run code (openmm-sog's files hold none); only load files from a trusted "
            f"source ({reason})"
        ) from None
    except (RuntimeError, KeyError, EOFError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise FileFormatError(
            f"{path} is not {expected}: {type(error).__name__}: {error}"
        ) from None


def _unpickler_reason(message: str) -> str:
    """The part of torch's weights-only refusal that names the offending global or operand."""
    if "WeightsUnpickler error:" not in message:
        return "refused by torch.load(weights_only=True)"
    reason = message.split("WeightsUnpickler error:", 1)[1]
    reason = reason.split("Check the documentation", 1)[0].split(". Please", 1)[0]
    return " ".join(reason.split()) or "refused by torch.load(weights_only=True)"
