"""Where training and evaluation run: ``cpu``, ``cuda`` or ``cuda:N``, checked once.

A device that is not there is an error that says so (one line from ``sognet``), not a crash
deep inside the first batch. Under ``torchrun`` a plain ``cuda`` means this rank's GPU
(``LOCAL_RANK``), so every process of a multi-GPU run gets its own.
"""

from __future__ import annotations

import os
import re

import torch

from .errors import ConfigError, SognetError

__all__ = ["DEVICE_FORMAT", "check_device_name", "resolve_device"]

#: accepted device names
DEVICE_FORMAT = re.compile(r"cpu|cuda(:[0-9]+)?")


def check_device_name(name: object, key: str = "training.device") -> str:
    """``name`` if it is a device name this package accepts, else a ConfigError naming ``key``."""
    if not isinstance(name, str) or DEVICE_FORMAT.fullmatch(name) is None:
        raise ConfigError(
            f"config key {key}: must be 'cpu', 'cuda' or 'cuda:N' (N = GPU index), got {name!r}"
        )
    return name


def resolve_device(name: str, key: str = "training.device") -> torch.device:
    """The torch device for ``name``, or a SognetError when this machine does not have it."""
    check_device_name(name, key)
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = torch.version.cuda
        why = (
            f"torch {torch.__version__} is a CPU-only build"
            if build is None
            else f"torch {torch.__version__} (CUDA {build}) finds no usable GPU or driver"
        )
        raise SognetError(
            f"{key} is {name!r} but {why}; use 'cpu', or install a CUDA build of torch on a "
            "machine with an NVIDIA GPU"
        )
    count = torch.cuda.device_count()
    if name == "cuda":
        index = int(os.environ.get("LOCAL_RANK", "0"))
    else:
        index = int(name.split(":")[1])
    if index >= count:
        raise SognetError(
            f"{key} is {name!r} (GPU {index}) but this machine has {count} GPU(s), "
            f"numbered 0-{count - 1}"
        )
    return torch.device("cuda", index)
