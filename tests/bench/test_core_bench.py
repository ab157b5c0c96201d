"""bench/core.py runs at its smallest settings and ends with one JSON line of its figures."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "core.py"


@pytest.mark.slow
def test_core_bench_smoke_prints_json_figures():
    run = subprocess.run(
        [sys.executable, str(SCRIPT), "--users", "2", "3", "--group-size", "2", "--heldout", "2", "--repeats", "1"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert {"bench", "group_size", "heldout", "threads", "torch", "results"} <= figures.keys()
    assert [row["users"] for row in figures["results"]] == [2, 3]
    for row in figures["results"]:
        expected = {"ndcg_ms", "ndcg_naive_ms", "ndcg_speedup", "reward_ms", "reward_naive_ms", "reward_speedup"}
        assert expected <= row.keys() and all(row[key] > 0 for key in expected)
        assert row["max_abs_diff"] < 1e-5  # the vectorised code agrees with the one-row-at-a-time loop

