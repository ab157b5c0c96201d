"""``BumpCLI``: the LightningCLI behind ``bump`` (imported only once a subcommand runs; ``bump --help`` stays fast).

Wiring only: the data's tokenizer comes from the policy model; the trainer runs our own user-group
sampler; a schedule's ``total_iters`` is ``trainer.max_steps``; ``--ckpt_path`` (a file, ``last`` or a run folder) is resolved and checked before any model
is built and its hyperparameters never override the command; a resumed fit continues its own log
folder without re-logging the baseline, and validate/test/predict on a run's checkpoint log into
that run's folder (their config saved as ``<subcommand>-config.yaml``); ``last.ckpt`` is rewritten
when training ends; and the end of every subcommand prints where its outputs went.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from datetime import timedelta
from pathlib import Path

import torch
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, LRSchedulerTypeTuple
from lightning.pytorch.utilities.exceptions import SIGTERMException

from bump_pl.callbacks.fit_end_checkpoint import FitEndCheckpoint
from bump_pl.callbacks.preemption import Preemption
from bump_pl.callbacks.progress import BumpProgressBar
from bump_pl.callbacks.rank_failure import RankFailure
from bump_pl.callbacks.world_size import WorldSizeChange
from bump_pl.cli.config_errors import check_judge_entry, explain_parse_error, source_of
from bump_pl.cli.failure import Terminated
from bump_pl.core.reward import check_ranking_size
from bump_pl.data.check import check_data
from bump_pl.runs.checkpoints import check_weight_settings, read_checkpoint, resolve_checkpoint
from bump_pl.runs.fit_ranking import LAYOUT_KEY, match_fit_ranking
from bump_pl.runs.folders import continue_run, new_run_folder, place_runs_under, remove_unused_run, run_folders


DEFAULT_COLLECTIVE_TIMEOUT_S = 1800.0  # torch's default for gloo, Lightning's for every backend


class BumpCLI(LightningCLI):
    """LightningCLI for BUMP; see ``bump --help`` and the configs in ``configs/``."""

    resumed_step: int | None = None
    given_args: list[str] = []  # the command line as parsed (config names resolved)
    logging_step: int | None = None  # validate/test in a run's folder: its metrics' step, the checkpoint's
    fit_layout: dict[str, int] | None = None  # validate/test: the checkpoint's ranks and users per rank
    other_judge: bool = False  # validate/test score with another judge than the checkpoint's fit

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.link_arguments("model.model", "data.tokenizer")
        parser.link_arguments("model.profile_prompt", "data.profile_prompt", apply_on="instantiate")
        # The schedule ends where training does: LinearLR, ConstantLR and PolynomialLR run over
        # ``total_iters`` optimizer steps, so ``--trainer.max_steps N`` ends the decay at N (a scheduler
        # without ``total_iters`` is left as configured). Added here so that the link has a target.
        parser.add_lr_scheduler_args(LRSchedulerTypeTuple)
        parser.link_arguments("trainer.max_steps", "lr_scheduler.init_args.total_iters")
        parser.add_argument(
            "--collective_timeout",
            type=float,
            default=DEFAULT_COLLECTIVE_TIMEOUT_S,
            help="Seconds a rank waits in a collective (DDP/FSDP/DeepSpeed process group) before the run stops"
            " with an error naming the rank and step. Other ranks wait this long while rank 0 alone writes the"
            " profile cache and the downstream report, so keep it above that work.",
        )
        parser.add_argument(
            "--validate_before_fit",
            type=bool,
            default=True,
            help="Run validation before the first training step (the untrained baseline in the logs; skipped on resume).",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: list[str] | None) -> None:
        """Parse as LightningCLI does; a refused key or value becomes one line naming the file (or
        the command line), the key and the nearest valid key (:mod:`bump_pl.cli.config_errors`).
        ``--trainer.default_root_dir`` on the command line places the run (:func:`place_runs_under`)."""
        self.given_args = list(args or [])
        try:
            super().parse_arguments(parser, args)
        except argparse.ArgumentError as error:
            given = self.given_args
            subcommands = getattr(parser, "_subcommands_action", None)
            subparser = subcommands._name_parser_map.get(given[0]) if subcommands and given else None
            known = [action.dest for action in (subparser or parser)._actions if not action.dest.endswith("help")]
            prog = f"bump {given[0]}" if subparser is not None else "bump"
            raise explain_parse_error(error, given, known, prog) from None
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        given = lambda key: any(arg.startswith(f"--{key}") for arg in self.given_args)  # noqa: E731
        if given("trainer.default_root_dir") and not given("trainer.logger") and config.trainer.get("default_root_dir"):
            place_runs_under(config.trainer, config.trainer.default_root_dir)  # a logger set there keeps its own

    def _parse_ckpt_path(self) -> None:
        """Resolve and check ``--ckpt_path``; unlike LightningCLI, never apply the checkpoint's hyperparameters.

        Runs after parsing and before anything is instantiated, so a missing, truncated or corrupt
        checkpoint, or one trained with other model/LoRA/judge settings, stops the command at once.
        """
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else None
        if config is None or not config.get("ckpt_path"):
            return
        path = resolve_checkpoint(config.ckpt_path, run_folders(config.trainer))
        checkpoint = read_checkpoint(path)
        other_judge = check_weight_settings(path, checkpoint, config.model.as_dict(), other_judge=subcommand != "fit")
        config.ckpt_path = str(path)
        step, log_step = int(checkpoint.get("global_step", 0)), logging_step(checkpoint)
        self.fit_layout = checkpoint.get(LAYOUT_KEY)
        del checkpoint  # memory-mapped; Lightning loads it again
        if subcommand == "fit":
            self.resumed_step = step
            continued = continue_run(config.trainer, path, purge_after=log_step)  # TensorBoard steps
            where = f", logging to {continued}" if continued else ""
            _say(f"bump: resuming {path} at step {step}{where}")
            return
        continued = continue_run(config.trainer, path)
        if continued is not None:  # keep the fit's config.yaml: this command's config gets its own file
            self.save_config_kwargs = {**self.save_config_kwargs, "config_filename": f"{subcommand}-config.yaml"}
            self.logging_step = log_step
        where = f", logging to {continued}" if continued else ""
        _say(f"bump: {subcommand}: checkpoint {path} (step {step}){where}")
        if other_judge and subcommand in ("validate", "test"):  # predict does not score
            self.other_judge = True
            stage = "val" if subcommand == "validate" else "test"
            _say(f"bump {subcommand}: another judge than the fit's ({other_judge}): the NDCG is not comparable with"
                 f" training's, so it is logged as {stage}_other_judge/ndcg")

    def _run_subcommand(self, subcommand: str) -> None:
        """Run it; a failure before the first step removes the run folder it created, and Ctrl-C
        (Lightning turns it into exit 1) or SIGTERM says what was saved and how to resume, then
        raises ``KeyboardInterrupt`` or ``Terminated`` (exit 130 or 143 under :mod:`bump_pl.cli.failure`).
        A rank that SIGTERM reached may fail with a collective's error (a peer stopped first): still SIGTERM."""
        created = new_run_folder(self.trainer) if self.trainer.is_global_zero else None
        try:
            super()._run_subcommand(subcommand)
        except BaseException as error:
            terminated = isinstance(error, SIGTERMException) or any(
                c.received for c in self.trainer.callbacks if isinstance(c, Preemption)
            )
            interrupted = isinstance(error, KeyboardInterrupt) or (isinstance(error, SystemExit) and self.trainer.interrupted)
            if created is not None and self.trainer.global_step == 0:
                remove_unused_run(created)
            if not (interrupted or terminated):
                raise
            if subcommand == "fit" and self.trainer.is_global_zero:
                how = "stopped by SIGTERM" if terminated else "interrupted"
                print(interrupted_fit_report(self.trainer, self.given_args, how), file=sys.stderr, flush=True)
            raise (Terminated() if terminated else KeyboardInterrupt()) from None

    def before_instantiate_classes(self) -> None:
        """Check the names and read the data before anything is built (:func:`check_names`,
        :func:`~bump_pl.data.check.check_data`); use
        :class:`BumpProgressBar` unless the bar is off or the config names a progress bar itself."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        check_names(config, self.given_args)
        if self.subcommand:  # `bump`, not a Python build_cli(run=False), which sets its data up itself
            check_data(config.data.as_dict(), self.subcommand)
        trainer = config.trainer
        named = [str(getattr(c, "class_path", c)) for c in trainer.get("callbacks") or []]
        if trainer.get("enable_progress_bar") is not False and not any("ProgressBar" in name for name in named):
            self.trainer_defaults["callbacks"].append(BumpProgressBar())

    def after_instantiate_classes(self) -> None:
        super().after_instantiate_classes()
        config = self.config[self.subcommand] if self.subcommand else self.config
        set_collective_timeout(self.trainer.strategy, config.collective_timeout)
        if self.subcommand in ("validate", "test") and self.config[self.subcommand].get("ckpt_path"):
            line = match_fit_ranking(self.fit_layout, self.datamodule, self.model, self.trainer.world_size, self.subcommand)
            if line:
                _say(line)
            if self.other_judge:
                self.model.ndcg_log_suffix += "_other_judge"
        if self.subcommand in ("fit", "validate", "test"):
            check_ranking_size(self.datamodule.users_per_batch, self.trainer.world_size, self.model.reward.negatives)

    def before_fit(self) -> None:
        if self.config["fit"]["validate_before_fit"] and self.resumed_step is None:
            self.trainer.validate(self.model, datamodule=self.datamodule, verbose=False)

    def after_fit(self) -> None:
        self._print_outputs("fit")

    def before_validate(self) -> None:
        self._log_at_checkpoint_step()

    def before_test(self) -> None:
        self._log_at_checkpoint_step()

    def _log_at_checkpoint_step(self) -> None:
        """Log validate/test metrics at the checkpoint's step of the run they join (Lightning's own
        choice outside fit is step 0, where the run's untrained baseline is)."""
        if self.logging_step is not None:
            # private: no public way to choose the step outside fit (tests/cli/test_lightning_private.py)
            self.trainer.fit_loop.epoch_loop._batches_that_stepped = self.logging_step

    def after_validate(self) -> None:
        self._print_outputs("validate")

    def after_test(self) -> None:
        self._print_outputs("test")

    def after_predict(self) -> None:
        self._print_outputs("predict")

    def _print_outputs(self, subcommand: str) -> None:
        """One line per output written by this command (rank 0): logs, checkpoints, caches, predictions."""
        outputs = written_outputs(self.trainer)  # every rank: trainer.log_dir is a collective broadcast
        if self.trainer.is_global_zero:
            for label, path in outputs:
                print(f"bump: {subcommand}: {label}: {path}", flush=True)
        # Ranks leave together, then tear the process group down before the interpreter exits: one
        # that exits while rank 0 still prints, or a gloo group left to exit-time destruction, aborts
        # the process ("terminate called without an active exception", exit 134 after a clean fit).
        self.trainer.strategy.barrier("bump-outputs-printed")
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def check_names(config, args: list[str]) -> None:  # noqa: ANN001 - a jsonargparse Namespace
    """Refuse, before any model, data or trainer is built, an unknown judge or judge argument
    (:func:`check_judge_entry`), a model name that cannot load (the policy, the judge's, the hybrid
    retriever and the downstream callbacks' backbone: :func:`~bump_pl.models.loading.check_model_reachable`,
    which also finds a Hub id missing from the cache offline) and an unknown LaMP task name; each
    error names the key and where it was set (a config file or the command line)."""
    from bump_pl.data.tasks import get_task
    from bump_pl.models.loading import check_model_reachable

    judge = config.model.get("judge")
    check_judge_entry(judge, args)
    judge_args = judge.get("init_args") if hasattr(judge, "get") else None
    names = [("model.model", config.model.model, check_model_reachable)]
    if judge_args is not None and isinstance(judge_args.get("model"), str):
        names.append(("model.judge.init_args.model", judge_args.get("model"), check_model_reachable))
    reward = config.model.get("reward")
    if reward is not None and reward.get("negatives") == "hybrid":
        names.append(("model.reward.retriever", reward.get("retriever"), check_model_reachable))
    for callback in config.trainer.get("callbacks") or []:
        settings = (callback.get("init_args") or {}).get("settings") if hasattr(callback, "get") else None
        if settings is not None and isinstance(settings.get("backbone"), str):
            names.append(("trainer.callbacks", settings.get("backbone"), check_model_reachable))  # a downstream backbone
    if config.data.get("task"):
        names.append(("data.task", config.data.task, get_task))
    for key, value, check in names:
        try:
            check(value)
        except ValueError as error:  # ModelNotFoundError is an OSError: it keeps its type
            raise ValueError(f"{error} ({key}, {source_of(key, args)})") from None
        except OSError as error:
            raise type(error)(f"{error} ({key}, {source_of(key, args)})") from None


def _say(line: str) -> None:
    """Print ``line`` once per run: from the launching process, not from the ranks Lightning (or
    torchrun) launches, which run this command again with their rank in the environment
    before any trainer exists."""
    if all(int(os.environ.get(name, 0)) == 0 for name in ("LOCAL_RANK", "NODE_RANK", "RANK")):
        print(line, flush=True)


def set_collective_timeout(strategy: object, seconds: float) -> None:
    """The process-group timeout of a multi-process ``strategy`` (no-op for a single device).

    DDP, FSDP, DeepSpeed and ModelParallel strategies take ``timeout`` in their constructor only and
    keep it in ``_timeout`` until ``setup_environment`` creates the process group; a strategy given
    by name (``--trainer.strategy ddp``) is built by the Trainer, so it is set here, after
    instantiation and before any process group exists (tests/test_collective_timeout.py fails if
    Lightning renames it).
    """
    if seconds <= 0:
        raise ValueError(f"--collective_timeout must be > 0 seconds, got {seconds}")
    if hasattr(strategy, "_timeout"):
        strategy._timeout = timedelta(seconds=seconds)


def logging_step(checkpoint: dict) -> int:
    """The step a fit logged at when ``checkpoint`` was saved (Lightning's batches that stepped; the
    global step counts optimizer steps, several per batch with ``grpo.num_iterations`` > 1)."""
    epoch_loop = ((checkpoint.get("loops") or {}).get("fit_loop") or {}).get("epoch_loop.state_dict") or {}
    return int(epoch_loop.get("_batches_that_stepped", checkpoint.get("global_step", 0)))


def interrupted_fit_report(trainer, args: list[str], how: str = "interrupted") -> str:  # noqa: ANN001 - a Lightning Trainer
    """What an interrupted fit left (``how``: "interrupted", "stopped by SIGTERM"): the checkpoint of
    its last completed step and the exact command that resumes it (``args`` with ``--ckpt_path`` set
    to that file), or that no checkpoint exists."""
    stoppers = (FitEndCheckpoint, Preemption)
    saved = next((c.interrupted_checkpoint for c in trainer.callbacks if isinstance(c, stoppers) and c.interrupted_checkpoint), None)
    newest = saved or next((Path(c.last_model_path) for c in trainer.checkpoint_callbacks if getattr(c, "last_model_path", "")), None)
    if newest is None or not newest.is_file():
        return f"bump: fit {how} at step {trainer.global_step}: no checkpoint exists yet, so a new fit starts over"
    kept = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--ckpt_path":
            skip = True
        elif not arg.startswith("--ckpt_path="):
            kept.append(arg)
    command = shlex.join(["bump", *kept, "--ckpt_path", str(newest)])
    what = f"saved step {trainer.global_step}" if saved else f"step {trainer.global_step} was not saved; the newest checkpoint is"
    return f"bump: fit {how}: {what} {newest}; resume with: {command}"


def written_outputs(trainer) -> list[tuple[str, Path]]:  # noqa: ANN001 - a Lightning Trainer
    """``(what, where)`` of the outputs a finished command left: logs, checkpoints, caches, predictions."""
    outputs: list[tuple[str, Path]] = []
    if trainer.log_dir and Path(trainer.log_dir).is_dir():
        outputs.append(("logs (TensorBoard)", Path(trainer.log_dir)))
    for callback in trainer.callbacks:
        if getattr(callback, "last_model_path", ""):
            outputs.append(("last checkpoint", Path(callback.last_model_path)))
        outputs.extend(("last checkpoint", path) for path in getattr(callback, "saved", []))
        latest = getattr(callback, "latest", None)
        if latest is not None and hasattr(latest, "path"):
            outputs.append(("profile cache", Path(latest.path)))
        written = getattr(callback, "written", None)
        if isinstance(written, Path):
            outputs.append(("predictions", written))
    return list(dict.fromkeys(outputs))


def build_cli(args: list[str] | None = None, run: bool = True) -> BumpCLI:
    """The ``bump`` CLI on ``args`` (``sys.argv`` when None); ``run=False`` only instantiates."""
    from bump_pl.data.datamodule import BumpDataModule
    from bump_pl.module import BumpModule

    return BumpCLI(
        BumpModule,
        BumpDataModule,
        trainer_defaults={"use_distributed_sampler": False, "callbacks": [FitEndCheckpoint(), Preemption(), RankFailure(), WorldSizeChange()]},
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"exit_on_error": False},
        args=args,
        run=run,
    )
