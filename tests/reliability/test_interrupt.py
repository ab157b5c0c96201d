"""Ctrl-C during ``bump fit``: the step in flight completes and is saved as ``last.ckpt``, the exact
resume command is printed, the exit code is 130; that command finishes the run, which keeps one
``last.ckpt`` (the newest step) although ``max_steps`` is not a multiple of the checkpoint interval.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from bump_run import TINY, bump_command, bump_env, run_bump

MAX_STEPS = 5
INTERVAL = 2  # 5 is not a multiple: ModelCheckpoint alone would leave step 4 in last.ckpt


def _overlay(folder: Path, record: Path) -> Path:
    overlay = {
        "trainer": {
            "max_steps": MAX_STEPS,
            "limit_val_batches": 0,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"save_last": True, "every_n_train_steps": INTERVAL, "save_top_k": -1},
                },
                # the signal is sent during step 1's pause: the tiny steps could all finish before it lands
                {"class_path": "step_recorder.StepRecorder", "init_args": {"path": str(record), "pause_at_step": 1, "pause_s": 10.0}},
            ],
        },
        "model": {"sampling": {"max_new_tokens": 4}},
        "validate_before_fit": False,
    }
    path = folder / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def _steps(record: Path) -> list[int]:
    return [json.loads(line)["step"] for line in record.read_text().splitlines() if line.strip()] if record.exists() else []


@pytest.mark.slow
def test_ctrl_c_saves_the_step_in_flight_prints_the_resume_command_and_exits_130(tmp_path: Path) -> None:
    record = tmp_path / "steps.jsonl"
    args = ["fit", "--config", str(TINY), "--config", str(_overlay(tmp_path, record))]
    process = subprocess.Popen(
        bump_command(*args), cwd=tmp_path, env=bump_env(tmp_path / "cache"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
        # a shell's background job inherits SIGINT ignored, and Python then installs no Ctrl-C handler:
        # give the child the terminal's default, as when a user presses Ctrl-C
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        while 1 not in _steps(record):  # step 1 (the second) has started
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            subprocess.run(["sleep", "0.2"], check=True)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=600)
    finally:
        process.kill()
    assert process.returncode == 130, stderr
    started = _steps(record)
    lines = [line for line in stderr.splitlines() if line.startswith("bump: ")]
    assert lines[-1] == "bump: interrupted (Ctrl-C)", stderr
    (report,) = [line for line in lines if line.startswith("bump: fit interrupted: ")]
    (last,) = tmp_path.glob("runs/tiny/version_0/checkpoints/last.ckpt")
    saved_step = started[-1] + 1  # the step in flight completed, no other started
    assert report.startswith(f"bump: fit interrupted: saved step {saved_step} {last.relative_to(tmp_path)}; resume with: bump fit ")
    assert torch.load(last, weights_only=True)["global_step"] == saved_step

    command = shlex.split(report.split("resume with: ", 1)[1])
    assert command[:2] == ["bump", "fit"] and command[-2:] == ["--ckpt_path", str(last.relative_to(tmp_path))]
    resumed = run_bump(command[1:], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert _steps(record)[len(started):] == list(range(saved_step, MAX_STEPS))
    names = sorted(path.name for path in last.parent.glob("last*.ckpt"))
    assert names == ["last.ckpt"] and torch.load(last, weights_only=True)["global_step"] == MAX_STEPS
    printed = [line for line in resumed.stdout.splitlines() if line.startswith("bump: fit: last checkpoint:")]
    assert printed == [f"bump: fit: last checkpoint: {last.relative_to(tmp_path)}"]
