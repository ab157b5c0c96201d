"""`bump fit` under DDP: two gloo processes on CPU, mu = 2 optimizer steps per batch of rollouts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"


@pytest.mark.slow
def test_two_process_ddp_fit_reaches_max_steps(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1", BUMP_PL_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1")
    args = ["--trainer.strategy", "ddp", "--trainer.devices", "2", "--trainer.max_steps", "2"]
    args += ["--model.grpo.num_iterations", "2", "--validate_before_fit", "false"]
    done = subprocess.run(
        [sys.executable, "-m", "bump_pl.cli", "fit", "--config", str(TINY), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Starting with 2 processes" in done.stdout + done.stderr
    last = next(tmp_path.glob("runs/tiny/version_*/checkpoints/last.ckpt"))
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    batches = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["processed"]
    assert (checkpoint["global_step"], batches) == (2, 1)  # max_steps counts optimizer steps: 1 batch x mu 2
