"""experiments/plots.py: one row per label, each value inside its own interval bar."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "experiments"))  # as the sibling scripts import it
plots = pytest.importorskip("plots")
image = pytest.importorskip("matplotlib.image")


def test_an_interval_plot_is_a_png_with_a_row_per_label(tmp_path: Path) -> None:
    two = {"trained": {"value": 0.59, "low": 0.55, "high": 0.63}, "untrained": {"value": 0.50, "low": 0.47, "high": 0.54}}
    four = {**two, "recent": {"value": 0.57, "low": 0.53, "high": 0.60}, "whole": {"value": 0.59, "low": 0.55, "high": 0.62}}
    small = plots.interval_plot(two, tmp_path / "two.png", title="t", xlabel="NDCG")
    large = plots.interval_plot(four, tmp_path / "four.png", title="t", xlabel="NDCG")
    assert small.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert image.imread(large).shape[0] > image.imread(small).shape[0]  # taller with more rows
