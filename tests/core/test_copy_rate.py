"""copy_rate by hand: copied 8-grams over all 8-grams of the profile; the penalty subtracts it from the reward."""

import pytest
import torch

from bump_pl.core.copy_rate import copy_penalised, copy_rate, copy_rates

ITEM = "The kettle is quiet, boils fast and looks great on the counter"  # 12 words


def test_copy_rate_by_hand():
    # 10 words, so 3 word 8-grams (case and punctuation ignored):
    # [the .. looks] and [kettle .. great] occur in ITEM, [is .. buys] does not -> 2 / 3
    profile = "THE kettle is quiet; boils fast and looks great. Buys"
    assert copy_rate(profile, ["unrelated item", ITEM]) == pytest.approx(2 / 3)
    assert copy_rate(ITEM, [ITEM]) == 1.0
    assert copy_rate("a fan of quiet kitchen gear who cares about looks", [ITEM]) == 0.0
    assert copy_rate("too short to copy", [ITEM]) == 0.0  # fewer than 8 words: no 8-grams


def test_ngrams_across_two_items_are_not_copies():
    first, second = "one two three four", "five six seven eight"
    assert copy_rate("one two three four five six seven eight", [first, second]) == 0.0
    assert copy_rate("one two three four five six seven eight", [f"{first} {second}"]) == 1.0


def test_copy_rates_follow_rollout_order_and_the_penalty_subtracts():
    rates = copy_rates([ITEM, "nothing copied here at all in this one text", "x", ITEM], [[ITEM], ["other"]], group_size=2)
    assert rates.tolist() == [1.0, 0.0, 0.0, 0.0]  # rollout 3 belongs to user 1, whose history lacks ITEM
    reward = torch.tensor([0.9, 0.5, 0.2, 0.7])
    torch.testing.assert_close(copy_penalised(reward, rates, 0.5), torch.tensor([0.4, 0.5, 0.2, 0.7]))
    assert copy_penalised(reward, rates, 0.0) is reward
    with pytest.raises(ValueError, match="copy_penalty must be >= 0"):
        copy_penalised(reward, rates, -1.0)
