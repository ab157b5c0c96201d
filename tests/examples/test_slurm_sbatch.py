"""``examples/slurm/bump.sbatch`` under stand-ins for ``srun`` and ``scontrol``: it wires the job's
nodes and tasks into ``--trainer.num_nodes`` / ``--trainer.devices``, resumes when its run folder
holds a ``last.ckpt``, and requeues the job when ``bump`` exits 143 (stopped by SIGTERM)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

SBATCH = Path(__file__).resolve().parents[2] / "examples" / "slurm" / "bump.sbatch"


def _submit(tmp_path: Path, bump_exit: int) -> tuple[int, list[str], str]:
    """Run the script as SLURM would on the first node; its exit code, srun's arguments, scontrol's."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name in ("srun", "scontrol"):
        stand_in = bin_dir / name
        stand_in.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > "{tmp_path}/{name}.args"\nexit ${{FAKE_EXIT:-0}}\n')
        stand_in.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", SLURM_NNODES="2",
               SLURM_NTASKS_PER_NODE="4", SLURM_JOB_ID="77", RUNS=str(tmp_path / "runs" / "movielens"), FAKE_EXIT=str(bump_exit))
    done = subprocess.run(["bash", str(SBATCH), "--trainer.max_steps", "9"], cwd=tmp_path, env=env, capture_output=True, text=True)
    requeued = tmp_path / "scontrol.args"
    return done.returncode, (tmp_path / "srun.args").read_text().split(), requeued.read_text() if requeued.exists() else ""


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_first_job_starts_a_run_on_every_task(tmp_path: Path) -> None:
    code, srun, requeued = _submit(tmp_path, bump_exit=0)
    assert code == 0 and requeued == ""
    assert srun[:4] == ["bump", "fit", "--config", "movielens"] and "--ckpt_path" not in srun
    joined = " ".join(srun)
    assert "--trainer.devices 4 --trainer.num_nodes 2" in joined and joined.endswith("--trainer.max_steps 9")


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_job_stopped_by_sigterm_is_requeued_and_resumes(tmp_path: Path) -> None:
    checkpoints = tmp_path / "runs" / "movielens" / "version_0" / "checkpoints"
    checkpoints.mkdir(parents=True)
    (checkpoints / "last.ckpt").write_bytes(b"")
    code, srun, requeued = _submit(tmp_path, bump_exit=143)
    assert code == 143 and requeued.split() == ["requeue", "77"]
    assert srun[-4:] == ["--ckpt_path", "last", "--trainer.max_steps", "9"]
