"""bench/likelihood_judge.py on the tiny model: every setting timed, the sampled settings score (m+1)/U
of the pairs, float32 every pair is the ratios' baseline, and the JSON line is its last."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "likelihood_judge.py"
ARGS = ["--model", "tiny-random-llama", "--users", "4", "--samples", "2", "--heldout", "1", "--negative_users", "1",
        "--profile_tokens", "12", "--repeats", "1"]


@pytest.mark.slow
def test_bench_times_four_settings_and_the_sample_scores_fewer_pairs():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *ARGS], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    figures = json.loads(lines[-1])
    settings = ["float32/m=0", "float32/m=1", "bfloat16/m=0", "bfloat16/m=1"]
    assert sorted(figures["pairs"]) == sorted(settings) and figures["texts"] == "random"
    assert figures["pairs"]["float32/m=0"] == figures["pairs"]["bfloat16/m=0"] == 8 * 4  # U*G profiles x U*K items
    assert figures["pairs"]["float32/m=1"] == figures["pairs"]["bfloat16/m=1"] == 8 * 2  # own user and one other
    assert figures["ratio_to_float32_every_pair"]["float32/m=0"] == 1.0
    assert all(figures["seconds"][s] > 0 for s in settings)
    assert -1.0 <= figures["bf16_score_correlation"] <= 1.0 and figures["bf16_max_abs_diff"] >= 0.0
    assert lines[0].split() == ["setting", "pairs", "median", "s", "range", "ratio"]
