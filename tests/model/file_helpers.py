"""Damage files the way disks, transfers and hand edits do: one flipped bit, a changed entry."""

from __future__ import annotations

import json
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path


def flip_bit_in_largest_tensor(source: Path, target: Path, bit: int = 0) -> str:
    """Copy a torch zip archive (``torch.save`` or TorchScript) with one bit of its largest
    tensor record flipped in place, the zip's CRC left as it was (torch does not check it).
    Returns the record's name."""
    raw = bytearray(source.read_bytes())
    with zipfile.ZipFile(source) as archive:
        record = max(
            (i for i in archive.infolist() if "/data/" in i.filename), key=lambda i: i.file_size
        )
    name_length, extra_length = struct.unpack_from("<HH", raw, record.header_offset + 26)
    start = record.header_offset + 30 + name_length + extra_length
    raw[start + record.file_size // 2] ^= 1 << bit
    target.write_bytes(bytes(raw))
    return record.filename


def rewrite_metadata(source: Path, target: Path, change: Callable[[dict], None]) -> None:
    """Copy a SOG-Net export with its ``metadata.json`` changed in place by ``change``."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as new:
        for info in old.infolist():
            data = old.read(info)
            if info.filename.endswith("/extra/metadata.json"):
                meta = json.loads(data)
                change(meta)
                data = json.dumps(meta).encode()
            new.writestr(info, data)
