"""The training loop: Adam or L-BFGS, LR scheduler, early stopping, checkpoints, CSV log."""

from __future__ import annotations

import copy
import csv
import math
import time

import torch

from ..model import SOGNet
from .checkpoint import CheckpointIO, TrainingState
from .config import TrainConfig
from .data import Structure, collate, read_dataset, select_structures
from .distributed import Context, distributed_context
from .metrics import evaluate, loss_terms
from .model_io import (
    build_model,
    initialize_from,
    model_from_payload,
    model_metadata,
    read_model_payload,
    refit_energy_shifts,
    set_local_scales,
)

__all__ = ["load_training_data", "train"]


def load_training_data(config: TrainConfig) -> tuple[list[Structure], list[Structure]]:
    """Training and validation structures (seeded random split unless a file is given)."""
    data = config.data
    structures = select_structures(
        read_dataset(config.resolve(data.train), data.format), data.select
    )
    gen = torch.Generator().manual_seed(config.seed)
    if data.validation:
        validation = select_structures(
            read_dataset(config.resolve(data.validation), data.format), data.validation_select
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
    for name, group in (("training", train), ("validation", validation)):
        if t.force_weight > 0 and any(s.forces is None for s in group):
            raise ValueError(f"force_weight > 0 but some {name} structures have no forces")
        if t.energy_weight > 0 and any(s.energy is None for s in group):
            raise ValueError(
                f"energy_weight > 0 but some {name} structures have no energy "
                "(set training.energy_weight: 0 to train on forces only)"
            )
        if t.stress_weight > 0 and any(s.stress is None for s in group):
            raise ValueError(f"stress_weight > 0 but some {name} structures have no stress")
    if not train:
        raise ValueError("no training structures")
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


def _batch_loss(
    model: torch.nn.Module,
    chosen: list[Structure],
    config: TrainConfig,
    ctx: Context,
    create_graph: bool,
) -> torch.Tensor:
    """Weighted loss of this rank's share of the (global) batch ``chosen``."""
    t = config.training
    dtype = next(model.parameters()).dtype
    weights = {"energy": t.energy_weight, "forces": t.force_weight, "stress": t.stress_weight}
    local = ctx.shard(chosen)
    batch = collate(local or chosen[:1]).to(dtype)
    out = model(
        **batch.model_inputs(),
        compute_forces=True,
        compute_stress=t.stress_weight > 0,
        create_graph=create_graph,
    )
    terms = ctx.share_terms(loss_terms(out, batch), local, chosen)
    return sum(weights[k] * v for k, v in terms.items())


def _epoch_loss(
    model: torch.nn.Module,
    structures: list[Structure],
    config: TrainConfig,
    optimizer: torch.optim.Optimizer | None,
    order: list[int],
    bar,
    ctx: Context,
) -> float:
    """One pass; trains if ``optimizer`` is given. Returns the mean weighted loss."""
    t = config.training
    total, count = 0.0, 0
    for start in range(0, len(order), t.batch_size):
        chosen = [structures[k] for k in order[start : start + t.batch_size]]
        loss = _batch_loss(model, chosen, config, ctx, optimizer is not None)
        if optimizer is not None:
            optimizer.zero_grad()
            ctx.gradient_loss(loss).backward()
            optimizer.step()
        total += float(loss.detach()) * len(chosen)
        count += len(chosen)
        if bar is not None:
            bar.update(len(chosen))
            bar.set_postfix(loss=f"{float(loss.detach()):.3e}")
    return ctx.sum(total) / max(count, 1)


def _lbfgs_epoch(
    model: torch.nn.Module,
    structures: list[Structure],
    config: TrainConfig,
    optimizer: torch.optim.LBFGS,
    order: list[int],
    ctx: Context,
) -> float:
    """One L-BFGS step on the full training set; returns the loss before the step."""
    t = config.training

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        total = 0.0
        for start in range(0, len(order), t.batch_size):
            chosen = [structures[k] for k in order[start : start + t.batch_size]]
            loss = _batch_loss(model, chosen, config, ctx, True) * (len(chosen) / len(order))
            ctx.gradient_loss(loss).backward()
            total += float(loss.detach())
        # The line search must see the same (global) loss on every rank.
        return torch.tensor(ctx.sum(total), dtype=torch.float64)

    return float(optimizer.step(closure))


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
    chosen = {id(p) for p in kernel}
    others = [p for p in model.parameters() if id(p) not in chosen]
    groups = [{"params": others}]
    if kernel:
        for p in kernel:
            p.requires_grad_(t.kernel_lr_factor > 0)
        if t.kernel_lr_factor > 0:
            groups.append({"params": kernel, "lr": t.learning_rate * t.kernel_lr_factor})
    return torch.optim.Adam(groups, lr=t.learning_rate, weight_decay=t.weight_decay)


def train(config: TrainConfig) -> dict:
    """Train per ``config``; writes checkpoints, ``model_best.pt`` and ``log.csv``.

    Under ``torchrun`` this runs data-parallel (see :mod:`.distributed`); only rank 0 writes.

    :return: summary with the best validation loss, epochs run and validation metrics.
    """
    with distributed_context() as ctx:
        return _train(config, ctx)


def _train(config: TrainConfig, ctx: Context) -> dict:
    t = config.training
    if t.num_threads:
        torch.set_num_threads(t.num_threads)
    torch.manual_seed(config.seed)
    train_set, validation = load_training_data(config)
    model = build_model(config.model, train_set, t.dtype)
    model_config = config.model
    optimizer = _optimizer(config, model)
    scheduler = _scheduler(config, optimizer)
    io = CheckpointIO(config.resolve(config.output.directory))
    state = io.load() if config.output.resume else None
    if state is not None:
        model.load_state_dict(state.model["state_dict"])
        set_local_scales(model, state.model)  # the run may have started from another model
        optimizer.load_state_dict(state.optimizer)
        if scheduler is not None and state.scheduler is not None:
            scheduler.load_state_dict(state.scheduler)
        torch.set_rng_state(state.rng_state)
    else:
        state = TrainingState({}, {}, None, 0, math.inf, 0, 0.0, torch.get_rng_state())
        if t.initialize_from:
            source = config.resolve(t.initialize_from)
            report = initialize_from(model, model_config, source)
            if ctx.is_main and t.progress:
                kept = sorted({name.split(".")[0] for name in report["kept"]})
                print(
                    f"started from {source}: {len(report['copied'])} tensors copied; "
                    f"initialised here: {', '.join(kept) or 'none'}",
                    flush=True,
                )
    log_path = io.directory / "log.csv"
    fields = ["epoch", "train_loss", "validation_loss", "learning_rate", "elapsed_s"]
    if ctx.is_main and (state.epoch == 0 or not log_path.exists()):
        with log_path.open("w", newline="") as f:
            csv.writer(f).writerow(fields)
    started = time.monotonic() - state.elapsed_s
    last_write = time.monotonic()
    best_payload: dict | None = None  # best model not yet written to model_best.pt
    wrapped = ctx.wrap(model)
    from tqdm import tqdm

    for epoch in range(state.epoch + 1, t.epochs + 1):
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
                train_loss = _lbfgs_epoch(wrapped, train_set, config, optimizer, order, ctx)
            else:
                train_loss = _epoch_loss(wrapped, train_set, config, optimizer, order, bar, ctx)
        eval_set = validation if validation else train_set
        val_loss = _epoch_loss(model, eval_set, config, None, list(range(len(eval_set))), None, ctx)
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(val_loss)
        elif scheduler is not None:
            scheduler.step()
        elapsed = time.monotonic() - started
        lr = optimizer.param_groups[0]["lr"]
        row = {
            "epoch": epoch,
            "train_loss": train_loss,
            "validation_loss": val_loss,
            "learning_rate": lr,
            "elapsed_s": elapsed,
        }
        if ctx.is_main:
            with log_path.open("a", newline="") as f:
                csv.writer(f).writerow([row[k] for k in fields])
        if t.progress and ctx.is_main:
            tqdm.write(
                f"epoch {epoch}: train {train_loss:.4e}  validation {val_loss:.4e}  lr {lr:.2e}"
            )
        improved = val_loss < state.best_validation
        payload = model_metadata(model, _final_config(model, model_config), t.dtype)
        payload["state_dict"] = model.state_dict()
        if improved:
            state.best_validation = val_loss
            state.epochs_without_improvement = 0
            best_payload = dict(payload, state_dict=copy.deepcopy(payload["state_dict"]))
        else:
            state.epochs_without_improvement += 1
        state.model = payload
        state.optimizer = optimizer.state_dict()
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
                    torch.save(best_payload, io.best)
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
            torch.save(payload, io.best)
        metrics = evaluate(best, validation) if validation else {}
    return {
        "best_validation_loss": state.best_validation,
        "epochs": state.epoch,
        "validation_metrics": ctx.broadcast(metrics),
        "model": str(io.best),
    }


def _final_config(model: SOGNet, config):
    import dataclasses

    return dataclasses.replace(
        config,
        atomic_numbers=list(model.atomic_numbers),
        neighbor_normalization=model.descriptor.neighbor_normalization,
    )
