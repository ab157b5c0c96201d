"""The built wheel, installed into a fresh virtual environment, works from an empty folder.

The wheel must carry ``callbacks/`` as ``bump_pl.callbacks`` and ``configs/`` as ``bump_pl.configs``
(and no top-level ``callbacks``/``configs``), and ``bump fit --config tiny`` must train from a folder
that has no project files at all. The fresh venv sees the test environment's site-packages for the
dependencies (torch, lightning, ...) through a ``.pth`` line; bump-pl itself comes only from the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``args`` run in ``cwd`` with ``env`` (default: this one's), never an inherited ``PYTHONPATH``:
    a source tree on it would shadow the wheel (bump-pl must come from the wheel alone)."""
    env = {**(os.environ if env is None else env), "PYTHONPATH": ""}
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args}: {result.stderr[-3000:]}"
    return result


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv with the wheel of a copy of the source tree installed (no-deps)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"  # build from a copy: an in-tree build would leave build/ in the repo
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source)
    for package in ("bump_pl", "callbacks", "configs"):
        shutil.copytree(REPO_ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(root), str(source)], root)
    wheel = next(root.glob("bump_pl-*.whl"))
    env_dir = root / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], root).stdout.strip())
    (site / "deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    # pip of this environment installs into the fresh one (scripts get the fresh interpreter).
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], root)
    return env_dir


def test_wheel_layout(fresh_venv: Path, tmp_path: Path) -> None:
    code = (
        "import bump_pl, bump_pl.callbacks, bump_pl.configs, pathlib; "
        "root = pathlib.Path(bump_pl.__file__).parent; "
        "print(root); print((root / 'py.typed').exists()); print(len(list((root / 'configs').rglob('*.yaml'))))"
    )
    out = _run([str(fresh_venv / "bin" / "python"), "-c", code], tmp_path).stdout.split()
    site = Path(out[0]).parent
    assert site.resolve().is_relative_to(fresh_venv.resolve())
    assert out[1] == "True"
    assert int(out[2]) == len(list((REPO_ROOT / "configs").rglob("*.yaml")))
    assert not (site / "callbacks").exists() and not (site / "configs").exists()


def test_tiny_fit_from_an_empty_folder(fresh_venv: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    _run([str(fresh_venv / "bin" / "bump"), "fit", "--config", "tiny", "--trainer.max_steps", "2"], tmp_path, env)
    checkpoints = list(tmp_path.glob("runs/tiny/version_*/checkpoints/last.ckpt"))
    assert len(checkpoints) == 1
