"""selected_log_softmax equals log_softmax + gather (and the entropy formula), in value and gradient."""

import math

import pytest
import torch

from bump_pl.rl.selected_log_softmax import selected_log_softmax


def _reference(logits, tokens, temperature):
    """The expression the fused function replaces, in float64."""
    log_p = torch.log_softmax(logits.double() / temperature, -1)
    return log_p.gather(-1, tokens[:, None]).squeeze(-1), -(log_p.exp() * log_p).sum(-1)


def _case(seed=0, rows=7, vocab=11):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, vocab, generator=gen) * 3, torch.randint(0, vocab, (rows,), generator=gen)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("chunk_rows", [1, 3, None])
def test_values_and_entropy_equal_the_float64_expression(temperature, chunk_rows):
    logits, tokens = _case()
    logps, entropy = selected_log_softmax(logits, tokens, temperature, with_entropy=True, chunk_rows=chunk_rows)
    expected_logps, expected_entropy = _reference(logits, tokens, temperature)
    assert logps.dtype == entropy.dtype == torch.float32
    torch.testing.assert_close(logps.double(), expected_logps, atol=1e-5, rtol=0)
    torch.testing.assert_close(entropy.double(), expected_entropy, atol=1e-5, rtol=0)
    alone, none = selected_log_softmax(logits, tokens, temperature, chunk_rows=chunk_rows)
    assert none is None and torch.equal(alone, logps)


def test_hand_values():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [50.0, 0.0, 0.0, 0.0]])  # uniform; nearly one-hot
    logps, entropy = selected_log_softmax(logits, torch.tensor([2, 0]), with_entropy=True)
    torch.testing.assert_close(logps, torch.tensor([-math.log(4.0), 0.0]), atol=1e-6, rtol=0)
    torch.testing.assert_close(entropy, torch.tensor([math.log(4.0), 0.0]), atol=1e-6, rtol=0)
    # temperature 2 flattens [2 ln 3, 0]: probabilities 3/4 and 1/4
    logps, _ = selected_log_softmax(torch.tensor([[2 * math.log(3.0), 0.0]]), torch.tensor([1]), 2.0)
    assert logps.item() == pytest.approx(math.log(0.25), abs=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 0.7])
@pytest.mark.parametrize("chunk_rows", [1, 3, None])
def test_gradient_equals_autograd_of_the_expression(temperature, chunk_rows):
    logits, tokens = _case(seed=1)
    weights = torch.randn(logits.shape[0], generator=torch.Generator().manual_seed(2))
    fused = logits.clone().requires_grad_()
    logps, entropy = selected_log_softmax(fused, tokens, temperature, with_entropy=True, chunk_rows=chunk_rows)
    (logps * weights).sum().backward()
    reference = logits.double().requires_grad_()
    (_reference(reference, tokens, temperature)[0] * weights.double()).sum().backward()
    assert not entropy.requires_grad
    torch.testing.assert_close(fused.grad.double(), reference.grad, atol=1e-6, rtol=0)
    # each row's gradient sums to 0 over the vocabulary (softmax's normalisation)
    torch.testing.assert_close(fused.grad.sum(-1), torch.zeros(logits.shape[0]), atol=1e-6, rtol=0)


def test_bfloat16_logits_compute_in_float32_and_get_a_bfloat16_gradient():
    logits, tokens = _case(seed=3)
    low = logits.bfloat16().requires_grad_()
    logps, _ = selected_log_softmax(low, tokens)
    logps.sum().backward()
    expected = logits.bfloat16().float().requires_grad_()
    _reference(expected, tokens, 1.0)[0].sum().backward()
    assert logps.dtype == torch.float32 and low.grad.dtype == torch.bfloat16
    torch.testing.assert_close(logps.double(), _reference(logits.bfloat16().float(), tokens, 1.0)[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(low.grad.float(), expected.grad.float(), atol=1e-2, rtol=0)


def test_bad_inputs_are_refused():
    logits, tokens = _case()
    with pytest.raises(ValueError, match="temperature must be > 0"):
        selected_log_softmax(logits, tokens, 0.0)
    with pytest.raises(ValueError, match=r"logits must be \[M, V\] and tokens \[M\]"):
        selected_log_softmax(logits[None], tokens)
    with pytest.raises(ValueError, match=r"logits must be \[M, V\] and tokens \[M\]"):
        selected_log_softmax(logits, tokens[:-1])
    with pytest.raises(ValueError, match="chunk_rows must be >= 1"):
        selected_log_softmax(logits, tokens, chunk_rows=0)
