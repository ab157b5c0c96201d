"""Running the real ``bump`` command in a subprocess, offline, with a private cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TINY = REPO_ROOT / "configs" / "tiny.yaml"
HERE = Path(__file__).resolve().parent


def bump_env(cache: Path, debug: bool = False) -> dict[str, str]:
    """Environment for a ``bump`` subprocess: offline, private cache, this folder importable."""
    env = {key: value for key, value in os.environ.items() if key != "BUMP_DEBUG"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", BUMP_PL_CACHE=str(cache), OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")]))
    if debug:
        env["BUMP_DEBUG"] = "1"
    return env


def bump_command(*args: str) -> list[str]:
    """``python -m bump_pl.cli ARGS`` with this interpreter."""
    return [sys.executable, "-m", "bump_pl.cli", *args]


def run_bump(args: list[str], cwd: Path, debug: bool = False, timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``bump`` to completion in ``cwd`` (its ``runs/`` land there) and capture its output."""
    return subprocess.run(
        bump_command(*args), cwd=cwd, env=bump_env(cwd / "cache", debug), capture_output=True, text=True, timeout=timeout
    )
