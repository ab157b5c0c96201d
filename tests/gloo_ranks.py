"""Several gloo ranks on this machine, for the tests that check "under DDP equals one process".

``run_on_ranks(worker, *args)`` spawns ``world`` processes. Each joins one gloo group on a free
port, runs ``worker(rank, *args)``, waits at a barrier for every rank, and only then leaves the
group. The barrier matters: a rank that destroys the group while its peer still talks to it can
abort the peer ("terminate called without an active exception", SIGABRT), which CI once hit.
"""

from __future__ import annotations

import datetime
import os
import socket
from collections.abc import Callable

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_entry(rank: int, world: int, port: int, worker: Callable[..., None], args: tuple) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=120))
    try:
        worker(rank, *args)
        dist.barrier()
    finally:
        dist.destroy_process_group()


def run_on_ranks(worker: Callable[..., None], *args, world: int = 2) -> None:
    """Run the module-level ``worker(rank, *args)`` on ``world`` gloo ranks; raises if any rank fails."""
    mp.spawn(_rank_entry, args=(world, free_port(), worker, args), nprocs=world, join=True)
