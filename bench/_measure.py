"""What each side of ``vs_trl.py`` reports: step durations, their warm-up-free median, peak RSS.

A side records one :func:`stamp` when training starts and one after every optimizer step; step
``i`` took ``stamps[i+1] - stamps[i]``, in wall-clock seconds and in CPU seconds of the process
(all threads). On a shared machine the wall clock also counts time other processes held the
cores, so the CPU figure is the steadier one. The first step pays one-off costs (lazy imports,
allocator growth, optimizer state creation), so the figures are medians of the remaining steps.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from dataclasses import asdict, dataclass


def stamp() -> tuple[float, float]:
    """``(wall-clock seconds, CPU seconds of this process)`` now."""
    return time.perf_counter(), time.process_time()


def step_durations(stamps: list[float]) -> list[float]:
    """Seconds of each step from ``N + 1`` increasing stamps (start, then after each of ``N`` steps)."""
    if any(later < earlier for earlier, later in zip(stamps, stamps[1:])):
        raise ValueError(f"step stamps must not decrease, got {stamps}")
    return [later - earlier for earlier, later in zip(stamps, stamps[1:])]


def median_after_warmup(durations: list[float], warmup: int = 1) -> float:
    """Median duration once the first ``warmup`` steps are dropped (needs at least one step left)."""
    if len(durations) <= warmup:
        raise ValueError(f"need more than {warmup} warm-up step(s) to time, got {len(durations)} step(s)")
    return statistics.median(durations[warmup:])


def peak_rss_mb() -> float:
    """This process's peak resident set size in MiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class SideResult:
    """One side's figures, printed by its subprocess as the last JSON line.

    Attributes:
        side: ``"bump"`` or ``"trl"``.
        steps: optimizer steps completed.
        step_seconds: wall-clock duration of every step.
        s_per_step: median of ``step_seconds`` after the warm-up step.
        step_cpu_seconds: CPU seconds (all threads) of every step.
        cpu_s_per_step: median of ``step_cpu_seconds`` after the warm-up step.
        peak_rss_mb: peak RSS of the whole subprocess (model loading included).
        rewards: mean BUMP reward of each step's rollouts.
        mean_reward: mean of ``rewards``.
        completion_lengths: mean completion length (tokens) of each step, as the side logged it;
            equal to ``completion_tokens`` on both sides when the workloads match.
    """

    side: str
    steps: int
    step_seconds: list[float]
    s_per_step: float
    step_cpu_seconds: list[float]
    cpu_s_per_step: float
    peak_rss_mb: float
    rewards: list[float]
    mean_reward: float
    completion_lengths: list[float]

    @classmethod
    def from_run(
        cls, side: str, stamps: list[tuple[float, float]], rewards: list[float], completion_lengths: list[float]
    ) -> SideResult:
        """Figures from :func:`stamp` values (start + one per step) and per-step logs."""
        durations = step_durations([wall for wall, _ in stamps])
        cpu = step_durations([cpu for _, cpu in stamps])
        return cls(
            side=side,
            steps=len(durations),
            step_seconds=durations,
            s_per_step=median_after_warmup(durations),
            step_cpu_seconds=cpu,
            cpu_s_per_step=median_after_warmup(cpu),
            peak_rss_mb=peak_rss_mb(),
            rewards=rewards,
            mean_reward=statistics.fmean(rewards) if rewards else float("nan"),
            completion_lengths=completion_lengths,
        )

    def to_dict(self) -> dict:
        return asdict(self)
