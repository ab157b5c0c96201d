"""The judge lives in the checkpoint's hyperparameters: load_from_checkpoint rebuilds the same judge."""

import os
from pathlib import Path

import pytest
import torch

from bump_pl.runs.checkpoints import CheckpointError, check_weight_settings, read_checkpoint
from bump_pl.cli import build_cli
from bump_pl.judges import CrossJudge, EmbeddingJudge
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer
from bump_pl.module import BumpModule

TINY = Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml"
OVERLAY = """
trainer:
  max_steps: 1
  limit_val_batches: 0
  logger: false
  callbacks:
    - class_path: lightning.pytorch.callbacks.ModelCheckpoint
      init_args: {dirpath: ckpt, save_last: true}
model:
  judge:
    class_path: bump_pl.judges.CrossJudge
    init_args: {model: tiny-random-llama, yes_word: T, no_word: F, max_length: 32, pack_tokens: 64}
data:
  max_prompt_tokens: 384
"""
TEXTS = ["likes jazz and old films", "reviews of hiking boots"]


@pytest.fixture(scope="module")
def cross_judge_fit(tmp_path_factory):
    """`bump fit` of the tiny config with a CrossJudge for one step; the CLI and its last.ckpt."""
    root = tmp_path_factory.mktemp("cross")
    (root / "overlay.yaml").write_text(OVERLAY)
    old_cwd, old_cache = os.getcwd(), os.environ.get("BUMP_PL_CACHE")
    os.chdir(root)
    os.environ["BUMP_PL_CACHE"] = str(root / "cache")
    try:
        cli = build_cli(["--config", str(TINY), "--config", "overlay.yaml"], run=False)
        cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    finally:
        os.chdir(old_cwd)
        os.environ.pop("BUMP_PL_CACHE") if old_cache is None else os.environ.update(BUMP_PL_CACHE=old_cache)
    return cli, root / "ckpt" / "last.ckpt"


def test_load_from_checkpoint_restores_the_cross_judge_and_exports(cross_judge_fit, tmp_path):
    cli, last = cross_judge_fit
    saved = read_checkpoint(last)["hyper_parameters"]["judge"]
    assert saved["class_path"] == "bump_pl.judges.CrossJudge"
    assert {k: saved["init_args"][k] for k in ("model", "yes_word", "no_word", "max_length", "pack_tokens")} == {
        "model": "tiny-random-llama", "yes_word": "T", "no_word": "F", "max_length": 32, "pack_tokens": 64
    }
    restored = BumpModule.load_from_checkpoint(last)
    assert isinstance(restored.judge, CrossJudge)
    assert restored.hparams.judge == saved == cli.model.hparams.judge
    for direction in ("profile_to_item", "item_to_profile"):
        torch.testing.assert_close(
            restored.judge.score(TEXTS, TEXTS, direction), cli.model.judge.score(TEXTS, TEXTS, direction)
        )
    restored.export(str(tmp_path / "adapter"))
    assert (tmp_path / "adapter" / "adapter_config.json").is_file()


def test_a_judge_passed_to_load_from_checkpoint_replaces_the_saved_one(cross_judge_fit):
    _, last = cross_judge_fit
    judge = EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer())
    assert BumpModule.load_from_checkpoint(last, judge=judge).judge is judge


def test_resume_compares_the_judge_with_the_checkpoints_own_hyperparameters(cross_judge_fit):
    cli, last = cross_judge_fit
    command = cli.config.model.as_dict()
    check_weight_settings(last, read_checkpoint(last), command)  # same command: passes (no config.yaml here)
    command["judge"]["init_args"]["yes_word"] = "Y"
    with pytest.raises(CheckpointError, match=r"--model\.judge\.init_args\.yes_word Y \(checkpoint: T\)"):
        check_weight_settings(last, read_checkpoint(last), command)


def test_a_module_built_from_judge_objects_needs_the_judge_again():
    module = BumpModule(judge=EmbeddingJudge(tiny_random_encoder(), tokenizer=tiny_tokenizer()))
    assert module.hparams.judge["not_recorded"] == ["model", "tokenizer"]
    with pytest.raises(ValueError, match=r"load_from_checkpoint\(path, judge=\.\.\.\)"):
        BumpModule(**module.hparams)  # what load_from_checkpoint does with a Python-built module's hparams


def test_a_judge_config_dict_builds_the_judge_from_python():
    config = {"class_path": "bump_pl.judges.EmbeddingJudge", "init_args": {"model": "tiny-random-encoder"}}
    module = BumpModule(judge=config)
    assert isinstance(module.judge, EmbeddingJudge) and module.hparams.judge["init_args"]["model"] == "tiny-random-encoder"
    with pytest.raises(ValueError, match="is not a judge"):
        BumpModule(judge={"class_path": "collections.OrderedDict", "init_args": {}})


def test_validate_with_another_frozen_judge_runs_and_says_its_figures_are_not_trainings(cross_judge_fit, capsys, monkeypatch):
    """The judge is frozen and not in the checkpoint's weights: validating with a stronger one is allowed,
    with one line (in full, the fix-free CrossJudge settings included) and a curve of its own."""
    _, last = cross_judge_fit
    monkeypatch.chdir(last.parent.parent)
    monkeypatch.setenv("BUMP_PL_CACHE", str(last.parent.parent / "cache"))
    args = ["--config", str(TINY), "--config", "overlay.yaml", "--model.judge.init_args.yes_word", "Y", "--ckpt_path", str(last)]
    validated = build_cli(["validate", *args])
    out = capsys.readouterr().out
    assert out.count("bump validate: another judge than the fit's (--model.judge.init_args.yes_word Y (checkpoint: T)):"
                     " the NDCG is not comparable with training's, so it is logged as val_other_judge/ndcg\n") == 1
    assert validated.model.ndcg_log_suffix == "_other_judge"
    with pytest.raises(CheckpointError, match=r"yes_word Y \(checkpoint: T\)"):  # a resumed fit trains on its judge
        check_weight_settings(last, read_checkpoint(last), {**validated.config.validate.model.as_dict()})
    with pytest.raises(CheckpointError, match=r"--model\.model other"):  # the policy must still be the checkpoint's
        check_weight_settings(last, read_checkpoint(last), {**validated.config.validate.model.as_dict(), "model": "other"},
                              other_judge=True)
