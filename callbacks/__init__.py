"""Lightning callbacks of bump-pl, installed as ``bump_pl.callbacks``."""
