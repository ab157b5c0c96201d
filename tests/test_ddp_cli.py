"""`bump` under DDP: two gloo processes on CPU, the shipped configs as users run them.

The shipped configs are used unchanged but for their size (tiny: validation before fit and every 2
steps, profile cache, downstream report, profile writer; MovieLens: real users, the demo models,
history baselines and the copy penalty): a collective reached by one rank only would hang here.

Two "nodes" of one process each, started as a cluster starts them (two ``torchrun --nnodes 2``
processes; two processes with the variables ``srun`` sets, read by Lightning's ``SLURMEnvironment``),
train the shipped tiny config into one run folder with the same figures as 2-process DDP.
"""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

from bump_pl.callbacks import load_profiles
from bump_pl.data import read_lamp
from gloo_ranks import free_port

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
#: The shipped MovieLens configs: the likelihood judge's recipe and the MiniLM configuration under it.
MOVIELENS = ("movielens", "movielens_minilm")
DDP = ["--trainer.strategy", "ddp", "--trainer.devices", "2"]
pytestmark = pytest.mark.slow


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, HF_HUB_OFFLINE="1", BUMP_PL_CACHE=str(tmp_path / "cache"), OMP_NUM_THREADS="1", **extra)
    env.pop("BUMP_DEBUG", None)
    return env


def _check_clean(done: subprocess.CompletedProcess, what: str) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{what} exited {done.returncode}:\n{done.stderr[-3000:]}"
    assert "terminate called" not in done.stderr  # a process group torn down at exit aborts a clean run
    return done


def _bump(tmp_path: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "bump_pl.cli", *args], cwd=tmp_path, env=_env(tmp_path), capture_output=True, text=True, timeout=timeout
    )
    return _check_clean(done, f"bump {' '.join(args)}")


def _together(tmp_path: Path, commands: list[list[str]], envs: list[dict[str, str]], timeout: float = 600) -> list[subprocess.CompletedProcess]:
    """Run ``commands`` at once in ``tmp_path`` (the "nodes" of one job), each with its environment; all must succeed."""
    processes = [
        subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command, env in zip(commands, envs)
    ]
    try:
        outputs = [process.communicate(timeout=timeout) for process in processes]
    finally:
        for process in processes:
            process.kill()
    return [
        _check_clean(subprocess.CompletedProcess(command, process.returncode, out, err), f"node {node}")
        for node, (command, process, (out, err)) in enumerate(zip(commands, processes, outputs))
    ]


@dataclass
class TinyRun:
    """A finished run of the shipped tiny config: its folder, every ``val/ndcg`` it logged, its cached profiles."""

    folder: Path
    val_ndcg: list[float]
    profiles: dict


def _tiny_run(folder: Path) -> TinyRun:
    """The one run folder under ``folder`` (``runs/tiny/version_0``) and its figures, with a downstream report."""
    (run,) = (folder / "runs" / "tiny").iterdir()
    assert run.name == "version_0" and _global_step(run / "checkpoints" / "last.ckpt") == 4
    assert (run / "downstream" / "step-000004" / "report.json").is_file()
    return TinyRun(run, _scalar_events(run)["val/ndcg"], load_profiles(run / "profiles" / "step-000004"))


@pytest.fixture(scope="module")
def ddp_tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyRun:
    """The shipped tiny config under 2-process DDP (Lightning launches the second process): the
    reference of the multi-node runs; its figures are read before any test continues the run."""
    folder = tmp_path_factory.mktemp("ddp_tiny")
    done = _bump(folder, "fit", "--config", str(TINY), *DDP)
    assert "Starting with 2 processes" in done.stdout + done.stderr
    return _tiny_run(folder)


def _global_step(checkpoint: Path) -> int:
    return torch.load(checkpoint, map_location="cpu", weights_only=True)["global_step"]


def _predictions(path: Path) -> dict[str, str]:
    return {row["user_id"]: row["profile"] for line in path.read_text().splitlines() for row in [json.loads(line)]}


def test_two_process_ddp_fit_reaches_max_steps(tmp_path):
    args = ["--trainer.max_steps", "2", "--model.grpo.num_iterations", "2", "--validate_before_fit", "false"]
    done = _bump(tmp_path, "fit", "--config", str(TINY), *DDP, *args)
    assert "Starting with 2 processes" in done.stdout + done.stderr
    last = next(tmp_path.glob("runs/tiny/version_*/checkpoints/last.ckpt"))
    checkpoint = torch.load(last, map_location="cpu", weights_only=True)
    batches = checkpoint["loops"]["fit_loop"]["epoch_loop.batch_progress"]["total"]["processed"]
    assert (checkpoint["global_step"], batches) == (2, 1)  # max_steps counts optimizer steps: 1 batch x mu 2


def test_shipped_tiny_config_fit_resume_validate_test_predict_under_ddp(ddp_tiny):
    config = ["--config", str(TINY)]
    run = ddp_tiny.folder
    tmp_path = run.parents[2]
    # validations at steps 0 (before fit), 2 and 4; a cache every 2nd validation of the fit: step 4 only
    assert sorted(p.name for p in (run / "profiles").iterdir()) == ["step-000004"]
    assert sorted(p.name for p in (run / "downstream").iterdir()) == ["step-000004"]
    (dev,) = (tmp_path / "cache" / "synthetic").glob("*/dev_questions.json")
    cached = load_profiles(run / "profiles" / "step-000004")
    report = json.loads((run / "downstream" / "step-000004" / "report.json").read_text())
    assert report["eval_ids"] == [example.id for example in read_lamp(dev, task="LaMP_3")]
    assert {split for _, split in cached} == {"train", "val"} and len(cached) > len(report["eval_ids"])

    resumed = _bump(tmp_path, "fit", *config, *DDP, "--ckpt_path", "last", "--trainer.max_steps", "6")
    assert resumed.stdout.count("bump: resuming") == 1  # said once, not by every rank
    assert [p.name for p in (tmp_path / "runs" / "tiny").iterdir()] == ["version_0"]
    assert _global_step(run / "checkpoints" / "last.ckpt") == 6
    assert sorted(p.name for p in (run / "profiles").iterdir()) == ["step-000004"]  # step 6 is the 3rd validation

    for subcommand in ("validate", "test"):
        done = _bump(tmp_path, subcommand, *config, *DDP, "--ckpt_path", "last")
        assert f"bump: {subcommand}: logs (TensorBoard): runs/tiny/version_0" in done.stdout
        assert done.stdout.count(f"bump: {subcommand}: checkpoint ") == 1
        assert (run / f"{subcommand}-config.yaml").is_file()

    _bump(tmp_path, "predict", *config, *DDP, "--ckpt_path", "last", "--data.predict_file", str(dev))
    by_rank = [_predictions(run / f"predictions.rank{rank}.jsonl") for rank in (0, 1)]
    assert by_rank[0] and by_rank[1] and not set(by_rank[0]) & set(by_rank[1])  # each rank its own users
    _bump(tmp_path, "predict", *config, "--ckpt_path", "last", "--data.predict_file", str(dev))  # one process
    single = run / "predictions.jsonl"
    assert {**by_rank[0], **by_rank[1]} == _predictions(single)  # the same greedy profiles as one process
    assert len(_predictions(single)) == len({example.user_id for example in read_lamp(dev, task="LaMP_3")})


def _scalar_events(run: Path) -> dict[str, list[float]]:
    """Every scalar a run logged, per tag, in the order written (event files in name order)."""
    values: dict[str, list[float]] = {}
    for path in sorted(run.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name == "scalars":  # the loader stores them as tensors
                    values.setdefault(value.tag, []).append(value.tensor.float_val[0])
    return values


@pytest.mark.parametrize("config", MOVIELENS)
def test_shipped_movielens_config_validates_and_trains_under_ddp(tmp_path, movielens_dir, config):
    """A step between two validations of the real dev users, as the shipped config runs them."""
    size = ["--trainer.max_steps", "1", "--trainer.val_check_interval", "1", "--trainer.limit_val_batches", "1"]
    shipped = TINY.with_name(f"{config}.yaml")
    done = _bump(tmp_path, "fit", "--config", str(shipped), "--data.data_dir", str(movielens_dir), *DDP, *size)
    assert "Starting with 2 processes" in done.stdout + done.stderr
    (run,) = (tmp_path / "runs" / config).iterdir()
    assert _global_step(run / "checkpoints" / "last.ckpt") == 1
    logged = _scalar_events(run)
    for tag in ("val/ndcg", "val/ndcg_history_budget", "val/ndcg_history_full"):
        assert len(logged[tag]) == 2, tag  # before the fit and after its step
        assert all(0.0 < value <= 1.0 for value in logged[tag]), tag
    # the raw history does not depend on the policy: both validations ranked the same users alike
    for tag in ("val/ndcg_history_budget", "val/ndcg_history_full"):
        assert logged[tag][0] == pytest.approx(logged[tag][1], abs=1e-6), tag
    assert len(logged["train/reward"]) == len(logged["train/copy_rate"]) == 1


def test_two_torchrun_nodes_train_the_tiny_config_as_two_process_ddp(ddp_tiny, tmp_path):
    """Two ``torchrun --nnodes 2 --nproc_per_node 1`` agents (c10d rendezvous) stand in for two nodes."""
    endpoint = f"localhost:{free_port()}"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc_per_node", "1",
                "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", "bump-test"]
    command = [*torchrun, "-m", "bump_pl.cli", "fit", "--config", str(TINY), "--trainer.num_nodes", "2"]
    nodes = _together(tmp_path, [command, command], [_env(tmp_path), _env(tmp_path)])
    assert sum(done.stdout.count("bump: fit: last checkpoint:") for done in nodes) == 1  # global rank 0 reports
    run = _tiny_run(tmp_path)
    assert run.val_ndcg == pytest.approx(ddp_tiny.val_ndcg, abs=1e-6) and len(run.val_ndcg) == 3  # steps 0, 2, 4
    assert run.profiles == ddp_tiny.profiles


def test_two_slurm_tasks_train_the_tiny_config_as_two_process_ddp(ddp_tiny, tmp_path):
    """The variables ``srun --nodes 2 --ntasks-per-node 1`` gives each task: Lightning's
    ``SLURMEnvironment`` reads the ranks from them (without it both processes would be rank 0)."""
    slurm = dict(SLURM_JOB_ID="4242", SLURM_JOB_NAME="bump", SLURM_NTASKS="2", SLURM_NTASKS_PER_NODE="1", SLURM_NNODES="2",
                 SLURM_NODELIST="localhost", SLURM_LOCALID="0", MASTER_PORT=str(free_port()))
    envs = [_env(tmp_path, **slurm, SLURM_PROCID=str(rank), SLURM_NODEID=str(rank)) for rank in (0, 1)]
    for env in envs:
        for name in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "GROUP_RANK"):
            env.pop(name, None)
    command = [sys.executable, "-m", "bump_pl.cli", "fit", "--config", str(TINY), "--trainer.num_nodes", "2"]
    nodes = _together(tmp_path, [command, command], envs)
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in nodes[1].stdout + nodes[1].stderr
    run = _tiny_run(tmp_path)
    assert run.val_ndcg == pytest.approx(ddp_tiny.val_ndcg, abs=1e-6)
    assert run.profiles == ddp_tiny.profiles


def test_validate_on_one_process_reproduces_a_two_process_fits_val_ndcg(tmp_path):
    """A 2-process fit ranks both ranks' users together; `bump validate` of its checkpoint on one
    process does too (it says so), so the point it adds to the run's curve is the fit's own figure."""
    config = ["--config", str(TINY), "--trainer.max_steps", "2"]
    _bump(tmp_path, "fit", *config, *DDP)
    (run,) = (tmp_path / "runs" / "tiny").iterdir()
    done = _bump(tmp_path, "validate", *config, "--ckpt_path", "last")
    assert done.stdout.count("ranks the users of 2 of the fit's 2 ranks together") == 1
    scalars = _scalar_events(run)
    *_, fitted, validated = scalars["val/ndcg"]
    assert validated == pytest.approx(fitted, abs=1e-4)
    assert scalars["val/ranking_users"][-1] == scalars["val/ranking_users"][-2] > 0
