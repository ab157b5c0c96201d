"""``bump-downstream`` end to end on tiny models: every question, four variants (five with ``--untrained_profile``),
generated and rank-classified answers, intervals, one-line errors."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from bump_pl.data import LampExample, get_task, read_lamp
from bump_pl.cli.downstream import main
from bump_pl.data.synthetic import write_synthetic_lamp
from bump_pl.downstream import policy_profiles
from bump_pl.downstream.held_out import ask_last, write_histories
from bump_pl.downstream.inputs import read_split
from bump_pl.downstream.policy_profiles import generate_profiles
from bump_pl.downstream.prompts import VARIANTS
from bump_pl.metrics.lamp import evaluate_lamp
from bump_pl.models.generator import ProfileGenerator
from bump_pl.models.lora import LoraSettings
from bump_pl.models.rollout import SamplingSettings

TINY = ["--backbone", "tiny-random-llama", "--max-new-tokens", "2", "--context-tokens", "24", "--bootstrap-samples", "200"]


def _profiles(lamp3_dir: Path, path: Path, splits: tuple[str, ...] = ("train", "dev"), skip: int = 0) -> Path:
    users = [q.user_id for split in splits for q in read_lamp(lamp3_dir / f"{split}_questions.json")]
    rows = [{"user_id": user, "profile": f"likes item {i % 3}"} for i, user in enumerate(dict.fromkeys(users))]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows[skip:]))
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("mode", ["zero_shot", "sft"])
def test_every_question_scored_for_four_variants_with_intervals(
    lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str
) -> None:
    profiles, out = _profiles(lamp3_dir, tmp_path / "profiles.jsonl"), tmp_path / "report"
    args = ["--data-dir", str(lamp3_dir), "--split", "dev", "--profiles", str(profiles), "--mode", mode, "--out", str(out)]
    code, stdout, err = _run(args + TINY + ["--max-train-questions", "4"], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    dev = read_lamp(lamp3_dir / "dev_questions.json", lamp3_dir / "dev_outputs.json")
    assert report["eval_ids"] == [q.id for q in dev] and report["metric_task"] == "LaMP_3"
    assert report["num_questions"] == {variant: len(dev) for variant in (*VARIANTS, "other_user_profile")}
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    golds = {q.id: q.output for q in dev}
    for variant in VARIANTS:
        answers = {r["id"]: r["prediction"] for r in records if r["variant"] == variant}
        official = evaluate_lamp("LaMP_3", answers, golds)  # the report's point estimate is the official metric
        for name, interval in report["metrics"][variant].items():
            assert interval["value"] == pytest.approx(official[name])
            assert interval["low"] <= interval["value"] <= interval["high"]
    for baseline in ("no_profile", "recent_history", "retrieved_history", "other_user_profile"):
        for name, interval in report["differences"][f"profile - {baseline}"].items():
            expected = report["metrics"]["profile"][name]["value"] - report["metrics"][baseline][name]["value"]
            assert interval["value"] == pytest.approx(expected) and interval["low"] <= interval["value"] <= interval["high"]
    ranked = report["rank_classification"]  # the label options' likelihoods, scored by the same official metric
    assert ranked["options"] == ["1", "2", "3", "4", "5"] and ranked["kinds"] == ["argmax", "expected"]
    for variant in VARIANTS:
        for kind in ranked["kinds"]:
            answers = {r["id"]: r[f"prediction@{kind}"] for r in records if r["variant"] == variant}
            official = evaluate_lamp("LaMP_3", answers, golds)
            assert {name: ranked["metrics"][variant][f"{name}@{kind}"]["value"] for name in official} == pytest.approx(official)
    assert set(ranked["differences"]) == set(report["differences"])
    assert "| retrieved_history |" in stdout and "| profile - no_profile |" in stdout and "| profile - other_user_profile |" in stdout
    assert "| variant | questions | MAE | RMSE |" in stdout and "Rank classification by the likelihood of the 5 label options" in stdout
    assert "| variant | questions | MAE@argmax | RMSE@argmax | MAE@expected | RMSE@expected |" in stdout
    assert (out / "report.md").read_text() == stdout.rstrip("\n") + "\n"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("missing_user", "profiles.jsonl: no profile for 1 of"),
        ("bad_line", "profiles.jsonl: line 2 is not valid JSON"),
        ("no_split", "nosuch_questions.json: file does not exist"),
        ("wrong_task", "dev_outputs.json: task 'LaMP_3' disagrees with --task 'LaMP_2'"),
    ],
)
def test_bad_input_is_one_line_and_leaves_no_report(
    lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], change: str, message: str
) -> None:
    profiles, out = _profiles(lamp3_dir, tmp_path / "profiles.jsonl", splits=("dev",)), tmp_path / "report"
    args = ["--data-dir", str(lamp3_dir), "--split", "dev", "--mode", "zero_shot", "--out", str(out), "--profiles", str(profiles)]
    if change == "missing_user":
        _profiles(lamp3_dir, profiles, splits=("dev",), skip=1)
    elif change == "bad_line":
        profiles.write_text(profiles.read_text().replace("\n", "\n{oops\n", 1))
    elif change == "no_split":
        args[3] = "nosuch"
    else:
        args += ["--task", "LaMP_2"]
    code, _, err = _run(args + TINY, capsys)
    assert code == 1 and err.count("\n") == 1 and err.startswith("bump-downstream: error: ") and message in err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["profiles.jsonl"]


def test_an_existing_out_folder_is_refused(lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    profiles, out = _profiles(lamp3_dir, tmp_path / "profiles.jsonl"), tmp_path / "report"
    out.mkdir()
    args = ["--data-dir", str(lamp3_dir), "--profiles", str(profiles), "--mode", "zero_shot", "--out", str(out)]
    code, _, err = _run(args + TINY, capsys)
    assert code == 1 and "report: already exists" in err and list(out.iterdir()) == []


def test_a_corrupt_checkpoint_is_one_line_naming_it(lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tmp_path / "last.ckpt"
    ckpt.write_bytes(b"not a checkpoint")
    args = ["--data-dir", str(lamp3_dir), "--ckpt", str(ckpt), "--mode", "zero_shot", "--out", str(tmp_path / "report")]
    code, _, err = _run(args + TINY, capsys)
    assert code == 1 and err.count("\n") == 1 and str(ckpt) in err and not (tmp_path / "report").exists()


def test_untrained_profile_with_a_profiles_file_is_one_usage_line(
    lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles, out = _profiles(lamp3_dir, tmp_path / "profiles.jsonl"), tmp_path / "report"
    args = ["--data-dir", str(lamp3_dir), "--profiles", str(profiles), "--untrained_profile", "--mode", "zero_shot", "--out", str(out)]
    code, _, err = _run(args + TINY, capsys)
    assert code == 2 and err.count("\n") == 1 and not out.exists()
    assert err.startswith("bump-downstream: error: --untrained_profile needs --ckpt CKPT")


LORA, SAMPLING = LoraSettings(rank=4, alpha=8.0, dropout=0.0), SamplingSettings(max_new_tokens=6)


def _checkpoint(path: Path) -> ProfileGenerator:
    """A ``bump fit``-like checkpoint at ``path`` whose tiny policy has a trained-looking adapter (its
    profiles differ from the untrained generator's); returns that generator."""
    trained = ProfileGenerator("tiny-random-llama", lora=LORA, sampling=SAMPLING)
    with torch.no_grad():
        for name, p in trained.policy.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.5, generator=torch.Generator().manual_seed(0))
    torch.save({"hyper_parameters": {"model": "tiny-random-llama", "lora": asdict(LORA), "sampling": asdict(SAMPLING)},
                "state_dict": {f"policy.{n}": p.detach().clone() for n, p in trained.policy.named_parameters() if p.requires_grad}}, path)
    return trained


def test_a_checkpoint_with_untrained_profile_writes_both_profiles_and_five_variants(
    lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ckpt, out = tmp_path / "last.ckpt", tmp_path / "report"
    trained = _checkpoint(ckpt)
    args = ["--data-dir", str(lamp3_dir), "--ckpt", str(ckpt), "--untrained_profile", "--mode", "zero_shot", "--out", str(out)]
    code, stdout, err = _run(args + TINY + ["--max_prompt_tokens", "768"], capsys)
    assert code == 0, err
    written = {name: {row["user_id"]: row["profile"] for row in map(json.loads, (out / name).read_text().splitlines())}
               for name in ("profiles.jsonl", "untrained_profiles.jsonl")}
    dev_users = list(dict.fromkeys(q.user_id for q in read_lamp(lamp3_dir / "dev_questions.json")))
    questions = lamp3_dir / "dev_questions.json"
    fresh = ProfileGenerator("tiny-random-llama", lora=LORA, sampling=SAMPLING)  # the generator before training
    expected = {"profiles.jsonl": trained, "untrained_profiles.jsonl": fresh}
    for name, generator in expected.items():
        assert list(written[name]) == dev_users
        assert written[name] == generate_profiles(generator, questions, "LaMP_3", dev_users, max_prompt_tokens=768, batch_size=8)
    assert written["profiles.jsonl"] != written["untrained_profiles.jsonl"]
    report = json.loads((out / "report.json").read_text())
    assert list(report["num_questions"]) == [*VARIANTS, "other_user_profile", "untrained_profile"]
    assert "profile - untrained_profile" in report["differences"] and "| profile - untrained_profile |" in stdout


def test_several_questions_per_user_profile_and_score_only_the_history_before_them(
    lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ckpt, out = tmp_path / "last.ckpt", tmp_path / "report"
    trained = _checkpoint(ckpt)
    read: dict[str, list[LampExample]] = {}  # what the generator read, per questions file
    real = policy_profiles.generate_profiles

    def spy(generator, questions, task, user_ids, **kwargs):
        read[questions.name] = read_lamp(questions)
        return real(generator, questions, task, user_ids, **kwargs)

    monkeypatch.setattr(policy_profiles, "generate_profiles", spy)
    args = ["--data-dir", str(lamp3_dir), "--ckpt", str(ckpt), "--questions_per_user", "3", "--mode", "zero_shot", "--out", str(out)]
    code, stdout, err = _run(args + TINY + ["--max_prompt_tokens", "768"], capsys)
    assert code == 0, err
    dev = read_lamp(lamp3_dir / "dev_questions.json", lamp3_dir / "dev_outputs.json")
    last_two = {q.user_id: sorted(q.profile, key=lambda item: item["date"])[-2:] for q in dev}
    asked = {q.user_id: [item["text"] for item in last_two[q.user_id]] + [q.input.split("review: ")[1]] for q in dev}
    report = json.loads((out / "report.json").read_text())
    assert report["eval_ids"] == [i for q in dev for i in (*(f"{q.id}@{item['id']}" for item in last_two[q.user_id]), q.id)]
    assert report["questions_per_user"] == 3 and report["num_eval_users"] == len(dev) and report["bootstrap"]["paired_over"] == "users"
    assert f"{3 * len(dev)} questions of {len(dev)} users" in stdout
    histories = {q.user_id: json.dumps(q.profile) for q in read["dev_questions.json"]}
    assert list(histories) == [q.user_id for q in dev]
    assert not any(text in histories[user] for user, texts in asked.items() for text in texts)  # the generator saw none
    records = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    contexts = [(r["user_id"], r["prompt"].rsplit("What is the score", 1)[0]) for r in records]
    assert len(contexts) == 3 * len(dev) * 5 and any("User profile:" in context for _, context in contexts)
    assert not any(text in context for user, context in contexts for text in asked[user])  # nor any prompt's context
    users = [ask_last(user, get_task("LaMP_3"), 3) for user in read_split(lamp3_dir, "dev", get_task("LaMP_3"))]
    written = write_histories(users, tmp_path / "dev_questions.json")
    profiles = {row["user_id"]: row["profile"] for row in map(json.loads, (out / "profiles.jsonl").read_text().splitlines())}
    assert profiles == real(trained, written, "LaMP_3", list(asked), max_prompt_tokens=768, batch_size=8)


def test_several_questions_per_user_refuse_a_profiles_file_and_tasks_without_item_questions(
    lamp3_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles, out = _profiles(lamp3_dir, tmp_path / "profiles.jsonl"), tmp_path / "report"
    args = ["--data-dir", str(lamp3_dir), "--profiles", str(profiles), "--questions_per_user", "2", "--out", str(out)]
    code, _, err = _run(args + TINY, capsys)
    assert code == 2 and err.count("\n") == 1 and "--questions_per_user > 1 needs --ckpt CKPT" in err and not out.exists()
    tweets = tmp_path / "lamp7"
    write_synthetic_lamp(tweets, "LaMP_7", num_users=10, seed=0, items_per_user=4)
    args = ["--data-dir", str(tweets), "--ckpt", str(tmp_path / "none.ckpt"), "--questions_per_user", "2", "--out", str(out)]
    code, _, err = _run(args + TINY, capsys)
    assert code == 1 and err.count("\n") == 1 and "LaMP_7: a question cannot be written from a history item" in err
