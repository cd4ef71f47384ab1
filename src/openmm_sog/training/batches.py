"""Training data resident on the training device, batched there.

The structures are converted to tensors of the model's dtype on the device once, when training
starts; a batch is then concatenated from those tensors on the device, so a training step
copies nothing from the host and does not wait for the device (a GPU keeps its queue full).
The batches equal :func:`~openmm_sog.training.data.collate` of the same structures, in the
model's dtype, on the device.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .data import Batch, Structure

__all__ = ["DeviceData"]


class DeviceData:
    """Structures as tensors on ``device`` in ``dtype``, made once.

    :param structures: the data (float64, host); labels that are absent become NaN.
    :param device: where training runs.
    :param dtype: the model's floating-point dtype.
    """

    def __init__(
        self, structures: list[Structure], device: torch.device, dtype: torch.dtype
    ) -> None:
        self._tensors: dict[int, dict[str, Tensor]] = {}
        for s in structures:
            self._tensors[id(s)] = self._convert(s, device, dtype)

    @staticmethod
    def _convert(s: Structure, device: torch.device, dtype: torch.dtype) -> dict[str, Tensor]:
        n = s.num_atoms
        forces = s.forces if s.forces is not None else torch.full((n, 3), math.nan)
        stress = s.stress if s.stress is not None else torch.full((3, 3), math.nan)
        energy = math.nan if s.energy is None else s.energy
        host = {
            "positions": s.positions.to(dtype),
            "atomic_numbers": s.atomic_numbers.to(torch.long),
            "cell": s.cell.to(dtype),
            "pbc": torch.tensor(s.pbc),
            "total_charge": torch.tensor(s.total_charge, dtype=dtype),
            "num_atoms": torch.tensor(n),
            "energy": torch.tensor(energy, dtype=dtype),
            "forces": forces.to(dtype),
            "stress": stress.to(dtype),
            "zeros": torch.zeros(n, dtype=torch.long),
        }
        return {key: value.to(device) for key, value in host.items()}

    def batch(self, structures: list[Structure]) -> Batch:
        """The batch of ``structures`` (each one of the data this was made from)."""
        try:
            parts = [self._tensors[id(s)] for s in structures]
        except KeyError:
            raise ValueError("DeviceData.batch: a structure that is not part of the data") from None
        return Batch(
            positions=torch.cat([p["positions"] for p in parts]),
            atomic_numbers=torch.cat([p["atomic_numbers"] for p in parts]),
            cell=torch.stack([p["cell"] for p in parts]),
            pbc=torch.stack([p["pbc"] for p in parts]),
            batch=torch.cat([p["zeros"] + k for k, p in enumerate(parts)]),
            total_charge=torch.stack([p["total_charge"] for p in parts]),
            num_atoms=torch.stack([p["num_atoms"] for p in parts]),
            energy=torch.stack([p["energy"] for p in parts]),
            forces=torch.cat([p["forces"] for p in parts]),
            stress=torch.stack([p["stress"] for p in parts]),
        )
