"""experiments/reader_check.py on synthetic LaMP-3 users and the tiny random Llama: the batched reader equals
one unpadded forward per prompt, no asked item is in any context, and the report's figures are the rows' own."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import torch

from bump_pl.data import get_task
from bump_pl.data.synthetic import write_synthetic_lamp
from bump_pl.downstream.held_out import ask_last
from bump_pl.downstream.inputs import read_split
from bump_pl.models.tiny import tiny_random_llama, tiny_tokenizer

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "experiments"))  # reader_check imports its sibling report_folder.py, as when run as a script
_spec = importlib.util.spec_from_file_location("experiments_reader_check", REPO / "experiments" / "reader_check.py")
reader_check = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(reader_check)
LAMP3 = get_task("LaMP_3")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reader_lamp3")
    write_synthetic_lamp(out, "LaMP_3", num_users=20, seed=1, items_per_user=8, words_per_item=5)
    return out


def _users(data: Path) -> list:
    return [ask_last(user, LAMP3, 3) for user in read_split(data, "dev", LAMP3)]


def _profiles(path: Path, users: list, tag: str) -> Path:
    path.write_text("".join(json.dumps({"user_id": u.user_id, "profile": f"{tag} of {u.user_id}: rates high"}) + "\n"
                            for u in users))
    return path


def test_the_reader_check_reports_its_own_rows(data: Path, tmp_path: Path) -> None:
    users = _users(data)
    out = tmp_path / "check"
    argv = ["--data_dir", str(data), "--questions_per_user", "3", "--model", "tiny-random-llama", "--samples", "50",
            "--batch_size", "3", "--profiles", str(_profiles(tmp_path / "p.jsonl", users, "trained")),
            "--untrained_profiles", str(_profiles(tmp_path / "u.jsonl", users, "untrained")), "--out", str(out)]
    assert reader_check.main(argv) == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    report = json.loads((out / "reader_check.json").read_text())
    variants = ["no_profile", "recent_history", "profile", "untrained_profile", "other_user_profile"]
    assert len(rows) == 3 * len(users) and report["questions"] == len(rows)
    assert set(report["variants"]) == {"history_mean", *variants}
    for user in users:  # the mean of the history before the earliest asked item
        mean = sum(float(item["score"]) for item in user.items) / len(user.items)
        assert all(row["history_mean"] == pytest.approx(mean) for row in rows if row["user_id"] == user.user_id)
    for name in ("history_mean", *variants):  # LaMP-3's MAE of the rows, and profile - b paired
        mae = sum(abs(row[name] - float(row["gold"])) for row in rows) / len(rows)
        assert report["variants"][name]["MAE"]["value"] == pytest.approx(mae, abs=1e-9)
        if name != "profile":
            assert report["differences"][f"profile - {name}"]["MAE"]["value"] == pytest.approx(
                report["variants"]["profile"]["MAE"]["value"] - mae, abs=1e-9)
    markdown = (out / "reader_check.md").read_text()
    assert markdown.startswith("# Reader check") and "|\n\n| difference | MAE | RMSE |" in markdown  # two tables


def test_the_batched_left_padded_reader_equals_one_unpadded_forward_per_prompt() -> None:
    tokenizer, model = tiny_tokenizer(), tiny_random_llama(seed=0).eval()
    with torch.no_grad():
        model.lm_head.weight *= 40.0  # sharp option distributions: a wrong position or pad shows
    prompts = [reader_check.TEMPLATE.format(profile=context, item="a kettle: rated ")
               for context in ("", "rates high", "a long history\nx: rated 5\ny: rated 1\nz: rated 4", "low")]
    batched = reader_check.expected_ratings(model, tokenizer, prompts, batch_size=3)
    options = [tokenizer(str(n), add_special_tokens=False)["input_ids"][0] for n in range(1, 6)]
    naive = []
    for prompt in prompts:
        ids = torch.tensor([tokenizer(prompt, add_special_tokens=False)["input_ids"]])
        with torch.no_grad():
            probs = model(ids).logits[0, -1].log_softmax(-1)[options].softmax(-1)
        naive.append(float((probs * torch.arange(1, 6)).sum()))
    assert max(naive) - min(naive) > 0.2  # the prompts get different answers
    assert batched == pytest.approx(naive, abs=1e-4)


def test_no_asked_item_is_in_any_context(data: Path) -> None:
    users = _users(data)
    other = reader_check.derangement([u.user_id for u in users], 0)
    profiles = {"profile": {u.user_id: "a profile" for u in users}}
    originals = {u.user_id: u for u in read_split(data, "dev", LAMP3)}
    for user in users:
        shown = reader_check.contexts("LaMP_3", user, profiles, other, tiny_tokenizer(), 100, 10_000)
        asked = [item["text"] for item in originals[user.user_id].items[-2:]] + [user.questions[-1].input.split("review: ", 1)[1]]
        assert all(text not in context for text in asked for context in shown.values())
        assert user.items[-1]["text"] in shown["recent_history"]  # the history before them is shown
        last_two = reader_check.contexts("LaMP_3", user, profiles, other, tiny_tokenizer(), 2, 10_000)["recent_history"]
        assert last_two == "\n".join(f"{item['text']}: rated {item['score']}" for item in user.items[-2:])


def test_a_task_that_is_not_a_rating_is_refused_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    write_synthetic_lamp(tmp_path / "lamp2", "LaMP_2", num_users=10, seed=0, items_per_user=6)
    profiles = tmp_path / "p.jsonl"
    profiles.write_text("")
    code = reader_check.main(["--data_dir", str(tmp_path / "lamp2"), "--profiles", str(profiles), "--out", str(tmp_path / "o")])
    assert code == 1 and not (tmp_path / "o").exists()
    assert capsys.readouterr().err.strip() == "reader_check.py: error: reader_check: LaMP_2 is not a rating task whose items can be asked"


def test_the_stated_rating_is_the_number_right_after_the_text() -> None:
    assert reader_check.stated_rating("Average rating given, out of 5: 4. Likes 1990s dramas", "out of 5:") == 4.0
    assert reader_check.stated_rating("out of 5:3.5 stars", "out of 5:") == 3.5
    assert reader_check.stated_rating("out of 5: four", "out of 5:") is None  # no number right after
    assert reader_check.stated_rating("rates 4 of 5", "out of 5:") is None  # no text to read after


def test_stated_variants_answer_with_the_clipped_number_and_report_its_correlation(data: Path, tmp_path: Path) -> None:
    import statistics

    users = _users(data)
    means = {u.user_id: sum(float(item["score"]) for item in u.items) / len(u.items) for u in users}
    trained = {u.user_id: f"Avg, out of 5: {round(means[u.user_id])}. Likes" for u in users}
    untrained = {u.user_id: ("Avg, out of 5: none", "Avg, out of 5: 40", "Avg, out of 5: 0")[i % 3] for i, u in enumerate(users)}
    paths = {}
    for name, texts in (("p", trained), ("u", untrained)):
        paths[name] = tmp_path / f"{name}.jsonl"
        paths[name].write_text("".join(json.dumps({"user_id": k, "profile": v}) + "\n" for k, v in texts.items()))
    out = tmp_path / "stated"
    argv = ["--data_dir", str(data), "--questions_per_user", "3", "--model", "tiny-random-llama", "--samples", "20",
            "--profiles", str(paths["p"]), "--untrained_profiles", str(paths["u"]), "--stated_after", "out of 5:",
            "--out", str(out)]
    assert reader_check.main(argv) == 0
    rows = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    report = json.loads((out / "reader_check.json").read_text())
    expected = {u.user_id: (float(round(means[u.user_id])), (3.0, 5.0, 1.0)[i % 3])
                for i, u in enumerate(users)}  # clipped to 1..5; no number: 3
    assert [(row["stated_profile"], row["stated_untrained_profile"]) for row in rows] == [expected[row["user_id"]] for row in rows]
    mae = sum(abs(row["stated_profile"] - float(row["gold"])) for row in rows) / len(rows)
    assert report["variants"]["stated_profile"]["MAE"]["value"] == pytest.approx(mae, abs=1e-9)
    assert report["differences"]["profile - stated_profile"]["MAE"]["value"] == pytest.approx(
        report["variants"]["profile"]["MAE"]["value"] - mae, abs=1e-9)
    r = statistics.correlation([round(means[u.user_id]) for u in users], [means[u.user_id] for u in users])
    assert report["stated"]["profile"] == {"stating": len(users), "users": len(users), "pearson_r_history_mean": pytest.approx(r)}
    assert len(users) == 3 and report["stated"]["untrained_profile"] == {  # 40 and 0 are stated; too few for an r
        "stating": 2, "users": 3, "pearson_r_history_mean": None}
    assert f"- profile: {len(users)} of {len(users)} users' profiles state a number after 'out of 5:'" in (out / "reader_check.md").read_text()


def test_the_stated_correlation_is_of_the_clipped_answers_of_the_users_who_state_one() -> None:
    import statistics

    means = {f"u{i}": mean for i, mean in enumerate((4.5, 1.5, 3.0, 2.5))}
    texts = {"u0": "out of 5: 2001", "u1": "out of 5: 1", "u2": "no number here", "u3": "out of 5: 3 stars"}
    stated = {"profile": {user_id: reader_check.stated_rating(text, "out of 5:") for user_id, text in texts.items()}}
    summary = reader_check.stated_summary(stated, means)
    r = statistics.correlation([5.0, 1.0, 3.0], [4.5, 1.5, 2.5])  # u0's 2001 counts as 5; u2 states none
    assert summary == {"profile": {"stating": 3, "users": 4, "pearson_r_history_mean": pytest.approx(r)}}
