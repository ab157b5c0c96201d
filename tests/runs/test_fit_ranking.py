"""validate/test of a checkpoint rank as many users at a time as its fit did, or say why not in one line."""

from __future__ import annotations

from types import SimpleNamespace

from bump_pl.runs.fit_ranking import fit_ranking_layout, match_fit_ranking


def _parts(users: int = 4, negatives: str = "global") -> tuple[SimpleNamespace, SimpleNamespace]:
    data = SimpleNamespace(users_per_batch=users, fit_world_size=1)
    module = SimpleNamespace(reward=SimpleNamespace(negatives=negatives), ndcg_log_suffix="")
    return data, module


def test_a_two_rank_fit_validated_on_one_process_merges_the_ranks_batches():
    data, module = _parts()
    line = match_fit_ranking(fit_ranking_layout(2, 4), data, module, 1, "validate")
    assert data.fit_world_size == 2 and module.ndcg_log_suffix == ""
    assert line == ("bump validate: each of 1 process(es) ranks the users of 2 of the fit's 2 ranks together: "
                    "8 users per ranking, as the fit did")


def test_the_same_layout_says_nothing():
    data, module = _parts()
    assert match_fit_ranking(fit_ranking_layout(2, 4), data, module, 2, "test") is None
    assert (data.fit_world_size, module.ndcg_log_suffix) == (1, "")


def test_another_ranking_size_gets_its_own_curve_and_one_line_saying_why():
    data, module = _parts(users=3)
    line = match_fit_ranking(fit_ranking_layout(2, 4), data, module, 1, "validate")
    assert module.ndcg_log_suffix == "_ranking3" and data.fit_world_size == 1
    assert "\n" not in line and "3 users per ranking where the fit ranked 8 (data.users_per_batch 3 where the fit had 4)" in line
    assert line.endswith("logged as val_ranking3/ndcg, not val/ndcg")
    data, module = _parts()
    line = match_fit_ranking(fit_ranking_layout(1, 4), data, module, 2, "test")  # more processes than the fit had
    assert module.ndcg_log_suffix == "_ranking8" and "2 processes cannot stand for the fit's 1" in line


def test_local_negatives_rank_one_process_at_a_time_whatever_the_processes():
    data, module = _parts(negatives="local")
    assert match_fit_ranking(fit_ranking_layout(2, 4), data, module, 1, "validate") is None


def test_an_older_checkpoint_without_a_layout_is_named():
    data, module = _parts()
    line = match_fit_ranking(None, data, module, 1, "validate")
    assert "does not record how many users its fit ranked" in line and "val/ndcg ranks 4" in line
