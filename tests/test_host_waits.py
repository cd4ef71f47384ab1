"""How often the PyTorch layer makes the host wait for the device.

Every ``.item()``, ``bool()``, ``nonzero`` or ``.tolist()`` of a GPU tensor stalls the host until
the device has caught up; a SOG-Net evaluation on a GPU is host-bound (bench/RESULTS.md, the
second GPU lease: 78 waits and 751 launches for 3.7 ms of GPU work), and CUDA graphs need the
waits gone. The operators are the same on the CPU, so they are counted here: the scalar reads,
``nonzero`` and indexing with a bool mask through a dispatch mode, ``tolist``/``cpu`` by
wrapping the methods.
"""

import pytest
import torch
from layer_helpers import CUBIC, random_kernel, random_system
from torch.utils._python_dispatch import TorchDispatchMode

from openmm_sog import SOGLongRange

WAITING_OPERATORS = ("aten._local_scalar_dense", "aten.nonzero", "aten.masked_select")


class HostWaits(TorchDispatchMode):
    """Counts the operators that wait for the device, by name."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = str(func)
        if (
            name.startswith(WAITING_OPERATORS)
            or _indexes_with_a_mask(name, args)
            or _copies_host_data(name, args)
        ):
            self.names.append(name)
        return func(*args, **(kwargs or {}))


def _copies_host_data(name: str, args) -> bool:
    """torch.tensor([...]) of several values: on a GPU a copy from the host that waits for the
    device (a single Python number, as in x[k] = 1.0, becomes a fill and does not)."""
    return name.startswith("aten.lift_fresh") and args[0].numel() > 1


def _indexes_with_a_mask(name: str, args) -> bool:
    """x[mask] with a bool mask: the result's size is the mask's count, which the host must read
    (the nonzero runs inside the indexing kernel, below the dispatcher)."""
    if not name.startswith(("aten.index.Tensor", "aten.index_put")) or len(args) < 2:
        return False
    indices = args[1] if isinstance(args[1], (list, tuple)) else []
    return any(isinstance(i, torch.Tensor) and i.dtype == torch.bool for i in indices)


@pytest.fixture
def host_waits(monkeypatch):
    counter = HostWaits()
    for method in ("tolist", "cpu"):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, _original=original, _name=method, **kwargs):
            counter.names.append(_name)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, method, counted)
    return counter


def test_the_nufft_layer_waits_four_times_per_energy_and_forces(host_waits):
    """One wait for the input checks, one for the grid plan (cell lengths, narrowest width) and
    two for the Gaussians too wide to matter at the grid's smallest |k| (SOGKernel.fourier
    drops them by mask): the spreading, FFTs, k-space sum, gathering and their backward wait
    for nothing. (It was 14 before the checks were batched.)"""
    positions, charges, cell = random_system(40, CUBIC, 2, False, seed=3)
    layer = SOGLongRange(random_kernel(2, seed=5), 1e-5)
    positions.requires_grad_(True)
    with host_waits:
        energy = layer(positions, charges, cell).sum()
        (forces,) = torch.autograd.grad(-energy, positions)
    assert forces.shape == positions.shape
    assert host_waits.names == [
        "tolist",
        "tolist",
        "aten.index.Tensor",
        "aten.index.Tensor",
    ], host_waits.names


def test_bad_input_still_names_the_problem():
    """The checks share one transfer but keep their own messages and their order."""
    positions, charges, cell = random_system(10, CUBIC, 1, True, seed=1)
    layer = SOGLongRange(random_kernel(1, seed=2), 1e-4)
    bad = positions.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="positions contain NaN"):
        layer(bad, charges, cell)
    with pytest.raises(ValueError, match="charges contain NaN"):
        layer(positions, torch.full_like(charges, float("inf")), cell)
    with pytest.raises(ValueError, match="cell is left-handed"):
        layer(positions, charges, cell.flip(0))
    with pytest.raises(ValueError, match="cell is singular"):
        layer(positions, charges, torch.zeros_like(cell))


@pytest.mark.parametrize(
    ("model_file", "most"), [("electrolyte_sognet.pt", 12), ("electrolyte_shortrange.pt", 2)]
)
def test_a_sognet_evaluation_waits_a_few_times(host_waits, model_file, most):
    """Energy and forces of a shipped model on a periodic box. The short-range model: the
    species check and the neighbour list's layout (2). The SOG-Net adds the pbc flags, the
    NUFFT layer's four and the narrow Gaussians' (the test of the mask and the selection of
    its Gaussians). Before the checks were batched it was 29 scalar reads, 13 nonzero and
    bool-mask indexing."""
    from pathlib import Path

    from openmm_sog.systems import molten_nacl_model_inputs
    from openmm_sog.training.model_io import load_model

    model = load_model(Path(__file__).parent.parent / "models" / model_file, "float32")
    inputs = molten_nacl_model_inputs(256, 1, torch.float32)
    model(**inputs)  # first call: lazy set-up
    host_waits.names.clear()
    with host_waits:
        model(**inputs)
    assert len(host_waits.names) <= most, host_waits.names


def test_a_free_space_sognet_evaluation_waits_four_times(host_waits):
    """Two molecules (no cell) through the shipped SPICE SOG-Net: the species check, the
    neighbour list's layout, the pbc flags and the free-space sum's layout, once each rather
    than once per structure."""
    from pathlib import Path

    from openmm_sog.training.model_io import load_model

    model = load_model(Path(__file__).parent.parent / "models" / "spice_sognet_painn.pt", "float64")
    generator = torch.Generator().manual_seed(0)
    sizes = (12, 9)
    positions = torch.cat(
        [torch.randn(n, 3, generator=generator) * 1.5 + 20.0 * k for k, n in enumerate(sizes)]
    ).to(torch.float64)
    inputs = {
        "positions": positions,
        "atomic_numbers": torch.tensor([1, 6, 7, 8] * 6)[: sum(sizes)],
        "cell": torch.zeros(2, 3, 3, dtype=torch.float64),
        "pbc": torch.tensor([False, False]),
        "batch": torch.cat([torch.full((n,), k) for k, n in enumerate(sizes)]),
    }
    model(**inputs)
    host_waits.names.clear()
    with host_waits:
        energies = model(**inputs)["energy"]
    assert energies.shape == (2,)
    assert len(host_waits.names) <= 4, host_waits.names
