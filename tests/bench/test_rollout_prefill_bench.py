"""Smoke test: the rollout-prefill benchmark runs on the tiny model and reports equal tokens."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "rollout_prefill.py"


def test_rollout_prefill_bench_ends_with_json_and_equal_tokens():
    args = ["--model", "tiny-random-llama", "--users", "2", "--prompt-tokens", "48", "--group-size", "3", "--new-tokens", "5"]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"speedup", "equal", "naive_s", "shared_s", "generated_tokens"} <= figures.keys()
    assert figures["equal"] is True
    assert figures["speedup"] > 0 and figures["naive_s"] > 0 and figures["shared_s"] > 0
    assert 0 < figures["generated_tokens"] <= 2 * 3 * 5
