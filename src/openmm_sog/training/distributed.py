"""Data-parallel training under ``torchrun``: process group, DDP wrapper, shards, reductions.

``sognet train`` launched by ``torchrun --nproc_per_node=N`` (which sets ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK``) runs N processes: on CPUs with the gloo backend, with
``training.device: cuda`` one GPU per process (``cuda:LOCAL_RANK``) with NCCL. Every rank
reads the whole data set and builds the same model (same seed, same statistics); each step's
*global* batch (``training.batch_size`` structures, in the same seeded order as a single
process) is split round-robin over the ranks, so each rank sees distinct structures.

Each rank's loss is its share of the global batch loss: every MSE term is weighted by the
fraction of the global batch's labelled entries (energies, force components, stress
components) that the rank holds. The shares sum to the single-process batch loss, so after
DDP averages the gradients (and the loss is scaled by the world size to undo the averaging)
each step equals the single-process step up to the round-off of a different summation order.
A rank left without structures (last batch smaller than the world) runs one structure with
zero weight, so that every rank takes part in every gradient reduction.

Forces are autograd derivatives taken inside ``forward`` with ``create_graph=True``; DDP
handles this double backward (``torch.autograd.grad`` w.r.t. positions does not fire the
parameters' gradient hooks, only ``loss.backward()`` does). ``find_unused_parameters=True``
is needed because which parameters get a gradient depends on the labels: without energy
labels the energy term is a constant zero, and parameters that only shift the energy (final
biases) get none, which plain DDP reports as an unfinished reduction. Their gradients stay
``None`` on every rank, as in a single process.

Only rank 0 writes files and prints; validation losses are summed over ranks in rank order,
so every rank sees the same value and takes the same scheduler and early-stopping decisions.
"""

from __future__ import annotations

import gc
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import torch
import torch.distributed as dist
from torch import Tensor

from ..model import SOGNet
from .data import Structure

__all__ = [
    "Context",
    "check_torchrun_environment",
    "distributed_context",
    "is_main_process",
    "label_counts",
    "launched_by_torchrun",
]

T = TypeVar("T")
_TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def launched_by_torchrun() -> bool:
    """Whether the environment of ``torchrun`` (``RANK``, ``WORLD_SIZE``, ...) is present."""
    return all(name in os.environ for name in _TORCHRUN_VARIABLES)


def check_torchrun_environment(backend: str) -> None:
    """Refuse a ``torchrun`` environment whose ranks and world size do not fit together.

    Rendezvous would otherwise wait (30 minutes by default) for ranks that never come, or
    two processes would train on one GPU.

    :raises SognetError: naming the variable and its value.
    """
    from .errors import SognetError

    values = {}
    for name in (*_TORCHRUN_VARIABLES, "LOCAL_WORLD_SIZE"):
        if name not in os.environ:
            continue
        try:
            values[name] = int(os.environ[name])
        except ValueError:
            raise SognetError(
                f"torchrun environment: {name}={os.environ[name]!r} is not an integer"
            ) from None
    world = values["WORLD_SIZE"]
    if world < 1 or not 0 <= values["RANK"] < world:
        raise SognetError(
            f"torchrun environment: RANK={values['RANK']} does not fit WORLD_SIZE={world} "
            "(need 0 <= RANK < WORLD_SIZE); launch with `torchrun --nproc_per_node=N` or "
            "`sognet train --nproc N`, not with hand-set variables"
        )
    local = values.get("LOCAL_WORLD_SIZE", world)
    if not 0 <= values["LOCAL_RANK"] < local or local > world:
        raise SognetError(
            f"torchrun environment: LOCAL_RANK={values['LOCAL_RANK']} does not fit "
            f"LOCAL_WORLD_SIZE={local} and WORLD_SIZE={world}"
        )
    if backend == "nccl" and values["LOCAL_RANK"] >= torch.cuda.device_count():
        raise SognetError(
            f"torchrun started {local} processes on this node but it has "
            f"{torch.cuda.device_count()} GPU(s) (process LOCAL_RANK={values['LOCAL_RANK']} has "
            "none); start at most one process per GPU (--nproc_per_node)"
        )


def is_main_process() -> bool:
    """Rank 0 of a ``torchrun`` launch, or a single process: the one that prints."""
    return int(os.environ.get("RANK", "0")) == 0


@dataclass(frozen=True)
class Context:
    """Rank and world size of this process; ``Context()`` is a single process."""

    rank: int = 0
    world_size: int = 1
    #: where collective operations keep their tensors (a GPU under NCCL)
    device: torch.device = torch.device("cpu")

    @property
    def enabled(self) -> bool:
        """More than one process takes part."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that writes files and prints."""
        return self.rank == 0

    def wrap(self, model: SOGNet) -> torch.nn.Module:
        """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` if distributed."""
        if not self.enabled:
            return model
        # DDP compares gradient strides exactly; a [1, n] weight's gradient from a transposed
        # product has strides (1, 1) instead of (n, 1), the same memory layout, and DDP then
        # warns of a slower copy into its buckets (n floats here) on every launch.
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        ddp = torch.nn.parallel.DistributedDataParallel
        ids = None if self.device.type == "cpu" else [self.device.index]
        return ddp(model, device_ids=ids, find_unused_parameters=True)  # see the docstring

    def shard(self, items: list[T]) -> list[T]:
        """This rank's round-robin part of ``items`` (all of them in a single process)."""
        return items[self.rank :: self.world_size] if self.enabled else items

    def share_terms(
        self, terms: dict[str, Tensor], local: list[Structure], chosen: list[Structure]
    ) -> dict[str, Tensor]:
        """Terms of the shard ``local``, weighted to sum over the ranks to those of ``chosen``."""
        if not self.enabled:
            return terms
        mine, total = label_counts(local), label_counts(chosen)
        return {k: v * (mine[k] / total[k] if total[k] else 0.0) for k, v in terms.items()}

    def gradient_loss(self, loss: Tensor) -> Tensor:
        """The loss to differentiate: DDP averages gradients, the shares must be summed."""
        return loss * self.world_size if self.enabled else loss

    def sum(self, value: float) -> float:
        """Sum over ranks, in rank order (the same float on every rank)."""
        if not self.enabled:
            return value
        gathered = [
            torch.zeros(1, dtype=torch.float64, device=self.device) for _ in range(self.world_size)
        ]
        dist.all_gather(gathered, torch.tensor([value], dtype=torch.float64, device=self.device))
        return math.fsum(float(g) for g in gathered)

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag`` on every rank (decisions that depend on the clock)."""
        return bool(self.broadcast(flag))

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` (picklable) on every rank."""
        if not self.enabled:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        """Wait for every rank (e.g. until rank 0 has written a file)."""
        if self.enabled:
            dist.barrier()


def label_counts(structures: list[Structure]) -> dict[str, int]:
    """Labelled entries per loss term, as :func:`~openmm_sog.training.metrics.loss_terms` counts."""

    def count(values: list[Tensor | None]) -> int:
        return sum(int((~torch.isnan(v)).sum()) for v in values if v is not None)

    energies = [torch.tensor(s.energy) if s.energy is not None else None for s in structures]
    atoms = sum(len(s.atomic_numbers) for s in structures)  # both charge priors average over them
    return {
        "energy": count(energies),
        "forces": count([s.forces for s in structures]),
        "stress": count([s.stress for s in structures]),
        "charges": atoms,
        "charges_l1": atoms,
    }


@contextmanager
def distributed_context(backend: str = "gloo") -> Iterator[Context]:
    """A process group (``"gloo"`` on CPUs, ``"nccl"`` on GPUs, one per process) for the
    lifetime of the block under ``torchrun``; else one process."""
    if not launched_by_torchrun():
        yield Context()
        return
    check_torchrun_environment(backend)
    if int(os.environ["WORLD_SIZE"]) < 2:
        yield Context()
        return
    device = torch.device("cpu")
    if backend == "nccl":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    dist.init_process_group(backend)
    try:
        yield Context(dist.get_rank(), dist.get_world_size(), device)
        # No rank tears the group down while another still communicates (not on an error:
        # the others may never arrive).
        dist.barrier()
    finally:
        # Whatever still holds the group (a DDP reducer in a reference cycle) goes first, so
        # that gloo's worker threads are joined now, not while the interpreter shuts down: a
        # group destroyed there aborts the process ("terminate called without an active
        # exception", seen once in CI after a successful run).
        gc.collect()
        dist.destroy_process_group()
