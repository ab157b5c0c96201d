"""Where the time of ``bump fit`` goes: each phase of the training step, and validation.

Runs ``bump fit ARGS`` in this process under ``cProfile`` and reads the cumulative time of the
functions that make up a step (their names are the phases of ``BumpModule.training_step``):

    rollouts      generate_rollouts           (sampling G profiles per user; validation's greedy ones too)
    judge         judge_scores                (both directions, training reward and validation)
    reward        bidirectional_reward        (NDCG over the ranking, pure tensors)
    scoring       score_rollouts              (old/reference log-probs before the update)
    update        policy_update               (forward + backward, per optimizer step)
    optimizer     Optimizer.step
    validation    BumpModule._evaluate        (profiles, judge and NDCG of one validation batch)
    history       history_text                (the history baselines' texts)

Figures are seconds over the whole run and per training step (``training_step`` calls). Profiling
adds a small, even overhead (time is in torch's kernels). The last line is JSON.

    HF_HUB_OFFLINE=1 .venv/bin/python bench/step_breakdown.py --config configs/movielens_minilm.yaml \\
        --trainer.max_steps 4 --trainer.val_check_interval 4 --trainer.limit_val_batches 2
"""

from __future__ import annotations

import cProfile
import json
import os
import pstats
import sys
import time

PHASES = {
    "rollouts": ("rollout.py", "generate_rollouts"),
    "judge": ("verdict.py", "judge_scores"),
    "reward": ("reward.py", "bidirectional_reward"),
    "scoring": ("policy_update.py", "score_rollouts"),
    "update": ("policy_update.py", "policy_update"),
    "optimizer": ("optimizer.py", "wrapper"),
    "validation": ("module.py", "_evaluate"),
    "history": ("baselines.py", "history_text"),
    "training_step": ("module.py", "training_step"),
    "fit": ("trainer.py", "fit"),
}


def phase_seconds(stats: pstats.Stats) -> tuple[dict[str, float], dict[str, int]]:
    """``({phase: cumulative seconds}, {phase: calls})`` from a profile (0 for phases never called)."""
    seconds, calls = dict.fromkeys(PHASES, 0.0), dict.fromkeys(PHASES, 0)
    for (filename, _, function), (_, primitive_calls, _, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        for phase, (file_end, name) in PHASES.items():
            if function == name and filename.endswith(file_end):
                seconds[phase] += cumulative
                calls[phase] += primitive_calls
    return seconds, calls


def main(args: list[str]) -> dict[str, object]:
    from bump_pl.cli import build_cli

    profile = cProfile.Profile()
    load, start = os.getloadavg()[0], time.perf_counter()
    profile.runcall(build_cli, ["fit", *args])  # config names and overlays resolved by build_cli
    wall = time.perf_counter() - start
    seconds, calls = phase_seconds(pstats.Stats(profile))
    steps = max(calls["training_step"], 1)
    result = {
        "args": args,
        "wall_s": round(wall, 2),
        "load_avg_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
        "training_steps": calls["training_step"],
        "seconds": {phase: round(value, 2) for phase, value in seconds.items()},
        "per_step": {phase: round(seconds[phase] / steps, 2) for phase in ("training_step", "rollouts", "judge",
                                                                           "reward", "scoring", "update", "optimizer")},
        "validation_batches": calls["validation"],
    }
    print("phase        total s   per step s")
    for phase in PHASES:
        per = f"{seconds[phase] / steps:10.2f}" if phase in result["per_step"] else ""
        print(f"{phase:12s} {seconds[phase]:8.2f}  {per}")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
