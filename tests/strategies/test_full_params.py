"""full_parameters: whole parameters on rank 0 inside the block, shards outside, training unharmed;
and generation's LoRA fold (merged_lora) on such a policy: refused on shards, exact on whole weights.

Two gloo processes on CPU shard a small network (FSDP with one unit as Lightning's FSDPStrategy
wraps it, and FSDP2 ``fully_shard`` per layer plus the root), enter the context before any forward
(as a resumed fit's cache does), let rank 0 alone run repeated forwards (as profile generation does;
a collective there would time out), then train one SGD step on both ranks and compare with the
same step on an unsharded copy.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.distributed as dist
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.strategies import DeepSpeedStrategy

from bump_pl.models.merged_lora import merged_lora
from bump_pl.strategies.full_params import full_parameters
from gloo_ranks import run_on_ranks


def _net() -> torch.nn.Sequential:
    return torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4))


def _shard(kind: str, net: torch.nn.Module, world: int, layers: tuple[torch.nn.Module, ...] | None = None) -> torch.nn.Module:
    """``net`` sharded by FSDP (one unit, the wrapper returned) or FSDP2 (in place, per layer of
    ``layers`` (default: ``net``'s two linears) and root)."""
    if kind == "fsdp":
        from torch.distributed.fsdp import FullyShardedDataParallel

        return FullyShardedDataParallel(net, device_id=torch.device("cpu"), use_orig_params=True)
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh("cpu", (world,))
    for layer in layers or (net[0], net[2]):
        fully_shard(layer, mesh=mesh)
    return fully_shard(net, mesh=mesh)


def _local_numel(net: torch.nn.Module) -> int:
    """Parameter elements this rank holds (a DTensor's local shard)."""
    return sum((p.to_local() if hasattr(p, "to_local") else p).numel() for p in net.parameters())


def _spawn(worker, kind: str, tmp_path) -> dict:
    """Run ``worker(rank, 2, kind, out)`` on two gloo ranks; rank 0's report."""
    out = str(tmp_path / "report.pt")
    run_on_ranks(worker, 2, kind, out)
    return torch.load(out)


def _one_sgd_step_each(
    rank: int, world: int, sharded: tuple[torch.nn.Module, torch.nn.Module], reference: torch.nn.Module, trainer, report: dict
) -> None:
    """One SGD step of the sharded model (each rank its own batch; FSDP averages the gradients over
    ranks) and of ``reference`` on the ranks' batches averaged; ``report`` gets the network's whole
    trained parameters (rank 0) and the reference's."""
    model, net = sharded
    inputs = [torch.randn(3, 8, generator=torch.Generator().manual_seed(10 + r)) for r in range(world)]
    model(inputs[rank]).pow(2).sum().backward()
    torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1).step()
    (sum(reference(batch).pow(2).sum() for batch in inputs) / world).backward()
    torch.optim.SGD([p for p in reference.parameters() if p.requires_grad], lr=0.1).step()
    with full_parameters(trainer):
        if rank == 0:
            report["trained"] = [p.detach().clone() for p in net.parameters()]
        dist.barrier()
    report["reference_trained"] = [p.detach().clone() for p in reference.parameters()]


def _worker(rank: int, world: int, kind: str, out: str) -> None:
    torch.manual_seed(0)
    reference, net = _net(), _net()
    net.load_state_dict(reference.state_dict())
    model = _shard(kind, net, world)
    trainer = SimpleNamespace(strategy=SimpleNamespace(model=model))
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    report: dict = {"full_numel": sum(p.numel() for p in reference.parameters()), "outside": [_local_numel(net)]}
    report["reference"] = [p.detach().clone() for p in reference.parameters()]
    with torch.no_grad():
        report["reference_output"] = reference(x)
    with full_parameters(trainer):
        if rank == 0:  # rank 0 alone, several forwards: nothing may gather
            report["inside"] = [p.detach().clone() for p in net.parameters()]
            report["plain"] = all(not hasattr(p, "to_local") for p in net.parameters())
            with torch.no_grad():
                report["outputs"] = [net(x) for _ in range(3)]
        dist.barrier()
    report["outside"].append(_local_numel(net))
    _one_sgd_step_each(rank, world, (model, net), reference, trainer, report)
    if kind == "fsdp":  # nested units: refused on every rank instead of hanging
        nested = _net()
        nested[0] = _shard("fsdp", nested[0], world)
        try:
            with full_parameters(SimpleNamespace(strategy=SimpleNamespace(model=_shard("fsdp", nested, world)))):
                pass
        except ValueError as error:
            report["nested_error"] = str(error)
    if rank == 0:
        torch.save(report, out)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fsdp", "fsdp2"])
def test_rank_0_sees_full_correct_parameters_inside_and_shards_outside(kind: str, tmp_path) -> None:
    report = _spawn(_worker, kind, tmp_path)
    full = report["full_numel"]
    assert all(local < full for local in report["outside"]), (report["outside"], full)  # sharded before and after
    assert report["plain"]
    for inside, reference in zip(report["inside"], report["reference"], strict=True):
        assert torch.equal(inside, reference)
    for output in report["outputs"]:
        torch.testing.assert_close(output, report["reference_output"])
    for trained, reference in zip(report["trained"], report["reference_trained"], strict=True):
        torch.testing.assert_close(trained, reference, atol=1e-6, rtol=1e-5)
    if kind == "fsdp":
        assert "nested FSDP units" in report["nested_error"]


def _lora_net() -> torch.nn.Module:
    """``_net`` with a LoRA adapter on both linears whose ``B`` is random (not a no-op)."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    net = get_peft_model(_net(), LoraConfig(r=2, lora_alpha=4, target_modules=["0", "2"], lora_dropout=0.0))
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.3, generator=torch.Generator().manual_seed(3))
    return net


def _lora_worker(rank: int, world: int, kind: str, out: str) -> None:
    """Generation's fold on a sharded LoRA policy: refused on shards, done on rank 0's whole parameters."""
    reference, policy = _lora_net(), _lora_net()
    inner = policy.base_model.model
    model = _shard(kind, policy, world, layers=(inner[0], inner[2]))
    trainer = SimpleNamespace(strategy=SimpleNamespace(model=model))
    x = torch.randn(5, 8, generator=torch.Generator().manual_seed(1))
    report: dict = {}
    with torch.no_grad():
        report["reference_output"] = reference(x)
    with merged_lora(policy) as folded:  # between forwards every weight is a shard
        report["folded_sharded"] = folded
    with full_parameters(trainer):
        if rank == 0:
            whole = [p.detach().clone() for p in policy.parameters()]
            with merged_lora(policy) as folded, torch.no_grad():
                report["folded_whole"], report["output"] = folded, policy(x)
            report["restored"] = all(torch.equal(p, q) for p, q in zip(policy.parameters(), whole, strict=True))
        dist.barrier()
    _one_sgd_step_each(rank, world, (model, policy), reference, trainer, report)
    if rank == 0:
        torch.save(report, out)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["fsdp", "fsdp2"])
def test_generation_folds_lora_only_into_whole_weights_and_sharded_training_goes_on(kind: str, tmp_path) -> None:
    report = _spawn(_lora_worker, kind, tmp_path)
    assert report["folded_sharded"] is False
    assert report["folded_whole"] is True and report["restored"]
    torch.testing.assert_close(report["output"], report["reference_output"])
    for trained, reference in zip(report["trained"], report["reference_trained"], strict=True):
        torch.testing.assert_close(trained, reference, atol=1e-6, rtol=1e-5)


class _Linear(LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 3)


def test_a_plain_module_is_left_untouched() -> None:
    module = _Linear()
    trainer = Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.strategy.model = module
    before = {name: (p, p.detach().clone()) for name, p in module.named_parameters()}
    with full_parameters(trainer):
        inside = dict(module.named_parameters())
        output = module.layer(torch.ones(2, 4))
    assert {name: p for name, p in module.named_parameters()} == {name: p for name, (p, _) in before.items()}
    assert all(inside[name] is p for name, (p, _) in before.items())  # the same Parameter objects
    for name, (p, value) in before.items():
        assert torch.equal(p, value)
    torch.testing.assert_close(output, torch.ones(2, 4) @ before["layer.weight"][1].T + before["layer.bias"][1])


def test_deepspeed_zero_3_is_refused_and_zero_2_is_a_no_op() -> None:
    strategy = DeepSpeedStrategy.__new__(DeepSpeedStrategy)  # reading its config needs no deepspeed install
    strategy._model, strategy._lightning_module = None, None
    strategy.config = {"zero_optimization": {"stage": 3}}
    with pytest.raises(ValueError, match="ZeRO-3"), full_parameters(SimpleNamespace(strategy=strategy)):
        pass
    strategy.config = {"zero_optimization": {"stage": 2}}
    with full_parameters(SimpleNamespace(strategy=strategy)):
        pass
