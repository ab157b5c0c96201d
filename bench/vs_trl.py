"""bump-pl vs TRL's GRPOTrainer on BUMP's shape of work: seconds per optimizer step and peak RSS.

The same workload goes through both stacks: the same model (loaded by bump-pl's loaders on both
sides, so it works offline), the same LoRA, the same synthetic users and exact-length prompts,
the same G, completion length, beta, judge and reward, and the same number of optimizer steps,
with fixed seeds, on CPU. Every completion is exactly ``--completion-tokens`` long on both sides
(TRL: ``min_new_tokens``; bump-pl: stop tokens masked out of the sampling logits, see
``_bump_side.py``), so both do identical generation and training work per step.

Each side runs in its own subprocess (this script with ``--side bump|trl --workload FILE``), so
peak RSS (``ru_maxrss``) is that side's alone. The last printed line is one JSON object.

    python bench/vs_trl.py --model smollm2-135m-instruct --users 2 --group-size 8 \\
        --prompt-tokens 1024 --completion-tokens 128 --steps 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from dataclasses import asdict, fields
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from _workload import BenchSettings, Workload, build_workload

LIBRARIES = ("torch", "transformers", "trl", "peft", "lightning", "accelerate", "bump-pl")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = BenchSettings()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=defaults.model, help="smollm2-135m-instruct | tiny-random-llama | path")
    parser.add_argument("--judge", default=defaults.judge, help="EmbeddingJudge model (alias, folder or Hub id)")
    parser.add_argument("--users", type=int, default=defaults.users, help="U users per step")
    parser.add_argument("--group-size", type=int, default=defaults.group_size, help="G completions per user")
    parser.add_argument("--heldout", type=int, default=defaults.heldout, help="K held-out interactions per user")
    parser.add_argument("--prompt-tokens", type=int, default=defaults.prompt_tokens, help="exact prompt length")
    parser.add_argument("--completion-tokens", type=int, default=defaults.completion_tokens, help="exact completion length")
    parser.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps (the first is a warm-up)")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--beta", type=float, default=defaults.beta, help="KL coefficient (both sides)")
    parser.add_argument("--learning-rate", type=float, default=defaults.learning_rate)
    parser.add_argument("--lora-rank", type=int, default=defaults.lora_rank)
    parser.add_argument("--lora-alpha", type=int, default=defaults.lora_alpha)
    parser.add_argument("--temperature", type=float, default=defaults.temperature)
    parser.add_argument(
        "--trl-gradient-checkpointing",
        choices=("on", "off"),
        default="on" if defaults.trl_gradient_checkpointing else "off",
        help="TRL's activation checkpointing; on is GRPOConfig's default (without it TRL's activations for"
        " U*G full prompt+completion sequences do not fit in RAM at the BUMP shape)",
    )
    parser.add_argument(
        "--trl-micro-batch", type=int, default=0, help="TRL sequences per forward/backward (0: all U*G at once)"
    )
    parser.add_argument(
        "--bump-grad-budget-tokens", type=int, default=None,
        help="bump-pl's grad_budget_tokens (tokens forwarded with gradients at once); default: BumpModule's default",
    )
    parser.add_argument("--side", choices=("both", "bump", "trl"), default="both")
    parser.add_argument("--workload", help="workload JSON written by the parent (internal; built when absent)")
    return parser.parse_args(argv)


def settings_from(args: argparse.Namespace) -> BenchSettings:
    names = {f.name for f in fields(BenchSettings)}
    values = {name: value for name, value in vars(args).items() if name in names}
    values["trl_gradient_checkpointing"] = args.trl_gradient_checkpointing == "on"
    return BenchSettings(**values)


def library_versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def run_side(side: str, workload: Workload, work_dir: str) -> dict:
    """Run one side in this process; returns its ``SideResult`` as a dict."""
    if side == "trl":
        from _trl_side import run_trl

        return run_trl(workload, output_dir=work_dir).to_dict()
    from _bump_side import run_bump

    return run_bump(workload, log_dir=work_dir).to_dict()


def run_child(side: str, argv: list[str], workload_path: str) -> dict:
    """This script with ``--side side`` in a fresh interpreter; its last stdout line is the result."""
    command = [sys.executable, str(Path(__file__).resolve()), *argv, "--side", side, "--workload", workload_path]
    print(f"[vs_trl] running {side} side ...", file=sys.stderr, flush=True)
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise SystemExit(f"vs_trl: the {side} side failed (exit code {done.returncode}); see its stderr above")
    return json.loads(lines[-1])


def summary(settings: BenchSettings, workload: Workload, bump: dict, trl: dict) -> dict:
    return {
        "bump_s_per_step": bump["s_per_step"],
        "trl_s_per_step": trl["s_per_step"],
        "time_ratio": bump["s_per_step"] / trl["s_per_step"],
        "bump_cpu_s_per_step": bump["cpu_s_per_step"],
        "trl_cpu_s_per_step": trl["cpu_s_per_step"],
        "cpu_time_ratio": bump["cpu_s_per_step"] / trl["cpu_s_per_step"],
        "bump_peak_rss_mb": bump["peak_rss_mb"],
        "trl_peak_rss_mb": trl["peak_rss_mb"],
        "rss_ratio": bump["peak_rss_mb"] / trl["peak_rss_mb"],
        "bump_steps": bump["steps"],
        "trl_steps": trl["steps"],
        "bump_step_seconds": bump["step_seconds"],
        "trl_step_seconds": trl["step_seconds"],
        "bump_step_cpu_seconds": bump["step_cpu_seconds"],
        "trl_step_cpu_seconds": trl["step_cpu_seconds"],
        "bump_completion_lengths": bump["completion_lengths"],
        "trl_completion_lengths": trl["completion_lengths"],
        "bump_mean_reward": bump["mean_reward"],
        "trl_mean_reward": trl["mean_reward"],
        "settings": asdict(settings),
        "prompt_format": workload.tokenizer_note,
        "versions": library_versions(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": _torch_threads(),
    }


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        settings = settings_from(args)
    except ValueError as error:
        raise SystemExit(f"vs_trl: {error}") from None
    with tempfile.TemporaryDirectory(prefix="vs_trl-") as work_dir:
        if args.workload:
            workload = Workload.load(args.workload)
            if workload.settings != settings:
                raise SystemExit(f"vs_trl: {args.workload} was built for other settings than the flags given")
        else:
            try:
                workload = build_workload(settings, work_dir)
            except ValueError as error:
                raise SystemExit(f"vs_trl: {error}") from None
        if args.side != "both":
            print(json.dumps(run_side(args.side, workload, work_dir)), flush=True)
            return
        path = str(Path(work_dir) / "workload.json")
        workload.save(path)
        # argparse keeps the last occurrence, so the appended --side overrides a given one.
        bump = run_child("bump", argv, path)
        trl = run_child("trl", argv, path)
        print(json.dumps(summary(settings, workload, bump, trl)), flush=True)


if __name__ == "__main__":
    main()
