"""RankFailure names the rank only when there are several: a one-process error says ``step S`` alone."""

from __future__ import annotations

from types import SimpleNamespace

from bump_pl.callbacks.rank_failure import RankFailure


def _note(world_size: int) -> list[str]:
    trainer = SimpleNamespace(global_rank=world_size - 1, global_step=3, world_size=world_size,
                              strategy=SimpleNamespace(launcher=None))
    error = RuntimeError("boom")
    RankFailure().on_exception(trainer, None, error)
    return error.__notes__


def test_the_rank_is_named_under_several_processes_only():
    assert _note(1) == ["step 3"]
    assert _note(2) == ["rank 1, step 3"]
