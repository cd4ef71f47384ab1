"""Backbones: PaiNN through the whole pipeline (training, export, OpenMM), the interface's bad
input, and model files and checkpoints from before backbones.

Oracles: the eager float64 model's short-range energy and latent charges plus the direct lattice
sum of its kernel (as in test_torch_sog_force.py); the DeepPot-SE model's own energies before
its file was rewritten in the pre-backbone layout; parameter names for optimiser positions.
(Invariances, finite-difference forces with the charge chain rule, stress, smoothness at the
cutoff and TorchScript run for every backbone in test_model.py.)
"""

from __future__ import annotations

import json
import math

import pytest
import torch
import yaml
from model_helpers import LOCAL_MODELS, TRICLINIC, make_model, random_structure, small_config
from test_cli import assert_export_reproduces_model, sognet, write_toy_data
from test_torch_sog_force import _native_force, _platforms, check_force_against_oracle

from openmm_sog.model import SOGNet, SOGNetConfig
from openmm_sog.training.config import load_config
from openmm_sog.training.data import read_dataset
from openmm_sog.training.errors import ConfigError
from openmm_sog.training.integrity import seal
from openmm_sog.training.model_io import (
    load_model,
    model_metadata,
    read_model_payload,
    upgrade_optimizer_state,
    write_model_payload,
)

PAINN = LOCAL_MODELS["painn"]


@pytest.mark.parametrize("backbone", ["painn", "cace"])
@pytest.mark.parametrize(("platform", "precision", "check"), _platforms())
def test_message_passing_sognet_in_openmm_matches_the_lattice_sum_oracle(
    tmp_path, backbone, platform, precision, check
):
    from openmm_sog.training.export import export_model

    model = make_model(seed=5, **LOCAL_MODELS[backbone])
    structure = random_structure(16, TRICLINIC, seed=6)
    export_model(model, tmp_path / f"{backbone}.pt")
    force = _native_force(tmp_path / f"{backbone}.pt", structure)
    check_force_against_oracle(model, force, structure, platform, precision, check)


def _message_passing_config(tmp_path, backbone: str = "painn") -> dict:
    return {
        "seed": 3,
        "data": {"train": str(tmp_path / "toy.xyz"), "validation_fraction": 0.25},
        "model": {
            "backbone": backbone,
            "cutoff": 3.5,
            "inner_cutoff": 2.5,
            "num_features": 8,
            "num_interactions": 2,
            "fitting_sizes": [8],
            "charge_sizes": [8],
            "num_gaussians": 4,
        },
        "training": {
            "epochs": 2,
            "batch_size": 2,
            "num_threads": 1,
            "reference_energies": "average",
            "ema_decay": 0.9,
        },
        "output": {"directory": str(tmp_path / "run")},
    }


@pytest.mark.parametrize(("backbone", "class_prefix"), [("painn", "PaiNN"), ("cace", "CACE")])
def test_train_eval_export_with_a_message_passing_backbone(tmp_path, backbone, class_prefix):
    write_toy_data(tmp_path / "toy.xyz")
    config = _message_passing_config(tmp_path, backbone)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    sognet("train", "--config", str(tmp_path / "config.yaml"))
    best = tmp_path / "run" / "model_best.pt"
    # The run folder's config.yaml holds the backbone's keys only, and loads as a config again.
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert "axis_features" not in stored["model"] and stored["model"]["num_interactions"] == 2
    assert ("max_l" in stored["model"]) == (backbone == "cace")
    assert load_config(tmp_path / "run" / "config.yaml").model.backbone == backbone
    model = load_model(best)
    assert type(model.backbone).__name__ == f"{class_prefix}Backbone"
    # n_norm is set from the data (not the default 10) and kept in the file
    stored = read_model_payload(best)["config"]["neighbor_normalization"]
    assert model.backbone.neighbor_normalization == stored != SOGNetConfig.neighbor_normalization
    metrics = json.loads(
        sognet("eval", "--model", str(best), "--data", str(tmp_path / "toy.xyz"), "--json").stdout
    )
    assert math.isfinite(metrics["forces_rmse_meV_per_A"])
    exported = tmp_path / f"{backbone}.pt"
    sognet("export", "--model", str(best), "-o", str(exported), "--dtype", "float64")
    from openmm_sog.training.export import load_exported

    module, meta = load_exported(exported)
    assert meta["backbone"] == backbone
    model = load_model(best, "float64")
    assert_export_reproduces_model(module, model, read_dataset(tmp_path / "toy.xyz")[0])


@pytest.mark.parametrize(
    ("model_keys", "fragments"),
    [
        ({"backbone": "mace"}, ["model.backbone", "unknown backbone 'mace'", "painn"]),
        ({"backbone": "pain"}, ["unknown backbone 'pain'", "did you mean 'painn'"]),
        ({"backbone": "painn", "axis_features": 8}, ["model.axis_features", "painn"]),
        ({"num_interactions": 2}, ["model.num_interactions", "deeppot_se"]),
        ({"backbone": "painn", "num_features": 0}, ["model.num_features", ">= 1"]),
        ({"backbone": "painn", "max_l": 2}, ["model.max_l", "painn"]),
        ({"backbone": "cace", "max_l": 5}, ["model.max_l", "0..4"]),
        ({"backbone": "cace", "correlation": 0}, ["model.correlation", ">= 1"]),
        ({"backbone": "cace", "correlation": 4}, ["model.correlation", "1..3"]),
        ({"backbone": "cace", "axis_features": 8}, ["model.axis_features", "cace"]),
    ],
)
def test_config_names_backbone_errors(tmp_path, model_keys, fragments):
    values = _message_passing_config(tmp_path)
    values["model"] = {"cutoff": 5.0, **model_keys}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(values))
    with pytest.raises(ConfigError) as error:
        load_config(tmp_path / "config.yaml")
    message = str(error.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message


def test_model_api_refuses_an_unknown_backbone():
    with pytest.raises(ValueError, match="unknown backbone 'nequip'; choose one of"):
        SOGNet(SOGNetConfig(atomic_numbers=[1], backbone="nequip"))


#: The DeepPot-SE model's names before backbones existed, in their order in the state dict.
def _legacy_state_dict(model: SOGNet) -> dict:
    state = model.state_dict()
    legacy = {}
    for key, value in state.items():  # descriptor first, then its statistics, then fitting
        if key.startswith("backbone.descriptor."):
            legacy["descriptor." + key[len("backbone.descriptor.") :]] = value
    legacy["descriptor_mean"] = state["backbone.mean"]
    legacy["descriptor_std"] = state["backbone.std"]
    for key, value in state.items():
        if key.startswith("fitting."):
            legacy[key] = value
    if "backbone.pair_readout.weight" in state:
        legacy["pair_readout.weight"] = state["backbone.pair_readout.weight"]
    for key, value in state.items():
        if not key.startswith(("backbone.", "fitting.")):
            legacy[key] = value
    return legacy


def test_a_pre_backbone_model_file_gives_the_same_energies(tmp_path):
    model = make_model(seed=2, **LOCAL_MODELS["deeppot_se+radial"])
    with torch.no_grad():
        model.backbone.pair_readout.weight.normal_()
        model.backbone.mean.normal_()
    config = small_config(**LOCAL_MODELS["deeppot_se+radial"], neighbor_normalization=7.5)
    payload = model_metadata(model, config, "float64")
    payload["config"].pop("backbone")  # format-1 files had no backbone keys
    payload["config"].pop("num_features")
    payload["config"].pop("num_interactions")
    payload["state_dict"] = _legacy_state_dict(model)
    from openmm_sog.training.model_io import _state_dict_tensors

    torch.save(seal(payload, 1, _state_dict_tensors), tmp_path / "old.pt")
    loaded = load_model(tmp_path / "old.pt")
    assert loaded.backbone.neighbor_normalization == 7.5
    s = random_structure(12, TRICLINIC, seed=3)
    model.backbone.set_neighbor_normalization(7.5)
    torch.testing.assert_close(loaded(**s)["forces"], model(**s)["forces"], rtol=0, atol=0)
    # and a file written now round-trips
    write_model_payload(dict(payload, state_dict=loaded.state_dict()), tmp_path / "new.pt")
    torch.testing.assert_close(
        load_model(tmp_path / "new.pt")(**s)["energy"], loaded(**s)["energy"]
    )


def test_pre_backbone_adam_state_is_renumbered_by_parameter_name():
    model = make_model(seed=2, **LOCAL_MODELS["deeppot_se+radial"])
    legacy_names = list(_legacy_state_dict(model))
    params = dict(model.named_parameters())
    # Old positions: the legacy order of the parameters (buffers take no position), the SOG
    # kernel's parameters last (their own Adam group, as loop._optimizer makes it).
    renamed = [n.replace("descriptor.", "backbone.descriptor.", 1) for n in legacy_names]
    renamed = ["backbone.pair_readout.weight" if n == "pair_readout.weight" else n for n in renamed]
    old = [n for n in renamed if n in params]
    old = [n for n in old if not n.startswith("lr.")] + [n for n in old if n.startswith("lr.")]
    assert old.index("backbone.pair_readout.weight") > old.index("fitting.0.weight")
    state = {
        "state": {k: {"exp_avg": torch.full_like(params[name], float(k))} for k, name in
                  enumerate(old)},
        "param_groups": [{"params": list(range(len(old)))}],
    }  # fmt: skip
    new = [n for n in params if not n.startswith("lr.")] + [
        n for n in params if n.startswith("lr.")
    ]
    adam = torch.optim.Adam(
        [{"params": [params[n] for n in new if not n.startswith("lr.")]},
         {"params": [params[n] for n in new if n.startswith("lr.")]}]
    )  # fmt: skip
    upgraded = upgrade_optimizer_state(state, legacy_names, adam, model)
    for position, name in enumerate(new):
        moment = upgraded["state"][position]["exp_avg"]
        assert moment.shape == params[name].shape
        assert float(moment.flatten()[0]) == float(old.index(name))
    lbfgs = {"state": {}, "param_groups": [{"params": [0], "history_size": 50}]}
    with pytest.raises(ValueError, match="L-BFGS checkpoint from before backbones"):
        upgrade_optimizer_state(lbfgs, legacy_names, torch.optim.LBFGS(params.values()), model)


@pytest.mark.parametrize("local", ["deeppot_se+radial", "painn", "cace", "cace_l4"])
def test_backbones_export_with_torch_export_for_any_atom_and_pair_count(local):
    """The backbone interface is torch.export-clean (docs/export_formats.md): one program with
    dynamic atom and pair counts reproduces the eager backbone on another structure."""
    model = make_model(**LOCAL_MODELS[local])

    def inputs(num_atoms: int, seed: int) -> tuple:
        s = random_structure(num_atoms, TRICLINIC, seed=seed)
        i, j, vectors = model._pairs(s["positions"], s["cell"], s["pbc"], s["batch"])
        return vectors, i, j, model.species_index(s["atomic_numbers"])

    pairs, atoms = torch.export.Dim("pairs", min=2), torch.export.Dim("atoms", min=2)
    program = torch.export.export(
        model.backbone,
        inputs(12, 0),
        dynamic_shapes=({0: pairs}, {0: pairs}, {0: pairs}, {0: atoms}),
        strict=False,
    )
    other = inputs(20, 3)
    for exported, eager in zip(program.module()(*other), model.backbone(*other), strict=True):
        torch.testing.assert_close(exported, eager, rtol=1e-12, atol=1e-12)


def test_deeppot_se_pair_sums_per_coordinate_equal_the_outer_product():
    """The descriptor's pair sum on the CPU (one product per generalized coordinate, faster
    there) against the outer-product formula its GPU path uses: values, first and second
    derivatives (forces and their training gradients) to round-off."""
    from openmm_sog.model.descriptor import _pair_sum_of_products

    generator = torch.Generator().manual_seed(3)
    num_pairs, num_atoms = 200, 17
    i = torch.randint(0, num_atoms, (num_pairs,), generator=generator)
    features = torch.randn(num_pairs, 6, dtype=torch.float64, generator=generator)
    generalized = torch.randn(num_pairs, 4, dtype=torch.float64, generator=generator)
    features.requires_grad_(True)
    generalized.requires_grad_(True)

    def outer(f, g):
        summed = torch.zeros(num_atoms, 6, 4, dtype=f.dtype)
        return summed.index_add(0, i, f.unsqueeze(-1) * g.unsqueeze(-2))

    weights = torch.randn(num_atoms, 6, 4, dtype=torch.float64, generator=generator)
    results = []
    for fn in (lambda f, g: _pair_sum_of_products(f, g, i, num_atoms), outer):
        value = fn(features, generalized)
        objective = (value * value * weights).sum()
        g_f, g_g = torch.autograd.grad(objective, [features, generalized], create_graph=True)
        (gg,) = torch.autograd.grad((g_f * g_f).sum() + g_g.sum(), [generalized])
        results.append((value, g_f, g_g, gg))
    for got, expected in zip(*results, strict=True):
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)
