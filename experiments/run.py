"""One experiment, one command, one row: ``bump fit`` with an overlay, downstream on its checkpoint,
a row appended to ``experiments/results.md``.

    python experiments/run.py experiments/overlays/quick.yaml experiments/overlays/prompt_ratings.yaml
    python experiments/run.py OVERLAY --base configs/tiny.yaml --no-downstream

Overlays are config files composed over the base in order (``--config BASE --config OVERLAY ...``);
each one's first comment line says what it changes, and together they label the row. The row holds what the run logged
(TensorBoard scalars of the run's own folder: validation before and after training per direction,
the history baselines at the same budget, copy rate, profile length, truncated fraction), the wall
time and the machine's load (1-minute load average at start and end; the figures only mean
something on an idle machine), and the downstream error per variant with its 95% interval
(``bump-downstream --ckpt --untrained_profile`` zero-shot on every dev question, the trained and the
untrained generator's profiles and the history baselines, every variant's context cut to the
profile's token budget; rank classification: expected rating under the label options' likelihood),
also drawn beside the report as ``downstream-dev/downstream.png``. Rows are appended by this script only, never edited.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from plots import interval_plot
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results.md"
COLUMNS = [
    "date", "overlays: what changed", "steps", "fit wall", "load", "val/ndcg before → after (p→i / i→p)",
    "history budget", "history full", "copy rate", "profile tokens", "truncated", "downstream MAE@expected",
]
DOWNSTREAM_VARIANTS = (
    "profile", "untrained_profile", "other_user_profile", "no_profile", "recent_history", "retrieved_history",
)


def label(overlays: list[Path]) -> str:
    """Each overlay's name and first comment line (what it changes), joined with ``+``."""
    parts = []
    for overlay in overlays:
        comments = [line for line in overlay.read_text(encoding="utf-8").splitlines() if line.startswith("#")]
        parts.append(f"`{overlay.stem}`" + (f": {comments[0].lstrip('# ').strip()}" if comments else ""))
    return " + ".join(parts)


def scalars(run_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """``{tag: [(step, value)]}`` of every scalar a run folder's TensorBoard events hold, by step."""
    events = EventAccumulator(str(run_dir), size_guidance={"scalars": 0}).Reload()
    return {tag: sorted((e.step, e.value) for e in events.Scalars(tag)) for tag in events.Tags()["scalars"]}


def _first_last(series: dict[str, list[tuple[int, float]]], tag: str) -> tuple[float, float] | None:
    values = series.get(tag)
    return (values[0][1], values[-1][1]) if values else None


def _tail_mean(series: dict[str, list[tuple[int, float]]], tag: str, last: int = 4) -> float | None:
    values = [value for _, value in series.get(tag, [])][-last:]
    return sum(values) / len(values) if values else None


def _fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def ndcg_cell(series: dict[str, list[tuple[int, float]]], source: str = "") -> str:
    """``before → after (p→i / i→p)`` of ``val/ndcg{source}`` (history baselines: their last value)."""
    tag = f"val/ndcg{source}"
    both = _first_last(series, tag)
    if both is None:
        return "–"
    directions = [_first_last(series, f"{tag}_{d}") for d in ("profile_to_item", "item_to_profile")]
    after = " / ".join(_fmt(d[1]) for d in directions if d)
    if source:  # the history does not train: one value
        return f"{both[1]:.3f} ({after})"
    return f"{both[0]:.3f} → **{both[1]:.3f}** ({after})"


def downstream_intervals(report: dict[str, Any]) -> tuple[str, dict[str, dict[str, float]]]:
    """``(metric, {variant: interval})`` of a ``bump-downstream`` report's rank classification: the
    ``@expected`` metric (else the first), for the variants of :data:`DOWNSTREAM_VARIANTS` it scored."""
    metrics = report["rank_classification"]["metrics"]
    name = next((m for m in metrics["profile"] if m.endswith("@expected")), next(iter(metrics["profile"])))
    return name, {variant: metrics[variant][name] for variant in DOWNSTREAM_VARIANTS if variant in metrics}


def downstream_cell(report: dict[str, Any] | None) -> str:
    """Per variant ``MAE@expected [low, high]`` of a ``bump-downstream`` report (rank classification)."""
    if report is None or "rank_classification" not in report:
        return "–"
    return "; ".join(f"{variant} {interval['value']:.3f} [{interval['low']:.2f}, {interval['high']:.2f}]"
                     for variant, interval in downstream_intervals(report)[1].items())


def row(overlays: list[Path], series: dict[str, list[tuple[int, float]]], steps: int, wall_s: float,
        loads: tuple[float, float], report: dict[str, Any] | None) -> list[str]:
    """One results row for a finished run of ``steps`` optimizer steps."""
    return [
        datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M"),
        label(overlays),
        str(steps),
        f"{wall_s / 60:.1f} min",
        f"{loads[0]:.1f}→{loads[1]:.1f}",
        ndcg_cell(series),
        ndcg_cell(series, "_history_budget"),
        ndcg_cell(series, "_history_full"),
        _fmt(_tail_mean(series, "train/copy_rate")),
        _fmt(_tail_mean(series, "train/completion_length/mean"), 1),
        _fmt(_tail_mean(series, "train/truncated_frac"), 2),
        downstream_cell(report),
    ]


def append_row(cells: list[str], results: Path = RESULTS) -> None:
    """Append ``cells`` to the results table, writing its header first when the file is new."""
    lines = []
    if not results.exists():
        lines += [
            "# Experiments (appended by experiments/run.py; never edited by hand)", "",
            "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS),
        ]
    lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    with results.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def _run(command: list[str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(command)}\n")
        out.flush()
        done = subprocess.run(command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        raise SystemExit(f"experiments/run.py: error: {command[2]} exited {done.returncode}; see {log}")


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overlays", type=Path, nargs="+", help="config overlays composed over --base, in order")
    parser.add_argument("--base", type=Path, default=REPO / "configs" / "movielens_minilm.yaml",
                        help="the config the overlays compose over (default: the MiniLM configuration, C)")
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "experiments", help="where the runs go")
    parser.add_argument("--no-downstream", action="store_true", help="skip bump-downstream (judge figures only)")
    parser.add_argument("--downstream-args", default="", help="extra bump-downstream arguments, one string")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    for overlay in args.overlays:
        if not overlay.is_file():
            parser.error(f"{overlay}: no such overlay file")
    name = f"{args.overlays[-1].stem}-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}"
    run_dir = args.runs.resolve() / name / "version_0"
    log = args.runs.resolve() / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    bump = [sys.executable, "-m", "bump_pl.cli"]
    logger = ["--trainer.logger.init_args.save_dir", str(args.runs.resolve()), "--trainer.logger.init_args.name", name]
    loads, start = [os.getloadavg()[0]], time.monotonic()
    configs = [arg for path in (args.base, *args.overlays) for arg in ("--config", str(path))]
    _run([*bump, "fit", *configs, *logger], log)
    wall = time.monotonic() - start
    report = None
    if not args.no_downstream:
        out = run_dir / "downstream-dev"
        config = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        data_dir = str((REPO / config["data"]["data_dir"]).resolve()) if config["data"].get("data_dir") else None
        if data_dir is None:
            raise SystemExit("experiments/run.py: error: downstream needs a LaMP data_dir in the run's config")
        budget = config["model"]["sampling"]["max_new_tokens"]  # every variant's context: the profile's budget
        _run([sys.executable, "-m", "bump_pl.cli.downstream", "--data-dir", data_dir, "--split", "dev",
              "--ckpt", str(run_dir / "checkpoints" / "last.ckpt"), "--mode", "zero_shot", "--untrained_profile",
              "--max-prompt-tokens", str(config["data"]["max_prompt_tokens"]), "--context-tokens", str(budget),
              "--max-new-tokens", "2", "--max-question-tokens", "128", "--eval-batch-size", "16",
              "--profile-batch-size", "16", "--out", str(out), *args.downstream_args.split()], log)
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        if "rank_classification" in report:
            metric, intervals = downstream_intervals(report)
            interval_plot(intervals, out / "downstream.png", title=f"Downstream: {name}",
                          xlabel=f"{metric}, mean and 95% paired-bootstrap interval over questions")
    loads.append(os.getloadavg()[0])
    steps = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)["global_step"]
    append_row(row(args.overlays, scalars(run_dir), steps, wall, (loads[0], loads[1]), report), args.results)
    print(f"experiments/run.py: row appended to {args.results} ({run_dir})")
    return run_dir


if __name__ == "__main__":
    main()
