"""The CACE backbone's parts against direct formulas.

Oracles: tensor powers and full contractions written with ``torch.einsum`` on full 3^l
tensors; the first layer's angular moments as the literal pair sum of its definition (species
embedding and channel mixing per pair, in a Python loop over atoms). The whole model's
invariances, finite-difference forces, stress, smoothness at the cutoff, TorchScript, export and
the OpenMM oracle run for every backbone in test_model.py and test_backbones.py.
"""

from __future__ import annotations

import itertools

import pytest
import torch
from model_helpers import LOCAL_MODELS, TRICLINIC, make_model, random_structure

from openmm_sog.model.cace import CACEBackbone, num_invariants

CACE = LOCAL_MODELS["cace"]


def _backbone(max_l: int = 3, correlation: int = 3, num_interactions: int = 2) -> CACEBackbone:
    torch.manual_seed(1)
    backbone = CACEBackbone(
        num_species=3,
        cutoff=4.0,
        inner_cutoff=0.0,
        num_radial=5,
        num_features=4,
        num_interactions=num_interactions,
        max_l=max_l,
        correlation=correlation,
        species_embedding=2,
        radial_channels=3,
        neighbor_normalization=6.0,
    )
    return backbone.double()


def _full_powers(unit: torch.Tensor, max_l: int) -> list[torch.Tensor]:
    """u^(x)l for l = 0..max_l, each ``[E, 3, ..., 3]``."""
    powers = [torch.ones(unit.shape[0], dtype=unit.dtype)]
    letters = "abcd"
    for degree in range(1, max_l + 1):
        spec = ",".join(f"e{x}" for x in letters[:degree]) + "->e" + letters[:degree]
        powers.append(torch.einsum(spec, *([unit] * degree)))
    return powers


def _symmetric_storage(backbone: CACEBackbone, full: list[torch.Tensor]) -> torch.Tensor:
    """Full tensors ``[..., 3^l]`` side by side, reduced to the backbone's symmetric storage."""
    flat = torch.cat([t.reshape(*t.shape[: t.dim() - d], 3**d) for d, t in enumerate(full)], -1)
    return flat[..., backbone.full_of_symmetric]


@pytest.mark.parametrize("max_l", [0, 1, 2, 3, 4])
def test_symmetric_storage_holds_the_tensor_powers(max_l):
    backbone = _backbone(max_l=max_l)
    unit = torch.nn.functional.normalize(torch.randn(7, 3, dtype=torch.float64), dim=-1)
    full = _full_powers(unit, max_l)
    stored = backbone._angular_moments(unit)[:, backbone.full_of_symmetric]
    assert stored.shape[1] == [1, 4, 10, 20, 35][max_l]
    torch.testing.assert_close(stored, _symmetric_storage(backbone, full), rtol=0, atol=1e-15)
    rebuilt = stored[:, backbone.symmetric_of_full]
    flat = torch.cat([t.reshape(7, -1) for t in full], -1)
    torch.testing.assert_close(rebuilt, flat, rtol=0, atol=1e-15)


def _random_symmetric(n: int, c: int, degree: int) -> torch.Tensor:
    """Random symmetric tensors ``[n, c, 3, ..., 3]`` (sums over all index permutations)."""
    t = torch.randn(n, c, *([3] * degree), dtype=torch.float64)
    if degree == 2:
        return t + t.transpose(-1, -2)
    return sum(
        t.permute(0, 1, *(2 + p for p in perm)) for perm in itertools.permutations(range(degree))
    )


@pytest.mark.parametrize(
    ("max_l", "correlation"), [(4, 3), (3, 3), (2, 3), (4, 2), (3, 2), (1, 2), (2, 1)]
)
def test_invariants_are_the_einsum_contractions(max_l, correlation):
    backbone = _backbone(max_l=max_l, correlation=correlation)
    n, c = 5, 4
    full = [torch.randn(n, c, dtype=torch.float64)]
    full += [_random_symmetric(n, c, degree) for degree in range(1, max_l + 1)]
    got = backbone._invariants(_symmetric_storage(backbone, full)).view(n, -1, c)
    expected = [full[0]]
    if correlation >= 2:
        expected += [
            (t * t).flatten(2).sum(-1) for t in full[1:]
        ]  # A_l . A_l, all indices contracted
    if correlation >= 3 and max_l >= 2:
        a1, a2 = full[1], full[2]
        expected.append(torch.einsum("nca,ncab,ncb->nc", a1, a2, a1))
        expected.append(torch.einsum("ncab,ncbd,ncda->nc", a2, a2, a2))
        if max_l >= 3:
            a3 = full[3]
            expected.append(torch.einsum("nca,ncbd,ncabd->nc", a1, a2, a3))
            expected.append(torch.einsum("ncabe,ncabf,ncef->nc", a3, a3, a2))
        if max_l >= 4:
            a4 = full[4]
            expected.append(torch.einsum("nca,ncabde,ncbde->nc", a1, a4, a3))
            expected.append(torch.einsum("ncab,ncabde,ncde->nc", a2, a4, a2))
            expected.append(torch.einsum("ncab,ncaefg,ncbefg->nc", a2, a4, a4))
            expected.append(torch.einsum("ncabe,ncafg,ncbefg->nc", a3, a3, a4))
            expected.append(torch.einsum("ncabde,ncdefg,ncfgab->nc", a4, a4, a4))
    assert got.shape[1] == len(expected) == num_invariants(max_l, correlation)
    torch.testing.assert_close(got, torch.stack(expected, 1), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("max_l", [3, 4])
def test_first_layer_is_the_literal_pair_sum(max_l):
    """Layer 1 sums per neighbour species and mixes afterwards; the definition embeds and
    mixes every pair: the same invariants."""
    backbone = _backbone(max_l=max_l)
    with torch.no_grad():
        backbone.first_mixing.normal_()
    generator = torch.Generator().manual_seed(4)
    n = 6
    positions = torch.rand(n, 3, generator=generator, dtype=torch.float64) * 3.0
    species = torch.tensor([0, 1, 2, 1, 0, 2])
    i, j = (x.flatten() for x in torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij"))
    keep = i != j
    i, j = i[keep], j[keep]
    vectors = positions[j] - positions[i]
    got = backbone._layers(vectors, i, j, species)[0]

    from openmm_sog.model.descriptor import smooth_cutoff

    max_l, k, m = backbone.max_l, backbone.radial_channels, backbone.embedding.shape[1]
    f = backbone.num_channels
    weights = backbone.first_mixing.detach().view(max_l + 1, f, m, k)
    density = torch.zeros(n, f, backbone.num_components, dtype=torch.float64)
    for e in range(i.numel()):
        d = float(torch.linalg.norm(vectors[e]))
        u = vectors[e : e + 1] / d
        b = torch.sin(d * backbone.frequencies) / d
        b = b * smooth_cutoff(torch.tensor(d, dtype=torch.float64), 0.0, backbone.cutoff)
        radial = backbone.first_radial(b).view(k, max_l + 1)  # R_kl
        theta = backbone.embedding[species[j[e]]]
        powers = _symmetric_storage(backbone, [p for p in _full_powers(u, max_l)])[0]
        for x, degree in enumerate(backbone.expand.argmax(0).tolist()):
            coefficient = torch.einsum("fmk,m,k->f", weights[degree], theta, radial[:, degree])
            density[i[e], :, x] += coefficient * powers[x]
    expected = backbone._invariants(density / backbone.neighbor_normalization)
    torch.testing.assert_close(got, expected, rtol=1e-11, atol=1e-12)


def test_energy_is_invariant_under_reflection():
    """The invariants have even total degree (A_1 A_2 A_3 included), so a mirror image has
    the same energy and mirrored forces (a free cluster: a mirrored cell is left-handed)."""
    model = make_model(**CACE)
    s = random_structure(12, None, seed=3)
    mirror = torch.diag(torch.tensor([-1.0, 1.0, 1.0], dtype=torch.float64))
    out = model(**s)
    reflected = model(**dict(s, positions=s["positions"] @ mirror, cell=s["cell"] @ mirror))
    torch.testing.assert_close(reflected["energy"], out["energy"], rtol=1e-12, atol=1e-10)
    torch.testing.assert_close(reflected["forces"], out["forces"] @ mirror, rtol=1e-10, atol=1e-10)


def test_statistics_standardise_every_layer():
    model = make_model(**CACE)
    s = random_structure(16, TRICLINIC, seed=2)
    model.set_descriptor_statistics(
        s["positions"], s["atomic_numbers"], s["cell"], s["pbc"], s["batch"]
    )
    species = model.species_index(s["atomic_numbers"])
    i, j, vectors = model._pairs(s["positions"], s["cell"], s["pbc"], s["batch"])
    with torch.no_grad():
        features, _ = model.backbone(vectors, i, j, species)
    assert features.shape[1] == model.backbone.feature_size
    torch.testing.assert_close(features.mean(0), torch.zeros_like(features[0]), atol=1e-10, rtol=0)
    # Unit spread, but for the invariants far below their layer's overall spread (kept below 1).
    raw = torch.cat(model.backbone._layers(vectors, i, j, species), -1).detach()
    width = model.backbone.feature_size // 2
    floor = torch.cat(
        [1e-2 * raw[:, :width].std().expand(width), 1e-2 * raw[:, width:].std().expand(width)]
    )
    unclamped = raw.std(0) > floor
    assert int(unclamped.sum()) > width  # the test means something
    spread = features.std(0)
    torch.testing.assert_close(
        spread[unclamped], torch.ones_like(spread[unclamped]), atol=1e-10, rtol=0
    )
    assert float(spread.max()) < 1.0 + 1e-10


def test_bad_hyper_parameters_are_named():
    for kwargs, fragment in [
        ({"max_l": 5}, "max_l must lie in 0..4"),
        ({"correlation": 0}, "correlation must lie in 1..3"),
        ({"radial_channels": 0}, "radial_channels >= 1"),
    ]:
        values = dict(max_l=3, correlation=3, radial_channels=3) | kwargs
        with pytest.raises(ValueError, match=fragment):
            CACEBackbone(
                2, 4.0, 0.0, 4, 4, 1, species_embedding=2, neighbor_normalization=5.0, **values
            )
