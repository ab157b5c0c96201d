"""Config mistakes: one line naming the file (or the command line), the key and the nearest valid key; exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bump_pl.cli import main
from bump_pl.cli.config_errors import source_of

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"

JUDGE_WITH_TYPO = """model:
  judge:
    class_path: bump_pl.judges.EmbeddingJudge
    init_args:
      model: tiny-random-encoder
      poolng: mean
"""

# id -> (overlay YAML or None, extra args, the exact error line with FILE for the overlay's path)
CASES: dict[str, tuple[str | None, list[str], str]] = {
    "nested_key_in_a_group": (
        "data:\n  user_per_batch: 3\n",
        [],
        "bump: error: unknown key 'data.user_per_batch' (FILE): did you mean 'data.users_per_batch'?"
        " `bump fit --help` lists the keys",
    ),
    "top_level_key": (
        "modl:\n  group_size: 2\n",
        [],
        "bump: error: unknown key 'modl.group_size' (FILE): did you mean 'model.group_size'? `bump fit --help` lists the keys",
    ),
    "init_args_key": (
        JUDGE_WITH_TYPO,
        [],
        "bump: error: model.judge.init_args: EmbeddingJudge takes no 'poolng': did you mean 'pooling'? (it takes: model,"
        " tokenizer, pooling, profile_instruction, item_instruction, profile_query_instruction, item_query_instruction,"
        " max_length, batch_size, normalize, device, dtype, model_kind) (FILE)",
    ),
    "yaml_syntax": (
        "model:\n  group_size: [1\n",
        [],
        "bump: error: YAML syntax error at line 3 column 1: expected ',' or ']', but got '<stream end>' (FILE): fix the file",
    ),
    "judge_name_in_a_file": (
        "model:\n  judge: EmbedingJudge\n",
        [],
        "bump: error: unknown judge 'EmbedingJudge': did you mean 'EmbeddingJudge'? (known: EmbeddingJudge, CrossJudge, LikelihoodJudge)"
        " (model.judge, FILE)",
    ),
    "option_on_the_command_line": (
        None,
        ["--data.user_per_batch", "3"],
        "bump: error: unknown option --data.user_per_batch (command line): did you mean --data.users_per_batch?"
        " `bump fit --help` lists the options",
    ),
    "downstream_setting_of_before_settings_block": (
        "trainer:\n  callbacks:\n    - class_path: bump_pl.callbacks.DownstreamEvalCallback\n      init_args:\n"
        "        max_new_tokens: 4\n",
        [],
        "bump: error: unknown key 'max_new_tokens' (FILE, trainer.callbacks: DownstreamEvalCallback; its downstream"
        " settings moved under init_args.settings: write settings: {max_answer_tokens: ...} (CHANGELOG.md))",
    ),
    "init_args_key_on_the_command_line": (
        None,
        ["--model.judge.init_args.poolng", "mean"],
        "bump: error: model.judge.init_args: EmbeddingJudge takes no 'poolng': did you mean 'pooling'? (it takes: model,",
    ),
    "init_args_key_in_an_overlay_without_class_path": (
        "model:\n  judge:\n    init_args:\n      poolng: mean\n",
        [],
        "bump: error: model.judge.init_args: EmbeddingJudge takes no 'poolng': did you mean 'pooling'? (it takes: model,",
    ),
    "shipped_config_name": (
        None,
        ["--config", "tinyy"],
        "bump: error: no such file, and unknown shipped config 'tinyy': did you mean 'tiny'?",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_mistakes_name_the_file_the_key_and_the_nearest(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    overlay_text, extra, expected = CASES[case]
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["bump"])
    args = ["fit", "--config", str(TINY)]
    overlay = tmp_path / "overlay.yaml"
    if overlay_text is not None:
        overlay.write_text(overlay_text)
        args += ["--config", str(overlay)]
    with pytest.raises(SystemExit) as exit_info:
        main([*args, *extra])
    assert exit_info.value.code == 2
    errors = capsys.readouterr().err.splitlines()
    lines = [line for line in errors if line.startswith("bump: error:")]
    assert len(lines) == 1 and lines[0].startswith(expected.replace("FILE", str(overlay))), errors
    assert not (tmp_path / "runs").exists()


def test_the_last_config_that_sets_a_key_is_its_source(tmp_path: Path) -> None:
    first, second = tmp_path / "a.yaml", tmp_path / "b.yaml"
    first.write_text("data:\n  task: LaMP_3\n")
    second.write_text("data:\n  task: LaMP_2\nmodel: {}\n")
    args = ["fit", "--config", str(first), f"--config={second}"]
    assert source_of("data.task", args) == str(second)
    assert source_of("data.task", [*args, "--data.task", "x"]) == "the command line"
    assert source_of("trainer.max_steps", args) == "the command line"
