"""glibc: keep freed memory for reuse instead of returning it to the system.

torch allocates and frees a model's large temporaries (per neighbour pair and feature) on every
evaluation and training step. With glibc's defaults every block above its mmap threshold (at
most 32 MB) is a fresh ``mmap()`` whose pages the kernel zeroes on first use: measured here, an
evaluation of the electrolyte SOG-Net at 4,096 ions took 2x as long, and a training step at
1,024 ions 1.3-1.5x (docs/plugin.md, "Memory"). The native ``TorchSOGForce`` applies the same
setting in C++ (``SOGTorchModel.cpp``, ``keepFreedMemoryForReuse``); this is the Python side
for the torch-only paths (training, ``PythonForce``). A test checks that both keep memory and
that both honour the opt-out.
"""

from __future__ import annotations

import ctypes
import os
import platform

#: set to "1" to keep glibc's defaults (read by this module and by the C++ plugin)
OPT_OUT_VARIABLE = "OPENMM_SOG_MALLOC_DEFAULTS"
#: glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
#: the trim threshold, bytes: free space at the top of the heap kept below this (INT_MAX)
_TRIM_THRESHOLD_BYTES = 2**31 - 1

_applied: bool | None = None


def keep_freed_memory_for_reuse() -> bool:
    """Once per process: no ``mmap()`` for large blocks and no trimming of the heap below 2 GB of
    free space at its top, so that freed memory is reused. The process then keeps its peak
    memory. Does nothing outside glibc or with ``OPENMM_SOG_MALLOC_DEFAULTS=1``.

    :return: whether the setting is in effect in this process.
    """
    global _applied
    if _applied is None:
        _applied = False
        if os.environ.get(OPT_OUT_VARIABLE) != "1" and platform.libc_ver()[0] == "glibc":
            libc = ctypes.CDLL(None)
            ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
            ok = libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES) == 1 and ok
            _applied = ok
    return _applied
