"""Smoke test of bench/vs_trl.py on the tiny model: both sides finish the same workload, one JSON line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "vs_trl.py"
# The byte-level tiny tokenizer needs ~300 tokens for the prompt without history.
ARGS = ["--model", "tiny-random-llama", "--users", "2", "--group-size", "2", "--heldout", "2"]
SIZES = ["--prompt-tokens", "320", "--completion-tokens", "4", "--steps", "2"]


@pytest.mark.slow
def test_both_sides_complete_the_same_workload_and_report_json():
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), *ARGS, *SIZES], capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {
        "bump_s_per_step", "trl_s_per_step", "time_ratio", "bump_peak_rss_mb", "trl_peak_rss_mb", "rss_ratio",
        "bump_mean_reward", "trl_mean_reward", "settings", "versions",
    }
    assert expected <= figures.keys()
    assert figures["bump_steps"] == figures["trl_steps"] == 2
    assert len(figures["bump_step_seconds"]) == len(figures["trl_step_seconds"]) == 2
    # Identical work: every completion on both sides is exactly --completion-tokens long.
    assert figures["bump_completion_lengths"] == figures["trl_completion_lengths"] == [4.0, 4.0]
    assert figures["time_ratio"] == pytest.approx(figures["bump_s_per_step"] / figures["trl_s_per_step"])
    assert figures["rss_ratio"] == pytest.approx(figures["bump_peak_rss_mb"] / figures["trl_peak_rss_mb"])
    assert 0.0 <= figures["bump_mean_reward"] <= 1.0 and 0.0 <= figures["trl_mean_reward"] <= 1.0
    assert figures["settings"]["prompt_tokens"] == 320 and figures["versions"]["trl"] != "absent"
