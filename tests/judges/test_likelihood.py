"""LikelihoodJudge: PMI of an item with a profile; shared path == naive path == a hand-built forward,
empty profile scores 0, one matrix serves both directions, hybrid sets, checkpoint and DDP."""

import pytest
import torch
import torch.multiprocessing as mp

from bump_pl.judges import LikelihoodJudge
from bump_pl.judges.config import build_judge, judge_config
from bump_pl.judges.in_batch import HybridNegatives, in_batch_scores
from bump_pl.judges.likelihood import TEMPLATE
from bump_pl.models.tiny import tiny_random_llama, tiny_tokenizer
from gloo_ranks import run_on_ranks

PROFILES = ["enjoys slow-paced drama films and documentaries " * 3, "p", "likes action, rates harshly", ""]
ITEMS = ["Titanic (1997) (Drama): rated 5", "a long review of a nature documentary about whales: rated 2",
         "x: rated 3", "Die Hard (Action): rated 1", "Up: rated 4"]


def _text_logp(model, tokenizer, context: str, target: str) -> float:
    """``log p(target | context)`` from one unpadded forward (ByT5 is byte-level: pieces == whole)."""
    c = tokenizer(context, add_special_tokens=False)["input_ids"]
    t = tokenizer(target, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        log_p = torch.log_softmax(model(input_ids=torch.tensor([c + t])).logits[0].float(), dim=-1)
    return sum(log_p[len(c) + i - 1, token].item() for i, token in enumerate(t))


def _hand_pmi(model, tokenizer, profile: str, item: str, scored_after: str | None) -> float:
    head, rest = TEMPLATE.split("{profile}")
    middle = rest.replace("{item}", "")
    cut = 0 if scored_after is None else item.rfind(scored_after) + len(scored_after)
    given, target = item[:cut], item[cut:]
    return (_text_logp(model, tokenizer, head + profile + middle + given, target)
            - _text_logp(model, tokenizer, head + middle + given, target))


@pytest.fixture
def judge_pair(llama, tokenizer):
    def make(**kwargs):
        shared = LikelihoodJudge(llama, tokenizer=tokenizer, batch_size=3, max_pairs_per_chunk=4, pack_tokens=64, **kwargs)
        naive = LikelihoodJudge(llama, tokenizer=tokenizer, share_prefix=False, max_pairs_per_chunk=5, **kwargs)
        return shared, naive
    return make


@pytest.mark.parametrize("scored_after", [None, ": rated"])
def test_shared_path_equals_naive_path_equals_hand_built_pmi(judge_pair, llama, tokenizer, scored_after):
    shared, naive = judge_pair(scored_after=scored_after)
    fast = shared.score(PROFILES, ITEMS, "profile_to_item")
    assert fast.shape == (len(PROFILES), len(ITEMS)) and fast.dtype == torch.float32
    assert fast[:3].std() > 1e-3  # not a constant matrix
    torch.testing.assert_close(fast, naive.score(PROFILES, ITEMS, "profile_to_item"), atol=2e-4, rtol=0)
    for q in (0, 1, 2):
        for c in (0, 2, 4):
            expected = _hand_pmi(llama, tokenizer, PROFILES[q], ITEMS[c], scored_after)
            assert fast[q, c].item() == pytest.approx(expected, abs=2e-4)


def test_an_empty_profile_scores_zero_whatever_the_items_prior(judge_pair):
    shared, naive = judge_pair()
    for judge in (shared, naive):
        assert torch.equal(judge.score([""], ITEMS, "profile_to_item"), torch.zeros(1, len(ITEMS)))


def test_the_rating_span_is_scored_given_the_rest_of_the_item(judge_pair):
    whole, _ = judge_pair()
    rating, _ = judge_pair(scored_after=": rated")
    same_rating = ["Heat (Action): rated 4", "a different, much longer title here (Drama): rated 4"]
    scores = rating.score(["x", "y"], same_rating, "profile_to_item")
    whole_scores = whole.score(["x", "y"], same_rating, "profile_to_item")
    assert not torch.allclose(scores, whole_scores, atol=1e-3)  # the title's tokens are not scored
    with pytest.raises(ValueError, match=r"LikelihoodJudge: held-out item 'Heat' has no ': rated'"):
        rating.score(["x"], ["Heat"], "profile_to_item")


def test_one_matrix_serves_both_directions(judge_pair):
    shared, _ = judge_pair()
    assert LikelihoodJudge.symmetric
    forward = shared.score(PROFILES, ITEMS, "profile_to_item")
    torch.testing.assert_close(shared.score(ITEMS, PROFILES, "item_to_profile"), forward.T)


@pytest.mark.parametrize("direction", ["profile_to_item", "item_to_profile"])
def test_score_sets_equal_full_scores_where_scored_and_zero_elsewhere(judge_pair, direction):
    shared, naive = judge_pair(scored_after=": rated")
    queries, candidates = (PROFILES, ITEMS) if direction == "profile_to_item" else (ITEMS, PROFILES)
    scored = torch.rand(len(queries), len(candidates), generator=torch.Generator().manual_seed(0)) < 0.5
    scored[0] = False  # a query that reads nothing
    full = shared.score(queries, candidates, direction)
    for judge in (shared, naive):
        sets = judge.score_sets(queries, candidates, scored, direction)
        torch.testing.assert_close(sets, torch.where(scored, full, torch.zeros_like(full)), atol=2e-4, rtol=0)


def test_bad_settings_and_templates_are_refused_in_one_line(llama, tokenizer):
    with pytest.raises(ValueError, match="must end with {item}"):
        LikelihoodJudge(llama, tokenizer=tokenizer, template="{profile} then {item} and more")
    with pytest.raises(ValueError, match="exactly once"):
        LikelihoodJudge(llama, tokenizer=tokenizer, template="{item}")
    with pytest.raises(ValueError, match="scored_after must be a non-empty text"):
        LikelihoodJudge(llama, tokenizer=tokenizer, scored_after="")


def test_the_judge_is_rebuilt_from_its_checkpoint_config():
    judge = LikelihoodJudge("tiny-random-llama", scored_after=": rated", max_length=64, pack_tokens=32)
    config = judge_config(judge)
    assert config == {"class_path": "bump_pl.judges.LikelihoodJudge", "init_args": {**judge.init_args}}
    rebuilt = build_judge(config)
    assert isinstance(rebuilt, LikelihoodJudge) and rebuilt.scored_after == ": rated"
    torch.testing.assert_close(rebuilt.score(PROFILES, ITEMS, "profile_to_item"),
                               judge.score(PROFILES, ITEMS, "profile_to_item"))


G, K, U = 2, 2, 2


def _users(first: int, count: int) -> tuple[list[str], list[str]]:
    profiles = [f"user {u} likes genre {u % 3}, draft {g}" for u in range(first, first + count) for g in range(G)]
    items = [f"movie {u}{k} (genre {u % 3}): rated {1 + (u + k) % 5}" for u in range(first, first + count) for k in range(K)]
    return profiles, items


def _judge() -> LikelihoodJudge:
    return LikelihoodJudge(tiny_random_llama(seed=3), tokenizer=tiny_tokenizer(), scored_after=": rated", pack_tokens=64)


def _worker(rank: int, out: dict) -> None:
    profiles, items = _users(rank * U, U)
    scores = in_batch_scores(_judge(), profiles, items, num_users=U)
    out[rank] = (scores.profile_to_item, scores.item_to_profile)


def test_two_gloo_ranks_score_as_one_process():
    out = mp.Manager().dict()
    run_on_ranks(_worker, out)
    single = in_batch_scores(_judge(), *_users(0, 2 * U), num_users=2 * U)
    torch.testing.assert_close(single.item_to_profile, single.profile_to_item.T)
    for rank in (0, 1):
        torch.testing.assert_close(out[rank][0], single.profile_to_item, atol=1e-5, rtol=0)
        torch.testing.assert_close(out[rank][1], single.item_to_profile, atol=1e-5, rtol=0)


class LengthRetriever:
    """Vectors of text length and vowel count: a retriever that ranks differently from the judge."""

    symmetric = True

    def to(self, device):
        return self

    def encode(self, texts, direction, side):
        return torch.tensor([[len(t), sum(c in "aeiou" for c in t)] for t in texts], dtype=torch.float32)


def test_hybrid_negatives_rescore_the_retrievers_picks_and_equal_global_with_every_negative():
    judge = _judge()
    profiles, items = _users(0, 3)
    full = in_batch_scores(judge, profiles, items, num_users=3)
    every = in_batch_scores(judge, profiles, items, num_users=3, hybrid=HybridNegatives(LengthRetriever(), 100))
    torch.testing.assert_close(every.profile_to_item, full.profile_to_item, atol=1e-5, rtol=0)
    torch.testing.assert_close(every.item_to_profile, full.item_to_profile, atol=1e-5, rtol=0)
    one = in_batch_scores(judge, profiles, items, num_users=3, hybrid=HybridNegatives(LengthRetriever(), 1))
    scored = one.profile_to_item > one.profile_to_item.min(dim=1, keepdim=True).values  # unscored rank last
    assert torch.allclose(one.profile_to_item[scored], full.profile_to_item[scored], atol=1e-5)
    assert not scored.all()
