"""In-batch scores under DDP equal one process holding every rank's users (gloo, 2 processes)."""

import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from bump_pl.judges.in_batch import in_batch_scores

G, K, U = 3, 2, 2  # rollouts per user, held-out items per user, users per rank


class CharJudge:
    """A deterministic toy judge: dot product of letter counts (optionally direction-dependent)."""

    def __init__(self, symmetric: bool):
        self.symmetric = symmetric
        self.device = torch.device("cpu")

    def to(self, device):
        return self

    def _counts(self, texts):
        return torch.tensor([[text.count(c) for c in "abcdefgh"] for text in texts], dtype=torch.float32)

    def score(self, queries, candidates, direction):
        scores = self._counts(queries) @ self._counts(candidates).T
        return scores if self.symmetric or direction == "profile_to_item" else scores + 0.1 * len(queries[0])


def _texts(first_user: int, num_users: int):
    letters = "abcdefgh"
    profiles = [letters[(u + g) % 8] * (g + 1) + letters[u % 8] for u in range(first_user, first_user + num_users) for g in range(G)]
    items = [letters[u % 8] * (k + 2) for u in range(first_user, first_user + num_users) for k in range(K)]
    return profiles, items


def _worker(rank: int, port: int, symmetric: bool, out: dict) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    profiles, items = _texts(rank * U, U)
    scores = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=U)
    out[rank] = (scores.profile_to_item, scores.item_to_profile, scores.num_users, scores.first_user)
    dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("symmetric", [True, False])
def test_two_ranks_see_the_same_global_scores_as_one_process(symmetric):
    out = mp.Manager().dict()
    mp.spawn(_worker, args=(_free_port(), symmetric, out), nprocs=2, join=True)
    profiles, items = _texts(0, 2 * U)
    single = in_batch_scores(CharJudge(symmetric), profiles, items, num_users=2 * U)
    for rank in (0, 1):
        p2i, i2p, num_users, first_user = out[rank]
        torch.testing.assert_close(p2i, single.profile_to_item)
        torch.testing.assert_close(i2p, single.item_to_profile)
        assert (num_users, first_user) == (2 * U, rank * U)


def test_local_negatives_use_only_this_ranks_users():
    profiles, items = _texts(0, U)
    scores = in_batch_scores(CharJudge(False), profiles, items, num_users=U, global_negatives=False)
    assert scores.profile_to_item.shape == (U * G, U * K) and scores.item_to_profile.shape == (U * K, U * G)
    assert (scores.num_users, scores.first_user) == (U, 0)
