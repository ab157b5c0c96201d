"""BUMP's pieces inside other training stacks (no Lightning here).

- :mod:`~bump_pl.integrations.trl`: the bidirectional in-batch reward as a ``trl.GRPOTrainer`` reward function.
"""
