"""bench/gpu_step.py --device cpu --tiny runs BumpModule's real step and reports consistent phase times."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_step.py"


def test_gpu_step_tiny_on_cpu_reports_positive_phases_within_the_step():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--tiny"], capture_output=True, text=True, timeout=600, check=True
    )
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    phases = ("rollouts_s", "judge_s", "update_s")
    assert {*phases, "step_s", "peak_memory_gb", "grad_budget_tokens", "device"} <= figures.keys()
    assert all(figures[key] > 0 for key in (*phases, "step_s", "peak_memory_gb"))
    assert sum(figures[key] for key in phases) <= figures["step_s"]
    assert figures["device"] == "cpu" and figures["grad_budget_tokens"] == 256  # auto on CPU: the small budget
    assert (figures["users"], figures["group_size"], figures["new_tokens"]) == (4, 2, 8)
