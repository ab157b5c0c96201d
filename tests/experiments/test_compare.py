"""experiments/compare.py: runs compared on the same users, paired, from their ladders' scores."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
sys.path.insert(0, str(EXPERIMENTS))  # compare.py imports ladder.py as a sibling script does
_spec = importlib.util.spec_from_file_location("experiments_compare", EXPERIMENTS / "compare.py")
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)


def _ladder(folder: Path, trained: list[float], users: list[str] | None = None, item_to_profile: float | None = None,
            heldout: str | None = None, reward: str = "alpha 0.5, ndcg_k None, negatives global",
            judge: str = "bump_pl.judges.EmbeddingJudge(model=all-minilm-l6-v2)") -> Path:
    """A ladder folder whose trained profiles score ``trained`` (all three metrics, or item→profile
    ``item_to_profile``) and untrained 0.1; ``heldout``: its ``settings.heldout`` (None: a ladder
    from before the setting); ``reward``, ``judge``: its ``settings.reward`` and ``settings.judge``."""
    users = users or [f"u{i}" for i in range(len(trained))]
    rows = []
    for i, (user, value) in enumerate(zip(users, trained, strict=True)):
        for source, score in (("untrained_profile", 0.1), ("trained_profile", value)):
            other = item_to_profile if item_to_profile is not None and source == "trained_profile" else score
            rows.append({"user_id": user, "group": i // 2, "source": source, "ndcg": -1.0,  # recomputed
                         "profile_to_item": score, "item_to_profile": other, "text": "t"})
    folder.mkdir()
    (folder / "scores.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    settings = {"reward": reward, "judge": judge, **({"heldout": heldout} if heldout is not None else {})}
    (folder / "ladder.json").write_text(json.dumps({"settings": settings}))
    return folder


def test_the_reference_minus_each_run_is_paired_over_users(tmp_path: Path) -> None:
    base = _ladder(tmp_path / "base", [0.5, 0.6, 0.7, 0.8])
    same = _ladder(tmp_path / "same", [0.5, 0.6, 0.7, 0.8])
    shifted = _ladder(tmp_path / "shifted", [0.4, 0.5, 0.6, 0.7])  # every user 0.1 lower
    text = compare.compare({"base": base, "same": same, "shifted": shifted}, samples=200)
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert rows["base"].startswith("| base | 0.650 [")
    assert rows["untrained"].startswith("| untrained | 0.100 [0.100, 0.100]")
    assert rows["base - same"].startswith("| base - same | +0.000 [0.000, 0.000]")
    # a constant per-user shift: the paired interval has no width, though the runs' own intervals do
    assert rows["base - shifted"].startswith("| base - shifted | +0.100 [0.100, 0.100]")


def test_the_mix_is_recomputed_with_one_alpha_for_every_run(tmp_path: Path) -> None:
    base = _ladder(tmp_path / "base", [0.5, 0.7], item_to_profile=0.2)
    text = compare.compare({"base": base}, alpha=0.25, samples=50)
    row = next(line for line in text.splitlines() if line.startswith("| base |"))
    assert row.startswith("| base | 0.300 [")  # 0.25 x 0.6 (mean profile→item) + 0.75 x 0.2
    assert "| 0.600 [" in row and row.endswith("| 0.200 [0.200, 0.200] |")


def test_ladders_of_other_users_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _ladder(tmp_path / "base", [0.5, 0.6])
    other = _ladder(tmp_path / "other", [0.5, 0.6], users=["u0", "x"])
    assert compare.main([f"a={base}", f"b={other}"]) == 1
    assert compare.main([f"a={base}", f"c={tmp_path / 'nowhere'}"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 2 and all(line.startswith("compare.py: error: ") for line in errors)
    assert "other users or groups" in errors[0] and "scores.jsonl: no such file" in errors[1]


def test_ladders_against_differently_written_heldout_items_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _ladder(tmp_path / "old", [0.5, 0.6])  # before settings.heldout: the prompt's rendering
    plain = _ladder(tmp_path / "plain", [0.4, 0.6], heldout=compare.PLAIN_HELDOUT)
    words = _ladder(tmp_path / "words", [0.5, 0.6], heldout="template '{score} {title}'")
    assert "| old - plain | +0.050 [" in compare.compare({"old": old, "plain": plain}, samples=20)
    assert compare.main([f"old={old}", f"words={words}"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and f"{words}: held-out items written template '{{score}} {{title}}', not" in error


def test_ladders_ranked_against_other_negatives_are_refused_but_another_mix_weight_is_not(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = _ladder(tmp_path / "base", [0.5, 0.6])
    alpha0 = _ladder(tmp_path / "alpha0", [0.4, 0.6], reward="alpha 0.0, ndcg_k None, negatives global")
    hybrid = _ladder(tmp_path / "hybrid", [0.5, 0.6], reward="alpha 0.5, ndcg_k None, negatives hybrid")
    cut = _ladder(tmp_path / "cut", [0.5, 0.6], reward="alpha 0.5, ndcg_k 1, negatives global")
    assert "| base - alpha0 | +0.050 [" in compare.compare({"base": base, "alpha0": alpha0}, samples=20)
    assert compare.main([f"base={base}", f"hybrid={hybrid}"]) == 1
    assert compare.main([f"base={base}", f"cut={cut}"]) == 1
    unreported = _ladder(tmp_path / "unreported", [0.5, 0.6])
    (unreported / "ladder.json").unlink()
    assert compare.main([f"base={base}", f"unreported={unreported}"]) == 1
    errors = capsys.readouterr().err.splitlines()
    assert len(errors) == 3 and errors[2].endswith(f"{unreported / 'ladder.json'}: missing or not a ladder.py report")
    assert f"{hybrid}: ranked with ndcg_k None, negatives hybrid, not ndcg_k None, negatives global" in errors[0]
    assert errors[0].endswith("ladder both with the same --negatives")
    assert f"{cut}: ranked with ndcg_k 1, negatives global, not" in errors[1]


def test_ladders_scored_by_another_judge_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = _ladder(tmp_path / "base", [0.5, 0.6])
    same = _ladder(tmp_path / "same", [0.4, 0.6])
    likelihood = _ladder(tmp_path / "likelihood", [0.5, 0.6], judge="bump_pl.judges.LikelihoodJudge(model=smollm2-135m-instruct)")
    assert "- judge: bump_pl.judges.EmbeddingJudge(model=all-minilm-l6-v2)" in compare.compare({"base": base, "same": same}, samples=20)
    assert compare.main([f"base={base}", f"likelihood={likelihood}"]) == 1
    error = capsys.readouterr().err
    assert error == (f"compare.py: error: {likelihood}: scored by bump_pl.judges.LikelihoodJudge(model=smollm2-135m-instruct),"
                     f" not bump_pl.judges.EmbeddingJudge(model=all-minilm-l6-v2) as in {base}; ladder both with the same --judge\n")


def test_the_comparison_plot_is_written_beside_the_table(tmp_path: Path) -> None:
    base = _ladder(tmp_path / "base", [0.5, 0.6, 0.7, 0.8])
    other = _ladder(tmp_path / "other", [0.4, 0.5, 0.6, 0.7])
    plot = tmp_path / "compare.png"
    assert "| base - other |" in compare.compare({"base": base, "other": other}, samples=20, plot=plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
