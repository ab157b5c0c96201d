"""Names are checked before any work, offline, with the nearest known name ("did you mean")."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bump_pl.data.errors import LampFormatError
from bump_pl.data.tasks import get_task
from bump_pl.did_you_mean import closest, unknown_name
from bump_pl.downstream.inputs import resolve_task as downstream_task
from bump_pl.judges.config import build_judge, check_judge_name
from bump_pl.models.loading import ModelNotFoundError, check_model_name, load_causal_lm


def test_closest_is_case_insensitive_and_none_when_far() -> None:
    assert closest("EMBEDINGJUDGE", ["CrossJudge", "EmbeddingJudge"]) == "EmbeddingJudge"
    assert closest("gpt2", ["smollm2-135m-instruct", "all-minilm-l6-v2"]) is None
    assert unknown_name("task", "x", ["a", "b"]) == "unknown task 'x': (known: a, b)"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("smollm2-135m-instrukt", "is not an alias: did you mean 'smollm2-135m-instruct'?"),
        ("tiny-random-lama", "did you mean 'tiny-random-llama'?"),
        ("./nope", "'./nope' is not an alias and no such file or folder exists"),
        ("has spaces in it", "is not an alias, an existing path, or a Hub id"),
    ],
)
def test_a_model_name_that_cannot_load_is_refused_before_any_lookup(
    name: str, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bump_pl.models.loading as loading

    def no_lookup(*args: object, **kwargs: object) -> None:
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr(loading.AutoModelForCausalLM, "from_pretrained", no_lookup)
    with pytest.raises(ModelNotFoundError, match=says) as error:
        load_causal_lm(name)
    assert "known aliases: smollm2-135m-instruct, all-minilm-l6-v2, tiny-random-llama, tiny-random-encoder" in str(error.value)


def test_plausible_hub_ids_and_existing_paths_pass(tmp_path: Path) -> None:
    for name in ("gpt2", "HuggingFaceTB/SmolLM2-135M-Instruct", "tiny-random-llama", str(tmp_path)):
        check_model_name(name)


def test_judge_names_and_arguments_are_checked_with_the_nearest() -> None:
    check_judge_name("EmbeddingJudge")
    check_judge_name("bump_pl.judges.CrossJudge")
    check_judge_name("my_package.MyJudge")  # outside bump_pl.judges: left to its import
    with pytest.raises(ValueError, match=r"unknown judge 'EmbedingJudge': did you mean 'EmbeddingJudge'\? \(known: EmbeddingJudge, CrossJudge\)"):
        check_judge_name("EmbedingJudge")
    config = {"class_path": "bump_pl.judges.EmbeddingJudge", "init_args": {"model": "tiny-random-encoder", "poolng": "mean"}}
    with pytest.raises(ValueError, match=r"model\.judge\.init_args: EmbeddingJudge takes no 'poolng': did you mean 'pooling'\?"):
        build_judge(config)


def test_a_lamp_shaped_task_that_does_not_exist_is_refused() -> None:
    with pytest.raises(ValueError, match=r"unknown LaMP task 'lamp-8': did you mean 'LaMP_7'\?"):
        get_task("lamp-8")
    assert get_task("MovieLens_rating").known is False  # other names: the generic spec


def test_downstream_task_is_resolved_by_the_one_resolver(tmp_path: Path) -> None:
    outputs = tmp_path / "dev_outputs.json"
    outputs.write_text(json.dumps({"task": "LaMP_3", "golds": []}))
    assert downstream_task(None, outputs).name == "LaMP_3"
    with pytest.raises(LampFormatError, match=r"dev_outputs\.json: task 'LaMP_3' disagrees with --task 'LaMP_2'"):
        downstream_task("LaMP_2", outputs)
    outputs.write_text(json.dumps({"golds": []}))
    with pytest.raises(LampFormatError, match=r"no task: --task is not set"):
        downstream_task(None, outputs)


@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--model.model", "smollm2-135m-instrukt", "ModelNotFoundError: model 'smollm2-135m-instrukt' is not an alias: did you mean 'smollm2-135m-instruct'?"),
        ("--model.judge.init_args.model", "tiny-random-encodr", "did you mean 'tiny-random-encoder'?"),
        ("--data.task", "lamp_9", "ValueError: unknown LaMP task 'lamp_9': did you mean 'LaMP_7'?"),
    ],
)
def test_bump_checks_names_before_building_anything(
    option: str, value: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import sys

    from bump_pl.cli import main
    from bump_pl.cli.app import BumpCLI

    def built(*args: object, **kwargs: object) -> None:
        raise AssertionError("instantiated before the names were checked")

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(BumpCLI, "instantiate_classes", built)
    monkeypatch.setattr(sys, "argv", ["bump"])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "tiny", option, value])
    assert exit_info.value.code == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bump: error:")]
    assert says in line and f"({option[2:]}, the command line)" in line, line
