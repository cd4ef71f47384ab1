"""The PyTorch layer and SOG-Net on a CUDA device (skipped without one).

Oracles: the direct lattice sum (docs/design.md §6, oracle 1) for the layer, evaluated on the
CPU in float64; for the model, the same model evaluated on the CPU in float64, whose layer and
local part are tested against their own oracles elsewhere. A device-dependent bug (a tensor left
on the CPU, a float32 constant, an index that differs between back ends) shows up as an error or
a deviation far above float64 round-off.
"""

from pathlib import Path

import pytest
import torch
from layer_helpers import TRICLINIC, energy_forces, random_kernel, random_system

from openmm_sog import SOGLongRange
from openmm_sog.reference import lattice_sum_energy

if not torch.cuda.is_available():
    pytest.skip("no CUDA device: the torch layer is untested on GPU here", allow_module_level=True)

CUDA = torch.device("cuda")
SHIPPED = Path(__file__).resolve().parent.parent / "models" / "electrolyte_sognet.pt"


@pytest.mark.parametrize("tolerance", [1e-4, 1e-7])
def test_layer_on_cuda_matches_direct_lattice_sum(tolerance):
    positions, charges, cell = random_system(80, TRICLINIC, 2, False, seed=3)
    kernel = random_kernel(2, seed=3)
    e_ref, f_ref = energy_forces(lambda p: lattice_sum_energy(p, charges, cell, kernel), positions)
    layer = SOGLongRange(kernel, tolerance).to(CUDA)
    energy, forces = energy_forces(
        lambda p: layer(p, charges.to(CUDA), cell.to(CUDA)), positions.to(CUDA)
    )
    assert energy.device.type == "cuda" and forces.device.type == "cuda"
    assert abs(float(energy.cpu()[0] - e_ref)) <= tolerance * abs(float(e_ref))
    assert float((forces.cpu() - f_ref).norm() / f_ref.norm()) <= tolerance


def test_shipped_sognet_on_cuda_matches_cpu():
    from openmm_sog.systems import molten_nacl_model_inputs
    from openmm_sog.training.model_io import load_model

    inputs = molten_nacl_model_inputs(216, seed=2)
    cpu = load_model(SHIPPED, "float64")(**inputs)
    e_cpu, f_cpu = cpu["energy"], cpu["forces"]
    gpu = load_model(SHIPPED, "float64").to(CUDA)(**{k: v.to(CUDA) for k, v in inputs.items()})
    e_gpu, f_gpu = gpu["energy"], gpu["forces"]
    assert f_gpu.device.type == "cuda"
    assert float(e_gpu.detach().cpu()[0]) == pytest.approx(float(e_cpu.detach()[0]), rel=1e-9)
    scale = float(f_cpu.detach().norm())
    assert float((f_gpu.detach().cpu() - f_cpu.detach()).norm()) <= 1e-9 * scale
