"""scripts/probe_torch_export.py: the torch.export / AOTInductor route for a SOG-Net (issue 16 §3).

The probe's export-friendly rewrite of ``local_energy_and_charges`` (pairs as inputs) must agree
with the model, and its make_fx -> torch.export -> AOTInductor package must give the same
energy, charges and vector-Jacobian product with a dynamic atom and pair count
(docs/export_formats.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from script_modules import load_script

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models/electrolyte_sognet.pt"


def _probe():
    return load_script("scripts/probe_torch_export.py")


def _case(model, num_ions: int, seed: int):
    from openmm_sog.systems import molten_nacl_model_inputs

    inputs = molten_nacl_model_inputs(num_ions, seed=seed)
    pos, numbers, cell = inputs["positions"], inputs["atomic_numbers"], inputs["cell"][0]
    n = pos.shape[0]
    dtype = model.energy_shifts.dtype
    i, j, shifts = model.neighbors(
        pos.to(dtype), cell.to(dtype)[None], torch.tensor([True]), torch.zeros(n, dtype=torch.long)
    )
    scale = torch.ones(n, dtype=torch.float64)
    scale[:3] = 0.25
    grad = torch.randn(n, model.num_channels, generator=torch.Generator().manual_seed(seed))
    return (pos, numbers, cell, i, j, shifts, scale, grad.double())


def _reference(model, args):
    from openmm_sog.training.export import ExportedSOGNet

    pos, numbers, cell, _, _, _, scale, grad = args
    r = pos.clone().requires_grad_(True)
    s = scale.clone().requires_grad_(True)
    energy, q = ExportedSOGNet(model).local_energy_and_charges(r, numbers, cell, True, s)
    grad_r, grad_s = torch.autograd.grad([energy.sum() + (q.double() * grad).sum()], [r, s])
    return energy.detach(), q.detach(), grad_r, grad_s


def _assert_close(out, ref):
    energy, q, grad_r, grad_s = (t.detach().double() for t in out)
    e_ref, q_ref, gr_ref, gs_ref = (t.detach().double() for t in ref)
    assert float((energy - e_ref).abs().max() / e_ref.abs().max()) < 1e-5
    assert float((q - q_ref).abs().max()) < 1e-5
    assert float((grad_r - gr_ref).norm() / gr_ref.norm()) < 1e-5
    assert float((grad_s - gs_ref).abs().max()) < 1e-4


@pytest.fixture(scope="module")
def model():
    from openmm_sog.training.model_io import load_model

    model = load_model(str(MODEL)).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_rewrite_matches_model(model):
    probe = _probe()
    args = _case(model, 128, 0)
    _assert_close(probe.LocalVJP(probe.LocalEnergyCore(model))(*args), _reference(model, args))


@pytest.fixture
def _utf8_locale():
    """Inductor reads its templates with the locale's encoding; an OpenCL context (PoCL) created
    earlier in the process resets LC_CTYPE to "C" (ASCII), so set a UTF-8 one for the test."""
    import locale

    previous = locale.setlocale(locale.LC_CTYPE)
    try:
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
    except locale.Error:
        pytest.skip("no C.UTF-8 locale for inductor's templates")
    yield
    locale.setlocale(locale.LC_CTYPE, previous)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")  # torch's own FutureWarnings while packaging
@pytest.mark.usefixtures("_utf8_locale")
def test_aoti_package_matches_model_at_two_sizes(model, tmp_path):
    import torch._inductor as inductor
    from torch.export import Dim

    probe = _probe()
    vjp = probe.LocalVJP(probe.LocalEnergyCore(model)).eval()
    args = _case(model, 128, 0)
    atoms = Dim("atoms", min=2, max=10**7)
    pairs = Dim("pairs", min=2, max=10**9)
    dims = [
        {0: atoms},
        {0: atoms},
        None,
        {0: pairs},
        {0: pairs},
        {0: pairs},
        {0: atoms},
        {0: atoms},
    ]
    ep = probe.export_graph(probe.trace_with_make_fx(vjp, args), args, dims)
    package, _ = probe.compile_package(ep, tmp_path / "sognet.pt2", {"sog_format": "test"})
    runner = inductor.aoti_load_package(package)
    _assert_close(runner(*args), _reference(model, args))
    other = _case(model, 250, 1)  # another atom and pair count, same package
    _assert_close(runner(*other), _reference(model, other))
