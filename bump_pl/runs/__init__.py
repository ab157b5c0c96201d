"""What a run leaves on disk and reads back: its folders, its checkpoints, its profile cache.

- :mod:`~bump_pl.runs.folders`: where a run's logs live, and how a resumed fit reuses them.
- :mod:`~bump_pl.runs.checkpoints`: ``--ckpt_path`` found, checked and compared with the command.
- :mod:`~bump_pl.runs.fit_ranking`: how many users a fit ranked at a time, matched by validate/test.
- :mod:`~bump_pl.runs.profile_store`: the on-disk profile cache, one complete folder per global step.
"""
