"""One rank of a 2-process DDP fit fails or hangs: the command ends within a bounded time, and the
error lines say which rank failed at which step (the shipped tiny config, otherwise unchanged)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bump_run import TINY, run_bump

pytestmark = pytest.mark.slow
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2"]


def _fit_with_fault(tmp_path: Path, *fault: str, timeout_s: int) -> tuple[int, str, float]:
    args = ["fit", "--config", str(TINY), *DDP, "--collective_timeout", str(timeout_s),
            "--trainer.callbacks+=rank_faults.RankFault", "--trainer.callbacks.rank=1", "--trainer.callbacks.step=2", *fault]
    start = time.monotonic()
    done = run_bump(args, tmp_path, timeout=600)
    return done.returncode, done.stderr, time.monotonic() - start


def test_a_failing_rank_is_named_and_the_other_stops(tmp_path: Path) -> None:
    code, stderr, _ = _fit_with_fault(tmp_path, timeout_s=120)
    errors = [line for line in stderr.splitlines() if line.startswith("bump: error:")]
    assert code == 1
    assert "bump: error: rank 1, step 2: RuntimeError: planted failure (set BUMP_DEBUG=1 for the traceback)" in errors
    assert not any("rank 0" in line and "planted" in line for line in errors)


def test_a_hanging_rank_ends_the_run_at_the_collective_timeout(tmp_path: Path) -> None:
    code, stderr, seconds = _fit_with_fault(tmp_path, "--trainer.callbacks.hang_seconds=900", timeout_s=20)
    errors = [line for line in stderr.splitlines() if line.startswith("bump: error:")]
    assert code == 1 and seconds < 400  # rank 1 sleeps 900 s: only the timeout ends the run
    assert len(errors) == 1, errors  # rank 0 reports, then ends the stuck rank (its pipes closed: run_bump returned)
    line = errors[0]
    assert line.startswith("bump: error: rank 0, step 2: ") and "a collective failed" in line
