"""Task registry: how each LaMP task's profile items render as text, its labels and metric family.

Known tasks are LaMP-1 … LaMP-7. Any other name (e.g. ``MovieLens_rating``) gets a generic spec that
renders an item from all its scalar fields except ``id`` and ``date``, so any LaMP-format data is usable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from bump_pl.did_you_mean import unknown_name

MetricFamily = Literal["classification", "regression", "generation"]

LAMP2_TAGS: tuple[str, ...] = (
    "sci-fi",
    "based on a book",
    "comedy",
    "action",
    "twist ending",
    "dystopia",
    "dark comedy",
    "classic",
    "psychology",
    "fantasy",
    "romance",
    "thought-provoking",
    "social commentary",
    "violence",
    "true story",
)

#: Item fields that identify or date an item and are never rendered as its text.
META_FIELDS: frozenset[str] = frozenset({"id", "date"})

_LAMP_NAME = re.compile(r"^lamp[\s_-]*([1-7])$", re.IGNORECASE)
_LAMP_LIKE = re.compile(r"^lamp[\s_-]*\d+$", re.IGNORECASE)


@dataclass(frozen=True)
class TaskSpec:
    """What the data layer needs to know about one task.

    Attributes:
        name: canonical name (``LaMP_3`` for the LaMP tasks, the given name otherwise).
        fields: profile-item fields rendered as text, in order; ``None`` means every scalar field
            except ``id`` and ``date`` (the generic spec for unknown tasks).
        labels: the closed label set of a classification/regression task, else ``None``.
        metric: ``"classification"``, ``"regression"`` or ``"generation"``.
        known: whether this is one of the registered LaMP tasks.
        numeric_fields: fields of ``fields`` whose value must be a finite number (or a numeric
            string), e.g. LaMP-3's ``score``; the others must be text.
    """

    name: str
    fields: tuple[str, ...] | None
    labels: tuple[str, ...] | None
    metric: MetricFamily
    known: bool = True
    numeric_fields: frozenset[str] = frozenset()

    def text_fields(self, item: dict[str, Any]) -> list[tuple[str, str]]:
        """The ``(field, value)`` pairs of ``item`` that make up its text (scalars only, non-empty)."""
        keys = self.fields if self.fields is not None else [k for k in item if k not in META_FIELDS]
        pairs = []
        for key in keys:
            value = item.get(key)
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                continue
            text = " ".join(str(value).split())
            if text:
                pairs.append((key, text))
        return pairs

    def render(self, item: dict[str, Any]) -> str:
        """One line of text for a profile item, e.g. ``"score: 5; text: Great kettle."``.

        Raises:
            ValueError: the item has none of this task's text fields.
        """
        pairs = self.text_fields(item)
        if not pairs:
            wanted = ", ".join(self.fields) if self.fields is not None else "any field besides id/date"
            raise ValueError(f"profile item {item.get('id', '?')!r} has no text field for {self.name} ({wanted})")
        return "; ".join(f"{key}: {value}" for key, value in pairs)


_REGISTRY: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec("LaMP_1", ("title", "abstract"), ("[1]", "[2]"), "classification"),
        TaskSpec("LaMP_2", ("description", "tag"), LAMP2_TAGS, "classification"),
        TaskSpec("LaMP_3", ("text", "score"), ("1", "2", "3", "4", "5"), "regression", numeric_fields=frozenset({"score"})),
        TaskSpec("LaMP_4", ("title", "text"), None, "generation"),
        TaskSpec("LaMP_5", ("title", "abstract"), None, "generation"),
        TaskSpec("LaMP_6", ("text", "title"), None, "generation"),
        TaskSpec("LaMP_7", ("text",), None, "generation"),
    )
}


def canonical_task_name(name: str) -> str:
    """``"LaMP-3"``, ``"lamp_3"``, ``"LaMP 3"`` → ``"LaMP_3"``; any other name is returned stripped."""
    match = _LAMP_NAME.match(name.strip())
    return f"LaMP_{match.group(1)}" if match else name.strip()


def get_task(name: str) -> TaskSpec:
    """The spec of a task by name; an unknown name gets the generic spec (all scalar fields, generation).

    Raises:
        ValueError: an empty name, or a LaMP task that does not exist (``LaMP_8``): LaMP-shaped names
            are LaMP's, so a typo there is refused, not scored as a generic generation task.
    """
    canonical = canonical_task_name(name)
    if not canonical:
        raise ValueError("task name is empty")
    if _LAMP_LIKE.match(canonical) and canonical not in _REGISTRY:
        raise ValueError(unknown_name("LaMP task", canonical, _REGISTRY))
    return _REGISTRY.get(canonical) or TaskSpec(canonical, None, None, "generation", known=False)


#: Tasks that are not LaMP's but are scored with a LaMP task's official metric (MovieLens: 1-5 ratings);
#: every command (``bump-eval``, ``bump-downstream``, the downstream callback) reads it here.
METRIC_TASKS = {"MovieLens_rating": "LaMP_3"}


def metric_task_of(task: str) -> str:
    """The task whose official metric scores ``task``'s answers (canonical name; itself unless in
    :data:`METRIC_TASKS`). Raises ``ValueError`` as :func:`get_task` does (``LaMP_9``: did you mean)."""
    name = get_task(task).name
    return METRIC_TASKS.get(name, name)


def known_tasks() -> list[str]:
    """Canonical names of the registered LaMP tasks."""
    return list(_REGISTRY)
