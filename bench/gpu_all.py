"""One GPU call: every check only a GPU can make, in one command, well under 8 minutes, one JSON summary.

    python3 bench/gpu_all.py --wheels .gpu/whl --out "$OUT"   # on the GPU machine (no network needed)
    python bench/gpu_all.py --tiny --out /tmp/gpu-all          # every piece on CPU at tiny sizes (a test runs it)
    python bench/gpu_all.py --fetch .gpu/whl                   # on a networked machine: download the wheels

Pieces, in this order, each a subprocess with its own time limit inside one total budget:

1. ``equivalence``: ``bench/gpu_equivalence.py`` (CUDA-graph rollouts == eager == ``generate``; packed
   cross judge == one sequence per pair).
2. ``step``: ``bench/gpu_step.py`` at the LaMP_3 shape (random-weight Qwen2.5-1.5B policy and 0.5B
   judge, built in that process), its figures checked against :data:`TARGETS`.
3. ``fit``: ``bump fit --config configs/tiny.yaml`` on one GPU in bf16-mixed, otherwise as shipped
   (validation before the fit and every 2 steps, the profile cache, the downstream report).
4. ``validate``: ``bump validate`` from that fit's ``last.ckpt``.
5. ``fsdp``: the same fit with ``configs/strategy/fsdp.yaml`` on one GPU.

The machine that runs it needs only Python 3.11+ with torch, lightning, peft and torchmetrics: the
project runs from this checkout (a folder of links maps ``bump_pl.callbacks`` to ``callbacks/``, as the
installed package does), and the packages such an image lacks come as the wheels in :data:`WHEELS`,
installed offline into a folder put first on ``PYTHONPATH`` where a wheel's distribution is missing or
older. Each piece's output goes to ``OUT/<piece>.log``; the summary (status, wall seconds and key
figures per piece, the targets met or not) is printed as the last line and written to
``OUT/summary.json``. ``--tiny`` runs every piece on CPU with tiny shapes and step counts; the FSDP
piece then only resolves its config (Lightning's ``FSDPStrategy`` refuses a CPU accelerator).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"


@dataclass(frozen=True)
class Wheel:
    """A distribution the GPU image lacks (or has too old), at the version this project is tested with."""

    name: str
    version: str
    sdist_only: bool = False  # no wheel on PyPI: ``--fetch`` builds one (pure Python)

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


# pyproject.toml's dependencies (and their own) that the H200 image lacks: it has torch, lightning,
# peft, torchmetrics, tensorboard, tokenizers, safetensors, huggingface-hub, pandas, pyarrow, xxhash,
# absl-py, but transformers 5.17 (< 5.24) and none of these (/work/.library/device/KINDS.md; the
# 2026-11-29 run of ../shared/gpu-check/fetch-wheels.sh, plus bm25s, a dependency since then).
WHEELS: tuple[Wheel, ...] = (
    Wheel("transformers", "5.24.0"),
    Wheel("jsonargparse", "4.53.0"),
    Wheel("docstring_parser", "0.18.0"),  # jsonargparse[signatures]
    Wheel("typeshed_client", "2.15.0"),  # jsonargparse[signatures]
    Wheel("datasets", "5.2.0"),
    Wheel("dill", "0.4.1"),  # datasets
    Wheel("multiprocess", "0.70.19"),  # datasets; its wheels are per Python version
    Wheel("nltk", "3.10.4"),  # rouge-score (its defusedxml is not imported on this path)
    Wheel("rouge_score", "0.1.2", sdist_only=True),
    Wheel("bm25s", "0.3.16"),
)
FETCH_PYTHON = "3.12"  # the H200 image's python3 (KINDS.md)

# Issue 19's targets for one LaMP_3-shaped training step (U=16, G=8, K=4, 2,048-token prompts,
# 128 new tokens, Qwen2.5-1.5B policy, 0.5B cross judge, bf16) on one H200: gpu_step.py's figures.
TARGETS: dict[str, float] = {"step_s": 6.0, "peak_memory_gb": 80.0, "rollouts_s": 1.5, "judge_s": 3.5, "update_s": 1.0}

BUDGET_S = 450.0  # the whole run, wheels included: leaves room under the 8 minutes of one device call
MIN_PIECE_S = 15.0  # a piece with less time left than this is skipped
GPU_ARGS = ["--trainer.accelerator", "gpu", "--trainer.devices", "1", "--trainer.precision", "bf16-mixed"]
# --tiny: 20 synthetic users (14 train, 3 val, 3 test), one validation batch, 2 steps with a
# validation after each: the second writes the profile cache, and the downstream report follows it.
TINY_DATA_ARGS = ["--data.synthetic.num_users", "20", "--trainer.limit_val_batches", "1"]
TINY_FIT_ARGS = [*TINY_DATA_ARGS, "--trainer.max_steps", "2", "--trainer.val_check_interval", "1"]
OUTPUT_LINE = re.compile(r"^bump: (?:fit|validate): (?P<label>[^:\n]+): (?P<path>.+)$", re.MULTILINE)
VAL_NDCG = re.compile(r"\bval/ndcg\b[\s│|]+(?P<value>[0-9][0-9.eE+-]*)")


class PieceError(ValueError):
    """A piece exited but its output lacks what it should show."""


@dataclass
class Piece:
    """One subprocess: its command (built from the results so far; None: skip) and what to read from it."""

    name: str
    cap_s: float
    command: Callable[[dict[str, dict]], list[str] | None]
    figures: Callable[[str, Path], dict]


# ----------------------------------------------------------------------------- wheels
def installed_version(name: str, path: list[str]) -> str | None:
    """Version of distribution ``name`` first found on ``path``, or None."""
    found = next(iter(importlib.metadata.distributions(name=name, path=path)), None)
    return found.version if found is not None else None


def needs_install(wheel: Wheel, installed: str | None) -> bool:
    """Whether ``wheel`` must be installed: its distribution is missing or older than the pin."""
    from packaging.version import Version

    return installed is None or Version(installed) < Version(wheel.version)


def wheel_file(folder: Path, wheel: Wheel) -> Path | None:
    """The file in ``folder`` of ``wheel``'s pinned version that suits this interpreter best (pip's tag
    order: ``py312`` before ``py311`` on 3.12, which also accepts the latter), or None."""
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name, parse_wheel_filename

    rank: dict = {}
    for i, tag in enumerate(sys_tags()):
        rank.setdefault(tag, i)
    candidates = {}
    for path in folder.glob("*.whl"):
        name, version, _, tags = parse_wheel_filename(path.name)
        ranks = [rank[tag] for tag in tags if tag in rank]
        if name == canonicalize_name(wheel.name) and str(version) == wheel.version and ranks:
            candidates[path] = min(ranks)
    return min(candidates, key=candidates.__getitem__, default=None)


def install_wheels(folder: Path | None, site: Path, log: Path) -> dict:
    """Install the wheels of :data:`WHEELS` that this interpreter needs from ``folder`` into ``site``."""
    search = [str(site), *sys.path]
    needed = [wheel for wheel in WHEELS if needs_install(wheel, installed_version(wheel.name, search))]
    files = {wheel.name: wheel_file(folder, wheel) if folder else None for wheel in needed}
    missing = sorted(name for name, path in files.items() if path is None)
    report = {"needed_here": [wheel.pin for wheel in needed], "missing_files": missing, "installed": []}
    present = [path for path in files.values() if path is not None]
    if present:
        command = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                   "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, present)]
        with log.open("w") as out:
            try:
                done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=120).returncode == 0
            except subprocess.TimeoutExpired:
                done = False
        report["installed" if done else "install_failed"] = [path.name for path in present]
    return report


def fetch_commands(folder: Path) -> list[list[str]]:
    """pip commands that put every wheel of :data:`WHEELS` for :data:`FETCH_PYTHON` into ``folder``."""
    pip = [sys.executable, "-m", "pip"]
    binary = [wheel.pin for wheel in WHEELS if not wheel.sdist_only]
    source = [wheel.pin for wheel in WHEELS if wheel.sdist_only]
    return [
        [*pip, "download", "--no-deps", "--only-binary=:all:", "--python-version", FETCH_PYTHON, "-d", str(folder), *binary],
        [*pip, "wheel", "--no-deps", "-w", str(folder), *source],
    ]


def requirements_of(name: str, path: list[str]) -> list[str]:
    """The ``Requires-Dist`` lines of distribution ``name`` first found on ``path`` (none if absent)."""
    found = next(iter(importlib.metadata.distributions(name=name, path=path)), None)
    return (found.requires or []) if found is not None else []


def dependency_report(search: list[str]) -> dict:
    """Installed version of each pyproject.toml dependency, and every requirement (those of pyproject.toml
    and of the :data:`WHEELS` distributions, extras left out) that ``search`` does not meet."""
    from packaging.requirements import Requirement

    project = [Requirement(line) for line in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]]
    wheels = [Requirement(line) for wheel in WHEELS for line in requirements_of(wheel.name, search)]
    unmet = []
    for req in project + wheels:
        found = installed_version(req.name, search)
        applies = req.marker is None or req.marker.evaluate({"extra": ""})
        if applies and (found is None or not req.specifier.contains(found, prereleases=True)):
            unmet.append(f"{req} (found {found})")
    return {"versions": {req.name: installed_version(req.name, search) for req in project}, "unmet": sorted(set(unmet))}


# ----------------------------------------------------------------------------- the source tree
def source_view(folder: Path) -> Path:
    """A folder whose ``bump_pl`` links to this checkout's, with ``callbacks`` and ``configs`` mapped in
    (as pyproject.toml's package-dir does), so the project imports from source without being installed."""
    package = folder / "bump_pl"
    package.mkdir(parents=True, exist_ok=True)
    links = {entry.name: entry for entry in (ROOT / "bump_pl").iterdir() if entry.name != "__pycache__"}
    links.update(callbacks=ROOT / "callbacks", configs=ROOT / "configs")
    for name, target in links.items():
        if not (package / name).is_symlink():
            (package / name).symlink_to(target)
    return folder


def child_env(python_path: list[Path], tiny: bool) -> dict[str, str]:
    """The pieces' environment: the wheels and the source first on ``PYTHONPATH``, offline, unbuffered."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1", BUMP_DEBUG="1")
    env["PYTHONPATH"] = os.pathsep.join([*map(str, python_path), *filter(None, [os.environ.get("PYTHONPATH")])])
    if tiny:  # on a few shared cores, oversubscribed OpenMP threads made the tiny fit ~10x slower
        env["OMP_NUM_THREADS"] = "1"
    return env


# ----------------------------------------------------------------------------- reading outputs
def last_json(output: str) -> dict:
    """The last line of ``output`` that is a JSON object (the bench scripts' convention)."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                continue
    raise PieceError("no JSON line in the output")


def equivalence_figures(output: str, cwd: Path) -> dict:
    report = last_json(output)
    if report.get("ok") is not True:
        raise PieceError("an equivalence check failed")
    return report


def step_figures(output: str, cwd: Path) -> dict:
    figures = last_json(output)
    missing = [key for key in TARGETS if not isinstance(figures.get(key), (int, float))]
    if missing:
        raise PieceError(f"gpu_step.py reported no {missing}")
    return figures


def run_outputs(output: str, cwd: Path) -> dict[str, str]:
    """``bump``'s closing lines (``bump: fit: last checkpoint: PATH``) as ``{label: absolute path}``."""
    return {match["label"]: str(cwd / match["path"].strip()) for match in OUTPUT_LINE.finditer(output)}


def fit_figures(output: str, cwd: Path) -> dict:
    """The fit's outputs, the users in its profile cache and its downstream report's question counts."""
    outputs = run_outputs(output, cwd)
    for label in ("last checkpoint", "profile cache", "logs (TensorBoard)"):
        if label not in outputs:
            raise PieceError(f"the fit printed no {label}")
    reports = sorted(Path(outputs["logs (TensorBoard)"]).glob("downstream/step-*/report.json"))
    if not reports:
        raise PieceError("the fit wrote no downstream report")
    profiles = (Path(outputs["profile cache"]) / "profiles.jsonl").read_text().splitlines()
    return {
        "outputs": outputs,
        "profiles_cached": len(profiles),
        "downstream_questions": json.loads(reports[-1].read_text())["num_questions"],
    }


def validate_figures(output: str, cwd: Path) -> dict:
    match = VAL_NDCG.search(output)
    if match is None:
        raise PieceError("bump validate printed no val/ndcg")
    return {"val_ndcg": float(match["value"]), "outputs": run_outputs(output, cwd)}


def fsdp_config_figures(output: str, cwd: Path) -> dict:
    if "FSDPStrategy" not in output:
        raise PieceError("the resolved config has no FSDPStrategy")
    return {"scope": "config only (Lightning's FSDPStrategy needs a GPU)"}


def evaluate_targets(figures: dict) -> dict[str, dict]:
    """Each of :data:`TARGETS` with ``gpu_step.py``'s value and whether it is met (missing: not met)."""
    out = {}
    for key, limit in TARGETS.items():
        value = figures.get(key)
        out[key] = {"limit": limit, "value": value, "met": isinstance(value, (int, float)) and value <= limit}
    return out


# ----------------------------------------------------------------------------- the pieces
def pieces(tiny: bool) -> list[Piece]:
    """The five pieces, full (one GPU) or tiny (CPU)."""
    python = sys.executable
    device = ["--device", "cpu"] if tiny else []
    bump = [python, "-m", "bump_pl.cli"]
    tiny_yaml = ["--config", str(ROOT / "configs" / "tiny.yaml"), "--trainer.enable_progress_bar", "false"]
    fsdp_config = ["--config", str(ROOT / "configs" / "strategy" / "fsdp.yaml"), "--trainer.logger.init_args.name", "tiny_fsdp"]
    fit_args = TINY_FIT_ARGS if tiny else GPU_ARGS

    def validate(results: dict[str, dict]) -> list[str] | None:
        checkpoint = results["fit"].get("figures", {}).get("outputs", {}).get("last checkpoint")
        if checkpoint is None:
            return None
        return [*bump, "validate", *tiny_yaml, *(TINY_DATA_ARGS if tiny else GPU_ARGS), "--ckpt_path", checkpoint]

    fsdp = [*bump, "fit", *tiny_yaml, *fsdp_config, *(["--print_config"] if tiny else GPU_ARGS)]
    return [
        Piece("equivalence", 60, lambda _: [python, str(BENCH / "gpu_equivalence.py"), *device], equivalence_figures),
        Piece("step", 240, lambda _: [python, str(BENCH / "gpu_step.py"), *device, *(["--tiny"] if tiny else [])], step_figures),
        Piece("fit", 90, lambda _: [*bump, "fit", *tiny_yaml, *fit_args], fit_figures),
        Piece("validate", 60, validate, validate_figures),
        Piece("fsdp", 90, lambda _: fsdp, fsdp_config_figures if tiny else fit_figures),
    ]


def error_tail(output: str, lines: int = 6, limit: int = 1200) -> str:
    """The last non-empty lines of ``output``, joined, for the summary."""
    kept = [line.strip() for line in output.splitlines() if line.strip()][-lines:]
    return " | ".join(kept)[-limit:]


def run_piece(command: list[str], timeout_s: float, cwd: Path, env: dict[str, str], log: Path) -> tuple[int | None, float]:
    """Run ``command`` with its output in ``log``; its process group is killed at ``timeout_s``.
    Returns the exit status (None: timed out) and the wall seconds."""
    start = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            code = None
    return code, round(time.perf_counter() - start, 2)


def run_one(piece: Piece, command: list[str], timeout_s: float, cwd: Path, env: dict[str, str], out: Path) -> dict:
    """Run one piece: its status (ok, failed, timeout), wall seconds, figures, and on failure its last lines."""
    log = out / f"{piece.name}.log"
    code, wall = run_piece(command, timeout_s, cwd, env, log)
    output = log.read_text(errors="replace")
    result: dict = {"status": "timeout" if code is None else "ok" if code == 0 else "failed", "wall_s": wall,
                    "returncode": code, "timeout_s": round(timeout_s), "command": command[1:]}
    try:
        result["figures"] = piece.figures(output, cwd)
    except (PieceError, OSError, KeyError, json.JSONDecodeError) as error:
        result["status"] = "failed" if result["status"] == "ok" else result["status"]
        result["problem"] = str(error)
    if result["status"] != "ok":
        result["error"] = error_tail(output)
    return result


def run_all(piece_list: list[Piece], deadline: float, cwd: Path, env: dict[str, str], out: Path) -> dict[str, dict]:
    """Each piece in turn, its limit cut to the deadline (``time.perf_counter()`` seconds); skipped when a
    piece it needs failed or too little time is left."""
    results: dict[str, dict] = {}
    for piece in piece_list:
        command, left = piece.command(results), deadline - time.perf_counter()
        if command is None:
            results[piece.name] = {"status": "skipped", "reason": "a piece it needs failed"}
        elif left < MIN_PIECE_S:
            results[piece.name] = {"status": "skipped", "reason": f"{left:.0f} s left of the budget"}
        else:
            results[piece.name] = run_one(piece, command, min(piece.cap_s, left), cwd, env, out)
        print(f"gpu_all: {piece.name}: {results[piece.name]['status']} {results[piece.name].get('wall_s', '')}", flush=True)
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="folder for summary.json and one log per piece")
    parser.add_argument("--wheels", type=Path, help="folder holding the wheels of WHEELS (see --fetch)")
    parser.add_argument("--tiny", action="store_true", help="every piece on CPU at tiny sizes (the test's run)")
    parser.add_argument("--work", type=Path, help="scratch folder: installed wheels, source view, runs (default: a new temp folder)")
    parser.add_argument("--budget-s", type=float, default=BUDGET_S, help="seconds for the whole run")
    parser.add_argument("--fetch", type=Path, metavar="DIR", help="download the wheels into DIR (networked machine) and exit")
    args = parser.parse_args(argv)
    if args.fetch is None and args.out is None:
        parser.error("--out is required (unless --fetch)")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    print("gpu_all: wheels it needs where missing or older:", " ".join(wheel.pin for wheel in WHEELS), flush=True)
    if args.fetch is not None:
        for command in fetch_commands(args.fetch):
            subprocess.run(command, check=True)
        return {}
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="bump-gpu-all-"))
    # "site-packages" in the path: dill (datasets' fingerprints) pickles the types of modules outside
    # such a path by value, as user code
    site, view = work / "site-packages", source_view(work / "source-view")
    site.mkdir(parents=True, exist_ok=True)
    wheels = install_wheels(args.wheels, site, args.out / "pip.log")
    print(f"gpu_all: needed here: {wheels['needed_here'] or 'none'}; missing files: {wheels['missing_files'] or 'none'}", flush=True)
    env = child_env([site, view], args.tiny)
    results = run_all(pieces(args.tiny), start + args.budget_s, work, env, args.out)
    step = results["step"].get("figures", {})
    summary = {
        "mode": "tiny-cpu" if args.tiny else "gpu",
        "ok": all(result["status"] == "ok" for result in results.values()),
        "wall_s": round(time.perf_counter() - start, 1),
        "budget_s": args.budget_s,
        "wheels": {"all": [wheel.pin for wheel in WHEELS], **wheels},
        "environment": {"python": sys.version.split()[0], **dependency_report([str(site), *sys.path])},
        "pieces": results,
        "targets": evaluate_targets(step),
        "targets_apply": not args.tiny,  # the targets are for the LaMP_3 shape on an H200
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
