"""Interval plots beside the experiments' tables: one row per label, its value and 95% interval.

``ladder.py`` draws each source's NDCG (``ladder.png``), ``compare.py --plot`` each run's trained
profile, ``run.py`` each downstream variant's error (``downstream.png``), from the same intervals
their Markdown tables print. matplotlib (the ``bench`` extra) is imported only when a plot is drawn.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def interval_plot(intervals: Mapping[str, Mapping[str, float]], path: Path, *, title: str, xlabel: str) -> Path:
    """Write ``path`` (PNG): a dot at ``value`` and a bar from ``low`` to ``high`` per label, top to bottom
    in the mapping's order. ``intervals``: label -> ``{"value", "low", "high"}``."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    labels = list(intervals)
    values = [intervals[label]["value"] for label in labels]
    below = [value - intervals[label]["low"] for label, value in zip(labels, values)]
    above = [intervals[label]["high"] - value for label, value in zip(labels, values)]
    rows = list(range(len(labels)))
    figure, axes = plt.subplots(figsize=(8.0, 1.2 + 0.45 * len(labels)))
    axes.errorbar(values, rows, xerr=[below, above], fmt="o", capsize=4)
    axes.set_yticks(rows, labels)
    axes.invert_yaxis()  # the first label on top, as in the table
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    axes.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
