"""``python -m bump_pl.cli ARGS`` is ``bump ARGS``."""

from bump_pl.cli.bump import main

main()
