"""judges/config.py: a judge written down as {class_path, init_args} and rebuilt from it."""

import sys
import types

import pytest
import torch

from bump_pl.judges import CrossJudge, EmbeddingJudge
from bump_pl.judges.config import build_judge, judge_config

TEXTS = ["likes jazz and old films", "reviews of hiking boots", "a cook who bakes bread"]


def test_a_named_judge_round_trips_with_every_argument():
    judge = CrossJudge("tiny-random-llama", yes_word="T", no_word="F", max_length=16, pack_tokens=32)
    config = judge_config(judge)
    assert config["class_path"] == "bump_pl.judges.CrossJudge"  # the short path a CLI config uses
    assert "not_recorded" not in config
    assert config["init_args"]["yes_word"] == "T" and config["init_args"]["pack_tokens"] == 32
    assert set(config["init_args"]) == set(judge.init_args)  # every constructor argument, tokenizer=None too
    rebuilt = build_judge(config)
    assert type(rebuilt) is CrossJudge and judge_config(rebuilt) == config
    for direction in ("profile_to_item", "item_to_profile"):  # same model (seeded), same settings: same scores
        torch.testing.assert_close(rebuilt.score(TEXTS, TEXTS, direction), judge.score(TEXTS, TEXTS, direction))


def test_the_recorded_model_kind_is_the_one_given_not_the_resolved_one():
    judge = EmbeddingJudge("tiny-random-encoder", pooling="cls")
    assert judge_config(judge)["init_args"]["model_kind"] == "auto"
    assert judge_config(build_judge(judge_config(judge))) == judge_config(judge)


def test_a_judge_built_from_objects_lists_them_and_is_refused(encoder, tokenizer):
    config = judge_config(EmbeddingJudge(encoder, tokenizer=tokenizer, max_length=64))
    assert config["not_recorded"] == ["model", "tokenizer"] and config["init_args"]["max_length"] == 64
    with pytest.raises(ValueError, match=r"built from objects .*\(model, tokenizer\); pass the judge itself"):
        build_judge(config)


def test_untrusted_or_unknown_classes_are_refused():
    with pytest.raises(ValueError, match="'os.system' is not a judge"):
        build_judge({"class_path": "os.system", "init_args": {}})
    with pytest.raises(ValueError, match="'not_imported_pkg.Judge' is not a judge"):  # never imported by us
        build_judge({"class_path": "not_imported_pkg.Judge", "init_args": {}})
    with pytest.raises(ValueError, match="expected"):
        build_judge({"init_args": {}})


def test_an_already_imported_judge_class_is_accepted(monkeypatch):
    class ConstantJudge:
        symmetric = True

        def __init__(self, value: float = 0.0) -> None:
            self.init_args = {"value": value}

        def to(self, device):
            return self

        def score(self, queries, candidates, direction):
            return torch.full((len(queries), len(candidates)), self.init_args["value"])

    module = types.ModuleType("user_judges")
    module.ConstantJudge = ConstantJudge
    ConstantJudge.__module__, ConstantJudge.__qualname__ = "user_judges", "ConstantJudge"
    monkeypatch.setitem(sys.modules, "user_judges", module)
    config = judge_config(ConstantJudge(2.5))
    assert config == {"class_path": "user_judges.ConstantJudge", "init_args": {"value": 2.5}}
    assert build_judge(config).score(["a"], ["b", "c"], "profile_to_item").tolist() == [[2.5, 2.5]]


def test_a_judge_that_records_nothing_says_so():
    class Bare:
        def to(self, device):
            return self

        def score(self, queries, candidates, direction):
            return torch.zeros(len(queries), len(candidates))

    assert judge_config(Bare())["not_recorded"] == ["init_args"]
