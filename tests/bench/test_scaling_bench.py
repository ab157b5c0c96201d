"""bench/scaling.py: the growth exponent, the self-timing judge, bad flags, and a tiny end-to-end run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from _scaling_step import TimedJudge  # noqa: E402
from scaling import growth_exponent, main  # noqa: E402

from bump_pl.judges import EmbeddingJudge  # noqa: E402
from bump_pl.models.tiny import tiny_random_encoder, tiny_tokenizer  # noqa: E402


def test_growth_exponent_recovers_known_powers():
    users = [4, 8, 16, 32]
    assert growth_exponent(users, [0.3 * u**2 for u in users]) == pytest.approx(2.0)
    assert growth_exponent(users, [5.0 * u for u in users]) == pytest.approx(1.0)
    assert growth_exponent(users, [7.0 for _ in users]) == pytest.approx(0.0, abs=1e-12)
    # least squares on log2 points x = [0, 1, 2], y = [0, 1, 3]: Sxy = 3, Sxx = 2 -> slope 1.5
    assert growth_exponent([1, 2, 4], [1.0, 2.0, 8.0]) == pytest.approx(1.5)
    assert growth_exponent([8], [1.0]) is None


def test_timed_judge_returns_the_inner_scores_and_counts_its_seconds():
    inner = EmbeddingJudge(tiny_random_encoder(0), tokenizer=tiny_tokenizer())
    timed = TimedJudge(inner)
    profiles, items = ["likes jazz", "hates rain", "reads novels"], ["a jazz record", "an umbrella"]
    scores = timed.score(profiles, items, "profile_to_item")
    assert torch.equal(scores, inner.score(profiles, items, "profile_to_item"))
    first = timed.seconds
    assert first > 0
    timed.score(items, profiles, "item_to_profile")
    assert timed.seconds > first
    assert timed.symmetric is inner.symmetric is True
    assert timed.to("cpu") is timed and timed.device == inner.device


@pytest.mark.parametrize(
    ("flags", "message"),
    [(["--steps", "1"], "--steps must be >= 2"), (["--users", "1", "4"], "--users must all be >= 2")],
)
def test_bad_flags_exit_with_one_clear_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(flags)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_smallest_run_reports_every_figure_and_writes_a_png(tmp_path):
    plot = tmp_path / "scaling.png"
    flags = ["--users", "2", "4", "--steps", "2", "--judge-repeats", "1", "--threads", "1", "--plot", str(plot)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "BUMP_PL_CACHE": str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, str(BENCH / "scaling.py"), *flags], capture_output=True, text=True, env=env, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert {"results", "settings", "versions", "plot"} <= report.keys()
    settings = report["settings"]
    assert (settings["group_size"], settings["heldout"], settings["max_new_tokens"], settings["steps"]) == (4, 2, 16, 2)
    assert set(report["results"]) == {"embedding", "cross"}
    for kind, figures in report["results"].items():
        assert figures["users"] == [2, 4]
        # one matrix for the symmetric embedding judge, two directions for the cross judge
        directions = 1 if kind == "embedding" else 2
        assert figures["pairs"] == [directions * (u * 4) * (u * 2) for u in (2, 4)]
        for key in ("judge_s", "step_s", "step_cpu_s", "judge_in_step_s"):
            assert len(figures[key]) == 2 and all(t > 0 for t in figures[key]), (kind, key)
        # the judge's share of a step fits inside the step; every rollout ran to max_new_tokens
        assert all(j < s for j, s in zip(figures["judge_in_step_s"], figures["step_s"]))
        assert figures["completion_length"] == [16.0, 16.0]
        assert figures["judge_exponent"] == pytest.approx(growth_exponent([2, 4], figures["judge_s"]))
        assert figures["step_exponent"] == pytest.approx(growth_exponent([2, 4], figures["step_s"]))
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
