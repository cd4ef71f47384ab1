"""The training loop: Adam or L-BFGS, LR scheduler, early stopping, checkpoints, CSV log."""

from __future__ import annotations

import csv
import math
import time
import warnings

import torch

from ..memory import keep_freed_memory_for_reuse
from ..model import SOGNet
from .batches import DeviceData
from .checkpoint import TrainingState
from .config import TrainConfig
from .data import Structure, read_dataset, select_structures
from .device import check_device_name, resolve_device
from .distributed import Context, distributed_context, label_counts
from .errors import RunFolderError, SognetError
from .metrics import evaluate, loss_terms
from .model_io import (
    build_model,
    initialize_from,
    model_from_payload,
    model_metadata,
    read_model_payload,
    refit_energy_shifts,
    set_local_scales,
    upgrade_optimizer_state,
    upgrade_state_dict,
    write_model_payload,
)
from .pair_fit import PairTermFit
from .reference_energies import reference_energies
from .run_folder import check_run_folder, write_run_folder

__all__ = ["LOG_FIELDS", "load_training_data", "train"]

#: Columns of ``log.csv``: the weighted loss (what is optimised) and, in physical units, the
#: RMSE of the energy per atom (meV/atom) and of the force components (meV/A). The training
#: RMSEs are running values over the epoch's batches (the model changes within an epoch), the
#: validation ones are taken after it. Epoch 0 is the starting model of ``initialize_from``.
LOG_FIELDS = [
    "epoch",
    "train_loss",
    "validation_loss",
    "learning_rate",
    "elapsed_s",
    "train_energy_rmse_meV_per_atom",
    "train_forces_rmse_meV_per_A",
    "validation_energy_rmse_meV_per_atom",
    "validation_forces_rmse_meV_per_A",
]
#: A first epoch of fine-tuning whose validation loss exceeds the starting model's by this
#: factor is warned about: the learning rate is too high for a trained model.
FINE_TUNING_WORSENING_FACTOR = 2.0


def load_training_data(config: TrainConfig) -> tuple[list[Structure], list[Structure]]:
    """Training and validation structures (seeded random split unless a file is given)."""
    data = config.data
    keys = {"energy_key": data.energy_key, "forces_key": data.forces_key}
    structures = select_structures(
        read_dataset(config.resolve(data.train), data.format, **keys), data.select
    )
    gen = torch.Generator().manual_seed(config.seed)
    if data.validation:
        validation = select_structures(
            read_dataset(config.resolve(data.validation), data.format, **keys),
            data.validation_select,
        )
        train = structures
    else:
        order = torch.randperm(len(structures), generator=gen).tolist()
        num_val = int(round(data.validation_fraction * len(structures)))
        if data.validation_fraction > 0 and num_val == 0 and len(structures) > 1:
            num_val = 1
        validation = [structures[k] for k in order[:num_val]]
        train = [structures[k] for k in order[num_val:]]
    if data.max_structures is not None:
        train = train[: data.max_structures]
    t = config.training
    weights = {  # label: (its weight's config key, the weight)
        "energy": ("energy_weight", t.energy_weight),
        "forces": ("force_weight", t.force_weight),
        "stress": ("stress_weight", t.stress_weight),
    }
    for name, group in (("training", train), ("validation", validation)):
        for label, (weight_key, weight) in weights.items():
            count = sum(getattr(s, label) is None for s in group) if weight > 0 else 0
            if count:
                key = (
                    f" under the key {getattr(data, f'{label}_key')!r}" if label != "stress" else ""
                )
                rename = f"name the key of the labels (data.{label}_key) or " if key else ""
                raise SognetError(
                    f"training.{weight_key} > 0 but {count} of the {len(group)} {name} "
                    f"structures have no {label}{key}: {rename}set training.{weight_key}: 0 "
                    "to train without them"
                )
    if not train:
        raise SognetError("no training structures (data.max_structures or data.select is 0)")
    return train, validation


def _scheduler(config: TrainConfig, optimizer: torch.optim.Optimizer):
    t = config.training
    if t.scheduler == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, factor=t.scheduler_factor, patience=t.scheduler_patience
        )
    if t.scheduler == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=t.scheduler_factor)
    return None


class ErrorSums:
    """Squared errors and label counts of an epoch, for RMSEs in physical units.

    Energies per atom in eV/atom, force components in eV/A; summed over the ranks by
    :meth:`rmse`, which returns meV/atom and meV/A (NaN without labels). The sums stay on the
    training device until :meth:`rmse`: adding a batch does not wait for the device.
    """

    def __init__(self) -> None:
        self.squared: dict[str, torch.Tensor | float] = {"energy": 0.0, "forces": 0.0}
        self.count = {"energy": 0, "forces": 0}

    def add(self, terms: dict[str, torch.Tensor], structures: list[Structure]) -> None:
        """Add a batch: ``terms`` are the MSEs of ``structures`` (this rank's share, unweighted)."""
        counts = label_counts(structures)
        for key in self.squared:
            self.squared[key] = self.squared[key] + terms[key].detach().double() * counts[key]
            self.count[key] += counts[key]

    def rmse(self, ctx: Context) -> dict[str, float]:
        """``{"energy_rmse_meV_per_atom": ..., "forces_rmse_meV_per_A": ...}`` over all ranks."""
        out = {}
        for key, name in (
            ("energy", "energy_rmse_meV_per_atom"),
            ("forces", "forces_rmse_meV_per_A"),
        ):
            count = ctx.sum(float(self.count[key]))
            squared = ctx.sum(float(self.squared[key]))
            out[name] = 1e3 * math.sqrt(squared / count) if count else math.nan
        return out


def _batch_loss(
    model: torch.nn.Module,
    chosen: list[Structure],
    data: DeviceData,
    config: TrainConfig,
    ctx: Context,
    create_graph: bool,
    errors: ErrorSums | None = None,
) -> torch.Tensor:
    """Weighted loss of this rank's share of the (global) batch ``chosen``; adds the batch's
    squared errors to ``errors``."""
    t = config.training
    weights = {"energy": t.energy_weight, "forces": t.force_weight, "stress": t.stress_weight}
    local = ctx.shard(chosen)
    batch = data.batch(local or chosen[:1])
    out = model(
        **batch.model_inputs(),
        compute_forces=True,
        compute_stress=t.stress_weight > 0,
        create_graph=create_graph,
    )
    raw = loss_terms(out, batch)
    if errors is not None:
        errors.add(raw, local)
    charges = out.get("charges")
    if charges is not None and charges.numel() > 0:  # short-range models: [N, 0], no prior
        if t.charge_weight > 0:
            raw["charges"] = (charges * charges).mean()
            weights["charges"] = t.charge_weight
        if t.charge_l1_weight > 0:
            raw["charges_l1"] = charges.abs().mean()
            weights["charges_l1"] = t.charge_l1_weight
    terms = ctx.share_terms(raw, local, chosen)
    return sum(weights[k] * v for k, v in terms.items())


def _epoch_loss(
    model: torch.nn.Module,
    structures: list[Structure],
    data: DeviceData,
    config: TrainConfig,
    optimizer: torch.optim.Optimizer | None,
    order: list[int],
    bar,
    ctx: Context,
    ema: torch.optim.swa_utils.AveragedModel | None = None,
) -> tuple[float, dict[str, float]]:
    """One pass; trains if ``optimizer`` is given (and updates ``ema`` after every step).
    Returns the mean weighted loss and the RMSEs of :class:`ErrorSums` (running values over the
    batches when training). The loss is summed on the device; only the progress bar, when
    shown, reads it per batch."""
    t = config.training
    total: torch.Tensor | float = 0.0
    count = 0
    errors = ErrorSums()
    for start in range(0, len(order), t.batch_size):
        chosen = [structures[k] for k in order[start : start + t.batch_size]]
        loss = _batch_loss(model, chosen, data, config, ctx, optimizer is not None, errors)
        if optimizer is not None:
            optimizer.zero_grad()
            ctx.gradient_loss(loss).backward()
            optimizer.step()
            if ema is not None:
                ema.update_parameters(model)
        total = total + loss.detach().double() * len(chosen)
        count += len(chosen)
        if bar is not None and not bar.disable:
            bar.update(len(chosen))
            bar.set_postfix(loss=f"{float(loss.detach()):.3e}")
    return ctx.sum(float(total)) / max(count, 1), errors.rmse(ctx)


def _lbfgs_epoch(
    model: torch.nn.Module,
    structures: list[Structure],
    data: DeviceData,
    config: TrainConfig,
    optimizer: torch.optim.LBFGS,
    order: list[int],
    ctx: Context,
) -> tuple[float, dict[str, float]]:
    """One L-BFGS step on the full training set; returns the loss and RMSEs before the step."""
    t = config.training
    first = ErrorSums()
    calls = 0

    def closure() -> torch.Tensor:
        nonlocal calls
        optimizer.zero_grad()
        total = 0.0
        errors = first if calls == 0 else None
        calls += 1
        for start in range(0, len(order), t.batch_size):
            chosen = [structures[k] for k in order[start : start + t.batch_size]]
            loss = _batch_loss(model, chosen, data, config, ctx, True, errors)
            loss = loss * (len(chosen) / len(order))
            ctx.gradient_loss(loss).backward()
            total += float(loss.detach())
        # The line search must see the same (global) loss on every rank.
        return torch.tensor(ctx.sum(total), dtype=torch.float64)

    loss = float(optimizer.step(closure))
    return loss, first.rmse(ctx)


def _optimizer(config: TrainConfig, model: SOGNet) -> torch.optim.Optimizer:
    t = config.training
    if t.optimizer == "lbfgs":
        return torch.optim.LBFGS(
            model.parameters(),
            lr=t.learning_rate,
            max_iter=t.lbfgs_iterations,
            history_size=50,
            line_search_fn="strong_wolfe",
        )
    kernel = [] if model.lr is None else list(model.lr.parameters())
    pair = [] if model.pair_term is None else list(model.pair_term.parameters())
    chosen = {id(p) for p in kernel + pair}
    others = [p for p in model.parameters() if id(p) not in chosen]
    decoupled = t.optimizer == "adamw"
    if decoupled:
        # Decoupled decay of the weight matrices only (as MACE and NequIP's AdamW set-ups):
        # shrinking biases shifts outputs, and shrinking the kernel's widths and weights
        # changes the physics it has learned.
        groups = [
            {"params": [p for p in others if p.dim() >= 2]},
            {"params": [p for p in others if p.dim() < 2], "weight_decay": 0.0},
        ]
        groups = [g for g in groups if g["params"]]
    else:
        groups = [{"params": others}]
    # The kernel and the pair term are physics the data fix, not network weights: their own
    # rates, never decayed.
    for params, factor in ((kernel, t.kernel_lr_factor), (pair, t.pair_lr_factor)):
        for p in params:
            p.requires_grad_(factor > 0)
        if params and factor > 0:
            group = {"params": params, "lr": t.learning_rate * factor}
            if decoupled:
                group["weight_decay"] = 0.0
            groups.append(group)
    adam = torch.optim.AdamW if decoupled else torch.optim.Adam
    return adam(groups, lr=t.learning_rate, weight_decay=t.weight_decay)


def train(config: TrainConfig) -> dict:
    """Train per ``config``; writes checkpoints, ``model_best.pt`` and ``log.csv``.

    Under ``torchrun`` this runs data-parallel (see :mod:`.distributed`); only rank 0 writes.

    :return: summary with the best validation loss, epochs run and validation metrics.
    """
    check_device_name(config.training.device)
    keep_freed_memory_for_reuse()  # host temporaries: 1.3-1.5x faster CPU steps
    backend = "gloo" if config.training.device == "cpu" else "nccl"
    with distributed_context(backend) as ctx:
        return _train(config, ctx)


def _train(config: TrainConfig, ctx: Context) -> dict:
    t = config.training
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    torch.manual_seed(config.seed)
    device = resolve_device(t.device)  # before anything else: refuse a missing GPU early
    state = check_run_folder(config, ctx.is_main)  # before the data: refuse early
    train_set, validation = load_training_data(config)
    model = build_model(config.model, train_set, t.dtype)
    model_config = config.model
    io = write_run_folder(config, ctx)
    model.to(device)
    dtype = next(model.parameters()).dtype
    train_data = DeviceData(train_set, device, dtype)
    optimizer = _optimizer(config, model)
    scheduler = _scheduler(config, optimizer)
    eval_set = validation if validation else train_set
    eval_data = DeviceData(validation, device, dtype) if validation else train_data
    start_row: dict | None = None  # epoch 0: the starting model of initialize_from
    if state is None and t.initialize_from:
        source = config.resolve(t.initialize_from)
        report = initialize_from(model, model_config, source)
        if ctx.is_main and t.progress:
            kept = sorted({name.split(".")[0] for name in report["kept"]})
            print(
                f"started from {source}: {len(report['copied'])} tensors copied; "
                f"initialised here: {', '.join(kept) or 'none'}",
                flush=True,
            )
    elif state is not None:
        set_local_scales(model, state.model)  # the run may have started from another model
    # The average is a copy of the model as it now stands: made after initialize_from and the
    # resumed scales (energy scale, neighbour normalisation are attributes, not tensors it
    # would average), so that it starts from, and is judged as, the model it averages.
    ema = _ema(model, t.ema_decay)
    pair_fit: PairTermFit | None = None  # made at the first fit (fresh start) or refit
    # Validation, early stopping and model_best.pt see the averaged weights when there are any.
    judged = model if ema is None else ema.module
    if state is not None:
        try:
            model.load_state_dict(upgrade_state_dict(state.model["state_dict"]))
        except RuntimeError as error:  # a folder from before config.yaml with another model
            raise RunFolderError(
                f"cannot resume the run in {io.directory}: its model does not fit this config "
                f"({' '.join(str(error).split())[:300]}); resume with the config it was started "
                "with or start a new run in another output.directory"
            ) from None
        optimizer.load_state_dict(
            upgrade_optimizer_state(
                state.optimizer, list(state.model["state_dict"]), optimizer, model
            )
        )
        if ema is not None:
            if state.ema is None:
                raise RunFolderError(
                    f"cannot resume the run in {io.directory} with training.ema_decay: its "
                    "checkpoint has no averaged weights (it was started without EMA)"
                )
            ema.module.load_state_dict(upgrade_state_dict(state.ema["state_dict"]))
            ema.n_averaged.fill_(int(state.ema["n_averaged"]))
        if scheduler is not None and state.scheduler is not None:
            scheduler.load_state_dict(state.scheduler)
        torch.set_rng_state(state.rng_state)
    else:
        state = TrainingState({}, {}, None, 0, math.inf, 0, 0.0, torch.get_rng_state())
        if not t.initialize_from:
            shifts = reference_energies(train_set, list(model.atomic_numbers), t.reference_energies)
            with torch.no_grad():
                model.energy_shifts.copy_(shifts.to(model.energy_shifts.dtype))
        if t.pair_term_fit:
            pair_fit = _fit_pair_term(model, train_set, config, ctx)
            if ema is not None:  # the average starts from the fitted model, not the one before
                ema.module.load_state_dict(model.state_dict())
        if t.initialize_from:
            # The starting model is epoch 0: the best so far, so model_best.pt is never worse.
            val_loss, val_rmse = _epoch_loss(
                judged, eval_set, eval_data, config, None, list(range(len(eval_set))), None, ctx
            )
            start_row = _log_row(0, math.nan, val_loss, t.learning_rate, 0.0, {}, val_rmse)
    log_path = io.directory / "log.csv"
    if ctx.is_main:
        _prepare_log(log_path, fresh=state.epoch == 0)
    started = time.monotonic() - state.elapsed_s
    last_write = time.monotonic()
    best_payload: dict | None = None  # best model not yet written to model_best.pt
    if start_row is not None:
        _append_log(log_path, start_row, ctx)
        state.best_validation = start_row["validation_loss"]
        best_payload = model_metadata(model, _final_config(model, model_config), t.dtype)
        best_payload["state_dict"] = _host_copy(judged.state_dict())
        state.history.append(start_row)
    first_epoch = state.epoch + 1
    wrapped = ctx.wrap(model)
    from tqdm import tqdm

    for epoch in range(first_epoch, t.epochs + 1):
        gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
        order = torch.randperm(len(train_set), generator=gen).tolist()
        with tqdm(
            total=len(train_set),
            desc=f"epoch {epoch}/{t.epochs}",
            disable=not (t.progress and ctx.is_main),
            leave=False,
        ) as bar:
            wrapped.train()
            if isinstance(optimizer, torch.optim.LBFGS):
                train_loss, train_rmse = _lbfgs_epoch(
                    wrapped, train_set, train_data, config, optimizer, order, ctx
                )
            else:
                train_loss, train_rmse = _epoch_loss(
                    wrapped, train_set, train_data, config, optimizer, order, bar, ctx, ema
                )
        if t.pair_term_refit_interval and epoch % t.pair_term_refit_interval == 0:
            pair_fit = _fit_pair_term(model, train_set, config, ctx, pair_fit, epoch)
        val_loss, val_rmse = _epoch_loss(
            judged, eval_set, eval_data, config, None, list(range(len(eval_set))), None, ctx
        )
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        elapsed = time.monotonic() - started
        lr = optimizer.param_groups[0]["lr"]
        row = _log_row(epoch, train_loss, val_loss, lr, elapsed, train_rmse, val_rmse)
        _append_log(log_path, row, ctx)
        if t.progress and ctx.is_main:
            tqdm.write(
                f"epoch {epoch}: train {train_loss:.4e}  validation {val_loss:.4e}  lr {lr:.2e}  "
                f"(validation RMSE {val_rmse['energy_rmse_meV_per_atom']:.3g} meV/atom, "
                f"{val_rmse['forces_rmse_meV_per_A']:.4g} meV/A)"
            )
        if start_row is not None and epoch == first_epoch:
            _warn_if_fine_tuning_diverges(start_row["validation_loss"], val_loss, t.learning_rate)
        improved = val_loss < state.best_validation
        payload = model_metadata(model, _final_config(model, model_config), t.dtype)
        # Files hold host tensors: they load on machines without the training device.
        payload["state_dict"] = _host_copy(model.state_dict())
        if improved:
            state.best_validation = val_loss
            state.epochs_without_improvement = 0
            best_payload = dict(payload, state_dict=_host_copy(judged.state_dict()))
        else:
            state.epochs_without_improvement += 1
        state.model = payload
        state.optimizer = _host_copy(optimizer.state_dict())
        if ema is not None:
            state.ema = {
                "state_dict": _host_copy(ema.module.state_dict()),
                "n_averaged": int(ema.n_averaged),
            }
        state.scheduler = scheduler.state_dict() if scheduler is not None else None
        state.epoch = epoch
        state.elapsed_s = elapsed
        state.rng_state = torch.get_rng_state()
        state.history.append(row)
        stop = state.epochs_without_improvement >= t.early_stopping_patience
        stop = stop or ctx.agree(t.max_time_s is not None and elapsed > t.max_time_s)
        due = time.monotonic() - last_write >= config.output.checkpoint_interval_s
        if ctx.agree(stop or due or epoch == t.epochs):
            # The best model first, so that a checkpoint never points past an unwritten best.
            if ctx.is_main:
                if best_payload is not None:
                    write_model_payload(best_payload, io.best)
                io.save(state)
            best_payload = None
            last_write = time.monotonic()
        if stop:
            break
    ctx.barrier()  # model_best.pt is written
    metrics = None
    if ctx.is_main:
        payload = read_model_payload(io.best)
        best = model_from_payload(payload)
        if t.refit_energy_shifts:
            refit_energy_shifts(best, train_set)
            payload["state_dict"]["energy_shifts"] = best.energy_shifts.detach().clone()
            write_model_payload(payload, io.best)
        metrics = evaluate(best.to(device), validation) if validation else {}
    summary = {
        "best_validation_loss": state.best_validation,
        "epochs": state.epoch,
        "validation_metrics": ctx.broadcast(metrics),
        "model": str(io.best),
    }
    if start_row is not None:
        summary["initial_validation_loss"] = start_row["validation_loss"]
    return summary


def _fit_pair_term(
    model: SOGNet,
    train_set: list[Structure],
    config: TrainConfig,
    ctx: Context,
    pair_fit: PairTermFit | None = None,
    epoch: int = 0,
) -> PairTermFit:
    """``training.pair_term_fit``: the pair term's least-squares weights on the training forces
    (every rank computes the same), then the energy shifts refitted to what the model now
    predicts when they are fitted at all (``reference_energies: fit``). Returns the fitter
    (its normal matrix is reused by later refits)."""
    t = config.training
    if pair_fit is None:
        pair_fit = PairTermFit(model, train_set, t.batch_size)
    report = pair_fit(model)
    if t.reference_energies == "fit":
        refit_energy_shifts(model, train_set, t.batch_size)
    if ctx.is_main and t.progress and epoch == 0:
        print(
            f"pair term fitted to the training forces by least squares: force RMSE "
            f"{1000 * report['force_rmse_before']:.1f} -> {1000 * report['force_rmse_after']:.1f}"
            f" meV/A ({report['rank']} of {report['columns']} weights determined)",
            flush=True,
        )
    return pair_fit


def _ema(model: SOGNet, decay: float | None) -> torch.optim.swa_utils.AveragedModel | None:
    """The exponential moving average of ``model``'s weights (buffers follow the model), or
    None without ``decay``."""
    if decay is None:
        return None
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def _host_copy(value):
    """``value`` (a state dict, nested in dicts and lists) with every tensor copied to the host."""
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu", copy=True)
    if isinstance(value, dict):
        return {key: _host_copy(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_host_copy(item) for item in value)
    return value


def _log_row(
    epoch: int,
    train_loss: float,
    validation_loss: float,
    learning_rate: float,
    elapsed_s: float,
    train_rmse: dict[str, float],
    validation_rmse: dict[str, float],
) -> dict:
    """A ``log.csv`` row (:data:`LOG_FIELDS`); RMSEs missing from the dicts are NaN."""
    row = {
        "epoch": epoch,
        "train_loss": train_loss,
        "validation_loss": validation_loss,
        "learning_rate": learning_rate,
        "elapsed_s": elapsed_s,
    }
    for prefix, rmse in (("train_", train_rmse), ("validation_", validation_rmse)):
        for name in ("energy_rmse_meV_per_atom", "forces_rmse_meV_per_A"):
            row[prefix + name] = rmse.get(name, math.nan)
    return row


def _prepare_log(path, fresh: bool) -> None:
    """A new ``log.csv`` with its header, or a resumed one brought to :data:`LOG_FIELDS` (logs
    written before the RMSE columns get them, empty in their old rows)."""
    if fresh or not path.exists():
        with path.open("w", newline="") as f:
            csv.writer(f).writerow(LOG_FIELDS)
        return
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and list(rows[0]) == LOG_FIELDS:
        return
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, LOG_FIELDS, restval="")
        writer.writeheader()
        writer.writerows({k: v for k, v in row.items() if k in LOG_FIELDS} for row in rows)


def _append_log(path, row: dict, ctx: Context) -> None:
    if ctx.is_main:
        with path.open("a", newline="") as f:
            csv.writer(f).writerow([row[k] for k in LOG_FIELDS])


def _warn_if_fine_tuning_diverges(start: float, first: float, learning_rate: float) -> None:
    """Warn when the first epoch from a trained model leaves it much worse (see the module)."""
    if first > FINE_TUNING_WORSENING_FACTOR * start:
        warnings.warn(
            f"fine-tuning: the validation loss after the first epoch ({first:.4g}) is "
            f"{first / start:.3g} times that of the starting model ({start:.4g}); the learning "
            f"rate {learning_rate:g} is probably too high for a trained model: try "
            f"training.learning_rate: {learning_rate / 10:g} (model_best.pt keeps the starting "
            "model until an epoch improves on it)",
            UserWarning,
            stacklevel=3,
        )


def _final_config(model: SOGNet, config):
    import dataclasses

    return dataclasses.replace(
        config,
        atomic_numbers=list(model.atomic_numbers),
        neighbor_normalization=model.backbone.neighbor_normalization,
    )
