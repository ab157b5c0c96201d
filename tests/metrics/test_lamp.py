"""LaMP's official metrics: hand-computed values per task family, and sklearn as the independent reference."""

from __future__ import annotations

import math
import random
import warnings

import pytest
from sklearn.metrics import accuracy_score, f1_score, mean_absolute_error, mean_squared_error

from bump_pl.metrics.lamp import LAMP_LABELS, evaluate_lamp


def _ids(texts: list[str]) -> dict[str, str]:
    """``{"0": texts[0], "1": texts[1], ...}``."""
    return {str(i): text for i, text in enumerate(texts)}


def _sklearn_classification(preds: list[str], golds: list[str], labels: tuple[str, ...]) -> dict[str, float]:
    """The official computation: strip, index in ``labels`` (else -1), sklearn accuracy and macro F1."""
    index = {label: i for i, label in enumerate(labels)}
    p = [index.get(x.strip(), -1) for x in preds]
    g = [index[x.strip()] for x in golds]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about ill-defined F1 and uses 0.0, as LaMP does
        f1 = f1_score(g, p, labels=list(range(len(labels))), average="macro")
    return {"accuracy": accuracy_score(g, p), "f1": f1}


def test_lamp1_accuracy_and_macro_f1_by_hand() -> None:
    golds = ["[1]", "[2]", "[1]", "[2]"]
    preds = [" [1] ", "[1]", "[3]", "[2]\n"]  # whitespace is stripped; "[3]" is not a label
    # label [1]: tp 1, fp 1, fn 1 -> 1/2; label [2]: tp 1, fp 0, fn 1 -> 2/3
    result = evaluate_lamp("LaMP_1", _ids(preds), _ids(golds))
    assert result == pytest.approx({"accuracy": 0.5, "f1": (1 / 2 + 2 / 3) / 2})
    assert result == pytest.approx(_sklearn_classification(preds, golds, LAMP_LABELS["LaMP_1"]))


def test_lamp2_macro_f1_averages_all_15_tags() -> None:
    golds = ["comedy", "action", "comedy"]
    preds = ["comedy", "Comedy", "  action "]  # labels are case-sensitive: "Comedy" is invalid
    # comedy: tp 1, fn 1 -> 2/3; action: tp 0 -> 0; the 13 absent tags score 0
    result = evaluate_lamp("LaMP-2", _ids(preds), _ids(golds))
    assert result == pytest.approx({"accuracy": 1 / 3, "f1": (2 / 3) / 15})
    assert result == pytest.approx(_sklearn_classification(preds, golds, LAMP_LABELS["LaMP_2"]))


@pytest.mark.parametrize("task", ["LaMP_1", "LaMP_2"])
@pytest.mark.parametrize("seed", range(5))
def test_classification_matches_sklearn_on_random_inputs(task: str, seed: int) -> None:
    rng = random.Random(seed)
    labels = LAMP_LABELS[task]
    n = rng.randint(1, 40)
    golds = [rng.choice(labels) for _ in range(n)]
    noise = ["", "none", "SCI-FI", "[0]", " comedy"]
    preds = [rng.choice(labels + tuple(noise)) + rng.choice(["", " ", "\n"]) for _ in range(n)]
    result = evaluate_lamp(task, _ids(preds), _ids(golds))
    assert result == pytest.approx(_sklearn_classification(preds, golds, labels), abs=1e-12)


def test_lamp3_unparsable_prediction_takes_the_farther_rating() -> None:
    golds = ["2", "4", "3", "5", "1"]
    preds = ["five stars", "x", "", " 4.5 ", "1"]
    # gold 2 -> 5 (err 3); gold 4 -> 1 (err 3); gold 3 is a tie -> 5 (err 2); 4.5 vs 5 (err 0.5); exact (0)
    result = evaluate_lamp("LaMP_3", _ids(preds), _ids(golds))
    assert result["MAE"] == pytest.approx((3 + 3 + 2 + 0.5 + 0) / 5)
    assert result["RMSE"] == pytest.approx(math.sqrt((9 + 9 + 4 + 0.25 + 0) / 5))
    mapped, truth = [5.0, 1.0, 5.0, 4.5, 1.0], [2.0, 4.0, 3.0, 5.0, 1.0]
    assert result["MAE"] == pytest.approx(mean_absolute_error(truth, mapped))
    assert result["RMSE"] == pytest.approx(math.sqrt(mean_squared_error(truth, mapped)))


def test_rouge_by_hand() -> None:
    golds = ["the cat sat", "The cat sat on the mat."]
    preds = ["the cat", "the mat sat"]
    # 1: overlap 2, P 1, R 2/3 -> F 0.8 (LCS also 2).
    # 2: unigram overlap 3 of 3 / 6 -> F 2/3; LCS "the sat" = 2 -> P 2/3, R 1/3 -> F 4/9.
    result = evaluate_lamp("LaMP_5", _ids(preds), _ids(golds))
    assert result == pytest.approx({"rouge-1": (0.8 + 2 / 3) / 2, "rouge-L": (0.8 + 4 / 9) / 2})


def test_rouge_ignores_case_punctuation_and_surrounding_whitespace() -> None:
    """Why we need not strip like the official script: rouge-score's tokenizer already discards it."""
    golds = _ids(["the cat sat", "a dog"])
    plain = evaluate_lamp("LaMP_4", _ids(["the cat", "a dog"]), golds)
    padded = evaluate_lamp("LaMP_4", _ids(["  The CAT!\n", "\ta  dog "]), golds)
    assert padded == plain
    assert plain["rouge-1"] == pytest.approx((0.8 + 1.0) / 2)


def test_unknown_task_is_scored_as_generation() -> None:
    result = evaluate_lamp("MovieLens_review", {"a": "the cat"}, {"a": "the cat sat"})
    assert result == pytest.approx({"rouge-1": 0.8, "rouge-L": 0.8})


def test_id_mismatch_is_refused_naming_the_ids() -> None:
    golds = {"1": "[1]", "2": "[2]", "3": "[1]"}
    preds = {"1": "[1]", "2": "[2]", "9": "[1]"}
    with pytest.raises(ValueError, match=r"1 gold id\(s\) have no prediction \(e\.g\. \['3'\]\).*\['9'\]"):
        evaluate_lamp("LaMP_1", preds, golds)


@pytest.mark.parametrize(
    ("task", "preds", "golds", "message"),
    [
        ("LaMP_1", {}, {}, "nothing to score"),
        ("LaMP_2", {"a": "comedy"}, {"a": "western"}, "gold label 'western' is not one of"),
        ("LaMP_3", {"a": "3"}, {"a": "three"}, "gold rating 'three' is not a number"),
        ("LaMP_4", {"a": None}, {"a": "x"}, r"prediction outputs must be strings; not for id\(s\) \['a'\]"),
    ],
)
def test_bad_input_raises_one_clear_error(task: str, preds: dict, golds: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluate_lamp(task, preds, golds)
