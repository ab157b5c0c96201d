"""``kill -9`` in the middle of ``bump fit``, then ``--ckpt_path last``: the run ends at
``max_steps`` and every global step sees exactly the users of an uninterrupted reference run.

The fit crosses an epoch boundary (16 train users, 3 per batch: 5 batches an epoch, 7 steps), and a
checkpoint is written after every step so the kill lands between two of them.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from bump_run import TINY, bump_command, bump_env, run_bump

MAX_STEPS = 7
KILL_AT_STEP = 4  # kill once the recorder shows this step has started


def _overlay(folder: Path, record: Path) -> Path:
    """tiny.yaml minus validation and the slow callbacks; a checkpoint every step; the recorder."""
    overlay = {
        "trainer": {
            "max_steps": MAX_STEPS,
            "limit_val_batches": 0,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"save_last": True, "every_n_train_steps": 1, "save_top_k": -1},
                },
                {"class_path": "step_recorder.StepRecorder", "init_args": {"path": str(record)}},
            ],
        },
        "model": {"sampling": {"max_new_tokens": 4}},
        "data": {"users_per_batch": 5},  # 28 train users: 5 batches an epoch, so 7 steps cross epochs
        "validate_before_fit": False,
    }
    path = folder / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _wait_for_step(process: subprocess.Popen, record: Path, step: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fit ended (rc {process.returncode}) before step {step}: {process.stderr.read()}")
        if record.exists() and any(r["step"] >= step for r in _records(record)):
            return
        time.sleep(0.2)
    raise AssertionError(f"step {step} not reached in {timeout} s")


@pytest.mark.slow
def test_kill_9_then_resume_from_last_ckpt_repeats_and_skips_no_step(tmp_path: Path) -> None:
    reference_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    for folder in (reference_dir, run_dir):
        folder.mkdir()
    reference_log, run_log = reference_dir / "steps.jsonl", run_dir / "steps.jsonl"

    reference = run_bump(["fit", "--config", str(TINY), "--config", str(_overlay(reference_dir, reference_log))], reference_dir)
    assert reference.returncode == 0, reference.stderr
    expected = {r["step"]: r["users"] for r in _records(reference_log)}
    assert sorted(expected) == list(range(MAX_STEPS))
    assert {r["epoch"] for r in _records(reference_log)} == {0, 1}  # the resume below may cross epochs

    args = ["fit", "--config", str(TINY), "--config", str(_overlay(run_dir, run_log))]
    process = subprocess.Popen(
        bump_command(*args), cwd=run_dir, env=bump_env(run_dir / "cache"), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for_step(process, run_log, KILL_AT_STEP, timeout=600)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    killed = _records(run_log)
    last_started = killed[-1]["step"]
    assert last_started < MAX_STEPS - 1  # the kill really cut the run short

    (last,) = run_dir.glob("runs/tiny/version_*/checkpoints/last.ckpt")
    checkpoint = torch.load(last, weights_only=True)  # what bump-pl writes reloads without unpickling code
    assert 1 <= checkpoint["global_step"] <= last_started + 1
    resumed = run_bump([*args, "--ckpt_path", "last"], run_dir)  # the README's command
    assert resumed.returncode == 0, resumed.stderr
    assert f"bump: resuming {last.relative_to(run_dir)} at step {checkpoint['global_step']}" in resumed.stdout
    assert len(list(run_dir.glob("runs/tiny/version_*"))) == 1  # one run, continued in place
    after = _records(run_log)[len(killed):]
    resumed_steps = [r["step"] for r in after]
    # It continues from the checkpoint of a completed step: at most the step in flight is redone.
    assert resumed_steps == list(range(resumed_steps[0], MAX_STEPS))
    assert resumed_steps[0] == checkpoint["global_step"]  # continues right after the saved step
    final = {r["step"]: r["users"] for r in killed if r["step"] < resumed_steps[0]}
    final.update({r["step"]: r["users"] for r in after})
    assert final == expected
