"""BumpModule end to end on tiny models: what trains, what is logged, how ranks share negatives."""

import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.multiprocessing as mp
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import bump_pl.module
import bump_pl.rl.policy_update
from bump_pl.cli import build_cli
from bump_pl.core.reward import RewardSettings
from bump_pl.judges import EmbeddingJudge
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer
from bump_pl.module import BumpModule
from gloo_ranks import run_on_ranks

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
TRAIN_SCALARS = {
    "train/loss", "train/reward", "train/reward_profile_to_item", "train/reward_item_to_profile", "train/reward_chance",
    "train/reward_std", "train/frac_reward_zero_std", "train/kl", "train/clip_ratio/low", "train/clip_ratio/high",
    "train/clip_ratio/region", "train/completion_length/mean", "train/completion_length/max",
    "train/truncated_frac", "train/lr", "train/entropy", "train/copy_rate",
}
VAL_SCALARS = {
    f"val/ndcg{source}{direction}"
    for source in ("", "_history_budget", "_history_full")
    for direction in ("", "_profile_to_item", "_item_to_profile")
} | {"val/ranking_users"}


@pytest.fixture(scope="module")
def tiny_fit(tmp_path_factory):
    """One tiny `bump fit` (4 optimizer steps), with the policy's weights before and after."""
    root = tmp_path_factory.mktemp("fit")
    old_cwd, old_cache = os.getcwd(), os.environ.get("BUMP_PL_CACHE")
    os.chdir(root)
    os.environ["BUMP_PL_CACHE"] = str(root / "cache")
    try:
        cli = build_cli(["--config", str(TINY)], run=False)
        before = {name: p.detach().clone() for name, p in cli.model.policy.named_parameters()}
        cli.trainer.validate(cli.model, datamodule=cli.datamodule)  # what `bump fit` does first
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    finally:
        os.chdir(old_cwd)
        os.environ.pop("BUMP_PL_CACHE") if old_cache is None else os.environ.update(BUMP_PL_CACHE=old_cache)
    return cli, before, root


def test_fit_updates_lora_weights_only(tiny_fit):
    cli, before, _ = tiny_fit
    after = dict(cli.model.policy.named_parameters())
    lora = [name for name in after if "lora_" in name]
    base = [name for name in after if "lora_" not in name]
    assert lora and base
    assert all(not after[name].requires_grad for name in base)
    assert any(not torch.equal(before[name], after[name]) for name in lora)
    assert all(torch.equal(before[name], after[name]) for name in base)
    assert cli.trainer.global_step == 4


def test_tokenizer_is_linked_from_the_policy_model(tiny_fit):
    cli, _, _ = tiny_fit
    assert cli.config["data"]["tokenizer"] == cli.config["model"]["model"] == "tiny-random-llama"
    assert cli.datamodule.tokenizer.get_vocab() == cli.model.tokenizer.get_vocab()  # resolved in setup


def test_tensorboard_holds_every_documented_scalar(tiny_fit):
    cli, _, root = tiny_fit
    events = EventAccumulator(str(root / cli.trainer.logger.log_dir))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert TRAIN_SCALARS <= tags, TRAIN_SCALARS - tags
    assert VAL_SCALARS <= tags, VAL_SCALARS - tags
    # validation ran before the first step (the baseline) and after optimizer steps 2 and 4
    # (Lightning logs it at the index of the batch that just trained: 1 and 3)
    assert [event.step for event in events.Scalars("val/ndcg")] == [0, 1, 3]
    assert "train/samples/text_summary" in events.Tags()["tensors"]
    chance = events.Scalars("train/reward_chance")[0].value
    assert 0 < chance < 1


def test_checkpoint_keeps_only_adapter_weights(tiny_fit):
    cli, _, root = tiny_fit
    last = root / cli.trainer.checkpoint_callback.last_model_path
    checkpoint = torch.load(last, map_location="cpu", weights_only=False)
    state = checkpoint["state_dict"]
    assert state and all("lora_" in name for name in state)
    assert checkpoint["bump_ranking_layout"] == {"world_size": 1, "users_per_batch": cli.datamodule.users_per_batch}


# ------------------------------------------------------------------------------ cross-rank negatives
U, G, K = 2, 2, 2


def _texts(first_user: int):
    profiles = [f"user {u} likes topic {u % 3} variant {g}" for u in range(first_user, first_user + U) for g in range(G)]
    heldout = [[f"a review about topic {u % 3} number {k}" for k in range(K)] for u in range(first_user, first_user + U)]
    return profiles, heldout


def _module(measure: str = "ndcg") -> BumpModule:
    judge = EmbeddingJudge(model=tiny_random_encoder(seed=3), tokenizer=tiny_tokenizer())
    return BumpModule(model="tiny-random-llama", judge=judge, group_size=G, reward=RewardSettings(measure=measure))


def _reward(module: BumpModule, profiles: list[str], heldout: list[list[str]], users: list[str]):
    """The module's bidirectional reward of ``profiles`` (``G`` per user), as its training step takes it."""
    rollouts = SimpleNamespace(texts=profiles, group_size=G)  # the fields the reward reads
    return module._bidirectional_reward(rollouts, SimpleNamespace(heldout=heldout, user_ids=users))


def _rank_rewards(rank: int, measure: str, out: dict) -> None:
    profiles, heldout = _texts(rank * U)
    users = [f"u{u}" for u in range(rank * U, rank * U + U)]
    out[rank] = _reward(_module(measure), profiles, heldout, users)


def _rank_advantages(rank: int, rewards: torch.Tensor, out: dict) -> None:
    from bump_pl.core.grpo import GRPOSettings

    module = BumpModule(judge=EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer()), group_size=G,
                        grpo=GRPOSettings(advantage_scale="batch"))
    out[rank] = module._advantages(rewards.chunk(2)[rank])


def test_batch_scaled_advantages_use_the_std_of_every_ranks_rewards():
    from bump_pl.core.grpo import group_advantages

    # rank 0's rewards spread little, rank 1's a lot: a per-rank std would scale them differently
    rewards = torch.tensor([0.50, 0.52, 0.49, 0.51, 0.1, 0.9, 0.0, 1.0])
    out = mp.Manager().dict()
    run_on_ranks(_rank_advantages, rewards, out)
    single = group_advantages(rewards, G, scale="batch")
    torch.testing.assert_close(torch.cat([out[0], out[1]]), single)
    assert not torch.allclose(out[0], group_advantages(rewards[:4], G, scale="batch"))  # not rank 0's own std


@pytest.mark.parametrize("measure", ["ndcg", "margin"])
def test_two_ddp_ranks_get_the_rewards_of_one_process_over_all_users(measure):
    out = mp.Manager().dict()
    run_on_ranks(_rank_rewards, measure, out)
    profiles, heldout = [], []
    for rank in (0, 1):
        rank_profiles, rank_heldout = _texts(rank * U)
        profiles += rank_profiles
        heldout += rank_heldout
    single = _reward(_module(measure), profiles, heldout, [f"u{u}" for u in range(2 * U)])
    for field in ("total", "profile_to_item", "item_to_profile"):
        gathered = torch.cat([getattr(out[0], field), getattr(out[1], field)])
        torch.testing.assert_close(gathered, getattr(single, field))
    torch.testing.assert_close(out[0].chance, single.chance)
    assert (float(single.chance) == 0.0) == (measure == "margin")  # the margin's chance is 0, NDCG's above


def test_checkpoint_exports_a_merged_model_that_reproduces_the_policy(tiny_fit, tmp_path):
    from bump_pl.models import load_causal_lm

    cli, _, root = tiny_fit
    restored = BumpModule.load_from_checkpoint(root / cli.trainer.checkpoint_callback.last_model_path)
    restored.export(str(tmp_path / "merged"), merge=True)
    merged = load_causal_lm(str(tmp_path / "merged")).eval()
    ids = torch.tensor([[5, 6, 7, 8, 9, 10]])
    with torch.no_grad():
        expected = cli.model.policy(input_ids=ids).logits  # tiny config: no dropout, mode irrelevant
        torch.testing.assert_close(merged(input_ids=ids).logits, expected, atol=1e-4, rtol=1e-4)


def test_policy_trains_in_train_mode(tiny_fit):
    cli, _, _ = tiny_fit
    assert cli.model.policy.training and all(module.training for module in cli.model.policy.modules())



def _one_sgd_step(
    root: Path, grad_budget_tokens: int | str, *args: str
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], list]:
    """LoRA weights before and after one SGD step of the tiny config (no dropout, so both budgets
    draw the same rollouts and apply the same update), and each policy_update call's
    ``(budget_tokens, tokens in the batch, whether the rollouts kept their prompts' KV cache)``."""
    calls = []
    original = bump_pl.module.policy_update

    def recording_update(policy, batch, settings, *, budget_tokens, **kwargs):
        calls.append((budget_tokens, batch.prompt_ids.numel() + batch.completion_ids.numel(), batch.prompt_kv is not None))
        return original(policy, batch, settings, budget_tokens=budget_tokens, **kwargs)

    old_cwd = os.getcwd()
    os.chdir(root)
    bump_pl.module.policy_update = recording_update
    try:
        cli = build_cli(
            [
                "--config", str(TINY), "--trainer.max_steps=1", "--trainer.limit_val_batches=0",
                "--trainer.logger=false", "--trainer.callbacks=[]", "--trainer.enable_checkpointing=false",
                "--optimizer=torch.optim.SGD", "--optimizer.lr=1.0", f"--model.grad_budget_tokens={grad_budget_tokens}",
                *args,
            ],
            run=False,
        )
        lora = lambda: {n: p.detach().clone() for n, p in cli.model.policy.named_parameters() if "lora_" in n}  # noqa: E731
        before = lora()
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    finally:
        bump_pl.module.policy_update = original
        os.chdir(old_cwd)
    return before, lora(), calls


@pytest.mark.parametrize("budget", [64, "auto"])  # 64: many segments and row chunks; auto: 256 on CPU
def test_memory_bounded_update_equals_the_one_pass_update(tmp_path, monkeypatch, budget):
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    before, one_pass, _ = _one_sgd_step(tmp_path, 0)
    _, chunked, calls = _one_sgd_step(tmp_path, budget)
    expected = 256 if budget == "auto" else budget
    assert [used for used, *_ in calls] == [expected]
    assert calls[0][1] > expected  # the batch does not fit: the chunked path ran
    assert any(not torch.equal(one_pass[name], before[name]) for name in before)  # the step moved the adapter
    for name, weight in one_pass.items():
        torch.testing.assert_close(chunked[name], weight, atol=1e-6, rtol=1e-5)


def test_prompt_gradients_off_moves_the_adapter_otherwise_through_the_cli(tmp_path, monkeypatch):
    """``--model.prompt_gradients=false`` reaches the update: the same rollouts (no dropout, same
    seed), a different step (the prompts' share of the gradient is left out), the prompts' keys and
    values taken from the rollouts' prefill."""
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    before, exact, exact_calls = _one_sgd_step(tmp_path, 0)
    _, approximate, calls = _one_sgd_step(tmp_path, 0, "--model.prompt_gradients=false")
    assert calls == [(0, calls[0][1], True)] and exact_calls == [(0, calls[0][1], False)]
    _, _, mini_batches = _one_sgd_step(tmp_path, 0, "--model.prompt_gradients=false", "--model.grpo.steps_per_generation=2")
    assert [kept for *_, kept in mini_batches] == [False, False]  # the second one follows an optimizer step
    moved = [name for name in before if not torch.equal(approximate[name], before[name])]
    assert moved and any(not torch.allclose(approximate[n], exact[n], atol=1e-6) for n in moved)


def test_the_update_is_clipped_to_max_grad_norm(tmp_path, monkeypatch):
    # one SGD step of lr 1: the adapter moves by exactly the clipped gradient, of global norm 1e-3
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    before, after, _ = _one_sgd_step(tmp_path, 0, "--model.max_grad_norm=0.001")
    step = torch.linalg.vector_norm(torch.stack([(after[n] - before[n]).norm() for n in before]))
    assert step.item() == pytest.approx(1e-3, rel=1e-3)


def test_deepspeed_clipping_other_than_max_grad_norm_is_refused_at_setup():
    from lightning.pytorch.strategies import DeepSpeedStrategy

    strategy = DeepSpeedStrategy.__new__(DeepSpeedStrategy)  # reading its config needs no deepspeed install
    strategy.config = {"gradient_clipping": 0.5}
    module = BumpModule(judge=EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer()), grad_budget_tokens=0)
    module._trainer = SimpleNamespace(precision="bf16-mixed", strategy=strategy, gradient_clip_val=None)
    with pytest.raises(ValueError, match="max_grad_norm=1.0 but DeepSpeed clips at gradient_clipping=0.5"):
        module.setup("fit")
    strategy.config = {"gradient_clipping": 1.0}
    module.setup("fit")


def test_grad_budget_auto_is_the_default_and_resolves_at_fit_start():
    from lightning.pytorch import Trainer

    judge = EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer())
    auto, fixed = BumpModule(judge=judge), BumpModule(judge=judge, grad_budget_tokens=100)
    assert auto.hparams.grad_budget_tokens == "auto" and auto.grad_budget_tokens is None
    for module in (auto, fixed):
        module.trainer = Trainer(accelerator="cpu", devices=1, logger=False, precision="bf16-mixed")
        module.on_fit_start()
    assert auto.grad_budget_tokens == 256  # CPU: the small budget, also under bf16
    assert fixed.grad_budget_tokens == 100 and fixed.hparams.grad_budget_tokens == 100
    with pytest.raises(ValueError, match="model.grad_budget_tokens must be 'auto' or an int >= 0"):
        BumpModule(judge=judge, grad_budget_tokens=-1)


@pytest.mark.parametrize(
    ("precision", "budget", "refused"),
    [("16-mixed", 256, True), ("16-mixed", "auto", True), ("16-mixed", 0, False), ("bf16-mixed", 256, False),
     ("16-mixed", (256, False), False)],  # without prompt gradients no second pass pulls a scaled gradient
)
def test_gradient_scaler_with_memory_bounded_update_is_refused(precision, budget, refused):
    budget, prompt_gradients = budget if isinstance(budget, tuple) else (budget, True)
    module = BumpModule(judge=EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer()), grad_budget_tokens=budget,
                        prompt_gradients=prompt_gradients)
    module._trainer = SimpleNamespace(precision=precision, strategy=None)  # setup reads these two
    if refused:
        with pytest.raises(ValueError, match="16-mixed"):
            module.setup("fit")
    else:
        module.setup("fit")


# ------------------------------------------------------------------------------- off-policy math
def _recorded_fit(root: Path, args: list[str]) -> tuple:
    """A tiny fit with ``args`` (no validation, logger or callbacks); for every grpo_loss call, the
    number of rows and the largest |logps - old| over real tokens."""
    calls: list[tuple[int, float]] = []
    original = bump_pl.rl.policy_update.grpo_loss

    def recording_loss(logps, old_logps, advantages, mask, settings, **kwargs):
        gap = (logps.detach() - old_logps).abs().masked_fill(~mask.bool(), 0).max()
        calls.append((logps.shape[0], float(gap)))
        return original(logps, old_logps, advantages, mask, settings, **kwargs)

    old_cwd, old_cache = os.getcwd(), os.environ.get("BUMP_PL_CACHE")
    os.chdir(root)
    os.environ["BUMP_PL_CACHE"] = str(root / "cache")
    bump_pl.rl.policy_update.grpo_loss = recording_loss
    try:
        cli = build_cli(
            ["--config", str(TINY), "--trainer.limit_val_batches=0", "--trainer.logger=false", "--trainer.callbacks=[]",
             "--trainer.enable_checkpointing=false", "--model.grad_budget_tokens=0", *args],
            run=False,
        )
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    finally:
        bump_pl.rl.policy_update.grpo_loss = original
        os.chdir(old_cwd)
        os.environ.pop("BUMP_PL_CACHE") if old_cache is None else os.environ.update(BUMP_PL_CACHE=old_cache)
    return cli, calls


@pytest.fixture(scope="module")
def two_iteration_fit(tmp_path_factory):
    """The tiny config with LoRA dropout 0.05, num_iterations 2 and a linear LR schedule over
    4 optimizer steps, fitted for 4 optimizer steps; every grpo_loss call's largest |logps - old|."""
    cli, calls = _recorded_fit(
        tmp_path_factory.mktemp("mu2"),
        [
            "--trainer.max_steps=4", "--model.lora.dropout=0.05", "--model.grpo.num_iterations=2",
            "--lr_scheduler=torch.optim.lr_scheduler.LinearLR", "--lr_scheduler.start_factor=1.0",
            "--lr_scheduler.end_factor=0.1", "--lr_scheduler.total_iters=4",
        ],
    )
    return cli, [gap for _, gap in calls]


def test_ratio_is_one_on_the_first_of_several_iterations_with_lora_dropout(two_iteration_fit):
    cli, gaps = two_iteration_fit
    assert cli.model.hparams.lora["dropout"] == 0.05 and cli.trainer.global_step == 4
    assert len(gaps) == 4  # 2 batches of rollouts x 2 iterations, one loss each (one-pass update)
    assert gaps[0] <= 1e-5 and gaps[2] <= 1e-5  # first iteration: the policy that sampled
    assert gaps[1] > 1e-4 and gaps[3] > 1e-4  # second iteration: the policy moved


def test_lr_scheduler_steps_with_every_optimizer_step(two_iteration_fit):
    cli, _ = two_iteration_fit
    # LinearLR from 1.0 to 0.1 of lr 0.001 over 4 steps: after 4 optimizer steps it is at its end
    assert cli.trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-4)


def test_steps_per_generation_steps_once_per_mini_batch_of_users(tmp_path):
    # 3 users a batch, 3 mini-batches: 3 optimizer steps of one user (G = 2 rollouts) each
    cli, calls = _recorded_fit(tmp_path, ["--trainer.max_steps=3", "--model.grpo.steps_per_generation=3"])
    assert cli.trainer.global_step == 3
    assert [rows for rows, _ in calls] == [2, 2, 2]
    assert calls[0][1] <= 1e-5  # the first mini-batch still sees the sampling policy


def test_history_baselines_can_be_switched_off():
    judge = EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer())
    assert set(BumpModule(judge=judge).val_ndcg) == {"profile", "history_budget", "history_full"}
    off = BumpModule(judge=judge, reward=RewardSettings(history_baselines=False))
    assert set(off.val_ndcg) == set(off.test_ndcg) == {"profile"}


def test_sample_profiles_reach_a_csv_logger(tmp_path):
    import json

    from lightning.pytorch.loggers import CSVLogger

    module = BumpModule(judge=EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer()), log_samples_every_n_steps=2)
    logger = CSVLogger(save_dir=str(tmp_path), name="csv", version=0)
    module._trainer = SimpleNamespace(loggers=[logger], global_step=4)  # _log_samples reads these two
    batch = SimpleNamespace(user_ids=["a", "b", "c"])  # G = 4: rows of users a and b
    rollouts = SimpleNamespace(texts=[f"profile {r}" for r in range(12)], group_size=4)
    module._log_samples(batch, rollouts, torch.arange(12, dtype=torch.float32) / 8)
    (line,) = (Path(logger.log_dir) / "text.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "tag": "train/samples", "step": 4, "columns": ["user", "reward", "profile"],
        "rows": [[user, r / 8, f"profile {r}"] for r, user in enumerate("aaaabbbb")],
    }


def test_full_fine_tuning_reference_follows_the_module_and_stays_out_of_optimizer_and_checkpoint():
    from bump_pl.core.grpo import GRPOSettings

    module = BumpModule(
        judge=EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer()), lora=None, grpo=GRPOSettings(beta=0.1)
    )
    frozen = module.reference.frozen
    assert frozen is not None and next(frozen.parameters()).dtype == torch.float32
    module.to(torch.float64)
    assert {p.dtype for p in module.policy.parameters()} == {p.dtype for p in frozen.parameters()} == {torch.float64}
    module.to("meta")  # a device move reaches the copy too (meta: the device CPU-only CI can move to)
    assert {p.device.type for p in frozen.parameters()} == {"meta"} == {p.device.type for p in module.policy.parameters()}
    assert not any(p is q for p in module.parameters() for q in frozen.parameters())  # not the optimizer's
    assert not [name for name in module.state_dict() if "reference" in name or "frozen" in name]  # nor the checkpoint's
    assert all(not p.requires_grad for p in frozen.parameters())


def test_the_profile_prompt_is_the_modules_and_the_data_module_builds_prompts_with_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    cli = build_cli(["--config", str(TINY), "--model.profile_prompt.instruction", "List genres and rating habits."], run=False)
    assert cli.datamodule.profile_prompt is cli.model.profile_prompt  # linked at instantiation
    assert cli.model.hparams.profile_prompt["instruction"] == "List genres and rating habits."  # kept in checkpoints
    cli.datamodule.setup("fit")
    batch = next(iter(cli.datamodule.val_dataloader()))
    assert all(prompt.endswith("List genres and rating habits.\n\nProfile:") for prompt in batch.prompts)
