"""Smoke test of bench/judge_throughput.py on the tiny model: runs, agrees, ends with its JSON line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "judge_throughput.py"
ARGS = ["--model", "tiny-random-llama", "--users", "2", "--samples", "2", "--heldout", "1"]
SIZES = ["--profile-tokens", "24", "--item-tokens", "6", "--max-pairs-per-chunk", "3", "--threads", "1"]


@pytest.mark.slow
def test_bench_prints_agreeing_figures_as_its_last_line():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *ARGS, *SIZES], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    assert {"pairs_per_s_naive", "pairs_per_s_shared", "speedup", "max_abs_diff"} <= figures.keys()
    assert figures["queries"] == 4 and figures["candidates"] == 2
    assert figures["pairs_per_s_naive"] > 0 and figures["pairs_per_s_shared"] > 0
    assert figures["speedup"] == pytest.approx(figures["pairs_per_s_shared"] / figures["pairs_per_s_naive"])
    assert figures["max_abs_diff"] <= 1e-4
    assert lines[0].split() == ["path", "pairs", "seconds", "pairs/s"]
