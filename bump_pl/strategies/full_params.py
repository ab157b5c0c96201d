"""``full_parameters(trainer)``: the model's parameters whole while a callback generates on one rank.

Generation inside ``training_step``/``validation_step``/``predict_step`` runs through the strategy's
wrapped forward, so a sharding strategy has gathered the parameters. A callback that calls
``pl_module.generator.profiles`` itself (the profile cache) runs outside that forward, where each rank
holds only its shard, and it generates on global rank 0 alone, so no forward may start a collective.
Every rank enters this context (entering and leaving gather and free in lockstep); inside it:

- FSDP (``FSDPStrategy``, ``FullyShardedDataParallel``): ``summon_full_params(writeback=False,
  recurse=True)`` on ``trainer.strategy.model``. Only one FSDP unit is supported (Lightning's default,
  ``configs/strategy/fsdp.yaml``): rank 0 then calls plain submodules. With nested units
  (``auto_wrap_policy``) an inner unit's forward would all-gather on rank 0 alone and hang, so that
  case is refused.
- FSDP2 (``fully_shard``, e.g. under ``ModelParallelStrategy``): every ``FSDPModule`` is unsharded,
  and kept unsharded after each forward (``set_reshard_after_forward(False)``), so rank 0's repeated
  forwards gather nothing; on exit ``reset_iter_state`` reshards them and forgets rank 0's forwards
  (else its next backward would prefetch in another order than the other ranks'), and the reshard
  settings are restored. That restore, and initialising the FSDP roots on every rank first (a lone
  forward on rank 0 could make another module root there), touch FSDP2 state torch 2.13 keeps private;
  ``tests/strategies/test_full_params.py`` checks the whole round trip on two gloo processes.
- DeepSpeed ZeRO-3 shards parameters behind its own forward hooks: refused. Anything else (one
  device, DDP, ZeRO-1/2) holds whole parameters: nothing is done.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lightning.pytorch import Trainer
from lightning.pytorch.strategies import DeepSpeedStrategy
from torch import nn
from torch.distributed.fsdp import FSDPModule, FullyShardedDataParallel


def _zero_stage(trainer: Trainer) -> int:
    """DeepSpeed's ZeRO stage of ``trainer`` (0 when it is not a DeepSpeed run)."""
    strategy = trainer.strategy
    if not isinstance(strategy, DeepSpeedStrategy) or not isinstance(strategy.config, dict):
        return 0
    return int((strategy.config.get("zero_optimization") or {}).get("stage", 0))


@contextmanager
def full_parameters(trainer: Trainer) -> Iterator[None]:
    """Every parameter of the trainer's model whole on every rank inside the block (enter on all ranks).

    Raises:
        ValueError: nested FSDP units or DeepSpeed ZeRO-3, where a forward on one rank would hang.
    """
    if _zero_stage(trainer) == 3:
        raise ValueError(
            "full_parameters: DeepSpeed ZeRO-3 gathers parameters in its own forward hooks, so generating profiles"
            " on rank 0 alone would hang; use ZeRO stage 2 (configs/strategy/deepspeed.yaml) or FSDP"
        )
    model: nn.Module | None = trainer.strategy.model  # the FSDP wrapper when there is one
    modules = list(model.modules()) if model is not None else []
    fsdp_units = [module for module in modules if isinstance(module, FullyShardedDataParallel)]
    fsdp2_modules = [module for module in modules if isinstance(module, FSDPModule)]
    if len(fsdp_units) > 1:
        raise ValueError(
            f"full_parameters: the model has {len(fsdp_units)} nested FSDP units (auto_wrap_policy); an inner unit's"
            " forward on rank 0 alone would hang; use FSDPStrategy without auto_wrap_policy (configs/strategy/fsdp.yaml)"
        )
    if fsdp_units:
        with FullyShardedDataParallel.summon_full_params(model, recurse=True, writeback=False):
            yield
    elif fsdp2_modules:
        with _unsharded(fsdp2_modules):
            yield
    else:
        yield


def _roots(modules: list[FSDPModule]) -> list[FSDPModule]:
    """The ``modules`` inside no other of them (the FSDP roots)."""
    inner = {id(child) for module in modules for child in list(module.modules())[1:]}
    return [module for module in modules if id(module) not in inner]


@contextmanager
def _unsharded(modules: list[FSDPModule]) -> Iterator[None]:
    """FSDP2 ``modules`` unsharded, staying so across forwards; resharded with their settings restored.

    On exit ``reset_iter_state`` on each root reshards every group and forgets the forwards run
    inside (rank 0's alone), which would otherwise change the next backward's prefetch order there.
    """
    roots = _roots(modules)
    for root in roots:  # what the first forward through it would do, on every rank alike
        root._get_fsdp_state()._lazy_init()
    states = [module._get_fsdp_state() for module in modules]
    saved_auto = [state._auto_reshard_after_forward for state in states]
    groups = [group for state in states for group in state._fsdp_param_groups]
    saved_mesh = [group.post_forward_mesh_info for group in groups]
    for module in modules:
        module.set_reshard_after_forward(False, recurse=False)
        module.unshard()
    try:
        yield
    finally:
        for root in roots:
            root.reset_iter_state()
        for state, auto in zip(states, saved_auto):
            state._auto_reshard_after_forward = auto
        for group, mesh in zip(groups, saved_mesh):
            group.post_forward_mesh_info = mesh
