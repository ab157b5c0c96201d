"""A non-editable install exposes ``callbacks/`` as ``bump_pl.callbacks`` and installs no top-level ``callbacks``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_non_editable_install_exposes_bump_pl_callbacks(tmp_path: Path) -> None:
    source = tmp_path / "src"  # build from a copy: an in-tree build would leave build/ in the repo
    source.mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", source)
    for package in ("bump_pl", "callbacks"):
        shutil.copytree(REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
         "--target", str(target), str(source)],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    # PYTHONPATH comes before site-packages and the editable finder (appended to sys.meta_path),
    # so the installed copy answers; its dependencies (lightning, ...) come from site-packages.
    probe = subprocess.run(
        [sys.executable, "-c", "import bump_pl.callbacks; print(bump_pl.callbacks.__file__)"],
        cwd=tmp_path, env={"PYTHONPATH": str(target), "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True,
        timeout=300,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).resolve().is_relative_to(target.resolve())
    assert not (target / "callbacks").exists()
