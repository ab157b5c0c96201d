"""``kill -9`` while the profile cache of step 2 is being written, then ``bump fit ... --ckpt_path last``:
one run folder (one TensorBoard run, the baseline logged once), the cache of the interrupted step
completed and its downstream report written, no ``.partial-*`` left, and every global step sees the
users of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from bump_run import TINY, bump_command, bump_env, run_bump

MAX_STEPS = 4


def _overlay(folder: Path, record: Path) -> list[str]:
    """tiny.yaml with a cache after every validation (steps 2 and 4), tiny's downstream step, the recorder."""
    overlay = {
        "trainer": {
            "max_steps": MAX_STEPS,
            "callbacks": [
                {
                    "class_path": "lightning.pytorch.callbacks.ModelCheckpoint",
                    "init_args": {"save_last": True, "every_n_train_steps": 2, "save_top_k": -1},
                },
                {  # every_n_validations explicit: list items that match tiny.yaml's by position are merged with them
                    "class_path": "bump_pl.callbacks.ProfileCacheCallback",
                    "init_args": {"splits": ["train", "val"], "every_n_validations": 1},
                },
                {  # settings replace tiny.yaml's as a whole (a dataclass value is not merged)
                    "class_path": "bump_pl.callbacks.DownstreamEvalCallback",
                    "init_args": {
                        "settings": {
                            "backbone": "tiny-random-llama",
                            "mode": "zero_shot",
                            "max_answer_tokens": 4,
                            "context_tokens": 32,
                            "history_items": 4,
                        }
                    },
                },
                {"class_path": "step_recorder.StepRecorder", "init_args": {"path": str(record)}},
            ],
        },
        "model": {"sampling": {"max_new_tokens": 4}},
        "data": {"users_per_batch": 4},
    }
    path = folder / "overlay.yaml"
    path.write_text(yaml.safe_dump(overlay))
    return ["fit", "--config", str(TINY), "--config", str(path)]


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _scalar_steps(run: Path, tag: str) -> list[int]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return sorted(event.step for event in events.Scalars(tag))


def _kill_when_caching(process: subprocess.Popen, folder: Path, timeout: float = 600) -> None:
    """SIGKILL as soon as the first batch of step 2's cache is on disk."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"fit ended (rc {process.returncode}) before caching step 2: {process.stderr.read()}")
        if list(folder.glob("runs/tiny/version_0/profiles/.partial-step-000002/shard-*.jsonl")):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.02)
    raise AssertionError(f"step 2's cache not started in {timeout} s")


@pytest.mark.slow
def test_kill_9_while_caching_then_ckpt_path_last_finishes_the_same_run(tmp_path: Path) -> None:
    reference_dir, run_dir = tmp_path / "reference", tmp_path / "killed"
    for folder in (reference_dir, run_dir):
        folder.mkdir()
    reference = run_bump(_overlay(reference_dir, reference_dir / "steps.jsonl"), reference_dir)
    assert reference.returncode == 0, reference.stderr
    expected = {r["step"]: r["users"] for r in _records(reference_dir / "steps.jsonl")}
    assert sorted(expected) == list(range(MAX_STEPS))
    (reference_run,) = reference_dir.glob("runs/tiny/version_*")

    args, record = _overlay(run_dir, run_dir / "steps.jsonl"), run_dir / "steps.jsonl"
    process = subprocess.Popen(
        bump_command(*args), cwd=run_dir, env=bump_env(run_dir / "cache"), stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        _kill_when_caching(process, run_dir)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL
    run = run_dir / "runs/tiny/version_0"
    assert not (run / "profiles/step-000002").exists()  # the kill really interrupted the cache
    killed = _records(record)

    resumed = run_bump([*args, "--ckpt_path", "last"], run_dir)
    assert resumed.returncode == 0, resumed.stderr
    assert "bump: resuming runs/tiny/version_0/checkpoints/last.ckpt at step 2, logging to runs/tiny/version_0" in resumed.stdout
    assert [p.name for p in run_dir.glob("runs/tiny/*")] == ["version_0"]  # one run folder, one TensorBoard run
    assert sorted(p.name for p in (run / "profiles").iterdir()) == ["step-000002", "step-000004"]
    assert not list(run_dir.rglob(".partial-*")) and not list(run_dir.rglob(".tmp-*"))
    for step in (2, 4):
        rows = (run / f"profiles/step-{step:06d}/profiles.jsonl").read_text().splitlines()
        assert len(rows) == sum(1 for _ in (reference_run / f"profiles/step-{step:06d}/profiles.jsonl").open())
    assert f"bump: fit: profile cache: runs/tiny/version_0/profiles/step-{MAX_STEPS:06d}" in resumed.stdout
    for step in (2, 4):  # the interrupted step's downstream report too, one logged value per step
        report = json.loads((run / f"downstream/step-{step:06d}/report.json").read_text())
        assert report["step"] == step and report["profile_cache"] == str((run / f"profiles/step-{step:06d}").resolve())
    assert _scalar_steps(run, "downstream/profile/MAE") == _scalar_steps(reference_run, "downstream/profile/MAE") == [2, 4]

    after = _records(record)[len(killed):]
    final = {r["step"]: r["users"] for r in killed if r["step"] < after[0]["step"]}
    final.update({r["step"]: r["users"] for r in after})
    assert final == expected  # the data order continued: the same step -> users map
    # The baseline (step 0) is logged once: the resumed fit did not validate the untrained model again.
    assert _scalar_steps(run, "val/ndcg") == _scalar_steps(reference_run, "val/ndcg")
    assert _scalar_steps(run, "train/reward") == _scalar_steps(reference_run, "train/reward")
