"""The shipped YAML configs, installed as ``bump_pl.configs``; see ``bump_pl.cli.config_files`` and ``bump configs``."""
