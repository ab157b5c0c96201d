"""clip_policy_gradients: clips by global norm per strategy; DeepSpeed's value must match, never a no-op."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.strategies import DeepSpeedStrategy

from bump_pl.strategies.clipping import check_deepspeed_clipping, clip_policy_gradients
from gloo_ranks import run_on_ranks


class _Linear(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)


def _grad_norm(parameters) -> float:
    return torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in parameters])).item()


def test_single_device_gradients_are_clipped_to_the_global_norm():
    module = _Linear()
    module.trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    module.layer(torch.randn(5, 4) * 10).pow(2).sum().backward()
    before = [p.grad.clone() for p in module.parameters()]
    assert _grad_norm(module.parameters()) > 1.0
    clip_policy_gradients(module, optimizer, max_norm=0.5)
    assert _grad_norm(module.parameters()) == pytest.approx(0.5, rel=1e-4)
    ratio = [(p.grad / b).flatten() for p, b in zip(module.parameters(), before)]
    torch.testing.assert_close(torch.cat(ratio), torch.full_like(torch.cat(ratio), ratio[0][0].item()))  # one scale


def _deepspeed(config: dict | None) -> DeepSpeedStrategy:
    strategy = DeepSpeedStrategy.__new__(DeepSpeedStrategy)  # no deepspeed install needed to read its config
    strategy.config = config
    return strategy


def test_deepspeed_must_clip_at_max_grad_norm_itself():
    trainer = SimpleNamespace(strategy=_deepspeed({"gradient_clipping": 1.0}), gradient_clip_val=None)
    check_deepspeed_clipping(trainer, 1.0)
    with pytest.raises(ValueError, match=r"max_grad_norm=0.5 but DeepSpeed clips at gradient_clipping=1.0"):
        check_deepspeed_clipping(trainer, 0.5)
    unset = SimpleNamespace(strategy=_deepspeed({}), gradient_clip_val=None)
    with pytest.raises(ValueError, match="deepspeed.yaml"):
        clip_policy_gradients(SimpleNamespace(trainer=unset), optimizer=None, max_norm=1.0)
    check_deepspeed_clipping(unset, 0.0)  # both off


def test_deepspeed_overlay_clips_at_the_module_default():
    import inspect
    import json

    import yaml

    from bump_pl.module import BumpModule

    overlay = yaml.safe_load(open("configs/strategy/deepspeed.yaml"))
    config = json.load(open(overlay["trainer"]["strategy"]["init_args"]["config"]))
    assert config["gradient_clipping"] == inspect.signature(BumpModule).parameters["max_grad_norm"].default
    assert config["zero_optimization"]["stage"] == 2


def test_fsdp_overlay_keeps_original_parameters_for_lora():
    from lightning.pytorch.strategies import FSDPStrategy

    assert FSDPStrategy(sharding_strategy="FULL_SHARD", state_dict_type="full").kwargs["use_orig_params"] is True


def _fsdp2_worker(rank: int, world: int, out: str) -> None:
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    reference = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Linear(16, 4))
    sharded = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Linear(16, 4))
    sharded.load_state_dict(reference.state_dict())
    mesh = init_device_mesh("cpu", (world,))
    for layer in sharded:
        fully_shard(layer, mesh=mesh)
    fully_shard(sharded, mesh=mesh)
    inputs = [torch.randn(3, 8, generator=torch.Generator().manual_seed(r)) * 5 for r in range(world)]
    sharded(inputs[rank]).pow(2).sum().backward()  # FSDP2 averages gradients over ranks
    (sum(reference(x).pow(2).sum() for x in inputs) / world).backward()
    torch.nn.utils.clip_grad_norm_(reference.parameters(), 0.1)
    module = SimpleNamespace(trainer=SimpleNamespace(strategy=object()))
    clip_policy_gradients(module, torch.optim.SGD(sharded.parameters(), lr=0.1), max_norm=0.1)
    full = [p.grad.full_tensor() for p in sharded.parameters()]
    if rank == 0:
        torch.save({"sharded": full, "reference": [p.grad for p in reference.parameters()]}, out)


@pytest.mark.slow
def test_fsdp2_sharded_gradients_are_clipped_by_the_global_norm(tmp_path):
    out = str(tmp_path / "grads.pt")
    run_on_ranks(_fsdp2_worker, 2, out)
    grads = torch.load(out)
    assert _grad_norm_list(grads["reference"]) == pytest.approx(0.1, rel=1e-4)
    for sharded, reference in zip(grads["sharded"], grads["reference"]):
        torch.testing.assert_close(sharded, reference, atol=1e-6, rtol=1e-4)


def _grad_norm_list(grads: list[torch.Tensor]) -> float:
    return torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
