"""The LoRA-fold benchmark on the tiny model: the figures it prints agree with each other and the tokens are equal."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "merged_lora.py"


def test_merged_lora_bench_reports_consistent_figures_and_equal_tokens():
    args = ["--model", "tiny-random-llama", "--users", "2", "--prompt-tokens", "32", "--new-tokens", "4", "--repeats", "2"]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["equal"] is True  # a random B: a wrong fold would change the sampled tokens
    assert [len(figures["seconds"][path]) for path in ("adapter", "folded")] == [2, 2]
    for path in ("adapter", "folded"):
        assert abs(figures[f"{path}_s"] - statistics.median(figures["seconds"][path])) < 2e-3
    assert 0 < figures["fold_s"] <= figures["fold_and_restore_s"]
