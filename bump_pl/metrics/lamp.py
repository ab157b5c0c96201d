"""LaMP's official downstream metrics, with the semantics of the benchmark's ``eval/evaluation.py``.

Users compare against LaMP's published numbers, so every rule below is the official script's:

* ids: predictions and golds must cover exactly the same ids.
* LaMP-1 / LaMP-2 (classification): both sides are stripped and looked up in the task's label list;
  a prediction outside the list maps to -1, which is wrong for every example and is no label's
  prediction. ``accuracy`` is the fraction of exact matches; ``f1`` is sklearn's macro F1 with
  ``labels=range(len(labels))`` and its default ``zero_division`` (0.0): every label is averaged,
  including labels that never occur, and a label with no true positive scores 0.
* LaMP-3 (rating regression; also ``MovieLens_rating``, as every command scores it): ``float()`` of the stripped text; a prediction ``float()`` cannot parse
  becomes 1 or 5, whichever is farther from the gold (5 on a tie, i.e. gold 3). ``MAE`` and ``RMSE``.
  Anything ``float()`` accepts is taken as is (so ``"nan"`` or ``"1e3"`` count), as in the official script.
* LaMP-4..7 and any task name we do not know (generation): ``rouge-1`` and ``rouge-L`` F-measure of
  ``rouge_score.rouge_scorer.RougeScorer(["rouge1", "rougeL"])`` (default tokenizer, no stemming),
  averaged over examples. The official script strips both sides first; that cannot change a score,
  because the default tokenizer lowercases, turns every non ``[a-z0-9]`` character into a separator
  and drops empty tokens (so non-Latin text scores 0, officially too). The official script averages
  through ``evaluate``'s rouge, whose ``BootstrapAggregator`` reports the median of 1000 unseeded
  bootstrap means; we report the plain mean it estimates, which is deterministic and agrees with it
  to within that bootstrap noise.

Deliberate difference: a gold outside the label list (LaMP-1/2) or a gold rating ``float()`` cannot
parse (LaMP-3) raises ``ValueError`` here. The official script would silently score the former
(-1 == -1 counts as a hit) and crash on the latter; both mean the golds file is not for this task.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from rouge_score import rouge_scorer

from bump_pl.data.tasks import get_task, metric_task_of

#: The closed label lists of the official evaluation, in its order (index = class id for macro F1);
#: one copy, kept with the task registry.
LAMP_LABELS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {name: get_task(name).labels for name in ("LaMP_1", "LaMP_2", "LaMP_3")}
)

_MAX_LISTED_IDS = 5


def evaluate_lamp(task: str, predictions: Mapping[str, str], golds: Mapping[str, str]) -> dict[str, float]:
    """Score ``predictions`` against ``golds`` (both ``id -> output text``) with LaMP's official metric.

    Returns ``{"accuracy", "f1"}`` for LaMP-1/2, ``{"MAE", "RMSE"}`` for LaMP-3 (and the tasks the
    registry scores as LaMP-3: ``MovieLens_rating``, :data:`bump_pl.data.tasks.METRIC_TASKS`) and
    ``{"rouge-1", "rouge-L"}`` for every other task name (LaMP-4..7 and unknown generation tasks).
    Raises ``ValueError`` for a LaMP task that does not exist (``LaMP_9``, with did-you-mean), when the id sets differ (naming a few missing/extra ids), when there is
    nothing to score, when an output is not a string, or when a gold does not belong to the task
    (see the module docstring).
    """
    name = metric_task_of(task)
    preds, gold_texts = _aligned(predictions, golds)
    if name in ("LaMP_1", "LaMP_2"):
        return classification_metrics(preds, gold_texts, LAMP_LABELS[name])
    if name == "LaMP_3":
        return rating_metrics(preds, gold_texts)
    return rouge_metrics(preds, gold_texts)


def classification_metrics(preds: Sequence[str], golds: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy and macro F1 over ``labels`` of stripped label strings (LaMP-1/2); unknown predictions are wrong."""
    index = {label: i for i, label in enumerate(labels)}
    gold_ids = []
    for gold in golds:
        if gold.strip() not in index:
            raise ValueError(f"gold label {gold!r} is not one of the task's labels {list(labels)}")
        gold_ids.append(index[gold.strip()])
    pred_ids = [index.get(pred.strip(), -1) for pred in preds]
    pairs = list(zip(pred_ids, gold_ids))
    f1_per_label = []
    for label in range(len(labels)):
        tp = sum(p == label and g == label for p, g in pairs)
        fp = sum(p == label and g != label for p, g in pairs)
        fn = sum(p != label and g == label for p, g in pairs)
        f1_per_label.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    accuracy = sum(p == g for p, g in pairs) / len(pairs)
    return {"accuracy": accuracy, "f1": sum(f1_per_label) / len(labels)}


def rating_metrics(preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """MAE and RMSE of numeric ratings (LaMP-3); an unparsable prediction becomes the farther of 1 and 5."""
    errors = []
    for pred, gold in zip(preds, golds):
        try:
            gold_value = float(gold.strip())
        except ValueError:
            raise ValueError(f"gold rating {gold!r} is not a number") from None
        errors.append(_parse_rating(pred, gold_value) - gold_value)
    n = len(errors)
    return {
        "MAE": math.fsum(abs(e) for e in errors) / n,
        "RMSE": math.sqrt(math.fsum(e * e for e in errors) / n),
    }


def rouge_metrics(preds: Sequence[str], golds: Sequence[str]) -> dict[str, float]:
    """Mean ROUGE-1 and ROUGE-L F-measure (rouge-score defaults: its tokenizer, no stemming)."""
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"])
    scores = [scorer.score(gold, pred) for pred, gold in zip(preds, golds)]
    n = len(scores)
    return {
        "rouge-1": math.fsum(s["rouge1"].fmeasure for s in scores) / n,
        "rouge-L": math.fsum(s["rougeL"].fmeasure for s in scores) / n,
    }


def _parse_rating(pred: str, gold: float) -> float:
    """``float(pred)``, or the rating (1 or 5) farther from ``gold`` when it does not parse; 5 on a tie."""
    try:
        return float(pred.strip())
    except ValueError:
        return 1.0 if abs(1.0 - gold) > abs(5.0 - gold) else 5.0


def _aligned(predictions: Mapping[str, str], golds: Mapping[str, str]) -> tuple[list[str], list[str]]:
    """The predictions and golds as two lists in the golds' id order, after checking the id sets agree."""
    missing = [i for i in golds if i not in predictions]
    extra = [i for i in predictions if i not in golds]
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"{len(missing)} gold id(s) have no prediction (e.g. {missing[:_MAX_LISTED_IDS]})")
        if extra:
            problems.append(f"{len(extra)} prediction id(s) are not in the golds (e.g. {extra[:_MAX_LISTED_IDS]})")
        raise ValueError("prediction and gold ids do not match: " + "; ".join(problems))
    if not golds:
        raise ValueError("there is nothing to score: no gold ids")
    for side, texts in (("prediction", predictions), ("gold", golds)):
        bad = [i for i, text in texts.items() if not isinstance(text, str)]
        if bad:
            raise ValueError(f"{side} outputs must be strings; not for id(s) {bad[:_MAX_LISTED_IDS]}")
    return [predictions[i] for i in golds], list(golds.values())
