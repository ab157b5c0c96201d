"""What bump-pl needs from Lightning's strategies (DDP, FSDP, FSDP2, DeepSpeed) beyond what they do alone.

- :mod:`~bump_pl.strategies.clipping`: gradient clipping by global norm, correct under each strategy.
- :mod:`~bump_pl.strategies.full_params`: whole parameters while a callback generates on one rank.
"""
