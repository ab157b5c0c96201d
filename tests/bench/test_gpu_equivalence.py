"""bench/gpu_equivalence.py on CPU: the same checks the GPU run makes (without CUDA graphs) pass."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "bench" / "gpu_equivalence.py"


def test_gpu_equivalence_checks_pass_on_cpu():
    done = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["ok"] is True
    assert report["float32_greedy"] == {"graphs_eq_eager": True, "eager_eq_generate": True}
    assert report["float32_sample"] == {"graphs_eq_eager": True, "eager_eq_generate": True}
    assert 0 <= report["float32_judge_max_abs_diff"] <= 1e-4
    assert set(report["float32_log_softmax_max_abs_diff"]) == {"logps", "entropy", "grad"}
    assert 0 < max(report["float32_log_softmax_max_abs_diff"].values()) <= 1e-5  # float32 arithmetic, not float64
    low = report["bfloat16_log_softmax_max_abs_diff"]  # bf16 logits, float32 arithmetic, a bf16 gradient
    assert max(low["logps"], low["entropy"]) <= 1e-5 and 0 < low["grad"] <= 1e-2
