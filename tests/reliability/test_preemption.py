"""SIGTERM (a cluster's preemption) in the middle of a long ``bump fit`` step, then the printed resume
command on the other world size.

The step in flight is a 300 s pause, so stopping within 30 s proves it was abandoned: the fit saves
the last completed step (3) as ``last.ckpt``, prints the resume command and exits 143. Under DDP the
signal goes to the launching process only (``kill PID``, as Docker sends it) and every rank stops.
Each resume changes the world size (1 -> 2 processes, 2 -> 1): the step counter, the run folder and
the profile cache continue, and one line says that the order of users changed.
"""

from __future__ import annotations

import json
import shlex
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml

from bump_run import TINY, bump_command, bump_env, run_bump

MAX_STEPS = 6
STOP_STEP = 3  # the signal lands in this step's pause; validations (and caches) at steps 2, 4, 6
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2"]
ORDER_NOTE = "the order of users changes"
pytestmark = pytest.mark.slow


def _overlay(folder: Path, record: Path) -> Path:
    overlay = {
        "trainer": {
            "max_steps": MAX_STEPS,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"save_last": True, "every_n_train_steps": 2, "save_top_k": -1},
                },
                {
                    "class_path": "bump_pl.callbacks.ProfileCacheCallback",
                    "init_args": {"splits": ["train", "val"], "when": "validation", "every_n_validations": 1},
                },
                {"class_path": "step_recorder.StepRecorder", "init_args": {"path": str(record), "pause_at_step": STOP_STEP, "pause_s": 300.0}},
            ],
        },
        "model": {"sampling": {"max_new_tokens": 4}},
        "validate_before_fit": False,
    }
    path = folder / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return path


def _records(record: Path) -> list[dict]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()] if record.exists() else []


def _sigterm_mid_step(args: list[str], folder: Path, record: Path, ranks: int) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``bump ARGS``, send SIGTERM to it once every rank is in step :data:`STOP_STEP`; the result
    and the seconds from the signal to its exit."""
    process = subprocess.Popen(
        bump_command(*args), cwd=folder, env=bump_env(folder / "cache"), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        while sum(r["step"] == STOP_STEP for r in _records(record)) < ranks:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.2)
        time.sleep(1.0)  # well inside the pause
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=120)
        elapsed = time.monotonic() - sent
    finally:
        process.kill()
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr), elapsed


def _check_stopped(done: subprocess.CompletedProcess, elapsed: float, folder: Path, world_size: int) -> tuple[Path, list[str]]:
    """Exit 143 within 30 s, one report naming the saved step 3; its ``last.ckpt`` and resume command."""
    assert done.returncode == 143, done.stderr[-3000:]
    assert elapsed < 30, f"{elapsed:.1f} s from SIGTERM to exit"
    lines = [line for line in done.stderr.splitlines() if line.startswith("bump: ")]
    assert lines[-1] == "bump: stopped by SIGTERM", done.stderr[-3000:]
    (report,) = [line for line in lines if line.startswith("bump: fit stopped by SIGTERM: ")]  # one rank reports
    (last,) = folder.glob("runs/tiny/version_*/checkpoints/last.ckpt")
    assert report.startswith(f"bump: fit stopped by SIGTERM: saved step {STOP_STEP} {last.relative_to(folder)}; resume with: bump fit ")
    checkpoint = torch.load(last, weights_only=True)
    assert (checkpoint["global_step"], checkpoint["bump_world_size"]) == (STOP_STEP, world_size)
    command = shlex.split(report.split("resume with: ", 1)[1])
    assert command[-2:] == ["--ckpt_path", str(last.relative_to(folder))]
    return last, command[1:]


def _check_resumed(done: subprocess.CompletedProcess, last: Path, folder: Path, record: Path, before: int) -> None:
    """The resume continued step 3 to :data:`MAX_STEPS` in the same run folder and profile cache, and
    said once that the order of users changed."""
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"bump: resuming {last.relative_to(folder)} at step {STOP_STEP}" in done.stdout
    assert done.stdout.count(ORDER_NOTE) == 1, done.stdout
    assert [path.name for path in (folder / "runs" / "tiny").iterdir()] == ["version_0"]
    assert torch.load(last, weights_only=True)["global_step"] == MAX_STEPS
    assert sorted({r["step"] for r in _records(record)[before:]}) == list(range(STOP_STEP, MAX_STEPS))
    caches = sorted(path.name for path in (last.parent.parent / "profiles").iterdir())
    assert caches[0] == "step-000002" and len(caches) >= 2, caches  # the stopped run's cache, then the resumed run's


def test_sigterm_mid_step_on_one_process_saves_exits_143_and_resumes_on_two(tmp_path: Path) -> None:
    record = tmp_path / "steps.jsonl"
    args = ["fit", "--config", str(TINY), "--config", str(_overlay(tmp_path, record))]
    stopped, elapsed = _sigterm_mid_step(args, tmp_path, record, ranks=1)
    last, resume = _check_stopped(stopped, elapsed, tmp_path, world_size=1)
    assert ORDER_NOTE not in stopped.stdout
    before = len(_records(record))
    resumed = run_bump([*resume, *DDP], tmp_path)
    _check_resumed(resumed, last, tmp_path, record, before)
    assert {r["rank"] for r in _records(record)[before:]} == {0, 1}


def test_sigterm_to_the_launching_ddp_process_stops_every_rank_and_resumes_on_one(tmp_path: Path) -> None:
    record = tmp_path / "steps.jsonl"
    args = ["fit", "--config", str(TINY), "--config", str(_overlay(tmp_path, record)), *DDP]
    stopped, elapsed = _sigterm_mid_step(args, tmp_path, record, ranks=2)
    last, resume = _check_stopped(stopped, elapsed, tmp_path, world_size=2)
    pids = {r["pid"] for r in _records(record)}
    assert len(pids) == 2
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(pid) for pid in pids)  # the other rank stopped too
    before = len(_records(record))
    at = resume.index(DDP[0])
    assert resume[at : at + len(DDP)] == DDP
    resumed = run_bump(resume[:at] + resume[at + len(DDP) :], tmp_path)  # the printed command on one process
    _check_resumed(resumed, last, tmp_path, record, before)
    assert {r["rank"] for r in _records(record)[before:]} == {0}


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie awaiting its parent's wait does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
