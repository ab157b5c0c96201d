"""In-batch scores under DDP equal one process holding every rank's users (gloo, 2 processes), in the
global, the hybrid and the negative-users modes; hybrid scores are the judge's over positives + k
hardest negatives, negative-user scores the judge's over the drawn pairs, each pair scored once."""

import pytest
import torch
import torch.multiprocessing as mp

from bump_pl.core.reward import bidirectional_reward, same_user_mask
from bump_pl.judges.base import Retriever
from bump_pl.judges.in_batch import HybridNegatives, gather_chosen_texts, in_batch_scores, text_keys
from bump_pl.metrics.functional import multi_positive_ndcg
from gloo_ranks import run_on_ranks

G, K, U = 3, 2, 2  # rollouts per user, held-out items per user, users per rank


class CharJudge:
    """A deterministic toy judge: dot product of letter counts (optionally direction-dependent)."""

    def __init__(self, symmetric: bool):
        self.symmetric = symmetric
        self.device = torch.device("cpu")

    def to(self, device):
        return self

    def _counts(self, texts):
        return torch.tensor([[text.count(c) for c in "abcdefgh"] for text in texts], dtype=torch.float32)

    def score(self, queries, candidates, direction):
        scores = self._counts(queries) @ self._counts(candidates).T
        return scores if self.symmetric or direction == "profile_to_item" else scores + 0.1 * len(queries[0])


class CharRetriever:
    """Vectors of letter counts, reversed-weighted so its ranking differs from CharJudge's."""

    symmetric = True

    def to(self, device):
        return self

    def encode(self, texts, direction, side):
        return torch.tensor([[text.count(c) * (8 - i) for i, c in enumerate("abcdefgh")] for text in texts],
                            dtype=torch.float32)


def _texts(first_user: int, num_users: int):
    letters = "abcdefgh"
    profiles = [letters[(u + g) % 8] * (g + 1) + letters[u % 8] for u in range(first_user, first_user + num_users) for g in range(G)]
    items = [letters[u % 8] * (k + 2) for u in range(first_user, first_user + num_users) for k in range(K)]
    return profiles, items


def _worker(rank: int, symmetric: bool, out: dict, hard_negatives: int | None = None, sampled: int = 0,
            negative_users: int = 0) -> None:
    profiles, items = _texts(rank * U, U)
    hybrid = None if hard_negatives is None else HybridNegatives(CharRetriever(), hard_negatives, sampled)
    scores = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=U, hybrid=hybrid, negative_users=negative_users)
    out[rank] = (scores.profile_to_item, scores.item_to_profile, scores.num_users, scores.first_user)
    out[f"scored{rank}"] = scores.scored
    if hybrid is not None and not sampled:  # only the texts some rank chose cross ranks
        chosen = torch.zeros(2 * U * K, dtype=torch.bool)
        chosen[rank * U * K] = True  # rank 0 wants item 0, rank 1 wants item U*K (the other's first)
        out[f"texts{rank}"] = gather_chosen_texts(items, chosen)


@pytest.mark.parametrize("symmetric", [True, False])
def test_two_ranks_see_the_same_global_scores_as_one_process(symmetric):
    out = mp.Manager().dict()
    run_on_ranks(_worker, symmetric, out)
    profiles, items = _texts(0, 2 * U)
    single = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=2 * U)
    for rank in (0, 1):
        p2i, i2p, num_users, first_user = out[rank]
        torch.testing.assert_close(p2i, single.profile_to_item)
        torch.testing.assert_close(i2p, single.item_to_profile)
        assert (num_users, first_user) == (2 * U, rank * U)


def test_local_negatives_use_only_this_ranks_users():
    profiles, items = _texts(0, U)
    scores = in_batch_scores(CharJudge(False), profiles, items, num_users=U, global_negatives=False)
    assert scores.profile_to_item.shape == (U * G, U * K) and scores.item_to_profile.shape == (U * K, U * G)
    assert (scores.num_users, scores.first_user) == (U, 0)


def _hybrid(k: int, m: int = 0) -> HybridNegatives:
    assert isinstance(CharRetriever(), Retriever)
    return HybridNegatives(CharRetriever(), k, m)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize(("k", "m"), [(2 * G * K, 0), (1, 2 * G * K), (0, 2 * G * K)])
def test_hybrid_with_every_negative_equals_global_exactly(symmetric, k, m):
    profiles, items = _texts(0, 3)
    full = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=3)
    hybrid = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=3, hybrid=_hybrid(k, m))
    assert torch.equal(hybrid.profile_to_item, full.profile_to_item)
    assert torch.equal(hybrid.item_to_profile, full.item_to_profile)
    sizes = dict(num_users=3, group_size=G, heldout_per_user=K)
    expected = bidirectional_reward(full.profile_to_item, full.item_to_profile, **sizes)
    got = bidirectional_reward(hybrid.profile_to_item, hybrid.item_to_profile, **sizes, hard_negatives=hybrid.hard_negatives,
                               sampled_negatives=hybrid.sampled_negatives)
    for name in expected._fields:  # the chance levels by another formula: equal to rounding
        check = torch.equal if not name.startswith("chance") else lambda a, b: torch.allclose(a, b, rtol=0, atol=1e-6)
        assert check(getattr(got, name), getattr(expected, name)), name


def test_hybrid_scores_positives_and_the_retrievers_hardest_negatives_only():
    num_users, k = 4, 2
    profiles, items = _texts(0, num_users)
    judge, retriever = CharJudge(False), CharRetriever()
    scores = in_batch_scores(judge, profiles, items, num_users=num_users, hybrid=_hybrid(k))
    assert scores.hard_negatives == k
    full = {"profile_to_item": judge.score(profiles, items, "profile_to_item"),
            "item_to_profile": judge.score(items, profiles, "item_to_profile")}
    for direction, queries, candidates, per_query, per_candidate in (
        ("profile_to_item", profiles, items, G, K), ("item_to_profile", items, profiles, K, G)
    ):
        dense = getattr(scores, direction)
        positive = same_user_mask(0, num_users, per_query, num_users, per_candidate)
        retrieval = retriever.encode(queries, direction, "query") @ retriever.encode(candidates, direction, "candidate").T
        for q in range(len(queries)):
            negatives = [c for c in retrieval[q].argsort(descending=True, stable=True).tolist() if not positive[q, c]][:k]
            scored = positive[q].nonzero().flatten().tolist() + negatives
            assert torch.equal(dense[q, scored], full[direction][q, scored])  # the judge's scores, untouched
            rest = [c for c in range(len(candidates)) if c not in scored]
            assert bool((dense[q, rest] < dense[q, scored].min()).all())  # ranked after every scored one
            # NDCG over the dense row is the one over the scored list alone
            torch.testing.assert_close(
                multi_positive_ndcg(dense[q][None], positive[q][None]),
                multi_positive_ndcg(full[direction][q, scored][None], positive[q, scored][None]),
            )


@pytest.mark.parametrize(("k", "m"), [(2, 0), (1, 1)])
def test_hybrid_under_two_ranks_equals_one_process(k, m):
    out = mp.Manager().dict()
    run_on_ranks(_worker, False, out, k, m)
    profiles, items = _texts(0, 2 * U)
    single = in_batch_scores(CharJudge(False), profiles, items, num_users=2 * U, hybrid=_hybrid(k, m))
    full = in_batch_scores(CharJudge(False), profiles, items, num_users=2 * U)
    assert not torch.equal(single.item_to_profile, full.item_to_profile)  # some negatives were not scored
    for rank in (0, 1):
        p2i, i2p, num_users, first_user = out[rank]
        assert torch.equal(p2i, single.profile_to_item) and torch.equal(i2p, single.item_to_profile)
        assert (num_users, first_user) == (2 * U, rank * U)
        if not m:  # both ranks receive the union of what they chose, and nothing else
            assert out[f"texts{rank}"] == [items[0]] + [None] * (U * K - 1) + [items[U * K]] + [None] * (U * K - 1)


def test_sampled_hybrid_keeps_the_scored_pairs_and_imputes_the_rest_from_the_judges_sampled_scores():
    num_users, k, m = 4, 1, 2  # a profile has 6 negative items: 1 hard, 2 drawn, 3 imputed
    profiles, items = _texts(0, num_users)
    judge = CharJudge(False)
    scores = in_batch_scores(judge, profiles, items, num_users=num_users, hybrid=_hybrid(k, m))
    assert (scores.hard_negatives, scores.sampled_negatives) == (k, m)  # they set the estimator's chance level
    plain = in_batch_scores(judge, profiles, items, num_users=num_users, hybrid=_hybrid(k))
    full = judge.score(profiles, items, "profile_to_item")
    keys = text_keys(profiles, len(items))
    for q in range(len(profiles)):
        hard = plain.profile_to_item[q] > plain.profile_to_item[q].min()  # positives and the k hardest
        assert int(hard.sum()) == K + k
        row = scores.profile_to_item[q]
        assert torch.equal(row[hard], full[q, hard])
        tail = (~hard).nonzero().flatten()
        drawn = tail[keys[q, tail].argsort()[:m]]  # the m lowest keys of the unscored
        assert torch.equal(row[drawn], full[q, drawn])
        assert set(row[tail].tolist()) == set(full[q, drawn].tolist())  # the rest copy the drawn scores


def test_text_keys_depend_on_the_query_text_only():
    alone = text_keys(["bb"], 5)
    together = text_keys(["a", "bb", "a"], 5)
    assert torch.equal(together[1], alone[0]) and torch.equal(together[0], together[2])
    assert not torch.equal(together[0], together[1])
    assert torch.equal(text_keys(["bb"], 8)[0, :5], alone[0])  # a longer ranking extends the same draw
    assert bool(((alone >= 0) & (alone < 1)).all())


def test_a_ranking_of_one_user_is_refused_where_it_is_built():
    profiles, items = _texts(0, 1)
    with pytest.raises(ValueError, match="data.users_per_batch=1 on 1 rank.*negatives='global'.*no negatives"):
        in_batch_scores(CharJudge(False), profiles, items, num_users=1)
    with pytest.raises(ValueError, match="negatives='hybrid'"):
        in_batch_scores(CharJudge(False), profiles, items, num_users=1, hybrid=_hybrid(1))


def test_hybrid_negatives_come_from_the_reward_settings_and_load_the_retriever_once():
    from bump_pl.core.reward import RewardSettings
    from bump_pl.judges import EmbeddingJudge
    from bump_pl.judges.in_batch import hybrid_negatives

    assert hybrid_negatives(RewardSettings()) is None and hybrid_negatives(RewardSettings(negatives="local")) is None
    settings = RewardSettings(negatives="hybrid", hard_negatives=3, sampled_negatives=5, retriever="tiny-random-encoder")
    hybrid = hybrid_negatives(settings)
    assert isinstance(hybrid.retriever, EmbeddingJudge) and (hybrid.hard_negatives, hybrid.sampled_negatives) == (3, 5)
    assert hybrid_negatives(settings).retriever is hybrid.retriever


class CountingJudge(CharJudge):
    """CharJudge that counts the (query, candidate) pairs it scores."""

    def __init__(self, symmetric: bool):
        super().__init__(symmetric)
        self.pairs = 0

    def score(self, queries, candidates, direction):
        self.pairs += len(queries) * len(candidates)
        return super().score(queries, candidates, direction)


@pytest.mark.parametrize("symmetric", [True, False])
def test_negative_users_score_the_drawn_pairs_and_a_symmetric_judge_each_once(symmetric):
    users = 6
    profiles, items = _texts(0, users)
    full = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=users)
    judge = CountingJudge(symmetric)
    sampled = in_batch_scores(judge, profiles, items, num_users=users, negative_users=2)
    scored = sampled.scored
    assert scored.shape == (users * G, users * K) and scored.sum(dim=1).tolist() == [3 * K] * (users * G)
    assert torch.equal(sampled.profile_to_item, torch.where(scored, full.profile_to_item, 0.0))
    assert torch.equal(sampled.item_to_profile, torch.where(scored.T, full.item_to_profile, 0.0))
    assert judge.pairs == int(scored.sum()) * (1 if symmetric else 2)  # half the 6 users' pairs, per direction
    again = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=users, negative_users=2)
    assert torch.equal(again.scored, scored)  # the draw is the texts'
    with pytest.raises(ValueError, match=r"^in_batch_scores: hybrid and negative_users both choose the negatives"):
        in_batch_scores(judge, profiles, items, num_users=users, hybrid=_hybrid(1), negative_users=2)


def test_negative_users_under_two_ranks_equal_one_process():
    out = mp.Manager().dict()
    run_on_ranks(_worker, True, out, None, 0, 2)
    profiles, items = _texts(0, 2 * U)
    single = in_batch_scores(CharJudge(True), profiles, items, num_users=2 * U, negative_users=2)
    assert not bool(single.scored.all())  # some pairs were not scored
    for rank in (0, 1):
        p2i, i2p, num_users, first_user = out[rank]
        assert torch.equal(p2i, single.profile_to_item) and torch.equal(i2p, single.item_to_profile)
        assert torch.equal(out[f"scored{rank}"], single.scored)
