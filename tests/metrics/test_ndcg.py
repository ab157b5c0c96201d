"""multi_positive_ndcg equals sklearn's and torchmetrics' NDCG row by row, and keeps NDCG's invariants."""

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import ndcg_score
from torchmetrics.functional.retrieval import retrieval_normalized_dcg

from bump_pl.metrics.functional import multi_positive_ndcg


def _sklearn_rows(scores: torch.Tensor, relevant: torch.Tensor, k: int | None) -> np.ndarray:
    rel, sc = relevant.double().numpy(), scores.double().numpy()
    return np.array([ndcg_score(rel[i : i + 1], sc[i : i + 1], k=k) for i in range(len(sc))])


def _torchmetrics_rows(scores: torch.Tensor, relevant: torch.Tensor, k: int | None) -> torch.Tensor:
    return torch.stack([retrieval_normalized_dcg(scores[i], relevant[i], top_k=k) for i in range(len(scores))])


@pytest.mark.parametrize("k", [None, 1, 3, 7, 50])
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize("graded", [False, True])
def test_equals_sklearn_and_torchmetrics_row_by_row(k, ties, graded):
    gen = torch.Generator().manual_seed(hash((k, ties, graded)) % 2**31)
    q, c = 40, 13
    # Integer-valued scores from a small range give many ties; continuous ones give none.
    scores = torch.randint(0, 4, (q, c), generator=gen).float() if ties else torch.randn(q, c, generator=gen)
    relevant = torch.randint(0, 4, (q, c), generator=gen).float() if graded else torch.rand(q, c, generator=gen) < 0.3
    relevant[:3] = 0  # rows without any relevant candidate
    ours = multi_positive_ndcg(scores, relevant, k)
    np.testing.assert_allclose(ours.numpy(), _sklearn_rows(scores, relevant, k), atol=1e-6)
    torch.testing.assert_close(ours, _torchmetrics_rows(scores, relevant, k), atol=1e-5, rtol=0)
    assert ours[:3].tolist() == [0.0, 0.0, 0.0]  # the documented rule, shared by both references


def test_hand_computed_values():
    d = lambda i: 1 / math.log2(i + 1)  # noqa: E731  discount of position i
    scores = torch.tensor([[0.9, 0.8, 0.7, 0.1], [0.9, 0.8, 0.7, 0.1], [0.5, 0.5, 0.1, 0.0]])
    relevant = torch.tensor([[0, 1, 0, 1], [1, 1, 0, 0], [1, 0, 0, 0]], dtype=torch.bool)
    expected = [
        (d(2) + d(4)) / (d(1) + d(2)),  # positives at ranks 2 and 4
        1.0,  # positives lead
        (d(1) + d(2)) / 2,  # the positive ties with a negative for ranks 1-2: mean discount
    ]
    torch.testing.assert_close(multi_positive_ndcg(scores, relevant), torch.tensor(expected))
    # k=1: only position 1 counts; a positive at rank 2 earns nothing, a tie for rank 1 earns half.
    torch.testing.assert_close(multi_positive_ndcg(scores, relevant, k=1), torch.tensor([0.0, 1.0, 0.5]))


def test_single_candidate_and_float64():
    out = multi_positive_ndcg(torch.tensor([[0.3], [0.3]], dtype=torch.float64), torch.tensor([[True], [False]]))
    assert out.dtype == torch.float64
    assert out.tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    ("scores", "relevant", "k", "message"),
    [
        (torch.zeros(2, 3), torch.zeros(2, 4), None, "must both be"),
        (torch.zeros(3), torch.zeros(3), None, "must both be"),
        (torch.zeros(2, 3), torch.zeros(2, 3), 0, "k must be"),
        (torch.zeros(2, 3), -torch.ones(2, 3), None, "non-negative"),
        (torch.tensor([[0.0, float("nan"), float("inf")]]), torch.ones(1, 3), None, "2 non-finite"),
        (torch.zeros(2, 3, dtype=torch.long), torch.zeros(2, 3), None, "floating point"),
    ],
)
def test_bad_input_raises_one_clear_error(scores, relevant, k, message):
    with pytest.raises(ValueError, match=message):
        multi_positive_ndcg(scores, relevant, k)


_rows = st.integers(1, 6).flatmap(
    lambda c: st.tuples(
        st.lists(st.floats(-100, 100, allow_nan=False, width=32), min_size=c, max_size=c),
        st.lists(st.integers(0, 3), min_size=c, max_size=c),
    )
)


@settings(max_examples=150, deadline=None)
@given(row=_rows, k=st.one_of(st.none(), st.integers(1, 7)))
def test_property_in_unit_interval(row, k):
    scores, relevant = torch.tensor([row[0]]), torch.tensor([row[1]], dtype=torch.float32)
    value = float(multi_positive_ndcg(scores, relevant, k))
    assert -1e-6 <= value <= 1 + 1e-6
    if not any(row[1]):
        assert value == 0.0


@settings(max_examples=150, deadline=None)
@given(row=_rows, k=st.one_of(st.none(), st.integers(1, 7)))
def test_property_one_when_relevant_lead(row, k):
    relevant = torch.tensor([row[1]]) > 0
    # Every relevant candidate scores strictly above every other one.
    scores = torch.tensor([row[0]]).clamp(-1, 1) + 10.0 * relevant
    expected = 1.0 if relevant.any() else 0.0
    assert float(multi_positive_ndcg(scores, relevant, k)) == pytest.approx(expected, abs=1e-6)


@settings(max_examples=150, deadline=None)
@given(row=_rows, k=st.one_of(st.none(), st.integers(1, 7)))
def test_property_invariant_under_increasing_transform(row, k):
    scores, relevant = torch.tensor([row[0]], dtype=torch.float64), torch.tensor([row[1]], dtype=torch.float64)
    transformed = torch.atan(scores / 50.0) * 3.0 + 7.0  # strictly increasing
    # Rounding can merge two distinct tiny scores into one value; the property is about the real map.
    assume(torch.unique(scores).numel() == torch.unique(transformed).numel())
    torch.testing.assert_close(multi_positive_ndcg(transformed, relevant, k), multi_positive_ndcg(scores, relevant, k))
