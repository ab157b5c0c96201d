"""Users never seen in training: ``bump predict`` profiles them, ``bump-downstream`` takes those profiles,
and ``bump-downstream --ckpt`` generates the very same profiles itself (tiny fit, test split)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bump_pl.cli import main as bump
from bump_pl.data import read_lamp
from bump_pl.cli.downstream import main as downstream
from bump_pl.downstream.prompts import VARIANTS

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"
TINY = ["--backbone", "tiny-random-llama", "--mode", "zero_shot", "--max-new-tokens", "2", "--bootstrap-samples", "100"]
pytestmark = pytest.mark.slow


def _ok(command: Callable[[list[str]], object], args: list[str]) -> None:
    """Run a command's ``main`` on ``args``; it must succeed (return, or exit with code 0)."""
    try:
        command(args)
    except SystemExit as exit_:
        assert exit_.code in (0, None), f"exit {exit_.code}: {args}"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """``(work dir, last.ckpt)`` of a 2-step tiny fit without the fit-time downstream callbacks."""
    work = tmp_path_factory.mktemp("tiny_ckpt")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("BUMP_PL_CACHE", str(work / "cache"))
        _ok(bump, ["fit", "--config", str(CONFIG), "--trainer.max_steps", "2", "--trainer.callbacks+=ProfileWriter"])
        yield work, work / "runs" / "tiny" / "version_0" / "checkpoints" / "last.ckpt"


def test_unseen_users_profiled_by_predict_or_by_the_checkpoint_are_scored(trained: tuple[Path, Path]) -> None:
    work, ckpt = trained
    (data_dir,) = (work / "cache" / "synthetic").iterdir()
    test_questions = data_dir / "test_questions.json"
    predictions = work / "test_profiles.jsonl"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(work)
        patch.setenv("BUMP_PL_CACHE", str(work / "cache"))
        _ok(bump, ["predict", "--config", str(CONFIG), "--ckpt_path", str(ckpt), "--data.predict_file", str(test_questions),
              "--trainer.callbacks+=ProfileWriter", f"--trainer.callbacks.output_path={predictions}"])
    from_predict = [json.loads(line) for line in predictions.read_text().splitlines()]
    test = read_lamp(test_questions)
    assert [row["user_id"] for row in from_predict] == list(dict.fromkeys(q.user_id for q in test))

    common = ["--data-dir", str(data_dir), "--split", "test", *TINY]
    _ok(downstream, [*common, "--profiles", str(predictions), "--out", str(work / "from_file")])
    _ok(downstream, [*common, "--ckpt", str(ckpt), "--max-prompt-tokens", "768", "--profile-batch-size", "3",
                "--out", str(work / "from_ckpt")])
    generated = [json.loads(line) for line in (work / "from_ckpt" / "profiles.jsonl").read_text().splitlines()]
    assert {row["user_id"]: row["profile"] for row in generated} == {row["user_id"]: row["profile"] for row in from_predict}
    for out in ("from_file", "from_ckpt"):
        report = json.loads((work / out / "report.json").read_text())
        assert report["eval_ids"] == [q.id for q in test] and report["num_questions"] == dict.fromkeys((*VARIANTS, "other_user_profile"), len(test))
