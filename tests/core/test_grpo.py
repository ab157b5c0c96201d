"""GRPO: advantages by hand, the loss against a per-token Python loop, the policy gradient, exact dropping."""

import math

import numpy as np
import pytest
import torch

from bump_pl.core.grpo import (
    GRPOSettings,
    group_advantages,
    grpo_loss,
    grpo_stats,
    loss_weights,
    rollout_keep,
    zero_std_groups,
)

EPS_LOW, EPS_HIGH, BETA = 0.2, 0.28, 0.05
OBJECTIVE = ("beta", "epsilon_low", "epsilon_high", "loss_type", "importance_sampling_level")


def _loss(logps, old, advantages, mask, **kwargs):
    """``grpo_loss`` with the objective's keywords gathered into its ``GRPOSettings``."""
    settings = GRPOSettings(**{k: kwargs.pop(k) for k in OBJECTIVE if k in kwargs})
    return grpo_loss(logps, old, advantages, mask, settings, **kwargs)


def _stats(logps, old, advantages, mask, **kwargs):
    """``grpo_stats`` with the objective's keywords gathered into its ``GRPOSettings``."""
    settings = GRPOSettings(**{k: kwargs.pop(k) for k in OBJECTIVE if k in kwargs})
    return grpo_stats(logps, old, advantages, mask, settings, **kwargs)


def _keep(flat, truncated, **kwargs):
    return rollout_keep(flat, truncated, GRPOSettings(**kwargs))


def test_group_advantages_by_hand():
    rewards = torch.tensor([1.0, 2.0, 3.0, 0.5, 0.5, 0.5])
    # group 1: mean 2, Bessel std 1; group 2: no spread
    torch.testing.assert_close(group_advantages(rewards, 3, eps=0.0)[:3], torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(group_advantages(rewards, 3)[3:], torch.zeros(3))
    torch.testing.assert_close(group_advantages(rewards, 3, "none"), torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]))
    batch_std = float(np.std(rewards.numpy(), ddof=1))
    torch.testing.assert_close(
        group_advantages(rewards, 3, "batch", eps=1e-4),
        torch.tensor([-1.0, 0.0, 1.0, 0.0, 0.0, 0.0]) / (batch_std + 1e-4),
    )


@pytest.mark.parametrize(
    ("rewards", "group_size", "scale", "message"),
    [
        (torch.zeros(6), 4, "group", "dividing N=6"),
        (torch.zeros(6), 1, "group", "int >= 2"),
        (torch.zeros(2, 3), 3, "group", "1-D"),
        (torch.zeros(6), 3, "mean", "scale must be"),
    ],
)
def test_group_advantages_bad_input(rewards, group_size, scale, message):
    with pytest.raises(ValueError, match=message):
        group_advantages(rewards, group_size, scale)


def test_zero_std_groups_tolerates_batching_noise_only():
    rewards = torch.tensor([0.3, 0.3 + 1e-7, 0.3, 0.1, 0.9, 0.1, 0.0, 0.0, 0.0])
    assert zero_std_groups(rewards, 3).tolist() == [True, False, True]
    assert zero_std_groups(rewards, 3, atol=0.0).tolist() == [False, False, True]


def _inputs(seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    n, t = 6, 5
    logps = -torch.rand(n, t, generator=gen) * 2
    # old log-probs off by up to +-0.6 nats: ratios from ~0.55 to ~1.8, so both clip sides are hit
    old = logps + (torch.rand(n, t, generator=gen) - 0.5) * 1.2
    ref = logps + (torch.rand(n, t, generator=gen) - 0.5) * 0.8
    advantages = torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, -2.0])
    lengths = torch.tensor([5, 3, 1, 4, 5, 2])
    mask = torch.arange(t)[None, :] < lengths[:, None]
    # padding garbage must not leak into the loss or its gradient
    logps, old, ref = (torch.where(mask, x, torch.tensor(-math.inf)) for x in (logps, old, ref))
    return logps, old, ref, advantages, mask


def _loop_loss(logps, old, ref, advantages, mask, loss_type, keep, max_len, level="token", tokens_all_ranks=None, world=1):
    """Per-token reference, written out with Python scalars."""
    n, t = logps.shape
    rows = [i for i in range(n) if keep[i]]
    per_seq, total, tokens = [], 0.0, 0
    for i in rows:
        seq_sum, seq_tokens = 0.0, 0
        real = [s for s in range(t) if mask[i, s]]
        # GSPO: one ratio per sequence, the geometric mean of its token ratios
        seq_ratio = math.exp(sum(float(logps[i, s]) - float(old[i, s]) for s in real) / len(real))
        for s in range(t):
            if not mask[i, s]:
                continue
            ratio = seq_ratio if level == "sequence" else math.exp(float(logps[i, s]) - float(old[i, s]))
            a = float(advantages[i])
            clipped = min(max(ratio, 1 - EPS_LOW), 1 + EPS_HIGH)
            term = -min(ratio * a, clipped * a)
            delta = float(ref[i, s]) - float(logps[i, s])
            term += BETA * (math.exp(delta) - delta - 1)
            seq_sum, seq_tokens = seq_sum + term, seq_tokens + 1
        per_seq.append(seq_sum / max(seq_tokens, 1))
        total, tokens = total + seq_sum, tokens + seq_tokens
    if loss_type == "grpo":
        return sum(per_seq) / n  # TRL: the mean over every sequence of the batch, dropped ones too
    if loss_type == "bnpo":
        return total / tokens
    if loss_type == "dapo":
        return total / ((tokens if tokens_all_ranks is None else tokens_all_ranks) / world)
    return total / (n * max_len)  # TRL's dr_grpo: batch size * max completion length, a constant


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_loss_knobs_equal_per_token_loop(loss_type, level):
    """GSPO's sequence ratio and dapo's all-ranks token normaliser (an injected count of 40 tokens
    over 2 ranks), against the loop; and the gradient still splits by rows."""
    logps, old, ref, advantages, mask = _inputs(seed=4)
    keep = torch.tensor([True, True, False, True, True, True])
    kwargs = dict(ref_logps=ref, beta=BETA, epsilon_low=EPS_LOW, epsilon_high=EPS_HIGH, loss_type=loss_type,
                  max_new_tokens=8, keep=keep, importance_sampling_level=level, tokens_all_ranks=40.0, world_size=2)
    loss = _loss(logps, old, advantages, mask, **kwargs)
    expected = _loop_loss(logps, old, ref, advantages, mask, loss_type, keep, 8, level, 40.0, 2)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    if level == "sequence":  # the sequence ratio differs from the token ratios, so the two knobs differ
        token_level = _loss(logps, old, advantages, mask, **{**kwargs, "importance_sampling_level": "token"})
        assert abs(float(token_level) - float(loss)) > 1e-4
    whole = logps.clone().requires_grad_(True)
    _loss(whole, old, advantages, mask, **kwargs).backward()
    chunked = torch.zeros_like(logps)
    for rows in (torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])):
        part = logps[rows].clone().requires_grad_(True)
        _loss(part, old, advantages, mask, rows=rows, **kwargs).backward()
        chunked[rows] = part.grad
    torch.testing.assert_close(chunked, whole.grad, rtol=1e-6, atol=1e-7)


def test_dapo_without_a_global_count_is_bnpo_on_one_rank():
    logps, old, ref, advantages, mask = _inputs(seed=5)
    dapo = _loss(logps, old, advantages, mask, loss_type="dapo")
    assert float(dapo) == pytest.approx(float(_loss(logps, old, advantages, mask, loss_type="bnpo")), rel=1e-6)


def test_rollout_keep_drops_flat_groups_and_truncated_completions():
    flat = torch.tensor([False, True, False])  # G = 2: rollouts 2, 3 belong to a flat group
    truncated = torch.tensor([False, False, False, True, True, False])
    both = _keep(flat, truncated, drop_zero_std_groups=True, mask_truncated_completions=True)
    assert both.tolist() == [True, True, False, False, False, True]
    only_truncated = _keep(flat, truncated, drop_zero_std_groups=False, mask_truncated_completions=True)
    assert only_truncated.tolist() == [True, True, True, False, False, True]
    assert _keep(flat, truncated, drop_zero_std_groups=False, mask_truncated_completions=False) is None


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo", "dapo"])
def test_masked_truncation_gives_truncated_rows_zero_loss_weight(loss_type):
    logps, old, ref, advantages, mask = _inputs(seed=6)
    truncated = torch.tensor([True, False, False, False, True, False])
    keep = _keep(torch.zeros(3, dtype=torch.bool), truncated, drop_zero_std_groups=False, mask_truncated_completions=True)
    weights = loss_weights(mask, keep, loss_type, 8)
    assert (weights[truncated] == 0).all() and (weights[~truncated][mask[~truncated]] > 0).all()
    loss = _loss(logps, old, advantages, mask, ref_logps=ref, beta=BETA, epsilon_low=EPS_LOW, epsilon_high=EPS_HIGH,
                     loss_type=loss_type, max_new_tokens=8, keep=keep)
    assert float(loss) == pytest.approx(_loop_loss(logps, old, ref, advantages, mask, loss_type, keep, 8), rel=1e-5)


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo"])
@pytest.mark.parametrize("drop", [False, True])
def test_loss_equals_per_token_loop(loss_type, drop):
    logps, old, ref, advantages, mask = _inputs()
    keep = torch.tensor([True, False, True, True, False, True]) if drop else torch.ones(6, dtype=torch.bool)
    loss = _loss(
        logps, old, advantages, mask, ref_logps=ref, beta=BETA, epsilon_low=EPS_LOW, epsilon_high=EPS_HIGH,
        loss_type=loss_type, max_new_tokens=8, keep=keep if drop else None,
    )
    stats = _stats(logps, old, advantages, mask, epsilon_low=EPS_LOW, epsilon_high=EPS_HIGH, keep=keep if drop else None)
    expected = _loop_loss(logps, old, ref, advantages, mask, loss_type, keep, 8)
    assert float(loss) == pytest.approx(expected, rel=1e-5)
    # the stats, counted over kept real tokens
    real = mask & keep[:, None]
    ratio = torch.exp(torch.where(real, logps - old, torch.zeros(())))
    low = ((ratio < 1 - EPS_LOW) & (advantages[:, None] < 0) & real).sum().item()
    high = ((ratio > 1 + EPS_HIGH) & (advantages[:, None] > 0) & real).sum().item()
    assert low > 0 and high > 0  # both clip sides are exercised
    tokens = real.sum().item()
    assert float(stats.clip_low) == pytest.approx(low / tokens)
    assert float(stats.clip_high) == pytest.approx(high / tokens)
    assert float(stats.clip_region) == pytest.approx((low + high) / tokens)
    assert float(stats.ratio) == pytest.approx(float(ratio[real].mean()), rel=1e-6)
    assert all(not v.requires_grad and v.ndim == 0 for v in vars(stats).values())


@pytest.mark.parametrize(("loss_type", "kept_share"), [("grpo", 4 / 6), ("bnpo", 1.0), ("dr_grpo", 4 / 6)])
def test_dropped_rows_still_count_in_the_per_sequence_normalisers(loss_type, kept_share):
    """As TRL: ``grpo`` and ``dr_grpo`` divide by every sequence of the batch, so dropping 2 of 6
    rows scales the rest's loss by 4/6 instead of raising their weight; ``bnpo`` divides by the
    kept tokens, so dropping equals removing the rows."""
    logps, old, ref, advantages, mask = _inputs(seed=1)
    keep = torch.tensor([True, True, False, False, True, True])
    kwargs = dict(ref_logps=ref, beta=BETA, loss_type=loss_type, max_new_tokens=5)
    dropped = _loss(logps, old, advantages, mask, keep=keep, **kwargs)
    kwargs["ref_logps"] = ref[keep]
    removed = _loss(logps[keep], old[keep], advantages[keep], mask[keep], **kwargs)
    assert float(removed) != 0.0
    assert float(dropped) == pytest.approx(kept_share * float(removed), rel=1e-5)  # float32 summation order


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo"])
def test_loss_is_row_separable(loss_type):
    """Over disjoint row chunks, the shares' gradients and values add up to the whole loss's."""
    logps, old, ref, advantages, mask = _inputs(seed=3)
    keep = torch.tensor([True, True, False, True, True, True])
    kwargs = dict(ref_logps=ref, beta=BETA, epsilon_low=EPS_LOW, epsilon_high=EPS_HIGH, loss_type=loss_type, keep=keep)
    whole = logps.clone().requires_grad_(True)
    whole_loss = _loss(whole, old, advantages, mask, **kwargs)
    whole_loss.backward()
    chunked, shares = torch.zeros_like(logps), 0.0
    for rows in (torch.tensor([0, 1]), torch.tensor([2, 3, 4]), torch.tensor([5])):
        part = logps[rows].clone().requires_grad_(True)
        share = _loss(part, old, advantages, mask, rows=rows, **kwargs)
        share.backward()
        chunked[rows], shares = part.grad, shares + float(share.detach())
    assert whole.grad.abs().sum() > 0
    torch.testing.assert_close(chunked, whole.grad, rtol=1e-6, atol=1e-7)
    assert shares == pytest.approx(float(whole_loss), rel=1e-5)  # the shares add up to the whole loss


def test_nothing_kept_gives_zero_loss_that_still_backpropagates():
    logps, old, _, advantages, mask = _inputs()
    logps.requires_grad_(True)
    nothing = torch.zeros(6, dtype=torch.bool)
    loss = _loss(logps, old, advantages, mask, keep=nothing)
    stats = _stats(logps.detach(), old, advantages, mask, keep=nothing)
    loss.backward()
    assert float(loss.detach()) == 0.0 and float(stats.clip_region) == 0.0
    assert torch.equal(logps.grad, torch.zeros_like(logps))


@pytest.mark.parametrize("loss_type", ["grpo", "bnpo", "dr_grpo"])
def test_on_policy_gradient_is_the_policy_gradient(loss_type):
    logps, _, ref, advantages, mask = _inputs(seed=2)
    logps = logps.clone().requires_grad_(True)
    loss = _loss(
        logps, logps.detach(), advantages, mask, ref_logps=ref, beta=BETA, loss_type=loss_type,
        max_new_tokens=7,
    )
    stats = _stats(logps.detach(), logps.detach(), advantages, mask)
    loss.backward()
    weights = mask.float()
    n_seq, tokens = mask.shape[0], mask.sum(dim=1, keepdim=True).float()
    normaliser = {"grpo": tokens * n_seq, "bnpo": weights.sum(), "dr_grpo": torch.tensor(n_seq * 7.0)}[loss_type]
    safe_ref = torch.where(mask, ref, torch.zeros(()))
    safe_logps = torch.where(mask, logps.detach(), torch.zeros(()))
    # d/dlogp of -ratio*A at ratio 1 is -A; of the k3 KL it is 1 - exp(ref - logp)
    expected = (-advantages[:, None] + BETA * (1 - torch.exp(safe_ref - safe_logps))) * weights / normaliser
    assert logps.grad.abs().sum() > 0
    torch.testing.assert_close(logps.grad, expected)
    assert float(stats.ratio) == 1.0 and float(stats.clip_region) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": 0.1}, "beta > 0 needs ref_logps"),
        ({"loss_type": "sum"}, "loss_type must be"),
        ({"epsilon_low": 1.0}, "epsilon_low"),
        ({"keep": torch.ones(5, dtype=torch.bool)}, r"keep must be \[N\] = \[6\]"),
        ({"ref_logps": torch.zeros(6, 4)}, "ref_logps must match"),
        ({"rows": torch.tensor([0, 1])}, r"logps must be \[len\(rows\), T\] = \[2, 5\]"),
        ({"loss_type": "dr_grpo", "max_new_tokens": 3}, "max_new_tokens=3 is shorter"),
    ],
)
def test_loss_bad_input(kwargs, message):
    logps, old, _, advantages, mask = _inputs()
    with pytest.raises(ValueError, match=message):
        _loss(logps, old, advantages, mask, **kwargs)
