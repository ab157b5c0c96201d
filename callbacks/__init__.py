"""Lightning callbacks of bump-pl, installed as ``bump_pl.callbacks``.

* ``ProfileCacheCallback``: one greedy profile per user, cached per global step (``load_profiles`` reads it).
* ``DownstreamEvalCallback``: runs :mod:`bump_pl.downstream` (profile vs ``no_profile``, ``recent_history``, ``retrieved_history``) on each new cache.
* ``ProfileWriter``: ``bump predict`` output as JSONL.
"""

from bump_pl.callbacks.downstream_eval import DownstreamEvalCallback
from bump_pl.callbacks.profile_cache import CachedProfiles, ProfileCacheCallback
from bump_pl.runs.profile_store import load_profiles
from bump_pl.callbacks.profile_writer import ProfileWriter

__all__ = ["CachedProfiles", "DownstreamEvalCallback", "ProfileCacheCallback", "ProfileWriter", "load_profiles"]
