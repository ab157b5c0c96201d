"""MultiPositiveNDCG: the mean of per-query NDCG, the same however updates are split over processes."""

import math

import pytest
import torch

from bump_pl.metrics import MultiPositiveNDCG, multi_positive_ndcg
from gloo_ranks import run_on_ranks


def _batches(seed: int = 0) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    # Unequal batch sizes: a mean of batch means would differ from the per-query mean.
    return [
        (torch.randint(0, 5, (q, 9), generator=gen).float(), torch.rand(q, 9, generator=gen) < 0.3)
        for q in (3, 11, 1, 6)
    ]


def _per_query_mean(batches, k=None) -> float:
    return float(torch.cat([multi_positive_ndcg(s, r, k) for s, r in batches]).double().mean())


@pytest.mark.parametrize("k", [None, 2])
def test_mean_over_queries_across_updates(k):
    metric = MultiPositiveNDCG(k=k)
    for scores, relevant in _batches():
        metric.update(scores, relevant)
    assert float(metric.compute()) == pytest.approx(_per_query_mean(_batches(), k), abs=1e-12)
    assert int(metric.num_queries) == 21


def test_split_over_two_simulated_processes_merges_to_the_same_mean():
    batches = _batches()
    whole, left, right = MultiPositiveNDCG(), MultiPositiveNDCG(), MultiPositiveNDCG()
    for i, (scores, relevant) in enumerate(batches):
        whole.update(scores, relevant)
        (left if i % 2 else right).update(scores, relevant)
    left.merge_state(right)
    assert float(left.compute()) == pytest.approx(float(whole.compute()), abs=1e-12)


def test_compute_before_update_is_nan_and_bad_k_raises():
    with pytest.warns(UserWarning):  # torchmetrics warns that compute ran before update
        assert math.isnan(float(MultiPositiveNDCG().compute()))
    with pytest.raises(ValueError, match="k must be"):
        MultiPositiveNDCG(k=0)


def _worker(rank: int, result_file: str) -> None:
    metric = MultiPositiveNDCG()
    for i, (scores, relevant) in enumerate(_batches()):
        if i % 2 == rank:
            metric.update(scores, relevant)
    value = float(metric.compute())
    if rank == 0:
        with open(result_file, "w") as handle:
            handle.write(repr(value))


@pytest.mark.slow
def test_real_two_process_gloo_sync(tmp_path):
    result = tmp_path / "result.txt"
    run_on_ranks(_worker, str(result))
    assert float(result.read_text()) == pytest.approx(_per_query_mean(_batches()), abs=1e-12)
