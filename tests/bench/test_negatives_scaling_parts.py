"""bench/negatives_scaling.py: its synthetic population, pair counts, agreement figures, and rank 0's
judge phase on the tiny models (hybrid with every negative equals global; fewer pairs otherwise;
the sampled tail's sweep)."""

import random
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from negatives_scaling import (  # noqa: E402
    MODELS,
    WordRetriever,
    agreement,
    chosen_rows,
    main,
    population,
    rank_zero_judge_phase,
    sampled_rows,
    scored_pairs,
)

from bump_pl.metrics.functional import multi_positive_ndcg  # noqa: E402

from bump_pl.judges import CrossJudge, EmbeddingJudge  # noqa: E402
from bump_pl.judges.base import Retriever  # noqa: E402


def test_population_is_seeded_and_in_rollout_order():
    texts = population(3, 2, 4, random.Random(0))
    assert len(texts.profiles) == 6 and len(texts.items) == 12
    assert texts == population(3, 2, 4, random.Random(0))
    # a user's items and profiles share its taste words
    words = lambda text: set(text.replace("Enjoys ", "").replace(",", "").split())  # noqa: E731
    assert len(words(texts.profiles[0]) & words(texts.items[0])) >= 2


def test_scored_pairs_counts_positives_and_at_most_k_negatives_per_query():
    # U=2, G=4, K=2: profile queries 8 x (2 + min(k, others*2)), item queries 4 x (4 + min(k, others*4))
    assert scored_pairs(2, 1, 4, 2, 16) == 8 * 4 + 4 * 8 == 2 * 2 * 4 * 2 * 2  # every pair of one rank
    assert scored_pairs(2, 4, 4, 2, 16) == 8 * (2 + 14) + 4 * (4 + 16)
    assert scored_pairs(2, 4, 4, 2, 3) == 8 * 5 + 4 * 7


def test_agreement_of_identical_and_of_swapped_rewards():
    full = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert agreement(full.clone(), full, 2) == {"spearman": pytest.approx(1.0), "mean_abs_diff": 0.0,
                                                "advantage_sign_agreement": 1.0}
    swapped = agreement(torch.tensor([2.0, 1.0, 4.0, 3.0]), full, 2)
    assert swapped["spearman"] == pytest.approx(1 - 6 * 4 / (4 * 15))  # each rank off by one
    assert swapped["mean_abs_diff"] == 1.0 and swapped["advantage_sign_agreement"] == 0.0
    assert torch.isnan(torch.tensor(agreement(torch.full((4,), 0.5), full, 2)["spearman"]))  # a constant reward: undefined


def test_oracle_keeps_the_ndcg_while_fewer_than_k_negatives_outscore_the_positive():
    # one query, its positive in column 0; two negatives (0.9, 0.7) score above it
    full = torch.tensor([[0.5, 0.9, 0.7, 0.1, 0.2, 0.3]])
    positive = torch.tensor([[True, False, False, False, False, False]])
    expected = multi_positive_ndcg(full, positive)
    assert expected.item() == pytest.approx(0.5)  # rank 3: 1 / log2(4)
    kept = chosen_rows(full, full, positive, 2)  # the oracle: the judge's own ranking
    assert kept[0, :3].tolist() == full[0, :3].tolist() and bool((kept[0, 3:] < 0.5).all())
    torch.testing.assert_close(multi_positive_ndcg(kept, positive), expected)
    # k=1 drops the 0.7 negative below the positive: rank 2 instead of 3
    assert multi_positive_ndcg(chosen_rows(full, full, positive, 1), positive).item() == pytest.approx(1 / torch.log2(torch.tensor(3.0)).item())


@pytest.fixture(scope="module")
def tiny_judges():
    return CrossJudge("tiny-random-llama"), EmbeddingJudge("tiny-random-encoder", pooling="mean")


def test_rank_zero_hybrid_with_every_negative_is_global(tiny_judges):
    texts = population(4, 2, 1, random.Random(1))
    row = rank_zero_judge_phase(*tiny_judges, texts, users=2, world=2, group=2, heldout=1, k=16)
    assert row["global_pairs"] == row["hybrid_pairs"] == 2 * 2 * 2 * 4 * 1
    assert (row["spearman"], row["mean_abs_diff"], row["advantage_sign_agreement"]) == (pytest.approx(1.0), 0.0, 1.0)
    assert (row["oracle_spearman"], row["oracle_mean_abs_diff"]) == (pytest.approx(1.0), 0.0)
    assert row["chance_hybrid"] == row["chance_global"]


def test_rank_zero_hybrid_with_few_negatives_scores_fewer_pairs_at_a_higher_chance(tiny_judges):
    texts = population(8, 2, 1, random.Random(1))
    row = rank_zero_judge_phase(*tiny_judges, texts, users=2, world=4, group=2, heldout=1, k=1, sweep=(1, 16),
                                tails=((1, 1), (0, 16)), draws=3)
    assert row["hybrid_pairs"] == 4 * (1 + 1) + 2 * (2 + 1) < row["global_pairs"] == 2 * 2 * 2 * 8
    assert row["chance_hybrid"] > row["chance_global"]
    # hybrid rebuilt from the global scores is the hybrid the judge scored, so the sweep at k reproduces it
    assert row["hybrid_from_global_max_diff"] < 1e-5
    at_k, every = row["sweep"]
    assert at_k["k"] == 1 and at_k["hybrid_pairs"] == row["hybrid_pairs"]
    assert at_k["spearman"] == pytest.approx(row["spearman"]) and at_k["mean_abs_diff"] == pytest.approx(row["mean_abs_diff"], abs=1e-6)
    assert at_k["oracle_mean_abs_diff"] == pytest.approx(row["oracle_mean_abs_diff"])
    # k = 16 covers every negative (7 items, 14 profiles): both are global
    assert (every["mean_abs_diff"], every["oracle_mean_abs_diff"], every["hybrid_pairs"]) == (0.0, 0.0, row["global_pairs"])
    assert -1.0 <= row["spearman"] <= 1.0 and 0.0 <= row["advantage_sign_agreement"] <= 1.0
    tail, drawn_all = row["sampled"]
    assert (tail["k"], tail["m"], tail["hybrid_pairs"]) == (1, 1, 4 * (1 + 2) + 2 * (2 + 2))
    assert (drawn_all["mean_abs_diff"], drawn_all["hybrid_pairs"]) == (0.0, row["global_pairs"])  # every negative drawn


def test_sampled_rows_keep_the_scored_and_drawn_and_copy_drawn_scores_elsewhere():
    full = torch.tensor([[0.5, 0.9, 0.7, 0.1, 0.2, 0.3]])
    positive = torch.tensor([[True, False, False, False, False, False]])
    ranking = torch.tensor([[0.0, 0.0, 0.0, 0.0, 0.0, 1.0]])  # the retriever's hardest: column 5
    keys = torch.tensor([[0.0, 0.3, 0.9, 0.1, 0.5, 0.0]])  # the draw's order: columns 3, 1, 4, 2
    assert torch.equal(sampled_rows(full, ranking, positive, 1, 2, keys), full[:, [0, 1, 1, 3, 3, 5]])
    assert torch.equal(sampled_rows(full, ranking, positive, 1, 4, keys), full)


def test_word_retriever_is_a_retriever_of_shared_words():
    retriever = WordRetriever()
    assert isinstance(retriever, Retriever) and "competent" in MODELS
    vectors = retriever.encode(["Enjoys jazz, rock", "jazz rock", "chess tea", "JAZZ"], "profile_to_item", "query")
    similarity = vectors @ vectors.T
    assert similarity[0, 1].item() == pytest.approx(2 / (3**0.5 * 2**0.5))  # 2 shared words of 3 and 2
    assert similarity[1, 2].item() == 0.0 and similarity[3, 1].item() == pytest.approx(1 / 2**0.5)  # case-blind
    torch.testing.assert_close(vectors.norm(dim=1), torch.ones(4))


@pytest.mark.parametrize(("flags", "message"), [(["--worlds", "1", "--users", "1"], "--users * W >= 2"),
                                                (["--group-size", "1"], "--group-size must be >= 2"),
                                                (["--sweep-k", "8", "0"], "--sweep-k >= 1"),
                                                (["--sweep-sampled", "8"], "K+M pairs with K >= 0 and M >= 1"),
                                                (["--sweep-sampled", "a+b"], "--sweep-sampled takes K+M pairs of ints")])
def test_bad_flags_exit_with_one_clear_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
