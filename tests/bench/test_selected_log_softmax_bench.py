"""The log-softmax benchmark on the tiny model: both paths give the same update, and its figures agree."""

import json
import statistics
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "selected_log_softmax.py"
sys.path.insert(0, str(SCRIPT.parent))

from selected_log_softmax import expression_log_softmax  # noqa: E402

from bump_pl.rl.selected_log_softmax import selected_log_softmax  # noqa: E402


def test_the_baseline_expression_computes_what_the_fused_function_does():
    gen = torch.Generator().manual_seed(0)
    logits, tokens = torch.randn(300, 17, generator=gen), torch.randint(0, 17, (300,), generator=gen)
    for temperature in (1.0, 0.7):
        expected = selected_log_softmax(logits, tokens, temperature, with_entropy=True)
        got = expression_log_softmax(logits, tokens, temperature, with_entropy=True)
        for a, b in zip(got, expected):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_selected_log_softmax_bench_reports_consistent_figures_and_the_same_update():
    args = ["--model", "tiny-random-llama", "--users", "2", "--prompt-tokens", "32", "--new-tokens", "4", "--repeats", "2"]
    done = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=True)
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["loss_diff"] < 1e-5
    assert figures["grad_max_diff"] < 1e-4 * figures["grad_max_abs"] and figures["grad_max_abs"] > 0
    for case in ("update_exact", "update_constant_prompts", "log_softmax"):
        runs = figures["seconds"][case]
        assert [len(runs[path]) for path in ("expression", "fused")] == [2, 2]
        medians = {path: statistics.median(runs[path]) for path in runs}
        assert abs(figures["ratio"][case] - medians["fused"] / medians["expression"]) < 0.05 * figures["ratio"][case] + 1e-3


def test_the_fused_path_holds_far_less_memory_than_the_expression():
    from selected_log_softmax import kernel_peak_mb

    rows, vocab = 512, 32768  # 64 MB of float32 logits; the gradient is one more such tensor
    fused, expression = kernel_peak_mb("fused", rows, vocab), kernel_peak_mb("expression", rows, vocab)
    assert fused < 0.6 * expression
    assert fused > 0.9 * rows * vocab * 4 / 2**20  # at least the gradient it returns
