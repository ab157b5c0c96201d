"""``bump validate``/``bump test`` of a checkpoint rank as many users at a time as its fit did, or say why not.

NDCG over an in-batch ranking grows as the ranking shrinks (fewer negatives), so ``val/ndcg`` of a
2-process fit (each ranking: both ranks' users) and of a 1-process validate of its checkpoint
(each ranking: one process's users) measure different things. The fit records its ranks and users
per rank in the checkpoint (:func:`fit_ranking_layout`); validate/test on ``w`` processes, where
the fit ran on ``W`` (a multiple of ``w``), let each process batch the users of ``W / w`` of the
fit's ranks (:class:`bump_pl.data.sampler.MergedRankBatches`): the rankings hold the same users and
the figure is the fit's. Where that cannot be done the figures go to their own curve
(``val_ranking<N>/...``) and one line says why, rather than mixing incomparable points in one curve.
"""

from __future__ import annotations

from typing import Any

LAYOUT_KEY = "bump_ranking_layout"


def fit_ranking_layout(world_size: int, users_per_batch: int) -> dict[str, int]:
    """What a fit's checkpoint records under :data:`LAYOUT_KEY`: its ranks and users per rank."""
    return {"world_size": world_size, "users_per_batch": users_per_batch}


def match_fit_ranking(layout: dict[str, int] | None, datamodule: Any, module: Any, world: int, subcommand: str) -> str | None:
    """Batch ``datamodule``'s val/test users as the fit did, or send ``module``'s NDCG to its own curve.

    Args:
        layout: the checkpoint's :func:`fit_ranking_layout` (None: an older checkpoint without one).
        datamodule: a ``BumpDataModule`` (``users_per_batch``; ``fit_world_size`` is set here).
        module: a ``BumpModule`` (``reward.negatives``; ``ndcg_log_suffix`` is set here).
        world: processes of this command.
        subcommand: ``validate`` or ``test``.

    Returns:
        The one line to print, or None when the layout is the fit's.
    """
    local = module.reward.negatives == "local"
    users = datamodule.users_per_batch
    own = users * (1 if local else world)
    stage = "val" if subcommand == "validate" else "test"
    if layout is None:
        return (f"bump {subcommand}: the checkpoint does not record how many users its fit ranked at a time; "
                f"{stage}/ndcg ranks {own} ({stage}/ranking_users), comparable with the fit's only if that is the same")
    fit_world, fit_users = layout["world_size"], layout["users_per_batch"]
    fit = fit_users * (1 if local else fit_world)
    if (users, world) == (fit_users, fit_world) or (local and users == fit_users):
        return None
    if not local and users == fit_users and fit_world % world == 0:
        datamodule.fit_world_size = fit_world
        return (f"bump {subcommand}: each of {world} process(es) ranks the users of {fit_world // world} of the fit's "
                f"{fit_world} ranks together: {fit} users per ranking, as the fit did")
    why = (f"data.users_per_batch {users} where the fit had {fit_users}" if users != fit_users
           else f"{world} processes cannot stand for the fit's {fit_world}")
    module.ndcg_log_suffix = f"_ranking{own}"
    return (f"bump {subcommand}: {own} users per ranking where the fit ranked {fit} ({why}); NDCG is not comparable "
            f"with the fit's, so it is logged as {stage}_ranking{own}/ndcg, not {stage}/ndcg")
