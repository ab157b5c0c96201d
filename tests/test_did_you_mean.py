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
    with pytest.raises(ValueError, match=r"unknown judge 'EmbedingJudge': did you mean 'EmbeddingJudge'\? \(known: EmbeddingJudge, CrossJudge, LikelihoodJudge\)"):
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


def test_a_hub_id_that_cannot_load_is_refused_before_anything_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's LaMP command offline: the one ModelNotFoundError line, naming the key and file, before
    any model loads (not a Union-type jumble after the judge failed to load); online without network:
    one request, not a minute of retries; a cached model asks nothing."""
    import sys

    import huggingface_hub
    from huggingface_hub import constants

    from bump_pl.cli import main
    from bump_pl.cli.app import BumpCLI
    from bump_pl.models.loading import check_model_reachable

    def built(*args: object, **kwargs: object) -> None:
        raise AssertionError("instantiated before the names were checked")

    def unreachable(*args: object, **kwargs: object) -> None:
        raise ConnectionError("no route")

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(BumpCLI, "instantiate_classes", built)
    monkeypatch.setattr(sys, "argv", ["bump"])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "lamp/base", "--config", "lamp/LaMP_3"])
    assert exit_info.value.code == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bump: error:")]
    assert line.startswith("bump: error: ModelNotFoundError: could not load 'Qwen/Qwen2.5-1.5B-Instruct' from the Hugging"
                           " Face Hub: offline (HF_HUB_OFFLINE=1) and not in the Hugging Face cache (model.model, ")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(ModelNotFoundError, match=r"the Hub cannot be reached \(ConnectionError\); set HF_HUB_OFFLINE=1"):
        check_model_reachable("Qwen/Qwen2.5-0.5B-Instruct")
    (tmp_path / "hub" / "models--Qwen--Qwen2.5-0.5B-Instruct").mkdir(parents=True)
    check_model_reachable("Qwen/Qwen2.5-0.5B-Instruct")  # in the cache: no request


def test_bad_data_stops_bump_before_any_model_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A time value that cannot be read: one line naming the file and its line, no rank prefix, before
    the models load (it came after ~9 s of model loading, as "rank 0, step 0: ... row 13")."""
    import sys

    from bump_pl.cli import main
    from bump_pl.cli.app import BumpCLI

    def built(*args: object, **kwargs: object) -> None:
        raise AssertionError("instantiated before the data was read")

    rows = [{"user": f"u{u}", "text": f"item {i} of {u}", "t": f"2020-01-{i + 1:02d}"} for u in range(6) for i in range(10)]
    rows[13]["t"] = "yesterday"
    (tmp_path / "inter.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUMP_PL_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BUMP_DEBUG", raising=False)
    monkeypatch.setattr(BumpCLI, "instantiate_classes", built)
    monkeypatch.setattr(sys, "argv", ["bump"])
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--config", "tiny", "--data.synthetic", "null", "--data.interactions.path", "json",
              "--data.interactions.data_files", "{train: inter.jsonl}", "--data.interactions.user_id", "user",
              "--data.interactions.time", "t"])
    assert exit_info.value.code == 1
    (line,) = [line for line in capsys.readouterr().err.splitlines() if line.startswith("bump: error:")]
    assert line.startswith("bump: error: LampFormatError: inter.jsonl: line 14: user 'u1': column 't' is 'yesterday'"), line
