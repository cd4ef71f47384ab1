#!/usr/bin/env python
"""Can torch.export / AOTInductor (.pt2) carry a SOG-Net for the C++ TorchSOGForce? (issue 16 §3)

Tries, on the shipped model ``models/electrolyte_sognet.pt`` (float32, vesin neighbour list) and
a 128-ion molten-NaCl box, every route we know and prints one line per attempt::

    [OK  ] / [FAIL] / [SKIP] <attempt>: <outcome or the first line of the error>

Attempts (see docs/export_formats.md for the decision drawn from them):

A1/A2  torch.export of ExportedSOGNet.local_energy_and_charges as it is (non-strict, strict)
A3     torch.export.draft_export of the same (how far tracing gets past the first guard)
A4/A5  torch.autograd.grad inside an exported forward (non-strict; strict with
       torch._dynamo.config.trace_autograd_ops) -> AOTInductor
A6     the working route: the forward + vector-Jacobian product traced with make_fx (autograd
       unrolled into aten ops), then torch.export (dynamic atom and pair counts) and
       AOTInductor; neighbour pairs (i, j, shifts) are inputs
A7     as A6 with the neighbour list inside the graph in plain torch ops (all pairs x 27 images,
       nonzero -> an unbacked pair count)
A8     as A6 with vesin wrapped as a torch.library custom op (Python kernel + fake kernel)
A9     a forward-only program (E_local, q), for the first of the two calls per step
C1     libtorch's C++ AOTIModelPackageLoader header in the wheel; a C++ program built against
       the wheel's libtorch loads and runs the A6 (and A8) packages

Numbers: agreement with the eager model (energy, charges, gradients), times per call (ms, wall,
this machine's threads), compile times. Exits 0 whatever torch supports.

Usage: python scripts/probe_torch_export.py [--model PATH] [--ions 128] [--keep DIR] [--no-cpp]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
RESULTS: list[tuple[str, str, str]] = []


def report(status: str, name: str, text: str) -> None:
    """One line per attempt (and keep it for the summary)."""
    text = " ".join(str(text).split())
    RESULTS.append((status, name, text))
    print(f"[{status:4}] {name}: {text}", flush=True)


def first_line(error: BaseException) -> str:
    """``Type: first meaningful line`` of an exception, with where in our code it was raised."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    message = lines[0] if lines else ""
    where = ""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if "openmm_sog" in frame.filename or "probe_torch_export" in frame.filename:
            where = f" [at {Path(frame.filename).name}:{frame.lineno}]"
            break
    for line in lines:  # torch's data-dependent errors name the user line further down
        if "openmm_sog/" in line and ".py" in line:
            where += " [" + line[line.find("openmm_sog/") :][:120] + "]"
            break
    return f"{type(error).__name__}: {message[:300]}{where}"


class quiet:
    """Silence fd 1 and 2 (torch prints traced graphs next to its export errors)."""

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = (os.dup(1), os.dup(2))
        self.sink = open(os.devnull, "w")  # noqa: SIM115
        os.dup2(self.sink.fileno(), 1)
        os.dup2(self.sink.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(self.saved[0], 1)
        os.dup2(self.saved[1], 2)
        os.close(self.saved[0])
        os.close(self.saved[1])
        self.sink.close()
        return False


def timed(fn, repeats: int = 10) -> float:
    """Median wall time of ``fn()`` in ms (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    times.sort()
    return 1e3 * times[len(times) // 2]


# ---------------------------------------------------------------------------------------------
# An export-friendly SOG-Net: the model's own submodules and parameters, one periodic structure,
# no host syncs (no bool()/item()/tolist()), no data-dependent shapes but the pair count.
# ---------------------------------------------------------------------------------------------


def LocalEnergyCore(model) -> nn.Module:  # noqa: N802 (the probe's name for it)
    """``E_local [1]`` (eV) and charges ``[N, P]`` (e) of one periodic structure, pairs given:
    the export-friendly rewrite that ``sognet export --format aotinductor`` compiles
    (``openmm_sog.training.compiled_export.LocalCore``; its docstring lists what differs from
    the model's own code path and why)."""
    from openmm_sog.training.compiled_export import LocalCore

    return LocalCore(model, periodic=True)


class LocalVJP(nn.Module):
    """One call per force evaluation's backward: ``(E_local [1] eV, q [N,P] e,
    d/dr [N,3] eV/A, d/d charge_scale [N] eV)`` of ``E_local + sum(q * charge_grad)``, with
    ``charge_grad`` ``[N, P]`` (eV/e) = dE_kspace/dq from the native engine; pairs given."""

    def __init__(self, core: nn.Module) -> None:
        super().__init__()
        self.core = core

    def forward(self, positions, numbers, cell, i, j, shifts, charge_scale, charge_grad):
        with torch.enable_grad():
            r = positions.detach().requires_grad_(True)
            s = charge_scale.detach().requires_grad_(True)
            energy, q = self.core(r, numbers, cell, i, j, shifts, s)
            objective = energy.sum() + (q.to(charge_grad.dtype) * charge_grad).sum()
            grad_r, grad_s = torch.autograd.grad([objective], [r, s])
        return energy.detach(), q.detach(), grad_r, grad_s


class LocalVJPWithPairs(nn.Module):
    """As :class:`LocalVJP`, the neighbour pairs computed inside by ``pairs``."""

    def __init__(self, core: nn.Module, pairs: nn.Module) -> None:
        super().__init__()
        self.vjp = LocalVJP(core)
        self.pairs = pairs

    def forward(self, positions, numbers, cell, charge_scale, charge_grad):
        i, j, shifts = self.pairs(positions, cell)
        return self.vjp(positions, numbers, cell, i, j, shifts, charge_scale, charge_grad)


class LocalForward(nn.Module):
    """Forward only: ``(E_local [1] eV, q [N, P] e)``, pairs given."""

    def __init__(self, core: nn.Module) -> None:
        super().__init__()
        self.core = core

    def forward(self, positions, numbers, cell, i, j, shifts, charge_scale):
        return self.core(positions, numbers, cell, i, j, shifts, charge_scale)


class TorchPairs(nn.Module):
    """Full neighbour list in plain torch ops: all pairs x the 27 nearest images (valid when
    the cutoff is below every width of the cell), ``nonzero`` -> an unbacked pair count."""

    def __init__(self, cutoff: float) -> None:
        super().__init__()
        self.cutoff = float(cutoff)
        r = torch.arange(-1, 2)
        grid = torch.meshgrid(r, r, r, indexing="ij")
        self.register_buffer("images", torch.stack(grid, -1).reshape(-1, 3), persistent=False)

    def forward(self, positions: Tensor, cell: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        pos = positions.detach()
        h = cell.detach().to(pos.dtype)
        frac = pos @ torch.linalg.inv(h)
        wrap = torch.floor(frac)
        wrapped = pos - wrap @ h
        images = self.images.to(pos.dtype)
        vec = (wrapped[None, :, None, :] - wrapped[:, None, None, :]) + (images @ h)[None, None]
        dist = torch.linalg.norm(vec, dim=-1)  # [n, n, 27]
        n = pos.shape[0]
        eye = torch.eye(n, dtype=torch.bool, device=pos.device)[:, :, None]
        centre = (self.images == 0).all(-1)[None, None, :]
        idx = torch.nonzero((dist < self.cutoff) & ~(eye & centre))
        ii, jj, kk = idx[:, 0], idx[:, 1], idx[:, 2]
        shifts = self.images.index_select(0, kk) + wrap.to(torch.long).index_select(0, ii)
        shifts = shifts - wrap.to(torch.long).index_select(0, jj)
        return ii, jj, shifts


# ---------------------------------------------------------------------------------------------


def trace_with_make_fx(module: nn.Module, args: tuple) -> torch.fx.GraphModule:
    """Unroll autograd into aten ops with symbolic shapes, as ``sognet export --format
    aotinductor`` does (``openmm_sog.training.compiled_export.trace_with_make_fx``)."""
    from openmm_sog.training.compiled_export import trace_with_make_fx as trace

    return trace(module, args)


class GraphWrapper(nn.Module):
    """A make_fx graph behind named positional arguments (for dynamic_shapes)."""

    def __init__(self, gm: torch.fx.GraphModule, names: list[str]) -> None:
        super().__init__()
        self.gm = gm
        self.names = names

    def forward(self, *args):
        return self.gm(*args)


def export_graph(gm: torch.fx.GraphModule, args: tuple, dims: list[dict | None]):
    """torch.export (non-strict) of a make_fx graph with the given per-argument dims."""
    return torch.export.export(
        GraphWrapper(gm, []), tuple(args), dynamic_shapes=(tuple(dims),), strict=False
    )


def compile_package(ep, path: Path, metadata: dict[str, str] | None = None) -> tuple[str, float]:
    """AOTInductor .pt2 of ``ep`` (CPU); returns the path and the compile time (s)."""
    import torch._inductor as inductor

    configs = {"aot_inductor.metadata": metadata} if metadata else None
    start = time.perf_counter()
    out = inductor.aoti_compile_and_package(ep, package_path=str(path), inductor_configs=configs)
    return out, time.perf_counter() - start


def compile_traced(module: nn.Module, args: tuple, dims: list[dict | None], path: Path):
    """make_fx, export and AOTI-compile ``module``, then load it: (runner, package path,
    compile time in s)."""
    import torch._inductor as inductor

    ep = export_graph(trace_with_make_fx(module, args), args, dims)
    package, compiled = compile_package(ep, path)
    return inductor.aoti_load_package(package), package, compiled


def agreement(label: str, out, ref) -> tuple[bool, str]:
    """Energy (relative), charges, gradients (max abs and relative norm) against ``ref``."""
    energy, q, grad_r, grad_s = (t.detach().double() for t in out)
    e_ref, q_ref, gr_ref, gs_ref = (t.detach().double() for t in ref)
    de = float((energy - e_ref).abs().max() / e_ref.abs().max())
    dq = float((q - q_ref).abs().max())
    dg = float((grad_r - gr_ref).abs().max())
    rg = float((grad_r - gr_ref).norm() / gr_ref.norm())
    ds = float((grad_s - gs_ref).abs().max())
    ok = de < 1e-5 and rg < 1e-4
    return ok, (
        f"{label}: |dE|/|E| {de:.1e}, max|dq| {dq:.1e} e, max|dF| {dg:.1e} eV/A "
        f"(|dF|/|F| {rg:.1e}, max|F| {float(gr_ref.abs().max()):.2f} eV/A), "
        f"max|d dU/ds| {ds:.1e} eV"
    )


CPP_SOURCE = r"""
// Loads an AOTInductor package with libtorch's C++ AOTIModelPackageLoader and runs it on the
// tensors of INPUTS (torch.save'd list): what TorchSOGForce would do instead of torch::jit::load.
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>
#include <torch/torch.h>
#include <chrono>
#include <fstream>
#include <iostream>
int main(int argc, char** argv) {
    if (argc < 5) { std::cerr << "usage: load_pt2 PACKAGE INPUTS OUTPUTS REPEATS\n"; return 2; }
    try {
        torch::NoGradGuard noGrad;
        torch::inductor::AOTIModelPackageLoader loader(argv[1]);
        auto meta = loader.get_metadata();
        if (meta.count("sog_format"))
            std::cout << "metadata sog_format=" << meta["sog_format"] << "\n";
        std::ifstream in(argv[2], std::ios::binary);
        std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
        std::vector<at::Tensor> inputs;
        for (const auto& v : torch::pickle_load(bytes).toList())
            inputs.push_back(v.get().toTensor());
        auto outputs = loader.run(inputs);
        int repeats = std::atoi(argv[4]);
        auto t0 = std::chrono::steady_clock::now();
        for (int k = 0; k < repeats; k++) outputs = loader.run(inputs);
        auto t1 = std::chrono::steady_clock::now();
        double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
        std::cout << "ms_per_call " << ms / std::max(repeats, 1) << "\n";
        auto data = torch::pickle_save(c10::List<at::Tensor>(outputs));
        std::ofstream out(argv[3], std::ios::binary);
        out.write(data.data(), data.size());
    } catch (const std::exception& e) {
        std::string what = e.what();
        std::cerr << "ERROR " << what.substr(0, what.find('\n')) << "\n";
        return 1;
    }
    return 0;
}
"""


def build_cpp_loader(workdir: Path) -> tuple[Path | None, str]:
    """Compile CPP_SOURCE against the wheel's libtorch; (binary or None, message)."""
    tdir = Path(torch.__file__).parent
    header = tdir / "include/torch/csrc/inductor/aoti_package/model_package_loader.h"
    if not header.is_file():
        return None, f"no {header.relative_to(tdir)} in the wheel"
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        return None, "no C++ compiler"
    source = workdir / "load_pt2.cpp"
    source.write_text(CPP_SOURCE)
    binary = workdir / "load_pt2"
    abi = int(torch._C._GLIBCXX_USE_CXX11_ABI)
    command = [
        "nice", "-n", "10", compiler, "-std=c++20", "-O1", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
        f"-I{tdir / 'include'}", f"-I{tdir / 'include/torch/csrc/api/include'}", str(source),
        "-o", str(binary), f"-L{tdir / 'lib'}", "-ltorch", "-ltorch_cpu", "-lc10",
        f"-Wl,-rpath,{tdir / 'lib'}",
    ]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        return None, "compile failed: " + done.stderr.strip().splitlines()[-1][:300]
    return binary, f"built in {time.perf_counter() - start:.0f} s (ABI={abi}, -std=c++20)"


def run_cpp(binary: Path, package: str, inputs: list[Tensor], workdir: Path, repeats: int):
    """Run the C++ loader; (outputs or None, ms per call or error text)."""
    inp = workdir / "inputs.pt"
    outp = workdir / "outputs.pt"
    torch.save(list(inputs), inp)
    if outp.exists():
        outp.unlink()
    env = dict(os.environ)
    done = subprocess.run(
        [str(binary), package, str(inp), str(outp), str(repeats)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr + done.stdout).splitlines() if ln.strip()]
        error = next((ln for ln in lines if ln.startswith("ERROR")), lines[-1] if lines else "")
        return None, error[:400]
    ms = float(done.stdout.split("ms_per_call")[1].split()[0])
    return torch.load(outp, weights_only=False), ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=str(ROOT / "models/electrolyte_sognet.pt"))
    parser.add_argument("--ions", type=int, default=128)
    parser.add_argument("--keep", help="keep the .pt2 packages and C++ loader in this folder")
    parser.add_argument("--no-cpp", action="store_true", help="skip the C++ loader (C1)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads (timings)")
    parser.add_argument(
        "--ions2", type=int, default=1024, help="second box: dynamic shapes, timings"
    )
    opts = parser.parse_args()

    import warnings

    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("torch").setLevel(logging.ERROR)
    for name in ("torch.fx.experimental.symbolic_shapes", "torch._dynamo", "torch.export"):
        logging.getLogger(name).setLevel(logging.CRITICAL)

    from openmm_sog.systems import molten_nacl_model_inputs
    from openmm_sog.training.export import ExportedSOGNet
    from openmm_sog.training.model_io import load_model

    torch.set_num_threads(opts.threads)
    os.environ["OMP_NUM_THREADS"] = str(opts.threads)  # for the C++ loader's process
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"torch {torch.__version__}, {opts.threads} thread(s) of {os.cpu_count()} cores "
        f"(load average {load:.1f}), python {sys.version.split()[0]}"
    )
    workdir = Path(opts.keep) if opts.keep else Path(tempfile.mkdtemp(prefix="sog_export_"))
    workdir.mkdir(parents=True, exist_ok=True)

    model = load_model(opts.model).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    inputs = molten_nacl_model_inputs(opts.ions)
    pos, numbers, cell = inputs["positions"], inputs["atomic_numbers"], inputs["cell"][0]
    n, channels = pos.shape[0], model.num_channels
    charge_scale = torch.ones(n, dtype=torch.float64)
    charge_scale[:5] = 0.5
    charge_grad = torch.randn(n, channels, generator=torch.Generator().manual_seed(0))
    charge_grad = charge_grad.double()
    print(
        f"model {Path(opts.model).name}: {model.energy_shifts.dtype}, cutoff "
        f"{model.cutoff} A, P={channels}, neighbours {type(model.neighbors).__name__}; "
        f"{n} ions, box {float(cell[0, 0]):.3f} A"
    )

    # Reference: the eager model through the export wrapper, autograd as in SOGTorchModel.cpp.
    wrapper = ExportedSOGNet(model).eval()

    def reference_step(positions=pos, z=numbers, h=cell, s=charge_scale, d=charge_grad):
        r = positions.clone().requires_grad_(True)
        c = s.clone().requires_grad_(True)
        energy, q = wrapper.local_energy_and_charges(r, z, h, True, c)
        objective = energy.sum() + (q.double() * d).sum()
        grad_r, grad_s = torch.autograd.grad([objective], [r, c])
        return energy.detach(), q.detach(), grad_r, grad_s

    ref = reference_step()
    pbc = torch.tensor([True])

    def vesin_pairs(positions=pos, h=cell):
        dtype = model.energy_shifts.dtype
        batch = torch.zeros(positions.shape[0], dtype=torch.long)
        return model.neighbors(positions.to(dtype), h.to(dtype)[None], pbc, batch)

    i, j, shifts = vesin_pairs()
    print(f"E_local {float(ref[0]):.6f} eV, {i.shape[0]} pairs (full list)")

    # ---- A1-A3: the model as it is --------------------------------------------------------
    from torch.export import Dim

    class AsIs(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = wrapper

        def forward(self, positions, atomic_numbers, cell, charge_scale):
            return self.w.local_energy_and_charges(
                positions, atomic_numbers, cell, True, charge_scale
            )

    atoms = Dim("atoms", min=2, max=10**7)
    as_is_args = (pos, numbers, cell, charge_scale)
    as_is_dims = {
        "positions": {0: atoms},
        "atomic_numbers": {0: atoms},
        "cell": None,
        "charge_scale": {0: atoms},
    }
    for label, strict in (
        ("A1 export as-is, non-strict", False),
        ("A2 export as-is, strict", True),
    ):
        try:
            with quiet():
                torch.export.export(AsIs(), as_is_args, dynamic_shapes=as_is_dims, strict=strict)
            report("OK", label, "exported (unexpected: update docs/export_formats.md)")
        except Exception as error:  # noqa: BLE001
            report("FAIL", label, first_line(error))
    try:
        with quiet():
            torch.export.draft_export(AsIs(), as_is_args, dynamic_shapes=as_is_dims)
        report("OK", "A3 draft_export as-is", "draft exported")
    except Exception as error:  # noqa: BLE001
        report("FAIL", "A3 draft_export as-is", first_line(error))

    core = LocalEnergyCore(model).eval()
    vjp = LocalVJP(core).eval()
    vjp_args = (pos, numbers, cell, i, j, shifts, charge_scale, charge_grad)
    try:
        ok, text = agreement("eager LocalEnergyCore vs model", vjp(*vjp_args), ref)
        report("OK" if ok else "FAIL", "A0 export-friendly rewrite (eager)", text)
    except Exception as error:  # noqa: BLE001
        report("FAIL", "A0 export-friendly rewrite (eager)", first_line(error))

    pairs_dim = Dim("pairs", min=2, max=10**9)
    vjp_dims = [
        {0: atoms}, {0: atoms}, None, {0: pairs_dim}, {0: pairs_dim}, {0: pairs_dim},
        {0: atoms}, {0: atoms},
    ]  # fmt: skip
    vjp_names = ["positions", "numbers", "cell", "i", "j", "shifts", "charge_scale", "charge_grad"]

    # ---- A4/A5: autograd.grad inside torch.export ------------------------------------------
    import torch._inductor as inductor

    for label, strict in (("A4 autograd.grad in export, non-strict", False),
                          ("A5 autograd.grad in export, strict", True)):  # fmt: skip
        try:
            with quiet(), torch._dynamo.config.patch(trace_autograd_ops=True):
                ep = torch.export.export(
                    vjp,
                    vjp_args,
                    dynamic_shapes=dict(zip(vjp_names, vjp_dims, strict=True)),
                    strict=strict,
                )
            try:
                with quiet():
                    out, seconds = compile_package(ep, workdir / "a45.pt2")
                got = inductor.aoti_load_package(out)(*vjp_args)
                ok, text = agreement("AOTI", got, ref)
                report("OK" if ok else "FAIL", label, f"exported and compiled; {text}")
            except Exception as error:  # noqa: BLE001
                report("FAIL", label, "exported, but AOTInductor: " + first_line(error))
        except Exception as error:  # noqa: BLE001
            report("FAIL", label, first_line(error))

    # ---- A6: make_fx (autograd unrolled) -> torch.export -> AOTInductor, pairs as inputs ----
    package_a6 = runner = None
    other = molten_nacl_model_inputs(opts.ions2, seed=1)
    p2, z2, h2 = other["positions"], other["atomic_numbers"], other["cell"][0]
    s2 = torch.ones(p2.shape[0], dtype=torch.float64)
    d2 = torch.randn(p2.shape[0], channels, generator=torch.Generator().manual_seed(1))
    d2 = d2.double()
    i2, j2, sh2 = vesin_pairs(p2, h2)
    args2 = (p2, z2, h2, i2, j2, sh2, s2, d2)
    try:
        start = time.perf_counter()
        gm = trace_with_make_fx(vjp, vjp_args)
        traced = time.perf_counter() - start
        start = time.perf_counter()
        ep = export_graph(gm, vjp_args, vjp_dims)
        exported = time.perf_counter() - start
        metadata = {
            "sog_format": "openmm-sog SOG-Net AOTI probe",
            "sog_inputs": ",".join(vjp_names),
        }
        package_a6, compiled = compile_package(ep, workdir / "sognet_local_vjp.pt2", metadata)
        runner = inductor.aoti_load_package(package_a6)
        ok, text = agreement("AOTI vs model", runner(*vjp_args), ref)
        size = Path(package_a6).stat().st_size / 1e6
        report(
            "OK" if ok else "FAIL",
            "A6 make_fx -> export -> AOTI (pairs as inputs)",
            f"make_fx {traced:.1f} s, export {exported:.1f} s, AOTI compile {compiled:.0f} s, "
            f".pt2 {size:.1f} MB; {text}",
        )
        # dynamic shapes: another box size, same package
        ref2 = reference_step(p2, z2, h2, s2, d2)
        ok2, text2 = agreement("AOTI vs model", runner(*args2), ref2)
        report(
            "OK" if ok2 else "FAIL",
            f"A6b same .pt2, {p2.shape[0]} ions ({i2.shape[0]} pairs)",
            text2,
        )
    except Exception as error:  # noqa: BLE001
        report("FAIL", "A6 make_fx -> export -> AOTI (pairs as inputs)", first_line(error))

    # ---- A9: forward-only program (first call of a step: E_local, q) ----------------------
    run_fwd = None
    try:
        fwd = LocalForward(core).eval()
        fwd_args = vjp_args[:7]
        ep = torch.export.export(
            fwd,
            fwd_args,
            dynamic_shapes=dict(zip(vjp_names[:7], vjp_dims[:7], strict=True)),
            strict=False,
        )
        package, compiled = compile_package(ep, workdir / "sognet_local_forward.pt2")
        run_fwd = inductor.aoti_load_package(package)
        energy, q = run_fwd(*fwd_args)
        de = float((energy.double() - ref[0].double()).abs().max() / ref[0].abs().max())
        report(
            "OK",
            "A9 forward-only torch.export (non-strict, no make_fx) -> AOTI",
            f"compile {compiled:.0f} s; |dE|/|E| {de:.1e}, max|dq| "
            f"{float((q - ref[1]).abs().max()):.1e} e",
        )
    except Exception as error:  # noqa: BLE001
        report("FAIL", "A9 forward-only torch.export -> AOTI", first_line(error))

    # ---- T: times per force evaluation (ms) ----------------------------------------------
    try:
        scripted = torch.jit.script(ExportedSOGNet(model))
        for size_args in (vjp_args, args2):
            pz, zz, hz, _, _, _, sz, dz = size_args

            def script_step(pz=pz, zz=zz, hz=hz, sz=sz, dz=dz):
                r = pz.clone().requires_grad_(True)
                c = sz.clone().requires_grad_(True)
                energy, q = scripted.local_energy_and_charges(r, zz, hz, True, c)
                objective = energy.sum() + (q.double() * dz).sum()
                torch.autograd.grad([objective], [r, c])

            t_script = timed(script_step, opts.repeats)
            t_nl = timed(lambda pz=pz, hz=hz: vesin_pairs(pz, hz), opts.repeats)
            text = f"TorchScript fwd+bwd (vesin inside) {t_script:.1f}; vesin pairs {t_nl:.2f}"
            if run_fwd is not None and runner is not None:
                t_fwd = timed(lambda a=size_args: run_fwd(*a[:7]), opts.repeats)
                t_vjp = timed(lambda a=size_args: runner(*a), opts.repeats)
                total = t_nl + t_fwd + t_vjp
                text += (
                    f"; AOTI forward {t_fwd:.1f} + AOTI vjp {t_vjp:.1f} -> two-call step "
                    f"{total:.1f} ({t_script / total:.1f}x faster); vjp call alone "
                    f"{t_script / (t_nl + t_vjp):.1f}x"
                )
            report("OK", f"T {pz.shape[0]} ions, {opts.threads} thread(s), ms", text)
    except Exception as error:  # noqa: BLE001
        report("FAIL", "T timings", first_line(error))

    # ---- A7: neighbour list inside the graph, plain torch ops -----------------------------
    try:
        vjp_nl = LocalVJPWithPairs(core, TorchPairs(model.cutoff)).eval()
        nl_args = (pos, numbers, cell, charge_scale, charge_grad)
        nl_dims = [{0: atoms}, {0: atoms}, None, {0: atoms}, {0: atoms}]
        run_nl, _, compiled = compile_traced(
            vjp_nl, nl_args, nl_dims, workdir / "sognet_local_vjp_torchnl.pt2"
        )
        ok, text = agreement("AOTI vs model", run_nl(*nl_args), ref)
        t_nl_prog = timed(lambda: run_nl(*nl_args), opts.repeats)
        report(
            "OK" if ok else "FAIL",
            "A7 in-graph torch neighbour list (O(N^2 x 27), nonzero) -> AOTI",
            f"compile {compiled:.0f} s; {text}; {t_nl_prog:.1f} ms per call",
        )
    except Exception as error:  # noqa: BLE001
        report("FAIL", "A7 in-graph torch neighbour list -> AOTI", first_line(error))

    # ---- A8: vesin as a torch.library custom op with a fake kernel ------------------------
    package_a8 = None
    try:
        import vesin_torch

        calculator = vesin_torch.NeighborList(cutoff=model.cutoff, full_list=True)

        @torch.library.custom_op("sogprobe::vesin_pairs", mutates_args=())
        def vesin_op(points: Tensor, box: Tensor) -> tuple[Tensor, Tensor, Tensor]:
            i_, j_, s_ = calculator.compute(points, box, True, "ijS", True)
            # copies: vesin's outputs alias one another (custom ops must not return aliases)
            return (i_.to(torch.long).clone(), j_.to(torch.long).clone(), s_.to(torch.long).clone())

        @vesin_op.register_fake
        def _(points, box):
            count = torch.library.get_ctx().new_dynamic_size()
            empty = points.new_empty
            return (
                empty(count, dtype=torch.long),
                empty(count, dtype=torch.long),
                empty(count, 3, dtype=torch.long),
            )

        class VesinOpPairs(nn.Module):
            def forward(self, positions, cell):
                dtype = model.energy_shifts.dtype
                return vesin_op(positions.detach().to(dtype), cell.detach().to(dtype))

        vjp_op = LocalVJPWithPairs(core, VesinOpPairs()).eval()
        op_args = (pos, numbers, cell, charge_scale, charge_grad)
        op_dims = [{0: atoms}, {0: atoms}, None, {0: atoms}, {0: atoms}]
        run_op, package_a8, compiled = compile_traced(
            vjp_op, op_args, op_dims, workdir / "sognet_local_vjp_vesinop.pt2"
        )
        ok, text = agreement("AOTI vs model", run_op(*op_args), ref)
        t_op = timed(lambda: run_op(*op_args), opts.repeats)
        report(
            "OK" if ok else "FAIL",
            "A8 vesin as torch.library custom op (Python kernel) -> AOTI, run from Python",
            f"compile {compiled:.0f} s; {text}; {t_op:.1f} ms per call",
        )
    except Exception as error:  # noqa: BLE001
        report("FAIL", "A8 vesin as torch.library custom op -> AOTI", first_line(error))

    # ---- C1: libtorch C++ loader -----------------------------------------------------------
    if opts.no_cpp:
        report("SKIP", "C1 C++ AOTIModelPackageLoader", "--no-cpp")
    else:
        try:
            binary, text = build_cpp_loader(workdir)
            report("OK" if binary else "FAIL", "C1 C++ loader build (wheel's libtorch)", text)
            if binary and package_a6:
                got, ms = run_cpp(binary, package_a6, list(vjp_args), workdir, opts.repeats)
                if got is None:
                    report("FAIL", "C1a C++ runs A6 package", ms)
                else:
                    ok, text = agreement("C++ vs model", got, ref)
                    report(
                        "OK" if ok else "FAIL",
                        "C1a C++ runs A6 package",
                        f"{text}; {ms:.1f} ms per call",
                    )
            if binary and package_a8:
                op_inputs = [pos, numbers, cell, charge_scale, charge_grad]
                got, ms = run_cpp(binary, package_a8, op_inputs, workdir, 1)
                if got is None:
                    report("FAIL", "C1b C++ runs A8 package (Python custom op)", ms)
                else:
                    report(
                        "OK", "C1b C++ runs A8 package (Python custom op)", f"{ms:.1f} ms per call"
                    )
        except Exception as error:  # noqa: BLE001
            report("FAIL", "C1 C++ loader", first_line(error))

    print("\nsummary:")
    for status, name, _ in RESULTS:
        print(f"  {status:4} {name}")
    if opts.keep:
        print(f"packages kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:  # noqa: BLE001  (a probe: report, never fail)
        traceback.print_exc()
        sys.exit(0)
